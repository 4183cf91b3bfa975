// Types of the worker-backed client (client.js). The data types come from the wasm
// bindings (sotto.d.ts); every promise rejects with a SottoError.
import type {
  Answer, AskOpts, ChatMessage, ChatResult, EmbedderInfo, EvaluateOpts, EvaluateProgress, EvaluateResult, GeneratorInfo, IndexManifest, IndexStats, IngestProgress, IngestReport,
  QueryTrace, SearchHit, SearchOpts, SottoDocument, StoredDocument, TypoCorrection,
} from './sotto.js';

export class SottoError extends Error {
  /** The engine's error kind ("BadMagic", "EmbedderMismatch", "ModelFormat", "Corrupt", …) or one of:
   *  - "Fetch": a model or manifest URL could not be fetched;
   *  - "Checksum": a model file does not match the manifest (after one fresh download), or the manifest is malformed;
   *  - "Busy": another addDocuments is running; "Cancelled": cancel() stopped the request;
   *  - "QuotaExceeded": the origin's storage is full (a save; the previous saved index is kept);
   *  - "Conflict": another tab saved at the same moment without Web Locks (the change stays in memory and is merged at the next change);
   *  - "Panic": the engine crashed in this request (the worker is restarted);
   *  - "WorkerCrashed": the worker crashed or died while this request was in flight (it did not run, or its result was lost),
   *    or crashed too often to be restarted; "WorkerError": the worker failed to start;
   *  - "Terminated": terminate() was called; "NotInitialized". */
  kind: string;
  constructor(kind: string, message: string);
}

export interface DownloadProgress { stage: 'download'; file: 'weights' | 'tokenizer' | 'config' | 'generator'; received: number; total: number; cached: boolean }
/** A cached model file failed the manifest check: it was deleted and is downloaded again. */
export interface VerifyProgress { stage: 'verify'; file: 'weights' | 'tokenizer' | 'config' | 'generator'; ok: false; detail: string; refetch: true }
/** What a change did to the saved index. `ok: false` keeps the previous saved index; the change stays in memory. */
export interface SaveResult { ok: boolean; skipped?: boolean; bytes?: number; sha256?: string | null; ms?: number; error?: { kind: string; message: string } }
/** Set when another tab had saved first: its index was loaded and this tab's `replayed` unsaved changes applied on top. */
export type MergeInfo = { replayed: number; from: { gen: number; savedAt: number } | null } | null;
/** Per file: `hit` from the Cache API; `repaired` says why a damaged cached copy was replaced. */
export type CacheResult = { ok: boolean; hit?: boolean; repaired?: string; error?: { kind: string; message: string } };

export interface RestartEvent {
  /** 'panic' (kind "Panic"), 'exit' (the worker died), 'error' (an uncaught error in it) or 'cancel' (cancel() without shared memory). */
  reason: 'panic' | 'exit' | 'error' | 'cancel';
  ok: boolean;
  cause: SottoError | null;
  /** The restore() result of the new worker. */
  restored?: Awaited<ReturnType<SottoClient['restore']>> | null;
  /** Why no (more) restart: every request now rejects with it. */
  error?: SottoError;
}
export interface IndexChangedEvent { by: 'another tab'; stats: IndexStats | null; savedAt?: number; forgotten?: boolean; error?: { kind: string; message: string } }

export interface EngineOptions {
  /** URL of worker.js (default: next to client.js, which bundlers see and bundle). */
  workerUrl?: string | URL;
  /** IndexedDB persistence of the index (default {db: "sotto", key: "index"}); false turns it off. */
  persist?: false | { db?: string; key?: string };
  /** A (partial) engine configuration in the core's serde names. */
  config?: object;
  /** Enable the worker's test hooks (injectFault). Off by default. */
  faults?: boolean;
}

/**
 * Streamed text (`onText` of ask and chat, `askStream`) is the generator's raw output as it
 * is produced, before attribution has checked it against the documents: it can contain
 * sentences the final answer drops as unsupported, including text a hostile document
 * injected ("ignore previous instructions…"). Show it marked as unverified and replace it
 * with the final `answer` (its `sentences` and `citations`) when the promise resolves.
 */
export type UnverifiedTextCallback = (text: string) => void;

export interface SottoClient {
  version: string;
  crossOriginIsolated: boolean;
  /** Web Locks in the worker (two tabs' changes are serialised); without them a simultaneous save is a "Conflict". */
  webLocks: boolean;
  /** Web Crypto in the worker: without it (not a secure context) model files are checked by size only and index saves carry no SHA-256. */
  webCrypto: boolean;
  /** Workers started after a crash, a death or a fallback cancel. */
  restarts: number;
  /**
   * 'restarting' (a crash was detected), 'restart' (the new worker is ready, or `ok: false`:
   * it could not be restarted), 'indexChanged' (another tab saved and this tab loaded it).
   */
  on(type: 'restarting', fn: (e: { reason: RestartEvent['reason']; cause: SottoError }) => void): () => void;
  on(type: 'restart', fn: (e: RestartEvent) => void): () => void;
  on(type: 'indexChanged', fn: (e: IndexChangedEvent) => void): () => void;
  on(type: 'fault', fn: (e: { at: string }) => void): () => void;
  /**
   * `manifest`: URL of a model manifest (`{files: {"<path relative to it>": {sha256, size}}}`,
   * as scripts/fetch-models.sh writes): every file is checked against it, cached or not; a
   * damaged cached copy is downloaded again once; a bad download rejects with "Checksum".
   */
  loadEmbedder(
    source: { urls: { weights: string; tokenizer: string; config: string }; name?: string; manifest?: string } | { bytes: { weights: Uint8Array; tokenizer: Uint8Array; config: Uint8Array }; name?: string },
    opts?: { onProgress?: (p: DownloadProgress | VerifyProgress | { stage: 'load' }) => void },
  ): Promise<{ info: EmbedderInfo; cached: Record<string, CacheResult> | null; verified: boolean; timings: { fetch_ms: number; verify_ms: number; load_ms: number; total_ms: number } }>;
  loadHashingEmbedder(dim: number): Promise<{ info: EmbedderInfo }>;
  loadGenerator(
    source: { url: string; opts?: object; manifest?: string } | { bytes: Uint8Array; opts?: object },
    opts?: { onProgress?: (p: DownloadProgress | VerifyProgress | { stage: 'load' }) => void },
  ): Promise<{ info: GeneratorInfo; cached: CacheResult | null; verified: boolean; timings: { fetch_ms: number; verify_ms: number; load_ms: number; total_ms: number } }>;
  unloadGenerator(): Promise<{ unloaded: boolean }>;
  /** Raw generation. `onText` receives UNVERIFIED text (no attribution at all in chat): see UnverifiedTextCallback. */
  chat(prompt: string | ChatMessage[], opts?: object, cb?: { onText?: UnverifiedTextCallback }): Promise<{ result: ChatResult; timings: { first_text_ms: number | null } }>;
  /**
   * Index documents. With persistence on, the change is applied on top of the latest saved
   * index under a Web Lock (another tab's save is loaded first: `merged`), then saved;
   * `onProgress` may report `{stage: 'waiting'}` while another tab holds the lock.
   */
  addDocuments(docs: SottoDocument[], opts?: { onProgress?: (p: IngestProgress | { stage: 'waiting'; done: 0; total: 0; reason: string }) => void }): Promise<{
    report: IngestReport; stats: IndexStats; saved: SaveResult; merged: MergeInfo;
    timings: { clean_chunk_ms: number; embed_ms: number; index_total_ms: number; wait_ms: number; save_ms: number };
  }>;
  removeDocuments(ids: string[]): Promise<{ removed: number; stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  clear(): Promise<{ stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  /** `corrections`: query words found in no document, with the indexed words (and edit distances) searched instead.
   *  `trace`: what ran (the query translation of `opts.translate`, its queries, notes and stage times). */
  search(query: string, opts?: SearchOpts): Promise<{ hits: SearchHit[]; corrections: TypoCorrection[]; trace: QueryTrace; timings: { search_ms: number } }>;
  /** Answer a question. `onText` receives UNVERIFIED text; the resolved `answer` is the attributed one. */
  ask(question: string, opts?: AskOpts, cb?: { onText?: UnverifiedTextCallback }): Promise<{ answer: Answer }>;
  /** The answer's UNVERIFIED text pieces as they are produced (see UnverifiedTextCallback); `.answer` resolves to the attributed answer. */
  askStream(question: string, opts?: AskOpts): AsyncIterableIterator<string> & { answer: Promise<{ answer: Answer }> };
  cancel(): Promise<void>;
  /** Evaluate the current index against ground truth (JSONL questions, or BEIR queries.jsonl with `qrels`) and build the HTML report. */
  evaluate(
    dataset: Blob | Uint8Array,
    opts?: EvaluateOpts & { qrels?: Blob | Uint8Array },
    cb?: { onProgress?: (p: EvaluateProgress) => void },
  ): Promise<EvaluateResult & { timings: { evaluate_ms: number } }>;
  exportIndex(): Promise<Uint8Array>;
  importIndex(bytes: Uint8Array): Promise<{ stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  readManifest(bytes: Uint8Array): Promise<IndexManifest>;
  /**
   * Load the saved index (its size and SHA-256 are checked first). A damaged or unusable
   * one is reported (`damaged: true`, `error`) and left alone: nothing is saved over it
   * until rebuild().
   */
  restore(): Promise<{
    restored: boolean; reason?: string; stats?: IndexStats; savedAt?: number; bytes?: number; verified?: boolean;
    damaged?: boolean; documents?: number | null; error?: { kind: string; message: string }; timings?: { restore_ms: number };
  }>;
  /** Set an unusable saved index aside (kept in IndexedDB as `<key>.damaged`) and save the in-memory index in its place. */
  rebuild(): Promise<{ stats: IndexStats; saved: SaveResult; kept: string | null }>;
  forget(): Promise<{ ok: boolean }>;
  /** `unsaved`: changes in memory that no save has stored yet (merged into the next save). */
  stats(): Promise<{ stats: IndexStats; embedder: EmbedderInfo | null; unsaved: number }>;
  document(id: string): Promise<StoredDocument>;
  documentIds(): Promise<string[]>;
  memory(): Promise<{ wasm_bytes: number | null; js_heap_used?: number; js_heap_total?: number }>;
  /** Stop the worker for good; later requests reject with "Terminated". */
  terminate(): void;
  /** Test hook, only with createEngine({faults: true}): 'panic' | 'exit' | 'throw' | 'saveInBlob' | 'saveBeforeSwap' | 'saveFails'. */
  injectFault(what: string): Promise<{ armed: string }>;
}

export function createEngine(options?: EngineOptions): Promise<SottoClient>;
/** Split `text` at UTF-8 byte offsets (as spans are reported) into [before, span, after]. */
export function splitSpan(text: string, start: number, end: number): [string, string, string];

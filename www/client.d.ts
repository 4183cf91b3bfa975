// Types of the worker-backed client (client.js). The data types come from the wasm
// bindings (sotto.d.ts); every promise rejects with a SottoError.
import type {
  Answer, AskOpts, ChatMessage, ChatResult, ChunkedDocument, CollectionInfo, EmbedOpts, EmbedProgress, EmbedderInfo, RerankedPassage, EvaluateOpts, EvaluateProgress, EvaluateResult, GeneratorInfo, IndexManifest, IndexStats, IngestProgress, IngestReport,
  QueryTrace, SearchHit, SearchOpts, ShardLimits, ShardTrace, ShardedInfo, SottoDocument, HnswOpts, HnswProgress, HnswReport, StoredDocument, TreeParams, TreeProgress, TreeReport, TypoCorrection,
} from './sotto.js';

/** The error every promise of the client rejects with: `kind` names the failure, `message` says what to do. */
export class SottoError extends Error {
  /** The engine's error kind ("BadMagic", "EmbedderMismatch", "ModelFormat", "Corrupt", …) or one of:
   *  - "Fetch": a model or manifest URL (or a remote index's shard) could not be fetched;
   *  - "Timeout": a remote index's request did not answer within `timeoutMs`; "ShardUnavailable": a remote shard is missing (HTTP 404);
   *  - "Checksum": a model file does not match the manifest (after one fresh download), or the manifest is malformed;
   *  - "Busy": another addDocuments is running; "Cancelled": cancel() stopped the request;
   *  - "QuotaExceeded": the origin's storage is full (a save; the previous saved index is kept);
   *  - "Conflict": another tab saved at the same moment without Web Locks (the change stays in memory and is merged at the next change);
   *  - "Panic": the engine crashed in this request (the worker is restarted);
   *  - "WorkerCrashed": the worker crashed or died while this request was in flight (it did not run, or its result was lost),
   *    or crashed too often to be restarted; "WorkerError": the worker failed to start;
   *  - "Terminated": terminate() was called; "NotInitialized";
   *  - per PDF, in addDocuments' `failed` (never a rejection): "PdfPassword", "PdfFormat", "PdfNoText", "LimitExceeded". */
  kind: string;
  /** An error of `kind` (client code rarely builds one: the client rejects with them). */
  constructor(kind: string, message: string);
}

/** Progress of a model file download (`cached: true`: read from the cache, no network). */
export interface DownloadProgress { stage: 'download'; file: 'weights' | 'tokenizer' | 'config' | 'generator'; received: number; total: number; cached: boolean }
/** A cached model file failed the manifest check: it was deleted and is downloaded again. */
export interface VerifyProgress { stage: 'verify'; file: 'weights' | 'tokenizer' | 'config' | 'generator'; ok: false; detail: string; refetch: true }
/** What a change did to the saved index. `ok: false` keeps the previous saved index; the change stays in memory. */
export interface SaveResult { ok: boolean; skipped?: boolean; bytes?: number; sha256?: string | null; ms?: number; error?: { kind: string; message: string } }
/** Set when another tab had saved first: its index was loaded and this tab's `replayed` unsaved changes applied on top. */
export type MergeInfo = { replayed: number; from: { gen: number; savedAt: number } | null } | null;
/** Per file: `hit` from the cache (OPFS or the Cache API); `repaired` says why a damaged cached copy was replaced. */
export type CacheResult = { ok: boolean; hit?: boolean; repaired?: string; error?: { kind: string; message: string };
  /** Where the file is kept: 'opfs' (the origin private file system: files of 8 MiB and more, where the browser has it) or 'cache' (the Cache API). */
  where?: 'opfs' | 'cache' };

/**
 * A PDF to index: its text is extracted in the worker (PDF.js, loaded there the first time
 * a PDF arrives), one section per page headed "p. N" (empty pages are skipped but keep
 * their numbers), so citations' heading paths say "p. 12". An ArrayBuffer, or a Uint8Array
 * spanning its whole buffer, is transferred to the worker: it is detached (empty) here
 * afterwards. A Blob (a File from an <input type=file>) is read in the worker.
 * Metadata: `title` (the PDF's Title, else `name`), `source` (`name`), `pages` (the page
 * count), `format: "pdf"`; `metadata` given here is merged over title and source.
 */
export interface PdfDocument {
  id: string;
  format: 'pdf';
  bytes: Uint8Array | ArrayBuffer | Blob;
  /** The file name (default: the id). */
  name?: string;
  metadata?: Record<string, string>;
}
/** Limits of PDF extraction, per addDocuments call; a PDF over one fails alone with "LimitExceeded". */
export interface PdfLimits {
  /** Pages (default 2000), checked before any page is read. */
  maxPages?: number;
  /** Size of the file (default 256 MiB), checked before it is read. */
  maxFileBytes?: number;
  /** UTF-8 bytes of the extracted text (default: the engine's limits.max_document_bytes, 16 MiB), checked after each page. */
  maxTextBytes?: number;
}
/** A PDF's text extraction: `page` of `pages` done (0 when the file has just been opened). */
export interface PdfProgress { stage: 'pdf'; file: string; page: number; pages: number }
/**
 * A document of the batch that was not indexed, and why: "PdfPassword" (encrypted), "PdfFormat"
 * (not a PDF, or damaged), "PdfNoText" (no text layer, e.g. a scan: no OCR), "LimitExceeded"
 * (PdfLimits), "InvalidDocument" (no bytes), "Fetch" (PDF.js could not be loaded).
 */
export interface FailedDocument { id: string; kind: string; message: string }

/** The 'restart' event: the worker was restarted after a crash, a death or a fallback cancel, or could not be. */
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
/** The 'indexChanged' event: another tab saved the index and this tab loaded it (or it was forgotten). */
export interface IndexChangedEvent { by: 'another tab'; stats: IndexStats | null; savedAt?: number; forgotten?: boolean; error?: { kind: string; message: string } }

/** Options of createEngine; every field is optional. */
export interface EngineOptions {
  /** URL of worker.js (default: next to client.js, which bundlers see and bundle). */
  workerUrl?: string | URL;
  /** IndexedDB persistence of the index (default {db: "sotto", key: "index"}); false turns it off. */
  persist?: false | { db?: string; key?: string };
  /** A (partial) engine configuration in the core's serde names. */
  config?: object;
  /** Keep a local log of queries and the user's feedback (default true). It never leaves the
   *  machine; with `persist` it is stored in IndexedDB next to the index; clearMonitoring() forgets it. */
  monitoring?: boolean;
  /** Enable the worker's test hooks (injectFault). Off by default. */
  faults?: boolean;
  /** Threads for the embedding and prefill kernels. More than 1 loads the threaded wasm
   *  build, which needs a cross-origin-isolated page (COOP/COEP) and the package's `threads/`
   *  directory served beside worker.js (bundlers do not copy it); without either the
   *  single-thread build runs, without error (`build`, `threads` and `buildReason` say so).
   *  Default: 1 in the npm package; the hardware's, at most 4, in the demo (www/). */
  threads?: number;
}

/**
 * Streamed text (`onText` of ask and chat, `askStream`) is the generator's raw output as it
 * is produced, before attribution has checked it against the documents: it can contain
 * sentences the final answer drops as unsupported, including text a hostile document
 * injected ("ignore previous instructions…"). Show it marked as unverified and replace it
 * with the final `answer` (its `sentences` and `citations`) when the promise resolves.
 */
export type UnverifiedTextCallback = (text: string) => void;

/** Feedback on one answer (see SottoClient.feedback). */
export interface FeedbackInput { question: string; helpful?: boolean | null; sources?: string[]; noAnswer?: boolean }
/** Latency percentiles (ms) of one stage over the logged queries. */
export interface StageLatency { p50: number | null; p95: number | null; n: number }
/** What SottoClient.monitoring() reports from the local query log and feedback. */
export interface MonitoringSummary {
  /** False when the engine was created with {monitoring: false} (nothing else is set). */
  enabled: boolean;
  /** Whether the log is stored in IndexedDB (else it lives as long as the worker). */
  persisted?: boolean;
  queries?: number; answers?: number;
  /** Per stage: retrieve_ms, select_ms, prefill_ms, decode_ms, attribute_ms, total_ms, and the search trace's stages. */
  latency?: Record<string, StageLatency>;
  /** Share of answers that abstained; of searches with no hit matching a query word (dense-only searches: no hit at all). */
  abstention_rate?: number | null; zero_hit_rate?: number | null;
  feedback?: number; feedback_rate?: number | null; helpful_rate?: number | null;
  /** Mean query–top-hit cosine of the first `window` queries since the index last changed (baseline)
   *  and of the last `window` (recent); a negative delta: questions match the documents less. */
  drift?: { window: number; baseline: number; recent: number; delta: number } | null;
}

/** Options of openRemote. */
export interface RemoteOptions {
  /** Keep fetched shards in the Cache API (default true; they are content-addressed, so they never go stale). */
  cache?: boolean;
  /** Per-request timeout in milliseconds (default 30000). */
  timeoutMs?: number;
  limits?: ShardLimits;
  /**
   * Delete from the Cache API the shards under the manifest's directory that it no longer
   * lists (an updated index's old versions), when opened and when an update is seen
   * (default true). Other URLs are never touched.
   */
  prune?: boolean;
  /**
   * "auto" (default): when the manifest lists a packed file (`sotto index --shards OUT --pack`),
   * read shards from it with HTTP Range requests; if the host answers one with anything but
   * the 206 asked for (it ignores Range, a 416, a wrong Content-Range), use the shard files
   * for the rest of the session (`trace.pack_fallback` says why). "never": the shard files.
   * A cross-origin host must expose Content-Range (Access-Control-Expose-Headers), else the
   * shard files are read.
   */
  pack?: 'auto' | 'never';
  /** With the pack: ask for a round's shards that lie back to back in it in one Range request (default true). */
  coalesce?: boolean;
}
/** What a remote query fetched: the engine's trace plus the worker's network counters. */
export interface RemoteTrace extends ShardTrace {
  /** HTTP requests made (a refetch counts). */
  requests: number;
  /** Bytes received over the network. */
  bytes: number;
  /** Shards read from the Cache API. */
  cache_api_hits: number;
  /** Shards fetched again after failing their hash check. */
  refetched: number;
  fetch_ms: number;
  manifest_sha256: string;
  /** The manifest changed while the page held the old one; the query ran on the new one. */
  manifest_updated?: boolean;
  /** Range requests into the pack (counted in `requests` too). */
  range_requests: number;
  /** The packed file read with Range requests, or null (none in the manifest, or `pack: "never"`). */
  pack: string | null;
  /** Why the shard files are read instead of the pack (set once the host failed a Range request; for the rest of the session). */
  pack_fallback?: string | null;
}
/** The engine behind a Web Worker: every call is a promise, the page never blocks; see createEngine. */
export interface SottoClient {
  version: string;
  crossOriginIsolated: boolean;
  /** Web Locks in the worker (two tabs' changes are serialised); without them a simultaneous save is a "Conflict". */
  webLocks: boolean;
  /** Web Crypto in the worker: without it (not a secure context) model files are checked by size only and index saves carry no SHA-256. */
  webCrypto: boolean;
  /** The wasm build the worker loaded: "threads" only in a cross-origin-isolated page with the threaded build present. */
  build: 'threads' | 'single';
  /** Threads the worker's embedding and prefill kernels use: the pool size of the threaded build, else 1. */
  threads: number;
  /** Why the single-thread build runs (not isolated, no threaded build, pool failed, threads: 1), or null. */
  buildReason: string | null;
  /** Workers started after a crash, a death or a fallback cancel. */
  restarts: number;
  /** 'restarting': a crash was detected and the worker is being restarted. Returns a function that stops listening. */
  on(type: 'restarting', fn: (e: { reason: RestartEvent['reason']; cause: SottoError }) => void): () => void;
  /** 'restart': the new worker is ready (or `ok: false`: it could not be restarted). Returns a function that stops listening. */
  on(type: 'restart', fn: (e: RestartEvent) => void): () => void;
  /** 'indexChanged': another tab saved the index and this tab loaded it. Returns a function that stops listening. */
  on(type: 'indexChanged', fn: (e: IndexChangedEvent) => void): () => void;
  /** 'fault': a test hook fired (createEngine({faults: true}) only). Returns a function that stops listening. */
  on(type: 'fault', fn: (e: { at: string }) => void): () => void;
  /**
   * `manifest`: URL of a model manifest (`{files: {"<path relative to it>": {sha256, size}}}`,
   * as scripts/fetch-models.sh writes): every file is checked against it, cached or not; a
   * damaged cached copy is downloaded again once; a bad download rejects with "Checksum".
   * `sha256`: the SHA-256 (hex) the page expects of a file, checked the same way (it wins over
   * the manifest's); it needs Web Crypto (a secure context), else "Checksum".
   * `quantize`: "int8" runs the model with int8 weights and activations (faster, vectors
   * within ≈ 0.995 cosine of f32); default "none" (f32). Reported by `stats()`.
   */
  loadEmbedder(
    source: ({ urls: { weights: string; tokenizer: string; config: string }; name?: string; manifest?: string; sha256?: { weights?: string; tokenizer?: string; config?: string } } | { bytes: { weights: Uint8Array; tokenizer: Uint8Array; config: Uint8Array }; name?: string }) & { quantize?: 'none' | 'int8' },
    opts?: { onProgress?: (p: DownloadProgress | VerifyProgress | { stage: 'load' }) => void },
  ): Promise<{ info: EmbedderInfo; cached: Record<string, CacheResult> | null; verified: boolean; timings: { fetch_ms: number; verify_ms: number; load_ms: number; total_ms: number } }>;
  /** Load the model-free feature-hashing embedder of dimension `dim` (lexical only: tests, pages without weights). */
  loadHashingEmbedder(dim: number): Promise<{ info: EmbedderInfo }>;
  /** Load a GGUF generator (SmolLM2 and other llama-family models) from a URL (cached and checked like the embedder) or bytes. */
  loadGenerator(
    source: { url: string; opts?: object; manifest?: string; sha256?: string } | { bytes: Uint8Array; opts?: object },
    opts?: { onProgress?: (p: DownloadProgress | VerifyProgress | { stage: 'load' }) => void },
  ): Promise<{ info: GeneratorInfo; cached: CacheResult | null; verified: boolean; timings: { fetch_ms: number; verify_ms: number; load_ms: number; total_ms: number } }>;
  /** Drop the generator and free its memory; `unloaded` is false when none was loaded. */
  unloadGenerator(): Promise<{ unloaded: boolean }>;
  /** Raw generation. `onText` receives UNVERIFIED text (no attribution at all in chat): see UnverifiedTextCallback. */
  chat(prompt: string | ChatMessage[], opts?: object, cb?: { onText?: UnverifiedTextCallback }): Promise<{ result: ChatResult; timings: { first_text_ms: number | null } }>;
  /**
   * Index documents. With persistence on, the change is applied on top of the latest saved
   * index under a Web Lock (another tab's save is loaded first: `merged`), then saved;
   * `onProgress` may report `{stage: 'waiting'}` while another tab holds the lock.
   * PDFs (PdfDocument) are turned into text first, with `{stage: 'pdf'}` progress and
   * cancel() checked between pages; one that cannot be read is left out and listed in
   * `failed`, and the rest of the batch is indexed (the other documents are all-or-nothing
   * as before). `pdf`: the extraction limits.
   */
  addDocuments(
    docs: (SottoDocument | PdfDocument)[],
    opts?: { onProgress?: (p: IngestProgress | PdfProgress | { stage: 'waiting'; done: 0; total: 0; reason: string }) => void; pdf?: PdfLimits },
  ): Promise<{
    report: IngestReport; failed: FailedDocument[]; stats: IndexStats; saved: SaveResult; merged: MergeInfo;
    timings: { pdf_ms: number; clean_chunk_ms: number; embed_ms: number; index_total_ms: number; wait_ms: number; save_ms: number };
  }>;
  /**
   * Build (or rebuild) the RAPTOR summary tree (Sarthi et al. 2024) from the stored chunk
   * vectors, then save; adding or removing documents drops it. Cancellable with cancel()
   * ("Cancelled": the index, its previous tree included, is unchanged). Search with
   * `{tree: "collapsed"}`. `levels`: summary nodes per level.
   */
  buildTree(
    params?: TreeParams,
    opts?: { onProgress?: (p: TreeProgress | { stage: 'waiting'; done: 0; total: 0; reason: string }) => void },
  ): Promise<{ report: TreeReport; levels: number[]; stats: IndexStats; saved: SaveResult; merged: MergeInfo; timings: { tree_ms: number } }>;
  /**
   * Build HNSW graphs over the exactly-scanned vectors once they reach the engine config's
   * `dense.hnsw_threshold` (default 20 000), one segment of `segmentVectors` (default
   * 10 000) at a time, then save: worth it for a large local collection, where the exact
   * scan's cost grows with every vector. Slow in wasm (about a minute per 10 000 vectors
   * single-threaded), so cancel() stops it between segments: the segments built so far
   * stay (and are saved), and `report.cancelled` says it stopped. Not replayed onto another
   * tab's save (it changes no content, only speed). Measured in wasm (docs/retrieval.md):
   * up to 100k vectors the flat int8 scan is 3–6× faster than HNSW segments of 10k, so
   * measure before using it.
   */
  buildHnsw(
    opts?: HnswOpts,
    progress?: { onProgress?: (p: HnswProgress | { stage: 'waiting'; done: 0; total: 0; reason: string }) => void },
  ): Promise<{ report: HnswReport; stats: IndexStats; saved: SaveResult; merged: MergeInfo; timings: { hnsw_ms: number } }>;
  /** Remove documents by id (all or nothing: an unknown id removes none), then save. */
  removeDocuments(ids: string[]): Promise<{ removed: number; stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  /** Remove every document (the embedder stays loaded), then save the empty index. */
  clear(): Promise<{ stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  /** `corrections`: query words found in no document, with the indexed words (and edit distances) searched instead.
   *  `trace`: what ran (the query translation of `opts.translate`, its queries, notes and stage times). */
  search(query: string, opts?: SearchOpts): Promise<{ hits: SearchHit[]; corrections: TypoCorrection[]; trace: QueryTrace; timings: { search_ms: number } }>;
  /**
   * Open a sharded index served by a static host (`sotto shard IDX OUT/`): `url` is its
   * `manifest.json`. The loaded embedder must be the one the index was built with
   * (`EmbedderMismatch`). Only the manifest is fetched here; the Cache API then loses the
   * shards of this directory the manifest no longer lists (`pruned`, see `RemoteOptions.prune`).
   */
  openRemote(url: string, opts?: RemoteOptions): Promise<{ info: ShardedInfo; manifest_bytes: number; pruned: number; timings: { open_ms: number; prune_ms: number } }>;
  /**
   * Search the remote index: only the shards the query needs are fetched (term dictionary
   * buckets, the `nprobe` nearest clusters, postings, the hits' chunks), in parallel, from the
   * Cache API or the network. Options a sharded index lacks (translate, route, construct,
   * tree, rerank, exact) are `InvalidOption`. A missing shard is `ShardUnavailable`, a shard
   * that fails its hash twice `Corrupt`, a stalled request `Timeout`; when the manifest changed
   * meanwhile, the new one is opened and the query runs once more (`trace.manifest_updated`).
   */
  searchRemote(query: string, opts?: SearchOpts & { nprobe?: number }): Promise<{ hits: SearchHit[]; trace: RemoteTrace; timings: { embed_ms: number; fetch_ms: number; search_ms: number } }>;
  /**
   * An extractive answer with cited spans from the remote index: the search's shards, then
   * the chunk and sentence shards of its hits. Extractive only (`mode` generative/compose,
   * `adaptive` are `InvalidOption`). The retrieval is graded as on a single file (the manifest's
   * calibration, else the MiniLM default; `info.grader` says which), from the lists the search
   * scored anyway, so grading adds no round; an *ambiguous* grade re-retrieves once with
   * expansion terms, as a single file does. An index written without sentence vectors cannot answer.
   */
  askRemote(question: string, opts?: AskOpts & { nprobe?: number }): Promise<{ answer: Answer; trace: RemoteTrace; timings: { embed_ms: number; fetch_ms: number; total_ms: number } }>;
  /** Read the manifest again; a changed index is opened (`updated: true`). */
  refreshRemote(): Promise<{ updated: boolean; info: ShardedInfo; pruned: number }>;
  /** The open remote index, or nulls. */
  remoteInfo(): Promise<{ info: ShardedInfo | null; url: string | null }>;
  /** Close the remote index (cached shards stay in the Cache API). */
  closeRemote(): Promise<{ closed: boolean }>;
  /**
   * Building blocks; none of them indexes anything. `embed`: one Float32Array per text from the
   * loaded embedder (L2-normalised unless `{normalize: false}`), batched with progress and
   * cancellable with cancel() ("Cancelled"); `[]` for `[]`.
   */
  embed(texts: string[], opts?: EmbedOpts, cb?: { onProgress?: (p: EmbedProgress) => void }): Promise<Float32Array[]>;
  /** Rerank passages (indexed or not) against `query` by sentence-level MaxSim, best first. */
  rerank(query: string, passages: string[]): Promise<RerankedPassage[]>;
  /** Clean and chunk a document exactly as addDocuments would, without indexing it. */
  chunk(document: SottoDocument): Promise<ChunkedDocument>;
  /** Delete the cached model files (the loaded models stay in memory; the next visit downloads them again). */
  clearModelCache(): Promise<{ deleted: boolean }>;
  /**
   * Feedback on an answer, stored locally: `helpful` (thumbs up/down), `sources` the document
   * ids the user confirmed as the right ones, or `noAnswer: true` (the documents do not answer
   * it). Rejects with "InvalidOption" for a malformed entry or when monitoring is off.
   */
  feedback(entry: FeedbackInput): Promise<{ stored: number }>;
  /** From the local query log: latency p50/p95 per stage, abstention and zero-hit shares, feedback rate, drift. */
  monitoring(opts?: { window?: number }): Promise<MonitoringSummary>;
  /** The feedback as an evaluation dataset (JSONL: id, question, relevant_docs, kind "feedback"),
   *  readable by evaluate() and `sotto eval`. Questions whose confirmed documents were all deleted
   *  since, or without ground truth, are listed in `skipped`. */
  exportFeedback(): Promise<{ jsonl: string; questions: number; skipped: { question: string; reason: string }[] }>;
  /** Forget the query log and/or the feedback (default both). */
  clearMonitoring(which?: { log?: boolean; feedback?: boolean }): Promise<{ ok: boolean }>;
  /** Answer a question. `onText` receives UNVERIFIED text; the resolved `answer` is the attributed one.
   *  With `opts.adaptive`, `answer.route` (a `RouteTrace`) says which pipeline the question's class
   *  picked; a meta question's answer has no sentences and no citations, only `answer.answer`, which
   *  names document titles and must be shown as text. A generative answer's `self_check`
   *  (a `SelfCheckTrace`) says whether unsupported claims were retrieved again. */
  ask(question: string, opts?: AskOpts, cb?: { onText?: UnverifiedTextCallback }): Promise<{ answer: Answer }>;
  /** The answer's UNVERIFIED text pieces as they are produced (see UnverifiedTextCallback); `.answer` resolves to the attributed answer. */
  askStream(question: string, opts?: AskOpts): AsyncIterableIterator<string> & { answer: Promise<{ answer: Answer }> };
  /** Cancel the running request and those queued before this call: they reject with "Cancelled". */
  cancel(): Promise<void>;
  /** Evaluate the current index against ground truth (JSONL questions, or BEIR queries.jsonl with `qrels`) and build the HTML report. */
  evaluate(
    dataset: Blob | Uint8Array,
    opts?: EvaluateOpts & { qrels?: Blob | Uint8Array },
    cb?: { onProgress?: (p: EvaluateProgress) => void },
  ): Promise<EvaluateResult & { timings: { evaluate_ms: number } }>;
  /** The index as one file (the versioned format of docs/index-format.md), for download or importIndex. */
  exportIndex(): Promise<Uint8Array>;
  /** Replace the index by an exported one (from the page or `sotto index`); a bad file is refused and the index kept. */
  importIndex(bytes: Uint8Array): Promise<{ stats: IndexStats; saved: SaveResult; merged: MergeInfo }>;
  /** Read an index file's manifest (version, embedder, counts) without loading it. */
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
  /** Delete the saved index from IndexedDB (the index in memory stays until the tab closes). */
  forget(): Promise<{ ok: boolean }>;
  /**
   * `unsaved`: changes in memory that no save has stored yet (merged into the next save);
   * `tree`: the summary tree's nodes per level, level 1 first (`[]` without a tree);
   * `threads`, `build`: the kernels' thread count and the wasm build running (as in
   * `stats`); `buildReason`: why the single-thread build runs, or null.
   */
  stats(): Promise<{ stats: IndexStats; embedder: EmbedderInfo | null; unsaved: number; tree: number[]; threads: number; build: 'threads' | 'single'; buildReason: string | null }>;
  /** A stored document: cleaned text, metadata and chunk spans ("UnknownDocument" if absent). */
  document(id: string): Promise<StoredDocument>;
  /** The ids of every indexed document. */
  documentIds(): Promise<string[]>;
  /** The collections `route: "auto"` chooses between: a document's `collection` metadata, else "default". */
  collections(): Promise<CollectionInfo[]>;
  /** Describe a collection for routing (an empty description removes it); saved with the index like any change. */
  setCollectionDescription(name: string, description: string): Promise<{ collections: CollectionInfo[]; saved: SaveResult; merged: MergeInfo }>;
  /** Memory of the worker: the wasm heap and, where the browser tells, the JS heap. */
  memory(): Promise<{ wasm_bytes: number | null; js_heap_used?: number; js_heap_total?: number }>;
  /** Stop the worker for good; later requests reject with "Terminated". */
  terminate(): void;
  /** Test hook, only with createEngine({faults: true}): 'panic' | 'exit' | 'throw' | 'saveInBlob' | 'saveBeforeSwap' | 'saveFails'. */
  injectFault(what: string): Promise<{ armed: string }>;
}

/** Start the engine in a module Web Worker and initialise it (restoring the saved index when persistence is on). */
export function createEngine(options?: EngineOptions): Promise<SottoClient>;
/** Split `text` at UTF-8 byte offsets (as spans are reported) into [before, span, after]. */
export function splitSpan(text: string, start: number, end: number): [string, string, string];

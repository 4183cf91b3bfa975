// Types of the worker-backed client (client.js). The data types come from the wasm
// bindings (sotto.d.ts); every promise rejects with a SottoError.
import type {
  Answer, AskOpts, ChatMessage, ChatResult, EmbedderInfo, EvaluateOpts, EvaluateProgress, EvaluateResult, GeneratorInfo, IndexManifest, IndexStats, IngestProgress, IngestReport,
  SearchHit, SearchOpts, SottoDocument, StoredDocument,
} from './sotto.js';

export class SottoError extends Error {
  /** The engine's error kind ("BadMagic", "EmbedderMismatch", "ModelFormat", …) or one of
   *  "Fetch", "Busy", "Cancelled", "QuotaExceeded", "Panic", "NotInitialized", "WorkerError". */
  kind: string;
}

export interface DownloadProgress { stage: 'download'; file: 'weights' | 'tokenizer' | 'config' | 'generator'; received: number; total: number; cached: boolean }
export interface SaveResult { ok: boolean; skipped?: boolean; bytes?: number; ms?: number; error?: { kind: string; message: string } }

export interface EngineOptions {
  /** URL of worker.js (default: next to client.js). */
  workerUrl?: URL;
  /** IndexedDB persistence of the index (default {db: "sotto", key: "index"}); false turns it off. */
  persist?: false | { db?: string; key?: string };
  /** A (partial) engine configuration in the core's serde names. */
  config?: object;
}

export interface SottoClient {
  version: string;
  crossOriginIsolated: boolean;
  loadEmbedder(
    source: { urls: { weights: string; tokenizer: string; config: string }; name?: string } | { bytes: { weights: Uint8Array; tokenizer: Uint8Array; config: Uint8Array }; name?: string },
    opts?: { onProgress?: (p: DownloadProgress | { stage: 'load' }) => void },
  ): Promise<{ info: EmbedderInfo; cached: Record<string, { ok: boolean; hit?: boolean }> | null; timings: { fetch_ms: number; load_ms: number; total_ms: number } }>;
  loadHashingEmbedder(dim: number): Promise<{ info: EmbedderInfo }>;
  loadGenerator(
    source: { url: string; opts?: object } | { bytes: Uint8Array; opts?: object },
    opts?: { onProgress?: (p: DownloadProgress | { stage: 'load' }) => void },
  ): Promise<{ info: GeneratorInfo; cached: { ok: boolean; hit?: boolean } | null; timings: { fetch_ms: number; load_ms: number; total_ms: number } }>;
  unloadGenerator(): Promise<{ unloaded: boolean }>;
  chat(prompt: string | ChatMessage[], opts?: object, cb?: { onText?: (text: string) => void }): Promise<{ result: ChatResult; timings: { first_text_ms: number | null } }>;
  addDocuments(docs: SottoDocument[], opts?: { onProgress?: (p: IngestProgress) => void }): Promise<{
    report: IngestReport; stats: IndexStats; saved: SaveResult;
    timings: { clean_chunk_ms: number; embed_ms: number; index_total_ms: number; save_ms: number };
  }>;
  removeDocuments(ids: string[]): Promise<{ removed: number; stats: IndexStats; saved: SaveResult }>;
  clear(): Promise<{ stats: IndexStats; saved: SaveResult }>;
  search(query: string, opts?: SearchOpts): Promise<{ hits: SearchHit[]; timings: { search_ms: number } }>;
  ask(question: string, opts?: AskOpts, cb?: { onText?: (text: string) => void }): Promise<{ answer: Answer }>;
  askStream(question: string, opts?: AskOpts): AsyncIterableIterator<string> & { answer: Promise<{ answer: Answer }> };
  cancel(): Promise<void>;
  /** Evaluate the current index against ground truth (JSONL questions, or BEIR queries.jsonl with `qrels`) and build the HTML report. */
  evaluate(
    dataset: Blob | Uint8Array,
    opts?: EvaluateOpts & { qrels?: Blob | Uint8Array },
    cb?: { onProgress?: (p: EvaluateProgress) => void },
  ): Promise<EvaluateResult & { timings: { evaluate_ms: number } }>;
  exportIndex(): Promise<Uint8Array>;
  importIndex(bytes: Uint8Array): Promise<{ stats: IndexStats; saved: SaveResult }>;
  readManifest(bytes: Uint8Array): Promise<IndexManifest>;
  restore(): Promise<{ restored: boolean; reason?: string; stats?: IndexStats; savedAt?: number; bytes?: number; error?: { kind: string; message: string } }>;
  forget(): Promise<{ ok: boolean }>;
  stats(): Promise<{ stats: IndexStats; embedder: EmbedderInfo | null }>;
  document(id: string): Promise<StoredDocument>;
  documentIds(): Promise<string[]>;
  memory(): Promise<{ wasm_bytes: number | null; js_heap_used?: number; js_heap_total?: number }>;
  terminate(): void;
}

export function createEngine(options?: EngineOptions): Promise<SottoClient>;
/** Split `text` at UTF-8 byte offsets (as spans are reported) into [before, span, after]. */
export function splitSpan(text: string, start: number, end: number): [string, string, string];

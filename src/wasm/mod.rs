//! The JavaScript boundary: `wasm-bindgen` exports over [`Engine`].
//!
//! This module only converts types and errors, in the manner of instant-distance's
//! Python binding (`struct HnswMap { inner }` plus load/dump): every decision lives in
//! the core. Conventions:
//!
//! - **Every export returns a `Result`.** Failures become a JS `Error` whose `name` is
//!   `"SottoError"`, whose `message` is the core error's text and whose `kind` is
//!   [`crate::Error::kind`] (`"BadMagic"`, `"EmbedderMismatch"`, `"Cancelled"`, …), so a
//!   worker can forward `{kind, message}` across `postMessage`. Malformed JS input (a
//!   number where a string belongs, an unknown option) is an `InvalidDocument` /
//!   `InvalidOption` error, never a panic: a panic poisons the wasm instance.
//! - **A panic hook is installed once** (`console_error_panic_hook`) so that a bug, if one
//!   remains, is reported with its message instead of `RuntimeError: unreachable`.
//! - **Objects cross as plain JS values** through `serde-wasm-bindgen` in JSON-compatible
//!   mode: field names are the core's serde names (`doc_id`, `chunk_id`, …), the same as
//!   the CLI's JSON output; TypeScript interfaces for them are emitted below.
//! - **Time comes from JS.** `std::time::Instant` panics on `wasm32-unknown-unknown`, so
//!   the clock handed to [`Engine::ask`] is `performance.now()`.
//! - **Bytes, not URLs.** Fetching (with progress and the Cache API) is the worker's job
//!   (`www/worker.js`); Rust receives `Uint8Array`s, copied once into wasm memory.

use std::sync::{Arc, Once};

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::embed::bert::{BertEmbedder, BertOptions};
use crate::embed::hashing::HashEmbedder;
use crate::embed::Quantize;
use crate::embed::{Embedder, EmbedderInfo};
use crate::error::Error;
use crate::eval::grid::GridProgress;
use crate::eval::live::{evaluate_live, DatasetBytes, LiveEvalOptions};
use crate::eval::report::{csp_hashes, CspHashes};
use crate::generate::{load_gguf, ChatMessage, GenerationOptions, Generator, LoadOptions, Prompt, StreamedGeneration};
use crate::query::options::{fusion_from_parts, DEFAULT_ALPHA, DEFAULT_RRF_K};
use crate::query::{Filter, Mode, Retrieval, SearchOptions};
use crate::rag::answer::AnswerMode;
use crate::rag::ask::AskOptions;
use crate::rag::persist::read_manifest;
use crate::rag::{Engine, EngineConfig, Progress};
use crate::text::TokenCounter;
use crate::Document;

mod remote;
#[cfg(feature = "threads")]
mod threads;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, available in windows, workers and Node ≥ 16.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A document to index. `format` is detected from the id's extension and the content when absent. */
export interface SottoDocument {
  id: string;
  body: string;
  format?: "text" | "markdown" | "html" | "pages";
  metadata?: Record<string, string>;
}
/** A metadata filter; the key `id` matches the document id. */
export type SottoFilter =
  | { op: "equals"; key: string; value: string }
  | { op: "oneof"; key: string; values: string[] }
  | { op: "prefix"; key: string; prefix: string };
/** Search options; every field is optional. */
export interface SearchOpts {
  /** Chunks returned (default 5). */
  k?: number;
  /** Retrieval mode (default "hybrid"), or a retrieval name that carries its fusion, as the
   *  evaluation grid spells them: "hybrid-rrf[:rrfK]", "hybrid-weighted[:alpha]" ("weighted"). */
  mode?: "dense" | "sparse" | "hybrid" | "hybrid-rrf" | "hybrid-weighted" | "weighted" | string;
  /** Fusion of hybrid results (default "rrf"). */
  fusion?: "rrf" | "weighted";
  /** Weight of the dense list for weighted fusion, in [0, 1] (default 0.5). */
  alpha?: number;
  /** RRF constant (default 60). */
  rrfK?: number;
  /** Filters, all of which must match. */
  filters?: SottoFilter[];
  /** Rerank the fused candidates by MaxSim, the best sentence cosine (default "none"). */
  rerank?: "none" | "maxsim";
  /** Query translation, model-free (default "none"; the trace: `searchTraced`, or an answer's `query`). */
  translate?: "none" | "multi-query" | `multi-query:${number}` | "fusion" | "decompose" | "step-back" | "hyde" | "auto";
  /** Logical routing: "auto" searches only the collections (a document's `collection`
   *  metadata, else "default") the question matches best (default "none"). */
  route?: "none" | "auto";
  /** Query construction: a constraint the question names ("in the French documents") as a
   *  filter — "suggest" reports it in the trace, "apply" also applies it (default "off"). */
  construct?: "off" | "suggest" | "apply";
  /** RAPTOR summary tree retrieval (default "none"): "collapsed" ranks chunks and summary nodes in
   *  one dense pool, a node expanded into the chunks its sentences cite. Needs an index with a
   *  tree (`buildTree`) and mode dense or hybrid; otherwise an InvalidOption error. */
  tree?: "none" | "collapsed";
  /** Scan every stored vector exactly (default false): no int8 scan, 1-bit prefilter or HNSW
   *  graph. Slower on large indexes; the ground truth to measure the default's recall against.
   *  Not supported on a sharded index (InvalidOption). */
  exact?: boolean;
}
/** Options of `ask`; every field is optional. */
export interface AskOpts {
  search?: SearchOpts;
  mode?: "extractive" | "generative" | "compose";
  maxSentences?: number;
  maxCandidates?: number;
  abstainBelow?: number;
  relativeCutoff?: number;
  contextBudgetTokens?: number;
  supportThreshold?: number;
  strict?: boolean;
  maxNewTokens?: number;
  /** Generative answers: "copy" lets the model write only words of the packed sources,
   *  function words and citation numbers; "bigram" also keeps each content word next to the
   *  previous one as in a source sentence (phrases, not loose words); "none" (default) decodes
   *  freely. */
  constrain?: "none" | "copy" | "bigram";
  /** Adaptive RAG (default false): the question's class picks no retrieval (meta questions get a
   *  description of the collection), one step, or one step per part (comparisons); the route is in
   *  `Answer.route`. Not with `search.translate` other than "none" (InvalidOption). */
  adaptive?: boolean;
  /** Generative answers: retrieve unsupported claims once more and attribute again (default true). */
  selfCheck?: boolean;
}
/** Progress of `addDocuments`. */
export interface IngestProgress { stage: "chunking" | "embedding"; done: number; total: number }
/** Progress of `buildTree`: texts embedded ("tree") or summaries written ("summaries",
 *  abstractive builds) so far for the level being built. */
export interface TreeProgress { stage: "tree" | "summaries"; level: number; done: number; total: number }
/** Progress of `buildHnsw`: live vectors in HNSW segments, of all live vectors. */
export interface HnswProgress { stage: "hnsw"; done: number; total: number }
/** What `buildHnsw` did. */
export interface HnswReport {
  /** Segments sealed or rebuilt. */
  steps: number;
  /** Vectors those steps put into HNSW segments. */
  sealed: number;
  /** Live vectors in HNSW segments now, and scanned exactly now. */
  hnsw_vectors: number;
  flat_vectors: number;
  /** Stopped between segments on cancel(); the segments built so far stay. */
  cancelled: boolean;
}
/** Options of `buildHnsw`. */
export interface HnswOpts {
  /** Vectors per HNSW segment built (default 10000): the cancel and progress granularity. */
  segmentVectors?: number;
}
/** Parameters of `buildTree` (RAPTOR, Sarthi et al. 2024); every field is optional. */
export interface TreeParams {
  cluster_size?: number; max_cluster_size?: number; branching?: number; kmeans_iterations?: number;
  summary_length?: number; top_nodes?: number; max_levels?: number; max_nodes?: number; seed?: number;
  /** The loaded generator writes each summary from the node's extractive sentences,
   *  copy-constrained (default false: extractive). Without a generator: ModelNotLoaded. */
  abstractive?: boolean;
  /** Abstractive: most new tokens per summary (default 64, at most 512). */
  summary_max_new_tokens?: number;
  /** Abstractive: a generated summary with fewer words stays extractive (default 4). */
  summary_min_words?: number;
}
/** What `buildTree` made. */
export interface TreeReport {
  chunks: number; nodes_per_level: number[]; nodes: number; sentences_embedded: number; summaries_embedded: number;
  /** Abstractive builds: summaries written, nodes kept extractive, tokens generated. */
  abstractive: number; abstractive_fallbacks: number; generated_tokens: number;
}
/** A summary node a collapsed-tree search used. */
export interface TreeHit { node: number; level: number; score: number; chunks: number[] }
/** Summary of one `addDocuments` batch. */
export interface IngestReport {
  documents: number; replaced: number; chunks: number;
  exact_duplicates: number; near_duplicates: number;
}
/** A query word BM25 found in no document, and the indexed words (edit distance) searched instead. */
export interface TypoCorrection { word: string; replacements: [string, number][]; }
/** One query a translated search ran: the question, a decomposition part, or a feedback variant. */
export interface TracedQuery {
  text: string; source: "original" | "rule" | "feedback"; via: string;
  retriever: "dense" | "sparse" | "hybrid"; weight: number; hits: number;
}
/** What a search ran: the technique asked for and used (`auto` picks), its queries, notes, stage times (ms). */
export interface QueryTrace {
  requested: string; technique: string; reason: string; queries: TracedQuery[];
  notes: string[]; stages: { stage: string; ms: number }[]; corrections: TypoCorrection[];
  /** What routing did (`route: "auto"`): every collection's score, the ones searched (empty: all). */
  route?: { scores: { name: string; centroid: number; description: number | null; score: number }[];
            chosen: string[]; note: string };
  /** Filters constructed from the question (`construct`), the words that named them, whether applied. */
  construction?: { filters: SottoFilter[]; phrases: string[]; applied: boolean; notes: string[] };
  /** The summary nodes of a `tree: "collapsed"` search (absent otherwise). */
  tree?: TreeHit[];
  /** The question's class (semantic routing); the search does not depend on it. */
  class?: Classification;
}
/** One collection of the index. */
export interface CollectionInfo { name: string; documents: number; chunks: number; description: string | null }
/** One retrieved chunk. Offsets are UTF-8 byte offsets into the document's cleaned text. */
export interface SearchHit {
  rank: number; chunk_id: number; doc_id: string; title: string | null;
  score: number; dense_score: number | null; sparse_score: number | null;
  text: string; heading_path: string[]; start: number; end: number;
}
/** A numbered source span of an answer (UTF-8 byte offsets into the cleaned text). */
export interface Citation {
  n: number; chunk_id: number; doc_id: string; title: string | null;
  start: number; end: number; text: string;
  /** Headings enclosing the cited chunk, outermost first (a PDF page: "p. 12"). */
  heading_path: string[];
}
/** One sentence of an answer: whether the sources support it, how much, and the citation numbers it carries. */
export interface AnswerSentence { text: string; supported: boolean; support: number; citations: number[] }
/** Milliseconds per stage, measured with `performance.now()`. */
export interface Timings {
  retrieve_ms: number; select_ms: number; prefill_ms: number; decode_ms: number;
  attribute_ms: number; total_ms: number; prompt_tokens: number; generated_tokens: number;
  prefill_tokens_per_s: number; decode_tokens_per_s: number;
}
/** An answer: its sentences with citations, or an abstention saying the documents do not answer; timings per stage. */
export interface Answer {
  question: string; answer: string; mode: "extractive" | "generative" | "compose";
  fell_back: boolean; abstained: boolean; sentences: AnswerSentence[]; dropped: AnswerSentence[];
  /** Key terms of the extractive answer a composition lost (mode "compose"), which made it fall back. */
  lost_terms?: string[];
  citations: Citation[]; support: number; retrieval_score: number;
  generated_text: string | null; timings: Timings;
  /** The retrieval grader's verdict (absent when no calibration applies or grading is off). */
  grade?: GradeTrace;
  /** The query translation's trace (present when `search.translate` is set and not "none"). */
  query?: QueryTrace;
  /** Adaptive RAG's route (present when `adaptive` is on). */
  route?: RouteTrace;
  /** The self-check after generation (present when it ran). */
  self_check?: SelfCheckTrace;
}
/** A question's class: rules first, then the nearest prototype question (MiniLM only), else "factoid". */
export interface Classification {
  class: "meta" | "definition" | "how-to" | "comparison" | "yes-no" | "list" | "overview" | "factoid";
  source: "rule" | "prototype" | "default"; rule: string; similarity?: number;
}
/** What Adaptive RAG did: the class, the pipeline, the parts of a multi-step answer, stage times (ms). */
export interface RouteTrace {
  classification: Classification; pipeline: "no-retrieval" | "single-step" | "multi-step";
  parts: { question: string; answered: boolean; sentences: number; citations: number[]; grade?: "correct" | "ambiguous" | "incorrect" }[];
  notes: string[]; stages: { stage: string; ms: number }[];
}
/** The self-check: unsupported claims retrieved again, sources added, supported sentences before/after. */
export interface SelfCheckTrace {
  claims: string[]; added_sources: number; supported_before: number; supported_after: number;
  rescued: boolean; ms: number;
}
/** The retrieval grader's verdict and corrective actions, in an `Answer`. */
export interface GradeTrace {
  grade: "correct" | "ambiguous" | "incorrect"; confidence: number;
  calibration: "index" | "shipped_default" | "uncalibrated";
  actions: string[]; topics: string[]; features: [string, number][];
}
/** Size of the index and the embedder it was built with. */
export interface IndexStats {
  documents: number; chunks: number; exact_duplicates: number; near_duplicates: number;
  text_bytes: number; embedder: string; dim: number;
  /** Weight precision of the loaded embedder. */
  quantize: "none" | "int8";
  /** Chunk vectors in HNSW segments (an index built by the CLI past `dense.hnsw_threshold`); the rest are scanned exactly. */
  hnsw_vectors: number;
  /** Threads the embedding and prefill kernels split their work over: the pool started by
   *  `initThreadPool` in the threaded build, 1 in the single-thread build. */
  threads: number;
  /** Which wasm build is running: `"threads"` (atomics, Web Workers) or `"single"`. */
  build: "threads" | "single";
  /** The summary tree (absent without one); `abstractive`: a generator wrote its summaries. */
  tree?: { nodes: number; nodes_per_level: number[]; abstractive: boolean; generator?: string; abstractive_nodes: number };
}
/** The loaded embedder: name, vector dimension, token limit and the SHA-256 of its files. */
export interface EmbedderInfo {
  name: string; dim: number; max_tokens: number; weights_sha256: string; tokenizer_sha256: string;
  /** Weight precision (`embedderInfo()` only; not part of an index manifest's identity). */
  quantize?: "none" | "int8";
  /** Threads and build, as in `IndexStats` (`embedderInfo()` only). */
  threads?: number;
  build?: "threads" | "single";
}
/** The manifest of an index file (see docs/index-format.md). */
export interface IndexManifest {
  format_version: number; created_by: string; embedder: EmbedderInfo; config: unknown;
  corpus_sha256: string; documents: number; chunks: number; next_chunk_id: number;
  /** The grader's calibration (`sotto calibrate`), when the index has one. */
  calibration?: unknown;
}
/** A turn of a conversation for `chat`. */
export interface ChatMessage { role: "system" | "user" | "assistant"; content: string }
/** What `loadGenerator` loaded. */
export interface GeneratorInfo {
  architecture: string; name: string | null; context_len: number; vocab_size: number;
  embedding_length: number; block_count: number; tokenizer_model: string; chat_template: string;
  tensor_types: [string, number][]; requantized_tensors: number; warnings: string[];
}
/** Result of `chat`. */
export interface ChatResult {
  text: string;
  stats: { prefill_tokens: number; decode_tokens: number; generated_tokens: number; finish_reason: string | null };
  prefill_ms: number; decode_ms: number; prefill_tokens_per_s: number; decode_tokens_per_s: number; cancelled: boolean;
}
/** Options of `evaluate`; every field is optional. */
export interface EvaluateOpts {
  /** Dataset name shown in the report (default "dataset"). */
  name?: string;
  /** Retrieval modes (default ["dense", "sparse", "hybrid", "weighted"]; also "hybrid-weighted:0.3", "bm25"…). */
  modes?: string[];
  /** Cut-offs for hit/recall/precision (default [1, 3, 5, 10]). */
  ks?: number[];
  /** A grid in the JSON form of `sotto eval --config`; chunking and embedder must be this index's. */
  grid?: string;
  /** Also answer every question and score the answers (default: retrieval only). */
  answers?: "extractive" | "generative" | "compose";
  /** Skip malformed dataset lines instead of failing (default false). */
  skipBad?: boolean;
  /** Largest dataset accepted in bytes (default 64 MiB). */
  maxDatasetBytes?: number;
}
/** Progress of `evaluate`. */
export type EvaluateProgress =
  | { stage: "indexing"; index: string }
  | { stage: "evaluating"; config: string; run: number; runs: number; done: number; total: number };
/** Result of `evaluate`: the self-contained HTML report, its JSON form, and the CSP hashes a page needs to frame it. */
export interface EvaluateResult {
  html: string;
  json: string;
  csp: { script_src: string[]; style_src: string[] };
}
/** A chunk of a stored document (UTF-8 byte offsets). */
export interface ChunkSpan { chunk_id: number; start: number; end: number; heading_path: string[] }
/** A stored document: cleaned text (what spans point into), metadata and chunks. */
export interface StoredDocument {
  id: string; title: string | null; format: "text" | "markdown" | "html" | "pages"; language: string;
  metadata: Record<string, string>; text: string; body_sha256: string;
  chunks: ChunkSpan[]; exact_duplicates: number; near_duplicates: number;
}
/** Options of `embed`. */
export interface EmbedOpts {
  /** L2-normalise each vector (default true: a dot product is the cosine, as in the index);
   *  false gives the model's pooled vectors. */
  normalize?: boolean;
}
/** One passage of `rerank`, best first: `index` into the input, `score` its MaxSim (best
 *  sentence cosine with the query), `start`/`end` the UTF-8 byte span of that sentence in the passage. */
export interface RerankedPassage { index: number; score: number; start: number; end: number }
/** A chunk of `chunk(document)`: UTF-8 byte span in the cleaned `text`, embedded tokens, and
 *  `duplicate` set when indexing would drop it ("exact" / "near"). */
export interface ChunkPreview {
  start: number; end: number; text: string; heading_path: string[]; tokens: number;
  duplicate: "exact" | "near" | null;
}
/** What indexing would make of a document (nothing is indexed). */
export interface ChunkedDocument {
  id: string; format: "text" | "markdown" | "html" | "pages"; title: string | null; language: string;
  text: string; chunks: ChunkPreview[];
}
/** Progress of `embed`: texts embedded so far. */
export interface EmbedProgress { done: number; total: number }
/** Limits of a sharded index opened with `openSharded` (bytes; defaults 16 MiB, 64 MiB, 32 MiB). */
export interface ShardLimits { maxManifestBytes?: number; maxShardBytes?: number; cacheBytes?: number }
/** A sharded (remote) index: what its manifest says, and the bytes of shards cached in memory now. */
export interface ShardedInfo {
  format_version: number;
  created_by: string;
  embedder: string;
  dim: number;
  documents: number;
  chunks: number;
  terms: number;
  shards: number;
  /** Sum of all shard sizes (what downloading everything would cost). */
  shard_bytes: number;
  clusters: number;
  default_nprobe: number;
  sentence_vectors: boolean;
  /** SHA-256 of the manifest's bytes (a changed manifest is a new index version). */
  manifest_sha256: string;
  cached_bytes: number;
  /** The calibration `askRemote` grades with: the manifest's, the MiniLM default, or none (the cosine floor). */
  grader: "index" | "shipped_default" | "uncalibrated";
}
/** What a query on a sharded index used. `requests`/`bytes` count the Rust source only (0 when the page fetches). */
export interface ShardTrace {
  requests: number;
  bytes: number;
  /** Shards found in the in-memory cache. */
  cache_hits: number;
  rounds: number;
  /** The shards the query used, in the order first needed. */
  shards: string[];
  nprobe: number;
  clusters: number;
  /** Query terms found nowhere (no typo tolerance on a sharded index). */
  unmatched_terms: string[];
}
/** One step of a sharded query: shards to fetch and provide, or the result. */
export type ShardStep = { need: string[] } | { hits: SearchHit[]; trace: ShardTrace };
/** One step of an answer on a sharded index: shards to fetch and provide, or the answer. */
export type ShardAskStep = { need: string[] } | { answer: Answer; trace: ShardTrace };
"#;

static PANIC_HOOK: Once = Once::new();

fn init() {
    PANIC_HOOK.call_once(|| std::panic::set_hook(Box::new(console_error_panic_hook::hook)));
}

/// A JS `Error` carrying the core error's `kind`.
fn js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("SottoError");
    // Setting a property on a fresh Error object cannot fail; ignore the Result anyway.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("kind"), &JsValue::from_str(e.kind()));
    err.into()
}

type JsResult<T> = std::result::Result<T, JsValue>;

trait IntoJs<T> {
    fn js(self) -> JsResult<T>;
}

impl<T> IntoJs<T> for crate::Result<T> {
    fn js(self) -> JsResult<T> {
        self.map_err(|e| js_error(&e))
    }
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> JsResult<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error(&Error::InvalidOption { name: "result", detail: e.to_string() }))
}

/// The options object of `loadEmbedder`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct EmbedderOptions {
    quantize: Quantize,
}

/// `value` (an object) with `quantize: "none" | "int8"` added: the precision is reported
/// beside the embedder's identity, not in it (an index does not depend on it).
/// Add what depends on this run rather than on the model: the weight precision, the
/// threads the kernels use and which build is running.
fn with_runtime(value: JsValue, quantize: Quantize) -> JsResult<JsValue> {
    let build = if cfg!(feature = "threads") { "threads" } else { "single" };
    for (key, v) in [
        ("quantize", JsValue::from_str(quantize.as_str())),
        ("threads", JsValue::from_f64(crate::par::threads() as f64)),
        ("build", JsValue::from_str(build)),
    ] {
        js_sys::Reflect::set(&value, &JsValue::from_str(key), &v)
            .map_err(|_| js_error(&Error::InvalidOption { name: "result", detail: "not an object".into() }))?;
    }
    Ok(value)
}

/// Read an optional options object (`undefined`/`null` → defaults).
fn options_from_js<T: for<'de> Deserialize<'de> + Default>(value: JsValue, name: &'static str) -> JsResult<T> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| js_error(&Error::InvalidOption { name, detail: e.to_string() }))
}

/// Refuse option names that are not in `allowed` (a typo such as `{kk: 3}` must not be
/// silently ignored; serde-wasm-bindgen only looks up the fields it knows).
fn reject_unknown_keys(value: &JsValue, allowed: &[&str], name: &'static str) -> JsResult<()> {
    if !value.is_object() {
        return Ok(());
    }
    for key in js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(js_error(&Error::InvalidOption {
                name,
                detail: format!("unknown option {key:?} (known: {})", allowed.join(", ")),
            }));
        }
    }
    Ok(())
}

/// A JS array of strings (`name` in the error otherwise).
fn string_array(value: JsValue, name: &'static str) -> JsResult<Vec<String>> {
    if !js_sys::Array::is_array(&value) {
        return Err(js_error(&Error::InvalidOption { name, detail: "expected an array of strings".into() }));
    }
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| js_error(&Error::InvalidOption { name, detail: format!("expected an array of strings: {e}") }))
}

const SEARCH_KEYS: &[&str] =
    &["k", "mode", "fusion", "alpha", "rrfK", "filters", "rerank", "translate", "route", "construct", "tree", "exact"];
const ASK_KEYS: &[&str] = &[
    "search",
    "mode",
    "maxSentences",
    "maxCandidates",
    "abstainBelow",
    "relativeCutoff",
    "contextBudgetTokens",
    "supportThreshold",
    "strict",
    "maxNewTokens",
    "constrain",
    "adaptive",
    "selfCheck",
];

/// `GenerationOptions` fields, in the core's snake_case and in camelCase.
const GENERATION_KEYS: &[&str] = &[
    "max_new_tokens",
    "maxNewTokens",
    "temperature",
    "top_k",
    "topK",
    "top_p",
    "topP",
    "repetition_penalty",
    "repetitionPenalty",
    "repeat_last_n",
    "repeatLastN",
    "loop_guard_ngram",
    "loopGuardNgram",
    "seed",
    "stop_strings",
    "stopStrings",
];

const EVAL_KEYS: &[&str] = &["name", "modes", "ks", "grid", "answers", "skipBad", "maxDatasetBytes"];

/// `SearchOpts` as JS passes it: flat and camelCase, turned into [`SearchOptions`].
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsSearchOptions {
    k: Option<usize>,
    mode: Option<String>,
    fusion: Option<String>,
    alpha: Option<f32>,
    rrf_k: Option<f32>,
    filters: Vec<Filter>,
    rerank: Option<String>,
    translate: Option<String>,
    route: Option<String>,
    construct: Option<String>,
    tree: Option<String>,
    exact: Option<bool>,
}

impl JsSearchOptions {
    /// The core options, parsed and validated by the query stage's one model.
    fn into_core(self) -> crate::Result<SearchOptions> {
        let mut o = SearchOptions::default();
        if let Some(k) = self.k {
            o.k = k;
        }
        match self.mode.as_deref().map(|m| (m, m.parse::<Mode>())) {
            None => o.fusion = fusion_from_parts(self.fusion.as_deref(), self.alpha, self.rrf_k)?,
            Some((_, Ok(mode))) => {
                o.mode = mode;
                o.fusion = fusion_from_parts(self.fusion.as_deref(), self.alpha, self.rrf_k)?;
            }
            // A retrieval name that carries its fusion ("hybrid-weighted:0.3", "hybrid-rrf"),
            // as the grid and the Evaluate panel spell modes.
            Some((name, Err(_))) => {
                if self.fusion.is_some() || self.alpha.is_some() || self.rrf_k.is_some() {
                    return Err(Error::InvalidOption {
                        name: "mode",
                        detail: format!("mode {name:?} names its fusion; give fusion, alpha and rrfK only with hybrid"),
                    });
                }
                o = o.with_retrieval(Retrieval::parse(name, DEFAULT_RRF_K, DEFAULT_ALPHA)?);
            }
        }
        o.filters = self.filters;
        o.exact = self.exact.unwrap_or(false);
        if let Some(r) = self.rerank.as_deref() {
            o.rerank = r.parse()?;
        }
        if let Some(t) = self.translate.as_deref() {
            o.translate = t.parse()?;
        }
        if let Some(r) = self.route.as_deref() {
            o.route = r.parse()?;
        }
        if let Some(c) = self.construct.as_deref() {
            o.construct = c.parse()?;
        }
        if let Some(t) = self.tree.as_deref() {
            o.tree = t.parse()?;
        }
        o.validate()?;
        Ok(o)
    }
}

/// Send `p` to a JS progress callback, if any. A throwing callback must not abort the
/// work it watches (indexing, a tree build): its error is dropped.
fn report_progress(on_progress: Option<&js_sys::Function>, p: &Progress) {
    if let (Some(f), Ok(v)) = (on_progress, to_js(p)) {
        let _ = f.call1(&JsValue::NULL, &v);
    }
}

/// `buildTree`'s parameters: the tree's own ([`crate::index::tree::TreeParams`], unknown
/// keys refused) and the summary options (`abstractive`, `summary_max_new_tokens`,
/// `summary_min_words`), validated.
fn tree_params(params: JsValue) -> JsResult<(crate::index::tree::TreeParams, crate::index::tree::SummaryOptions)> {
    let bad = |e: String| js_error(&Error::InvalidOption { name: "tree params", detail: e });
    let mut summaries = crate::index::tree::SummaryOptions::default();
    if params.is_undefined() || params.is_null() {
        return Ok((Default::default(), summaries));
    }
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_wasm_bindgen::from_value(params).map_err(|e| bad(e.to_string()))?;
    if let Some(v) = map.remove("abstractive") {
        summaries.abstractive = v.as_bool().ok_or_else(|| bad(format!("abstractive: {v} is not a boolean")))?;
    }
    for (key, field) in
        [("summary_max_new_tokens", &mut summaries.max_new_tokens), ("summary_min_words", &mut summaries.min_words)]
    {
        if let Some(v) = map.remove(key) {
            *field = v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(format!("{key}: {v} is not a whole number")))?;
        }
    }
    let params = serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| bad(e.to_string()))?;
    summaries.validate().js()?;
    Ok((params, summaries))
}

/// Ask a JS cancel check; one that throws counts as a cancellation.
/// `buildHnsw`'s default segment size: about a minute of single-threaded build in wasm.
const DEFAULT_HNSW_SEGMENT: usize = 10_000;

fn js_cancelled(is_cancelled: Option<&js_sys::Function>) -> bool {
    is_cancelled.is_some_and(|f| f.call0(&JsValue::NULL).map_or(true, |v| v.is_truthy()))
}

/// Search options from JS: unknown keys refused, then parsed and validated by the core model.
fn search_options(opts: JsValue) -> JsResult<SearchOptions> {
    reject_unknown_keys(&opts, SEARCH_KEYS, "search options")?;
    options_from_js::<JsSearchOptions>(opts, "search options")?.into_core().js()
}

/// `AskOpts` from JS, unknown keys refused (also inside `search`).
fn ask_options(opts: JsValue) -> JsResult<AskOptions> {
    reject_unknown_keys(&opts, ASK_KEYS, "ask options")?;
    if opts.is_object() {
        let search = js_sys::Reflect::get(&opts, &JsValue::from_str("search")).unwrap_or(JsValue::UNDEFINED);
        reject_unknown_keys(&search, SEARCH_KEYS, "ask options.search")?;
    }
    options_from_js::<JsAskOptions>(opts, "ask options")?.into_core().js()
}

/// `AskOpts` as JS passes it (camelCase), turned into [`AskOptions`].
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsAskOptions {
    search: Option<JsSearchOptions>,
    mode: Option<AnswerMode>,
    max_sentences: Option<usize>,
    max_candidates: Option<usize>,
    abstain_below: Option<f32>,
    relative_cutoff: Option<f32>,
    context_budget_tokens: Option<usize>,
    support_threshold: Option<f32>,
    strict: Option<bool>,
    max_new_tokens: Option<usize>,
    constrain: Option<crate::rag::answer::Constrain>,
    adaptive: Option<bool>,
    self_check: Option<bool>,
}

impl JsAskOptions {
    fn into_core(self) -> crate::Result<AskOptions> {
        let mut o = AskOptions::default();
        if let Some(s) = self.search {
            o.search = s.into_core()?;
        }
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { o.$f = v; })* };
        }
        set!(
            mode,
            max_sentences,
            max_candidates,
            abstain_below,
            relative_cutoff,
            context_budget_tokens,
            support_threshold,
            strict,
            max_new_tokens,
            constrain,
            adaptive,
            self_check
        );
        o.validate()?;
        Ok(o)
    }
}

/// `EvaluateOpts` as JS passes it (camelCase), turned into [`LiveEvalOptions`].
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsEvalOptions {
    name: Option<String>,
    modes: Option<Vec<String>>,
    ks: Option<Vec<usize>>,
    grid: Option<String>,
    answers: Option<AnswerMode>,
    skip_bad: Option<bool>,
    max_dataset_bytes: Option<usize>,
}

impl JsEvalOptions {
    fn into_core(self) -> LiveEvalOptions {
        let mut o = LiveEvalOptions::default();
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { o.$f = v; })* };
        }
        set!(name, modes, ks, skip_bad, max_dataset_bytes);
        o.grid = self.grid;
        o.answers = self.answers;
        o
    }
}

/// Progress of `evaluate` as JS receives it.
#[derive(Serialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
enum JsEvalProgress<'a> {
    Indexing { index: String },
    Evaluating { config: &'a str, run: usize, runs: usize, done: usize, total: usize },
}

/// What `evaluate` returns.
#[derive(Serialize)]
struct EvaluateResult {
    html: String,
    json: String,
    csp: CspHashes,
}

/// A stored document as `document(id)` returns it.
#[derive(Serialize)]
struct StoredDocument<'a> {
    id: &'a str,
    title: Option<&'a str>,
    format: crate::Format,
    language: crate::text::Language,
    metadata: &'a std::collections::BTreeMap<String, String>,
    text: &'a str,
    body_sha256: &'a str,
    chunks: Vec<ChunkSpan<'a>>,
    exact_duplicates: usize,
    near_duplicates: usize,
}

#[derive(Serialize)]
struct ChunkSpan<'a> {
    chunk_id: crate::index::ChunkId,
    start: usize,
    end: usize,
    heading_path: &'a [String],
}

/// The engine as JavaScript sees it. Create it, load an embedder (bytes of
/// `model.safetensors`, `tokenizer.json`, `config.json`, or the model-free hashing
/// embedder), then add documents, search and ask. Calls are synchronous: run it in a
/// Web Worker (`www/worker.js`) so the page stays responsive.
#[wasm_bindgen]
pub struct SottoEngine {
    config: EngineConfig,
    embedder: Option<SharedEmbedder>,
    engine: Option<Engine>,
    /// A generator loaded before any embedder; handed to the engine when one exists.
    pending_generator: Option<Box<dyn Generator>>,
    /// The sharded (remote) index opened with `openSharded`, if any, and how many have
    /// been opened (a query begun on one is refused by the next).
    remote: Option<remote::Remote>,
    remote_generation: u32,
}

impl SottoEngine {
    fn engine(&self) -> JsResult<&Engine> {
        self.engine.as_ref().ok_or_else(|| js_error(&Error::ModelNotLoaded("embedder")))
    }

    fn engine_mut(&mut self) -> JsResult<&mut Engine> {
        self.engine.as_mut().ok_or_else(|| js_error(&Error::ModelNotLoaded("embedder")))
    }

    /// Install `embedder`, keeping the indexed documents when it is the same model
    /// (same name, dimension and file hashes); otherwise refuse and keep the old one.
    fn install(&mut self, embedder: Box<dyn Embedder>) -> crate::Result<()> {
        let shared = SharedEmbedder(Arc::from(embedder));
        let engine = match &self.engine {
            Some(old) if old.stats().documents > 0 => Engine::from_bytes(&old.to_bytes()?, Box::new(shared.clone()))?,
            _ => Engine::with_config(self.config.clone(), Box::new(shared.clone()))?,
        };
        self.replace_engine(engine);
        self.embedder = Some(shared);
        Ok(())
    }

    /// Make `engine` the live one, moving the generator over from the old engine (or
    /// from the pending slot).
    fn replace_engine(&mut self, mut engine: Engine) {
        let generator = match self.engine.as_mut() {
            Some(old) => old.take_generator(),
            None => None,
        }
        .or_else(|| self.pending_generator.take());
        if let Some(g) = generator {
            engine.set_generator(g);
        }
        self.engine = Some(engine);
    }
}

#[wasm_bindgen]
impl SottoEngine {
    /// An engine without a model. `config` is an optional (partial) engine configuration
    /// in the core's serde names (`{chunk: {...}, dedup: {...}, embed_batch: 16, ...}`).
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_optional_param_type = "object")] config: JsValue) -> JsResult<SottoEngine> {
        init();
        let config: EngineConfig = options_from_js(config, "config")?;
        config.validate().js()?;
        Ok(SottoEngine {
            config,
            embedder: None,
            engine: None,
            pending_generator: None,
            remote: None,
            remote_generation: 0,
        })
    }

    /// The crate version.
    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// Load a BERT-family sentence encoder from the bytes of `model.safetensors`,
    /// `tokenizer.json` and `config.json`. `name` is recorded in exported indexes.
    /// `options`: `{ quantize?: "none" | "int8" }` (default `"none"`, f32); int8 vectors
    /// stay within ≈ 0.995 cosine of f32, so an index built with either is queryable
    /// with the other (the embedder identity does not change).
    /// Replacing a loaded model keeps the documents only if it is the same model.
    #[wasm_bindgen(js_name = loadEmbedder, unchecked_return_type = "EmbedderInfo")]
    pub fn load_embedder(
        &mut self,
        weights: &[u8],
        tokenizer: &[u8],
        config: &[u8],
        name: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "{ quantize?: \"none\" | \"int8\" }")] options: JsValue,
    ) -> JsResult<JsValue> {
        reject_unknown_keys(&options, &["quantize"], "embedder options")?;
        let options: EmbedderOptions = options_from_js(options, "embedder options")?;
        let bert = BertOptions { quantize: options.quantize, ..BertOptions::default() };
        let embedder = BertEmbedder::from_bytes_with(name, weights, tokenizer, config, bert).js()?;
        self.install(Box::new(embedder)).js()?;
        self.embedder_info()
    }

    /// Load the model-free feature-hashing embedder of dimension `dim` (lexical only; for
    /// tests and pages that do not want to download weights).
    #[wasm_bindgen(js_name = loadHashingEmbedder, unchecked_return_type = "EmbedderInfo")]
    pub fn load_hashing_embedder(&mut self, dim: u32) -> JsResult<JsValue> {
        if !(8..=4096).contains(&dim) {
            return Err(js_error(&Error::InvalidOption { name: "dim", detail: format!("{dim} is not in 8..=4096") }));
        }
        self.install(Box::new(HashEmbedder::new(dim as usize))).js()?;
        self.embedder_info()
    }

    /// Identity of the loaded embedder, or `null`.
    #[wasm_bindgen(js_name = embedderInfo, unchecked_return_type = "EmbedderInfo | null")]
    pub fn embedder_info(&self) -> JsResult<JsValue> {
        match &self.engine {
            Some(e) => with_runtime(to_js(e.embedder().info())?, e.embedder().quantize()),
            None => Ok(JsValue::NULL),
        }
    }

    /// Load a GGUF generator (SmolLM2, Llama, Phi, Gemma 3, T5) from its bytes for
    /// generative answers. `opts` are the core's `LoadOptions` (`requantize_to_q8_0`,
    /// `max_context`, `chat_template`). Replaces a loaded generator only on success.
    #[wasm_bindgen(js_name = loadGenerator, unchecked_return_type = "GeneratorInfo")]
    pub fn load_generator(
        &mut self,
        bytes: &[u8],
        #[wasm_bindgen(unchecked_optional_param_type = "object")] opts: JsValue,
    ) -> JsResult<JsValue> {
        let opts: LoadOptions = options_from_js(opts, "generator options")?;
        let generator = load_gguf(bytes, &opts).js()?;
        let info = to_js(generator.info())?;
        match self.engine.as_mut() {
            Some(e) => e.set_generator(generator),
            None => self.pending_generator = Some(generator),
        }
        Ok(info)
    }

    /// Drop the generator and free its memory; returns whether one was loaded.
    #[wasm_bindgen(js_name = unloadGenerator)]
    pub fn unload_generator(&mut self) -> bool {
        let pending = self.pending_generator.take().is_some();
        let live = self.engine.as_mut().is_some_and(Engine::clear_generator);
        pending || live
    }

    /// What generator is loaded, or `null`.
    #[wasm_bindgen(js_name = generatorInfo, unchecked_return_type = "GeneratorInfo | null")]
    pub fn generator_info(&self) -> JsResult<JsValue> {
        match (&self.engine, &self.pending_generator) {
            (Some(e), _) if e.has_generator() => to_js(&e.generator_info()),
            (_, Some(g)) => to_js(g.info()),
            _ => Ok(JsValue::NULL),
        }
    }

    /// Raw generation without retrieval: a conversation (`[{role, content}]`) or a prompt
    /// string, the core's `GenerationOptions` (`max_new_tokens`, `temperature`, `top_k`,
    /// `top_p`, `seed`, `stop_strings`, …). `onToken` receives each piece of text and may
    /// return `false` to stop. Returns the text, token counts and timings (prefill = time to
    /// first token's logits, decode tokens per second).
    #[wasm_bindgen(unchecked_return_type = "ChatResult")]
    pub fn chat(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | ChatMessage[]")] prompt: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "object")] opts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((text: string) => boolean | void)")] on_token: Option<
            js_sys::Function,
        >,
    ) -> JsResult<JsValue> {
        reject_unknown_keys(&opts, GENERATION_KEYS, "generation options")?;
        let opts: GenerationOptions = options_from_js(opts, "generation options")?;
        opts.validate().js()?;
        let text_prompt = prompt.as_string();
        let messages: Vec<ChatMessage> = match &text_prompt {
            Some(_) => Vec::new(),
            None => serde_wasm_bindgen::from_value(prompt).map_err(|e| {
                js_error(&Error::InvalidOption {
                    name: "prompt",
                    detail: format!("expected a string or [{{role, content}}]: {e}"),
                })
            })?,
        };
        let prompt = match &text_prompt {
            Some(t) => Prompt::Text(t),
            None => Prompt::Chat(&messages),
        };
        let mut slot = match self.engine.as_mut() {
            Some(e) => e.take_generator(),
            None => self.pending_generator.take(),
        };
        let result = match slot.as_deref_mut() {
            Some(g) => run_generation(g, prompt, &opts, on_token.as_ref()),
            None => Err(Error::ModelNotLoaded("generator")),
        };
        if let Some(g) = slot {
            match self.engine.as_mut() {
                Some(e) => e.set_generator(g),
                None => self.pending_generator = Some(g),
            }
        }
        to_js(&result.js()?)
    }

    /// Add or replace documents (`[{id, body, format?, metadata?}]`). All-or-nothing: on
    /// any error, or when `isCancelled()` returns true between embedding batches, the
    /// index is unchanged. `onProgress` receives `{stage, done, total}`.
    #[wasm_bindgen(js_name = addDocuments, unchecked_return_type = "IngestReport")]
    pub fn add_documents(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "SottoDocument[]")] docs: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((p: IngestProgress) => void)")] on_progress: Option<
            js_sys::Function,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "(() => boolean)")] is_cancelled: Option<js_sys::Function>,
    ) -> JsResult<JsValue> {
        if !js_sys::Array::is_array(&docs) {
            return Err(js_error(&Error::InvalidDocument {
                id: String::new(),
                reason: "documents must be an array".into(),
            }));
        }
        let docs: Vec<Document> = serde_wasm_bindgen::from_value(docs).map_err(|e| {
            js_error(&Error::InvalidDocument {
                id: String::new(),
                reason: format!("expected {{id, body, format?, metadata?}}: {e}"),
            })
        })?;
        let engine = self.engine_mut()?;
        let mut progress = |p: Progress| report_progress(on_progress.as_ref(), &p);
        let cancelled = || js_cancelled(is_cancelled.as_ref());
        let report = engine.add_documents_with(docs, &mut progress, &cancelled).js()?;
        to_js(&report)
    }

    /// Build (or rebuild) the RAPTOR summary tree from the stored chunk vectors (see
    /// `rag::tree`). All-or-nothing: on any error, or when `isCancelled()` returns true
    /// between steps, the index (its previous tree included) is unchanged. `onProgress`
    /// receives `{stage: "tree", level, done, total}`, and `{stage: "summaries", …}` while
    /// the generator writes an abstractive build's summaries (`abstractive: true`, which
    /// needs a generator: `ModelNotLoaded` otherwise, before anything is done).
    #[wasm_bindgen(js_name = buildTree, unchecked_return_type = "TreeReport")]
    pub fn build_tree(
        &mut self,
        #[wasm_bindgen(unchecked_optional_param_type = "TreeParams")] params: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((p: TreeProgress) => void)")] on_progress: Option<
            js_sys::Function,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "(() => boolean)")] is_cancelled: Option<js_sys::Function>,
    ) -> JsResult<JsValue> {
        let (params, summaries) = tree_params(params)?;
        let engine = self.engine_mut()?;
        let mut progress = |p: Progress| report_progress(on_progress.as_ref(), &p);
        let cancelled = || js_cancelled(is_cancelled.as_ref());
        let report = engine.build_tree_with(&params, &summaries, &mut progress, &cancelled).js()?;
        to_js(&report)
    }

    /// Build HNSW segments over the exact-scan vectors once they reach the configuration's
    /// `dense.hnsw_threshold` (default 20 000), a segment of at most `segmentVectors`
    /// (default 10 000) at a time: `onProgress({stage: "hnsw", done, total})` after each,
    /// `isCancelled()` checked before each. Cancelling keeps the segments already built
    /// (the index is complete after every segment); the report says it stopped. Slow in
    /// wasm (about a minute per 10 000 vectors single-threaded), hence the steps. Searches
    /// give the same chunks up to HNSW's approximation; the segments are saved with the index.
    #[wasm_bindgen(js_name = buildHnsw, unchecked_return_type = "HnswReport")]
    pub fn build_hnsw(
        &mut self,
        #[wasm_bindgen(unchecked_optional_param_type = "HnswOpts")] opts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((p: HnswProgress) => void)")] on_progress: Option<
            js_sys::Function,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "(() => boolean)")] is_cancelled: Option<js_sys::Function>,
    ) -> JsResult<JsValue> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Opts {
            segment_vectors: Option<f64>,
        }
        reject_unknown_keys(&opts, &["segmentVectors"], "hnsw options")?;
        let opts: Opts = options_from_js(opts, "hnsw options")?;
        let segment = match opts.segment_vectors {
            None => DEFAULT_HNSW_SEGMENT,
            Some(n) if n.fract() == 0.0 && (1.0..=1e9).contains(&n) => n as usize,
            Some(n) => {
                return Err(js_error(&Error::InvalidOption {
                    name: "segmentVectors",
                    detail: format!("must be a whole number from 1 to 1e9, not {n}"),
                }))
            }
        };
        let engine = self.engine_mut()?;
        let mut progress = |p: Progress| report_progress(on_progress.as_ref(), &p);
        let cancelled = || js_cancelled(is_cancelled.as_ref());
        let report = engine.build_hnsw_with(segment, &mut progress, &cancelled).js()?;
        to_js(&report)
    }

    /// Remove the summary tree; returns whether there was one.
    #[wasm_bindgen(js_name = clearTree)]
    pub fn clear_tree(&mut self) -> JsResult<bool> {
        Ok(self.engine_mut()?.clear_tree())
    }

    /// Summary nodes per level (`[]` without a tree).
    #[wasm_bindgen(js_name = treeLevels, unchecked_return_type = "number[]")]
    pub fn tree_levels(&self) -> JsResult<JsValue> {
        let levels: Vec<usize> = self.engine()?.tree_levels().into_values().collect();
        to_js(&levels)
    }

    /// Embed `texts` with the loaded embedder, `embed_batch` at a time (one vector per
    /// text, in order; `[]` for `[]`). `onProgress({done, total})` after each batch;
    /// `isCancelled()` is checked between batches ("Cancelled"). Nothing is indexed.
    #[wasm_bindgen(unchecked_return_type = "Float32Array[]")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedOpts")] opts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((p: EmbedProgress) => void)")] on_progress: Option<
            js_sys::Function,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "(() => boolean)")] is_cancelled: Option<js_sys::Function>,
    ) -> JsResult<js_sys::Array> {
        let texts = string_array(texts, "texts")?;
        reject_unknown_keys(&opts, &["normalize"], "embed options")?;
        let opts: crate::rag::blocks::EmbedOptions = options_from_js(opts, "embed options")?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut progress = |done: usize, total: usize| {
            if let Some(f) = &on_progress {
                let p = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&p, &"done".into(), &JsValue::from(done as f64));
                let _ = js_sys::Reflect::set(&p, &"total".into(), &JsValue::from(total as f64));
                // A throwing progress callback must not abort the work.
                let _ = f.call1(&JsValue::NULL, &p);
            }
        };
        let cancelled =
            || is_cancelled.as_ref().is_some_and(|f| f.call0(&JsValue::NULL).map_or(true, |v| v.is_truthy()));
        let vectors = self.engine()?.embed_texts(&refs, &opts, &mut progress, &cancelled).js()?;
        Ok(vectors.iter().map(|v| js_sys::Float32Array::from(v.as_slice())).collect())
    }

    /// Rerank `passages` (any texts, indexed or not) against `query` by sentence-level
    /// MaxSim: best first, each with its input `index`, `score` and the span of the
    /// sentence that scored.
    #[wasm_bindgen(unchecked_return_type = "RerankedPassage[]")]
    pub fn rerank(
        &self,
        query: &str,
        #[wasm_bindgen(unchecked_param_type = "string[]")] passages: JsValue,
    ) -> JsResult<JsValue> {
        let passages = string_array(passages, "passages")?;
        let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
        to_js(&self.engine()?.rerank_passages(query, &refs, &|| false).js()?)
    }

    /// Clean and chunk one document exactly as `addDocuments` would (same limits, title,
    /// token budget and duplicate detection), without indexing it.
    #[wasm_bindgen(unchecked_return_type = "ChunkedDocument")]
    pub fn chunk(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SottoDocument")] document: JsValue,
    ) -> JsResult<JsValue> {
        let doc: Document = serde_wasm_bindgen::from_value(document).map_err(|e| {
            js_error(&Error::InvalidDocument {
                id: String::new(),
                reason: format!("expected {{id, body, format?, metadata?}}: {e}"),
            })
        })?;
        to_js(&self.engine()?.chunk_document(&doc, &|| false).js()?)
    }

    /// Remove documents by id (all-or-nothing: an unknown id removes nothing). Returns
    /// how many were removed.
    #[wasm_bindgen(js_name = removeDocuments)]
    pub fn remove_documents(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
    ) -> JsResult<u32> {
        let ids: Vec<String> = serde_wasm_bindgen::from_value(ids).map_err(|e| {
            js_error(&Error::InvalidOption { name: "ids", detail: format!("expected an array of strings: {e}") })
        })?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let n = self.engine_mut()?.remove_documents(&refs).js()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Remove every document (keeps the embedder).
    pub fn clear(&mut self) -> JsResult<()> {
        let ids: Vec<String> = self.engine()?.document_ids().map(str::to_owned).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.engine_mut()?.remove_documents(&refs).js()?;
        Ok(())
    }

    /// Search: ranked chunks with fused, dense and BM25 scores and byte spans.
    #[wasm_bindgen(unchecked_return_type = "SearchHit[]")]
    pub fn search(
        &self,
        query: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "SearchOpts")] opts: JsValue,
    ) -> JsResult<JsValue> {
        let opts = search_options(opts)?;
        let hits = self.engine()?.search(query, &opts).js()?;
        to_js(&hits)
    }

    /// Search and say what was run: `{ hits, trace }`, the trace holding the technique
    /// (`auto` resolved), the queries with their source, notes, per-stage milliseconds
    /// and the typo corrections.
    #[wasm_bindgen(js_name = searchTraced, unchecked_return_type = "{ hits: SearchHit[]; trace: QueryTrace }")]
    pub fn search_traced(
        &self,
        query: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "SearchOpts")] opts: JsValue,
    ) -> JsResult<JsValue> {
        let opts = search_options(opts)?;
        let (hits, trace) = self.engine()?.search_traced(query, &opts, &performance_now).js()?;
        #[derive(serde::Serialize)]
        struct Traced<'a> {
            hits: &'a [crate::rag::records::SearchHit],
            trace: &'a crate::query::QueryTrace,
        }
        to_js(&Traced { hits: &hits, trace: &trace })
    }

    /// The query's words that match no indexed word, each with the indexed words BM25 typo
    /// tolerance searched in its place (closest first, with their edit distance). Empty
    /// when every word matches.
    #[wasm_bindgen(js_name = typoCorrections, unchecked_return_type = "TypoCorrection[]")]
    pub fn typo_corrections(&self, query: &str) -> JsResult<JsValue> {
        to_js(&self.engine()?.typo_corrections(query))
    }

    /// Answer a question from the indexed documents, with citations and per-stage
    /// timings. `onText` receives the answer text as it is produced (the whole text for
    /// an extractive answer, pieces for a generated one); returning `false` from it
    /// cancels (`kind` "Cancelled").
    #[wasm_bindgen(unchecked_return_type = "Answer")]
    pub fn ask(
        &mut self,
        question: &str,
        #[wasm_bindgen(unchecked_optional_param_type = "AskOpts")] opts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((text: string) => boolean | void)")] on_text: Option<
            js_sys::Function,
        >,
    ) -> JsResult<JsValue> {
        let opts = ask_options(opts)?;
        let engine = self.engine_mut()?;
        let clock = performance_now;
        let mut sink = |text: &str| match &on_text {
            None => true,
            Some(f) => match f.call1(&JsValue::NULL, &JsValue::from_str(text)) {
                Ok(v) => v.as_bool() != Some(false),
                Err(_) => false,
            },
        };
        let answer = engine.ask(question, &opts, &clock, &mut sink).js()?;
        to_js(&answer)
    }

    /// Evaluate the current index against a dataset with ground truth and build the same
    /// HTML report as `sotto eval --report`. `dataset` is the JSONL question format
    /// (`{id, question, relevant_docs, answers?}` per line), or BEIR's `queries.jsonl`
    /// when `qrels` (a BEIR qrels `.tsv`) is given. `onProgress` is called as questions
    /// are evaluated; returning `false` cancels (`kind` "Cancelled"). Malformed lines,
    /// duplicate ids and non-UTF-8 text are `Dataset` errors naming the line; relevant
    /// documents missing from the index are reported, not errors. The index is never changed.
    #[wasm_bindgen(unchecked_return_type = "EvaluateResult")]
    pub fn evaluate(
        &self,
        dataset: &[u8],
        qrels: Option<Vec<u8>>,
        #[wasm_bindgen(unchecked_optional_param_type = "EvaluateOpts")] opts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "((p: EvaluateProgress) => boolean | void)")]
        on_progress: Option<js_sys::Function>,
    ) -> JsResult<JsValue> {
        reject_unknown_keys(&opts, EVAL_KEYS, "evaluate options")?;
        let mut options = options_from_js::<JsEvalOptions>(opts, "evaluate options")?.into_core();
        let generated = js_sys::Date::new_0().to_iso_string().as_string().unwrap_or_default();
        options.details.push(("generated".into(), generated));
        options
            .details
            .push(("run in".into(), format!("the browser (Sotto {} WebAssembly)", env!("CARGO_PKG_VERSION"))));
        let input = match &qrels {
            Some(q) => DatasetBytes::Beir { queries: dataset, qrels: q },
            None => DatasetBytes::Jsonl(dataset),
        };
        let mut progress = |p: GridProgress<'_>| {
            let Some(f) = &on_progress else { return true };
            let event = match p {
                GridProgress::Indexing { key, .. } => JsEvalProgress::Indexing { index: key.name() },
                GridProgress::Evaluating { config, run, runs, done, total } => {
                    JsEvalProgress::Evaluating { config, run, runs, done, total }
                }
            };
            // A throwing callback cancels, as for `ask`.
            match to_js(&event) {
                Ok(v) => f.call1(&JsValue::NULL, &v).map(|r| r.as_bool() != Some(false)).unwrap_or(false),
                Err(_) => true,
            }
        };
        let report = evaluate_live(self.engine()?, input, &options, &performance_now, &mut progress).js()?;
        to_js(&EvaluateResult { html: report.to_html(), json: report.to_json(), csp: csp_hashes() })
    }

    /// The whole index as bytes, in the format `sotto index` writes.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> JsResult<Vec<u8>> {
        self.engine()?.to_bytes().js()
    }

    /// Replace the index with `bytes` (an `exportIndex` result or a file written by
    /// `sotto index`). Refused, leaving the current index in place, if the bytes are
    /// damaged, of a future format version, or built with another embedder.
    #[wasm_bindgen(js_name = importIndex, unchecked_return_type = "IndexStats")]
    pub fn import_index(&mut self, bytes: &[u8]) -> JsResult<JsValue> {
        let embedder = self.embedder.clone().ok_or_else(|| js_error(&Error::ModelNotLoaded("embedder")))?;
        let engine = Engine::from_bytes(bytes, Box::new(embedder)).js()?;
        self.config = engine.config().clone();
        self.replace_engine(engine);
        self.stats()
    }

    /// Read an index file's manifest (format version, embedder, counts) without loading it.
    #[wasm_bindgen(js_name = readManifest, unchecked_return_type = "IndexManifest")]
    pub fn read_manifest(bytes: &[u8]) -> JsResult<JsValue> {
        init();
        to_js(&read_manifest(bytes).js()?)
    }

    /// Index statistics (documents, chunks, duplicates dropped, embedder).
    #[wasm_bindgen(unchecked_return_type = "IndexStats")]
    pub fn stats(&self) -> JsResult<JsValue> {
        let engine = self.engine()?;
        with_runtime(to_js(&engine.stats())?, engine.embedder().quantize())
    }

    /// The collections (a document's `collection` metadata, else "default"), with their
    /// descriptions: what `route: "auto"` chooses between.
    #[wasm_bindgen(unchecked_return_type = "CollectionInfo[]")]
    pub fn collections(&self) -> JsResult<JsValue> {
        to_js(&self.engine()?.collections())
    }

    /// Describe a collection for routing (an empty description removes it). Saved with
    /// the index. A bad name or a description over 4 KiB is an `InvalidOption` error.
    #[wasm_bindgen(js_name = setCollectionDescription)]
    pub fn set_collection_description(&mut self, name: &str, description: &str) -> JsResult<()> {
        self.engine_mut()?.set_collection_description(name, description).js()
    }

    /// Ids of the indexed documents, sorted.
    #[wasm_bindgen(js_name = documentIds, unchecked_return_type = "string[]")]
    pub fn document_ids(&self) -> JsResult<JsValue> {
        let ids: Vec<&str> = self.engine()?.document_ids().collect();
        to_js(&ids)
    }

    /// A stored document: cleaned text (what spans and citations point into), metadata and
    /// chunk spans. Unknown ids are an `UnknownDocument` error.
    #[wasm_bindgen(unchecked_return_type = "StoredDocument")]
    pub fn document(&self, id: &str) -> JsResult<JsValue> {
        let engine = self.engine()?;
        let d = engine.document(id).ok_or_else(|| js_error(&Error::UnknownDocument(id.to_owned())))?;
        let chunks = d
            .chunks
            .iter()
            .filter_map(|&c| {
                engine.chunk(c).map(|(r, _)| ChunkSpan {
                    chunk_id: c,
                    start: r.start,
                    end: r.end,
                    heading_path: &r.heading_path,
                })
            })
            .collect();
        to_js(&StoredDocument {
            id: &d.id,
            title: d.title.as_deref(),
            format: d.format,
            language: d.language,
            metadata: &d.metadata,
            text: &d.text,
            body_sha256: &d.body_sha256,
            chunks,
            exact_duplicates: d.exact_duplicates,
            near_duplicates: d.near_duplicates,
        })
    }
}

/// One embedder shared by the live engine and a candidate engine (during an import), so
/// a refused import leaves the live engine untouched and the weights are never copied.
#[derive(Clone)]
struct SharedEmbedder(Arc<dyn Embedder>);

impl TokenCounter for SharedEmbedder {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
    fn counts_are_subadditive(&self) -> bool {
        self.0.counts_are_subadditive()
    }
    fn is_known_word(&self, word: &str) -> Option<bool> {
        self.0.is_known_word(word)
    }
}

impl Embedder for SharedEmbedder {
    fn info(&self) -> &EmbedderInfo {
        self.0.info()
    }
    fn embed_batch(&self, texts: &[&str]) -> crate::Result<Vec<Vec<f32>>> {
        self.0.embed_batch(texts)
    }
    fn embed(&self, text: &str) -> crate::Result<Vec<f32>> {
        self.0.embed(text)
    }
    fn embed_batch_pooled(&self, texts: &[&str]) -> crate::Result<Vec<Vec<f32>>> {
        self.0.embed_batch_pooled(texts)
    }
    fn quantize(&self) -> Quantize {
        self.0.quantize()
    }
}

fn run_generation(
    g: &mut dyn Generator,
    prompt: Prompt<'_>,
    opts: &GenerationOptions,
    on_token: Option<&js_sys::Function>,
) -> crate::Result<StreamedGeneration> {
    let mut sink = |text: &str| match on_token {
        None => true,
        Some(f) => {
            f.call1(&JsValue::NULL, &JsValue::from_str(text)).map(|v| v.as_bool() != Some(false)).unwrap_or(false)
        }
    };
    crate::generate::stream(g, prompt, opts, &performance_now, &mut sink)
}

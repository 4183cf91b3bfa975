//! A sharded static index read by the piece ([`crate::rag::shards`]) as JavaScript sees
//! it. Rust never fetches: the worker (`www/worker.js`, `openRemote`) fetches the
//! manifest and hands its bytes to `openSharded`, then drives each query as
//! `shardedQuery` → (`shardedStep` → fetch the names it needs, in parallel, from the Cache
//! API or the network → `provideShard` each) → … → `shardedStep` returns the hits. Every
//! shard handed in is checked against the manifest's size and SHA-256 before it is
//! decoded.

use wasm_bindgen::prelude::*;

use super::{
    ask_options, js_error, options_from_js, performance_now, reject_unknown_keys, search_options, to_js, IntoJs,
    JsResult, SottoEngine,
};
use crate::error::Error;
use crate::query::SearchOptions;
use crate::rag::ask::AskOptions;
use crate::rag::grade::CalibrationSource;
use crate::rag::shards::{AskStep, ShardLimits, ShardTrace, ShardedIndex, Step};

/// The open sharded index.
pub(super) struct Remote {
    index: ShardedIndex,
    manifest_sha256: String,
}

/// `openSharded`'s limits as JS passes them (camelCase, every field optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct JsShardLimits {
    max_manifest_bytes: Option<usize>,
    max_shard_bytes: Option<usize>,
    cache_bytes: Option<usize>,
}

const LIMIT_KEYS: &[&str] = &["maxManifestBytes", "maxShardBytes", "cacheBytes"];

/// What `openSharded` and `shardedInfo` report.
#[derive(serde::Serialize)]
struct ShardedInfo<'a> {
    format_version: u32,
    created_by: &'a str,
    embedder: &'a str,
    dim: usize,
    documents: usize,
    chunks: usize,
    terms: u64,
    shards: usize,
    shard_bytes: u64,
    clusters: usize,
    default_nprobe: u32,
    sentence_vectors: bool,
    manifest_sha256: &'a str,
    cached_bytes: usize,
    grader: CalibrationSource,
}

fn info(r: &Remote) -> ShardedInfo<'_> {
    let m = r.index.manifest();
    ShardedInfo {
        format_version: m.format_version,
        created_by: &m.created_by,
        embedder: &m.embedder.name,
        dim: m.embedder.dim,
        documents: m.documents,
        chunks: m.chunks,
        terms: m.bm25.terms,
        shards: m.shards.len(),
        shard_bytes: m.shards.iter().map(|s| s.bytes).sum(),
        clusters: m.ivf.clusters.len(),
        default_nprobe: m.ivf.default_nprobe,
        sentence_vectors: m.chunk_ranges.iter().any(|c| c.sentences.is_some()),
        manifest_sha256: &r.manifest_sha256,
        cached_bytes: r.index.cached_bytes(),
        grader: r.index.calibration().0,
    }
}

/// A query begun on the open sharded index: its options and its vector (embedded once),
/// stepped until it has its hits.
#[wasm_bindgen]
pub struct ShardQuery {
    query: String,
    options: SearchOptions,
    nprobe: Option<usize>,
    vector: Option<Vec<f32>>,
    generation: u32,
}

/// A question begun on the open sharded index: its options and its vector, stepped until
/// it has its answer.
#[wasm_bindgen]
pub struct ShardAsk {
    question: String,
    options: AskOptions,
    nprobe: Option<usize>,
    vector: Vec<f32>,
    t0: f64,
    generation: u32,
}

#[derive(serde::Serialize)]
struct Answered<'a> {
    answer: &'a crate::rag::answer::Answer,
    trace: &'a ShardTrace,
}

#[derive(serde::Serialize)]
struct Done<'a> {
    hits: &'a [crate::rag::records::SearchHit],
    trace: &'a ShardTrace,
}

#[derive(serde::Serialize)]
struct Need<'a> {
    need: &'a [String],
}

impl SottoEngine {
    fn remote(&self) -> JsResult<&Remote> {
        self.remote
            .as_ref()
            .ok_or_else(|| js_error(&Error::WrongState("no sharded index is open (call openSharded first)".into())))
    }

    /// The open sharded index, if it is the one a query or question was begun on.
    fn remote_of(&self, generation: u32, what: &str) -> JsResult<&Remote> {
        let r = self.remote()?;
        if generation != self.remote_generation {
            return Err(js_error(&Error::WrongState(format!(
                "the sharded index this {what} was begun on was closed or replaced"
            ))));
        }
        Ok(r)
    }
}

/// `nprobe` as JS gives it: at least 1 when set.
fn nprobe_of(nprobe: Option<u32>) -> JsResult<Option<usize>> {
    match nprobe {
        Some(0) => Err(js_error(&Error::InvalidOption { name: "nprobe", detail: "must be at least 1".into() })),
        n => Ok(n.map(|n| n as usize)),
    }
}

#[wasm_bindgen]
impl SottoEngine {
    /// Open a sharded index from the bytes of its `manifest.json`, with the loaded
    /// embedder (it must be the one the index was built with: `EmbedderMismatch`
    /// otherwise). Replaces a sharded index opened before; the local index is untouched.
    /// `limits`: `{ maxManifestBytes?, maxShardBytes?, cacheBytes? }` (defaults 16 MiB,
    /// 64 MiB, 32 MiB: the in-memory cache of decoded shards). Fetches nothing.
    #[wasm_bindgen(js_name = openSharded, unchecked_return_type = "ShardedInfo")]
    pub fn open_sharded(
        &mut self,
        manifest: &[u8],
        #[wasm_bindgen(unchecked_optional_param_type = "ShardLimits")] limits: JsValue,
    ) -> JsResult<JsValue> {
        reject_unknown_keys(&limits, LIMIT_KEYS, "shard limits")?;
        let given: JsShardLimits = options_from_js(limits, "shard limits")?;
        let d = ShardLimits::default();
        let limits = ShardLimits {
            max_manifest_bytes: given.max_manifest_bytes.unwrap_or(d.max_manifest_bytes),
            max_shard_bytes: given.max_shard_bytes.unwrap_or(d.max_shard_bytes),
            cache_bytes: given.cache_bytes.unwrap_or(d.cache_bytes),
        };
        let embedder = self.embedder.clone().ok_or_else(|| js_error(&Error::ModelNotLoaded("embedder")))?;
        // A source that has nothing: every shard arrives through `provideShard`.
        let index = ShardedIndex::open(manifest, Box::new(embedder), Box::new(NoSource), limits).js()?;
        let remote = Remote { index, manifest_sha256: crate::embed::sha256_hex(manifest) };
        let out = to_js(&info(&remote))?;
        self.remote = Some(remote);
        self.remote_generation = self.remote_generation.wrapping_add(1);
        Ok(out)
    }

    /// Close the sharded index (and drop its cached shards). `false` if none was open.
    #[wasm_bindgen(js_name = closeSharded)]
    pub fn close_sharded(&mut self) -> bool {
        self.remote_generation = self.remote_generation.wrapping_add(1);
        self.remote.take().is_some()
    }

    /// The open sharded index, or `null`.
    #[wasm_bindgen(js_name = shardedInfo, unchecked_return_type = "ShardedInfo | null")]
    pub fn sharded_info(&self) -> JsResult<JsValue> {
        match &self.remote {
            Some(r) => to_js(&info(r)),
            None => Ok(JsValue::NULL),
        }
    }

    /// Begin a search on the sharded index: checks the options (those a sharded index does
    /// not support yet are `InvalidOption`) and embeds the query. `nprobe`: IVF clusters
    /// probed (`undefined`: the manifest's calibrated value).
    #[wasm_bindgen(js_name = shardedQuery)]
    pub fn sharded_query(
        &self,
        query: &str,
        nprobe: Option<u32>,
        #[wasm_bindgen(unchecked_optional_param_type = "SearchOpts")] opts: JsValue,
    ) -> JsResult<ShardQuery> {
        let options = search_options(opts)?;
        let nprobe = nprobe_of(nprobe)?;
        let vector = self.remote()?.index.query_vector(query, &options).js()?;
        Ok(ShardQuery { query: query.to_owned(), options, nprobe, vector, generation: self.remote_generation })
    }

    /// One step of a query: `{ need: string[] }` — fetch these shards (all at once), hand
    /// each to `provideShard`, and step again — or `{ hits, trace }`. At most three
    /// `need`s per query (the term dictionary and cluster vectors; postings; chunks).
    #[wasm_bindgen(js_name = shardedStep, unchecked_return_type = "ShardStep")]
    pub fn sharded_step(&self, query: &ShardQuery) -> JsResult<JsValue> {
        let r = self.remote_of(query.generation, "query")?;
        match r.index.search_step(&query.query, &query.options, query.nprobe, query.vector.as_deref()).js()? {
            Step::Need(names) => to_js(&Need { need: &names }),
            Step::Done(hits, trace) => to_js(&Done { hits: &hits, trace: &trace }),
        }
    }

    /// Begin an answer on the sharded index: extractive, with cited spans, from the fetched
    /// chunk and sentence shards (a generator, adaptive routing and the options a sharded
    /// search lacks are `InvalidOption`; there is no calibrated grader: it abstains below
    /// `abstainBelow`). Embeds the question.
    #[wasm_bindgen(js_name = shardedAskQuery)]
    pub fn sharded_ask_query(
        &self,
        question: &str,
        nprobe: Option<u32>,
        #[wasm_bindgen(unchecked_optional_param_type = "AskOpts")] opts: JsValue,
    ) -> JsResult<ShardAsk> {
        let t0 = performance_now();
        let options = ask_options(opts)?;
        let nprobe = nprobe_of(nprobe)?;
        let vector = self.remote()?.index.question_vector(question, &options).js()?;
        Ok(ShardAsk { question: question.to_owned(), options, nprobe, vector, t0, generation: self.remote_generation })
    }

    /// One step of an answer: `{ need: string[] }` (fetch, `provideShard`, step again) or
    /// `{ answer, trace }`. At most four `need`s (the search's three, then the chunk and
    /// sentence shards of the hits).
    #[wasm_bindgen(js_name = shardedAskStep, unchecked_return_type = "ShardAskStep")]
    pub fn sharded_ask_step(&self, ask: &ShardAsk) -> JsResult<JsValue> {
        let r = self.remote_of(ask.generation, "question")?;
        let clock = performance_now;
        match r.index.ask_step(&ask.question, &ask.options, ask.nprobe, &ask.vector, ask.t0, &clock).js()? {
            AskStep::Need(names) => to_js(&Need { need: &names }),
            AskStep::Done(answer, trace) => to_js(&Answered { answer: &answer, trace: &trace }),
        }
    }

    /// Hand over a fetched shard: checked against the manifest (size, SHA-256: `Corrupt`
    /// if it differs — fetch it once more), decoded and cached in memory.
    #[wasm_bindgen(js_name = provideShard)]
    pub fn provide_shard(&self, name: &str, bytes: &[u8]) -> JsResult<()> {
        self.remote()?.index.provide(name, bytes).js()
    }
}

/// The source of a sharded index opened in the browser: it has nothing, since the worker
/// fetches (asynchronously) and provides; only `search_step` is called on it.
struct NoSource;

impl crate::index::shards::ShardSource for NoSource {
    fn fetch(&self, name: &str) -> crate::Result<Vec<u8>> {
        Err(Error::ShardUnavailable { name: name.to_owned(), detail: "shards are provided by the page".into() })
    }
}

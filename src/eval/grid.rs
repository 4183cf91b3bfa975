//! Configuration grids: one run evaluates several configurations — retrieval mode
//! (dense, sparse, hybrid with reciprocal rank fusion, hybrid with weighted fusion and
//! its `alpha`), cut-offs `k`, chunk size and overlap, embedder — described by a small
//! JSON file:
//!
//! ```json
//! {
//!   "modes": ["dense", "sparse", "hybrid-rrf", {"mode": "hybrid-weighted", "alpha": 0.3}],
//!   "alphas": [0.5, 0.7],
//!   "rrf_k": 60,
//!   "k": [1, 3, 5, 10],
//!   "chunking": [{"max_tokens": 256, "overlap": 32}, {"max_tokens": 128, "overlap": 16}],
//!   "embedders": ["all-MiniLM-L6-v2"],
//!   "chunk_depth": 30,
//!   "answers": false,
//!   "translate": ["none", "fusion", "decompose"],
//!   "tree": ["none", "collapsed"],
//!   "rerank": ["none", "maxsim"],
//!   "route": ["none", "auto"],
//!   "construct": ["off", "apply"],
//!   "adaptive": [false, true]
//! }
//! ```
//!
//! Every key is optional; `alphas` expands each `"hybrid-weighted"` given without an
//! alpha (default 0.5), `rrf_k` defaults to 60 (Cormack et al. 2009). `chunking` and
//! `embedders` default to the caller's index; `translate` (query translation, see
//! [`crate::query::translate`]) is crossed with every mode (default `none` only), and so
//! is `tree` (the RAPTOR collapsed tree, [`crate::rag::tree`]; default `none` only; not
//! crossed with `sparse`, which the tree cannot serve), and so is `adaptive` (Adaptive RAG
//! for the answers, see [`crate::rag::adaptive`]; `true`, `false` or a list of both;
//! default `false`; with `true` every translation must be `none`, as in
//! `AskOptions::validate`), and so is `rerank` (sentence-level MaxSim over the fused
//! candidates, [`crate::query::Rerank`]; default `none` only), and so are `route` (logical
//! routing to collections, [`crate::query::route`]; default `none` only) and `construct`
//! (query construction, [`crate::query::construct`]: `off`, `suggest`, `apply`; default
//! `off` only). An unknown mode or key is an
//! [`Error::InvalidOption`] naming it.
//!
//! The grid is expanded embedder-major, then chunking, then mode, and [`run_grid`]
//! builds one index per (embedder, chunking) pair through a caller-supplied closure —
//! so re-indexing happens only when chunking or the embedder change, and the core
//! stays free of file I/O (the closure loads models and documents).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::dataset::Question;
use super::run::{evaluate_with, EvalOptions, EvalReport};
use crate::error::{Error, Result};
use crate::query::{Construct, Rerank, Retrieval, Route, SearchOptions, Translate, Tree};
use crate::rag::{Engine, Stats};

/// A retrieval mode of the grid: the one [`Retrieval`] model of the query stage.
pub type ModeSpec = Retrieval;

fn bad(name: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidOption { name, detail: detail.into() }
}

/// Chunking of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkSpec {
    /// Maximum tokens per chunk.
    pub max_tokens: usize,
    /// Overlap tokens between consecutive chunks.
    pub overlap: usize,
}

impl From<&crate::ingest::chunk::ChunkConfig> for ChunkSpec {
    fn from(c: &crate::ingest::chunk::ChunkConfig) -> Self {
        ChunkSpec { max_tokens: c.max_tokens, overlap: c.overlap_tokens }
    }
}

impl ChunkSpec {
    /// The engine's chunk configuration.
    pub fn chunk_config(self) -> crate::ingest::chunk::ChunkConfig {
        crate::ingest::chunk::ChunkConfig { max_tokens: self.max_tokens, overlap_tokens: self.overlap }
    }
}

/// What an index depends on: rebuilding is needed exactly when this changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexKey {
    /// Embedder (a directory name under the models directory, or a path; the caller resolves it).
    pub embedder: String,
    /// Chunking.
    pub chunk: ChunkSpec,
}

impl IndexKey {
    /// The key of an existing engine's index: its embedder's name (without the `(cls)`
    /// pooling suffix) and chunking.
    pub fn of(engine: &Engine) -> IndexKey {
        IndexKey {
            embedder: engine.stats().embedder.trim_end_matches(" (cls)").to_owned(),
            chunk: ChunkSpec::from(&engine.config().chunk),
        }
    }

    /// Display name, e.g. `all-MiniLM-L6-v2 · 256/32 tokens`.
    pub fn name(&self) -> String {
        format!("{} · {}/{} tokens", self.embedder, self.chunk.max_tokens, self.chunk.overlap)
    }
}

/// One configuration to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// Display name, unique within the grid.
    pub name: String,
    /// The index it runs on.
    pub index: IndexKey,
    /// Retrieval mode.
    pub mode: ModeSpec,
    /// Query translation (default none).
    #[serde(default)]
    pub translate: Translate,
    /// Summary tree retrieval (default none).
    #[serde(default)]
    pub tree: Tree,
    /// Adaptive RAG for the answers (default false).
    #[serde(default)]
    pub adaptive: bool,
    /// Reranking of the fused candidates (default none).
    #[serde(default)]
    pub rerank: Rerank,
    /// Routing to collections (default none).
    #[serde(default)]
    pub route: Route,
    /// Query construction (default off).
    #[serde(default)]
    pub construct: Construct,
}

/// A parsed grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridConfig {
    /// Retrieval modes (default dense, sparse, hybrid-rrf, hybrid-weighted α=0.5).
    pub modes: Vec<ModeSpec>,
    /// Cut-offs for hit/recall/precision (default 1, 3, 5, 10).
    pub ks: Vec<usize>,
    /// Chunkings (default: the caller's).
    pub chunking: Vec<ChunkSpec>,
    /// Embedders (default: the caller's).
    pub embedders: Vec<String>,
    /// Chunks retrieved per question (default 30).
    pub chunk_depth: usize,
    /// Compute and score answers (default false).
    pub answers: bool,
    /// Query translations, each crossed with every mode (default: none only).
    #[serde(default = "no_translation")]
    pub translate: Vec<Translate>,
    /// Summary tree retrievals, each crossed with every mode but sparse (default: none only).
    #[serde(default = "no_tree")]
    pub tree: Vec<Tree>,
    /// Adaptive RAG off and/or on, crossed with every mode (default: off only).
    #[serde(default = "not_adaptive")]
    pub adaptive: Vec<bool>,
    /// Rerankings, each crossed with every mode (default: none only).
    #[serde(default = "no_rerank")]
    pub rerank: Vec<Rerank>,
    /// Routings, each crossed with every mode (default: none only).
    #[serde(default = "no_route")]
    pub route: Vec<Route>,
    /// Query constructions, each crossed with every mode (default: off only).
    #[serde(default = "no_construct")]
    pub construct: Vec<Construct>,
}

fn no_route() -> Vec<Route> {
    vec![Route::None]
}

fn no_construct() -> Vec<Construct> {
    vec![Construct::Off]
}

fn no_rerank() -> Vec<Rerank> {
    vec![Rerank::None]
}

fn no_tree() -> Vec<Tree> {
    vec![Tree::None]
}

fn not_adaptive() -> Vec<bool> {
    vec![false]
}

fn no_translation() -> Vec<Translate> {
    vec![Translate::None]
}

const KEYS: &[&str] = &[
    "modes",
    "alphas",
    "rrf_k",
    "k",
    "ks",
    "chunking",
    "embedders",
    "chunk_depth",
    "answers",
    "translate",
    "tree",
    "adaptive",
    "rerank",
    "route",
    "construct",
];

/// A JSON list of option names, each parsed by the options model; a value that is not a
/// string is `InvalidOption` naming `key` ("… is not `what`").
fn names<T: std::str::FromStr<Err = Error>>(
    values: &[serde_json::Value],
    key: &'static str,
    what: &str,
) -> Result<Vec<T>> {
    values.iter().map(|v| v.as_str().ok_or_else(|| bad(key, format!("{v} is not {what}")))?.parse()).collect()
}

fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

impl GridConfig {
    /// The default grid over one index: every mode, k = 1, 3, 5, 10.
    pub fn single(index: &IndexKey) -> GridConfig {
        GridConfig {
            modes: vec![
                ModeSpec::Dense,
                ModeSpec::Sparse,
                ModeSpec::HybridRrf { rrf_k: 60.0 },
                ModeSpec::HybridWeighted { alpha: 0.5 },
            ],
            ks: vec![1, 3, 5, 10],
            chunking: vec![index.chunk],
            embedders: vec![index.embedder.clone()],
            chunk_depth: 30,
            translate: no_translation(),
            tree: no_tree(),
            adaptive: not_adaptive(),
            rerank: no_rerank(),
            route: no_route(),
            construct: no_construct(),
            answers: false,
        }
    }

    /// Parse the JSON form (see the module docs); absent `chunking` and `embedders`
    /// come from `default_index`.
    pub fn from_json(text: &str, default_index: &IndexKey) -> Result<GridConfig> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad("grid", format!("not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| bad("grid", "the grid must be a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad("grid", format!("unknown key {k:?} (known: {})", KEYS.join(", "))));
        }
        let mut grid = GridConfig::single(default_index);
        let number = |name: &'static str, v: &serde_json::Value| -> Result<f64> {
            v.as_f64().ok_or_else(|| bad(name, format!("{v} is not a number")))
        };
        let count = |name: &'static str, v: &serde_json::Value| -> Result<usize> {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(name, format!("{v} is not a non-negative integer")))
        };
        let list = |name: &'static str| -> Result<Option<&Vec<serde_json::Value>>> {
            match obj.get(name) {
                None => Ok(None),
                Some(serde_json::Value::Array(a)) if !a.is_empty() => Ok(Some(a)),
                Some(_) => Err(bad(name, format!("`{name}` must be a non-empty list"))),
            }
        };
        let rrf_k = obj.get("rrf_k").map(|v| number("rrf_k", v)).transpose()?.unwrap_or(60.0) as f32;
        let alphas: Vec<f32> = match list("alphas")? {
            Some(a) => a.iter().map(|v| number("alpha", v).map(|x| x as f32)).collect::<Result<_>>()?,
            None => vec![0.5],
        };
        if let Some(modes) = list("modes")? {
            let mut out = Vec::new();
            for m in modes {
                let (name, alpha, k) = match m {
                    serde_json::Value::String(s) => (s.as_str(), None, None),
                    serde_json::Value::Object(o) => {
                        let name = o
                            .get("mode")
                            .and_then(|x| x.as_str())
                            .ok_or_else(|| bad("mode", format!("{m} has no \"mode\" string")))?;
                        if let Some(extra) = o.keys().find(|k| !["mode", "alpha", "rrf_k"].contains(&k.as_str())) {
                            return Err(bad("mode", format!("unknown key {extra:?} in {m}")));
                        }
                        let alpha = o.get("alpha").map(|v| number("alpha", v)).transpose()?.map(|x| x as f32);
                        let k = o.get("rrf_k").map(|v| number("rrf_k", v)).transpose()?.map(|x| x as f32);
                        (name, alpha, k)
                    }
                    other => return Err(bad("mode", format!("{other} is neither a mode name nor an object"))),
                };
                let parsed = ModeSpec::parse(name, k.unwrap_or(rrf_k), alpha.unwrap_or(0.5))?;
                match parsed {
                    // A weighted mode without its own alpha expands over `alphas`.
                    ModeSpec::HybridWeighted { .. } if alpha.is_none() && !name.contains(':') => {
                        for &a in &alphas {
                            let m = ModeSpec::HybridWeighted { alpha: a };
                            m.validate()?;
                            out.push(m);
                        }
                    }
                    other => out.push(other),
                }
            }
            grid.modes = dedup(out);
        } else {
            grid.modes = vec![ModeSpec::Dense, ModeSpec::Sparse, ModeSpec::HybridRrf { rrf_k }];
            for &a in &alphas {
                let m = ModeSpec::HybridWeighted { alpha: a };
                m.validate()?;
                grid.modes.push(m);
            }
            for m in &grid.modes {
                m.validate()?;
            }
        }
        if let Some(ks) = list("k")?.or(list("ks")?) {
            let mut ks: Vec<usize> = ks.iter().map(|v| count("k", v)).collect::<Result<_>>()?;
            if ks.contains(&0) {
                return Err(bad("k", "every k must be at least 1"));
            }
            ks.sort_unstable();
            ks.dedup();
            grid.ks = ks;
        }
        if let Some(cs) = list("chunking")? {
            let mut out = Vec::new();
            for c in cs {
                let o = c.as_object().ok_or_else(|| bad("chunking", format!("{c} is not an object")))?;
                if let Some(extra) = o.keys().find(|k| !["max_tokens", "overlap"].contains(&k.as_str())) {
                    return Err(bad("chunking", format!("unknown key {extra:?} in {c}")));
                }
                let max_tokens = count(
                    "max_tokens",
                    o.get("max_tokens").ok_or_else(|| bad("chunking", format!("{c} has no max_tokens")))?,
                )?;
                let overlap = o.get("overlap").map(|v| count("overlap", v)).transpose()?.unwrap_or(0);
                let spec = ChunkSpec { max_tokens, overlap };
                crate::rag::config::validate_chunking(&spec.chunk_config())?;
                out.push(spec);
            }
            grid.chunking = dedup(out);
        }
        if let Some(es) = list("embedders")? {
            let es: Vec<String> = es
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_owned)
                        .ok_or_else(|| bad("embedders", format!("{v} is not a name")))
                })
                .collect::<Result<_>>()?;
            grid.embedders = dedup(es);
        }
        if let Some(d) = obj.get("chunk_depth") {
            grid.chunk_depth = count("chunk_depth", d)?.max(1);
        }
        if let Some(ts) = list("translate")? {
            grid.translate = dedup(names(ts, "translate", "a technique name")?);
        }
        if let Some(ts) = list("tree")? {
            grid.tree = dedup(names(ts, "tree", "a tree retrieval")?);
        }
        if let Some(rs) = list("rerank")? {
            grid.rerank = dedup(names(rs, "rerank", "a rerank name")?);
        }
        if let Some(rs) = list("route")? {
            grid.route = dedup(names(rs, "route", "a route name")?);
        }
        if let Some(cs) = list("construct")? {
            grid.construct = dedup(names(cs, "construct", "a construct setting")?);
        }
        if let Some(a) = obj.get("answers") {
            grid.answers = a.as_bool().ok_or_else(|| bad("answers", format!("{a} is not true or false")))?;
        }
        if let Some(a) = obj.get("adaptive") {
            let one =
                |v: &serde_json::Value| v.as_bool().ok_or_else(|| bad("adaptive", format!("{v} is not true or false")));
            grid.adaptive = match a.as_array() {
                Some(list) if list.is_empty() => return Err(bad("adaptive", "an empty list")),
                Some(list) => dedup(list.iter().map(one).collect::<Result<_>>()?),
                None => vec![one(a)?],
            };
        }
        grid.validate_adaptive()?;
        Ok(grid)
    }

    /// Adaptive RAG picks its own pipeline: with `adaptive` on, every translation must be
    /// `none` (the rule of `AskOptions::validate`, checked before any work).
    pub fn validate_adaptive(&self) -> Result<()> {
        if self.adaptive.contains(&true) {
            if let Some(t) = self.translate.iter().find(|t| **t != Translate::None) {
                return Err(bad(
                    "adaptive",
                    format!("adaptive picks the pipeline; translate must be none, not {}", t.name()),
                ));
            }
        }
        Ok(())
    }

    /// The distinct indexes, in build order.
    pub fn index_keys(&self) -> Vec<IndexKey> {
        let mut out = Vec::new();
        for e in &self.embedders {
            for c in &self.chunking {
                out.push(IndexKey { embedder: e.clone(), chunk: *c });
            }
        }
        out
    }

    /// Every configuration, grouped by index (embedder-major, then chunking, then mode).
    /// Names show only what varies: the mode, plus embedder and chunking when the grid
    /// has several.
    pub fn expand(&self) -> Vec<Configuration> {
        let mut out = Vec::new();
        for key in self.index_keys() {
            for &mode in &self.modes {
                for &translate in &self.translate {
                    for &tree in &self.tree {
                        if tree == Tree::Collapsed && mode == ModeSpec::Sparse {
                            continue; // the tree is dense-only
                        }
                        let shaping = self.route.iter().flat_map(|ro| self.construct.iter().map(move |co| (*ro, *co)));
                        let crossed = self.adaptive.iter().flat_map(|a| self.rerank.iter().map(move |r| (*a, *r)));
                        let crossed: Vec<((bool, Rerank), (Route, Construct))> =
                            crossed.flat_map(|ar| shaping.clone().map(move |rc| (ar, rc))).collect();
                        for ((adaptive, rerank), (route, construct)) in crossed {
                            let mut name = mode.name();
                            if translate != Translate::None || self.translate.len() > 1 {
                                name.push_str(&format!(" · {}", translate.name()));
                            }
                            if tree != Tree::None || self.tree.len() > 1 {
                                name.push_str(&format!(" · tree {}", tree.name()));
                            }
                            if adaptive {
                                name.push_str(" · adaptive");
                            }
                            if rerank != Rerank::None || self.rerank.len() > 1 {
                                name.push_str(&format!(" · rerank {}", rerank.name()));
                            }
                            if route != Route::None || self.route.len() > 1 {
                                name.push_str(&format!(" · route {}", route.name()));
                            }
                            if construct != Construct::Off || self.construct.len() > 1 {
                                name.push_str(&format!(" · construct {}", construct.name()));
                            }
                            if self.embedders.len() > 1 {
                                name.push_str(&format!(" · {}", key.embedder));
                            }
                            if self.chunking.len() > 1 {
                                name.push_str(&format!(" · {}/{}", key.chunk.max_tokens, key.chunk.overlap));
                            }
                            out.push(Configuration {
                                name,
                                index: key.clone(),
                                mode,
                                translate,
                                tree,
                                adaptive,
                                rerank,
                                route,
                                construct,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// Progress of a grid run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GridProgress<'a> {
    /// An index is about to be built (`index` of `indexes`, 1-based).
    Indexing {
        /// What is being built.
        key: &'a IndexKey,
        /// 1-based position.
        index: usize,
        /// Indexes in the grid.
        indexes: usize,
    },
    /// A question of a configuration was evaluated.
    Evaluating {
        /// Configuration name.
        config: &'a str,
        /// 1-based configuration position.
        run: usize,
        /// Configurations in the grid.
        runs: usize,
        /// Questions done in this configuration.
        done: usize,
        /// Questions per configuration.
        total: usize,
    },
}

/// An index built for the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRun {
    /// What it depends on.
    pub key: IndexKey,
    /// Its statistics (documents, chunks, duplicates dropped, bytes).
    pub stats: Stats,
    /// Time the caller's closure took to provide it (ms).
    pub build_ms: f64,
}

/// One evaluated configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRun {
    /// The configuration.
    pub config: Configuration,
    /// Its evaluation (its `config` field holds the configuration name).
    pub report: EvalReport,
}

/// The result of a grid run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridRun {
    /// Cut-offs evaluated.
    pub ks: Vec<usize>,
    /// Indexes built, in order.
    pub indexes: Vec<IndexRun>,
    /// Configurations evaluated, in grid order.
    pub runs: Vec<ConfigRun>,
}

/// Evaluate every configuration of `grid`. `build` provides the engine of an index key
/// (it is called once per key, in [`GridConfig::index_keys`] order, and its engine is
/// dropped before the next one is built). `base` supplies the options the grid does not
/// set (snippets, answer options; its `answers` is used when the grid asks for answers,
/// else extractive defaults). When `progress` returns `false` the run stops with
/// [`Error::Cancelled`].
pub fn run_grid(
    grid: &GridConfig,
    questions: &[Question],
    base: &EvalOptions,
    build: &mut dyn FnMut(&IndexKey) -> Result<Engine>,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(GridProgress<'_>) -> bool,
) -> Result<GridRun> {
    let mut run = GridRunner::new(grid, questions, base)?;
    for (ki, key) in run.keys.clone().iter().enumerate() {
        if !progress(GridProgress::Indexing { key, index: ki + 1, indexes: run.keys.len() }) {
            return Err(Error::Cancelled);
        }
        let t0 = clock();
        let engine = build(key)?;
        run.evaluate_index(key, &engine, clock() - t0, clock, progress)?;
    }
    Ok(run.out)
}

/// [`run_grid`] on an index that already exists (the browser's live engine): every
/// configuration must use its embedder and chunking — a grid that needs another index
/// is an [`Error::InvalidOption`] before any work, since re-chunking needs the original
/// documents, which an index does not keep.
pub fn run_grid_on(
    engine: &Engine,
    grid: &GridConfig,
    questions: &[Question],
    base: &EvalOptions,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(GridProgress<'_>) -> bool,
) -> Result<GridRun> {
    let key = IndexKey::of(engine);
    if let Some(other) = grid.index_keys().into_iter().find(|k| *k != key) {
        return Err(bad(
            "grid",
            format!(
                "the grid needs index {} but this index is {}: chunking and embedder variants need the documents \
                 re-indexed (use `sotto eval --config` with --docs)",
                other.name(),
                key.name()
            ),
        ));
    }
    let mut run = GridRunner::new(grid, questions, base)?;
    if !progress(GridProgress::Indexing { key: &key, index: 1, indexes: 1 }) {
        return Err(Error::Cancelled);
    }
    run.evaluate_index(&key, engine, 0.0, clock, progress)?;
    Ok(run.out)
}

/// State shared by [`run_grid`] and [`run_grid_on`].
struct GridRunner<'g> {
    grid: &'g GridConfig,
    questions: &'g [Question],
    base: &'g EvalOptions,
    configs: Vec<Configuration>,
    keys: Vec<IndexKey>,
    answers: Option<crate::rag::ask::AskOptions>,
    run_no: usize,
    out: GridRun,
}

impl<'g> GridRunner<'g> {
    fn new(grid: &'g GridConfig, questions: &'g [Question], base: &'g EvalOptions) -> Result<Self> {
        if grid.modes.is_empty() || grid.embedders.is_empty() || grid.chunking.is_empty() {
            return Err(bad("grid", "the grid has no configuration"));
        }
        let configs = grid.expand();
        let names: BTreeSet<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        debug_assert_eq!(names.len(), configs.len());
        let answers =
            if grid.answers || base.answers.is_some() { Some(base.answers.clone().unwrap_or_default()) } else { None };
        Ok(GridRunner {
            grid,
            questions,
            base,
            keys: grid.index_keys(),
            configs,
            answers,
            run_no: 0,
            out: GridRun { ks: grid.ks.clone(), indexes: Vec::new(), runs: Vec::new() },
        })
    }

    /// Evaluate every configuration of `key` on `engine`.
    fn evaluate_index(
        &mut self,
        key: &IndexKey,
        engine: &Engine,
        build_ms: f64,
        clock: &dyn Fn() -> f64,
        progress: &mut dyn FnMut(GridProgress<'_>) -> bool,
    ) -> Result<()> {
        self.out.indexes.push(IndexRun { key: key.clone(), stats: engine.stats(), build_ms });
        let runs = self.configs.len();
        for c in self.configs.iter().filter(|c| &c.index == key) {
            self.run_no += 1;
            let run = self.run_no;
            let options = EvalOptions {
                ks: self.grid.ks.clone(),
                search: SearchOptions {
                    translate: c.translate,
                    tree: c.tree,
                    rerank: c.rerank,
                    route: c.route,
                    construct: c.construct,
                    ..c.mode.search_options()
                },
                chunk_depth: self.grid.chunk_depth,
                answers: self.answers.clone().map(|a| crate::rag::ask::AskOptions { adaptive: c.adaptive, ..a }),
                ..self.base.clone()
            };
            let mut report = evaluate_with(engine, self.questions, &options, clock, &mut |done, total| {
                progress(GridProgress::Evaluating { config: &c.name, run, runs, done, total })
            })?;
            report.config = c.name.clone();
            self.out.runs.push(ConfigRun { config: c.clone(), report });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::{Document, EngineConfig};

    fn key() -> IndexKey {
        IndexKey { embedder: "hash".into(), chunk: ChunkSpec { max_tokens: 256, overlap: 32 } }
    }

    #[test]
    fn modes_parse_with_aliases_and_unknown_mode_is_typed() {
        assert_eq!(ModeSpec::parse("BM25", 60.0, 0.5).unwrap(), ModeSpec::Sparse);
        assert_eq!(ModeSpec::parse("hybrid", 60.0, 0.5).unwrap(), ModeSpec::HybridRrf { rrf_k: 60.0 });
        assert_eq!(ModeSpec::parse("hybrid-weighted:0.3", 60.0, 0.5).unwrap(), ModeSpec::HybridWeighted { alpha: 0.3 });
        match ModeSpec::parse("colbert", 60.0, 0.5) {
            Err(Error::InvalidOption { name: "mode", detail }) => assert!(detail.contains("colbert")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(ModeSpec::parse("weighted:1.5", 60.0, 0.5), Err(Error::InvalidOption { name: "alpha", .. })));
        assert!(matches!(ModeSpec::parse("dense:3", 60.0, 0.5), Err(Error::InvalidOption { name: "mode", .. })));
    }

    #[test]
    fn json_grid_expands_grouped_by_index() {
        let g = GridConfig::from_json(
            r#"{"modes": ["dense", "hybrid-rrf", "hybrid-weighted", {"mode": "hybrid-weighted", "alpha": 0.9}],
                "alphas": [0.3, 0.7], "k": [10, 1, 5, 5],
                "chunking": [{"max_tokens": 128, "overlap": 16}, {"max_tokens": 256, "overlap": 32}],
                "embedders": ["e1", "e2"], "answers": true}"#,
            &key(),
        )
        .unwrap();
        assert_eq!(g.ks, [1, 5, 10]);
        assert_eq!(g.modes.len(), 5);
        assert!(g.answers);
        let c = g.expand();
        assert_eq!(c.len(), 5 * 2 * 2);
        assert_eq!(g.index_keys().len(), 4);
        // Grouped: each index's configurations are contiguous.
        let mut seen = Vec::new();
        for x in &c {
            if seen.last() != Some(&x.index) {
                assert!(!seen.contains(&x.index), "index {:?} evaluated in two separate groups", x.index);
                seen.push(x.index.clone());
            }
        }
        assert_eq!(c[0].name, "dense · e1 · 128/16");
        assert!(c.iter().any(|x| x.name.starts_with("hybrid-weighted α=0.7")));
        let names: BTreeSet<&str> = c.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names.len(), c.len());
    }

    #[test]
    fn rerank_is_crossed_with_the_modes_and_reaches_the_search() {
        let g =
            GridConfig::from_json(r#"{"modes": ["hybrid"], "rerank": ["none", "maxsim", "max-sim"]}"#, &key()).unwrap();
        assert_eq!(g.rerank, [Rerank::None, Rerank::MaxSim]);
        let c = g.expand();
        let names: Vec<(&str, Rerank)> = c.iter().map(|x| (x.name.as_str(), x.rerank)).collect();
        assert_eq!(names, [("hybrid-rrf · rerank none", Rerank::None), ("hybrid-rrf · rerank maxsim", Rerank::MaxSim)]);
        assert_eq!(GridConfig::from_json("{}", &key()).unwrap().rerank, [Rerank::None]);
        // On a live engine, each configuration searches with its own reranking: its
        // rankings are those of a direct evaluation with that reranking.
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        let filler =
            "Unrelated words about gardens, rivers, castles, lanterns and the weather fill this long paragraph.";
        e.add_documents(vec![
            Document::new("a.md", format!("# Notes\n\n{filler} {filler} The exact versions of every dependency are recorded. {filler}")),
            Document::new(
                "b.md",
                "# Exact versions of every dependency\n\nExact builds matter a lot here. Versions change over time here. \
                 Every crate has a dependency list. Things get recorded in the logs. Exact versions, every dependency.",
            ),
            Document::new(
                "c.md",
                "# Recorded dependency versions\n\nA dependency is a crate you use. Every dependency has versions too. \
                 Exact inputs are recorded somewhere.",
            ),
        ])
        .unwrap();
        let q = crate::eval::parse_jsonl(
            r#"{"id":"1","question":"the exact versions of every dependency are recorded","relevant_docs":["a.md"]}"#,
            false,
        )
        .unwrap()
        .questions;
        let g =
            GridConfig::from_json(r#"{"modes": ["hybrid"], "rerank": ["none", "maxsim"]}"#, &IndexKey::of(&e)).unwrap();
        let run = run_grid_on(&e, &g, &q, &EvalOptions::default(), &|| 0.0, &mut |_| true).unwrap();
        let direct = |rerank| {
            let o = EvalOptions {
                search: SearchOptions { rerank, ..ModeSpec::HybridRrf { rrf_k: 60.0 }.search_options() },
                ..EvalOptions::default()
            };
            crate::eval::run::evaluate(&e, &q, &o, &|| 0.0).unwrap().per_question[0].retrieved_docs.clone()
        };
        let (none, maxsim) = (direct(Rerank::None), direct(Rerank::MaxSim));
        assert_ne!(none, maxsim, "the reranking must change this ranking for the test to mean anything");
        let grid: Vec<Vec<String>> = run.runs.iter().map(|r| r.report.per_question[0].retrieved_docs.clone()).collect();
        assert_eq!(grid, [none, maxsim]);
    }

    #[test]
    fn route_and_construct_are_crossed_named_and_searched_with() {
        let g = GridConfig::from_json(
            r#"{"modes": ["hybrid"], "route": ["none", "auto"], "construct": ["off", "apply", "apply"]}"#,
            &key(),
        )
        .unwrap();
        assert_eq!(g.construct, [Construct::Off, Construct::Apply]);
        let names: Vec<String> = g.expand().into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "hybrid-rrf · route none · construct off",
                "hybrid-rrf · route none · construct apply",
                "hybrid-rrf · route auto · construct off",
                "hybrid-rrf · route auto · construct apply"
            ]
        );
        let defaults = GridConfig::from_json("{}", &key()).unwrap();
        assert_eq!((defaults.route, defaults.construct), (vec![Route::None], vec![Construct::Off]));
        for bad_grid in [r#"{"route": ["sometimes"]}"#, r#"{"construct": [true]}"#] {
            assert_eq!(GridConfig::from_json(bad_grid, &key()).unwrap_err().kind(), "InvalidOption", "{bad_grid}");
        }
        // On a live engine, `construct: apply` narrows the search to the scope the question
        // names, and `off` does not.
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        e.add_documents(vec![
            Document::new(
                "reference/lock.md",
                "# Lock file\n\nThe lock file records the exact version of every dependency.",
            ),
            Document::new(
                "guide/lock.md",
                "# Lock file\n\nThe lock file records exact versions of dependencies for you.",
            ),
            Document::new("guide/build.md", "# Builds\n\nBuilds use the lock file and record every version they need."),
        ])
        .unwrap();
        let q = crate::eval::parse_jsonl(
            r#"{"id":"1","question":"In the reference pages, what does the lock file record?","relevant_docs":["reference/lock.md"]}"#,
            false,
        )
        .unwrap()
        .questions;
        let g = GridConfig::from_json(r#"{"modes": ["hybrid"], "construct": ["off", "apply"]}"#, &IndexKey::of(&e))
            .unwrap();
        let run = run_grid_on(&e, &g, &q, &EvalOptions::default(), &|| 0.0, &mut |_| true).unwrap();
        let docs: Vec<Vec<String>> = run.runs.iter().map(|r| r.report.per_question[0].retrieved_docs.clone()).collect();
        assert!(docs[0].iter().any(|d| d.starts_with("guide/")), "off searches everything: {docs:?}");
        assert!(!docs[1].is_empty() && docs[1].iter().all(|d| d.starts_with("reference/")), "apply: {docs:?}");
    }

    #[test]
    fn adaptive_is_crossed_with_the_modes_and_named() {
        let g = GridConfig::from_json(r#"{"modes": ["dense", "sparse"], "adaptive": [false, true, true]}"#, &key())
            .unwrap();
        assert_eq!(g.adaptive, [false, true]);
        let c = g.expand();
        let names: Vec<(&str, bool)> = c.iter().map(|x| (x.name.as_str(), x.adaptive)).collect();
        assert_eq!(
            names,
            [("dense", false), ("dense · adaptive", true), ("sparse", false), ("sparse · adaptive", true)]
        );
        assert_eq!(GridConfig::from_json(r#"{"adaptive": true}"#, &key()).unwrap().adaptive, [true]);
        assert_eq!(GridConfig::from_json("{}", &key()).unwrap().adaptive, [false]);
    }

    #[test]
    fn defaults_and_errors() {
        let g = GridConfig::from_json("{}", &key()).unwrap();
        assert_eq!(g, GridConfig::single(&key()));
        assert_eq!(
            g.expand().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["dense", "sparse", "hybrid-rrf", "hybrid-weighted α=0.5"]
        );
        for (text, name) in [
            (r#"{"modes": ["dense", "splade"]}"#, "mode"),
            (r#"{"modez": ["dense"]}"#, "grid"),
            (r#"{"k": [0, 5]}"#, "k"),
            (r#"{"chunking": [{"max_tokens": 32, "overlap": 32}]}"#, "chunk.overlap_tokens"),
            (r#"{"chunking": [{"max_tokens": 1, "overlap": 0}]}"#, "chunk.max_tokens"),
            (r#"{"rrf_k": 0}"#, "rrf_k"),
            (r#"{"modes": ["fuzzy"]}"#, "mode"),
            (r#"{"alphas": [2.0]}"#, "alpha"),
            (r#"{"embedders": []}"#, "embedders"),
            (r#"{"adaptive": "yes"}"#, "adaptive"),
            (r#"{"rerank": ["colbert"]}"#, "rerank"),
            (r#"{"rerank": [3]}"#, "rerank"),
            (r#"{"adaptive": []}"#, "adaptive"),
            (r#"{"adaptive": true, "translate": ["none", "hyde"]}"#, "adaptive"),
            ("[1]", "grid"),
            ("{", "grid"),
        ] {
            match GridConfig::from_json(text, &key()) {
                Err(Error::InvalidOption { name: n, .. }) => assert_eq!(n, name, "{text}"),
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
    }

    fn docs() -> Vec<Document> {
        vec![
            Document::new(
                "cargo.md",
                "# Cargo\n\nCargo is the Rust package manager. It downloads dependencies and builds packages.",
            ),
            Document::new(
                "lock.md",
                "# Lock file\n\nCargo.lock records the exact versions of every dependency that was resolved.",
            ),
        ]
    }

    #[test]
    fn grid_reindexes_only_when_the_index_changes_and_reports_progress() {
        let g = GridConfig::from_json(
            r#"{"modes": ["dense", "sparse", "hybrid"], "chunking": [{"max_tokens": 64, "overlap": 8}, {"max_tokens": 128, "overlap": 16}]}"#,
            &key(),
        )
        .unwrap();
        let questions = vec![Question {
            id: "q".into(),
            question: "Which file records exact versions?".into(),
            relevant_docs: vec!["lock.md".into()],
            answers: vec![],
            ..Question::default()
        }];
        let mut built = Vec::new();
        let mut build = |k: &IndexKey| -> Result<Engine> {
            built.push(k.clone());
            let config = EngineConfig { chunk: k.chunk.chunk_config(), ..EngineConfig::default() };
            let mut e = Engine::new(config, Box::new(HashEmbedder::new(32)));
            e.add_documents(docs())?;
            Ok(e)
        };
        let mut events = Vec::new();
        let run = run_grid(&g, &questions, &EvalOptions::default(), &mut build, &|| 0.0, &mut |p| {
            events.push(match p {
                GridProgress::Indexing { index, .. } => format!("i{index}"),
                GridProgress::Evaluating { run, done, .. } => format!("e{run}.{done}"),
            });
            true
        })
        .unwrap();
        assert_eq!(built.len(), 2, "one build per chunking");
        assert_eq!(run.runs.len(), 6);
        assert_eq!(run.indexes.len(), 2);
        assert_eq!(run.indexes[0].stats.documents, 2);
        assert_eq!(events, ["i1", "e1.1", "e2.1", "e3.1", "i2", "e4.1", "e5.1", "e6.1"]);
        assert_eq!(run.runs[3].report.config, "dense · 128/16");
    }

    #[test]
    fn run_on_a_live_engine_uses_its_index_and_refuses_other_indexes() {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        e.add_documents(docs()).unwrap();
        let live = IndexKey::of(&e);
        assert_eq!(live.chunk, ChunkSpec::from(&EngineConfig::default().chunk));
        let questions = vec![Question {
            id: "q".into(),
            question: "Which file records exact versions?".into(),
            relevant_docs: vec!["lock.md".into()],
            answers: vec![],
            ..Question::default()
        }];
        let g = GridConfig::from_json(r#"{"modes": ["sparse", "hybrid"], "k": [1, 5]}"#, &live).unwrap();
        let mut events = 0;
        let run = run_grid_on(&e, &g, &questions, &EvalOptions::default(), &|| 0.0, &mut |_| {
            events += 1;
            true
        })
        .unwrap();
        assert_eq!(run.runs.len(), 2);
        assert_eq!(run.indexes.len(), 1);
        assert_eq!(run.indexes[0].stats.documents, 2);
        assert_eq!(run.runs[0].report.config, "sparse");
        assert_eq!(run.runs[0].report.doc.hit[&5], 1.0);
        assert_eq!(events, 1 + 2, "one indexing event, one per configuration and question");

        // Another chunking needs a re-index: refused before any work.
        let other =
            GridConfig::from_json(r#"{"modes": ["dense"], "chunking": [{"max_tokens": 64, "overlap": 8}]}"#, &live)
                .unwrap();
        let mut called = false;
        let r = run_grid_on(&e, &other, &questions, &EvalOptions::default(), &|| 0.0, &mut |_| {
            called = true;
            true
        });
        match r {
            Err(Error::InvalidOption { name: "grid", detail }) => assert!(detail.contains("64/8"), "{detail}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!called);

        // Cancelled from the progress callback.
        let r = run_grid_on(&e, &g, &questions, &EvalOptions::default(), &|| 0.0, &mut |p| {
            !matches!(p, GridProgress::Evaluating { run: 2, .. })
        });
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    }

    #[test]
    fn a_failing_build_such_as_a_missing_model_is_an_error() {
        let g = GridConfig::single(&key());
        let mut build = |_: &IndexKey| -> Result<Engine> {
            Err(Error::model("safetensors", "cannot read /nope/model.safetensors"))
        };
        let r = run_grid(&g, &[], &EvalOptions::default(), &mut build, &|| 0.0, &mut |_| true);
        assert!(matches!(r, Err(Error::ModelFormat { .. })));
    }
}

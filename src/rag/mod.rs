//! Stage 6 — the [`Engine`]: documents in → clean → chunk → de-duplicate → embed →
//! index → search → answer, configured by one serde [`EngineConfig`].
//!
//! Where each job lives:
//! - [`config`] — [`EngineConfig`] and its validation;
//! - [`records`] — what the engine stores and reports (documents, chunks, hits, stats);
//! - [`indexing`] — adding, replacing and removing documents (prepare, then an atomic commit);
//! - [`search`] — filtered dense / sparse / hybrid retrieval;
//! - [`persist`] — the engine saved to and loaded from an index file;
//! - [`partition`] — a build split into map steps (a share of the documents each) and a
//!   reduce step that merges them without embedding again;
//! - [`tree`] — the RAPTOR summary tree built over the chunk vectors, and its retrieval;
//! - [`answer`], [`select`], [`prompt`], [`attribute`], [`ask`] — grounded answers:
//!   sentence spans and evidence, sentence selection, the fenced prompt, attribution of
//!   generated sentences, and the `ask` pipeline that ties them together;
//! - [`adaptive`] — Adaptive RAG: the question's class picks no retrieval, the single-step
//!   `ask`, or a multi-step one (decompose, answer each part, compose);
//! - [`self_check`] — after generation, unsupported claims are retrieved once more.
//!
//! Design decisions:
//! - **Atomic batches.** [`Engine::add_documents`] validates, cleans, chunks,
//!   de-duplicates and embeds a whole batch on copies, then checks every span and vector,
//!   before it touches the indexes, so a bad document or a failing model leaves the
//!   engine exactly as it was.
//! - **Upsert and delete.** A document id that already exists is replaced; deleting
//!   removes it from the dense index (tombstone), the BM25 index and the dedup state.
//! - **Aggregate pages last.** Within a batch, shorter documents are processed first,
//!   so the chunks of a page that repeats others (the Cargo Book's `print.html`) are
//!   the ones dropped as duplicates, not the canonical pages' chunks.
//! - **Contextual chunk headers.** A chunk is embedded as `title > heading path` plus its
//!   text, so a paragraph that never names its topic is still found by it.
//! - **Filters before ranking.** Metadata filters become an allow-list of chunk ids
//!   that both retrievers respect while ranking, so `k` results come back whenever
//!   `k` matching chunks exist.

pub mod adaptive;
pub mod answer;
pub mod ask;
pub mod attribute;
pub mod blocks;
pub mod config;
pub mod grade;
pub mod indexing;
pub mod partition;
pub mod persist;
pub mod prompt;
pub mod records;
pub mod route;
pub mod search;
pub mod select;
pub mod self_check;
pub mod shards;
pub mod tree;

use std::collections::BTreeMap;

pub use config::EngineConfig;
pub use records::{ChunkRecord, DocRecord, HnswReport, IngestReport, Progress, SearchHit, Stats, TreeStats};

pub use crate::query::{Filter, Mode, SearchOptions};

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::dense::{DenseIndex, SegmentKind};
use crate::index::sparse::SparseIndex;
use crate::index::ChunkId;
use crate::ingest::dedup::Deduplicator;

/// The retrieval engine.
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) embedder: Box<dyn Embedder>,
    pub(crate) docs: BTreeMap<String, DocRecord>,
    pub(crate) chunks: BTreeMap<ChunkId, ChunkRecord>,
    pub(crate) dense: DenseIndex,
    pub(crate) sparse: SparseIndex,
    pub(crate) dedup: Deduplicator,
    pub(crate) next_chunk_id: ChunkId,
    /// Optional generator for generative answers (behind a mutex so the engine stays `Sync`).
    pub(crate) generator: std::sync::Mutex<Option<Box<dyn crate::generate::Generator>>>,
    /// The chunks' int8 sentence vectors (stored in the index file since format v2; a
    /// chunk loaded from a v1 file gets its entry when first needed, hence the mutex).
    pub(crate) sentences: std::sync::Mutex<crate::index::sentences::SentenceStore>,
    /// MMR λ and other-document cutoff of answer selection (see [`select::SelectTuning`]).
    pub(crate) select_tuning: select::SelectTuning,
    /// The grader's calibration fitted for this index (`sotto calibrate`), if any.
    pub(crate) calibration: Option<grade::Calibration>,
    /// Collection descriptions (`set_collection_description`), used by routing.
    pub(crate) collections: std::collections::BTreeMap<String, String>,
    /// Routing's per-collection centroids and description vectors, rebuilt when the
    /// corpus or the descriptions change (see [`route`]).
    pub(crate) route_cache: std::sync::Mutex<Option<route::RouteCache>>,
    /// The RAPTOR summary tree ([`tree`]), if one was built; dropped when documents change.
    pub(crate) tree: Option<crate::index::tree::SummaryTree>,
    /// The question-class prototypes embedded with this engine's embedder, computed on
    /// first use (`None` inside: the embedder has no prototype floor, rules only).
    pub(crate) prototypes: std::sync::OnceLock<Option<crate::query::classify::Prototypes>>,
    /// Set in a partial index (the map step of a partitioned build, [`partition`]).
    pub(crate) partition: Option<partition::PartitionInfo>,
}

impl Engine {
    /// An empty engine using `embedder`. The configuration is trusted: use
    /// [`Engine::with_config`] for one that comes from outside.
    pub fn new(config: EngineConfig, embedder: Box<dyn Embedder>) -> Self {
        let dim = embedder.info().dim;
        Engine {
            dense: DenseIndex::new(dim, config.dense.clone()),
            sparse: SparseIndex::new(config.bm25.clone()),
            dedup: Deduplicator::new(config.dedup.clone()),
            config,
            embedder,
            docs: BTreeMap::new(),
            chunks: BTreeMap::new(),
            next_chunk_id: 0,
            generator: std::sync::Mutex::new(None),
            sentences: std::sync::Mutex::new(crate::index::sentences::SentenceStore::new(dim)),
            select_tuning: select::SelectTuning::default(),
            calibration: None,
            collections: std::collections::BTreeMap::new(),
            route_cache: std::sync::Mutex::new(None),
            tree: None,
            prototypes: std::sync::OnceLock::new(),
            partition: None,
        }
    }

    /// An empty engine after [`EngineConfig::validate`] accepted `config`.
    pub fn with_config(config: EngineConfig, embedder: Box<dyn Embedder>) -> Result<Self> {
        config.validate()?;
        Ok(Engine::new(config, embedder))
    }

    /// Load (or replace) the generator used by generative answers.
    pub fn set_generator(&mut self, generator: Box<dyn crate::generate::Generator>) {
        *self.generator.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(generator);
    }

    /// Remove the generator (frees its memory); returns whether one was loaded.
    pub fn clear_generator(&mut self) -> bool {
        self.take_generator().is_some()
    }

    /// Take the generator out (to move it to another engine, or to run it directly).
    pub fn take_generator(&mut self) -> Option<Box<dyn crate::generate::Generator>> {
        self.generator.get_mut().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Set the MMR λ and the other-document cutoff of answer selection (values outside
    /// [0, 1] are clamped into it); for comparing settings on development questions.
    pub fn set_select_tuning(&mut self, tuning: select::SelectTuning) {
        let unit = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 1.0 };
        self.select_tuning = select::SelectTuning {
            mmr_lambda: unit(tuning.mmr_lambda),
            other_doc_cutoff: unit(tuning.other_doc_cutoff),
        };
    }

    /// Chunks still without sentence vectors (loaded from a format-v1 index): each is
    /// embedded when first retrieved, or all at once by [`Engine::upgrade_sentences`].
    pub fn chunks_without_sentence_vectors(&self) -> usize {
        let store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
        self.chunks.keys().filter(|&&id| !store.contains(id)).count()
    }

    /// Whether a generator is loaded.
    pub fn has_generator(&self) -> bool {
        self.generator.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// What generator is loaded, if any.
    pub fn generator_info(&self) -> Option<crate::generate::GeneratorInfo> {
        self.generator.lock().ok()?.as_ref().map(|g| g.info().clone())
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The embedder.
    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    /// A document's record (cleaned text, metadata, chunk ids).
    pub fn document(&self, id: &str) -> Option<&DocRecord> {
        self.docs.get(id)
    }

    /// All document ids, sorted.
    pub fn document_ids(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// Every chunk id in ascending order, with its stored vector (`Corrupt` naming `dense`
    /// if one has none): what the summary tree and the sharded index cluster.
    pub(crate) fn chunk_vectors(&self) -> Result<(Vec<ChunkId>, Vec<&[f32]>)> {
        let ids: Vec<ChunkId> = self.chunks.keys().copied().collect();
        let vecs = self
            .dense
            .vectors_of(&ids)
            .into_iter()
            .zip(&ids)
            .map(|(v, id)| v.ok_or_else(|| Error::corrupt("dense", format!("chunk {id} has no vector"))))
            .collect::<Result<_>>()?;
        Ok((ids, vecs))
    }

    /// A chunk's record and text.
    pub fn chunk(&self, id: ChunkId) -> Option<(&ChunkRecord, &str)> {
        let c = self.chunks.get(&id)?;
        let d = self.docs.get(&c.doc_id)?;
        Some((c, d.text.get(c.start..c.end)?))
    }

    /// Index statistics.
    pub fn stats(&self) -> Stats {
        Stats {
            documents: self.docs.len(),
            chunks: self.chunks.len(),
            exact_duplicates: self.docs.values().map(|d| d.exact_duplicates).sum(),
            near_duplicates: self.docs.values().map(|d| d.near_duplicates).sum(),
            text_bytes: self.docs.values().map(|d| d.text.len()).sum(),
            embedder: self.embedder.info().name.clone(),
            dim: self.embedder.info().dim,
            hnsw_vectors: self
                .dense
                .stats()
                .segments
                .iter()
                .filter(|s| s.kind == crate::index::dense::SegmentKind::Hnsw)
                .map(|s| s.live)
                .sum(),
            tree: self.tree.as_ref().map(|t| records::TreeStats {
                nodes: t.len(),
                nodes_per_level: self.tree_levels().into_values().collect(),
                abstractive: t.abstractive().is_some(),
                generator: t.abstractive().map(|a| a.generator.clone()),
                abstractive_nodes: t.abstractive_nodes(),
            }),
        }
    }

    /// The dense index (for statistics and recall measurements).
    pub fn dense_index(&self) -> &DenseIndex {
        &self.dense
    }

    /// Turn large exact-scan segments into HNSW segments (slow in wasm; the CLI does it natively).
    pub fn build_hnsw(&mut self) {
        self.dense.build_hnsw();
    }

    /// [`Engine::build_hnsw`] in steps of at most `segment_vectors` vectors (each step one
    /// new HNSW segment, see [`DenseIndex::build_hnsw_step`]), for a host that reports
    /// progress and may cancel: `progress` after each step, `cancelled` checked before
    /// each. Cancelling keeps the segments already built — every step leaves a complete
    /// index — and says so in the report. `segment_vectors` 0 is `InvalidOption`.
    pub fn build_hnsw_with(
        &mut self,
        segment_vectors: usize,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<HnswReport> {
        if segment_vectors == 0 {
            return Err(Error::InvalidOption { name: "segment_vectors", detail: "must be at least 1".into() });
        }
        let mut report = HnswReport::default();
        let live = |d: &DenseIndex| {
            let kind = |k| d.stats().segments.iter().filter(|s| s.kind == k).map(|s| s.live).sum::<usize>();
            (kind(SegmentKind::Hnsw), kind(SegmentKind::Flat))
        };
        loop {
            if cancelled() {
                report.cancelled = true;
                break;
            }
            match self.dense.build_hnsw_step(segment_vectors) {
                None => break,
                Some(n) => {
                    report.steps += 1;
                    report.sealed += n;
                    let (h, f) = live(&self.dense);
                    progress(Progress::Hnsw { done: h, total: h + f });
                }
            }
        }
        (report.hnsw_vectors, report.flat_vectors) = live(&self.dense);
        Ok(report)
    }
}

//! The [`Engine`]: documents in → clean → chunk → de-duplicate → embed → index →
//! search, configured by one serde [`EngineConfig`].
//!
//! Design decisions:
//! - **Atomic batches.** [`Engine::add_documents`] validates, cleans, chunks,
//!   de-duplicates and embeds a whole batch on copies before it touches the indexes, so
//!   a bad document or a failing model leaves the engine exactly as it was.
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

pub mod answer;
pub mod ask;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::dense::{DenseConfig, DenseIndex};
use crate::index::fusion::{fuse, Fusion};
use crate::index::sparse::{Bm25Config, SparseIndex};
use crate::index::text::Language;
use crate::index::ChunkId;
use crate::ingest::chunk::{chunk, ChunkConfig};
use crate::ingest::clean::{clean, CleanConfig};
use crate::ingest::dedup::{DedupConfig, Deduplicator, DupKind};
use crate::ingest::{Document, Format, Limits};

/// Everything that configures an engine. Serialized into index manifests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Limits on untrusted documents.
    pub limits: Limits,
    /// Cleaning options.
    pub clean: CleanConfig,
    /// Chunking options.
    pub chunk: ChunkConfig,
    /// Duplicate detection options.
    pub dedup: DedupConfig,
    /// Dense index options.
    pub dense: DenseConfig,
    /// BM25 options.
    pub bm25: Bm25Config,
    /// Texts per embedding call (default 16).
    pub embed_batch: usize,
    /// Prefix prepended to queries before embedding (e5 models want `"query: "`; default empty).
    pub query_prefix: String,
    /// Prefix prepended to chunks before embedding (e5: `"passage: "`; default empty).
    pub passage_prefix: String,
    /// Longest query accepted, in bytes (default 8192).
    pub max_query_bytes: usize,
    /// Candidates fetched from each retriever before fusion: `max(k, fusion_candidates)` (default 50).
    pub fusion_candidates: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            clean: CleanConfig::default(),
            chunk: ChunkConfig::default(),
            dedup: DedupConfig::default(),
            dense: DenseConfig::default(),
            bm25: Bm25Config::default(),
            embed_batch: 16,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            max_query_bytes: 8192,
            fusion_candidates: 50,
        }
    }
}

/// Retrieval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity only.
    Dense,
    /// BM25 only.
    Sparse,
    /// Both, fused (see [`SearchOptions::fusion`]).
    #[default]
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dense" => Ok(Mode::Dense),
            "sparse" | "bm25" => Ok(Mode::Sparse),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(Error::InvalidOption {
                name: "mode",
                detail: format!("unknown mode {other:?} (dense, sparse, hybrid)"),
            }),
        }
    }
}

/// A metadata filter. The key `id` matches the document id; other keys match metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Filter {
    /// `metadata[key] == value`.
    Equals {
        /// Metadata key.
        key: String,
        /// Value.
        value: String,
    },
    /// `metadata[key]` is one of `values`.
    OneOf {
        /// Metadata key.
        key: String,
        /// Accepted values.
        values: Vec<String>,
    },
    /// `metadata[key]` starts with `prefix`.
    Prefix {
        /// Metadata key.
        key: String,
        /// Prefix.
        prefix: String,
    },
}

impl Filter {
    fn matches(&self, doc: &DocRecord) -> bool {
        let get = |key: &str| -> Option<&str> {
            if key == "id" {
                Some(doc.id.as_str())
            } else {
                doc.metadata.get(key).map(String::as_str)
            }
        };
        match self {
            Filter::Equals { key, value } => get(key) == Some(value.as_str()),
            Filter::OneOf { key, values } => get(key).is_some_and(|v| values.iter().any(|x| x == v)),
            Filter::Prefix { key, prefix } => get(key).is_some_and(|v| v.starts_with(prefix.as_str())),
        }
    }
}

/// Options of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchOptions {
    /// Number of chunks returned (≥ 1; more than the corpus returns all). Default 5.
    pub k: usize,
    /// Retrieval mode. Default hybrid.
    pub mode: Mode,
    /// Fusion for hybrid mode. Default RRF with `rrf_k` = 60.
    pub fusion: Fusion,
    /// Filters, all of which must match (applied before ranking).
    pub filters: Vec<Filter>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { k: 5, mode: Mode::Hybrid, fusion: Fusion::default(), filters: Vec::new() }
    }
}

/// One retrieved chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Rank, 1-based.
    pub rank: usize,
    /// Chunk id.
    pub chunk_id: ChunkId,
    /// Document id.
    pub doc_id: String,
    /// Document title, if known.
    pub title: Option<String>,
    /// Fused (or single-retriever) score; higher is better.
    pub score: f32,
    /// Cosine similarity, if the dense retriever returned this chunk.
    pub dense_score: Option<f32>,
    /// BM25 score, if the sparse retriever returned this chunk.
    pub sparse_score: Option<f32>,
    /// Chunk text (a span of the document's cleaned text).
    pub text: String,
    /// Headings enclosing the chunk.
    pub heading_path: Vec<String>,
    /// Byte offset of the chunk in the document's cleaned text.
    pub start: usize,
    /// Byte offset one past the chunk end.
    pub end: usize,
}

/// What the engine keeps of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocRecord {
    /// Document id.
    pub id: String,
    /// Metadata as given.
    pub metadata: BTreeMap<String, String>,
    /// Resolved format.
    pub format: Format,
    /// Title (metadata `title`, else found in the markup).
    pub title: Option<String>,
    /// Language used for stemming.
    pub language: Language,
    /// Cleaned text; chunk and citation spans are byte offsets into it.
    pub text: String,
    /// Hex SHA-256 of the raw body.
    pub body_sha256: String,
    /// Kept chunks, in order.
    pub chunks: Vec<ChunkId>,
    /// Chunks dropped as exact duplicates of earlier chunks.
    pub exact_duplicates: usize,
    /// Chunks dropped as near duplicates.
    pub near_duplicates: usize,
}

/// What the engine keeps of a chunk (its text is a span of the document text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Owning document id.
    pub doc_id: String,
    /// Byte start in the document's cleaned text.
    pub start: usize,
    /// Byte end.
    pub end: usize,
    /// Headings enclosing the chunk.
    pub heading_path: Vec<String>,
}

/// Progress of a long operation, reported to an optional callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
pub enum Progress {
    /// Documents cleaned and chunked so far.
    Chunking {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// Chunks embedded so far.
    Embedding {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
}

/// Summary of an ingest batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Documents added or replaced.
    pub documents: usize,
    /// Of which replaced an existing id.
    pub replaced: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Chunks dropped as exact duplicates.
    pub exact_duplicates: usize,
    /// Chunks dropped as near duplicates.
    pub near_duplicates: usize,
}

/// Index statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Documents indexed.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Chunks dropped as exact duplicates (documents currently indexed).
    pub exact_duplicates: usize,
    /// Chunks dropped as near duplicates.
    pub near_duplicates: usize,
    /// Bytes of cleaned text.
    pub text_bytes: usize,
    /// Embedder name.
    pub embedder: String,
    /// Vector dimension.
    pub dim: usize,
}

/// What the duplicate detector compares: the chunk's heading path and its text.
///
/// Including the heading path keeps sections that several documents share on
/// purpose (the "Common Options" of every `cargo-*` man page, under different
/// headings) while an aggregate page that repeats whole pages under the same headings
/// (the Cargo Book's `print.html`) is still caught.
pub fn dedup_key(heading_path: &[String], text: &str) -> String {
    format!("{}\n{}", crate::ingest::chunk::header_line(heading_path), text)
}

/// What BM25 indexes for a chunk: the same title and heading header as the dense
/// side (without the model prefix), then the text.
pub(crate) fn sparse_text(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut s = String::new();
    for line in title.into_iter().chain(heading_path.iter().map(String::as_str)) {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(text);
    s
}

/// A prepared (cleaned, chunked, deduplicated, embedded) document, not yet committed.
struct Prepared {
    record: DocRecord,
    chunks: Vec<(ChunkRecord, Vec<f32>)>,
}

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
    /// Vectors of candidate answer sentences already embedded (see [`ask::SentenceCache`]).
    pub(crate) sentence_cache: std::sync::Mutex<ask::SentenceCache>,
}

impl Engine {
    /// An empty engine using `embedder`.
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
            sentence_cache: std::sync::Mutex::new(ask::SentenceCache::new(ask::SENTENCE_CACHE_CAPACITY)),
        }
    }

    /// Load (or replace) the generator used by generative answers.
    pub fn set_generator(&mut self, generator: Box<dyn crate::generate::Generator>) {
        *self.generator.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(generator);
    }

    /// Remove the generator (frees its memory); returns whether one was loaded.
    pub fn clear_generator(&mut self) -> bool {
        self.generator.get_mut().unwrap_or_else(|p| p.into_inner()).take().is_some()
    }

    /// Drop the cached vectors of answer sentences (memory, or a cold-cache measurement);
    /// answers are the same with or without them, only slower to select.
    pub fn clear_sentence_cache(&self) {
        self.sentence_cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
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

    /// Add or replace documents (see [`Engine::add_documents_with`]).
    pub fn add_documents(&mut self, docs: Vec<Document>) -> Result<IngestReport> {
        self.add_documents_with(docs, &mut |_| {}, &|| false)
    }

    /// Add or replace documents, reporting progress and checking `cancelled` between
    /// embedding batches. All-or-nothing: on any error (or cancellation) the engine is
    /// unchanged.
    pub fn add_documents_with(
        &mut self,
        docs: Vec<Document>,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<IngestReport> {
        // 1. Validate the whole batch before any work.
        let mut seen = HashSet::new();
        for d in &docs {
            if !seen.insert(d.id.as_str()) {
                return Err(Error::DuplicateId(d.id.clone()));
            }
            d.validate(&self.config.limits)?;
        }
        drop(seen);

        // 2. Clean, chunk and de-duplicate on a copy of the dedup state.
        let mut dedup = self.dedup.clone();
        for d in &docs {
            if let Some(old) = self.docs.get(&d.id) {
                for &c in &old.chunks {
                    dedup.remove(c);
                }
            }
        }
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_by_key(|&i| (docs[i].body.len(), i));
        let total = docs.len();
        let mut next_id = self.next_chunk_id;
        let mut pending: Vec<(Prepared, Vec<String>)> = Vec::with_capacity(total);
        for (n, &i) in order.iter().enumerate() {
            let doc = &docs[i];
            let format = doc.resolved_format();
            let mut typed = doc.clone();
            typed.format = Some(format);
            let cleaned = clean(&typed, &self.config.clean)?;
            if cleaned.text.trim().is_empty() {
                return Err(Error::InvalidDocument {
                    id: doc.id.clone(),
                    reason: "no readable text after cleaning".into(),
                });
            }
            let title =
                doc.metadata.get("title").cloned().filter(|t| !t.trim().is_empty()).or_else(|| cleaned.title.clone());
            let language = doc
                .metadata
                .get("language")
                .or_else(|| doc.metadata.get("lang"))
                .map(|t| Language::from_tag(t))
                .unwrap_or_else(|| Language::detect(&cleaned.text));
            // The title is embedded in front of every chunk: reserve its tokens in the budget.
            let mut chunk_config = self.config.chunk.clone();
            if let Some(t) = &title {
                let reserve = self.embedder.count_tokens(t) + 1;
                chunk_config.max_tokens =
                    chunk_config.max_tokens.saturating_sub(reserve).max(chunk_config.max_tokens / 2);
            }
            let pieces = chunk(&cleaned, &chunk_config, self.embedder.as_ref());
            let mut record = DocRecord {
                id: doc.id.clone(),
                metadata: doc.metadata.clone(),
                format,
                title,
                language,
                text: String::new(),
                body_sha256: crate::embed::sha256_hex(doc.body.as_bytes()),
                chunks: Vec::new(),
                exact_duplicates: 0,
                near_duplicates: 0,
            };
            let mut kept = Vec::new();
            let mut embed_texts = Vec::new();
            for c in pieces {
                if c.text.trim().is_empty() {
                    continue;
                }
                let key = dedup_key(&c.heading_path, &c.text);
                match dedup.check(&key) {
                    DupKind::Exact { .. } => record.exact_duplicates += 1,
                    DupKind::Near { .. } => record.near_duplicates += 1,
                    DupKind::Unique => {
                        let id = next_id;
                        next_id = next_id.checked_add(1).ok_or_else(|| Error::InvalidOption {
                            name: "chunk id",
                            detail: "more than 2^32 chunks".into(),
                        })?;
                        dedup.insert(id, &key);
                        embed_texts.push(self.embed_text(record.title.as_deref(), &c.heading_path, &c.text));
                        record.chunks.push(id);
                        kept.push(ChunkRecord {
                            doc_id: doc.id.clone(),
                            start: c.start,
                            end: c.end,
                            heading_path: c.heading_path,
                        });
                    }
                }
            }
            record.text = cleaned.text;
            let prepared = Prepared { record, chunks: kept.into_iter().map(|c| (c, Vec::new())).collect() };
            pending.push((prepared, embed_texts));
            progress(Progress::Chunking { done: n + 1, total });
        }

        // 3. Embed every kept chunk (the expensive part), still without touching state.
        let total_chunks: usize = pending.iter().map(|(_, t)| t.len()).sum();
        let batch = self.config.embed_batch.max(1);
        let mut done = 0;
        progress(Progress::Embedding { done, total: total_chunks });
        for (prepared, texts) in pending.iter_mut() {
            for (slot, group) in prepared.chunks.chunks_mut(batch).zip(texts.chunks(batch)) {
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                let refs: Vec<&str> = group.iter().map(String::as_str).collect();
                for ((_, v), vec) in slot.iter_mut().zip(self.embed_batch_checked(&refs)?) {
                    *v = vec;
                }
                done += refs.len();
                progress(Progress::Embedding { done, total: total_chunks });
            }
        }

        // 4. Commit: nothing below can fail on input.
        let mut report = IngestReport::default();
        for (prepared, _) in pending {
            let Prepared { record, chunks } = prepared;
            if self.docs.contains_key(&record.id) {
                report.replaced += 1;
                self.remove_committed(&record.id.clone());
            }
            report.documents += 1;
            report.exact_duplicates += record.exact_duplicates;
            report.near_duplicates += record.near_duplicates;
            for (&id, (chunk, vector)) in record.chunks.iter().zip(chunks) {
                let text = &record.text[chunk.start..chunk.end];
                self.sparse.add(id, &sparse_text(record.title.as_deref(), &chunk.heading_path, text), record.language);
                self.dense.add(id, &vector)?;
                self.chunks.insert(id, chunk);
                report.chunks += 1;
            }
            self.docs.insert(record.id.clone(), record);
        }
        self.dedup = dedup;
        self.next_chunk_id = next_id;
        Ok(report)
    }

    fn embed_text(&self, title: Option<&str>, heading_path: &[String], text: &str) -> String {
        let mut header: Vec<&str> = Vec::new();
        if let Some(t) = title {
            if heading_path.first().map(String::as_str) != Some(t) {
                header.push(t);
            }
        }
        header.extend(heading_path.iter().map(String::as_str));
        if header.is_empty() {
            format!("{}{}", self.config.passage_prefix, text)
        } else {
            format!("{}{}\n{}", self.config.passage_prefix, header.join(" > "), text)
        }
    }

    /// Remove documents by id. All-or-nothing: an unknown id is an error and nothing is removed.
    pub fn remove_documents(&mut self, ids: &[&str]) -> Result<usize> {
        for id in ids {
            if !self.docs.contains_key(*id) {
                return Err(Error::UnknownDocument((*id).to_owned()));
            }
        }
        let mut n = 0;
        for id in ids {
            if self.remove_committed(id) {
                n += 1;
            }
        }
        Ok(n)
    }

    fn remove_committed(&mut self, id: &str) -> bool {
        let Some(record) = self.docs.remove(id) else { return false };
        for c in record.chunks {
            self.dense.remove(c);
            self.sparse.remove(c);
            self.dedup.remove(c);
            self.chunks.remove(&c);
        }
        true
    }

    /// Turn large exact-scan segments into HNSW segments (slow in wasm; the CLI does it natively).
    pub fn build_hnsw(&mut self) {
        self.dense.build_hnsw();
    }

    /// Search the index.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchHit>> {
        let query_vec = match options.mode {
            Mode::Sparse => None,
            _ => Some(self.embed_query(query, options)?),
        };
        self.search_with_vector(query, query_vec.as_deref(), options)
    }

    /// The query's vector (with the configured query prefix), after checking the query.
    pub(crate) fn embed_query(&self, query: &str, options: &SearchOptions) -> Result<Vec<f32>> {
        self.check_query(query, options)?;
        self.embedder.embed(&format!("{}{}", self.config.query_prefix, query.trim()))
    }

    /// One batch through the embedder, refusing a reply that does not match it: one vector
    /// per text, each of the index's dimension.
    pub(crate) fn embed_batch_checked(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let vectors = self.embedder.embed_batch(texts)?;
        if vectors.len() != texts.len() {
            return Err(Error::Candle(format!(
                "embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != self.dense.dim()) {
            return Err(Error::DimensionMismatch { expected: self.dense.dim(), got: v.len() });
        }
        Ok(vectors)
    }

    fn check_query(&self, query: &str, options: &SearchOptions) -> Result<()> {
        if query.trim().is_empty() {
            return Err(Error::InvalidQuery("query is empty".into()));
        }
        if query.len() > self.config.max_query_bytes {
            return Err(Error::InvalidQuery(format!(
                "query is {} bytes, more than the limit of {}",
                query.len(),
                self.config.max_query_bytes
            )));
        }
        if options.k == 0 {
            return Err(Error::InvalidOption { name: "k", detail: "k must be at least 1".into() });
        }
        if let Fusion::Weighted { alpha } = options.fusion {
            if !(0.0..=1.0).contains(&alpha) {
                return Err(Error::InvalidOption { name: "alpha", detail: format!("{alpha} is not in [0, 1]") });
            }
        }
        Ok(())
    }

    /// Search with a query vector computed by the caller (e.g. embedded in a batch).
    /// `query_vec` is required unless the mode is sparse.
    pub fn search_with_vector(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        self.check_query(query, options)?;
        let allowed: Option<HashSet<ChunkId>> = if options.filters.is_empty() {
            None
        } else {
            Some(
                self.docs
                    .values()
                    .filter(|d| options.filters.iter().all(|f| f.matches(d)))
                    .flat_map(|d| d.chunks.iter().copied())
                    .collect(),
            )
        };
        let allow_fn = |id: ChunkId| allowed.as_ref().is_none_or(|s| s.contains(&id));
        let allow: Option<&dyn Fn(ChunkId) -> bool> = if allowed.is_some() { Some(&allow_fn) } else { None };
        if allowed.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        let k = options.k;
        let candidates = k.max(self.config.fusion_candidates);
        let need_vec = || {
            query_vec
                .ok_or(Error::InvalidOption { name: "query_vec", detail: "dense search needs a query vector".into() })
        };
        let (dense, sparse) = match options.mode {
            Mode::Dense => (self.dense.search(need_vec()?, k, allow)?, Vec::new()),
            Mode::Sparse => (Vec::new(), self.sparse.search(query, k, allow)),
            Mode::Hybrid => {
                (self.dense.search(need_vec()?, candidates, allow)?, self.sparse.search(query, candidates, allow))
            }
        };
        let fused = match options.mode {
            Mode::Dense => dense.clone(),
            Mode::Sparse => sparse.clone(),
            Mode::Hybrid => fuse(options.fusion, &dense, &sparse, k),
        };
        let dense_map: HashMap<ChunkId, f32> = dense.into_iter().collect();
        let sparse_map: HashMap<ChunkId, f32> = sparse.into_iter().collect();
        let mut hits = Vec::with_capacity(fused.len());
        for (id, score) in fused.into_iter().take(k) {
            let Some(c) = self.chunks.get(&id) else { continue };
            let Some(d) = self.docs.get(&c.doc_id) else { continue };
            hits.push(SearchHit {
                rank: hits.len() + 1,
                chunk_id: id,
                doc_id: d.id.clone(),
                title: d.title.clone(),
                score,
                dense_score: dense_map.get(&id).copied(),
                sparse_score: sparse_map.get(&id).copied(),
                text: d.text.get(c.start..c.end).unwrap_or_default().to_owned(),
                heading_path: c.heading_path.clone(),
                start: c.start,
                end: c.end,
            });
        }
        Ok(hits)
    }

    /// A document's record (cleaned text, metadata, chunk ids).
    pub fn document(&self, id: &str) -> Option<&DocRecord> {
        self.docs.get(id)
    }

    /// All document ids, sorted.
    pub fn document_ids(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
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
        }
    }

    /// The dense index (for statistics and recall measurements).
    pub fn dense_index(&self) -> &DenseIndex {
        &self.dense
    }
}

//! [`EngineConfig`]: everything that configures an engine, serialized into index
//! manifests, and validated once wherever it enters — from JavaScript
//! (`new SottoEngine(config)`), from an index file's manifest, from the CLI — by
//! [`EngineConfig::validate`], so a value that would make the engine misbehave
//! (`max_tokens: 1` turns every character into a chunk) is a typed
//! [`Error::InvalidOption`] instead.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::dense::DenseConfig;
use crate::index::sparse::Bm25Config;
use crate::ingest::chunk::ChunkConfig;
use crate::ingest::clean::CleanConfig;
use crate::ingest::dedup::DedupConfig;
use crate::ingest::Limits;

/// Smallest chunk budget accepted, in tokens: below it a heading path alone fills a chunk.
pub const MIN_CHUNK_TOKENS: usize = 8;
/// Largest chunk budget accepted, in tokens (sentence encoders read at most 512).
pub const MAX_CHUNK_TOKENS: usize = 8192;
/// Largest embedding batch accepted.
pub const MAX_EMBED_BATCH: usize = 1024;
/// Largest query accepted, in bytes, whatever the configuration says.
pub const MAX_QUERY_BYTES: usize = 1 << 20;
/// Largest number of candidates per retriever before fusion.
pub const MAX_FUSION_CANDIDATES: usize = 100_000;
/// Longest query or passage prefix (`"query: "`), in bytes.
pub const MAX_PREFIX_BYTES: usize = 256;

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
    /// Bounds on the sentence vectors stored with the chunks (see [`SentenceLimits`]).
    pub sentences: SentenceLimits,
}

/// Bounds on the sentence vectors an index stores (format v2): each sentence of at
/// least [`crate::rag::select::MIN_ANSWER_WORDS`] words gets an int8 vector of the
/// embedder's dimension (≈ 390 bytes for MiniLM) and is embedded at index time, so the
/// count bounds both the file and the indexing time. Past a limit the batch is refused
/// with `LimitExceeded` and the engine is unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SentenceLimits {
    /// Most sentence vectors per chunk (default 256; a 256-token chunk holds at most ~64
    /// sentences of four words).
    pub max_per_chunk: usize,
    /// Most sentence vectors per document (default 50 000 ≈ 19 MB of vectors; the whole
    /// Cargo Book has about 12 000).
    pub max_per_document: usize,
    /// Embed the sentences at index time (default true). Off, indexing costs what it did
    /// in format v1 and a chunk's sentences are embedded the first time it is retrieved
    /// for an answer (kept afterwards, and saved with the index).
    pub at_index_time: bool,
}

impl Default for SentenceLimits {
    fn default() -> Self {
        SentenceLimits { max_per_chunk: 256, max_per_document: 50_000, at_index_time: true }
    }
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
            sentences: SentenceLimits::default(),
        }
    }
}

fn bad(name: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidOption { name, detail: detail.into() }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(name: &'static str, v: T, lo: T, hi: T) -> Result<()> {
    if v >= lo && v <= hi {
        Ok(())
    } else {
        Err(bad(name, format!("{v} is not in [{lo}, {hi}]")))
    }
}

/// Check a chunking: `max_tokens` in [[`MIN_CHUNK_TOKENS`], [`MAX_CHUNK_TOKENS`]] and the
/// overlap smaller than it. Used by [`EngineConfig::validate`] and the evaluation grid.
pub fn validate_chunking(chunk: &ChunkConfig) -> Result<()> {
    in_range("chunk.max_tokens", chunk.max_tokens, MIN_CHUNK_TOKENS, MAX_CHUNK_TOKENS)?;
    if chunk.overlap_tokens >= chunk.max_tokens {
        return Err(bad(
            "chunk.overlap_tokens",
            format!("{} must be less than chunk.max_tokens ({})", chunk.overlap_tokens, chunk.max_tokens),
        ));
    }
    Ok(())
}

impl EngineConfig {
    /// Check every field; the first problem is the error (an [`Error::InvalidOption`]
    /// naming the field).
    pub fn validate(&self) -> Result<()> {
        in_range("limits.max_document_bytes", self.limits.max_document_bytes, 1, 1 << 30)?;
        in_range("limits.max_id_bytes", self.limits.max_id_bytes, 1, 1 << 16)?;
        in_range("limits.max_chunks_per_document", self.limits.max_chunks_per_document, 1, 1 << 24)?;
        in_range("clean.max_word_chars", self.clean.max_word_chars, 1, 1 << 20)?;
        in_range("clean.max_heading_bytes", self.clean.max_heading_bytes, 1, 1 << 20)?;
        in_range("clean.max_blocks", self.clean.max_blocks, 1, 1 << 24)?;
        in_range("clean.max_nesting_depth", self.clean.max_nesting_depth, 1, 1 << 16)?;
        validate_chunking(&self.chunk)?;
        let t = self.dedup.near_threshold;
        if !(t.is_finite() && t > 0.0 && t <= 1.0) {
            return Err(bad("dedup.near_threshold", format!("{t} is not in (0, 1]")));
        }
        in_range("dedup.shingle_words", self.dedup.shingle_words, 1, 64)?;
        in_range("dense.hnsw_threshold", self.dense.hnsw_threshold, 1, usize::MAX)?;
        in_range("dense.ef_construction", self.dense.ef_construction, 1, 10_000)?;
        in_range("dense.ef_search", self.dense.ef_search, 1, 10_000)?;
        let Bm25Config { k1, b } = self.bm25;
        if !(k1.is_finite() && (0.0..=10.0).contains(&k1)) {
            return Err(bad("bm25.k1", format!("{k1} is not in [0, 10]")));
        }
        if !(b.is_finite() && (0.0..=1.0).contains(&b)) {
            return Err(bad("bm25.b", format!("{b} is not in [0, 1]")));
        }
        in_range("embed_batch", self.embed_batch, 1, MAX_EMBED_BATCH)?;
        in_range("max_query_bytes", self.max_query_bytes, 1, MAX_QUERY_BYTES)?;
        in_range("fusion_candidates", self.fusion_candidates, 1, MAX_FUSION_CANDIDATES)?;
        in_range("sentences.max_per_chunk", self.sentences.max_per_chunk, 1, 1 << 16)?;
        in_range("sentences.max_per_document", self.sentences.max_per_document, 1, 1 << 24)?;
        for (name, p) in [("query_prefix", &self.query_prefix), ("passage_prefix", &self.passage_prefix)] {
            if p.len() > MAX_PREFIX_BYTES {
                return Err(bad(name, format!("{} bytes, more than {MAX_PREFIX_BYTES}", p.len())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_survives_json() {
        let c = EngineConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: EngineConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        // Missing fields take their defaults (old manifests keep loading).
        let partial: EngineConfig = serde_json::from_str(r#"{"embed_batch": 4}"#).unwrap();
        assert_eq!(partial.embed_batch, 4);
        assert_eq!(partial.chunk, ChunkConfig::default());
    }

    #[test]
    fn each_out_of_range_field_is_an_invalid_option_naming_it() {
        let d = EngineConfig::default;
        let cases: Vec<(&str, EngineConfig)> = vec![
            ("chunk.max_tokens", EngineConfig { chunk: ChunkConfig { max_tokens: 1, overlap_tokens: 0 }, ..d() }),
            ("chunk.max_tokens", EngineConfig { chunk: ChunkConfig { max_tokens: 100_000, overlap_tokens: 0 }, ..d() }),
            ("chunk.overlap_tokens", EngineConfig { chunk: ChunkConfig { max_tokens: 64, overlap_tokens: 64 }, ..d() }),
            ("embed_batch", EngineConfig { embed_batch: 0, ..d() }),
            ("max_query_bytes", EngineConfig { max_query_bytes: 0, ..d() }),
            ("fusion_candidates", EngineConfig { fusion_candidates: 0, ..d() }),
            ("bm25.k1", EngineConfig { bm25: Bm25Config { k1: f32::NAN, b: 0.75 }, ..d() }),
            ("bm25.b", EngineConfig { bm25: Bm25Config { k1: 1.2, b: 1.5 }, ..d() }),
            ("dedup.near_threshold", EngineConfig { dedup: DedupConfig { near_threshold: 0.0, ..d().dedup }, ..d() }),
            ("dedup.shingle_words", EngineConfig { dedup: DedupConfig { shingle_words: 0, ..d().dedup }, ..d() }),
            ("dense.ef_search", EngineConfig { dense: DenseConfig { ef_search: 0, ..d().dense }, ..d() }),
            (
                "limits.max_document_bytes",
                EngineConfig { limits: Limits { max_document_bytes: 0, ..d().limits }, ..d() },
            ),
            ("query_prefix", EngineConfig { query_prefix: "q".repeat(MAX_PREFIX_BYTES + 1), ..d() }),
        ];
        for (field, config) in cases {
            match config.validate() {
                Err(Error::InvalidOption { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}

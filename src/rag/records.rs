//! What the engine keeps and reports: document and chunk records (the source of truth
//! an index file stores), search hits, ingest reports, progress and statistics — and
//! the two texts derived from a chunk, for BM25 ([`sparse_text`]) and for duplicate
//! detection ([`dedup_key`]), which indexing and loading must derive identically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::index::ChunkId;
use crate::ingest::Format;
use crate::text::Language;

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
    /// Summary tree: texts (candidate sentences, then summaries) embedded so far for `level`.
    Tree {
        /// The level being built (1 = clusters of chunks).
        level: usize,
        /// Done.
        done: usize,
        /// Total for this level.
        total: usize,
    },
    /// HNSW build: live vectors in HNSW segments so far, of all live vectors.
    Hnsw {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// Summary tree, abstractive build: summaries the generator has written for `level`.
    Summaries {
        /// The level being built.
        level: usize,
        /// Done.
        done: usize,
        /// Nodes of this level.
        total: usize,
    },
}

/// What [`super::Engine::build_hnsw_with`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswReport {
    /// Steps taken (a segment sealed or rebuilt each).
    pub steps: usize,
    /// Vectors those steps put into HNSW segments.
    pub sealed: usize,
    /// Live vectors in HNSW segments now.
    pub hnsw_vectors: usize,
    /// Live vectors scanned exactly now.
    pub flat_vectors: usize,
    /// Stopped between steps on request (what was built stays).
    pub cancelled: bool,
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
    /// Chunk vectors in HNSW segments (built natively by `sotto index` past
    /// `dense.hnsw_threshold`; searched approximately); the others are scanned exactly.
    #[serde(default)]
    pub hnsw_vectors: usize,
    /// The summary tree, if the index has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeStats>,
}

/// The summary tree of an index, in [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeStats {
    /// Summary nodes in all.
    pub nodes: usize,
    /// Summary nodes per level (level 1 first).
    pub nodes_per_level: Vec<usize>,
    /// Whether the summaries were written by a generator (an abstractive build).
    pub abstractive: bool,
    /// The generator that wrote them (abstractive trees only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Nodes whose summary is the generator's (the rest kept their extractive summary).
    pub abstractive_nodes: usize,
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
pub fn sparse_text(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut s = String::new();
    for line in title.into_iter().chain(heading_path.iter().map(String::as_str)) {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(text);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_text_puts_title_and_headings_before_the_text() {
        let path = vec!["Guide".to_owned(), "Profiles".to_owned()];
        assert_eq!(sparse_text(Some("Cargo"), &path, "body"), "Cargo\nGuide\nProfiles\nbody");
        assert_eq!(sparse_text(None, &[], "body"), "body");
    }

    #[test]
    fn dedup_keys_differ_by_heading_path() {
        let a = dedup_key(&["cargo-build".to_owned()], "Common options");
        let b = dedup_key(&["cargo-test".to_owned()], "Common options");
        assert_ne!(a, b);
        assert_eq!(a, dedup_key(&["cargo-build".to_owned()], "Common options"));
    }
}

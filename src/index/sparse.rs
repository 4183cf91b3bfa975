//! BM25 (Robertson & Zaragoza 2009).
//!
//! OWNER: index helper — implement.

use serde::{Deserialize, Serialize};

use super::text::Language;
use super::{ChunkId, Scored};

/// BM25 parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Config {
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalisation (default 0.75).
    pub b: f32,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config { k1: 1.2, b: 0.75 }
    }
}

/// Inverted index with BM25 scoring. Not serialized: rebuilt from chunk texts on load.
#[derive(Debug, Clone, Default)]
pub struct SparseIndex {
    config: Bm25Config,
}

impl SparseIndex {
    /// Empty index.
    pub fn new(config: Bm25Config) -> Self {
        SparseIndex { config }
    }
    /// Index a chunk's text in `lang`.
    pub fn add(&mut self, id: ChunkId, text: &str, lang: Language) {
        let _ = (id, text, lang, &self.config);
    }
    /// Remove a chunk; returns whether it was present.
    pub fn remove(&mut self, id: ChunkId) -> bool {
        let _ = id;
        false
    }
    /// Number of indexed chunks.
    pub fn len(&self) -> usize {
        0
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` best chunks for `query` among those `allow` accepts, best first.
    /// The query is analyzed with every language present in the index.
    pub fn search(&self, query: &str, k: usize, allow: Option<&dyn Fn(ChunkId) -> bool>) -> Vec<Scored> {
        let _ = (query, k, allow);
        Vec::new()
    }
}

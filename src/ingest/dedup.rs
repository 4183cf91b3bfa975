//! Exact (hash of normalised text) and near (MinHash over word shingles) duplicate detection.
//!
//! OWNER: ingest helper — implement.

/// Outcome of a duplicate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupKind {
    /// Not seen before.
    Unique,
    /// Same normalised text as chunk `of`.
    Exact {
        /// Id of the chunk it duplicates.
        of: u32,
    },
    /// Estimated Jaccard similarity with chunk `of` at or above the threshold.
    Near {
        /// Id of the chunk it duplicates.
        of: u32,
    },
}

/// Near-duplicate parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DedupConfig {
    /// Drop exact duplicates (default true).
    pub exact: bool,
    /// Drop near duplicates (default true).
    pub near: bool,
    /// Estimated Jaccard similarity of word shingles at or above which a chunk is a near duplicate (default 0.85).
    pub near_threshold: f32,
    /// Words per shingle (default 5).
    pub shingle_words: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig { exact: true, near: true, near_threshold: 0.85, shingle_words: 5 }
    }
}

/// Remembers the chunks kept so far.
#[derive(Debug, Default, Clone)]
pub struct Deduplicator {
    config: DedupConfig,
}

impl Deduplicator {
    /// Empty deduplicator.
    pub fn new(config: DedupConfig) -> Self {
        Deduplicator { config }
    }
    /// Classify `text` against what was inserted (does not insert).
    pub fn check(&self, text: &str) -> DupKind {
        let _ = (text, &self.config);
        DupKind::Unique
    }
    /// Remember a kept chunk.
    pub fn insert(&mut self, id: u32, text: &str) {
        let _ = (id, text);
    }
    /// Forget a chunk (its document was deleted or replaced).
    pub fn remove(&mut self, id: u32) {
        let _ = id;
    }
}

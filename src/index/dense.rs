//! Dense vector index in segments: exact-scan segments and HNSW segments.
//!
//! OWNER: index helper — implement.

use serde::{Deserialize, Serialize};

use super::{ChunkId, Scored};
use crate::error::Result;

/// Dense index parameters (names follow Malkov & Yashunin 2016).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseConfig {
    /// A flat segment with at least this many live vectors is turned into an HNSW
    /// segment by [`DenseIndex::build_hnsw`] (default: chosen from the benchmark).
    pub hnsw_threshold: usize,
    /// HNSW construction beam width.
    pub ef_construction: usize,
    /// HNSW search beam width.
    pub ef_search: usize,
    /// Seed for HNSW level assignment.
    pub seed: u64,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig { hnsw_threshold: 20_000, ef_construction: 100, ef_search: 100, seed: 0x5077_0001 }
    }
}

/// Segmented dense index over unit vectors; score = dot product (cosine).
#[derive(Debug, Clone)]
pub struct DenseIndex {
    dim: usize,
    config: DenseConfig,
}

impl DenseIndex {
    /// Empty index for vectors of dimension `dim`.
    pub fn new(dim: usize, config: DenseConfig) -> Self {
        DenseIndex { dim, config }
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Parameters.
    pub fn config(&self) -> &DenseConfig {
        &self.config
    }
    /// Add a vector (errors on a dimension mismatch).
    pub fn add(&mut self, id: ChunkId, vector: &[f32]) -> Result<()> {
        let _ = (id, vector);
        Ok(())
    }
    /// Tombstone a vector; returns whether it was present.
    pub fn remove(&mut self, id: ChunkId) -> bool {
        let _ = id;
        false
    }
    /// Number of live vectors.
    pub fn len(&self) -> usize {
        0
    }
    /// Whether there are no live vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` best live vectors for `query` among those `allow` accepts, best first.
    pub fn search(&self, query: &[f32], k: usize, allow: Option<&dyn Fn(ChunkId) -> bool>) -> Result<Vec<Scored>> {
        let _ = (query, k, allow);
        Ok(Vec::new())
    }
    /// Turn flat segments past the threshold into HNSW segments and purge tombstones.
    pub fn build_hnsw(&mut self) {}
    /// Serialize (segments, tombstones, HNSW graphs).
    pub fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
    /// Deserialize what [`DenseIndex::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let _ = bytes;
        Ok(DenseIndex::new(0, DenseConfig::default()))
    }
}

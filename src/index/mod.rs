//! Stage 3 — indexes: dense (exact-scan + HNSW segments), sparse (BM25), fusion, int8
//! sentence vectors, and the versioned on-disk format.

pub mod dense;
pub mod format;
pub mod fusion;
pub mod pack;
pub mod sentences;
pub mod shards;
pub mod sparse;
pub mod text;
pub mod tree;

/// Internal chunk id (assigned by the engine, never reused within an index).
pub type ChunkId = u32;

/// A scored hit from one index: `(chunk id, score)`, higher is better.
pub type Scored = (ChunkId, f32);

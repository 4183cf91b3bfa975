//! Token-aware chunking along headings → paragraphs → sentences.
//!
//! OWNER: ingest helper — implement `chunk`.

use serde::{Deserialize, Serialize};

use super::clean::CleanedDoc;

/// Counts tokens the way the embedder will (its tokenizer, without special tokens).
pub trait TokenCounter {
    /// Number of tokens of `text`.
    fn count_tokens(&self, text: &str) -> usize;
}

/// Chunking parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Upper bound of tokens per chunk, including the heading header line (default 256).
    pub max_tokens: usize,
    /// Tokens of the previous chunk repeated at the start of the next one (default 32).
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { max_tokens: 256, overlap_tokens: 32 }
    }
}

/// A chunk of cleaned text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Byte offset of the chunk start in the cleaned text.
    pub start: usize,
    /// Byte offset one past the chunk end; `text == cleaned.text[start..end]`.
    pub end: usize,
    /// The chunk text.
    pub text: String,
    /// Headings enclosing the chunk's first block, outermost first.
    pub heading_path: Vec<String>,
}

/// Split a cleaned document into chunks.
pub fn chunk(doc: &CleanedDoc, config: &ChunkConfig, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let _ = (doc, config, counter);
    Vec::new()
}

//! Stage 2 — sentence embeddings.
//!
//! [`Embedder`] turns texts into L2-normalised vectors. [`bert::BertEmbedder`] runs any
//! BERT-family sentence encoder (all-MiniLM-L6-v2, bge-small, e5-small, multilingual
//! MiniLM) from safetensors + tokenizer.json + config.json bytes through candle.
//! [`hashing::HashEmbedder`] is a model-free feature-hashing embedder for tests and
//! for pages that want lexical-only search without downloading weights.

pub mod bert;
mod encoder;
pub mod hashing;
pub mod kernels;
pub mod pooling;
pub use encoder::Quantize;
#[doc(hidden)]
pub mod testing;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::text::TokenCounter;

/// Identity of an embedder, recorded in index manifests so an index is never
/// queried with vectors from a different model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderInfo {
    /// Human name, e.g. `all-MiniLM-L6-v2`.
    pub name: String,
    /// Output dimension.
    pub dim: usize,
    /// Longest input in tokens (longer inputs are truncated).
    pub max_tokens: usize,
    /// Hex SHA-256 of the weights bytes.
    pub weights_sha256: String,
    /// Hex SHA-256 of the tokenizer bytes.
    pub tokenizer_sha256: String,
}

/// A sentence embedder.
pub trait Embedder: TokenCounter + Send + Sync {
    /// Identity and shape.
    fn info(&self) -> &EmbedderInfo;
    /// Embed a batch; one L2-normalised vector of `info().dim` per input, in order.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Embed one text.
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_batch(&[text])?.pop().unwrap_or_default())
    }
    /// The pooled vectors before L2 normalisation (what `normalize: false` asks for in
    /// the building-block API). The default is [`Embedder::embed_batch`], for embedders
    /// whose vectors have no other form (feature hashing normalises by construction).
    fn embed_batch_pooled(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_batch(texts)
    }
    /// Weight precision of the model (not part of [`EmbedderInfo`]: int8 vectors are close
    /// enough to f32 ones that an index built with either answers queries from the other).
    fn quantize(&self) -> Quantize {
        Quantize::None
    }
}

/// Hex-encoded SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

//! BERT-family sentence encoders through `candle-transformers`.
//!
//! OWNER: embed helper — implement `BertEmbedder`.

use super::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::ingest::chunk::TokenCounter;

/// A BERT-family sentence encoder loaded from bytes.
pub struct BertEmbedder {
    info: EmbedderInfo,
}

impl BertEmbedder {
    /// Load from `model.safetensors`, `tokenizer.json` and `config.json` bytes.
    /// `name` is recorded in index manifests.
    pub fn from_bytes(name: &str, weights: &[u8], tokenizer_json: &[u8], config_json: &[u8]) -> Result<Self> {
        let _ = (name, weights, tokenizer_json, config_json);
        Err(Error::model("bert", "not implemented yet"))
    }
}

impl TokenCounter for BertEmbedder {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Embedder for BertEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let _ = texts;
        Err(Error::model("bert", "not implemented yet"))
    }
}

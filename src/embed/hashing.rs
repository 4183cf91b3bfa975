//! A model-free embedder: feature hashing of lower-cased word unigrams and bigrams
//! into `dim` buckets with signed hashes (Weinberger et al. 2009), L2-normalised.
//! Deterministic, instant, no download — used by unit tests and as a lexical-only
//! fallback. Not a semantic model.

use super::{Embedder, EmbedderInfo};
use crate::error::Result;
use crate::text::TokenCounter;

/// Feature-hashing embedder.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    info: EmbedderInfo,
}

impl HashEmbedder {
    /// A hashing embedder of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        HashEmbedder {
            info: EmbedderInfo {
                name: format!("hashing-{dim}"),
                dim,
                max_tokens: 512,
                weights_sha256: String::new(),
                tokenizer_sha256: String::new(),
            },
        }
    }
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl TokenCounter for HashEmbedder {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Embedder for HashEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let dim = self.info.dim;
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; dim];
                let words: Vec<String> = t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| w.to_lowercase())
                    .collect();
                let mut add = |feat: &str| {
                    let h = fnv1a(feat);
                    let i = (h % dim as u64) as usize;
                    v[i] += if (h >> 63) == 0 { 1.0 } else { -1.0 };
                };
                for w in &words {
                    add(w);
                }
                for pair in words.windows(2) {
                    add(&format!("{} {}", pair[0], pair[1]));
                }
                super::pooling::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

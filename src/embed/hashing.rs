//! A model-free embedder: feature hashing of lower-cased word unigrams and bigrams
//! into `dim` buckets with signed hashes (Weinberger et al. 2009), L2-normalised.
//! Deterministic, instant, no download — used by unit tests and as a lexical-only
//! fallback. Not a semantic model.

use super::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::text::TokenCounter;

/// Feature-hashing embedder.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    info: EmbedderInfo,
}

/// Largest dimension [`HashEmbedder::try_new`] accepts (65 536, the largest the dense
/// index loads).
pub const MAX_HASH_DIM: usize = 1 << 16;

impl HashEmbedder {
    /// A hashing embedder of dimension `dim`, or [`Error::InvalidOption`] ("dim") when
    /// `dim` is 0 or above [`MAX_HASH_DIM`].
    pub fn try_new(dim: usize) -> Result<Self> {
        if dim == 0 || dim > MAX_HASH_DIM {
            return Err(Error::InvalidOption {
                name: "dim",
                detail: format!("hashing embedder dimension must be 1 to {MAX_HASH_DIM}, got {dim}"),
            });
        }
        Ok(Self::new(dim))
    }

    /// A hashing embedder of dimension `dim`. Prefer [`try_new`](Self::try_new) for
    /// untrusted `dim`: with `dim` 0 every [`Embedder::embed_batch`] call is an error.
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
        if dim == 0 {
            // `h % dim` below would divide by zero.
            return Err(Error::InvalidOption { name: "dim", detail: "hashing embedder of dimension 0".into() });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_zero_is_an_error_not_a_division_by_zero() {
        assert!(matches!(HashEmbedder::try_new(0), Err(Error::InvalidOption { name: "dim", .. })));
        assert!(matches!(HashEmbedder::try_new(MAX_HASH_DIM + 1), Err(Error::InvalidOption { name: "dim", .. })));
        let e = HashEmbedder::new(0);
        assert!(matches!(e.embed_batch(&["some text"]), Err(Error::InvalidOption { name: "dim", .. })));
        let e = HashEmbedder::try_new(8).unwrap();
        let v = e.embed_batch(&["some text", ""]).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].len(), 8);
        assert!((v[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

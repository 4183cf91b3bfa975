//! Turning a transformer's per-token states into one sentence vector.
//!
//! Sentence-BERT (Reimers & Gurevych 2019) found that averaging the token states
//! beats taking the `[CLS]` state for models fine-tuned as sentence encoders, and
//! all-MiniLM-L6-v2 and e5 were trained that way. The average must be weighted by
//! the attention mask: in a padded batch the states at padding positions are not
//! meaningful, and including them would make a text's vector depend on the other
//! texts of its batch. bge models were trained with `[CLS]` pooling instead, so the
//! mode is an option, read from sentence-transformers' `1_Pooling/config.json`
//! when a model ships one. Vectors are then scaled to unit length so the dot
//! product is the cosine similarity.

use candle_core::{DType, IndexOp, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How token states become a sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Average of the token states weighted by the attention mask (padding excluded).
    /// The default; what all-MiniLM-L6-v2, e5 and multilingual MiniLM use.
    #[default]
    Mean,
    /// The state of the first token (`[CLS]`); what bge models use.
    Cls,
}

#[derive(Deserialize)]
struct StPoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl Pooling {
    /// Read the mode from sentence-transformers' `1_Pooling/config.json`.
    ///
    /// Exactly one of `pooling_mode_mean_tokens` / `pooling_mode_cls_token` must be
    /// set; other modes (max, mean-sqrt-len, weighted mean, last token, or several
    /// concatenated) are reported as [`Error::ModelFormat`].
    pub fn from_sentence_transformers_config(json: &[u8]) -> Result<Pooling> {
        const WHAT: &str = "1_Pooling/config.json";
        let c: StPoolingConfig = serde_json::from_slice(json).map_err(|e| Error::model(WHAT, e))?;
        let unsupported = c.pooling_mode_max_tokens
            || c.pooling_mode_mean_sqrt_len_tokens
            || c.pooling_mode_weightedmean_tokens
            || c.pooling_mode_lasttoken;
        match (c.pooling_mode_mean_tokens, c.pooling_mode_cls_token, unsupported) {
            (true, false, false) => Ok(Pooling::Mean),
            (false, true, false) => Ok(Pooling::Cls),
            _ => Err(Error::model(WHAT, "only one of pooling_mode_mean_tokens or pooling_mode_cls_token is supported")),
        }
    }

    /// Pool `hidden` (`[batch, seq, dim]`) with `mask` (`[batch, seq]`, 1 for real
    /// tokens, 0 for padding, any numeric dtype) into `[batch, dim]` f32.
    ///
    /// Mean pooling divides by the number of real tokens, clamped to at least 1e-9
    /// as sentence-transformers does, so an all-padding row yields a zero vector.
    pub fn pool(self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = hidden.to_dtype(DType::F32)?;
        match self {
            Pooling::Cls => Ok(hidden.i((.., 0))?.contiguous()?),
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?; // [b, s, 1]
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // [b, d]
                let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // [b, 1]
                Ok(summed.broadcast_div(&counts)?)
            }
        }
    }
}

impl Pooling {
    /// Pool the hidden states of one sequence without padding (`rows`: its tokens' states,
    /// `dim` each) into one vector: their mean, or the first row. No rows pool to zeros.
    pub fn pool_rows(self, rows: &[f32], dim: usize) -> Vec<f32> {
        let mut out = vec![0f32; dim];
        let n = rows.len() / dim.max(1);
        if n == 0 {
            return out;
        }
        match self {
            Pooling::Cls => out.copy_from_slice(&rows[..dim]),
            Pooling::Mean => {
                for r in rows.chunks_exact(dim) {
                    for (o, x) in out.iter_mut().zip(r) {
                        *o += x;
                    }
                }
                let inv = 1.0 / n as f32;
                out.iter_mut().for_each(|o| *o *= inv);
            }
        }
        out
    }
}

/// Scale `v` to unit L2 norm in place (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2::<f32>().unwrap()
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        // Row 0: two real tokens then a padding token holding a huge value.
        // Row 1: three real tokens.
        let hidden =
            Tensor::new(&[[[1f32, 2.], [3., 4.], [1000., -1000.]], [[1., 1.], [2., 2.], [3., 3.]]], &Device::Cpu)
                .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let pooled = rows(&Pooling::Mean.pool(&hidden, &mask).unwrap());
        assert_eq!(pooled, vec![vec![2.0, 3.0], vec![2.0, 2.0]]);
    }

    #[test]
    fn all_padding_row_is_zero_not_nan() {
        let hidden = Tensor::new(&[[[5f32, 5.], [6., 6.]]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[0u32, 0]], &Device::Cpu).unwrap();
        let mut v = rows(&Pooling::Mean.pool(&hidden, &mask).unwrap()).remove(0);
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.0, 0.0]);
    }

    #[test]
    fn cls_pooling_takes_first_token() {
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.]], [[5., 6.], [7., 8.]]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 0], [1, 1]], &Device::Cpu).unwrap();
        assert_eq!(rows(&Pooling::Cls.pool(&hidden, &mask).unwrap()), vec![vec![1., 2.], vec![5., 6.]]);
    }

    #[test]
    fn l2_normalize_gives_unit_norm() {
        let mut v = vec![3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn reads_sentence_transformers_pooling_config() {
        let mean = br#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
            "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false}"#;
        assert_eq!(Pooling::from_sentence_transformers_config(mean).unwrap(), Pooling::Mean);
        let cls = br#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#;
        assert_eq!(Pooling::from_sentence_transformers_config(cls).unwrap(), Pooling::Cls);
        for bad in [
            &br#"{"pooling_mode_max_tokens": true}"#[..],
            br#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
            br#"{}"#,
            b"\xff not json",
        ] {
            match Pooling::from_sentence_transformers_config(bad) {
                Err(Error::ModelFormat { what, .. }) => assert_eq!(what, "1_Pooling/config.json"),
                other => panic!("expected ModelFormat, got {other:?}"),
            }
        }
    }
}

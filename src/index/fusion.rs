//! Rank fusion: reciprocal rank fusion (Cormack, Clarke & Büttcher 2009) and a
//! convex combination of min-max normalised scores.
//!
//! OWNER: index helper — implement.

use serde::{Deserialize, Serialize};

use super::Scored;

/// How hybrid results are fused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fusion {
    /// score = Σ 1 / (rrf_k + rank), rank 1-based. Default `rrf_k` = 60.
    Rrf {
        /// The RRF constant.
        rrf_k: f32,
    },
    /// score = alpha · norm(dense) + (1 − alpha) · norm(sparse), min-max normalised per list.
    Weighted {
        /// Weight of the dense list in [0, 1].
        alpha: f32,
    },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Rrf { rrf_k: 60.0 }
    }
}

/// Fuse a dense and a sparse list (each best first) into at most `k` unique ids, best first.
pub fn fuse(fusion: Fusion, dense: &[Scored], sparse: &[Scored], k: usize) -> Vec<Scored> {
    let _ = (fusion, sparse);
    dense.iter().take(k).copied().collect()
}

//! Rank fusion of the dense and the sparse result lists.
//!
//! - **Reciprocal rank fusion** (Cormack, Clarke & Büttcher 2009, "Reciprocal Rank
//!   Fusion outperforms Condorcet and individual Rank Learning Methods"):
//!   `score(d) = Σ_lists 1 / (rrf_k + rank(d))` with 1-based ranks and `rrf_k` = 60,
//!   the paper's constant. It needs no score calibration, which is why it is the
//!   default: cosine similarities and BM25 scores live on unrelated scales.
//! - **Weighted** convex combination: each list is min-max normalised to [0, 1]
//!   (a list whose scores are all equal normalises to 1.0, so a single hit counts
//!   fully), a document missing from a list gets 0 there, and
//!   `score = alpha · dense + (1 − alpha) · sparse`.
//!
//! Both keep the first (best) occurrence of an id within a list, return unique ids
//! sorted by fused score descending (ties by ascending id, so results are
//! deterministic), and at most `k` of them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{ChunkId, Scored};

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
    if k == 0 {
        return Vec::new();
    }
    let mut acc: HashMap<ChunkId, f32> = HashMap::with_capacity(dense.len() + sparse.len());
    match fusion {
        Fusion::Rrf { rrf_k } => {
            for list in [dense, sparse] {
                for (rank0, &id) in unique_ids(list).iter().enumerate() {
                    *acc.entry(id).or_insert(0.0) += 1.0 / (rrf_k + (rank0 + 1) as f32);
                }
            }
        }
        Fusion::Weighted { alpha } => {
            for (list, weight) in [(dense, alpha), (sparse, 1.0 - alpha)] {
                for (id, norm) in min_max(list) {
                    *acc.entry(id).or_insert(0.0) += weight * norm;
                }
            }
        }
    }
    let mut out: Vec<Scored> = acc.into_iter().collect();
    sort_scored(&mut out);
    out.truncate(k);
    out
}

/// Reciprocal rank fusion of several lists, each with a weight:
/// `score(d) = Σ_lists w · 1 / (rrf_k + rank(d))` (1-based ranks, first occurrence in a
/// list). With every weight 1 and two lists it is [`fuse`] with [`Fusion::Rrf`]. Used by
/// query translation to fuse a question's lists with its variants', the question
/// weighted first. Non-finite or negative weights count as 0; unique ids, best first,
/// at most `k`.
pub fn rrf_weighted(lists: &[(&[Scored], f32)], rrf_k: f32, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let mut acc: HashMap<ChunkId, f32> = HashMap::new();
    for &(list, w) in lists {
        let w = if w.is_finite() && w > 0.0 { w } else { 0.0 };
        for (rank0, &id) in unique_ids(list).iter().enumerate() {
            *acc.entry(id).or_insert(0.0) += w / (rrf_k + (rank0 + 1) as f32);
        }
    }
    let mut out: Vec<Scored> = acc.into_iter().collect();
    sort_scored(&mut out);
    out.truncate(k);
    out
}

/// Sort best first: score descending (total order, so NaN cannot panic), then id ascending.
pub fn sort_scored(hits: &mut [Scored]) {
    hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// The ids of `list` in order, first occurrence only.
fn unique_ids(list: &[Scored]) -> Vec<ChunkId> {
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    list.iter().filter(|(id, _)| seen.insert(*id)).map(|&(id, _)| id).collect()
}

/// Min-max normalised scores of the first occurrence of each id. Non-finite scores
/// count as the list minimum; an all-equal list normalises to 1.0.
fn min_max(list: &[Scored]) -> Vec<(ChunkId, f32)> {
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    let first: Vec<Scored> = list.iter().copied().filter(|(id, _)| seen.insert(*id)).collect();
    let finite = first.iter().map(|&(_, s)| s).filter(|s| s.is_finite());
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let range = hi - lo;
    first
        .into_iter()
        .map(|(id, s)| {
            let norm = if !s.is_finite() {
                0.0
            } else if range > 0.0 && range.is_finite() {
                (s - lo) / range
            } else {
                1.0
            };
            (id, norm)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn weighted_rrf_reduces_to_rrf_and_weighs_lists() {
        let dense = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let sparse = [(3, 12.0), (4, 3.0)];
        let plain = fuse(Fusion::default(), &dense, &sparse, 10);
        assert_eq!(rrf_weighted(&[(&dense, 1.0), (&sparse, 1.0)], 60.0, 10), plain);
        // A variant list at half weight lifts 4 (1/62 + 0.5/61) above 1 (1/61), not above 3.
        let variant = [(4, 1.0)];
        let out = rrf_weighted(&[(&dense, 1.0), (&sparse, 1.0), (&variant, 0.5)], 60.0, 10);
        let s4 = 1.0 / 62.0 + 0.5 / 61.0;
        assert!(out.iter().any(|&(id, s)| id == 4 && close(s, s4)));
        assert_eq!(out.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 4, 1, 2]);
        assert!(rrf_weighted(&[(&dense, f32::NAN)], 60.0, 10).iter().all(|&(_, s)| s == 0.0));
        assert!(rrf_weighted(&[(&dense, 1.0)], 60.0, 0).is_empty());
    }

    #[test]
    fn rrf_hand_computed() {
        // dense: 1, 2, 3; sparse: 3, 4.
        let dense = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let sparse = [(3, 12.0), (4, 3.0)];
        let out = fuse(Fusion::default(), &dense, &sparse, 10);
        let s3 = 1.0 / 63.0 + 1.0 / 61.0;
        // 2 and 4 tie at 1/62: ascending id breaks the tie.
        let expect = [(3, s3), (1, 1.0 / 61.0), (2, 1.0 / 62.0), (4, 1.0 / 62.0)];
        assert_eq!(out.len(), 4);
        for (got, want) in out.iter().zip(expect) {
            assert_eq!(got.0, want.0);
            assert!(close(got.1, want.1), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn weighted_hand_computed() {
        let dense = [(1, 0.9), (2, 0.5), (3, 0.1)];
        let sparse = [(3, 10.0), (4, 5.0), (5, 0.0)];
        let out = fuse(Fusion::Weighted { alpha: 0.5 }, &dense, &sparse, 3);
        // dense norm: 1→1, 2→0.5, 3→0; sparse norm: 3→1, 4→0.5, 5→0.
        // fused: 1→0.5, 2→0.25, 3→0.5, 4→0.25, 5→0.
        let ids: Vec<_> = out.iter().map(|h| h.0).collect();
        assert_eq!(ids, [1, 3, 2]);
        assert!(close(out[0].1, 0.5) && close(out[1].1, 0.5) && close(out[2].1, 0.25));
    }

    #[test]
    fn weighted_all_equal_normalises_to_one() {
        let out = fuse(Fusion::Weighted { alpha: 0.25 }, &[(7, 0.3), (8, 0.3)], &[(9, 2.0)], 5);
        assert_eq!(out, vec![(9, 0.75), (7, 0.25), (8, 0.25)]);
    }

    #[test]
    fn k_zero_empty_inputs_and_duplicates() {
        assert!(fuse(Fusion::default(), &[(1, 1.0)], &[], 0).is_empty());
        assert!(fuse(Fusion::default(), &[], &[], 5).is_empty());
        // A duplicate within one list counts once, at its best rank.
        let out = fuse(Fusion::default(), &[(1, 0.9), (1, 0.1), (2, 0.05)], &[], 5);
        assert_eq!(out.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
        assert!(close(out[1].1, 1.0 / 62.0));
    }

    #[test]
    fn non_finite_scores_do_not_panic() {
        let out = fuse(Fusion::Weighted { alpha: 0.5 }, &[(1, f32::NAN), (2, 1.0)], &[(3, f32::INFINITY)], 5);
        assert_eq!(out.len(), 3);
    }

    fn list() -> impl Strategy<Value = Vec<Scored>> {
        prop::collection::vec((0u32..40, -10.0f32..10.0), 0..30)
    }

    fn fusion() -> impl Strategy<Value = Fusion> {
        prop_oneof![
            (1.0f32..100.0).prop_map(|rrf_k| Fusion::Rrf { rrf_k }),
            (0.0f32..=1.0).prop_map(|alpha| Fusion::Weighted { alpha }),
        ]
    }

    proptest! {
        #[test]
        fn fused_is_sorted_unique_bounded_and_from_inputs(f in fusion(), dense in list(), sparse in list(), k in 0usize..50) {
            let out = fuse(f, &dense, &sparse, k);
            prop_assert!(out.len() <= k);
            for w in out.windows(2) {
                prop_assert!(w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0), "{:?}", w);
            }
            let ids: std::collections::HashSet<_> = out.iter().map(|h| h.0).collect();
            prop_assert_eq!(ids.len(), out.len());
            for (id, _) in &out {
                prop_assert!(dense.iter().chain(&sparse).any(|h| h.0 == *id));
            }
            // Every input id is output when k is large enough.
            let all: std::collections::HashSet<_> = dense.iter().chain(&sparse).map(|h| h.0).collect();
            prop_assert_eq!(out.len(), k.min(all.len()));
        }
    }
}

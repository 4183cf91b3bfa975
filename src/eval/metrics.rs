//! Ranking metrics over binary relevance (Manning, Raghavan & Schütze 2008, ch. 8;
//! nDCG: Järvelin & Kekäläinen 2002).
//!
//! Every function takes the ranked list as booleans (`true` = relevant at that rank)
//! plus, where needed, the number of relevant items that exist. Conventions:
//! empty rankings score 0; a query with no relevant item scores 0 for recall and
//! nDCG (it cannot be satisfied) rather than dividing by zero.

/// 1 if a relevant item is in the first `k`, else 0.
pub fn hit_at_k(rels: &[bool], k: usize) -> f64 {
    if rels.iter().take(k).any(|&r| r) {
        1.0
    } else {
        0.0
    }
}

/// Relevant items in the first `k` divided by `k` (a short list still divides by `k`).
pub fn precision_at_k(rels: &[bool], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    rels.iter().take(k).filter(|&&r| r).count() as f64 / k as f64
}

/// Relevant items in the first `k` divided by all relevant items that exist.
pub fn recall_at_k(rels: &[bool], k: usize, total_relevant: usize) -> f64 {
    if total_relevant == 0 {
        return 0.0;
    }
    rels.iter().take(k).filter(|&&r| r).count() as f64 / total_relevant as f64
}

/// Reciprocal rank of the first relevant item within the first `k` (0 if none).
pub fn reciprocal_rank(rels: &[bool], k: usize) -> f64 {
    rels.iter().take(k).position(|&r| r).map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// Normalised discounted cumulative gain at `k` with binary gains:
/// DCG = Σ rel_i / log2(i + 1) over ranks i = 1..k, divided by the DCG of an ideal
/// ranking of `min(total_relevant, k)` relevant items.
pub fn ndcg_at_k(rels: &[bool], k: usize, total_relevant: usize) -> f64 {
    let dcg: f64 = rels
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, &r)| r)
        .map(|(i, _)| 1.0 / ((i as f64) + 2.0).log2())
        .sum();
    let ideal: f64 = (0..total_relevant.min(k)).map(|i| 1.0 / ((i as f64) + 2.0).log2()).sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

/// Rank (1-based) of the first relevant item, if any.
pub fn first_relevant_rank(rels: &[bool]) -> Option<usize> {
    rels.iter().position(|&r| r).map(|i| i + 1)
}

/// Percentile by nearest rank (`p` in 0..=100) of unsorted samples; `None` if empty.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hand_computed_values() {
        let r = [F, T, F, T, F];
        assert_eq!(hit_at_k(&r, 1), 0.0);
        assert_eq!(hit_at_k(&r, 2), 1.0);
        assert!(close(precision_at_k(&r, 5), 0.4));
        assert!(close(recall_at_k(&r, 2, 4), 0.25));
        assert!(close(reciprocal_rank(&r, 10), 0.5));
        // DCG = 1/log2(3) + 1/log2(5) = 0.6309298 + 0.4306766; IDCG(2) = 1 + 0.6309298
        let expected = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!(close(ndcg_at_k(&r, 10, 2), expected));
        assert_eq!(first_relevant_rank(&r), Some(2));
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        assert_eq!(hit_at_k(&[], 5), 0.0);
        assert_eq!(precision_at_k(&[], 5), 0.0);
        assert_eq!(precision_at_k(&[T], 0), 0.0);
        assert_eq!(recall_at_k(&[T], 5, 0), 0.0);
        assert_eq!(reciprocal_rank(&[], 10), 0.0);
        assert_eq!(ndcg_at_k(&[], 10, 3), 0.0);
        assert_eq!(ndcg_at_k(&[T, T], 10, 0), 0.0);
        assert_eq!(first_relevant_rank(&[F, F]), None);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn perfect_ranking_has_ndcg_one_and_short_lists_divide_by_k() {
        assert!(close(ndcg_at_k(&[T, T, F], 10, 2), 1.0));
        assert!(close(precision_at_k(&[T], 5), 0.2));
        // Ties in relevance do not matter: any order of two relevant items at the top is ideal.
        assert!(close(ndcg_at_k(&[T, T], 2, 5), 1.0));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&s, 50.0), Some(3.0));
        assert_eq!(percentile(&s, 95.0), Some(5.0));
        assert_eq!(percentile(&s, 0.0), Some(1.0));
        assert_eq!(percentile(&s, 100.0), Some(5.0));
    }
}

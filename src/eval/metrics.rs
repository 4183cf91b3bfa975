//! Ranking metrics over binary relevance (Manning, Raghavan & Schütze 2008, ch. 8;
//! nDCG: Järvelin & Kekäläinen 2002).
//!
//! Every function takes the ranked list as booleans (`true` = relevant at that rank)
//! plus, where needed, the number of relevant items that exist. Conventions:
//! empty rankings score 0; a query with no relevant item scores 0 for recall and
//! nDCG (it cannot be satisfied) rather than dividing by zero.
//!
//! Answer metrics follow SQuAD (Rajpurkar et al. 2016) and its official script:
//! answers are normalised (lower-case, punctuation and the articles *a*, *an*, *the*
//! removed, whitespace collapsed) before exact match and bag-of-tokens F1, and a
//! prediction is scored against its best-matching gold answer. One deviation:
//! punctuation is every character that is neither alphanumeric nor whitespace, not
//! only ASCII punctuation, so typographic quotes and dashes do not count as tokens.
//! Citation precision follows the attribution idea of ALCE (Gao et al. 2023): the
//! share of cited sources that actually support the answer, approximated here by
//! "belongs to a relevant document or contains a gold answer".

use std::collections::HashMap;

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
    let dcg: f64 =
        rels.iter().take(k).enumerate().filter(|(_, &r)| r).map(|(i, _)| 1.0 / ((i as f64) + 2.0).log2()).sum();
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

/// SQuAD normalisation: lower-case, punctuation removed, articles removed, whitespace
/// collapsed. Returns the tokens.
pub fn normalize_answer(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let no_punct: String =
        lowered.chars().map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' }).collect();
    no_punct.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).map(str::to_owned).collect()
}

/// 1 if the normalised prediction equals the normalised gold answer, else 0.
pub fn exact_match(prediction: &str, gold: &str) -> f64 {
    if normalize_answer(prediction) == normalize_answer(gold) {
        1.0
    } else {
        0.0
    }
}

/// Token F1 between a prediction and one gold answer (SQuAD): the harmonic mean of
/// precision and recall of the shared tokens (a multiset intersection). When either
/// side normalises to no token, F1 is 1 if both do and 0 otherwise.
pub fn token_f1(prediction: &str, gold: &str) -> f64 {
    let p = normalize_answer(prediction);
    let g = normalize_answer(gold);
    if p.is_empty() || g.is_empty() {
        return if p == g { 1.0 } else { 0.0 };
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t.as_str()).or_insert(0) += 1;
    }
    let mut same = 0usize;
    for t in &p {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / p.len() as f64;
    let recall = same as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Best score of `prediction` over the gold answers; `None` when there is no gold answer.
pub fn best_over_golds(prediction: &str, golds: &[String], metric: fn(&str, &str) -> f64) -> Option<f64> {
    golds.iter().map(|g| metric(prediction, g)).reduce(f64::max)
}

/// Whether `text` contains one of `answers` as a run of whole normalised tokens
/// (so "2021" does not match "20215"). Answers that normalise to nothing never match.
pub fn contains_answer(text: &str, answers: &[String]) -> bool {
    if answers.is_empty() {
        return false;
    }
    let t = normalize_answer(text);
    answers.iter().any(|a| {
        let a = normalize_answer(a);
        !a.is_empty() && t.windows(a.len()).any(|w| w == a.as_slice())
    })
}

/// Rank (1-based) of the first text containing an answer, if any.
pub fn first_answer_rank<'a>(texts: impl IntoIterator<Item = &'a str>, answers: &[String]) -> Option<usize> {
    texts.into_iter().position(|t| contains_answer(t, answers)).map(|i| i + 1)
}

/// Share of citations judged grounded; `None` when there is no citation.
pub fn citation_precision(grounded: &[bool]) -> Option<f64> {
    if grounded.is_empty() {
        None
    } else {
        Some(grounded.iter().filter(|&&g| g).count() as f64 / grounded.len() as f64)
    }
}

/// Share of `true` (e.g. abstentions); 0 for no sample.
pub fn rate(flags: &[bool]) -> f64 {
    if flags.is_empty() {
        0.0
    } else {
        flags.iter().filter(|&&f| f).count() as f64 / flags.len() as f64
    }
}

/// Mean of the present values; `None` when none is present.
pub fn mean_present(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, n) = values.into_iter().flatten().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        None
    } else {
        Some(sum / n as f64)
    }
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

    #[test]
    fn squad_normalisation() {
        assert_eq!(normalize_answer("The  Cargo.lock, file!"), ["cargo", "lock", "file"]);
        assert_eq!(normalize_answer("An apple a day"), ["apple", "day"]);
        assert_eq!(normalize_answer("“Quoted” — dash"), ["quoted", "dash"]);
        assert!(normalize_answer("the a an ...").is_empty());
    }

    #[test]
    fn exact_match_and_f1_hand_computed() {
        assert_eq!(exact_match("The Cargo.lock", "cargo lock"), 1.0);
        assert_eq!(exact_match("Cargo.lock file", "Cargo.lock"), 0.0);
        // pred [cargo, lock, records, versions], gold [cargo, lock]: P = 2/4, R = 2/2, F1 = 2/3.
        assert!(close(token_f1("Cargo.lock records versions", "the Cargo.lock"), 2.0 / 3.0));
        // Repeated tokens count once per occurrence: pred [x x x] vs gold [x]: P = 1/3, R = 1, F1 = 0.5.
        assert!(close(token_f1("x x x", "x"), 0.5));
        assert_eq!(token_f1("nothing shared", "cargo"), 0.0);
        // Empty after normalisation: equal iff both empty.
        assert_eq!(token_f1("", "the"), 1.0);
        assert_eq!(token_f1("", "cargo"), 0.0);
        assert_eq!(token_f1("cargo", ""), 0.0);
    }

    #[test]
    fn best_over_golds_takes_the_max_and_handles_ties_and_empty() {
        let golds = vec!["cargo build".to_string(), "cargo".to_string()];
        assert_eq!(best_over_golds("cargo", &golds, exact_match), Some(1.0));
        // F1 with "cargo build" = 2/3, with "cargo" = 1: the max wins.
        assert_eq!(best_over_golds("cargo", &golds, token_f1), Some(1.0));
        // Two golds giving the same score: the value, not the choice, matters.
        let tie = vec!["rust".to_string(), "crate".to_string()];
        assert!(close(best_over_golds("rust crate", &tie, token_f1).unwrap(), 2.0 / 3.0));
        assert_eq!(best_over_golds("cargo", &[], token_f1), None);
    }

    #[test]
    fn containment_on_token_boundaries() {
        let answers = vec!["Cargo.lock".to_string(), "2021".to_string()];
        assert!(contains_answer("Commit the cargo.lock file.", &answers));
        assert!(contains_answer("edition = \"2021\"", &answers));
        assert!(!contains_answer("edition 20215", &answers));
        assert!(!contains_answer("anything", &[]));
        assert!(!contains_answer("the end", &["The".to_string()]));
        assert_eq!(first_answer_rank(["no", "still no", "cargo.lock here", "cargo.lock"], &answers), Some(3));
        assert_eq!(first_answer_rank([], &answers), None);
    }

    #[test]
    fn citation_precision_rate_and_means() {
        assert_eq!(citation_precision(&[]), None);
        assert_eq!(citation_precision(&[true, false, true, true]), Some(0.75));
        assert_eq!(rate(&[]), 0.0);
        assert!(close(rate(&[true, false, false]), 1.0 / 3.0));
        assert_eq!(mean_present([None, Some(1.0), Some(0.0), None]), Some(0.5));
        assert_eq!(mean_present([None, None]), None);
    }
}

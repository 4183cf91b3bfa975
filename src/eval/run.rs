//! Running a dataset against an [`Engine`] and aggregating metrics.
//!
//! Document-level relevance follows `shared/data/README.md`: a retrieved document is
//! relevant if it is one of the question's `relevant_docs`, and `recall@k` at document
//! level is the share of questions with a relevant document in the top `k` (any one
//! counts), which is what that dataset defines; `full_recall@k` (share of the relevant
//! documents found) is reported beside it. The document ranking is the chunk ranking
//! with later chunks of an already-seen document removed.
//!
//! Chunk-level relevance: a chunk is relevant if its document is relevant and, when the
//! question lists `answers`, it contains one of them (case-insensitive). Recall divides
//! by every relevant chunk in the index.
//!
//! Latency is measured with a caller-supplied clock (milliseconds), since the core
//! has no clock of its own.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::dataset::Question;
use super::metrics::{first_relevant_rank, hit_at_k, ndcg_at_k, percentile, precision_at_k, recall_at_k, reciprocal_rank};
use crate::error::Result;
use crate::rag::{Engine, SearchOptions};

/// Options of an evaluation run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Cut-offs reported for hit/recall/precision (default 1, 3, 5, 10).
    pub ks: Vec<usize>,
    /// Search options (mode, fusion, filters); `k` is overridden by the run.
    pub search: SearchOptions,
    /// Chunks retrieved per question (default 30, enough for 10 distinct documents).
    pub chunk_depth: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { ks: vec![1, 3, 5, 10], search: SearchOptions::default(), chunk_depth: 30 }
    }
}

/// Metrics at one level (document or chunk), averaged over questions.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LevelMetrics {
    /// Share of questions with a relevant item in the top k, per k.
    pub hit: BTreeMap<usize, f64>,
    /// Recall@k per k (at document level: any relevant counts, as defined by the dataset).
    pub recall: BTreeMap<usize, f64>,
    /// Share of the relevant items found in the top k, per k.
    pub full_recall: BTreeMap<usize, f64>,
    /// Precision@k per k.
    pub precision: BTreeMap<usize, f64>,
    /// Mean reciprocal rank within the ranking depth.
    pub mrr: f64,
    /// nDCG@10.
    pub ndcg_at_10: f64,
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Summarise samples (all zeros when empty).
    pub fn from_samples(samples: &[f64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: percentile(samples, 50.0).unwrap_or(0.0),
            p95: percentile(samples, 95.0).unwrap_or(0.0),
            p99: percentile(samples, 99.0).unwrap_or(0.0),
            max: samples.iter().copied().fold(f64::MIN, f64::max),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }
}

/// One question's outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuestionResult {
    /// Question id.
    pub id: String,
    /// Question text.
    pub question: String,
    /// Documents retrieved, best first (distinct).
    pub retrieved_docs: Vec<String>,
    /// Rank of the first relevant document, if retrieved.
    pub first_relevant_rank: Option<usize>,
    /// Rank of the first relevant chunk, if retrieved.
    pub first_relevant_chunk_rank: Option<usize>,
    /// Relevant documents that are not in the index at all.
    pub missing_relevant: Vec<String>,
    /// Search latency (ms).
    pub latency_ms: f64,
}

/// Result of evaluating one configuration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    /// Retrieval mode and fusion, for display.
    pub config: String,
    /// Number of questions evaluated.
    pub questions: usize,
    /// Document-level metrics.
    pub doc: LevelMetrics,
    /// Chunk-level metrics.
    pub chunk: LevelMetrics,
    /// Search latency.
    pub latency_ms: Latency,
    /// Per-question outcomes.
    pub per_question: Vec<QuestionResult>,
}

/// Evaluate `questions` on `engine`. `clock` returns milliseconds (monotonic).
pub fn evaluate(engine: &Engine, questions: &[Question], options: &EvalOptions, clock: &dyn Fn() -> f64) -> Result<EvalReport> {
    let ks: Vec<usize> = options.ks.iter().copied().filter(|&k| k > 0).collect();
    let mut search = options.search.clone();
    search.k = options.chunk_depth.max(ks.iter().copied().max().unwrap_or(10)).max(10);
    let mut doc_rows: Vec<(Vec<bool>, usize)> = Vec::new();
    let mut chunk_rows: Vec<(Vec<bool>, usize)> = Vec::new();
    let mut per_question = Vec::with_capacity(questions.len());
    let mut latencies = Vec::with_capacity(questions.len());
    for q in questions {
        let relevant: HashSet<&str> = q.relevant_docs.iter().map(String::as_str).collect();
        let answers: Vec<String> = q.answers.iter().map(|a| a.to_lowercase()).collect();
        let chunk_relevant = |doc: &str, text: &str| {
            relevant.contains(doc) && (answers.is_empty() || {
                let t = text.to_lowercase();
                answers.iter().any(|a| t.contains(a.as_str()))
            })
        };
        let t0 = clock();
        let hits = engine.search(&q.question, &search)?;
        let ms = clock() - t0;
        latencies.push(ms);

        let mut seen = HashSet::new();
        let docs: Vec<String> = hits.iter().filter(|h| seen.insert(h.doc_id.clone())).map(|h| h.doc_id.clone()).collect();
        let doc_rels: Vec<bool> = docs.iter().map(|d| relevant.contains(d.as_str())).collect();
        let present: Vec<&str> = relevant.iter().copied().filter(|d| engine.document(d).is_some()).collect();
        let missing: Vec<String> = q.relevant_docs.iter().filter(|d| engine.document(d).is_none()).cloned().collect();
        let chunk_rels: Vec<bool> = hits.iter().map(|h| chunk_relevant(&h.doc_id, &h.text)).collect();
        let total_rel_chunks: usize = present
            .iter()
            .filter_map(|d| engine.document(d))
            .flat_map(|d| d.chunks.iter())
            .filter(|&&c| engine.chunk(c).is_some_and(|(rec, text)| chunk_relevant(&rec.doc_id, text)))
            .count();
        per_question.push(QuestionResult {
            id: q.id.clone(),
            question: q.question.clone(),
            retrieved_docs: docs.iter().take(10).cloned().collect(),
            first_relevant_rank: first_relevant_rank(&doc_rels),
            first_relevant_chunk_rank: first_relevant_rank(&chunk_rels),
            missing_relevant: missing,
            latency_ms: ms,
        });
        doc_rows.push((doc_rels, present.len()));
        chunk_rows.push((chunk_rels, total_rel_chunks));
    }
    let n = questions.len().max(1) as f64;
    let level = |rows: &[(Vec<bool>, usize)], any_counts: bool| -> LevelMetrics {
        let mut m = LevelMetrics::default();
        for &k in &ks {
            let hit: f64 = rows.iter().map(|(r, _)| hit_at_k(r, k)).sum::<f64>() / n;
            let full: f64 = rows.iter().map(|(r, t)| recall_at_k(r, k, *t).min(1.0)).sum::<f64>() / n;
            m.hit.insert(k, hit);
            m.full_recall.insert(k, full);
            m.recall.insert(k, if any_counts { hit } else { full });
            m.precision.insert(k, rows.iter().map(|(r, _)| precision_at_k(r, k)).sum::<f64>() / n);
        }
        m.mrr = rows.iter().map(|(r, _)| reciprocal_rank(r, r.len())).sum::<f64>() / n;
        m.ndcg_at_10 = rows.iter().map(|(r, t)| ndcg_at_k(r, 10, *t)).sum::<f64>() / n;
        m
    };
    let config = match search.mode {
        crate::rag::Mode::Hybrid => format!("hybrid ({:?})", search.fusion),
        m => format!("{m:?}").to_lowercase(),
    };
    Ok(EvalReport {
        config,
        questions: questions.len(),
        doc: level(&doc_rows, true),
        chunk: level(&chunk_rows, false),
        latency_ms: Latency::from_samples(&latencies),
        per_question,
    })
}

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
//! question lists `answers`, it contains one of them (normalised as in SQuAD, on token
//! boundaries, see [`super::metrics::contains_answer`]). Recall divides by every
//! relevant chunk in the index.
//!
//! Out-of-scope questions (`relevant_docs: []`, [`Question::answerable`] false) are left
//! out of every retrieval metric (document and chunk level, per kind): they have nothing
//! to find. Questions with `all_docs` are also scored by *all-docs@10*: every relevant
//! document is among the first 10 distinct documents. With `kind`s, the main figures
//! are repeated per kind ([`EvalReport::kinds`]).
//!
//! Answer metrics: *answer containment@k* (a retrieved chunk in the top k contains a
//! gold answer) needs only gold `answers`; with [`EvalOptions::answers`] every question
//! is also answered with [`Engine::ask`] and scored for exact match and token F1
//! against the gold answers, *answer containment* (the answer's own text contains a gold
//! answer, see [`super::metrics::contains_answer`]; an abstention contains nothing),
//! citation precision (a citation is grounded when its chunk belongs to a relevant
//! document or contains a gold answer) and abstention: the engine abstains when
//! [`crate::rag::answer::Answer::abstained`] is set, and abstention precision / recall
//! take out-of-scope questions as the positives ([`Abstention`]).
//!
//! Relevant documents that are not in the index are reported per question
//! ([`QuestionResult::missing_relevant`]), never an error: such a question simply
//! cannot be answered from the index and is classified as [`Failure::MissingFromIndex`].
//!
//! Latency is measured with a caller-supplied clock (milliseconds), since the core
//! has no clock of its own.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::dataset::Question;
use super::metrics::{
    best_over_golds, citation_precision, contains_answer, exact_match, first_answer_rank, first_relevant_rank,
    hit_at_k, mean_present, ndcg_at_k, percentile, precision_at_k, rate, recall_at_k, reciprocal_rank, token_f1,
};
use crate::error::Result;
use crate::rag::answer::AnswerMode;
use crate::rag::ask::AskOptions;
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
    /// Answer every question with [`Engine::ask`] and score the answers (default
    /// `None`: retrieval only). The ask's mode, fusion and filters are taken from
    /// [`EvalOptions::search`]; its `k` (chunks given to the answerer) is kept.
    pub answers: Option<AskOptions>,
    /// Retrieved chunks kept per question, with snippets, for reports (default 5).
    pub keep_hits: usize,
    /// Characters kept of each snippet (default 300).
    pub snippet_chars: usize,
    /// A first relevant document found below this rank is "ranked low" (default 3).
    pub low_rank: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            ks: vec![1, 3, 5, 10],
            search: SearchOptions::default(),
            chunk_depth: 30,
            answers: None,
            keep_hits: 5,
            snippet_chars: 300,
            low_rank: 3,
        }
    }
}

/// Metrics at one level (document or chunk), averaged over questions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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

/// Why a question went wrong (the first that applies, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// None of the relevant documents is in the index.
    MissingFromIndex,
    /// No relevant document among the retrieved ones.
    NoRelevantRetrieved,
    /// A relevant document was retrieved, but below [`EvalOptions::low_rank`].
    RelevantRankedLow,
    /// The answerer declined although a relevant document was retrieved.
    Abstained,
    /// The answer cites nothing from a relevant document or containing a gold answer.
    AnswerNotGrounded,
    /// An out-of-scope question (`relevant_docs: []`) was answered instead of abstained on.
    AnsweredOutOfScope,
}

impl Failure {
    /// Every class, in classification order.
    pub const ALL: [Failure; 6] = [
        Failure::MissingFromIndex,
        Failure::NoRelevantRetrieved,
        Failure::RelevantRankedLow,
        Failure::Abstained,
        Failure::AnswerNotGrounded,
        Failure::AnsweredOutOfScope,
    ];

    /// Stable snake_case name (the JSON form).
    pub fn name(self) -> &'static str {
        match self {
            Failure::MissingFromIndex => "missing_from_index",
            Failure::NoRelevantRetrieved => "no_relevant_retrieved",
            Failure::RelevantRankedLow => "relevant_ranked_low",
            Failure::Abstained => "abstained",
            Failure::AnswerNotGrounded => "answer_not_grounded",
            Failure::AnsweredOutOfScope => "answered_out_of_scope",
        }
    }

    /// Human-readable label.
    pub fn label(self) -> &'static str {
        match self {
            Failure::MissingFromIndex => "relevant docs not in index",
            Failure::NoRelevantRetrieved => "no relevant doc retrieved",
            Failure::RelevantRankedLow => "relevant doc ranked low",
            Failure::Abstained => "abstained",
            Failure::AnswerNotGrounded => "answer not grounded",
            Failure::AnsweredOutOfScope => "answered out of scope",
        }
    }
}

/// One retrieved chunk, as kept for reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HitSummary {
    /// Rank (1-based).
    pub rank: usize,
    /// Document id.
    pub doc_id: String,
    /// Document title.
    pub title: Option<String>,
    /// Headings enclosing the chunk.
    pub heading_path: Vec<String>,
    /// The beginning of the chunk text (whitespace collapsed).
    pub snippet: String,
    /// Whether the document is relevant.
    pub relevant: bool,
    /// Whether the chunk contains a gold answer.
    pub has_answer: bool,
}

/// A citation of an evaluated answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CitationResult {
    /// The citation number `[n]`.
    pub n: usize,
    /// Document id.
    pub doc_id: String,
    /// Document title.
    pub title: Option<String>,
    /// The cited span (whitespace collapsed, shortened).
    pub text: String,
    /// Whether the cited chunk belongs to a relevant document or contains a gold answer.
    pub grounded: bool,
}

/// An evaluated answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnswerResult {
    /// The answer text with its citation markers.
    pub text: String,
    /// Extractive, generative or compose (the mode that produced the answer).
    pub mode: AnswerMode,
    /// The answerer declined.
    pub abstained: bool,
    /// Sentences in the answer (0 when it abstained).
    #[serde(default)]
    pub sentences: usize,
    /// Exact match against the best gold answer (`None` without gold answers).
    pub exact_match: Option<f64>,
    /// Token F1 against the best gold answer (`None` without gold answers).
    pub f1: Option<f64>,
    /// Share of grounded citations (`None` without citations).
    pub citation_precision: Option<f64>,
    /// The citations.
    pub citations: Vec<CitationResult>,
    /// Time of the whole `ask` (ms).
    pub total_ms: f64,
    /// Whether the answer text contains a gold answer (`None` without gold answers;
    /// `Some(false)` when the engine abstained).
    #[serde(default)]
    pub contains_answer: Option<bool>,
    /// What the generator wrote, when it ran (`None` for extractive answers).
    #[serde(default)]
    pub generation: Option<GenerationResult>,
    /// Adaptive RAG's route (class, pipeline, parts), when `adaptive` was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::rag::adaptive::RouteTrace>,
    /// The self-check after generation, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_check: Option<crate::rag::self_check::SelfCheckTrace>,
}

/// The generator's part of an evaluated generative answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GenerationResult {
    /// Generated sentences, kept or dropped by attribution.
    pub sentences: usize,
    /// Of which attribution found supported.
    pub supported: usize,
    /// No generated sentence was supported: the extractive answer was shown instead.
    pub fell_back: bool,
    /// The generated text, as written.
    pub text: String,
    /// Tokens generated.
    #[serde(default)]
    pub tokens: usize,
    /// Time of the decode steps (ms), the decoding constraint's masks included.
    #[serde(default)]
    pub decode_ms: f64,
}

/// One question's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuestionResult {
    /// Question id.
    pub id: String,
    /// Question text.
    pub question: String,
    /// The relevant documents of the dataset.
    pub relevant_docs: Vec<String>,
    /// Documents retrieved, best first (distinct).
    pub retrieved_docs: Vec<String>,
    /// Rank of the first relevant document, if retrieved.
    pub first_relevant_rank: Option<usize>,
    /// Rank of the first relevant chunk, if retrieved.
    pub first_relevant_chunk_rank: Option<usize>,
    /// Rank of the first retrieved chunk containing a gold answer (`None` also without answers).
    pub first_answer_rank: Option<usize>,
    /// Relevant documents that are not in the index at all.
    pub missing_relevant: Vec<String>,
    /// Search latency (ms).
    pub latency_ms: f64,
    /// The first retrieved chunks (see [`EvalOptions::keep_hits`]).
    pub hits: Vec<HitSummary>,
    /// The answer, when answers were computed.
    pub answer: Option<AnswerResult>,
    /// What went wrong, if anything.
    pub failure: Option<Failure>,
    /// The question's `kind` label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether the documents answer it (`relevant_docs` not empty).
    #[serde(default = "yes")]
    pub answerable: bool,
    /// For an `all_docs` question: whether every relevant document is in the first 10
    /// distinct documents retrieved (`None` for other questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_docs_at_10: Option<bool>,
}

fn yes() -> bool {
    true
}

impl QuestionResult {
    /// Reciprocal rank of the first relevant document (0 if none).
    pub fn reciprocal_rank(&self) -> f64 {
        self.first_relevant_rank.map_or(0.0, |r| 1.0 / r as f64)
    }
}

/// Answer metrics of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AnswerMetrics {
    /// Questions with gold answers.
    pub with_gold: usize,
    /// Share of questions with gold answers whose top-k retrieved chunks contain one, per k.
    pub containment: BTreeMap<usize, f64>,
    /// Questions answered with [`Engine::ask`].
    pub asked: usize,
    /// Mean exact match over answered questions with gold answers.
    pub exact_match: Option<f64>,
    /// Mean token F1 over answered questions with gold answers.
    pub f1: Option<f64>,
    /// Mean citation precision over answers with citations.
    pub citation_precision: Option<f64>,
    /// Share of answered questions where the answerer abstained.
    pub abstention_rate: Option<f64>,
    /// Share of answered questions with gold answers whose *answer text* contains one
    /// (an abstention counts as not containing it).
    #[serde(default)]
    pub answer_containment: Option<f64>,
    /// Abstention against out-of-scope questions (when answers were computed).
    #[serde(default)]
    pub abstention: Option<Abstention>,
    /// What the generator's sentences were worth (when it ran).
    #[serde(default)]
    pub generated: Option<GeneratedMetrics>,
}

/// Generative answers judged by the engine's own attribution.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GeneratedMetrics {
    /// Answers the generator wrote.
    pub answers: usize,
    /// Of which shown (at least one supported sentence; the rest fell back to extractive).
    pub kept: usize,
    /// Generated sentences in all.
    pub sentences: usize,
    /// Of which supported.
    pub supported: usize,
    /// `supported / sentences` (`None` without sentences).
    pub support_rate: Option<f64>,
}

/// Abstention judged against the dataset: the positives are the out-of-scope questions
/// (`relevant_docs: []`); an abstention on an answerable question is a false abstention.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Abstention {
    /// Out-of-scope questions answered (asked).
    pub unanswerable: usize,
    /// Answerable questions answered (asked).
    pub answerable: usize,
    /// Out-of-scope questions the engine abstained on (true positives).
    pub correct: usize,
    /// Answerable questions the engine abstained on (false abstentions).
    pub false_abstentions: usize,
    /// `correct / (correct + false_abstentions)`; `None` when the engine never abstained.
    pub precision: Option<f64>,
    /// `correct / unanswerable`; `None` without out-of-scope questions.
    pub recall: Option<f64>,
}

impl Abstention {
    /// Count `(answerable, abstained)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (bool, bool)>) -> Abstention {
        let mut a = Abstention::default();
        for (answerable, abstained) in pairs {
            match (answerable, abstained) {
                (true, false) => a.answerable += 1,
                (true, true) => {
                    a.answerable += 1;
                    a.false_abstentions += 1
                }
                (false, false) => a.unanswerable += 1,
                (false, true) => {
                    a.unanswerable += 1;
                    a.correct += 1
                }
            }
        }
        let abstained = a.correct + a.false_abstentions;
        a.precision = (abstained > 0).then(|| a.correct as f64 / abstained as f64);
        a.recall = (a.unanswerable > 0).then(|| a.correct as f64 / a.unanswerable as f64);
        a
    }
}

/// The main figures of the questions of one `kind`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KindMetrics {
    /// Questions of this kind.
    pub questions: usize,
    /// Of which answerable.
    pub answerable: usize,
    /// Document hit@5 over the answerable ones (`None` when there is none).
    pub hit_at_5: Option<f64>,
    /// Document MRR over the answerable ones.
    pub mrr: Option<f64>,
    /// all-docs@10 over the `all_docs` ones.
    pub all_docs_at_10: Option<f64>,
    /// Share of asked questions abstained on.
    pub abstention_rate: Option<f64>,
    /// Answer containment over asked questions with gold answers.
    pub answer_containment: Option<f64>,
}

/// Result of evaluating one configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    /// Configuration name, for display.
    pub config: String,
    /// Number of questions evaluated.
    pub questions: usize,
    /// Of which answerable (the retrieval metrics average over these only).
    #[serde(default)]
    pub answerable: usize,
    /// Share of `all_docs` questions with every relevant document in the first 10
    /// distinct documents (`None` without such questions).
    #[serde(default)]
    pub all_docs_at_10: Option<f64>,
    /// Figures per question `kind` (empty when no question has one).
    #[serde(default)]
    pub kinds: BTreeMap<String, KindMetrics>,
    /// Document-level metrics.
    pub doc: LevelMetrics,
    /// Chunk-level metrics.
    pub chunk: LevelMetrics,
    /// Search latency.
    pub latency_ms: Latency,
    /// Latency per stage: `search`, and with answers `answer.retrieve`,
    /// `answer.select`, `answer.generate` (generative only), `answer.total`, and when
    /// they ran `answer.classify` (adaptive) and `answer.self_check` (generative).
    pub stages: BTreeMap<String, Latency>,
    /// Answer metrics, when questions have gold answers or answers were computed.
    pub answers: Option<AnswerMetrics>,
    /// Questions per failure class ([`Failure::name`]).
    pub failures: BTreeMap<String, usize>,
    /// Per-question outcomes.
    pub per_question: Vec<QuestionResult>,
}

/// Classify a question's outcome (see [`Failure`]); `None` when nothing went wrong.
pub fn classify(q: &QuestionResult, low_rank: usize) -> Option<Failure> {
    if q.relevant_docs.is_empty() {
        // Out of scope: the only failure is answering it.
        return match &q.answer {
            Some(a) if !a.abstained => Some(Failure::AnsweredOutOfScope),
            _ => None,
        };
    }
    if !q.relevant_docs.is_empty() && q.missing_relevant.len() >= q.relevant_docs.len() {
        return Some(Failure::MissingFromIndex);
    }
    match q.first_relevant_rank {
        None => return Some(Failure::NoRelevantRetrieved),
        Some(r) if r > low_rank.max(1) => return Some(Failure::RelevantRankedLow),
        _ => {}
    }
    let a = q.answer.as_ref()?;
    if a.abstained {
        return Some(Failure::Abstained);
    }
    if a.citation_precision.unwrap_or(0.0) == 0.0 {
        return Some(Failure::AnswerNotGrounded);
    }
    None
}

/// Whitespace collapsed and cut to `max` characters (with an ellipsis).
pub fn snippet(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut s: String = flat.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Evaluate `questions` on `engine`. `clock` returns milliseconds (monotonic).
pub fn evaluate(
    engine: &Engine,
    questions: &[Question],
    options: &EvalOptions,
    clock: &dyn Fn() -> f64,
) -> Result<EvalReport> {
    evaluate_with(engine, questions, options, clock, &mut |_, _| true)
}

/// [`evaluate`], calling `progress(done, total)` after each question; when it returns
/// `false` the run stops with [`crate::Error::Cancelled`].
pub fn evaluate_with(
    engine: &Engine,
    questions: &[Question],
    options: &EvalOptions,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<EvalReport> {
    let ks: Vec<usize> = options.ks.iter().copied().filter(|&k| k > 0).collect();
    let mut search = options.search.clone();
    search.k = options.chunk_depth.max(ks.iter().copied().max().unwrap_or(10)).max(10);
    let ask_options = options.answers.clone().map(|mut a| {
        let k = a.search.k;
        a.search = SearchOptions { k, ..options.search.clone() };
        a
    });
    let mut doc_rows: Vec<(Vec<bool>, usize)> = Vec::new();
    let mut chunk_rows: Vec<(Vec<bool>, usize)> = Vec::new();
    let mut per_question = Vec::with_capacity(questions.len());
    let mut stage_samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for (i, q) in questions.iter().enumerate() {
        let relevant: HashSet<&str> = q.relevant_docs.iter().map(String::as_str).collect();
        let chunk_relevant = |doc: &str, text: &str| {
            relevant.contains(doc) && (q.answers.is_empty() || contains_answer(text, &q.answers))
        };
        let t0 = clock();
        let hits = engine.search(&q.question, &search)?;
        let ms = clock() - t0;
        stage_samples.entry("search").or_default().push(ms);

        let mut seen = HashSet::new();
        let docs: Vec<String> =
            hits.iter().filter(|h| seen.insert(h.doc_id.clone())).map(|h| h.doc_id.clone()).collect();
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
        let kept_hits: Vec<HitSummary> = hits
            .iter()
            .take(options.keep_hits)
            .map(|h| HitSummary {
                rank: h.rank,
                doc_id: h.doc_id.clone(),
                title: h.title.clone(),
                heading_path: h.heading_path.clone(),
                snippet: snippet(&h.text, options.snippet_chars),
                relevant: relevant.contains(h.doc_id.as_str()),
                has_answer: contains_answer(&h.text, &q.answers),
            })
            .collect();

        let answer = match &ask_options {
            None => None,
            Some(ask) => {
                let a = engine.ask(&q.question, ask, clock, &mut |_| true)?;
                let t = &a.timings;
                stage_samples.entry("answer.retrieve").or_default().push(t.retrieve_ms);
                stage_samples.entry("answer.select").or_default().push(t.select_ms);
                if a.mode.uses_generator() || a.generated_text.is_some() {
                    stage_samples.entry("answer.generate").or_default().push(t.prefill_ms + t.decode_ms);
                }
                stage_samples.entry("answer.total").or_default().push(t.total_ms);
                if let Some(r) = &a.route {
                    let classify: f64 = r.stages.iter().filter(|s| s.stage == "classify").map(|s| s.ms).sum();
                    stage_samples.entry("answer.classify").or_default().push(classify);
                }
                if let Some(c) = &a.self_check {
                    stage_samples.entry("answer.self_check").or_default().push(c.ms);
                }
                let prediction = if a.abstained {
                    String::new()
                } else {
                    a.sentences.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ")
                };
                let citations: Vec<CitationResult> = a
                    .citations
                    .iter()
                    .map(|c| {
                        let chunk_text = engine.chunk(c.chunk_id).map(|(_, t)| t).unwrap_or(c.text.as_str());
                        CitationResult {
                            n: c.n,
                            doc_id: c.doc_id.clone(),
                            title: c.title.clone(),
                            text: snippet(&c.text, options.snippet_chars),
                            grounded: relevant.contains(c.doc_id.as_str()) || contains_answer(chunk_text, &q.answers),
                        }
                    })
                    .collect();
                let grounded: Vec<bool> = citations.iter().map(|c| c.grounded).collect();
                let contains = (!q.answers.is_empty()).then(|| contains_answer(&prediction, &q.answers));
                let generation = a.generated_text.as_ref().map(|text| {
                    // A fallback moves every generated sentence to `dropped`.
                    let kept: &[_] = if a.fell_back { &[] } else { &a.sentences };
                    let generated: Vec<_> = kept.iter().chain(&a.dropped).collect();
                    GenerationResult {
                        sentences: generated.len(),
                        supported: generated.iter().filter(|s| s.supported).count(),
                        fell_back: a.fell_back,
                        text: text.clone(),
                        tokens: a.timings.generated_tokens,
                        decode_ms: a.timings.decode_ms,
                    }
                });
                Some(AnswerResult {
                    contains_answer: contains,
                    generation,
                    text: a.answer.clone(),
                    mode: a.mode,
                    abstained: a.abstained,
                    sentences: if a.abstained { 0 } else { a.sentences.len() },
                    exact_match: best_over_golds(&prediction, &q.answers, exact_match),
                    f1: best_over_golds(&prediction, &q.answers, token_f1),
                    citation_precision: citation_precision(&grounded),
                    citations,
                    total_ms: a.timings.total_ms,
                    route: a.route.clone(),
                    self_check: a.self_check.clone(),
                })
            }
        };

        let mut result = QuestionResult {
            id: q.id.clone(),
            question: q.question.clone(),
            relevant_docs: q.relevant_docs.clone(),
            retrieved_docs: docs.iter().take(10).cloned().collect(),
            first_relevant_rank: first_relevant_rank(&doc_rels),
            first_relevant_chunk_rank: first_relevant_rank(&chunk_rels),
            first_answer_rank: first_answer_rank(hits.iter().map(|h| h.text.as_str()), &q.answers),
            missing_relevant: missing,
            latency_ms: ms,
            hits: kept_hits,
            answer,
            failure: None,
            kind: q.kind.clone(),
            answerable: q.answerable(),
            all_docs_at_10: (q.all_docs && q.answerable()).then(|| all_docs_found(&q.relevant_docs, &docs, 10)),
        };
        result.failure = classify(&result, options.low_rank);
        per_question.push(result);
        if q.answerable() {
            doc_rows.push((doc_rels, present.len()));
            chunk_rows.push((chunk_rels, total_rel_chunks));
        }
        if !progress(i + 1, questions.len()) {
            return Err(crate::Error::Cancelled);
        }
    }
    let n = doc_rows.len().max(1) as f64;
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
    let answers = answer_metrics(questions, &per_question, &ks);
    let all_docs_at_10 = share(per_question.iter().filter_map(|r| r.all_docs_at_10));
    let kinds = kind_metrics(&per_question);
    let mut failures = BTreeMap::new();
    for q in &per_question {
        if let Some(f) = q.failure {
            *failures.entry(f.name().to_owned()).or_insert(0) += 1;
        }
    }
    let latency_ms = Latency::from_samples(stage_samples.get("search").map(Vec::as_slice).unwrap_or(&[]));
    Ok(EvalReport {
        config,
        questions: questions.len(),
        answerable: doc_rows.len(),
        all_docs_at_10,
        kinds,
        doc: level(&doc_rows, true),
        chunk: level(&chunk_rows, false),
        latency_ms,
        stages: stage_samples.iter().map(|(k, v)| ((*k).to_owned(), Latency::from_samples(v))).collect(),
        answers,
        failures,
        per_question,
    })
}

fn answer_metrics(questions: &[Question], results: &[QuestionResult], ks: &[usize]) -> Option<AnswerMetrics> {
    let with_gold: Vec<&QuestionResult> =
        questions.iter().zip(results).filter(|(q, _)| !q.answers.is_empty()).map(|(_, r)| r).collect();
    let answered: Vec<&AnswerResult> = results.iter().filter_map(|r| r.answer.as_ref()).collect();
    if with_gold.is_empty() && answered.is_empty() {
        return None;
    }
    let mut m = AnswerMetrics { with_gold: with_gold.len(), asked: answered.len(), ..AnswerMetrics::default() };
    if !with_gold.is_empty() {
        for &k in ks {
            let found = with_gold.iter().filter(|r| r.first_answer_rank.is_some_and(|a| a <= k)).count();
            m.containment.insert(k, found as f64 / with_gold.len() as f64);
        }
    }
    if !answered.is_empty() {
        m.exact_match = mean_present(answered.iter().map(|a| a.exact_match));
        m.f1 = mean_present(answered.iter().map(|a| a.f1));
        m.citation_precision = mean_present(answered.iter().map(|a| a.citation_precision));
        m.abstention_rate = Some(rate(&answered.iter().map(|a| a.abstained).collect::<Vec<_>>()));
        m.answer_containment = share(answered.iter().filter_map(|a| a.contains_answer));
        m.abstention = Some(Abstention::from_pairs(
            results.iter().filter_map(|r| r.answer.as_ref().map(|a| (r.answerable, a.abstained))),
        ));
        let generations: Vec<&GenerationResult> = answered.iter().filter_map(|a| a.generation.as_ref()).collect();
        if !generations.is_empty() {
            let sentences: usize = generations.iter().map(|g| g.sentences).sum();
            let supported: usize = generations.iter().map(|g| g.supported).sum();
            m.generated = Some(GeneratedMetrics {
                answers: generations.len(),
                kept: generations.iter().filter(|g| !g.fell_back).count(),
                sentences,
                supported,
                support_rate: (sentences > 0).then(|| supported as f64 / sentences as f64),
            });
        }
    }
    Some(m)
}

/// Whether every one of `relevant` is among the first `k` of `docs`; `false` when
/// `relevant` is empty (nothing to find).
pub fn all_docs_found(relevant: &[String], docs: &[String], k: usize) -> bool {
    let top = &docs[..docs.len().min(k)];
    !relevant.is_empty() && relevant.iter().all(|d| top.contains(d))
}

/// Share of `true`; `None` for no sample.
fn share(flags: impl IntoIterator<Item = bool>) -> Option<f64> {
    let flags: Vec<bool> = flags.into_iter().collect();
    (!flags.is_empty()).then(|| rate(&flags))
}

/// [`KindMetrics`] per `kind` label (questions without one are left out).
pub fn kind_metrics(results: &[QuestionResult]) -> BTreeMap<String, KindMetrics> {
    let mut by_kind: BTreeMap<String, Vec<&QuestionResult>> = BTreeMap::new();
    for r in results {
        if let Some(k) = &r.kind {
            by_kind.entry(k.clone()).or_default().push(r);
        }
    }
    by_kind
        .into_iter()
        .map(|(kind, rs)| {
            let answerable: Vec<&&QuestionResult> = rs.iter().filter(|r| r.answerable).collect();
            let mean = |f: &dyn Fn(&QuestionResult) -> f64| {
                (!answerable.is_empty()).then(|| answerable.iter().map(|r| f(r)).sum::<f64>() / answerable.len() as f64)
            };
            let answers: Vec<&AnswerResult> = rs.iter().filter_map(|r| r.answer.as_ref()).collect();
            let m = KindMetrics {
                questions: rs.len(),
                answerable: answerable.len(),
                hit_at_5: mean(&|r| f64::from(u8::from(r.first_relevant_rank.is_some_and(|x| x <= 5)))),
                mrr: mean(&|r| r.reciprocal_rank()),
                all_docs_at_10: share(rs.iter().filter_map(|r| r.all_docs_at_10)),
                abstention_rate: share(answers.iter().map(|a| a.abstained)),
                answer_containment: share(answers.iter().filter_map(|a| a.contains_answer)),
            };
            (kind, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn engine() -> Engine {
        crate::eval::testing::hash_engine(&[
            (
                "cargo.md",
                "# Cargo\n\nCargo is the Rust package manager. It downloads dependencies and builds packages.",
            ),
            ("lock.md", "# Lock file\n\nCargo.lock records the exact versions of every dependency that was resolved."),
            ("paris.txt", "Paris is the capital of France. The Eiffel Tower stands in Paris."),
        ])
    }

    fn q(id: &str, text: &str, docs: &[&str], answers: &[&str]) -> Question {
        Question {
            id: id.into(),
            question: text.into(),
            relevant_docs: docs.iter().map(|s| s.to_string()).collect(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            ..Question::default()
        }
    }

    fn clock() -> f64 {
        0.0
    }

    #[test]
    fn progress_returning_false_cancels_between_questions() {
        let e = engine();
        let qs = vec![
            q("a", "Which file records the exact versions?", &["lock.md"], &[]),
            q("b", "What is the capital of France?", &["paris.txt"], &[]),
        ];
        let mut seen = 0;
        let r = evaluate_with(&e, &qs, &EvalOptions::default(), &clock, &mut |done, _| {
            seen = done;
            false
        });
        assert!(matches!(r, Err(crate::Error::Cancelled)), "{r:?}");
        assert_eq!(seen, 1, "stopped after the first question");
    }

    #[test]
    fn missing_relevant_docs_are_reported_not_fatal() {
        let e = engine();
        let qs = vec![
            q("ok", "Which file records the exact versions of dependencies?", &["lock.md"], &["Cargo.lock"]),
            q("gone", "Where is the Eiffel Tower?", &["not-indexed.md"], &[]),
            q("half", "What is the capital of France?", &["paris.txt", "also-missing.md"], &["Paris"]),
        ];
        let mut options = EvalOptions::default();
        options.search.mode = Mode::Sparse;
        let mut calls = Vec::new();
        let r = evaluate_with(&e, &qs, &options, &clock, &mut |d, t| {
            calls.push((d, t));
            true
        })
        .unwrap();
        assert_eq!(calls, [(1, 3), (2, 3), (3, 3)]);
        assert_eq!(r.per_question[1].missing_relevant, ["not-indexed.md"]);
        assert_eq!(r.per_question[1].failure, Some(Failure::MissingFromIndex));
        assert_eq!(r.per_question[2].missing_relevant, ["also-missing.md"]);
        assert_eq!(r.per_question[2].failure, None, "{:?}", r.per_question[2]);
        assert_eq!(r.per_question[0].first_relevant_rank, Some(1));
        assert_eq!(r.failures.get("missing_from_index"), Some(&1));
        // Two of three questions have gold answers, and both are found in the first chunk.
        let a = r.answers.as_ref().unwrap();
        assert_eq!(a.with_gold, 2);
        assert_eq!(a.containment[&1], 1.0);
        assert_eq!(a.asked, 0);
        assert!(r.per_question[0].hits[0].has_answer && r.per_question[0].hits[0].relevant);
        assert!(r.stages.contains_key("search"));
    }

    #[test]
    fn answers_are_scored_when_asked() {
        let e = engine();
        let qs = vec![q(
            "lock",
            "Which file records the exact versions of every dependency?",
            &["lock.md"],
            &["Cargo.lock"],
        )];
        let mut options = EvalOptions {
            answers: Some(AskOptions { abstain_below: -1.0, ..AskOptions::default() }),
            ..EvalOptions::default()
        };
        options.search.mode = Mode::Sparse;
        let r = evaluate(&e, &qs, &options, &clock).unwrap();
        let a = r.per_question[0].answer.as_ref().expect("answered");
        assert!(!a.abstained);
        assert!(!a.citations.is_empty());
        assert_eq!(a.exact_match, Some(0.0), "a sentence is not the short answer");
        assert!(a.f1.unwrap() > 0.0);
        let m = r.answers.unwrap();
        assert_eq!(m.asked, 1);
        assert_eq!(m.abstention_rate, Some(0.0));
        assert!(m.citation_precision.unwrap() > 0.0);
        assert!(r.stages.contains_key("answer.total"));
    }

    fn result(first: Option<usize>, missing: usize, answer: Option<(bool, Option<f64>)>) -> QuestionResult {
        QuestionResult {
            id: "x".into(),
            question: "q".into(),
            relevant_docs: vec!["a".into(), "b".into()],
            retrieved_docs: vec![],
            first_relevant_rank: first,
            first_relevant_chunk_rank: None,
            first_answer_rank: None,
            missing_relevant: (0..missing).map(|i| format!("m{i}")).collect(),
            latency_ms: 0.0,
            hits: vec![],
            answer: answer.map(|(abstained, cp)| AnswerResult {
                text: String::new(),
                mode: AnswerMode::Extractive,
                abstained,
                sentences: 1,
                exact_match: None,
                f1: None,
                citation_precision: cp,
                citations: vec![],
                total_ms: 0.0,
                contains_answer: None,
                generation: None,
                route: None,
                self_check: None,
            }),
            failure: None,
            kind: None,
            answerable: true,
            all_docs_at_10: None,
        }
    }

    #[test]
    fn failure_classification_order() {
        assert_eq!(classify(&result(None, 2, None), 3), Some(Failure::MissingFromIndex));
        assert_eq!(classify(&result(None, 1, None), 3), Some(Failure::NoRelevantRetrieved));
        assert_eq!(classify(&result(Some(4), 0, None), 3), Some(Failure::RelevantRankedLow));
        assert_eq!(classify(&result(Some(3), 0, None), 3), None);
        assert_eq!(classify(&result(Some(1), 0, Some((true, None))), 3), Some(Failure::Abstained));
        assert_eq!(classify(&result(Some(1), 0, Some((false, Some(0.0)))), 3), Some(Failure::AnswerNotGrounded));
        assert_eq!(classify(&result(Some(1), 0, Some((false, None))), 3), Some(Failure::AnswerNotGrounded));
        assert_eq!(classify(&result(Some(1), 0, Some((false, Some(0.5)))), 3), None);
    }

    #[test]
    fn abstention_precision_and_recall_hand_computed() {
        // (answerable, abstained): 3 out of scope, 2 abstained on; 4 answerable, 1 false abstention.
        let a = Abstention::from_pairs([
            (false, true),
            (false, true),
            (false, false),
            (true, true),
            (true, false),
            (true, false),
            (true, false),
        ]);
        assert_eq!((a.unanswerable, a.answerable, a.correct, a.false_abstentions), (3, 4, 2, 1));
        assert_eq!(a.precision, Some(2.0 / 3.0));
        assert_eq!(a.recall, Some(2.0 / 3.0));
        // Never abstaining: no precision; no out-of-scope question: no recall.
        let never = Abstention::from_pairs([(true, false), (false, false)]);
        assert_eq!((never.precision, never.recall), (None, Some(0.0)));
        let inscope = Abstention::from_pairs([(true, true)]);
        assert_eq!((inscope.precision, inscope.recall), (Some(0.0), None));
    }

    #[test]
    fn all_docs_needs_every_relevant_document_in_the_cut() {
        let docs: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let rel = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(all_docs_found(&rel(&["a", "c"]), &docs, 3));
        assert!(!all_docs_found(&rel(&["a", "d"]), &docs, 3), "d is rank 4");
        assert!(all_docs_found(&rel(&["a", "d"]), &docs, 10));
        assert!(!all_docs_found(&rel(&["a", "z"]), &docs, 10));
        assert!(!all_docs_found(&[], &docs, 10));
    }

    #[test]
    fn kinds_group_and_skip_unanswerable_in_retrieval_figures() {
        let mut found = result(Some(1), 0, Some((false, None)));
        found.kind = Some("multi".into());
        found.all_docs_at_10 = Some(true);
        found.answer.as_mut().unwrap().contains_answer = Some(true);
        let mut low = result(Some(6), 0, Some((false, None)));
        low.kind = Some("multi".into());
        low.all_docs_at_10 = Some(false);
        low.answer.as_mut().unwrap().contains_answer = Some(false);
        let mut out = result(None, 0, Some((true, None)));
        out.kind = Some("unanswerable".into());
        out.answerable = false;
        out.relevant_docs.clear();
        let unlabelled = result(Some(1), 0, None);
        let k = kind_metrics(&[found, low, out, unlabelled]);
        assert_eq!(k.keys().collect::<Vec<_>>(), ["multi", "unanswerable"]);
        let m = &k["multi"];
        assert_eq!((m.questions, m.answerable), (2, 2));
        assert_eq!(m.hit_at_5, Some(0.5));
        assert!((m.mrr.unwrap() - (1.0 + 1.0 / 6.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.all_docs_at_10, Some(0.5));
        assert_eq!(m.answer_containment, Some(0.5));
        assert_eq!(m.abstention_rate, Some(0.0));
        let u = &k["unanswerable"];
        assert_eq!((u.questions, u.answerable, u.hit_at_5, u.mrr), (1, 0, None, None));
        assert_eq!(u.abstention_rate, Some(1.0));
    }

    #[test]
    fn out_of_scope_questions_score_abstention_not_retrieval() {
        let e = engine();
        let mut lock =
            q("lock", "Which file records the exact versions of every dependency?", &["lock.md"], &["Cargo.lock"]);
        lock.kind = Some("plain".into());
        let mut both =
            q("both", "What does Cargo download and which file records versions?", &["cargo.md", "lock.md"], &[]);
        both.all_docs = true;
        both.kind = Some("multi".into());
        let mut away = q("away", "Which port does the web server in Paris listen on?", &[], &[]);
        away.kind = Some("unanswerable".into());
        let qs = vec![lock, both, away];
        let mut options = EvalOptions {
            // Abstain on everything: the out-of-scope question counts as a correct
            // abstention and the answerable ones as false abstentions.
            answers: Some(AskOptions { abstain_below: 1.0, ..AskOptions::default() }),
            ..EvalOptions::default()
        };
        options.search.mode = Mode::Sparse;
        let r = evaluate(&e, &qs, &options, &clock).unwrap();
        assert_eq!((r.questions, r.answerable), (3, 2));
        // Retrieval metrics average over the two answerable questions only: both find a
        // relevant document first, so recall@1 is 1 (it would be 2/3 with the out-of-scope one).
        assert_eq!(r.doc.recall[&1], 1.0);
        assert_eq!(r.all_docs_at_10, Some(1.0));
        assert!(!r.per_question[2].answerable);
        let m = r.answers.as_ref().unwrap();
        let ab = m.abstention.as_ref().unwrap();
        assert_eq!((ab.correct, ab.unanswerable, ab.false_abstentions, ab.answerable), (1, 1, 2, 2));
        assert_eq!(ab.recall, Some(1.0));
        assert_eq!(ab.precision, Some(1.0 / 3.0));
        assert_eq!(m.answer_containment, Some(0.0), "an abstention contains no gold answer");
        assert_eq!(r.per_question[2].failure, None, "abstaining out of scope is right");
        assert_eq!(r.kinds.len(), 3);
        assert_eq!(r.kinds["unanswerable"].abstention_rate, Some(1.0));

        // Never abstaining: the out-of-scope question is a failure, the answer contains the gold term.
        options.answers = Some(AskOptions { abstain_below: -1.0, ..AskOptions::default() });
        let r = evaluate(&e, &qs, &options, &clock).unwrap();
        let m = r.answers.as_ref().unwrap();
        let ab = m.abstention.as_ref().unwrap();
        assert_eq!((ab.correct, ab.false_abstentions, ab.precision, ab.recall), (0, 0, None, Some(0.0)));
        assert_eq!(r.per_question[2].failure, Some(Failure::AnsweredOutOfScope));
        assert_eq!(r.per_question[0].answer.as_ref().unwrap().contains_answer, Some(true));
        assert_eq!(m.answer_containment, Some(1.0));
    }

    #[test]
    fn a_dataset_of_only_out_of_scope_questions_evaluates_abstention() {
        let e = engine();
        let qs = vec![q("away", "Which port does the Apache web server listen on?", &[], &[])];
        let options = EvalOptions {
            answers: Some(AskOptions { abstain_below: 1.0, ..AskOptions::default() }),
            ..EvalOptions::default()
        };
        let r = evaluate(&e, &qs, &options, &clock).unwrap();
        assert_eq!((r.questions, r.answerable), (1, 0));
        assert_eq!(r.doc.mrr, 0.0);
        assert_eq!(r.answers.unwrap().abstention.unwrap().recall, Some(1.0));
    }

    #[test]
    fn snippets_are_flattened_and_cut() {
        assert_eq!(snippet("a\n\n b  c", 10), "a b c");
        assert_eq!(snippet("abcdef", 3), "abc…");
    }
}

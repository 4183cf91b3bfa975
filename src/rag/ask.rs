//! `Engine::ask`: retrieve → select sentences → (generate → attribute) → answer.
//! See [`super::answer`] for why the engine, not the model, decides what is cited.

use serde::{Deserialize, Serialize};

use super::answer::{
    content_terms, lexical_evidence, needs_context, split_sentences, Answer, AnswerMode, AnswerSentence, CitationTable,
    SourceSentence,
};
use super::{Engine, SearchOptions};
use crate::error::{Error, Result};

/// Options of [`Engine::ask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AskOptions {
    /// Retrieval options (default: hybrid RRF, k = 5 chunks).
    pub search: SearchOptions,
    /// Extractive (default) or generative (needs a generator).
    pub mode: AnswerMode,
    /// Most sentences in an extractive answer (default 3).
    pub max_sentences: usize,
    /// Sentences considered per question, best chunks first (default 60).
    pub max_candidates: usize,
    /// Abstain when the best sentence's cosine with the question is below this (default 0.30).
    pub abstain_below: f32,
    /// Keep only sentences scoring at least this share of the best score (default 0.75).
    pub relative_cutoff: f32,
    /// Token budget of the packed sources in the generation prompt (default 200).
    pub context_budget_tokens: usize,
    /// Minimum support for a generated sentence to count as supported (default 0.6).
    pub support_threshold: f32,
    /// Remove unsupported generated sentences (default true).
    pub strict: bool,
    /// Maximum new tokens of a generated answer (default 100).
    pub max_new_tokens: usize,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            search: SearchOptions::default(),
            mode: AnswerMode::Extractive,
            max_sentences: 3,
            max_candidates: 60,
            abstain_below: 0.30,
            relative_cutoff: 0.75,
            context_budget_tokens: 200,
            support_threshold: 0.6,
            strict: true,
            max_new_tokens: 100,
        }
    }
}

/// A candidate sentence with its scores.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub source: SourceSentence,
    pub cosine: f32,
    pub score: f32,
}

/// The message shown when the engine abstains.
pub const ABSTAIN_TEXT: &str = "I don't know: the indexed documents do not seem to answer this question.";

impl Engine {
    /// Answer a question from the indexed documents (extractive unless `options.mode`
    /// is generative and a generator is loaded). `clock` returns milliseconds and is
    /// only used for timings; `on_text` receives streamed answer text and returns
    /// `false` to cancel.
    pub fn ask(&mut self, question: &str, options: &AskOptions, clock: &dyn Fn() -> f64, on_text: &mut dyn FnMut(&str) -> bool) -> Result<Answer> {
        let t0 = clock();
        let mut answer = Answer { question: question.to_owned(), ..Answer::default() };
        let qvec = {
            let mut probe = options.search.clone();
            probe.mode = super::Mode::Dense;
            self.check_query(question, &probe)?;
            self.embedder.embed(&format!("{}{}", self.config.query_prefix, question.trim()))?
        };
        let hits = self.search_with_vector(question, Some(&qvec), &options.search)?;
        let t1 = clock();
        answer.timings.retrieve_ms = t1 - t0;

        let candidates = self.score_sentences(question, &qvec, &hits, options)?;
        let t2 = clock();
        answer.timings.select_ms = t2 - t1;
        answer.retrieval_score = candidates.iter().map(|c| c.cosine).fold(0.0, f32::max);
        if candidates.is_empty() || answer.retrieval_score < options.abstain_below {
            answer.abstained = true;
            answer.answer = ABSTAIN_TEXT.to_owned();
            on_text(&answer.answer);
            answer.timings.total_ms = clock() - t0;
            return Ok(answer);
        }

        let extractive = self.extractive(&candidates, options);
        match options.mode {
            AnswerMode::Extractive => {
                answer.mode = AnswerMode::Extractive;
                self.fill(&mut answer, extractive);
                on_text(&answer.answer);
            }
            AnswerMode::Generative => {
                self.generative(&mut answer, question, &candidates, extractive, options, clock, on_text)?;
            }
        }
        answer.timings.total_ms = clock() - t0;
        Ok(answer)
    }

    fn fill(&self, answer: &mut Answer, picked: (Vec<AnswerSentence>, CitationTable)) {
        let (sentences, table) = picked;
        answer.support = if sentences.is_empty() { 0.0 } else { sentences.iter().map(|s| s.support).sum::<f32>() / sentences.len() as f32 };
        answer.answer = Answer::render(&sentences);
        answer.sentences = sentences;
        answer.citations = table.citations;
    }

    /// Split retrieved chunks into sentences and score each against the question.
    pub(crate) fn score_sentences(
        &self,
        question: &str,
        qvec: &[f32],
        hits: &[super::SearchHit],
        options: &AskOptions,
    ) -> Result<Vec<Scored>> {
        let mut sources = Vec::new();
        'outer: for hit in hits {
            for (i, (start, end)) in split_sentences(&hit.text, hit.start).into_iter().enumerate() {
                let Some(doc) = self.docs.get(&hit.doc_id) else { continue };
                let Some(text) = doc.text.get(start..end) else { continue };
                sources.push(SourceSentence {
                    chunk_id: hit.chunk_id,
                    doc_id: hit.doc_id.clone(),
                    chunk_rank: hit.rank,
                    start,
                    end,
                    text: text.to_owned(),
                    index_in_chunk: i,
                });
                if sources.len() >= options.max_candidates {
                    break 'outer;
                }
            }
        }
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = sources.iter().map(|s| s.text.as_str()).collect();
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.embed_batch.max(1)) {
            vectors.extend(self.embedder.embed_batch(batch)?);
        }
        let lang_of = |doc_id: &str| self.docs.get(doc_id).map(|d| d.language).unwrap_or(crate::index::text::Language::English);
        let q_terms = content_terms(question, lang_of(&sources[0].doc_id));
        Ok(sources
            .into_iter()
            .zip(vectors)
            .map(|(source, v)| {
                let cosine: f32 = v.iter().zip(qvec).map(|(a, b)| a * b).sum();
                let lex = lexical_evidence(&content_terms(&source.text, lang_of(&source.doc_id)), &q_terms);
                let prior = 1.0 / (source.chunk_rank as f32).sqrt();
                let score = 0.6 * cosine + 0.3 * lex + 0.1 * prior;
                Scored { source, cosine, score }
            })
            .collect())
    }

    /// Pick the best sentences (with a preceding sentence where needed) in source order.
    pub(crate) fn extractive(&self, candidates: &[Scored], options: &AskOptions) -> (Vec<AnswerSentence>, CitationTable) {
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| candidates[b].score.total_cmp(&candidates[a].score).then(a.cmp(&b)));
        let best = candidates[order[0]].score;
        let mut picked: Vec<usize> = Vec::new();
        for &i in &order {
            if picked.len() >= options.max_sentences.max(1) {
                break;
            }
            if candidates[i].score < best * options.relative_cutoff {
                break;
            }
            // Skip a sentence whose text is already selected (duplicated across chunks via overlap).
            if picked.iter().any(|&p| candidates[p].source.text == candidates[i].source.text) {
                continue;
            }
            picked.push(i);
        }
        // Bring in the preceding sentence of the same chunk for anaphoric or short ones.
        let mut spans: Vec<(usize, usize)> = Vec::new(); // (first candidate, last candidate)
        for &i in &picked {
            let s = &candidates[i].source;
            let mut first = i;
            if needs_context(&s.text) && s.index_in_chunk > 0 && i > 0 && candidates[i - 1].source.chunk_id == s.chunk_id {
                first = i - 1;
            }
            spans.push((first, i));
        }
        // Source order: chunk rank, then position; merge overlapping/adjacent spans.
        spans.sort_by_key(|&(f, _)| (candidates[f].source.chunk_rank, candidates[f].source.start));
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (f, l) in spans {
            match merged.last_mut() {
                Some((_, pl)) if candidates[*pl].source.chunk_id == candidates[f].source.chunk_id && f <= *pl + 1 => {
                    *pl = (*pl).max(l);
                }
                _ => merged.push((f, l)),
            }
        }
        let mut table = CitationTable::default();
        let mut sentences = Vec::new();
        for (f, l) in merged {
            let first = &candidates[f].source;
            let last = &candidates[l].source;
            let Some(doc) = self.docs.get(&first.doc_id) else { continue };
            let Some(text) = doc.text.get(first.start..last.end) else { continue };
            let span = SourceSentence { end: last.end, text: text.to_owned(), ..first.clone() };
            let n = table.cite(&span, doc.title.as_deref());
            sentences.push(AnswerSentence {
                text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                supported: true,
                support: 1.0,
                citations: vec![n],
            });
        }
        (sentences, table)
    }

    #[allow(clippy::too_many_arguments)]
    fn generative(
        &mut self,
        answer: &mut Answer,
        _question: &str,
        _candidates: &[Scored],
        extractive: (Vec<AnswerSentence>, CitationTable),
        _options: &AskOptions,
        _clock: &dyn Fn() -> f64,
        _on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<()> {
        let _ = (answer, extractive);
        Err(Error::ModelNotLoaded("generator"))
    }
}

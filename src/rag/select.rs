//! Sentence selection: the retrieved chunks split into sentences, each scored against
//! the question, and the extractive answer picked from them.
//!
//! - **Vectors come from the index.** Every sentence of at least [`MIN_ANSWER_WORDS`]
//!   words is embedded when its chunk is indexed and stored int8
//!   ([`crate::index::sentences`]); selecting costs dot products, not embeddings. A chunk
//!   loaded from a format-v1 index is embedded the first time it is retrieved (or by
//!   [`Engine::upgrade_sentences`]).
//! - **Relevance** = `W_COSINE`·cosine(question, sentence) + `W_LEXICAL`·lexical evidence
//!   on the question's content words + `W_PRIOR`·1/√(chunk rank).
//! - **MMR** (Carbonell & Goldstein 1998): after the best sentence, each next one
//!   maximises `λ·relevance − (1 − λ)·max cosine with the sentences already picked`,
//!   with λ = [`MMR_LAMBDA`], so a second sentence that repeats the first loses to one
//!   that adds something.
//! - **Relative cutoff**: a sentence is eligible only with relevance ≥
//!   `relative_cutoff` × the best's (AskOptions, default 0.75), and one from another
//!   document than the best sentence's needs [`OTHER_DOC_CUTOFF`] × the best, so a
//!   weak sentence from another chapter is not appended.
//! - **Neighbours**: a picked sentence that depends on the one before it (starts with a
//!   pronoun, "This", "It", …, is very short, or follows a list lead-in ending in `:`)
//!   brings that sentence along; a picked lead-in ending in `:` brings the next one.
//! - The pieces are merged (adjacent or overlapping spans of one chunk become one),
//!   put in source order and cited by span.
//!
//! The weights and cutoffs were chosen on the DEV questions (the answerable hard
//! questions with odd numbers, see `examples/answers.rs`), not on the rest.

use std::collections::HashMap;

use super::answer::{
    content_terms, lexical_evidence, needs_context, split_sentences, AnswerSentence, CitationTable, SourceSentence,
};
use super::ask::AskOptions;
use super::records::SearchHit;
use super::Engine;
use crate::error::Result;
use crate::index::sentences::{ChunkSentences, SentenceVector};
use crate::index::ChunkId;
use crate::text::Language;

/// Fewest words a sentence needs to be an answer (and to get a stored vector):
/// headings and fragments ("Cargo.toml vs Cargo.lock", "git/db") are not answers.
pub const MIN_ANSWER_WORDS: usize = 4;
/// Weight of the cosine in a sentence's relevance.
pub const W_COSINE: f32 = 0.6;
/// Weight of the lexical evidence.
pub const W_LEXICAL: f32 = 0.3;
/// Weight of the chunk-rank prior.
pub const W_PRIOR: f32 = 0.1;
/// MMR's trade-off between relevance and novelty (1 = relevance only; near-duplicates
/// are still skipped). Chosen on DEV (9 hard questions ch01, ch03, …, cm07):
/// λ = 0.7 with an other-document cutoff of 0.9 contained the answer in 3/9 and cited a
/// relevant page in 4/9; λ = 1 with no extra cutoff in 3/9 and 6/9 — so 1.
pub const MMR_LAMBDA: f32 = 1.0;
/// Share of the best relevance a sentence from another document than the best
/// sentence's must reach; at most `AskOptions::relative_cutoff` has no effect (DEV chose
/// 0.75 = the default relative cutoff over 0.9, see [`MMR_LAMBDA`]).
pub const OTHER_DOC_CUTOFF: f32 = 0.75;
/// The MMR λ and the other-document cutoff as one value, to compare settings on the
/// DEV questions (`examples/answers.rs --tune λ,cutoff`); the defaults are the constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectTuning {
    /// MMR's λ in [0, 1].
    pub mmr_lambda: f32,
    /// Cutoff for sentences from another document than the best one's, in [0, 1].
    pub other_doc_cutoff: f32,
}

impl Default for SelectTuning {
    fn default() -> Self {
        SelectTuning { mmr_lambda: MMR_LAMBDA, other_doc_cutoff: OTHER_DOC_CUTOFF }
    }
}

/// Two sentences at least this similar are the same sentence (overlap between chunks).
const DUPLICATE_COSINE: f32 = 0.97;

/// A byte span in a document's cleaned text.
type Span = (usize, usize);

/// A candidate sentence with its scores.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub source: SourceSentence,
    pub cosine: f32,
    pub score: f32,
}

/// The sentences of a chunk that get vectors: spans (absolute, in the document) of the
/// sentences of at least [`MIN_ANSWER_WORDS`] words of `text` (a chunk at byte `base`).
pub(crate) fn vector_spans(text: &str, base: usize) -> Vec<(usize, usize)> {
    split_sentences(text, base)
        .into_iter()
        .filter(|&(s, e)| {
            text.get(s - base..e - base).is_some_and(|t| t.split_whitespace().count() >= MIN_ANSWER_WORDS)
        })
        .collect()
}

impl Engine {
    /// `(document text, start, end)` of each chunk in `ids` that exists (with its
    /// document), in order: what sentence embedding reads.
    pub(crate) fn chunk_spans(&self, ids: &[ChunkId]) -> Vec<(&str, usize, usize)> {
        ids.iter()
            .filter_map(|id| {
                let c = self.chunks.get(id)?;
                Some((self.docs.get(&c.doc_id)?.text.as_str(), c.start, c.end))
            })
            .collect()
    }

    /// Embed the sentences of chunks given as (document text, chunk span), in batches of
    /// `embed_batch` across chunks, shortest sentences together (less padding); one
    /// quantized vector list per chunk. `on_batch(done)` is called after each batch.
    pub(crate) fn embed_sentences(
        &self,
        chunks: &[(&str, usize, usize)],
        on_batch: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<SentenceVector>>> {
        let mut items: Vec<(usize, usize, usize)> = Vec::new(); // (chunk, start, end)
        for (c, &(text, start, end)) in chunks.iter().enumerate() {
            let Some(chunk) = text.get(start..end) else { continue };
            items.extend(vector_spans(chunk, start).into_iter().map(|(s, e)| (c, s, e)));
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| (items[i].2 - items[i].1, i));
        let mut vectors: Vec<Option<SentenceVector>> = vec![None; items.len()];
        let mut done = 0;
        for group in order.chunks(self.config.embed_batch.max(1)) {
            let texts: Vec<&str> =
                group.iter().map(|&i| chunks[items[i].0].0.get(items[i].1..items[i].2).unwrap_or_default()).collect();
            let embedded = self.embed_batch_checked(&texts)?;
            for (&i, v) in group.iter().zip(embedded) {
                vectors[i] = Some(SentenceVector::quantize(items[i].1 as u32, items[i].2 as u32, &v));
            }
            done += group.len();
            on_batch(done)?;
        }
        let mut out: Vec<Vec<SentenceVector>> = vec![Vec::new(); chunks.len()];
        for ((c, _, _), v) in items.into_iter().zip(vectors) {
            out[c].extend(v);
        }
        Ok(out)
    }

    /// The sentence vectors of `ids`, embedding (and keeping) those of chunks that have
    /// none yet (loaded from a format-v1 index).
    pub(crate) fn chunk_sentences(&self, ids: &[ChunkId]) -> Result<Vec<ChunkSentences>> {
        let missing: Vec<ChunkId> = {
            let store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
            ids.iter().copied().filter(|&id| !store.contains(id) && self.chunks.contains_key(&id)).collect()
        };
        if !missing.is_empty() {
            let spans = self.chunk_spans(&missing);
            let embedded = self.embed_sentences(&spans, &mut |_| Ok(()))?;
            let mut store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
            for (id, v) in missing.into_iter().zip(embedded) {
                store.insert(id, v)?;
            }
        }
        let store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ids.iter().map(|id| store.get(*id).cloned().unwrap_or_default()).collect())
    }

    /// Embed the sentences of every chunk that has none (an index loaded from format v1),
    /// `progress(done, total)` after each chunk batch, checking `cancelled` between
    /// batches (nothing is lost on cancellation: finished chunks keep their vectors).
    /// Returns the number of chunks embedded.
    pub fn upgrade_sentences(
        &mut self,
        progress: &mut dyn FnMut(usize, usize),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<usize> {
        let missing: Vec<ChunkId> = {
            let store = self.sentences.get_mut().unwrap_or_else(|p| p.into_inner());
            self.chunks.keys().copied().filter(|&id| !store.contains(id)).collect()
        };
        let total = missing.len();
        for (n, group) in missing.chunks(64).enumerate() {
            if cancelled() {
                return Err(crate::error::Error::Cancelled);
            }
            self.chunk_sentences(group)?;
            progress((n * 64 + group.len()).min(total), total);
        }
        Ok(total)
    }

    /// Split retrieved chunks into sentences and score each against the question.
    pub(crate) fn score_sentences(
        &self,
        question: &str,
        qvec: &[f32],
        hits: &[SearchHit],
        options: &AskOptions,
    ) -> Result<Vec<Scored>> {
        score_sentences(self, question, qvec, hits, options)
    }

    /// Pick the answer sentences (see the module docs) in source order.
    pub(crate) fn extractive(
        &self,
        candidates: &[Scored],
        options: &AskOptions,
    ) -> (Vec<AnswerSentence>, CitationTable) {
        extractive(self, candidates, options)
    }

    /// The spans of the extractive answer (see [`extractive_spans`]).
    pub(crate) fn extractive_spans(&self, candidates: &[Scored], options: &AskOptions) -> Vec<SourceSentence> {
        extractive_spans(self, candidates, options)
    }
}

/// What answer selection reads about the retrieved chunks: their documents, texts, heading
/// paths and sentence vectors. The engine reads its whole store; a sharded index only the
/// shards a question fetched ([`crate::rag::shards`]), so every lookup may miss.
pub(crate) trait Passages {
    /// `(document id, start, end, heading path)` of a chunk.
    fn chunk_of(&self, id: ChunkId) -> Option<(&str, usize, usize, &[String])>;
    /// A known document's title (`Some(None)`: it has none).
    fn doc_title(&self, doc_id: &str) -> Option<Option<&str>>;
    /// A known document's language.
    fn doc_language(&self, doc_id: &str) -> Option<Language>;
    /// A document's cleaned text between two byte offsets, where known.
    fn text(&self, doc_id: &str, start: usize, end: usize) -> Option<&str>;
    /// The sentence vectors of chunks, in order (embedding those missing where it can).
    fn sentence_vectors(&self, ids: &[ChunkId]) -> Result<Vec<ChunkSentences>>;
    /// The stored vector of one sentence of a chunk.
    fn sentence_vector(&self, chunk: ChunkId, start: usize, end: usize) -> Option<SentenceVector>;
    /// MMR's λ and the other-document cutoff.
    fn tuning(&self) -> SelectTuning;
}

impl Passages for Engine {
    fn chunk_of(&self, id: ChunkId) -> Option<(&str, usize, usize, &[String])> {
        self.chunks.get(&id).map(|c| (c.doc_id.as_str(), c.start, c.end, c.heading_path.as_slice()))
    }
    fn doc_title(&self, doc_id: &str) -> Option<Option<&str>> {
        self.docs.get(doc_id).map(|d| d.title.as_deref())
    }
    fn doc_language(&self, doc_id: &str) -> Option<Language> {
        self.docs.get(doc_id).map(|d| d.language)
    }
    fn text(&self, doc_id: &str, start: usize, end: usize) -> Option<&str> {
        self.docs.get(doc_id)?.text.get(start..end)
    }
    fn sentence_vectors(&self, ids: &[ChunkId]) -> Result<Vec<ChunkSentences>> {
        self.chunk_sentences(ids)
    }
    fn sentence_vector(&self, chunk: ChunkId, start: usize, end: usize) -> Option<SentenceVector> {
        let store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
        store.get(chunk).and_then(|vs| vs.iter().find(|v| v.start as usize == start && v.end as usize == end).cloned())
    }
    fn tuning(&self) -> SelectTuning {
        self.select_tuning
    }
}

/// Split retrieved chunks into sentences and score each against the question.
pub(crate) fn score_sentences(
    p: &dyn Passages,
    question: &str,
    qvec: &[f32],
    hits: &[SearchHit],
    options: &AskOptions,
) -> Result<Vec<Scored>> {
    let ids: Vec<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
    let stored = p.sentence_vectors(&ids)?;
    let Some(first) = hits.first() else { return Ok(Vec::new()) };
    let q_terms = content_terms(question, p.doc_language(&first.doc_id).unwrap_or(Language::English));
    let mut out = Vec::new();
    'outer: for (hit, vectors) in hits.iter().zip(&stored) {
        let Some(language) = p.doc_language(&hit.doc_id) else { continue };
        let by_span: HashMap<(u32, u32), &SentenceVector> = vectors.iter().map(|v| ((v.start, v.end), v)).collect();
        for (i, (start, end)) in split_sentences(&hit.text, hit.start).into_iter().enumerate() {
            let Some(v) = by_span.get(&(start as u32, end as u32)) else { continue };
            let Some(text) = p.text(&hit.doc_id, start, end) else { continue };
            // A heading names a topic, it does not answer: it matches a question's
            // words best and would be picked on its own (the chunk's heading path
            // holds the headings above and inside it).
            if hit.heading_path.iter().any(|h| h.trim() == text.trim()) {
                continue;
            }
            let cosine = v.dot(qvec);
            let lex = lexical_evidence(&content_terms(text, language), &q_terms);
            let prior = 1.0 / (hit.rank.max(1) as f32).sqrt();
            let score = W_COSINE * cosine + W_LEXICAL * lex + W_PRIOR * prior;
            let source = SourceSentence {
                chunk_id: hit.chunk_id,
                doc_id: hit.doc_id.clone(),
                chunk_rank: hit.rank,
                start,
                end,
                text: text.to_owned(),
                index_in_chunk: i,
            };
            out.push(Scored { source, cosine, score });
            if out.len() >= options.max_candidates {
                break 'outer;
            }
        }
    }
    Ok(out)
}

/// The spans of the sentences before and after `s` in its chunk, if any.
fn neighbours(p: &dyn Passages, s: &SourceSentence) -> (Option<Span>, Option<Span>) {
    let Some((doc_id, start, end, _)) = p.chunk_of(s.chunk_id) else { return (None, None) };
    let Some(text) = p.text(doc_id, start, end) else { return (None, None) };
    let spans = split_sentences(text, start);
    let Some(i) = spans.iter().position(|&(a, b)| a == s.start && b == s.end) else { return (None, None) };
    (i.checked_sub(1).map(|p| spans[p]), spans.get(i + 1).copied())
}

/// Pick the answer sentences (see the module docs) in source order.
pub(crate) fn extractive(
    p: &dyn Passages,
    candidates: &[Scored],
    options: &AskOptions,
) -> (Vec<AnswerSentence>, CitationTable) {
    let mut table = CitationTable::default();
    let mut sentences = Vec::new();
    for span in extractive_spans(p, candidates, options) {
        let Some(title) = p.doc_title(&span.doc_id) else { continue };
        let path = p.chunk_of(span.chunk_id).map(|c| c.3).unwrap_or_default();
        let n = table.cite(&span, title, path);
        sentences.push(AnswerSentence {
            text: span.text.split_whitespace().collect::<Vec<_>>().join(" "),
            supported: true,
            support: 1.0,
            citations: vec![n],
        });
    }
    (sentences, table)
}

/// The spans of the extractive answer, in source order: each picked sentence widened
/// to a neighbour it depends on, overlapping or adjacent spans of one document merged,
/// each cut back to its chunk.
pub(crate) fn extractive_spans(p: &dyn Passages, candidates: &[Scored], options: &AskOptions) -> Vec<SourceSentence> {
    let picked = pick(candidates, options, &vectors_of(p, candidates), p.tuning());
    // Each picked sentence as a span, widened to a neighbour it depends on.
    let mut spans: Vec<(usize, String, ChunkId, usize, usize)> = Vec::new(); // (rank, doc, chunk, start, end)
    for &i in &picked {
        let s = &candidates[i].source;
        let (prev, next) = neighbours(p, s);
        let (mut start, mut end) = (s.start, s.end);
        if let Some((ps, pe)) = prev {
            let prev_text = p.text(&s.doc_id, ps, pe).unwrap_or_default();
            if needs_context(&s.text) || prev_text.trim_end().ends_with(':') {
                start = ps;
            }
        }
        if let Some((_, ne)) = next {
            if s.text.trim_end().ends_with(':') {
                end = ne;
            }
        }
        spans.push((s.chunk_rank, s.doc_id.clone(), s.chunk_id, start, end));
    }
    // Source order: chunk rank, then position; merge overlapping or adjacent spans of one document.
    spans.sort_by_key(|a| (a.0, a.3));
    let mut merged: Vec<(usize, String, ChunkId, usize, usize)> = Vec::new();
    for span in spans {
        let joins = |m: &(usize, String, ChunkId, usize, usize)| {
            m.1 == span.1
                && ((span.3 <= m.4 && span.4 >= m.3)
                    || (m.4 <= span.3 && p.text(&span.1, m.4, span.3).is_some_and(|gap| gap.trim().is_empty())))
        };
        match merged.iter_mut().find(|m| joins(m)) {
            Some(m) => {
                m.3 = m.3.min(span.3);
                m.4 = m.4.max(span.4);
            }
            None => merged.push(span),
        }
    }
    let mut out = Vec::new();
    for (rank, doc_id, chunk_id, start, end) in merged {
        // A citation must lie inside one chunk: a span merged across chunks is cut back.
        let Some((_, cs, ce, _)) = p.chunk_of(chunk_id) else { continue };
        let (start, end) = (start.max(cs), end.min(ce));
        let Some(text) = p.text(&doc_id, start, end) else { continue };
        out.push(SourceSentence {
            chunk_id,
            doc_id: doc_id.clone(),
            chunk_rank: rank,
            start,
            end,
            text: text.to_owned(),
            index_in_chunk: 0,
        });
    }
    out
}

/// The stored vector of each candidate (for MMR), if it has one.
fn vectors_of(p: &dyn Passages, candidates: &[Scored]) -> Vec<Option<SentenceVector>> {
    candidates.iter().map(|c| p.sentence_vector(c.source.chunk_id, c.source.start, c.source.end)).collect()
}

/// The indices of the candidates to answer with: MMR over relevance above the cutoffs.
fn pick(
    candidates: &[Scored],
    options: &AskOptions,
    vectors: &[Option<SentenceVector>],
    tuning: SelectTuning,
) -> Vec<usize> {
    let Some(best) =
        (0..candidates.len()).max_by(|&a, &b| candidates[a].score.total_cmp(&candidates[b].score).then(b.cmp(&a)))
    else {
        return Vec::new();
    };
    let top = candidates[best].score;
    let best_doc = &candidates[best].source.doc_id;
    let eligible = |i: usize| {
        let c = &candidates[i];
        let cutoff = if &c.source.doc_id == best_doc {
            options.relative_cutoff
        } else {
            tuning.other_doc_cutoff.max(options.relative_cutoff)
        };
        c.score >= top * cutoff
    };
    let sim = |a: usize, b: usize| match (&vectors[a], &vectors[b]) {
        (Some(x), Some(y)) => x.dot_q(y),
        _ => 0.0,
    };
    let mut picked = vec![best];
    while picked.len() < options.max_sentences.max(1) {
        let mut choice: Option<(usize, f32)> = None;
        for i in 0..candidates.len() {
            if picked.contains(&i) || !eligible(i) {
                continue;
            }
            let redundancy = picked.iter().map(|&p| sim(i, p)).fold(f32::MIN, f32::max);
            let same_text = picked.iter().any(|&p| candidates[p].source.text == candidates[i].source.text);
            if same_text || redundancy >= DUPLICATE_COSINE {
                continue;
            }
            let l = tuning.mmr_lambda;
            let mmr = l * candidates[i].score - (1.0 - l) * redundancy.max(0.0);
            if choice.is_none_or(|(_, m)| mmr > m) {
                choice = Some((i, mmr));
            }
        }
        match choice {
            Some((i, _)) => picked.push(i),
            None => break,
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::{Document, EngineConfig};

    fn engine(docs: Vec<Document>) -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(256)));
        e.add_documents(docs).unwrap();
        e
    }

    fn scored(doc: &str, rank: usize, text: &str, score: f32) -> Scored {
        Scored {
            source: SourceSentence {
                chunk_id: rank as u32,
                doc_id: doc.into(),
                chunk_rank: rank,
                start: 0,
                end: text.len(),
                text: text.into(),
                index_in_chunk: 0,
            },
            cosine: score,
            score,
        }
    }

    #[test]
    fn a_weak_sentence_from_another_document_is_not_appended() {
        let options = AskOptions::default();
        let c = vec![
            scored("a.md", 1, "Cargo.lock records the exact versions.", 1.0),
            scored("a.md", 1, "Commit it for binaries.", 0.8),
            scored("b.md", 2, "Profiles change compiler settings entirely.", 0.8),
        ];
        let none = vec![None, None, None];
        let strict = SelectTuning { other_doc_cutoff: 0.9, ..SelectTuning::default() };
        assert_eq!(pick(&c, &options, &none, strict), vec![0, 1], "same document above 0.75 kept, the other cut");
        assert_eq!(pick(&c, &options, &none, SelectTuning::default()), vec![0, 1, 2], "without the stricter cutoff");
        let strong = vec![c[0].clone(), c[1].clone(), scored("b.md", 2, "Profiles change compiler settings.", 0.95)];
        assert_eq!(pick(&strong, &options, &none, strict), vec![0, 2, 1], "a strong sentence from elsewhere stays");
    }

    #[test]
    fn mmr_prefers_a_sentence_that_adds_something() {
        let options = AskOptions { relative_cutoff: 0.5, max_sentences: 2, ..AskOptions::default() };
        let c = vec![
            scored("a.md", 1, "Set lto = true in the release profile.", 1.0),
            scored("a.md", 1, "Set lto = true in the release profile please.", 0.95),
            scored("a.md", 1, "Codegen units trade speed for compile time.", 0.9),
        ];
        let x = SentenceVector::quantize(0, 1, &[1.0, 0.0]);
        let near = SentenceVector::quantize(0, 1, &[0.9, 0.43]);
        let y = SentenceVector::quantize(0, 1, &[0.0, 1.0]);
        let mmr = SelectTuning { mmr_lambda: 0.7, ..SelectTuning::default() };
        assert_eq!(pick(&c, &options, &[Some(x.clone()), Some(near.clone()), Some(y.clone())], mmr), vec![0, 2]);
        // With λ = 1 (relevance only) the near repeat wins.
        let relevance = SelectTuning { mmr_lambda: 1.0, ..SelectTuning::default() };
        assert_eq!(pick(&c, &options, &[Some(x), Some(near), Some(y)], relevance), vec![0, 1]);
    }

    fn ask(e: &Engine, q: &str) -> crate::rag::answer::Answer {
        let options = AskOptions { abstain_below: -1.0, max_sentences: 1, ..AskOptions::default() };
        e.ask(q, &options, &|| 0.0, &mut |_| true).unwrap()
    }

    #[test]
    fn a_dependent_sentence_brings_its_predecessor() {
        let e = engine(vec![Document::new(
            "lock.md",
            "# Lock\n\nThe lock file pins every resolved version of every dependency. \
             It is written by cargo automatically whenever dependencies resolve again. \
             Profiles are different things entirely and unrelated here.",
        )]);
        let a = ask(&e, "written by cargo automatically whenever dependencies resolve again");
        assert_eq!(a.sentences.len(), 1, "{a:?}");
        assert!(a.sentences[0].text.starts_with("The lock file pins"), "{}", a.sentences[0].text);
        assert!(a.sentences[0].text.ends_with("resolve again."), "{}", a.sentences[0].text);
        assert!(!a.answer.contains("Profiles"));
        // Without the pronoun, the sentence stands alone.
        let e = engine(vec![Document::new(
            "lock.md",
            "# Lock\n\nThe lock file pins every resolved version of every dependency. \
             Cargo writes the lock file automatically whenever dependencies resolve again.",
        )]);
        let a = ask(&e, "Cargo writes the lock file automatically whenever dependencies resolve again");
        assert!(a.sentences[0].text.starts_with("Cargo writes"), "{}", a.sentences[0].text);
    }

    #[test]
    fn a_list_item_brings_its_lead_in() {
        let e = engine(vec![Document::new(
            "env.md",
            "# Environment\n\nCargo reads these variables when it starts:\n\n\
             - CARGO_HOME sets the directory of the registry cache and global config.\n\
             - CARGO_TARGET_DIR sets where build artifacts are placed for every package.",
        )]);
        let a = ask(&e, "CARGO_HOME directory of the registry cache and global config");
        assert!(a.sentences[0].text.starts_with("Cargo reads these variables"), "{}", a.sentences[0].text);
        assert!(a.sentences[0].text.contains("CARGO_HOME"));
        // The citation still addresses one span of the cleaned text.
        let c = &a.citations[0];
        assert_eq!(e.document("env.md").unwrap().text.get(c.start..c.end), Some(c.text.as_str()));
    }
}

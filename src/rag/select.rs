//! Sentence selection: the retrieved chunks split into sentences, each scored against
//! the question (cosine of sentence vectors, lexical evidence on the question's content
//! words, a prior on the chunk's rank), and the extractive answer picked from them —
//! best sentences above a relative cutoff, a preceding sentence brought in where one
//! depends on it, merged in source order and cited by span.

use super::answer::{
    content_terms, lexical_evidence, needs_context, split_sentences, AnswerSentence, CitationTable, SourceSentence,
};
use super::ask::AskOptions;
use super::records::SearchHit;
use super::Engine;
use crate::error::Result;
use crate::text::Language;

/// A candidate sentence with its scores.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub source: SourceSentence,
    pub cosine: f32,
    pub score: f32,
}

impl Engine {
    /// Split retrieved chunks into sentences and score each against the question.
    pub(crate) fn score_sentences(
        &self,
        question: &str,
        qvec: &[f32],
        hits: &[SearchHit],
        options: &AskOptions,
    ) -> Result<Vec<Scored>> {
        let mut sources = Vec::new();
        'outer: for hit in hits {
            for (i, (start, end)) in split_sentences(&hit.text, hit.start).into_iter().enumerate() {
                let Some(doc) = self.docs.get(&hit.doc_id) else { continue };
                let Some(text) = doc.text.get(start..end) else { continue };
                // Headings and fragments ("Cargo.toml vs Cargo.lock", "git/db") are not answers.
                if text.split_whitespace().count() < 4 {
                    continue;
                }
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
        let vectors = self.sentence_vectors(&sources)?;
        let lang_of = |doc_id: &str| self.docs.get(doc_id).map(|d| d.language).unwrap_or(Language::English);
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

    /// The vectors of `sources`' sentences: cached ones from the sentence cache, the rest
    /// embedded in batches and cached.
    fn sentence_vectors(&self, sources: &[SourceSentence]) -> Result<Vec<Vec<f32>>> {
        let mut vectors: Vec<Option<Vec<f32>>> = {
            let mut cache = self.sentence_cache.lock().unwrap_or_else(|p| p.into_inner());
            sources.iter().map(|s| cache.get(&s.text)).collect()
        };
        let missing: Vec<usize> = (0..sources.len()).filter(|&i| vectors[i].is_none()).collect();
        for batch in missing.chunks(self.config.embed_batch.max(1)) {
            let texts: Vec<&str> = batch.iter().map(|&i| sources[i].text.as_str()).collect();
            let embedded = self.embed_batch_checked(&texts)?;
            let mut cache = self.sentence_cache.lock().unwrap_or_else(|p| p.into_inner());
            for (&i, v) in batch.iter().zip(embedded) {
                cache.insert(&sources[i].text, &v);
                vectors[i] = Some(v);
            }
        }
        Ok(vectors.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Pick the best sentences (with a preceding sentence where needed) in source order.
    pub(crate) fn extractive(
        &self,
        candidates: &[Scored],
        options: &AskOptions,
    ) -> (Vec<AnswerSentence>, CitationTable) {
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
            if needs_context(&s.text)
                && s.index_in_chunk > 0
                && i > 0
                && candidates[i - 1].source.chunk_id == s.chunk_id
            {
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
}

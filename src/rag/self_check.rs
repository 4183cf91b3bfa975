//! The self-check after generation (issue 11 item 4; the "retrieve again when the
//! answer is not supported" loop of Self-RAG, Asai et al. 2023, without reflection
//! tokens): when attribution finds generated sentences unsupported by the packed
//! sources, each such claim (at most [`MAX_CLAIMS`]) is retrieved once as a query, its
//! best sentences ([`SOURCES_PER_CLAIM`]) join the sources, and the whole generation is
//! attributed again against the enlarged set. A claim the documents support elsewhere is
//! kept and cited there; one they do not stays unsupported, and when no generated
//! sentence is supported the answer falls back to the extractive one, as before.
//!
//! One round only: a second retrieval that still finds nothing is the documents'
//! answer. The claims are the model's words, so this cannot add a claim the documents
//! do not carry: attribution still judges every sentence by the same rules.

use serde::{Deserialize, Serialize};

use super::answer::{echoes_scaffolding, is_degenerate, AnswerSentence};
use super::ask::AskOptions;
use super::select::Scored;
use super::Engine;
use crate::error::Result;
use crate::query::{Mode, SearchOptions, Translate};

/// Most unsupported claims retrieved again.
pub const MAX_CLAIMS: usize = 3;
/// Best sentences of a claim's retrieval added to the sources.
pub const SOURCES_PER_CLAIM: usize = 3;
/// Fewest words a claim needs to be worth a retrieval (shorter ones are fragments).
pub const MIN_CLAIM_WORDS: usize = 4;

/// What the self-check did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelfCheckTrace {
    /// The unsupported claims retrieved again.
    pub claims: Vec<String>,
    /// Source sentences the second retrieval added.
    pub added_sources: usize,
    /// Supported generated sentences before and after.
    pub supported_before: usize,
    /// See `supported_before`.
    pub supported_after: usize,
    /// Whether the second attribution was kept (it supported more sentences).
    pub rescued: bool,
    /// Time of the retrieval and the second attribution (ms).
    pub ms: f64,
}

/// The unsupported sentences worth retrieving again, in order.
pub(crate) fn claims(unsupported: &[AnswerSentence]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in unsupported.iter().filter(|s| !s.supported) {
        let text = s.text.trim();
        if text.split_whitespace().count() < MIN_CLAIM_WORDS || is_degenerate(text) || echoes_scaffolding(text) {
            continue;
        }
        if !out.iter().any(|c| c == text) {
            out.push(text.to_owned());
        }
        if out.len() == MAX_CLAIMS {
            break;
        }
    }
    out
}

impl Engine {
    /// The sources the second retrieval adds for `claims`: each claim searched as typed
    /// (the options' mode, fusion, `k` and filters), its sentences scored against it, the
    /// best [`SOURCES_PER_CLAIM`] not already among `known` kept.
    pub(crate) fn recheck_sources(
        &self,
        claims: &[String],
        known: &[&Scored],
        options: &AskOptions,
    ) -> Result<Vec<Scored>> {
        let plain = SearchOptions { translate: Translate::None, ..options.search.clone() };
        let probe = SearchOptions { mode: Mode::Dense, ..plain.clone() };
        let mut added: Vec<Scored> = Vec::new();
        for claim in claims {
            let v = self.embed_query(claim, &probe)?;
            let hits = self.search_with_vector(claim, Some(&v), &plain)?;
            let mut scored = self.score_sentences(claim, &v, &hits, options)?;
            scored.sort_by(|a, b| b.score.total_cmp(&a.score));
            let mut taken = 0;
            for c in scored {
                if taken == SOURCES_PER_CLAIM {
                    break;
                }
                let same = |o: &Scored| {
                    o.source.doc_id == c.source.doc_id
                        && o.source.start == c.source.start
                        && o.source.end == c.source.end
                };
                if !known.iter().any(|o| same(o)) && !added.iter().any(same) {
                    added.push(c);
                    taken += 1;
                }
            }
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str, supported: bool) -> AnswerSentence {
        AnswerSentence { text: text.into(), supported, support: 0.0, citations: vec![] }
    }

    #[test]
    fn claims_are_the_unsupported_full_sentences_once_each_and_bounded() {
        let got = claims(&[
            s("Release profiles enable optimisation level three.", false),
            s("Too short.", false),
            s("Question: what does the lock file record?", false),
            s("the the the the the the", false),
            s("Cargo.lock records the exact versions.", true),
            s("Release profiles enable optimisation level three.", false),
            s("One more unsupported claim here.", false),
            s("Another unsupported claim right here.", false),
            s("A fourth unsupported claim is ignored.", false),
        ]);
        assert_eq!(
            got,
            [
                "Release profiles enable optimisation level three.",
                "One more unsupported claim here.",
                "Another unsupported claim right here."
            ]
        );
        assert!(claims(&[]).is_empty());
    }
}

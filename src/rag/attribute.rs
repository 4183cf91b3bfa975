//! Post-hoc attribution of generated text: each generated sentence is matched against
//! the packed source sentences by support (its content words, not in the question, that
//! a source contains — see [`super::answer::support`]); a sentence is kept, with a
//! citation to its best source, only when that support reaches the threshold. The
//! engine, not the model, decides what is cited.

use super::answer::{
    content_terms, echoes_scaffolding, is_degenerate, negates, split_sentences, support, AnswerSentence, CitationTable,
};
use super::prompt::strip_markers;
use super::select::Scored;
use super::Engine;
use crate::text::Language;

/// What attribution made of a generation.
pub(crate) struct Attribution {
    /// Sentences kept (supported ones; all of them when not strict), in order.
    pub kept: Vec<AnswerSentence>,
    /// Sentences dropped as unsupported.
    pub dropped: Vec<AnswerSentence>,
    /// The citations of the kept sentences.
    pub table: CitationTable,
}

/// Judge every sentence of `generated` against the `packed` sources.
///
/// - Model-written citation markers are removed (citations are the engine's).
/// - Empty sentences and repeats of a sentence already judged are skipped.
/// - A fragment (fewer than four words, or the unfinished last sentence of a generation
///   cut off by the token limit), a degenerate sentence and one that echoes the prompt's
///   scaffolding (`Question:`, `Answer:`, the sources fence) score 0.
/// - A sentence must add [`super::answer::MIN_NOVEL_TERMS`] content terms beyond the
///   question, and keep its source's polarity: a negation the source lacks (or the other
///   way round) scores 0 against that source.
/// - `strict` drops unsupported sentences; otherwise they are kept, marked unsupported.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attribute(
    engine: &Engine,
    question: &str,
    lang: Language,
    packed: &[&Scored],
    generated: &str,
    truncated: bool,
    support_threshold: f32,
    strict: bool,
) -> Attribution {
    let q_terms = content_terms(question, lang);
    let source_terms: Vec<_> = packed.iter().map(|c| content_terms(&c.source.text, lang)).collect();
    let source_negates: Vec<bool> = packed.iter().map(|c| negates(&c.source.text)).collect();
    let mut table = CitationTable::default();
    let (mut kept, mut dropped): (Vec<AnswerSentence>, Vec<AnswerSentence>) = (Vec::new(), Vec::new());
    let spans = split_sentences(generated, 0);
    let last = spans.len().saturating_sub(1);
    for (n, (start, end)) in spans.into_iter().enumerate() {
        let text = strip_markers(generated.get(start..end).unwrap_or_default());
        if text.is_empty() || kept.iter().chain(dropped.iter()).any(|s| s.text == text) {
            continue;
        }
        let terms = content_terms(&text, lang);
        let negated = negates(&text);
        let mut best: Option<(usize, f32)> = None;
        for (i, st) in source_terms.iter().enumerate() {
            if let Some(s) = support(&terms, st, &q_terms) {
                let s = if negated == source_negates[i] { s } else { 0.0 };
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            }
        }
        let unfinished =
            n == last && truncated && !text.trim_end().ends_with(['.', '!', '?', '…', ':', ')', '"', '`', '»']);
        let fragment = unfinished || text.split_whitespace().count() < 4;
        let score = if fragment || is_degenerate(&text) || echoes_scaffolding(&text) {
            0.0
        } else {
            best.map_or(0.0, |(_, s)| s)
        };
        let supported = score >= support_threshold;
        let citations = match best {
            Some((i, _)) if supported => {
                let src = &packed[i].source;
                let title = engine.docs.get(&src.doc_id).and_then(|d| d.title.as_deref());
                let path = engine.chunks.get(&src.chunk_id).map(|c| c.heading_path.as_slice()).unwrap_or_default();
                vec![table.cite(src, title, path)]
            }
            _ => Vec::new(),
        };
        let sentence = AnswerSentence { text, supported, support: score, citations };
        if supported || !strict {
            kept.push(sentence);
        } else {
            dropped.push(sentence);
        }
    }
    Attribution { kept, dropped, table }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::rag::answer::SourceSentence;
    use crate::{Document, EngineConfig};

    fn packed(texts: &[&str]) -> Vec<Scored> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Scored {
                source: SourceSentence {
                    chunk_id: i as u32,
                    doc_id: "lock.md".into(),
                    chunk_rank: i + 1,
                    start: 0,
                    end: t.len(),
                    text: (*t).to_owned(),
                    index_in_chunk: 0,
                },
                cosine: 0.5,
                score: 0.5,
            })
            .collect()
    }

    fn engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        e.add_documents(vec![Document::new("lock.md", "# Lock\n\nCargo.lock records exact versions.")]).unwrap();
        e
    }

    #[test]
    fn supported_sentences_are_cited_and_invented_ones_dropped() {
        let e = engine();
        let sources = packed(&[
            "Cargo.lock records the exact versions of every dependency after resolution.",
            "Profiles change compiler settings such as optimisation levels.",
        ]);
        let refs: Vec<&Scored> = sources.iter().collect();
        let generated = "Cargo.lock records the exact versions of every dependency [1]. \
                         The moon is made of green cheese and tastes of apples.";
        let a = attribute(&e, "What does Cargo.lock record?", Language::English, &refs, generated, false, 0.6, true);
        assert_eq!(a.kept.len(), 1, "{:?}", a.kept);
        assert!(a.kept[0].supported && a.kept[0].citations == vec![1]);
        assert!(!a.kept[0].text.contains("[1]"), "model markers are stripped");
        assert_eq!(a.dropped.len(), 1);
        assert!(a.dropped[0].text.contains("green cheese") && a.dropped[0].support < 0.6);
        assert_eq!(a.table.citations.len(), 1);
        // Not strict: the unsupported sentence is kept, marked.
        let a = attribute(&e, "What does Cargo.lock record?", Language::English, &refs, generated, false, 0.6, false);
        assert_eq!(a.kept.len(), 2);
        assert!(!a.kept[1].supported && a.kept[1].citations.is_empty());
    }

    #[test]
    fn fragments_repeats_and_unfinished_sentences_are_not_supported() {
        let e = engine();
        let sources = packed(&["Cargo.lock records the exact versions of every dependency after resolution."]);
        let refs: Vec<&Scored> = sources.iter().collect();
        let q = "What does Cargo.lock record?";
        let repeated = "Cargo.lock records exact versions of every dependency. \
                        Cargo.lock records exact versions of every dependency.";
        let a = attribute(&e, q, Language::English, &refs, repeated, false, 0.6, true);
        assert_eq!(a.kept.len() + a.dropped.len(), 1, "a repeat is judged once");
        let fragment = "Exact versions.";
        let a = attribute(&e, q, Language::English, &refs, fragment, false, 0.6, true);
        assert!(a.kept.is_empty());
        let cut = "Cargo.lock records the exact versions of every dependency after";
        let a = attribute(&e, q, Language::English, &refs, cut, true, 0.6, true);
        assert!(a.kept.is_empty(), "the unfinished last sentence of a truncated generation is dropped");
        let a = attribute(&e, q, Language::English, &refs, cut, false, 0.6, true);
        assert_eq!(a.kept.len(), 1, "the same words, finished by EOS, are supported");
    }

    /// Issue 10's cases, measured on generative answers: each passed before.
    #[test]
    fn restatements_scaffolding_and_flipped_negations_are_not_supported() {
        let e = engine();
        let sources = packed(&[
            "Cargo.lock records the exact versions of every dependency after resolution.",
            "A library should not commit its lock file.",
        ]);
        let refs: Vec<&Scored> = sources.iter().collect();
        let judge = |q: &str, g: &str| {
            let a = attribute(&e, q, Language::English, &refs, g, false, 0.6, true);
            assert_eq!(a.kept.len() + a.dropped.len(), 1, "{g:?}");
            a.kept.first().or(a.dropped.first()).map(|s| (s.supported, s.support)).unwrap()
        };
        // The question restated with one new word (a heading word of the source).
        let q = "What does Cargo.lock record for every dependency?";
        assert!(!judge(q, "Cargo.lock records every dependency exact.").0, "one novel word is not an answer");
        assert!(judge(q, "Cargo.lock records the exact versions after resolution.").0, "two novel supported words are");
        // The prompt's scaffolding echoed back.
        let echoed = "Question: What does Cargo.lock record after resolution of versions?";
        assert_eq!(judge("Which file?", echoed), (false, 0.0));
        // A negation the source does not have, with every other word supported (0.75 before).
        let q = "Which versions are recorded?";
        let (ok, s) = judge(q, "Cargo.lock does not record the exact versions of every dependency.");
        assert!(!ok && s < 0.6, "a flipped negation scored {s}");
        // The same polarity as the source is fine, with or without the negation.
        assert!(judge("Should a library commit?", "A library should not commit its lock file.").0);
        assert!(!judge("Should a library commit?", "A library should commit its lock file.").0);
    }
}

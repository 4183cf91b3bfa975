//! Grounded answers: sentence selection, citations, packing and post-hoc attribution.
//!
//! Small generators that fit in a browser do not ground or cite (SmolLM2-135M gave 0
//! correct citations in 32 tries when this project measured it), so here **the
//! engine decides what is supported and what is cited; the model only phrases**:
//!
//! - **Selection.** Retrieved chunks are split into sentences (with byte spans in
//!   the cleaned document text). Each sentence is scored by the embedder
//!   (cosine with the question) plus lexical evidence: it should share the question's
//!   key terms *and* carry content words the question does not have — a sentence that
//!   only echoes the question answers nothing. A short or anaphoric sentence ("This
//!   is…") brings its predecessor along for context. The selected sentences, in
//!   source order, are the extractive answer, each with a citation `[n]`.
//! - **Packing.** For generation, the best sentences (not whole chunks) are packed,
//!   numbered, under a token budget: prefill cost is linear in prompt length.
//! - **Attribution.** Each generated sentence is scored against every packed source
//!   sentence using only its content words that are *not* in the question (invented
//!   sentences reuse the question's words, so counting them makes everything look
//!   supported). Support = share of those words found in the best source sentence
//!   (plus its neighbour). Above the threshold the sentence is supported and cited;
//!   below it is flagged and, in strict mode, dropped.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::index::text::{analyze, Language};
use crate::index::ChunkId;

/// A sentence of a retrieved chunk, addressed in its document's cleaned text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSentence {
    /// Chunk the sentence comes from.
    pub chunk_id: ChunkId,
    /// Document id.
    pub doc_id: String,
    /// Rank of the chunk in retrieval (1-based).
    pub chunk_rank: usize,
    /// Byte start in the document's cleaned text.
    pub start: usize,
    /// Byte end.
    pub end: usize,
    /// The sentence text.
    pub text: String,
    /// Position of the sentence in its chunk (0-based).
    pub index_in_chunk: usize,
}

/// Longest sentence in words: a longer run without a sentence end (a 10 000-word
/// "sentence", a minified line) is cut into pieces of at most this many words, so an
/// answer or a sentence vector never covers more than this.
pub const MAX_SENTENCE_WORDS: usize = 64;

/// Split `text` (a chunk starting at byte `base` of its document) into sentences with
/// absolute byte spans. Line breaks also end sentences (lists, code, tables), fragments
/// without a letter or digit are skipped, and a sentence longer than
/// [`MAX_SENTENCE_WORDS`] is cut at whitespace into pieces of at most that many words.
pub fn split_sentences(text: &str, base: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (line_start, line) in line_spans(text) {
        for (off, s) in line.split_sentence_bound_indices() {
            let trimmed_start = s.len() - s.trim_start().len();
            let t = s.trim();
            if t.chars().any(char::is_alphanumeric) {
                let start = base + line_start + off + trimmed_start;
                push_bounded(&mut out, t, start);
            }
        }
    }
    out
}

/// Push `t` (at byte `start`) as one span, or as pieces of at most [`MAX_SENTENCE_WORDS`] words.
///
/// A piece without a letter or digit (64 words of symbols inside a long sentence) is left
/// out, as a whole sentence without one is (found by fuzzing).
fn push_bounded(out: &mut Vec<(usize, usize)>, t: &str, start: usize) {
    let mut piece_start: Option<usize> = None;
    let mut piece_end = 0;
    let mut piece_alnum = false;
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in t.char_indices() {
        if c.is_whitespace() {
            in_word = false;
            continue;
        }
        if !in_word {
            in_word = true;
            if words == MAX_SENTENCE_WORDS {
                if let Some(ps) = piece_start.take() {
                    if piece_alnum {
                        out.push((start + ps, start + piece_end));
                    }
                }
                piece_alnum = false;
                words = 0;
            }
            words += 1;
            piece_start.get_or_insert(i);
        }
        piece_alnum |= c.is_alphanumeric();
        piece_end = i + c.len_utf8();
    }
    if let (Some(ps), true) = (piece_start, piece_alnum) {
        out.push((start + ps, start + piece_end));
    }
}

fn line_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    text.split('\n').map(move |line| {
        let start = pos;
        pos += line.len() + 1;
        (start, line)
    })
}

/// Content terms (stemmed, stop words removed) of a text.
pub fn content_terms(text: &str, lang: Language) -> HashSet<String> {
    analyze(text, lang).into_iter().filter(|t| t.chars().count() > 1 || t.chars().all(|c| c.is_ascii_digit())).collect()
}

/// Lexical evidence that `sentence` answers a question with terms `question`:
/// coverage of the question's terms, scaled down when the sentence brings no new
/// content word. In [0, 1].
pub fn lexical_evidence(sentence: &HashSet<String>, question: &HashSet<String>) -> f32 {
    if question.is_empty() || sentence.is_empty() {
        return 0.0;
    }
    let covered = question.iter().filter(|t| sentence.contains(*t)).count() as f32 / question.len() as f32;
    let novel = sentence.iter().filter(|t| !question.contains(*t)).count();
    let novelty = (novel as f32 / 4.0).min(1.0);
    covered * (0.3 + 0.7 * novelty)
}

/// Fewest content terms a generated sentence must add beyond the question's to be judged
/// at all: a sentence that restates the question with one new word (measured: a heading
/// word of the source) says nothing the question did not.
pub const MIN_NOVEL_TERMS: usize = 2;

/// Support of a generated sentence by a source: the share of the generated sentence's
/// content terms that are not in the question and that the source contains. `None`
/// when the generated sentence has fewer than [`MIN_NOVEL_TERMS`] such terms (it restates
/// the question, adds one word, or is empty).
pub fn support(generated: &HashSet<String>, source: &HashSet<String>, question: &HashSet<String>) -> Option<f32> {
    let novel: Vec<&String> = generated.iter().filter(|t| !question.contains(*t)).collect();
    if novel.len() < MIN_NOVEL_TERMS {
        return None;
    }
    Some(novel.iter().filter(|t| source.contains(**t)).count() as f32 / novel.len() as f32)
}

/// Negation words (English and French; `n't` endings count too).
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "none", "nor", "neither", "without", "ne", "pas", "jamais", "aucun", "aucune",
    "sans",
];

/// Whether `text` negates: a negation word or an `n't` contraction. A generated sentence
/// whose polarity differs from its source says the opposite with the same words, so
/// attribution refuses it whatever its word overlap.
pub fn negates(text: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')).any(|w| {
        let w = w.to_lowercase();
        NEGATIONS.contains(&w.as_str()) || w.ends_with("n't") || w.ends_with("n’t")
    })
}

/// Whether generated text echoes the prompt's scaffolding (`Question:`, `Answer:`, the
/// `<sources>` fence, a `[n]` source line): the model is copying its prompt, not answering.
pub fn echoes_scaffolding(text: &str) -> bool {
    let lower = text.trim_start().to_lowercase();
    ["question:", "answer:", "sources:", "source:", "<sources", "</sources", "réponse :", "réponse:"]
        .iter()
        .any(|m| lower.contains(m))
}

/// Whether generated text has degenerated into repetition (the same word three times
/// in a row, or the same word pair three times in a row): such a sentence is never
/// counted as supported, however many source words it repeats.
pub fn is_degenerate(text: &str) -> bool {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let triple = words.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    let pairs = words.windows(6).any(|w| w[0] == w[2] && w[2] == w[4] && w[1] == w[3] && w[3] == w[5]);
    triple || pairs
}

/// Words that make a sentence depend on the one before it.
const ANAPHORA: &[&str] = &[
    "it",
    "this",
    "that",
    "these",
    "those",
    "they",
    "its",
    "their",
    "such",
    "however",
    "also",
    "then",
    "otherwise",
    "instead",
    "so",
    "thus",
    "therefore",
    "here",
    "there",
    "ce",
    "cela",
    "ceci",
    "il",
    "elle",
    "ils",
    "elles",
];

/// Whether a sentence needs its predecessor to be understood.
pub fn needs_context(sentence: &str) -> bool {
    let words: Vec<&str> = sentence.unicode_words().collect();
    if words.len() < 6 {
        return true;
    }
    let first = words[0].to_lowercase();
    ANAPHORA.contains(&first.as_str())
}

/// A citation: a numbered source span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The number shown as `[n]` (1-based).
    pub n: usize,
    /// Chunk id.
    pub chunk_id: ChunkId,
    /// Document id.
    pub doc_id: String,
    /// Document title, if any.
    pub title: Option<String>,
    /// Byte start of the cited span in the document's cleaned text.
    pub start: usize,
    /// Byte end of the cited span.
    pub end: usize,
    /// The cited text (exactly `text[start..end]` of the cleaned document).
    pub text: String,
    /// Headings enclosing the cited chunk, outermost first (for a PDF, its page: "p. 12").
    #[serde(default)]
    pub heading_path: Vec<String>,
}

/// One sentence of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerSentence {
    /// The sentence text.
    pub text: String,
    /// Whether the sources support it.
    pub supported: bool,
    /// Support score in [0, 1] (extractive sentences are copies: 1).
    pub support: f32,
    /// Citation numbers (into [`Answer::citations`]).
    pub citations: Vec<usize>,
}

/// How an answer was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Selected source sentences.
    #[default]
    Extractive,
    /// Phrased by the generator, attributed by the engine.
    Generative,
    /// The extractive answer's sentences fused into one answer by the generator, under the
    /// copy constraint and attributed to those sentences only (issue 10, item 6: the
    /// generator composes, it does not look for the answer). The extractive answer is
    /// returned instead ([`Answer::fell_back`]) when attribution keeps no sentence or the
    /// composition loses one of the extractive answer's [`key_terms`].
    Compose,
}

impl AnswerMode {
    /// Whether answers in this mode need a loaded generator.
    pub fn uses_generator(self) -> bool {
        matches!(self, AnswerMode::Generative | AnswerMode::Compose)
    }

    /// The mode's name, as the options spell it.
    pub fn name(self) -> &'static str {
        match self {
            AnswerMode::Extractive => "extractive",
            AnswerMode::Generative => "generative",
            AnswerMode::Compose => "compose",
        }
    }
}

/// The words of `text` a reader looks for verbatim and a paraphrase must not lose: file
/// names, commands, flags, paths, versions, environment variables, type names — a word
/// (surrounding punctuation removed) with a `.`, `_`, `-`, `/`, `:`, `=`, `@` or `$` inside
/// it, a leading `-`, a digit, a capital letter after its first character, or two or more
/// capitals only; words the question already contains (case-insensitive) are left out.
/// In order of appearance, each once.
pub fn key_terms(text: &str, question: &str) -> Vec<String> {
    fn trim(w: &str) -> &str {
        w.trim_start_matches(['(', '"', '\'', '`', '[', '{', '«', '“', '‘'])
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'', '`', ']', '}', '»', '”', '’'])
    }
    let asked: HashSet<String> = question.split_whitespace().map(|w| trim(w).to_lowercase()).collect();
    let mut out: Vec<String> = Vec::new();
    for w in text.split_whitespace().map(trim) {
        let chars: Vec<char> = w.chars().collect();
        if chars.len() < 2 || !chars.iter().any(|c| c.is_alphanumeric()) {
            continue;
        }
        let inner = chars[1..chars.len() - 1].iter().any(|c| ".-_/:=@$".contains(*c));
        let key = inner
            || chars[0] == '-'
            || chars.iter().any(|c| c.is_ascii_digit())
            || chars[1..].iter().any(|c| c.is_uppercase())
            || chars.iter().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase());
        if key && !asked.contains(&w.to_lowercase()) && !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    }
    out
}

impl std::str::FromStr for AnswerMode {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "extractive" => Ok(AnswerMode::Extractive),
            "generative" => Ok(AnswerMode::Generative),
            "compose" => Ok(AnswerMode::Compose),
            other => Err(crate::error::Error::InvalidOption {
                name: "answer mode",
                detail: format!("unknown answer mode {other:?} (extractive, generative, compose)"),
            }),
        }
    }
}

/// How the generator is held to its sources while it writes a generative answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Constrain {
    /// Free decoding; attribution afterwards drops what the sources do not support.
    #[default]
    None,
    /// Copy-constrained decoding ([`crate::generate::constrain::CopyConstraint`]): every
    /// word written is a word of the packed sources, a function word of the question's
    /// language ([`COPY_FREE_WORDS`] and the stop words) or a citation number.
    Copy,
    /// As `Copy`, and within a sentence every content word follows the previous one as
    /// in a source sentence ([`crate::generate::constrain::CopyUnit::Bigrams`]): the
    /// model copies phrases and cannot join words of two sources into a new claim.
    Bigram,
}

impl std::str::FromStr for Constrain {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Constrain::None),
            "copy" => Ok(Constrain::Copy),
            "bigram" => Ok(Constrain::Bigram),
            other => Err(crate::error::Error::InvalidOption {
                name: "constrain",
                detail: format!("unknown decoding constraint {other:?} (none, copy, bigram)"),
            }),
        }
    }
}

/// Words a copy-constrained answer may use beyond the sources and the stop words of the
/// question's language: negation, quantifiers and connectives (so the answer can say
/// what the sources say, including "not"), and the words of an abstention.
pub const COPY_FREE_WORDS: &[&str] = &[
    "not",
    "no",
    "yes",
    "also",
    "only",
    "both",
    "either",
    "neither",
    "nor",
    "each",
    "every",
    "any",
    "all",
    "some",
    "more",
    "most",
    "less",
    "other",
    "because",
    "instead",
    "however",
    "unless",
    "don't",
    "doesn't",
    "isn't",
    "aren't",
    "cannot",
    "know",
    "sources",
    "source",
    "ne",
    "pas",
    "aussi",
    "seulement",
    "sais",
];

/// Time spent per stage, in milliseconds (measured with the caller's clock).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Retrieval (query embedding + search).
    pub retrieve_ms: f64,
    /// Sentence selection (sentence embedding + scoring).
    pub select_ms: f64,
    /// Prompt prefill.
    pub prefill_ms: f64,
    /// Token decoding.
    pub decode_ms: f64,
    /// Attribution of generated sentences.
    pub attribute_ms: f64,
    /// Whole call.
    pub total_ms: f64,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub generated_tokens: usize,
    /// Prefill tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Decode tokens per second.
    pub decode_tokens_per_s: f64,
}

/// An answer with engine-computed citations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The question asked.
    pub question: String,
    /// The answer text (sentences joined, each followed by its `[n]` markers).
    pub answer: String,
    /// How it was produced.
    pub mode: AnswerMode,
    /// True when a generative answer had no supported sentence (or a composed one lost a
    /// key term) and the extractive answer was returned instead.
    pub fell_back: bool,
    /// Key terms of the extractive answer a composition lost ([`AnswerMode::Compose`]),
    /// which made it fall back; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_terms: Vec<String>,
    /// True when retrieval was too weak to answer ("I don't know").
    pub abstained: bool,
    /// The answer's sentences (in strict mode only supported ones remain).
    pub sentences: Vec<AnswerSentence>,
    /// Generated sentences removed for lack of support (strict mode).
    pub dropped: Vec<AnswerSentence>,
    /// Citations referenced by the sentences.
    pub citations: Vec<Citation>,
    /// Mean support of the returned sentences (0 when abstaining).
    pub support: f32,
    /// Best retrieval evidence (cosine of the best sentence with the question).
    pub retrieval_score: f32,
    /// Raw generator output, when generated.
    pub generated_text: Option<String>,
    /// Timings per stage.
    pub timings: Timings,
    /// The retrieval grader's verdict and the corrective actions taken (`None` when no
    /// calibration applies or grading was switched off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<super::grade::GradeTrace>,
    /// The query translation's trace, when [`crate::query::SearchOptions::translate`] is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<crate::query::QueryTrace>,
    /// Adaptive RAG's route: the question's class, the pipeline it picked, the parts of
    /// a multi-step answer and per-stage time (`None` unless `adaptive` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<super::adaptive::RouteTrace>,
    /// The self-check after generation: the unsupported claims retrieved again and what
    /// the second attribution made of them (`None` when it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_check: Option<super::self_check::SelfCheckTrace>,
}

impl Answer {
    /// Render sentences with their citation markers.
    pub fn render(sentences: &[AnswerSentence]) -> String {
        sentences
            .iter()
            .map(|s| {
                let marks: String = s.citations.iter().map(|n| format!("[{n}]")).collect();
                if marks.is_empty() {
                    s.text.clone()
                } else {
                    format!("{} {marks}", s.text)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Assigns citation numbers to source spans, first come first numbered.
#[derive(Debug, Default)]
pub struct CitationTable {
    by_span: BTreeMap<(String, usize, usize), usize>,
    /// The citations, in number order.
    pub citations: Vec<Citation>,
}

impl CitationTable {
    /// The number of `s` (adding it if new).
    pub fn cite(&mut self, s: &SourceSentence, title: Option<&str>, heading_path: &[String]) -> usize {
        let key = (s.doc_id.clone(), s.start, s.end);
        if let Some(&n) = self.by_span.get(&key) {
            return n;
        }
        let n = self.citations.len() + 1;
        self.by_span.insert(key, n);
        self.citations.push(Citation {
            n,
            chunk_id: s.chunk_id,
            doc_id: s.doc_id.clone(),
            title: title.map(str::to_owned),
            start: s.start,
            end: s.end,
            text: s.text.clone(),
            heading_path: heading_path.to_vec(),
        });
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_terms_are_what_a_reader_looks_for_verbatim() {
        let text = "Set CARGO_HOME or pass --locked to cargo build. The Cargo.lock file, version 0.2.1, \
                    lives in the workspace root; see HashMap and the TOML spec (in src/main.rs).";
        assert_eq!(
            key_terms(text, "How do I build?"),
            ["CARGO_HOME", "--locked", "Cargo.lock", "0.2.1", "HashMap", "TOML", "src/main.rs"]
        );
        // Words of the question are not key terms; plain capitalised words are not either.
        assert_eq!(
            key_terms("Cargo.lock records versions. Cargo writes it.", "what is cargo.lock?"),
            Vec::<String>::new()
        );
        assert!(key_terms("- a list item, A. and I", "").is_empty());
    }

    fn terms(s: &str) -> HashSet<String> {
        content_terms(s, Language::English)
    }

    /// A long sentence is cut into 64-word pieces; a piece of symbols only is no sentence.
    #[test]
    fn pieces_of_a_long_sentence_without_a_letter_are_dropped() {
        let text = format!("Start {} end", "\u{fffd}\u{fffd} ".repeat(200));
        let spans = split_sentences(&text, 0);
        assert!(!spans.is_empty());
        for (s, e) in &spans {
            assert!(text[*s..*e].chars().any(char::is_alphanumeric), "{:?}", &text[*s..*e]);
        }
        assert!(text[spans[0].0..spans[0].1].starts_with("Start"));
        assert!(text[..spans.last().unwrap().1].ends_with("end"));
    }

    #[test]
    fn sentences_have_exact_spans() {
        let text = "Cargo builds code. It also fetches crates!\n- a list item\n\n```\nfn main() {}\n```";
        let spans = split_sentences(text, 100);
        let got: Vec<&str> = spans.iter().map(|&(s, e)| &text[s - 100..e - 100]).collect();
        assert_eq!(got, ["Cargo builds code.", "It also fetches crates!", "- a list item", "fn main() {}"]);
    }

    #[test]
    fn a_ten_thousand_word_sentence_is_cut_into_bounded_pieces() {
        let text = (0..10_000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let spans = split_sentences(&text, 7);
        assert_eq!(spans.len(), 10_000usize.div_ceil(MAX_SENTENCE_WORDS));
        let mut words = 0;
        for &(s, e) in &spans {
            let piece = &text[s - 7..e - 7];
            let n = piece.split_whitespace().count();
            assert!(n <= MAX_SENTENCE_WORDS && piece == piece.trim(), "{n} words");
            words += n;
        }
        assert_eq!(words, 10_000, "no word lost");
        assert_eq!(spans[1].0 - 7, text.find(&format!("w{MAX_SENTENCE_WORDS} ")).unwrap());
    }

    #[test]
    fn echoing_the_question_is_weaker_evidence_than_answering_it() {
        let q = terms("Which file records the exact versions of dependencies?");
        let echo = terms("The exact versions of dependencies.");
        let answer = terms("Cargo.lock records the exact versions of every dependency resolved at build time.");
        assert!(lexical_evidence(&answer, &q) > lexical_evidence(&echo, &q));
        assert_eq!(lexical_evidence(&terms(""), &q), 0.0);
    }

    #[test]
    fn copied_sentence_is_supported_and_invented_one_is_not() {
        let q = terms("How do I enable link-time optimization?");
        let source = terms("Set lto = true in the release profile of Cargo.toml to enable link-time optimization.");
        let copied = terms("Set lto = true in the release profile of Cargo.toml.");
        let invented = terms("Run cargo optimize --link with the git-dep macro to enable link-time optimization.");
        assert_eq!(support(&copied, &source, &q), Some(1.0));
        assert!(support(&invented, &source, &q).unwrap() < 0.5);
        // A sentence that only restates the question has nothing to support.
        assert_eq!(support(&terms("Enable link-time optimization."), &source, &q), None);
    }

    #[test]
    fn repetition_loops_are_degenerate() {
        assert!(is_degenerate("control the link time optimizations of the lto-lto-lto-lto-l"));
        assert!(is_degenerate("use the the the flag"));
        assert!(is_degenerate("a b a b a b"));
        assert!(!is_degenerate("Set lto = true in the release profile; lto then runs at link time."));
    }

    #[test]
    fn anaphora_and_short_sentences_need_context() {
        assert!(needs_context("This is the default."));
        assert!(needs_context("It records every resolved version of each dependency in the tree."));
        assert!(!needs_context("Cargo records every resolved version of each dependency in the lock file."));
    }

    #[test]
    fn citation_numbers_are_stable_per_span() {
        let mut t = CitationTable::default();
        let s = |start| SourceSentence {
            chunk_id: 1,
            doc_id: "a".into(),
            chunk_rank: 1,
            start,
            end: start + 3,
            text: "abc".into(),
            index_in_chunk: 0,
        };
        assert_eq!(t.cite(&s(0), None, &[]), 1);
        assert_eq!(t.cite(&s(10), Some("T"), &["p. 2".to_owned()]), 2);
        assert_eq!(t.cite(&s(0), None, &[]), 1);
        assert_eq!(t.citations[1].heading_path, ["p. 2"]);
        assert_eq!(t.citations.len(), 2);
    }

    #[test]
    fn render_puts_markers_after_sentences() {
        let s = vec![
            AnswerSentence { text: "A.".into(), supported: true, support: 1.0, citations: vec![1, 2] },
            AnswerSentence { text: "B.".into(), supported: true, support: 1.0, citations: vec![] },
        ];
        assert_eq!(Answer::render(&s), "A. [1][2] B.");
    }
}

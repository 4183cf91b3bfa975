//! Text analysis for BM25: Unicode word segmentation (UAX #29), lower-casing,
//! stop words and Snowball stemming (English, French). Which language a document is
//! in is decided at ingest ([`crate::ingest::language`]); the [`Language`] type itself
//! is shared vocabulary ([`crate::text`]).
//!
//! Decisions:
//! - **Words** are UAX #29 words (`unicode-segmentation`'s `unicode_words`): punctuation
//!   and spaces are dropped, and letters joined by `.`, `_`, `:` or `'` stay one word, so
//!   `Cargo.toml`, `build.rs`, `foo_bar` and `v1.2.3` survive segmentation while
//!   `--release` becomes `release` and `cargo-add` becomes `cargo`, `add`.
//! - **Code identifiers.** A word that joins letters with `.`, `_` or `:` is emitted
//!   twice: whole and unstemmed (`cargo.toml`), so an exact identifier query gets a
//!   rare, high-idf match, and as its stemmed parts (`cargo`, `toml`), so a prose
//!   query ("the toml manifest") still finds it. Apostrophes are not split: the
//!   English stemmer removes the possessive `'s`, and French elisions (`l'`, `d'`,
//!   `qu'` …) are stripped so `l'index` indexes as `index`.
//! - **Stop words**: short built-in lists for English and French (articles,
//!   pronouns, auxiliaries, prepositions, question words). They only shorten postings
//!   and keep BM25 from rewarding function words; `Other` has none.
//! - **Stemming**: Snowball (Porter 2001) English and French via `rust-stemmers`;
//!   `Other` is only lower-cased. Words longer than [`MAX_TOKEN_BYTES`] (base64 blobs,
//!   a 1 MB "word") are dropped: they are never queried and would bloat the index.

use unicode_segmentation::UnicodeSegmentation;

pub use crate::text::Language;

/// Words longer than this many bytes are dropped by [`analyze`].
pub const MAX_TOKEN_BYTES: usize = 100;

impl Language {
    fn stemmer(self) -> Option<rust_stemmers::Stemmer> {
        match self {
            Language::English => Some(rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English)),
            Language::French => Some(rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::French)),
            Language::Other => None,
        }
    }

    /// This language's stop words, lower-case and sorted.
    pub fn stop_words(self) -> &'static [&'static str] {
        match self {
            Language::English => STOP_EN,
            Language::French => STOP_FR,
            Language::Other => &[],
        }
    }

    /// Whether `word` (lower-case) is a stop word in this language.
    pub fn is_stop_word(self, word: &str) -> bool {
        // The lists are sorted, so a binary search suffices.
        self.stop_words().binary_search(&word).is_ok()
    }
}

/// English stop words (sorted).
const STOP_EN: &[&str] = &[
    "a", "about", "am", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "my", "of", "on", "or", "our", "she", "should", "so", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what", "when", "where", "which",
    "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// French stop words (sorted by byte order, which `binary_search` on `&str` uses).
const STOP_FR: &[&str] = &[
    "a", "ai", "au", "aux", "avec", "c", "ce", "ces", "cet", "cette", "comme", "d", "dans", "de", "des", "donc",
    "dont", "du", "elle", "elles", "en", "est", "et", "il", "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs",
    "lui", "m", "ma", "mais", "me", "mes", "mon", "n", "ne", "nos", "notre", "nous", "on", "ont", "ou", "où", "par",
    "pas", "pour", "qu", "que", "qui", "s", "sa", "se", "ses", "si", "son", "sont", "sur", "t", "ta", "te", "tes",
    "ton", "tu", "un", "une", "vos", "votre", "vous", "y", "à", "était", "été", "être",
];

/// French elided articles and pronouns, stripped from `l'index`, `qu'il`, …
const ELISIONS_FR: &[&str] = &["c", "d", "j", "jusqu", "l", "lorsqu", "m", "n", "puisqu", "qu", "quoiqu", "s", "t"];

/// Characters that join the parts of a code identifier inside one UAX #29 word.
fn is_joiner(c: char) -> bool {
    matches!(c, '.' | '_' | ':')
}

/// Analyze text into index terms (see the module docs). Terms keep document order;
/// a code identifier yields its whole form followed by its parts.
pub fn analyze(text: &str, lang: Language) -> Vec<String> {
    let mut out = Vec::new();
    walk(text, lang, |_, term| out.push(term));
    out
}

/// The terms of [`analyze`] that come from one plain word, each with that word as written
/// (lower-cased, French elision stripped): `("running", "run")`. A code identifier's whole
/// form (`cargo.toml`) has no surface word and is left out; its parts are included.
/// BM25 typo tolerance compares a query's words with these surface words.
pub fn analyze_words(text: &str, lang: Language) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(text, lang, |surface, term| {
        if let Some(w) = surface {
            out.push((w.to_owned(), term));
        }
    });
    out
}

/// [`analyze`] and [`analyze_words`] in one pass (indexing needs both).
pub fn analyze_both(text: &str, lang: Language) -> (Vec<String>, Vec<(String, String)>) {
    let (mut terms, mut words) = (Vec::new(), Vec::new());
    walk(text, lang, |surface, term| {
        if let Some(w) = surface {
            words.push((w.to_owned(), term.clone()));
        }
        terms.push(term);
    });
    (terms, words)
}

/// Segment, lower-case, strip elisions, split identifiers, drop stop words and stem; `f`
/// gets each term with the word it came from (`None` for an identifier's whole form).
fn walk(text: &str, lang: Language, mut f: impl FnMut(Option<&str>, String)) {
    let stemmer = lang.stemmer();
    let emit = |word: &str, f: &mut dyn FnMut(Option<&str>, String)| {
        if word.is_empty() || lang.is_stop_word(word) {
            return;
        }
        match &stemmer {
            Some(s) => f(Some(word), s.stem(word).into_owned()),
            None => f(Some(word), word.to_owned()),
        }
    };
    for word in text.unicode_words() {
        if word.len() > MAX_TOKEN_BYTES {
            continue;
        }
        let mut lower = word.to_lowercase();
        if lower.contains('\u{2019}') {
            lower = lower.replace('\u{2019}', "'");
        }
        let mut word = lower.as_str();
        if lang == Language::French {
            if let Some((head, tail)) = word.split_once('\'') {
                if ELISIONS_FR.contains(&head) {
                    word = tail;
                }
            }
        }
        let is_identifier = word.contains(is_joiner) && word.chars().any(char::is_alphabetic);
        if is_identifier {
            let whole = word.trim_matches(is_joiner);
            if !whole.is_empty() {
                f(None, whole.to_owned());
            }
            for part in word.split(is_joiner) {
                emit(part, &mut f);
            }
        } else {
            emit(word, &mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_lists_are_sorted_for_binary_search() {
        for list in [STOP_EN, STOP_FR] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, list);
        }
    }

    #[test]
    fn english_words_are_lowercased_stemmed_and_stopped() {
        assert_eq!(analyze("The Running dogs, and the cats' toys!", Language::English), ["run", "dog", "cat", "toy"]);
    }

    #[test]
    fn french_stemming_and_elision() {
        assert_eq!(analyze("L'index des documents était construit", Language::French), ["index", "docu", "construit"]);
        assert_eq!(analyze("qu\u{2019}il mange", Language::French), ["mang"]);
        // `aujourd'hui` is not an elision.
        assert_eq!(analyze("aujourd'hui", Language::French), ["aujourd'hui"]);
    }

    #[test]
    fn other_language_is_only_lowercased() {
        assert_eq!(analyze("Die Häuser UND the", Language::Other), ["die", "häuser", "und", "the"]);
    }

    #[test]
    fn code_identifiers_keep_whole_form_and_parts() {
        assert_eq!(
            analyze("Edit Cargo.toml and build.rs, run --release or cargo-add", Language::English),
            ["edit", "cargo.toml", "cargo", "toml", "build.rs", "build", "rs", "run", "releas", "cargo", "add"]
        );
        assert_eq!(analyze("foo_bar std::fs", Language::English), ["foo_bar", "foo", "bar", "std", "fs"]);
        // Numbers with dots are not identifiers.
        assert_eq!(analyze("version 1.2.3", Language::English), ["version", "1.2.3"]);
    }

    #[test]
    fn words_pair_each_term_with_its_surface_word() {
        assert_eq!(
            analyze_words("The Running dogs of Cargo.toml", Language::English),
            [("running", "run"), ("dogs", "dog"), ("cargo", "cargo"), ("toml", "toml")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(analyze_words("l'index", Language::French), [("index".to_owned(), "index".to_owned())]);
    }

    /// The demo page leaves the analyzer's stop words unhighlighted; its list (www/app.js,
    /// `const STOP`) must be exactly the English and French ones of 3 letters or more (the
    /// page only highlights words of 3+ letters).
    #[test]
    fn the_demo_page_highlights_with_these_stop_words() {
        let app = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/app.js"));
        let start =
            app.find("const STOP = new Set((").expect("www/app.js has no STOP list") + "const STOP = new Set((".len();
        let end = start + app[start..].find(").split(' '))").expect("STOP list not closed");
        let page: std::collections::BTreeSet<String> = app[start..end]
            .split('\'')
            .skip(1)
            .step_by(2)
            .flat_map(|piece| piece.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let ours: std::collections::BTreeSet<String> =
            STOP_EN.iter().chain(STOP_FR).filter(|w| w.chars().count() >= 3).map(|w| (*w).to_owned()).collect();
        assert_eq!(page, ours, "www/app.js's STOP list differs from src/index/text.rs's stop words");
    }

    #[test]
    fn huge_word_is_dropped() {
        let w = "a".repeat(1 << 20);
        assert_eq!(analyze(&format!("hello {w} world"), Language::English), ["hello", "world"]);
        assert!(analyze("", Language::French).is_empty());
        assert!(analyze("  ,;!  ", Language::English).is_empty());
    }
}

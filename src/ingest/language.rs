//! Which language a document is in, decided once at ingest (a `language`/`lang`
//! metadata tag wins; otherwise detection). The analyzer downstream only reads the
//! decision ([`Language`] picks the stemmer and stop words).
//!
//! Detection uses `whatlang` trigrams on the first [`DETECT_SAMPLE_BYTES`] of the text:
//! English or French when detected as such; another language only when whatlang calls
//! the detection reliable; short or ambiguous Latin-script text (and text with no
//! letters) falls back to English, the corpus default, because a wrong "Other" silently
//! turns stemming off while the English stemmer on a stray foreign word costs little.

pub use crate::text::Language;

/// [`detect`] looks at most at this many bytes of the text.
pub const DETECT_SAMPLE_BYTES: usize = 4096;

/// Detect the language of `text` (see the module docs for the fallback rules).
pub fn detect(text: &str) -> Language {
    let sample = prefix_at_char_boundary(text, DETECT_SAMPLE_BYTES);
    match whatlang::detect(sample) {
        None => Language::English,
        Some(info) => match info.lang() {
            whatlang::Lang::Eng => Language::English,
            whatlang::Lang::Fra => Language::French,
            _ if info.is_reliable() => Language::Other,
            _ if info.script() == whatlang::Script::Latin => Language::English,
            _ => Language::Other,
        },
    }
}

/// The language of a document: its `language` (or `lang`) metadata tag when present,
/// else detected from its cleaned text.
pub fn resolve(metadata: &std::collections::BTreeMap<String, String>, cleaned_text: &str) -> Language {
    metadata
        .get("language")
        .or_else(|| metadata.get("lang"))
        .map(|t| Language::from_tag(t))
        .unwrap_or_else(|| detect(cleaned_text))
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
fn prefix_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_english_and_french() {
        assert_eq!(
            detect("Cargo is the Rust package manager. It downloads your dependencies and compiles them."),
            Language::English
        );
        assert_eq!(
            detect("Cargo est le gestionnaire de paquets de Rust. Il télécharge les dépendances et les compile."),
            Language::French
        );
        assert_eq!(
            detect("Cargo ist der Paketmanager von Rust. Er lädt die Abhängigkeiten herunter und kompiliert sie."),
            Language::Other
        );
        // No letters, or too short to tell: English.
        assert_eq!(detect("1234 5678"), Language::English);
        assert_eq!(detect(""), Language::English);
        // Non-Latin script.
        assert_eq!(detect("Это пример текста на русском языке для проверки."), Language::Other);
    }

    #[test]
    fn detect_samples_a_prefix_on_a_char_boundary() {
        let text = "é".repeat(DETECT_SAMPLE_BYTES);
        let _ = detect(&text);
        assert_eq!(prefix_at_char_boundary("héllo", 2), "h");
    }

    #[test]
    fn a_metadata_tag_wins_over_detection() {
        let mut m = std::collections::BTreeMap::new();
        let french = "Cargo est le gestionnaire de paquets de Rust. Il télécharge les dépendances et les compile.";
        assert_eq!(resolve(&m, french), Language::French);
        m.insert("lang".to_owned(), "en".to_owned());
        assert_eq!(resolve(&m, french), Language::English);
        m.insert("language".to_owned(), "de".to_owned());
        assert_eq!(resolve(&m, french), Language::Other, "`language` wins over `lang`");
    }
}

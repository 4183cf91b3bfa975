//! Text analysis for BM25: Unicode word segmentation (UAX #29), lower-casing,
//! Snowball stemming (English, French), language detection.
//!
//! OWNER: index helper — implement.

use serde::{Deserialize, Serialize};

/// Languages with a stemmer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Language {
    /// English (Snowball English stemmer).
    English,
    /// French (Snowball French stemmer).
    French,
    /// Anything else: no stemming.
    Other,
}

impl Language {
    /// From a metadata value such as `en`, `en-US`, `fr`, `french`.
    pub fn from_tag(tag: &str) -> Language {
        let t = tag.trim().to_ascii_lowercase();
        if t.starts_with("en") {
            Language::English
        } else if t.starts_with("fr") {
            Language::French
        } else {
            Language::Other
        }
    }
    /// Detect from text.
    pub fn detect(text: &str) -> Language {
        let _ = text;
        Language::English
    }
}

/// Analyze text into index terms.
pub fn analyze(text: &str, lang: Language) -> Vec<String> {
    let _ = lang;
    text.split_whitespace().map(|w| w.to_lowercase()).collect()
}

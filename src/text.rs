//! Vocabulary shared by every stage: how many tokens a text costs ([`TokenCounter`],
//! which the chunker asks and the embedder answers) and which language a text is in
//! ([`Language`], decided at ingest, read by the analyzer and the answer stage).
//!
//! It sits below the pipeline so that no stage has to name a later one to use them.

use serde::{Deserialize, Serialize};

/// Counts tokens the way the embedder will (its tokenizer, without special tokens).
pub trait TokenCounter {
    /// Number of tokens of `text`.
    fn count_tokens(&self, text: &str) -> usize;

    /// Whether counts never grow when whitespace-separated pieces are joined:
    /// `count(a + " " + b) <= count(a) + count(b)`. BERT's WordPiece qualifies (its
    /// pre-tokenizer splits on whitespace and punctuation first). When true, the chunker
    /// trusts its sums and skips the final whole-chunk count, about half of the
    /// tokenizer work. Default `false`: every chunk is verified.
    fn counts_are_subadditive(&self) -> bool {
        false
    }

    /// Whether `word` (lower-case, one word) is a word of the tokenizer's vocabulary as a
    /// whole, i.e. a real word: BM25 typo tolerance then leaves it alone (a word the corpus
    /// lacks, such as "shipped" in a question, is not a misspelling of "skipped"). `None`,
    /// the default, means the counter has no vocabulary to tell: every unmatched word may
    /// be corrected.
    fn is_known_word(&self, word: &str) -> Option<bool> {
        let _ = word;
        None
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_tag() {
        assert_eq!(Language::from_tag(" en-US"), Language::English);
        assert_eq!(Language::from_tag("French"), Language::French);
        assert_eq!(Language::from_tag("de"), Language::Other);
    }
}

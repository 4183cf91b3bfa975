//! The filter language: conditions on a document's id and metadata, all of which must
//! hold (applied before ranking, so `k` results come back whenever `k` matching chunks
//! exist).
//!
//! Two spellings, one meaning:
//! - **structured** (serde; JSON and JS): `{"op": "equals", "key": "lang", "value": "fr"}`,
//!   `{"op": "oneof", "key": …, "values": […]}`, `{"op": "prefix", "key": …, "prefix": …}`;
//! - **compact** ([`Filter::parse`], the CLI's `--filter`): `key=value`, `key=a|b`,
//!   `key^=prefix`.
//!
//! The key `id` matches the document id; any other key matches `metadata[key]`, and a
//! document without that key never matches — except for two *virtual* keys the engine
//! fills in when the metadata lacks them (in its filter matching): `collection`
//! (`default`) and `lang` (the document's detected language code, `en` or `fr`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest key, value or prefix of a filter, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Most values in a [`Filter::OneOf`].
pub const MAX_FILTER_VALUES: usize = 1024;

/// A metadata filter. The key `id` matches the document id; other keys match metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Filter {
    /// `metadata[key] == value`.
    Equals {
        /// Metadata key.
        key: String,
        /// Value.
        value: String,
    },
    /// `metadata[key]` is one of `values`.
    OneOf {
        /// Metadata key.
        key: String,
        /// Accepted values.
        values: Vec<String>,
    },
    /// `metadata[key]` starts with `prefix`.
    Prefix {
        /// Metadata key.
        key: String,
        /// Prefix.
        prefix: String,
    },
}

fn bad(detail: impl Into<String>) -> Error {
    Error::InvalidOption { name: "filters", detail: detail.into() }
}

impl Filter {
    /// Parse the compact syntax: `key=value`, `key=a|b` (one of) or `key^=prefix`.
    pub fn parse(s: &str) -> Result<Filter> {
        let filter = if let Some((k, v)) = s.split_once("^=") {
            Filter::Prefix { key: k.trim().into(), prefix: v.into() }
        } else {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| bad(format!("{s:?} is not a filter (key=value, key=a|b or key^=prefix)")))?;
            if v.contains('|') {
                Filter::OneOf { key: k.trim().into(), values: v.split('|').map(str::to_owned).collect() }
            } else {
                Filter::Equals { key: k.trim().into(), value: v.into() }
            }
        };
        filter.validate()?;
        Ok(filter)
    }

    /// The key the filter looks at.
    pub fn key(&self) -> &str {
        match self {
            Filter::Equals { key, .. } | Filter::OneOf { key, .. } | Filter::Prefix { key, .. } => key,
        }
    }

    /// Refuse an empty key, an empty `OneOf`, and oversized keys or values.
    pub fn validate(&self) -> Result<()> {
        let key = self.key();
        if key.trim().is_empty() {
            return Err(bad("a filter key is empty"));
        }
        let too_long = |s: &str| s.len() > MAX_FILTER_BYTES;
        let values: Vec<&str> = match self {
            Filter::Equals { value, .. } => vec![value],
            Filter::Prefix { prefix, .. } => vec![prefix],
            Filter::OneOf { values, .. } => {
                if values.is_empty() {
                    return Err(bad(format!("oneof filter on {key:?} lists no values")));
                }
                if values.len() > MAX_FILTER_VALUES {
                    return Err(bad(format!(
                        "oneof filter on {key:?} lists {} values, more than {MAX_FILTER_VALUES}",
                        values.len()
                    )));
                }
                values.iter().map(String::as_str).collect()
            }
        };
        if too_long(key) || values.iter().any(|v| too_long(v)) {
            return Err(bad(format!("a filter key or value is longer than {MAX_FILTER_BYTES} bytes")));
        }
        Ok(())
    }

    /// Whether a document with this id and metadata passes.
    pub fn matches(&self, id: &str, metadata: &BTreeMap<String, String>) -> bool {
        let get = |key: &str| -> Option<&str> {
            if key == "id" {
                Some(id)
            } else {
                metadata.get(key).map(String::as_str)
            }
        };
        match self {
            Filter::Equals { key, value } => get(key) == Some(value.as_str()),
            Filter::OneOf { key, values } => get(key).is_some_and(|v| values.iter().any(|x| x == v)),
            Filter::Prefix { key, prefix } => get(key).is_some_and(|v| v.starts_with(prefix.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn compact_syntax_parses_to_each_kind() {
        assert_eq!(
            Filter::parse("id^=reference/").unwrap(),
            Filter::Prefix { key: "id".into(), prefix: "reference/".into() }
        );
        assert_eq!(Filter::parse("lang=fr").unwrap(), Filter::Equals { key: "lang".into(), value: "fr".into() });
        assert_eq!(
            Filter::parse("lang=fr|en").unwrap(),
            Filter::OneOf { key: "lang".into(), values: vec!["fr".into(), "en".into()] }
        );
        // A value may itself contain '=' (only the first one splits).
        assert_eq!(Filter::parse("q=a=b").unwrap(), Filter::Equals { key: "q".into(), value: "a=b".into() });
    }

    #[test]
    fn malformed_filters_are_invalid_options() {
        for s in ["no operator", "=value", " ^=x", ""] {
            let e = Filter::parse(s).unwrap_err();
            assert_eq!(e.kind(), "InvalidOption", "{s:?}: {e}");
        }
        let long = format!("k={}", "x".repeat(MAX_FILTER_BYTES + 1));
        assert_eq!(Filter::parse(&long).unwrap_err().kind(), "InvalidOption");
        let empty = Filter::OneOf { key: "k".into(), values: vec![] };
        assert_eq!(empty.validate().unwrap_err().kind(), "InvalidOption");
    }

    #[test]
    fn id_and_metadata_keys_match_as_documented() {
        let m = meta(&[("lang", "fr"), ("section", "reference/profiles")]);
        assert!(Filter::parse("id^=guide/").unwrap().matches("guide/a.md", &m));
        assert!(!Filter::parse("id^=guide/").unwrap().matches("reference/a.md", &m));
        assert!(Filter::parse("lang=fr").unwrap().matches("x", &m));
        assert!(!Filter::parse("lang=en").unwrap().matches("x", &m));
        assert!(Filter::parse("lang=en|fr").unwrap().matches("x", &m));
        assert!(Filter::parse("section^=reference").unwrap().matches("x", &m));
        // A missing key never matches, even an empty value or prefix.
        assert!(!Filter::parse("author=").unwrap().matches("x", &m));
        assert!(!Filter::parse("author^=").unwrap().matches("x", &m));
        // Matching is exact and case-sensitive.
        assert!(!Filter::parse("lang=FR").unwrap().matches("x", &m));
    }

    #[test]
    fn structured_form_round_trips() {
        let f = Filter::parse("lang=fr|en").unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"op":"oneof","key":"lang","values":["fr","en"]}"#);
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), f);
    }
}

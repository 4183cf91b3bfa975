//! Logical routing: send a question to the **collections** that can answer it.
//!
//! An engine's documents belong to named collections (a document's `collection`
//! metadata; `default` when it names none), and a collection may carry a description
//! (`Engine::set_collection_description`). With [`Route::Auto`] a question is compared
//! with every collection — the cosine of its vector with the collection's **centroid**
//! (the normalised mean of its chunk vectors) and with its **description**, the better of
//! the two — and searched only in the collections within [`ROUTE_MARGIN`] of the best,
//! through a `collection` filter. This is the course's "logical routing" (a router picks
//! the data source) without an LLM: the routing signal is the embedding space the index
//! already has. A route never empties a search: with one collection, or none scoring,
//! nothing is filtered, and the trace says why.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Collections scoring within this cosine of the best one are searched too.
pub const ROUTE_MARGIN: f32 = 0.05;
/// The collection of a document that names none.
pub const DEFAULT_COLLECTION: &str = "default";
/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME_BYTES: usize = 128;
/// Longest collection description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Most described collections per engine.
pub const MAX_DESCRIBED_COLLECTIONS: usize = 256;

/// Whether a search is routed to collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Search every collection (default).
    #[default]
    None,
    /// Search the collections the question matches best (see the module docs).
    Auto,
}

impl std::str::FromStr for Route {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Route::None),
            "auto" => Ok(Route::Auto),
            other => {
                Err(Error::InvalidOption { name: "route", detail: format!("unknown route {other:?} (none, auto)") })
            }
        }
    }
}

impl Route {
    /// The option's name as the CLI and JS spell it.
    pub fn name(self) -> &'static str {
        match self {
            Route::None => "none",
            Route::Auto => "auto",
        }
    }
}

/// One collection's score for a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionScore {
    /// Collection name.
    pub name: String,
    /// Cosine of the question with the collection's centroid.
    pub centroid: f32,
    /// Cosine with its description, when it has one.
    pub description: Option<f32>,
    /// The score routed on: the better of the two.
    pub score: f32,
}

/// What routing did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteTrace {
    /// Every collection's score, best first.
    pub scores: Vec<CollectionScore>,
    /// The collections searched (empty: all of them).
    pub chosen: Vec<String>,
    /// Why nothing was filtered, when nothing was.
    pub note: String,
}

/// Check a collection's name and description.
pub fn validate_collection(name: &str, description: &str) -> Result<()> {
    let bad = |detail: String| Error::InvalidOption { name: "collection", detail };
    if name.trim().is_empty() || name.trim() != name {
        return Err(bad(format!("collection name {name:?} is empty or has surrounding spaces")));
    }
    if name.len() > MAX_COLLECTION_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(bad(format!(
            "collection name is {} bytes or has a control character (limit {MAX_COLLECTION_NAME_BYTES})",
            name.len()
        )));
    }
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(bad(format!(
            "description of {name:?} is {} bytes, more than the limit of {MAX_DESCRIPTION_BYTES}",
            description.len()
        )));
    }
    Ok(())
}

/// The collections to search, from their scores (any order): those within
/// [`ROUTE_MARGIN`] of the best, best first; empty (search everything) when there are
/// fewer than two collections or every one is chosen.
pub fn choose(mut scores: Vec<CollectionScore>) -> RouteTrace {
    scores.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
    let mut trace = RouteTrace { scores, ..Default::default() };
    if trace.scores.len() < 2 {
        trace.note = format!("{} collection: nothing to route between", trace.scores.len());
        return trace;
    }
    let best = trace.scores[0].score;
    if !best.is_finite() {
        trace.note = "no collection scored: searched all".into();
        return trace;
    }
    let chosen: Vec<String> =
        trace.scores.iter().filter(|s| s.score >= best - ROUTE_MARGIN).map(|s| s.name.clone()).collect();
    if chosen.len() == trace.scores.len() {
        trace.note = format!("every collection is within {ROUTE_MARGIN} of the best: searched all");
    } else {
        trace.chosen = chosen;
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, centroid: f32, description: Option<f32>) -> CollectionScore {
        CollectionScore {
            name: name.into(),
            centroid,
            description,
            score: description.unwrap_or(centroid).max(centroid),
        }
    }

    #[test]
    fn the_best_and_those_close_to_it_are_chosen() {
        let t = choose(vec![s("b", 0.20, None), s("a", 0.61, None), s("c", 0.58, Some(0.3))]);
        assert_eq!(t.chosen, ["a", "c"]);
        assert_eq!(t.scores[0].name, "a");
        let t = choose(vec![s("b", 0.20, Some(0.7)), s("a", 0.61, None)]);
        assert_eq!(t.chosen, ["b"], "a description can win over the centroid");
    }

    #[test]
    fn nothing_is_filtered_when_there_is_nothing_to_choose() {
        assert!(choose(vec![]).chosen.is_empty());
        let one = choose(vec![s("only", 0.5, None)]);
        assert!(one.chosen.is_empty() && one.note.contains("1 collection"));
        let all = choose(vec![s("a", 0.5, None), s("b", 0.49, None)]);
        assert!(all.chosen.is_empty() && all.note.contains("searched all"));
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert!(validate_collection("guide", "How-to pages").is_ok());
        for (n, d) in [("", ""), (" x", ""), ("a\nb", ""), (&"x".repeat(200)[..], "")] {
            assert!(matches!(validate_collection(n, d), Err(Error::InvalidOption { name: "collection", .. })), "{n:?}");
        }
        assert!(validate_collection("a", &"d".repeat(MAX_DESCRIPTION_BYTES + 1)).is_err());
        assert_eq!("AUTO".parse::<Route>().unwrap(), Route::Auto);
        assert!("sometimes".parse::<Route>().is_err());
    }
}

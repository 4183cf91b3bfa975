//! The retrieval options, one model for every caller.
//!
//! The CLI, the wasm adapter (and through it the worker and the page), the evaluation
//! grid and Rust callers all build a [`SearchOptions`] through the parsers here and
//! [`SearchOptions::validate`], so one invalid value (`k: 0`, `rrf_k: 0`, an unknown
//! mode, an `alpha` outside [0, 1]) is refused by all of them with the same
//! [`Error::InvalidOption`]. The engine validates again before searching (cheap), so an
//! options struct built by hand cannot bypass the rules.
//!
//! `tree: collapsed` (the RAPTOR collapsed tree, Sarthi et al. 2024) is refused in sparse
//! mode: the summary nodes have only dense vectors.
//!
//! Defaults follow the papers: reciprocal rank fusion with `rrf_k` = 60 (Cormack, Clarke
//! & Büttcher 2009), weighted fusion with `alpha` = 0.5, `k` = 5.

use serde::{Deserialize, Serialize};

use super::construct::Construct;
use super::filter::Filter;
use super::route::Route;
use super::translate::Translate;
use crate::error::{Error, Result};
use crate::index::fusion::Fusion;

/// The RRF constant of Cormack et al. (2009).
pub const DEFAULT_RRF_K: f32 = 60.0;
/// The dense weight of weighted fusion when none is given.
pub const DEFAULT_ALPHA: f32 = 0.5;
/// Most chunks one search may return.
pub const MAX_K: usize = 10_000;
/// Most filters in one search.
pub const MAX_FILTERS: usize = 64;

fn bad(name: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidOption { name, detail: detail.into() }
}

/// Retrieval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity only.
    Dense,
    /// BM25 only.
    Sparse,
    /// Both, fused (see [`SearchOptions::fusion`]).
    #[default]
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dense" => Ok(Mode::Dense),
            "sparse" | "bm25" => Ok(Mode::Sparse),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(bad("mode", format!("unknown mode {other:?} (dense, sparse, hybrid)"))),
        }
    }
}

/// Check a fusion's parameter: `rrf_k` finite and > 0, `alpha` in [0, 1].
pub fn validate_fusion(fusion: Fusion) -> Result<()> {
    match fusion {
        Fusion::Rrf { rrf_k } if !(rrf_k.is_finite() && rrf_k > 0.0) => {
            Err(bad("rrf_k", format!("{rrf_k} must be a finite number > 0")))
        }
        Fusion::Weighted { alpha } if !(0.0..=1.0).contains(&alpha) => {
            Err(bad("alpha", format!("{alpha} is not in [0, 1]")))
        }
        _ => Ok(()),
    }
}

/// A fusion from its flat spelling (`fusion`, `alpha`, `rrf_k`), as the CLI flags and
/// the JS options give it: `rrf` takes only `rrf_k`, `weighted` only `alpha`; with no
/// name, the parameter given picks the fusion (neither: RRF with `rrf_k` = 60).
pub fn fusion_from_parts(name: Option<&str>, alpha: Option<f32>, rrf_k: Option<f32>) -> Result<Fusion> {
    let name = name.map(|n| n.trim().to_ascii_lowercase());
    let fusion = match (name.as_deref(), alpha, rrf_k) {
        (None | Some("rrf"), None, k) => Fusion::Rrf { rrf_k: k.unwrap_or(DEFAULT_RRF_K) },
        (None | Some("weighted"), a, None) => Fusion::Weighted { alpha: a.unwrap_or(DEFAULT_ALPHA) },
        (Some("rrf"), Some(_), _) => return Err(bad("fusion", "rrf fusion takes rrf_k, not alpha")),
        (Some("weighted"), _, Some(_)) => return Err(bad("fusion", "weighted fusion takes alpha, not rrf_k")),
        (None, Some(_), Some(_)) => return Err(bad("fusion", "give alpha (weighted) or rrf_k (rrf), not both")),
        (Some(other), _, _) => return Err(bad("fusion", format!("unknown fusion {other:?} (rrf, weighted)"))),
    };
    validate_fusion(fusion)?;
    Ok(fusion)
}

/// How the fused candidates are reranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rerank {
    /// Keep the fused order.
    #[default]
    None,
    /// Late interaction at sentence granularity (ColBERT's MaxSim, Khattab & Zaharia
    /// 2020): a chunk's score is the best cosine of the query with one of its stored
    /// sentence vectors; the fused candidates (`max(k, fusion_candidates)`) are
    /// reordered by it.
    #[serde(alias = "max-sim")]
    MaxSim,
}

impl Rerank {
    /// The name the options use.
    pub fn name(self) -> &'static str {
        match self {
            Rerank::None => "none",
            Rerank::MaxSim => "maxsim",
        }
    }
}

impl std::str::FromStr for Rerank {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Rerank::None),
            "maxsim" | "max-sim" => Ok(Rerank::MaxSim),
            other => Err(bad("rerank", format!("unknown rerank {other:?} (none, maxsim)"))),
        }
    }
}

/// Whether the RAPTOR summary tree takes part in retrieval (Sarthi et al. 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tree {
    /// Chunks only (the default).
    #[default]
    None,
    /// The paper's collapsed tree: chunks and the summary nodes of every level ranked in
    /// one dense pool; a summary node is expanded into the chunks its sentences come from
    /// (`rag::tree`). Needs an index with a tree and a dense retriever (dense or hybrid mode).
    Collapsed,
}

impl std::str::FromStr for Tree {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Tree::None),
            "collapsed" | "collapsed-tree" => Ok(Tree::Collapsed),
            other => Err(bad("tree", format!("unknown tree retrieval {other:?} (none, collapsed)"))),
        }
    }
}

impl Tree {
    /// Display name: `none` or `collapsed`.
    pub fn name(self) -> &'static str {
        match self {
            Tree::None => "none",
            Tree::Collapsed => "collapsed",
        }
    }
}

/// A summary node a collapsed-tree search used, for the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeHit {
    /// Node index in the tree.
    pub node: u32,
    /// Its level (1 = a cluster of chunks).
    pub level: u8,
    /// Its cosine with the question (the score its chunks took).
    pub score: f32,
    /// The chunks it was expanded into (those not already ranked above it).
    pub chunks: Vec<crate::index::ChunkId>,
}

/// Options of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchOptions {
    /// Number of chunks returned (1 ..= [`MAX_K`]; more than the corpus returns all). Default 5.
    pub k: usize,
    /// Retrieval mode. Default hybrid.
    pub mode: Mode,
    /// Fusion for hybrid mode. Default RRF with `rrf_k` = 60.
    pub fusion: Fusion,
    /// Filters, all of which must match (applied before ranking).
    pub filters: Vec<Filter>,
    /// Reranking of the fused candidates. Default none.
    pub rerank: Rerank,
    /// Query translation (multi-query, fusion, decompose, step-back, HyDE, auto; see
    /// [`super::translate`]). Default none: the question is searched as typed.
    pub translate: Translate,
    /// Logical routing to the collections the question matches (see [`super::route`]).
    /// Default none: every collection is searched.
    pub route: Route,
    /// Query construction: a constraint the question names ("in the French documents")
    /// as a filter, applied or only suggested in the trace (see [`super::construct`]).
    /// Default off.
    pub construct: Construct,
    /// RAPTOR summary tree retrieval: none (default) or collapsed.
    pub tree: Tree,
    /// Scan every stored vector with the exact `f32` dot product (default false): no int8
    /// scan, no 1-bit prefilter, no HNSW graph (see [`crate::index::dense`]). Slower on large
    /// indexes; the ground truth a page measures the approximate paths' recall against.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 5,
            mode: Mode::Hybrid,
            fusion: Fusion::default(),
            filters: Vec::new(),
            rerank: Rerank::None,
            translate: Translate::None,
            route: Route::None,
            construct: Construct::Off,
            tree: Tree::None,
            exact: false,
        }
    }
}

impl SearchOptions {
    /// Check every field (see the module docs); the first problem is the error.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(bad("k", "k must be at least 1"));
        }
        if self.k > MAX_K {
            return Err(bad("k", format!("k = {} is more than the limit of {MAX_K}", self.k)));
        }
        validate_fusion(self.fusion)?;
        if self.filters.len() > MAX_FILTERS {
            return Err(bad(
                "filters",
                format!("{} filters, more than the limit of {MAX_FILTERS}", self.filters.len()),
            ));
        }
        self.filters.iter().try_for_each(Filter::validate)?;
        if self.tree == Tree::Collapsed && self.mode == Mode::Sparse {
            return Err(bad("tree", "the collapsed tree is dense-only: use dense or hybrid mode"));
        }
        self.translate.validate()
    }

    /// The options of a [`Retrieval`] (mode and fusion) with this `k` and these filters.
    pub fn with_retrieval(mut self, retrieval: Retrieval) -> Self {
        let (mode, fusion) = retrieval.mode_and_fusion();
        self.mode = mode;
        self.fusion = fusion;
        self
    }
}

/// A retrieval configuration by one name — mode and fusion together, as the
/// evaluation grid, the CLI's `--modes` and the demo's Evaluate panel list them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Retrieval {
    /// Embedding similarity only.
    Dense,
    /// BM25 only.
    Sparse,
    /// Both, fused by reciprocal rank fusion.
    HybridRrf {
        /// The RRF constant (default 60).
        rrf_k: f32,
    },
    /// Both, fused by a weighted sum of min-max normalised scores.
    HybridWeighted {
        /// Weight of the dense list in [0, 1] (default 0.5).
        alpha: f32,
    },
}

impl Retrieval {
    /// Parse a name: `dense`, `sparse` (`bm25`), `hybrid-rrf` (`hybrid`, `rrf`),
    /// `hybrid-weighted` (`weighted`), optionally with a parameter, e.g.
    /// `hybrid-weighted:0.3` or `hybrid-rrf:20`; `rrf_k` and `alpha` are the defaults
    /// when the name gives none.
    pub fn parse(s: &str, rrf_k: f32, alpha: f32) -> Result<Retrieval> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, arg) = match lower.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (lower.as_str(), None),
        };
        let number = |a: &str| a.parse::<f32>().map_err(|_| bad("mode", format!("{a:?} in {s:?} is not a number")));
        let retrieval = match name {
            "dense" => Retrieval::Dense,
            "sparse" | "bm25" => Retrieval::Sparse,
            "hybrid" | "rrf" | "hybrid-rrf" => {
                Retrieval::HybridRrf { rrf_k: arg.map(number).transpose()?.unwrap_or(rrf_k) }
            }
            "weighted" | "hybrid-weighted" => {
                Retrieval::HybridWeighted { alpha: arg.map(number).transpose()?.unwrap_or(alpha) }
            }
            _ => {
                return Err(bad(
                    "mode",
                    format!("unknown mode {s:?} (dense, sparse, hybrid-rrf, hybrid-weighted[:alpha])"),
                ));
            }
        };
        if arg.is_some() && matches!(retrieval, Retrieval::Dense | Retrieval::Sparse) {
            return Err(bad("mode", format!("mode {s:?} takes no parameter")));
        }
        retrieval.validate()?;
        Ok(retrieval)
    }

    /// Check the fusion parameter.
    pub fn validate(self) -> Result<()> {
        validate_fusion(self.mode_and_fusion().1)
    }

    /// The mode and fusion this names.
    pub fn mode_and_fusion(self) -> (Mode, Fusion) {
        match self {
            Retrieval::Dense => (Mode::Dense, Fusion::default()),
            Retrieval::Sparse => (Mode::Sparse, Fusion::default()),
            Retrieval::HybridRrf { rrf_k } => (Mode::Hybrid, Fusion::Rrf { rrf_k }),
            Retrieval::HybridWeighted { alpha } => (Mode::Hybrid, Fusion::Weighted { alpha }),
        }
    }

    /// Search options for this retrieval (default `k`, no filters).
    pub fn search_options(self) -> SearchOptions {
        SearchOptions::default().with_retrieval(self)
    }

    /// Display name: `dense`, `sparse`, `hybrid-rrf`, `hybrid-weighted α=0.3`
    /// (`rrf_k` is shown only when it is not 60).
    pub fn name(self) -> String {
        match self {
            Retrieval::Dense => "dense".into(),
            Retrieval::Sparse => "sparse".into(),
            Retrieval::HybridRrf { rrf_k } if rrf_k == DEFAULT_RRF_K => "hybrid-rrf".into(),
            Retrieval::HybridRrf { rrf_k } => format!("hybrid-rrf k={rrf_k}"),
            Retrieval::HybridWeighted { alpha } => format!("hybrid-weighted α={alpha}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!("Dense".parse::<Mode>().unwrap(), Mode::Dense);
        assert_eq!("bm25".parse::<Mode>().unwrap(), Mode::Sparse);
        assert_eq!(" hybrid ".parse::<Mode>().unwrap(), Mode::Hybrid);
        assert_eq!("fuzzy".parse::<Mode>().unwrap_err().kind(), "InvalidOption");
    }

    #[test]
    fn flat_fusion_spellings_give_one_fusion_or_a_typed_error() {
        assert_eq!(fusion_from_parts(None, None, None).unwrap(), Fusion::Rrf { rrf_k: 60.0 });
        assert_eq!(fusion_from_parts(Some("RRF"), None, Some(20.0)).unwrap(), Fusion::Rrf { rrf_k: 20.0 });
        assert_eq!(fusion_from_parts(None, Some(0.3), None).unwrap(), Fusion::Weighted { alpha: 0.3 });
        assert_eq!(fusion_from_parts(Some("weighted"), None, None).unwrap(), Fusion::Weighted { alpha: 0.5 });
        for (name, alpha, rrf_k) in [
            (Some("rrf"), Some(0.3), None),
            (Some("weighted"), None, Some(60.0)),
            (None, Some(0.3), Some(60.0)),
            (Some("borda"), None, None),
            (None, None, Some(0.0)),
            (None, None, Some(-1.0)),
            (None, None, Some(f32::NAN)),
            (None, None, Some(f32::INFINITY)),
            (None, Some(1.5), None),
            (None, Some(f32::NAN), None),
        ] {
            let e = fusion_from_parts(name, alpha, rrf_k).unwrap_err();
            assert_eq!(e.kind(), "InvalidOption", "{name:?} {alpha:?} {rrf_k:?}: {e}");
        }
    }

    #[test]
    fn search_options_validate_every_field() {
        assert!(SearchOptions::default().validate().is_ok());
        let cases = [
            SearchOptions { k: 0, ..SearchOptions::default() },
            SearchOptions { k: MAX_K + 1, ..SearchOptions::default() },
            SearchOptions { fusion: Fusion::Rrf { rrf_k: 0.0 }, ..SearchOptions::default() },
            SearchOptions { fusion: Fusion::Weighted { alpha: -0.1 }, ..SearchOptions::default() },
            SearchOptions {
                filters: vec![Filter::Equals { key: String::new(), value: "x".into() }],
                ..SearchOptions::default()
            },
            SearchOptions {
                filters: vec![Filter::Equals { key: "k".into(), value: "v".into() }; MAX_FILTERS + 1],
                ..SearchOptions::default()
            },
            SearchOptions { translate: Translate::MultiQuery { n: 0 }, ..SearchOptions::default() },
            SearchOptions { tree: Tree::Collapsed, mode: Mode::Sparse, ..SearchOptions::default() },
        ];
        for o in cases {
            assert_eq!(o.validate().unwrap_err().kind(), "InvalidOption", "{o:?}");
        }
    }

    #[test]
    fn serde_refuses_unknown_fields() {
        let ok: SearchOptions = serde_json::from_str(r#"{"k": 3, "mode": "sparse"}"#).unwrap();
        assert_eq!((ok.k, ok.mode), (3, Mode::Sparse));
        assert!(serde_json::from_str::<SearchOptions>(r#"{"kk": 3}"#).is_err());
        let t: SearchOptions = serde_json::from_str(r#"{"translate": "multi-query:3"}"#).unwrap();
        assert_eq!(t.translate, Translate::MultiQuery { n: 3 });
        assert!(serde_json::from_str::<SearchOptions>(r#"{"translate": "rewrite"}"#).is_err());
        let t: SearchOptions = serde_json::from_str(r#"{"tree": "collapsed"}"#).unwrap();
        assert_eq!(t.tree, Tree::Collapsed);
        assert!(serde_json::from_str::<SearchOptions>(r#"{"tree": "traversal"}"#).is_err());
        assert_eq!("Collapsed".parse::<Tree>().unwrap(), Tree::Collapsed);
        assert_eq!("traversal".parse::<Tree>().unwrap_err().kind(), "InvalidOption");
    }

    #[test]
    fn retrieval_names_parse_with_parameters_and_validate() {
        assert_eq!(Retrieval::parse("dense", 60.0, 0.5).unwrap(), Retrieval::Dense);
        assert_eq!(Retrieval::parse("BM25", 60.0, 0.5).unwrap(), Retrieval::Sparse);
        assert_eq!(Retrieval::parse("hybrid", 30.0, 0.5).unwrap(), Retrieval::HybridRrf { rrf_k: 30.0 });
        assert_eq!(Retrieval::parse("hybrid-rrf:20", 60.0, 0.5).unwrap(), Retrieval::HybridRrf { rrf_k: 20.0 });
        assert_eq!(
            Retrieval::parse("hybrid-weighted:0.3", 60.0, 0.5).unwrap(),
            Retrieval::HybridWeighted { alpha: 0.3 }
        );
        for bad in ["dense:3", "hybrid-rrf:0", "weighted:2", "weighted:x", "colbert", "hybrid-rrf:-5"] {
            assert_eq!(Retrieval::parse(bad, 60.0, 0.5).unwrap_err().kind(), "InvalidOption", "{bad}");
        }
        assert_eq!(Retrieval::parse("hybrid", 0.0, 0.5).unwrap_err().kind(), "InvalidOption");
        let o = Retrieval::HybridWeighted { alpha: 0.3 }.search_options();
        assert_eq!((o.mode, o.fusion), (Mode::Hybrid, Fusion::Weighted { alpha: 0.3 }));
        assert_eq!(Retrieval::HybridRrf { rrf_k: 60.0 }.name(), "hybrid-rrf");
        assert_eq!(Retrieval::HybridRrf { rrf_k: 20.0 }.name(), "hybrid-rrf k=20");
    }
}

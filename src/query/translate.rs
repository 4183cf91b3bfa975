//! Query translation, model-free: one question becomes the several searches the
//! engine runs, built from rules and from the index itself (pseudo-relevance feedback),
//! in milliseconds and without a generator. The engine glue (which lists are run and
//! fused) is in `rag::search`; this module holds the techniques' pure parts and the
//! trace type every translated search returns.
//!
//! - **Multi-query** and **RAG-Fusion** (Raudaschs 2023, "RAG-Fusion: a New Take on
//!   Retrieval-Augmented Generation"): the variants of the question come from the
//!   top chunks of the question's own ranking — an RM3-style expanded sparse query
//!   (Lavrenko & Croft 2001; Abdul-Jaleel et al. 2004: the terms of the feedback chunks
//!   with the highest `Σ idf / rank` that the question does not contain, see
//!   [`feedback_terms`]) and a dense Rocchio query (Rocchio 1971:
//!   `q + β·mean(top-k vectors)`, see [`rocchio`]). *Multi-query* takes the union of
//!   the variants' rankings, interleaved with the question's first; *fusion* fuses all
//!   lists by reciprocal rank fusion with the question's lists weighted first
//!   ([`crate::index::fusion::rrf_weighted`]).
//! - **Decomposition**: rules for the common multi-part shapes ([`decompose`]: `A vs B`,
//!   `difference between A and B`, `A differs from B`, `A interacts with B`, a list
//!   after a colon, `X and then Y`, two clauses joined by `and`), at most
//!   [`MAX_PARTS`] parts (a longer split is cut, and the trace says so); each part is
//!   retrieved separately and the merged list gives every part a quota of the first
//!   places ([`quota_merge`]) so no part is starved.
//! - **Step-back** (Zheng et al. 2023, "Take a Step Back: Evoking Reasoning via
//!   Abstraction in Large Language Models"): the general question is the titles and
//!   heading paths of the top chunks — the concepts the question sits under
//!   ([`step_back_query`]) — retrieved too and fused.
//! - **HyDE** (Gao et al. 2022, "Precise Zero-Shot Dense Retrieval without Relevance
//!   Labels"): the hypothetical document is, model-free, the best BM25 sentences of the
//!   top sparse chunks ([`pseudo_document`]); its embedding searches the dense index
//!   and that list is fused with the question's.
//! - **Auto** ([`auto_pick`]) picks one of the above from the question's shape; which one
//!   each shape gets was chosen by the measurements written at [`auto_pick`].

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::index::sparse::SparseIndex;
use crate::index::text::analyze;
use crate::index::Scored;
use crate::text::Language;

/// Most parts a question is decomposed into (more are cut, and traced).
pub const MAX_PARTS: usize = 6;
/// Most variants of `multi-query{n}`.
pub const MAX_VARIANTS: usize = 4;
/// Variants of `multi-query` when no `n` is given.
pub const DEFAULT_VARIANTS: usize = 2;
/// Feedback chunks read by RM3 expansion, Rocchio, step-back and HyDE.
pub const FEEDBACK_DEPTH: usize = 3;
/// Expansion terms of an RM3 variant.
pub const FEEDBACK_TERMS: usize = 5;
/// Weight of the feedback centroid in the Rocchio query (`β`; Rocchio's classic 0.75).
pub const ROCCHIO_BETA: f32 = 0.75;
/// RRF weight of a variant's list, relative to the question's lists (1.0).
pub const VARIANT_WEIGHT: f32 = 0.5;
/// Most sentences in a model-free HyDE pseudo-document.
pub const PSEUDO_DOC_SENTENCES: usize = 3;
/// Most bytes of a model-free HyDE pseudo-document.
pub const PSEUDO_DOC_BYTES: usize = 1200;

fn bad(detail: impl Into<String>) -> Error {
    Error::InvalidOption { name: "translate", detail: detail.into() }
}

/// Which query translation a search uses. Spelled `none`, `multi-query` (or
/// `multi-query:N`, N in 1..=[`MAX_VARIANTS`]), `fusion`, `decompose`, `step-back`,
/// `hyde`, `auto` — in JSON, the CLI and JS alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Translate {
    /// The question as typed, one search.
    #[default]
    None,
    /// `n` feedback variants, each retrieved; the union, interleaved, question first.
    MultiQuery {
        /// Number of variants (1 ..= [`MAX_VARIANTS`]).
        n: usize,
    },
    /// RAG-Fusion: the feedback variants fused by weighted RRF, the question first.
    Fusion,
    /// Rule-based decomposition into parts, each retrieved, merged with a per-part quota.
    Decompose,
    /// Step-back: the top chunks' titles and heading paths as the general query, fused.
    StepBack,
    /// HyDE: the best BM25 sentences as a pseudo-document, embedded and fused.
    Hyde,
    /// Pick one from the question's shape ([`auto_pick`]).
    Auto,
}

impl Translate {
    /// Check the parameter (`multi-query` takes 1 ..= [`MAX_VARIANTS`] variants).
    pub fn validate(self) -> Result<()> {
        match self {
            Translate::MultiQuery { n } if n == 0 || n > MAX_VARIANTS => {
                Err(bad(format!("multi-query takes 1 to {MAX_VARIANTS} variants, not {n}")))
            }
            _ => Ok(()),
        }
    }

    /// The spelling [`std::str::FromStr`] reads back.
    pub fn name(self) -> String {
        match self {
            Translate::None => "none".into(),
            Translate::MultiQuery { n } => format!("multi-query:{n}"),
            Translate::Fusion => "fusion".into(),
            Translate::Decompose => "decompose".into(),
            Translate::StepBack => "step-back".into(),
            Translate::Hyde => "hyde".into(),
            Translate::Auto => "auto".into(),
        }
    }
}

impl std::str::FromStr for Translate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, arg) = match lower.split_once([':', '=']) {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (lower.as_str(), None),
        };
        let t = match name {
            "none" | "" => Translate::None,
            "multi-query" | "multiquery" | "multi_query" => {
                let n = match arg {
                    None => DEFAULT_VARIANTS,
                    Some(a) => a.parse::<usize>().map_err(|_| bad(format!("{a:?} in {s:?} is not a count")))?,
                };
                Translate::MultiQuery { n }
            }
            "fusion" | "rag-fusion" => Translate::Fusion,
            "decompose" | "decomposition" => Translate::Decompose,
            "step-back" | "stepback" | "step_back" => Translate::StepBack,
            "hyde" => Translate::Hyde,
            "auto" => Translate::Auto,
            _ => {
                return Err(bad(format!(
                    "unknown translation {s:?} (none, multi-query[:n], fusion, decompose, step-back, hyde, auto)"
                )))
            }
        };
        if arg.is_some() && !matches!(t, Translate::MultiQuery { .. }) {
            return Err(bad(format!("translation {s:?} takes no parameter")));
        }
        t.validate()?;
        Ok(t)
    }
}

impl TryFrom<String> for Translate {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Translate> for String {
    fn from(t: Translate) -> String {
        t.name()
    }
}

/// Where a query the engine ran came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuerySource {
    /// The question as asked.
    Original,
    /// A decomposition rule.
    Rule,
    /// Pseudo-relevance feedback from the index (RM3 terms, Rocchio, headings, sentences).
    Feedback,
}

/// One query the engine actually ran for a translated search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedQuery {
    /// Its text (for a dense Rocchio vector: a description of it).
    pub text: String,
    /// Where it came from.
    pub source: QuerySource,
    /// How it was derived (`question`, `rm3`, `rocchio`, a rule name, `step-back`, `hyde`).
    pub via: String,
    /// The retriever(s) it ran on: `dense`, `sparse` or `hybrid`.
    pub retriever: String,
    /// Its RRF weight in the fusion (1 for the question), or its quota for a part.
    pub weight: f32,
    /// Chunks its ranking returned.
    pub hits: usize,
}

/// Time of one stage of a translated search, in milliseconds of the caller's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// Stage name (`translate`, `retrieve`, `fuse`).
    pub stage: String,
    /// Milliseconds.
    pub ms: f64,
}

/// What a translated search did: the technique asked for and used, the queries run,
/// notes (caps, skips, fallbacks) and per-stage time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTrace {
    /// The technique asked for.
    pub requested: Translate,
    /// The technique run (differs from `requested` for `auto`).
    pub technique: Translate,
    /// Why `auto` chose it (empty otherwise).
    pub reason: String,
    /// The queries run, the question first.
    pub queries: Vec<TracedQuery>,
    /// What else happened: a capped decomposition, a variant skipped, a fallback.
    pub notes: Vec<String>,
    /// Per-stage time (zero when the caller has no clock).
    pub stages: Vec<StageTime>,
    /// The question's words BM25 found nowhere and what its typo tolerance searched
    /// instead (empty in dense mode, or when every word matched).
    #[serde(default)]
    pub corrections: Vec<crate::index::sparse::TypoCorrection>,
    /// What routing did (`route: auto`), if asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<super::route::RouteTrace>,
    /// The filters constructed from the question (`construct: suggest | apply`), if asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub construction: Option<super::construct::Construction>,
    /// The summary nodes a collapsed-tree search ranked (empty without `tree: collapsed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tree: Vec<super::options::TreeHit>,
    /// The question's class (semantic routing, [`super::classify`]), when the engine
    /// classified it (traced searches do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<super::classify::Classification>,
}

impl QueryTrace {
    /// An empty trace for `requested`, running `technique`.
    pub fn new(requested: Translate, technique: Translate, reason: impl Into<String>) -> Self {
        QueryTrace {
            requested,
            technique,
            reason: reason.into(),
            queries: Vec::new(),
            notes: Vec::new(),
            stages: Vec::new(),
            corrections: Vec::new(),
            route: None,
            construction: None,
            tree: Vec::new(),
            class: None,
        }
    }
}

/// A question split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decomposition {
    /// The rule that matched (`comparison`, `versus`, `differ`, `interact`, `list`,
    /// `sequence`, `clauses`).
    pub rule: &'static str,
    /// The parts kept, in question order (2 ..= max parts).
    pub parts: Vec<String>,
    /// Parts the rule found before the cap.
    pub found: usize,
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Trim spaces and punctuation at the ends of a part (keeps `--release`, `Cargo.lock`).
fn clean_part(s: &str) -> String {
    let t = s.trim().trim_end_matches(['?', '.', '!', ',', ';', ':']).trim();
    let t = t.trim_start_matches([',', ';', ':']).trim();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Byte offset of `needle` (ASCII, lower-case) in `hay` compared case-insensitively.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let lower = hay.to_ascii_lowercase();
    lower.get(from..)?.find(needle).map(|i| i + from)
}

/// Split `s` at every case-insensitive occurrence of any of `seps` (ASCII).
fn split_ci<'a>(s: &'a str, seps: &[&str]) -> Vec<&'a str> {
    let lower = s.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let sep = if s.is_char_boundary(i) { seps.iter().find(|sep| lower[i..].starts_with(**sep)) } else { None };
        match sep {
            Some(sep) => {
                out.push(&s[start..i]);
                i += sep.len();
                start = i;
            }
            None => i += 1,
        }
    }
    out.push(&s[start..]);
    out
}

/// Items of an enumeration `a, b and c` / `a, b, or c` / `a or b`.
fn list_items(s: &str) -> Vec<String> {
    split_ci(s, &[", and ", ", or ", ", ", " and ", " or ", "; "])
        .into_iter()
        .map(clean_part)
        .filter(|p| {
            !p.is_empty()
                && !matches!(
                    p.to_lowercase().as_str(),
                    "both" | "either" | "neither" | "all" | "none" | "all of them" | "both of them"
                )
        })
        .collect()
}

/// Decompose a multi-part question by rule; `None` when no rule gives two or more
/// distinct parts. At most `max_parts` parts are kept (`found` tells how many there were).
pub fn decompose(question: &str, max_parts: usize) -> Option<Decomposition> {
    let q = question.trim();
    let (rule, parts): (&'static str, Vec<String>) = decompose_rules(q)?;
    let mut seen = HashSet::new();
    let parts: Vec<String> = parts
        .into_iter()
        .filter(|p| p.chars().any(char::is_alphanumeric))
        .filter(|p| seen.insert(p.to_lowercase()))
        .collect();
    if parts.len() < 2 {
        return None;
    }
    let found = parts.len();
    let parts = parts.into_iter().take(max_parts.max(2)).collect();
    Some(Decomposition { rule, parts, found })
}

fn decompose_rules(q: &str) -> Option<(&'static str, Vec<String>)> {
    // `difference(s) between A and B[, …]`: the items between `between` and the first
    // clause break.
    for key in ["differences between ", "difference between ", "distinction between "] {
        if let Some(i) = find_ci(q, key, 0) {
            let tail = &q[i + key.len()..];
            let end = tail.find([',', ';', '?', '(']).unwrap_or(tail.len());
            let items = list_items(&tail[..end]);
            if items.len() >= 2 {
                return Some(("comparison", items));
            }
        }
    }
    // `A vs B`, `A versus B`.
    let vs = split_ci(q, &[" vs. ", " vs ", " versus "]);
    if vs.len() >= 2 {
        return Some(("versus", vs.into_iter().map(clean_part).collect()));
    }
    // `how does A differ from B`, `A compared to B`, `A interacts with B`.
    for (rule, keys) in [
        (
            "differ",
            &[" differ from ", " differs from ", " compared to ", " compared with ", " compare to ", " compare with "]
                [..],
        ),
        ("interact", &[" interact with ", " interacts with ", " work together with ", " works together with "][..]),
    ] {
        let sides = split_ci(q, keys);
        if sides.len() == 2 && sides.iter().all(|s| words(s) >= 1) {
            let left = strip_wh(sides[0]);
            return Some((rule, vec![clean_part(left), clean_part(sides[1])]));
        }
    }
    // A list after a colon: `What should I cache: the target directory, CARGO_HOME, or both?`
    if let Some((head, tail)) = q.split_once(':') {
        let items = list_items(tail);
        if items.len() >= 2 && words(head) >= 2 {
            let head = clean_part(head);
            return Some(("list", items.into_iter().map(|i| format!("{head} {i}")).collect()));
        }
    }
    // A sequence: `how do I X and then Y`, `X, then Y`.
    let seq = split_ci(q, &[" and then ", ", then ", " and later ", " and afterwards ", "; then "]);
    if seq.len() >= 2 {
        return Some(("sequence", seq.into_iter().map(clean_part).collect()));
    }
    // Two clauses joined by `and` (each at least three words), or a list of three or more.
    let clauses: Vec<&str> = split_ci(q, &[", and ", " and "]);
    if clauses.len() >= 2 && clauses.iter().all(|c| words(c) >= 3) {
        return Some(("clauses", clauses.into_iter().map(clean_part).collect()));
    }
    let items = split_ci(q, &[", "]);
    if items.len() >= 3 {
        let mut parts: Vec<String> = Vec::new();
        for it in items {
            parts.extend(list_items(it));
        }
        if parts.len() >= 3 {
            return Some(("list", parts));
        }
    }
    None
}

/// Drop a leading `how does` / `how do` / `what is` so the left side of a comparison
/// is the thing compared.
fn strip_wh(s: &str) -> &str {
    let t = s.trim();
    for p in ["how does ", "how do ", "how is ", "how are ", "what is ", "in what way does "] {
        if t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p) {
            return &t[p.len()..];
        }
    }
    t
}

/// RM3-style expansion terms: the `n` words of `feedback` (the question's top chunks,
/// best first, with their language) with the highest `Σ idf / rank` whose stem the
/// question does not already contain; returned as the surface words (lower-case).
pub fn feedback_terms(sparse: &SparseIndex, question: &str, feedback: &[(&str, Language)], n: usize) -> Vec<String> {
    let asked: HashSet<String> = sparse.query_terms(question).into_iter().collect();
    pick_feedback_terms(&feedback_candidates(&asked, feedback), &|t| sparse.idf(t), n)
}

/// The candidate expansion words of [`feedback_terms`]: per feedback text, in order, its
/// words of at least three letters (not all digits) whose stem the question does not
/// already have, as `(stem, word)`. What an index must know the IDF of to pick among them.
pub fn feedback_candidates(asked: &HashSet<String>, feedback: &[(&str, Language)]) -> Vec<Vec<(String, String)>> {
    feedback
        .iter()
        .map(|(text, lang)| {
            text.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
                .filter_map(|word| {
                    let word = word.trim_matches('-').to_lowercase();
                    if word.chars().count() < 3 || word.chars().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    let stem = analyze(&word, *lang).into_iter().next()?;
                    (!asked.contains(&stem)).then_some((stem, word))
                })
                .collect()
        })
        .collect()
}

/// Pick the `n` candidates (per feedback rank, from [`feedback_candidates`]) with the
/// highest `Σ idf / rank`; ties by word. `idf` is 0 for a stem the index does not have.
pub fn pick_feedback_terms(candidates: &[Vec<(String, String)>], idf: &dyn Fn(&str) -> f32, n: usize) -> Vec<String> {
    let mut weight: HashMap<&str, (f32, &str)> = HashMap::new();
    for (rank, words) in candidates.iter().enumerate() {
        for (stem, word) in words {
            let w = idf(stem);
            let e = weight.entry(stem.as_str()).or_insert((0.0, word.as_str()));
            e.0 += w / (rank as f32 + 1.0);
        }
    }
    let mut terms: Vec<(f32, &str)> = weight.into_values().collect();
    terms.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    terms.into_iter().take(n).map(|(_, w)| w.to_owned()).collect()
}

/// The Rocchio query `q + β·mean(feedback)`, L2-normalised; `None` without feedback
/// vectors or when a vector's dimension differs from `q`'s.
pub fn rocchio(q: &[f32], feedback: &[&[f32]], beta: f32) -> Option<Vec<f32>> {
    if feedback.is_empty() || feedback.iter().any(|v| v.len() != q.len()) {
        return None;
    }
    let scale = beta / feedback.len() as f32;
    let mut out = q.to_vec();
    for v in feedback {
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += scale * x;
        }
    }
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return None;
    }
    out.iter_mut().for_each(|x| *x /= norm);
    Some(out)
}

/// The model-free HyDE pseudo-document: the sentences of `feedback` (the question's top
/// BM25 chunks) with the highest summed idf of the question's terms they contain, at most
/// [`PSEUDO_DOC_SENTENCES`] of them and [`PSEUDO_DOC_BYTES`] bytes, best first; `None`
/// when no sentence shares a term with the question.
pub fn pseudo_document(sparse: &SparseIndex, question: &str, feedback: &[(&str, Language)]) -> Option<String> {
    let terms: HashMap<String, f32> =
        sparse.query_terms(question).into_iter().map(|t| (t.clone(), sparse.idf(&t))).collect();
    let mut scored: Vec<(f32, usize, String)> = Vec::new();
    let mut order = 0;
    for (text, lang) in feedback {
        for s in text.unicode_sentences() {
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if words(&s) < 4 {
                continue;
            }
            let present: HashSet<String> = analyze(&s, *lang).into_iter().collect();
            let score: f32 = terms.iter().filter(|(t, _)| present.contains(*t)).map(|(_, idf)| idf.max(0.0)).sum();
            if score > 0.0 {
                scored.push((score, order, s));
            }
            order += 1;
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut doc = String::new();
    let mut seen = HashSet::new();
    for (_, _, s) in scored.into_iter() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if !doc.is_empty() && doc.len() + 1 + s.len() > PSEUDO_DOC_BYTES {
            break;
        }
        if !doc.is_empty() {
            doc.push(' ');
        }
        let room = PSEUDO_DOC_BYTES.saturating_sub(doc.len());
        let mut cut = s.len().min(room);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        doc.push_str(&s[..cut]);
        if seen.len() >= PSEUDO_DOC_SENTENCES {
            break;
        }
    }
    (!doc.is_empty()).then_some(doc)
}

/// The step-back query: the distinct `title heading…` labels of the top chunks (each a
/// title and heading path), joined; `None` when they carry none.
pub fn step_back_query(labels: &[(Option<&str>, &[String])], max_labels: usize) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for (title, path) in labels {
        let mut parts: Vec<&str> = title.iter().copied().collect();
        parts.extend(path.iter().map(String::as_str).filter(|p| Some(*p) != *title));
        let label = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        if !label.is_empty() && !out.contains(&label) {
            out.push(label);
        }
        if out.len() >= max_labels {
            break;
        }
    }
    (!out.is_empty()).then(|| out.join("; "))
}

/// Merge per-part rankings so that no part is starved: the first places are filled
/// in rounds, each list (list 0 first) taking one step per round — its next chunk,
/// added unless already there (then it serves this list too) — until each list took
/// `quota` steps; the rest follow in the order of `fused` (all lists fused). Unique ids,
/// at most `k`; an id's score is its score in `fused` (0 when absent there).
pub fn quota_merge(lists: &[Vec<Scored>], quota: usize, fused: &[Scored], k: usize) -> Vec<Scored> {
    let score: HashMap<_, _> = fused.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut out: Vec<Scored> = Vec::with_capacity(k.min(fused.len() + lists.len() * quota));
    let mut pos = vec![0usize; lists.len()];
    loop {
        let mut progressed = false;
        for (i, list) in lists.iter().enumerate() {
            if out.len() >= k {
                return out;
            }
            if pos[i] >= quota {
                continue;
            }
            let Some(&(id, _)) = list.get(pos[i]) else { continue };
            pos[i] += 1;
            progressed = true;
            if seen.insert(id) {
                out.push((id, score.get(&id).copied().unwrap_or(0.0)));
            }
        }
        if !progressed {
            break;
        }
    }
    for &(id, s) in fused {
        if out.len() >= k {
            break;
        }
        if seen.insert(id) {
            out.push((id, s));
        }
    }
    out
}

/// What `auto` runs for `question`, and why.
///
/// Chosen from measurements (2026-12-02, Cargo Book, MiniLM, hybrid RRF, `sotto eval`; the
/// table is in docs/retrieval.md): on the 8 two-part questions of the hard set,
/// decomposition put both relevant pages in the top 5 for 7 of 8 (0.875, against 0.50
/// searched as asked; all-docs@10 is 0.875 either way), and on the 30 plain questions,
/// 12 of which a rule splits, R@5 and MRR stayed 1.000 and 0.872. The feedback techniques did not help
/// anywhere: multi-query and fusion lowered paraphrase hit@5 from 0.70 to 0.60,
/// step-back and HyDE lowered all-docs@10 to 0.75 and plain MRR from 0.872 to 0.81, and
/// cost an extra embedding each. So a question a decomposition rule splits is
/// decomposed, and every other question is searched as asked.
pub fn auto_pick(question: &str) -> (Translate, String) {
    match decompose(question, MAX_PARTS) {
        Some(d) => (Translate::Decompose, format!("{} rule splits it into {} parts", d.rule, d.parts.len())),
        None => (Translate::None, "no multi-part shape: searched as asked".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(q: &str) -> Vec<String> {
        decompose(q, MAX_PARTS).map(|d| d.parts).unwrap_or_default()
    }

    #[test]
    fn comparisons_split_into_the_things_compared() {
        let d = decompose(
            "What is the difference between dev-dependencies and build-dependencies, and when is each used?",
            MAX_PARTS,
        )
        .unwrap();
        assert_eq!(d.rule, "comparison");
        assert_eq!(d.parts, ["dev-dependencies", "build-dependencies"]);
        assert_eq!(parts("Cargo.toml vs. Cargo.lock?"), ["Cargo.toml", "Cargo.lock"]);
        assert_eq!(parts("cargo check versus cargo build"), ["cargo check", "cargo build"]);
        assert_eq!(
            parts("How does cargo install differ from cargo build --release for getting a binary?"),
            ["cargo install", "cargo build --release for getting a binary"]
        );
        assert_eq!(
            parts("How do profiles set in a workspace root interact with the manifests of its members?"),
            ["profiles set in a workspace root", "the manifests of its members"]
        );
    }

    #[test]
    fn sequences_lists_and_clauses_split() {
        assert_eq!(
            parts("How do I declare a git dependency and then override it with a local path?"),
            ["How do I declare a git dependency", "override it with a local path"]
        );
        let d = decompose("What should a CI pipeline cache: the target directory, CARGO_HOME, or both?", MAX_PARTS)
            .unwrap();
        assert_eq!(d.rule, "list");
        assert_eq!(
            d.parts,
            ["What should a CI pipeline cache the target directory", "What should a CI pipeline cache CARGO_HOME"]
        );
        let d = decompose("How do I publish to an alternate registry and authenticate to it with a token?", MAX_PARTS)
            .unwrap();
        assert_eq!(d.rule, "clauses");
        assert_eq!(d.parts, ["How do I publish to an alternate registry", "authenticate to it with a token"]);
    }

    #[test]
    fn plain_questions_do_not_split() {
        for q in [
            "How do I depend on a crate directly from a git repository?",
            "What does the caret requirement ^1.2.3 allow when updating?",
            "build and test", // `and` between single words is not two clauses
            "Should a library commit its Cargo.lock file to version control?",
            "a vs a", // one distinct part
            "",
        ] {
            assert_eq!(decompose(q, MAX_PARTS), None, "{q}");
        }
    }

    #[test]
    fn a_fifty_part_question_is_capped_and_says_how_many_it_had() {
        let items: Vec<String> = (0..50).map(|i| format!("option{i}")).collect();
        let q = format!("What do these do: {}?", items.join(", "));
        let d = decompose(&q, MAX_PARTS).unwrap();
        assert_eq!(d.found, 50);
        assert_eq!(d.parts.len(), MAX_PARTS);
        assert!(
            d.parts[0].ends_with("option0") && d.parts[MAX_PARTS - 1].ends_with(&format!("option{}", MAX_PARTS - 1))
        );
        // A cap below two still keeps a real decomposition.
        assert_eq!(decompose(&q, 0).unwrap().parts.len(), 2);
    }

    #[test]
    fn translate_parses_validates_and_round_trips() {
        for (s, t) in [
            ("none", Translate::None),
            ("Multi-Query", Translate::MultiQuery { n: DEFAULT_VARIANTS }),
            ("multi-query:3", Translate::MultiQuery { n: 3 }),
            ("fusion", Translate::Fusion),
            ("decompose", Translate::Decompose),
            ("step-back", Translate::StepBack),
            ("hyde", Translate::Hyde),
            (" AUTO ", Translate::Auto),
        ] {
            let got: Translate = s.parse().unwrap();
            assert_eq!(got, t, "{s}");
            assert_eq!(got.name().parse::<Translate>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Translate>(&json).unwrap(), t);
        }
        for s in ["multi-query:0", "multi-query:5", "multi-query:x", "hyde:2", "rewrite", "fusion:1"] {
            assert_eq!(s.parse::<Translate>().unwrap_err().kind(), "InvalidOption", "{s}");
        }
        assert!(serde_json::from_str::<Translate>("\"multi-query:9\"").is_err());
        assert_eq!(Translate::MultiQuery { n: 0 }.validate().unwrap_err().kind(), "InvalidOption");
    }

    #[test]
    fn quota_merge_gives_every_part_its_places() {
        // List 0 dominates the fused order; list 2's best chunk would come last without quota.
        let a = vec![(1, 1.0), (2, 0.9), (3, 0.8)];
        let b = vec![(1, 1.0), (4, 0.9)];
        let c = vec![(9, 1.0)];
        let fused = vec![(1, 0.5), (2, 0.4), (3, 0.3), (4, 0.2), (9, 0.1)];
        // b's first chunk (1) is already in: it serves b, so c gets the second place.
        let m = quota_merge(&[a.clone(), b.clone(), c.clone()], 1, &fused, 2);
        assert_eq!(m.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 9]);
        let m = quota_merge(&[a.clone(), b.clone(), c.clone()], 1, &fused, 3);
        assert_eq!(m.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 9, 2]);
        let m = quota_merge(&[a, b, c], 2, &fused, 10);
        assert_eq!(m.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 9, 2, 4, 3]);
        let ids: HashSet<_> = m.iter().map(|h| h.0).collect();
        assert_eq!(ids.len(), m.len());
        assert!(quota_merge(&[], 3, &[], 5).is_empty());
    }

    #[test]
    fn rocchio_moves_toward_the_feedback_and_stays_normalised() {
        let q = [1.0, 0.0];
        let fb: [&[f32]; 1] = [&[0.0, 1.0]];
        let r = rocchio(&q, &fb, 1.0).unwrap();
        assert!((r[0] - r[1]).abs() < 1e-6 && (r[0] * r[0] + r[1] * r[1] - 1.0).abs() < 1e-5);
        assert!(rocchio(&q, &[], 1.0).is_none());
        let wrong: [&[f32]; 1] = [&[1.0]];
        assert!(rocchio(&q, &wrong, 1.0).is_none());
    }

    #[test]
    fn step_back_joins_distinct_labels() {
        let a = ["Profiles".to_owned(), "Release".to_owned()];
        let b = ["Profiles".to_owned()];
        let labels = [(Some("Profiles"), &a[..]), (Some("Profiles"), &a[..]), (None, &b[..])];
        assert_eq!(step_back_query(&labels, 3).unwrap(), "Profiles Release; Profiles");
        assert!(step_back_query(&[(None, &[][..])], 3).is_none());
    }
}

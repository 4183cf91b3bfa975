//! The RAPTOR summary tree (Sarthi et al. 2024, "RAPTOR: Recursive Abstractive Processing
//! for Tree-Organized Retrieval"): its parameters, the size-bounded clustering that builds
//! each level, the nodes, and their codec (the optional `tree` section of an index file).
//!
//! RAPTOR clusters chunk embeddings, writes a summary per cluster, embeds the summaries and
//! recurses, so that a question about a topic as a whole ("what does the guide say about
//! dependencies overall?") can match one node that speaks for several pages, where every
//! single chunk matches only a part of it.
//!
//! **Clustering: k-means with a size bound, not the paper's soft clustering.** The paper
//! reduces embeddings with UMAP, fits Gaussian mixtures (the number of clusters chosen by
//! BIC), assigns a chunk to every cluster above a probability threshold, and re-clusters a
//! cluster that exceeds the summariser's context. Here each level is split by spherical
//! k-means (k-means++ seeding from a fixed seed, [`TreeParams::kmeans_iterations`]
//! Lloyd steps), into at most [`TreeParams::branching`] parts at a time, recursively, until
//! no cluster has more than [`TreeParams::max_cluster_size`] members. Why:
//! - *bounded and predictable*: the cost is O(n · branching · dim · iterations · depth),
//!   seconds for 50k chunks, with a cancellation check between splits; UMAP + GMM + BIC
//!   is superlinear, iterative in ways that are hard to bound, and would be a second
//!   numerical library in the wasm bundle;
//! - *hard membership keeps citations simple*: every node has one parent, so a summary
//!   node's members and its spans are unambiguous;
//! - *the paper's own size bound* (re-cluster what is too big) becomes the only rule.
//!
//! **Summaries are extractive by default.** A node's summary is the
//! [`TreeParams::summary_length`] sentences closest to its cluster's centroid, at most one
//! from any chunk, each an exact byte span of a real chunk ([`TreeSpan`]); at higher levels
//! the candidates are the children's summary sentences. So a retrieved summary node cites
//! real text (its spans' chunks), and no generator is needed to build the tree.
//!
//! **Abstractive summaries are an option** ([`SummaryOptions::abstractive`]): the loaded
//! generator rewrites a node's extractive sentences under the copy constraint, and the
//! node's vector embeds that text instead; the spans stay, so expansion and citations do
//! not change. The texts are stored in their own optional section (`tree_summaries`,
//! [`SummaryTree::summaries_to_bytes`]), so the `tree` section keeps its layout and a file
//! without the new section is an extractive tree.
//!
//! Defaults follow the tree the paper reports: about 6.7 children per parent
//! ([`TreeParams::cluster_size`] = 7) and summaries of about 131 tokens
//! ([`TreeParams::summary_length`] = 4 sentences). This module knows vectors, ids and
//! spans; which texts are embedded and how nodes are retrieved is `rag::tree`.

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::format::bincode_opts;
use super::ChunkId;
use crate::error::{Error, Result};

/// Most levels a tree may have ([`TreeParams::max_levels`] is checked against it).
pub const MAX_LEVELS: usize = 16;
/// Most summary nodes a tree may have ([`TreeParams::max_nodes`] is checked against it,
/// and a `tree` section announcing more is refused).
pub const MAX_NODES: usize = 1 << 20;
/// Most members a cluster may be allowed ([`TreeParams::max_cluster_size`]).
pub const MAX_CLUSTER_SIZE: usize = 1024;
/// Most sentences in one summary.
pub const MAX_SUMMARY_LENGTH: usize = 64;
/// Most Lloyd iterations per k-means split.
pub const MAX_KMEANS_ITERATIONS: usize = 1000;
/// Most new tokens the generator may write for one abstractive summary
/// ([`SummaryOptions::max_new_tokens`]).
pub const MAX_SUMMARY_TOKENS: usize = 512;
/// Most bytes of one abstractive summary text (a longer generation keeps the extractive
/// summary; a `tree_summaries` section holding a longer one is refused).
pub const MAX_SUMMARY_TEXT_BYTES: usize = 8192;
/// Most bytes of the generator's name in a `tree_summaries` section.
pub const MAX_SUMMARY_GENERATOR_BYTES: usize = 256;

fn bad(name: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidOption { name, detail: detail.into() }
}

/// How a summary tree is built. The defaults follow the paper (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeParams {
    /// Members a cluster aims at: a split makes `ceil(n / cluster_size)` parts (at most
    /// `branching`). Default 7, the paper's ≈ 6.7 children per parent.
    pub cluster_size: usize,
    /// Hard bound on a cluster's members; a bigger one is split again (the paper
    /// re-clusters a cluster too long for its summariser). Default 2 × `cluster_size`.
    pub max_cluster_size: usize,
    /// Parts of one k-means split (larger clusters are split recursively). Default 8.
    pub branching: usize,
    /// Lloyd iterations per split (stops earlier when no assignment changes). Default 20.
    pub kmeans_iterations: usize,
    /// Sentences in a node's extractive summary (at most one per chunk). Default 4,
    /// about the paper's 131-token summaries for sentences of ~30 tokens.
    pub summary_length: usize,
    /// A level with at most this many nodes is the top: it is not clustered again. Default 7.
    pub top_nodes: usize,
    /// Most summary levels above the chunks. Default 5.
    pub max_levels: usize,
    /// Most summary nodes in the whole tree; a corpus that needs more is refused with
    /// [`Error::LimitExceeded`] before anything changes. Default 65 536.
    pub max_nodes: usize,
    /// Seed of the k-means++ seeding; the same corpus and seed give the same tree.
    pub seed: u64,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            cluster_size: 7,
            max_cluster_size: 14,
            branching: 8,
            kmeans_iterations: 20,
            summary_length: 4,
            top_nodes: 7,
            max_levels: 5,
            max_nodes: 65_536,
            seed: 0x5EED_7AEE,
        }
    }
}

impl TreeParams {
    /// Check every field against its limit; the first problem is an [`Error::InvalidOption`].
    pub fn validate(&self) -> Result<()> {
        if !(2..=MAX_CLUSTER_SIZE).contains(&self.cluster_size) {
            return Err(bad("cluster_size", format!("{} is not in 2..={MAX_CLUSTER_SIZE}", self.cluster_size)));
        }
        if !(self.cluster_size..=MAX_CLUSTER_SIZE).contains(&self.max_cluster_size) {
            return Err(bad(
                "max_cluster_size",
                format!(
                    "{} is not in cluster_size ({})..={MAX_CLUSTER_SIZE}",
                    self.max_cluster_size, self.cluster_size
                ),
            ));
        }
        if !(2..=64).contains(&self.branching) {
            return Err(bad("branching", format!("{} is not in 2..=64", self.branching)));
        }
        if !(1..=MAX_KMEANS_ITERATIONS).contains(&self.kmeans_iterations) {
            return Err(bad(
                "kmeans_iterations",
                format!("{} is not in 1..={MAX_KMEANS_ITERATIONS}", self.kmeans_iterations),
            ));
        }
        if !(1..=MAX_SUMMARY_LENGTH).contains(&self.summary_length) {
            return Err(bad("summary_length", format!("{} is not in 1..={MAX_SUMMARY_LENGTH}", self.summary_length)));
        }
        if self.top_nodes == 0 {
            return Err(bad("top_nodes", "must be at least 1"));
        }
        if !(1..=MAX_LEVELS).contains(&self.max_levels) {
            return Err(bad("max_levels", format!("{} is not in 1..={MAX_LEVELS}", self.max_levels)));
        }
        if !(1..=MAX_NODES).contains(&self.max_nodes) {
            return Err(bad("max_nodes", format!("{} is not in 1..={MAX_NODES}", self.max_nodes)));
        }
        Ok(())
    }
}

/// How a build writes its summaries. Not part of [`TreeParams`], whose encoding is fixed
/// by the `tree` section; what an abstractive build wrote is recorded in its own section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SummaryOptions {
    /// Write each summary with the loaded generator from the node's extractive sentences,
    /// copy-constrained (a generator must be loaded: [`Error::ModelNotLoaded`] otherwise).
    /// Default false: extractive summaries.
    pub abstractive: bool,
    /// Most new tokens per summary, in 1..=[`MAX_SUMMARY_TOKENS`]. Default 64.
    pub max_new_tokens: usize,
    /// A generated summary with fewer words is not used (the node keeps its extractive
    /// text). Default 4.
    pub min_words: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { abstractive: false, max_new_tokens: 64, min_words: 4 }
    }
}

impl SummaryOptions {
    /// Check the fields; the first problem is an [`Error::InvalidOption`].
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_SUMMARY_TOKENS).contains(&self.max_new_tokens) {
            return Err(bad("max_new_tokens", format!("{} is not in 1..={MAX_SUMMARY_TOKENS}", self.max_new_tokens)));
        }
        if self.min_words > self.max_new_tokens {
            return Err(bad(
                "min_words",
                format!("{} is more than max_new_tokens ({})", self.min_words, self.max_new_tokens),
            ));
        }
        Ok(())
    }
}

/// What wrote a tree's abstractive summaries (present only on an abstractive tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abstractive {
    /// The generator's name, as it reported it.
    pub generator: String,
    /// The new-token bound each summary was written under.
    pub max_new_tokens: u32,
}

/// A sentence of a summary: a byte span of a chunk's document text, inside that chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSpan {
    /// The chunk the sentence lies in.
    pub chunk: ChunkId,
    /// Byte start in the chunk's document's cleaned text.
    pub start: u32,
    /// Byte end.
    pub end: u32,
}

/// One summary node.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeNode {
    /// 1 for a cluster of chunks, 2 for a cluster of level-1 nodes, …
    pub level: u8,
    /// Level 1: the member chunks' ids; level L > 1: indices of the member nodes of level L − 1.
    pub children: Vec<u32>,
    /// The extractive summary, in source order.
    pub spans: Vec<TreeSpan>,
    /// Unit embedding of the summary text (stored int8, as sentence vectors are): the
    /// abstractive text when there is one, else the spans' sentences.
    pub vector: Vec<f32>,
    /// The abstractive summary the generator wrote from the spans' sentences; `None`: the
    /// summary is extractive (an extractive tree, or the generator wrote nothing usable).
    pub summary: Option<String>,
}

/// A summary tree: nodes ordered by level (all of level 1 first), the parameters it was
/// built with.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryTree {
    dim: usize,
    params: TreeParams,
    nodes: Vec<TreeNode>,
    /// Set when the build was abstractive (then the `tree_summaries` section is written).
    abstractive: Option<Abstractive>,
}

#[derive(Serialize, Deserialize)]
struct WireNode {
    level: u8,
    children: Vec<u32>,
    spans: Vec<TreeSpan>,
    scale: f32,
    codes: Vec<i8>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    dim: u32,
    params: TreeParams,
    nodes: Vec<WireNode>,
}

/// The `tree_summaries` section: who wrote the summaries, then one entry per node of the
/// `tree` section, in its order (`None`: that node kept its extractive summary).
#[derive(Serialize, Deserialize)]
struct SummariesWire {
    generator: String,
    max_new_tokens: u32,
    texts: Vec<Option<String>>,
}

fn corrupt(detail: impl std::fmt::Display) -> Error {
    Error::corrupt("tree", detail)
}

/// The name of the optional section that holds an abstractive tree's summary texts.
pub const SUMMARIES_SECTION: &str = "tree_summaries";

fn summaries_corrupt(detail: impl std::fmt::Display) -> Error {
    Error::corrupt(SUMMARIES_SECTION, detail)
}

/// A usable abstractive summary: not blank, at most [`MAX_SUMMARY_TEXT_BYTES`].
fn check_summary_text(t: &str) -> std::result::Result<(), String> {
    if t.trim().is_empty() {
        return Err("an empty summary".into());
    }
    if t.len() > MAX_SUMMARY_TEXT_BYTES {
        return Err(format!("a summary of {} bytes, more than the limit of {MAX_SUMMARY_TEXT_BYTES}", t.len()));
    }
    Ok(())
}

fn check_generator(name: &str) -> std::result::Result<(), String> {
    if name.len() > MAX_SUMMARY_GENERATOR_BYTES {
        return Err(format!(
            "a generator name of {} bytes, more than the limit of {MAX_SUMMARY_GENERATOR_BYTES}",
            name.len()
        ));
    }
    Ok(())
}

impl SummaryTree {
    /// A tree of `nodes` (checked as [`SummaryTree::from_bytes`] checks a loaded one).
    pub fn new(dim: usize, params: TreeParams, nodes: Vec<TreeNode>) -> Result<SummaryTree> {
        SummaryTree::build(dim, params, nodes, None)
    }

    fn build(
        dim: usize,
        params: TreeParams,
        nodes: Vec<TreeNode>,
        abstractive: Option<Abstractive>,
    ) -> Result<SummaryTree> {
        if let Some(a) = &abstractive {
            check_generator(&a.generator).map_err(summaries_corrupt)?;
        }
        let tree = SummaryTree { dim, params, nodes, abstractive };
        tree.check_shape()?;
        Ok(tree)
    }

    /// A tree whose summaries `abstractive` wrote (nodes with a `summary` text), checked as
    /// [`SummaryTree::new`] and [`SummaryTree::with_summaries`] check theirs.
    pub fn new_abstractive(
        dim: usize,
        params: TreeParams,
        nodes: Vec<TreeNode>,
        abstractive: Abstractive,
    ) -> Result<SummaryTree> {
        SummaryTree::build(dim, params, nodes, Some(abstractive))
    }

    /// What wrote the summaries, if the tree is abstractive.
    pub fn abstractive(&self) -> Option<&Abstractive> {
        self.abstractive.as_ref()
    }

    /// Nodes whose summary the generator wrote (0 for an extractive tree).
    pub fn abstractive_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.summary.is_some()).count()
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The parameters it was built with.
    pub fn params(&self) -> &TreeParams {
        &self.params
    }

    /// The nodes, level 1 first.
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// Number of summary nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no summary node (a corpus too small to cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of summary levels.
    pub fn levels(&self) -> usize {
        self.nodes.last().map_or(0, |n| n.level as usize)
    }

    /// Every node scored against `query` (a unit vector of the tree's dimension), best
    /// first, the `k` best; ties keep node order.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> =
            self.nodes.iter().enumerate().map(|(i, n)| (i as u32, dot(&n.vector, query))).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }

    /// Levels are 1, 2, … in order; a node's children are chunks (level 1) or earlier
    /// nodes one level down, each listed once; every node has a summary and a finite vector
    /// of the tree's dimension.
    fn check_shape(&self) -> Result<()> {
        if self.nodes.len() > MAX_NODES {
            return Err(corrupt(format!("{} nodes, more than the limit of {MAX_NODES}", self.nodes.len())));
        }
        let mut level = 1u8;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.level != level && n.level != level + 1 {
                return Err(corrupt(format!("node {i}: level {} after level {level}", n.level)));
            }
            if n.level as usize > MAX_LEVELS || (i == 0 && n.level != 1) {
                return Err(corrupt(format!("node {i}: level {}", n.level)));
            }
            level = n.level;
            if n.vector.len() != self.dim || n.vector.iter().any(|x| !x.is_finite()) {
                return Err(corrupt(format!("node {i}: vector of dimension {} for {}", n.vector.len(), self.dim)));
            }
            if n.children.is_empty() || n.spans.is_empty() {
                return Err(corrupt(format!("node {i}: no children or no summary")));
            }
            let mut seen = std::collections::HashSet::new();
            for &c in &n.children {
                if !seen.insert(c) {
                    return Err(corrupt(format!("node {i}: child {c} listed twice")));
                }
                if n.level > 1 {
                    let ok = self.nodes.get(c as usize).is_some_and(|m| (c as usize) < i && m.level + 1 == n.level);
                    if !ok {
                        return Err(corrupt(format!("node {i}: child {c} is not a node of level {}", n.level - 1)));
                    }
                }
            }
            if n.spans.iter().any(|s| s.start >= s.end) {
                return Err(corrupt(format!("node {i}: an empty or reversed span")));
            }
            if let Some(t) = &n.summary {
                if self.abstractive.is_none() {
                    return Err(corrupt(format!("node {i}: an abstractive summary in an extractive tree")));
                }
                check_summary_text(t).map_err(|d| summaries_corrupt(format!("node {i}: {d}")))?;
            }
        }
        Ok(())
    }

    /// The `tree` section's bytes (bincode; vectors int8 with one scale each).
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = Wire {
            dim: self.dim as u32,
            params: self.params,
            nodes: self
                .nodes
                .iter()
                .map(|n| {
                    let (scale, codes) = quantize(&n.vector);
                    WireNode { level: n.level, children: n.children.clone(), spans: n.spans.clone(), scale, codes }
                })
                .collect(),
        };
        // Plain data: serialization cannot fail.
        bincode_opts(u64::MAX).serialize(&wire).unwrap_or_default()
    }

    /// The `tree_summaries` section's bytes (bincode: the generator's name, the new-token
    /// bound, then per node its text or none); `None` for an extractive tree, which has no
    /// such section.
    pub fn summaries_to_bytes(&self) -> Option<Vec<u8>> {
        let a = self.abstractive.as_ref()?;
        let wire = SummariesWire {
            generator: a.generator.clone(),
            max_new_tokens: a.max_new_tokens,
            texts: self.nodes.iter().map(|n| n.summary.clone()).collect(),
        };
        Some(bincode_opts(u64::MAX).serialize(&wire).unwrap_or_default())
    }

    /// This tree (read from its `tree` section) with the texts of a `tree_summaries`
    /// section: one entry per node, each text UTF-8, not blank and at most
    /// [`MAX_SUMMARY_TEXT_BYTES`] — any other content is [`Error::Corrupt`] naming
    /// `tree_summaries`.
    pub fn with_summaries(self, bytes: &[u8]) -> Result<SummaryTree> {
        let wire: SummariesWire =
            bincode_opts(bytes.len() as u64 + 1024).deserialize(bytes).map_err(|e| summaries_corrupt(e.to_string()))?;
        if wire.texts.len() != self.nodes.len() {
            return Err(summaries_corrupt(format!("{} summaries for {} nodes", wire.texts.len(), self.nodes.len())));
        }
        let mut nodes = self.nodes;
        for (n, t) in nodes.iter_mut().zip(wire.texts) {
            n.summary = t;
        }
        let a = Abstractive { generator: wire.generator, max_new_tokens: wire.max_new_tokens };
        if !(1..=MAX_SUMMARY_TOKENS as u32).contains(&a.max_new_tokens) {
            return Err(summaries_corrupt(format!("max_new_tokens {}", a.max_new_tokens)));
        }
        SummaryTree::build(self.dim, self.params, nodes, Some(a))
    }

    /// Parse and check a `tree` section. Which chunks exist and where their spans lie is
    /// checked by the engine that loads it (`rag::persist`).
    pub fn from_bytes(bytes: &[u8]) -> Result<SummaryTree> {
        let wire: Wire =
            bincode_opts(bytes.len() as u64 * 8 + 1024).deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
        wire.params.validate().map_err(|e| corrupt(format!("parameters: {e}")))?;
        let dim = wire.dim as usize;
        let nodes = wire
            .nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                if n.codes.len() != dim || !(n.scale.is_finite() && n.scale > 0.0) {
                    return Err(corrupt(format!(
                        "node {i}: {} codes of scale {} for dimension {dim}",
                        n.codes.len(),
                        n.scale
                    )));
                }
                let vector = n.codes.iter().map(|&q| q as f32 * n.scale).collect();
                Ok(TreeNode { level: n.level, children: n.children, spans: n.spans, vector, summary: None })
            })
            .collect::<Result<Vec<_>>>()?;
        SummaryTree::new(dim, wire.params, nodes)
    }
}

/// int8 codes with one scale (`max|xᵢ| / 127`), the sentence vectors' quantisation
/// ([`super::sentences`]): each component off by at most `scale / 2`.
fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
    (scale, v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect())
}

/// Dot product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The unit-length mean of `members` of `vectors` (zero vector if they cancel out).
pub fn centroid(vectors: &[&[f32]], members: &[usize], dim: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; dim];
    for &m in members {
        for (a, x) in c.iter_mut().zip(vectors[m]) {
            *a += x;
        }
    }
    normalize(&mut c);
    c
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, the same sequence on
/// every target, so a tree is reproducible natively and in the browser.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Partition `vectors` (unit vectors of dimension `dim`) into clusters of at most
/// `params.max_cluster_size` members by recursive spherical k-means (see the module docs).
/// Clusters come out in a deterministic order, members ascending. `cancelled` is checked
/// before every split.
pub fn partition(
    vectors: &[&[f32]],
    dim: usize,
    params: &TreeParams,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Vec<usize>>> {
    let mut rng = SplitMix(params.seed);
    let mut out = Vec::new();
    // An explicit stack: a lopsided split must not recurse deeply.
    let mut stack: Vec<Vec<usize>> = vec![(0..vectors.len()).collect()];
    while let Some(members) = stack.pop() {
        if members.is_empty() {
            continue;
        }
        if members.len() <= params.max_cluster_size {
            out.push(members);
            continue;
        }
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let k = members.len().div_ceil(params.cluster_size).clamp(2, params.branching);
        let assign = kmeans(vectors, &members, dim, k, params.kmeans_iterations, &mut rng);
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (&m, &a) in members.iter().zip(&assign) {
            groups[a].push(m);
        }
        groups.retain(|g| !g.is_empty());
        if groups.len() < 2 {
            // Identical vectors: k-means cannot split them; cut in order instead.
            out.extend(members.chunks(params.cluster_size).map(<[usize]>::to_vec));
            continue;
        }
        // Reverse, so the stack pops the parts in order.
        stack.extend(groups.into_iter().rev());
    }
    out.iter_mut().for_each(|c| c.sort_unstable());
    Ok(out)
}

/// One spherical k-means run on `members`: k-means++ seeding (Arthur & Vassilvitskii
/// 2007) on cosine distance, then Lloyd steps; returns each member's cluster.
pub(crate) fn kmeans(
    vectors: &[&[f32]],
    members: &[usize],
    dim: usize,
    k: usize,
    iterations: usize,
    rng: &mut SplitMix,
) -> Vec<usize> {
    let n = members.len();
    let mut centers: Vec<Vec<f32>> = Vec::with_capacity(k);
    centers.push(vectors[members[(rng.next() % n as u64) as usize]].to_vec());
    let mut dist: Vec<f64> = members.iter().map(|&m| (1.0 - dot(vectors[m], &centers[0]) as f64).max(0.0)).collect();
    while centers.len() < k {
        let total: f64 = dist.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.unit() * total;
            let mut pick = n - 1;
            for (i, d) in dist.iter().enumerate() {
                if r < *d {
                    pick = i;
                    break;
                }
                r -= d;
            }
            pick
        } else {
            (rng.next() % n as u64) as usize
        };
        let c = vectors[members[pick]].to_vec();
        for (d, &m) in dist.iter_mut().zip(members) {
            *d = d.min((1.0 - dot(vectors[m], &c) as f64).max(0.0));
        }
        centers.push(c);
    }
    let mut assign = vec![usize::MAX; n];
    for _ in 0..iterations {
        let mut changed = false;
        for (a, &m) in assign.iter_mut().zip(members) {
            let best = (0..k)
                .map(|c| (c, dot(vectors[m], &centers[c])))
                .fold((0, f32::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b })
                .0;
            if *a != best {
                *a = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        for (c, center) in centers.iter_mut().enumerate() {
            let own: Vec<usize> = members.iter().zip(&assign).filter(|(_, &a)| a == c).map(|(&m, _)| m).collect();
            if !own.is_empty() {
                *center = centroid(vectors, &own, dim);
            }
        }
    }
    assign
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let mut v = v;
        normalize(&mut v);
        v
    }

    #[test]
    fn partition_bounds_cluster_size_covers_every_vector_and_is_deterministic() {
        let mut rng = SplitMix(7);
        let vs: Vec<Vec<f32>> = (0..500).map(|_| unit((0..16).map(|_| rng.unit() as f32 - 0.5).collect())).collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let p = TreeParams::default();
        let a = partition(&refs, 16, &p, &|| false).unwrap();
        assert!(a.iter().all(|c| !c.is_empty() && c.len() <= p.max_cluster_size), "{a:?}");
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..500).collect::<Vec<_>>());
        assert_eq!(a, partition(&refs, 16, &p, &|| false).unwrap());
        let other = partition(&refs, 16, &TreeParams { seed: 1, ..p }, &|| false).unwrap();
        assert_ne!(a, other, "the seed should matter");
        assert!(matches!(partition(&refs, 16, &p, &|| true), Err(Error::Cancelled)));
    }

    #[test]
    fn kmeans_separates_obvious_groups_and_identical_vectors_are_cut_in_order() {
        // Two tight groups far apart: no cluster mixes them.
        let mut vs = Vec::new();
        for i in 0..20 {
            vs.push(unit(vec![1.0, 0.01 * i as f32, 0.0]));
            vs.push(unit(vec![0.0, 0.01 * i as f32, 1.0]));
        }
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let p = TreeParams { max_cluster_size: 20, cluster_size: 20, ..TreeParams::default() };
        let c = partition(&refs, 3, &p, &|| false).unwrap();
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c.iter().all(|g| g.iter().all(|&m| m % 2 == g[0] % 2)), "{c:?}");
        let same = vec![vec![1.0f32, 0.0]; 30];
        let refs: Vec<&[f32]> = same.iter().map(Vec::as_slice).collect();
        let c = partition(&refs, 2, &TreeParams::default(), &|| false).unwrap();
        assert!(c.iter().all(|g| g.len() <= 14) && c.iter().map(Vec::len).sum::<usize>() == 30, "{c:?}");
    }

    #[test]
    fn params_are_validated() {
        assert!(TreeParams::default().validate().is_ok());
        let d = TreeParams::default;
        for p in [
            TreeParams { cluster_size: 1, ..d() },
            TreeParams { max_cluster_size: 3, ..d() },
            TreeParams { branching: 1, ..d() },
            TreeParams { kmeans_iterations: 0, ..d() },
            TreeParams { summary_length: 0, ..d() },
            TreeParams { top_nodes: 0, ..d() },
            TreeParams { max_levels: MAX_LEVELS + 1, ..d() },
            TreeParams { max_nodes: 0, ..d() },
        ] {
            assert_eq!(p.validate().unwrap_err().kind(), "InvalidOption", "{p:?}");
        }
    }

    fn node(level: u8, children: Vec<u32>) -> TreeNode {
        TreeNode {
            level,
            children,
            spans: vec![TreeSpan { chunk: 0, start: 0, end: 3 }],
            vector: unit(vec![1.0, 2.0]),
            summary: None,
        }
    }

    #[test]
    fn codec_round_trips_and_refuses_bad_shapes() {
        let t = SummaryTree::new(
            2,
            TreeParams::default(),
            vec![node(1, vec![0, 1]), node(1, vec![2]), node(2, vec![0, 1])],
        )
        .unwrap();
        let back = SummaryTree::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!((back.len(), back.levels(), back.params()), (3, 2, t.params()));
        for (a, b) in t.nodes().iter().zip(back.nodes()) {
            assert!(a.vector.iter().zip(&b.vector).all(|(x, y)| (x - y).abs() < 0.01));
            assert_eq!((&a.children, &a.spans), (&b.children, &b.spans));
        }
        for bad in [
            vec![node(2, vec![0])],
            vec![node(1, vec![0]), node(2, vec![5])],
            vec![node(1, vec![0]), node(3, vec![0])],
            vec![node(1, vec![0, 0])],
            vec![node(1, vec![])],
        ] {
            assert_eq!(SummaryTree::new(2, TreeParams::default(), bad).unwrap_err().kind(), "Corrupt");
        }
        let mut bytes = t.to_bytes();
        bytes.truncate(bytes.len() / 2);
        assert_eq!(SummaryTree::from_bytes(&bytes).unwrap_err().kind(), "Corrupt");
    }

    #[test]
    fn summaries_travel_in_their_own_section_and_leave_the_tree_section_as_it_was() {
        let written = |t: Option<&str>| TreeNode { summary: t.map(str::to_owned), ..node(1, vec![0]) };
        let nodes = vec![written(Some("Apples grow here.")), written(None)];
        let a = Abstractive { generator: "SmolLM2".into(), max_new_tokens: 64 };
        let t = SummaryTree::new_abstractive(2, TreeParams::default(), nodes.clone(), a.clone()).unwrap();
        let extractive = SummaryTree::new(2, TreeParams::default(), vec![node(1, vec![0]), node(1, vec![0])]).unwrap();
        assert_eq!(t.to_bytes(), extractive.to_bytes(), "the tree section does not change");
        assert_eq!(extractive.summaries_to_bytes(), None);
        let back = SummaryTree::from_bytes(&t.to_bytes()).unwrap().with_summaries(&t.summaries_to_bytes().unwrap());
        let back = back.unwrap();
        assert_eq!((back.abstractive(), back.abstractive_nodes()), (Some(&a), 1));
        assert_eq!(back.nodes()[0].summary.as_deref(), Some("Apples grow here."));
        // A text in a tree that says it is extractive, a blank text, a long generator name.
        let err = SummaryTree::new(2, TreeParams::default(), nodes).unwrap_err();
        assert_eq!(err.kind(), "Corrupt");
        let err = SummaryTree::new_abstractive(2, TreeParams::default(), vec![written(Some(" "))], a.clone());
        assert!(matches!(err, Err(Error::Corrupt { section, .. }) if section == SUMMARIES_SECTION));
        let long = Abstractive { generator: "g".repeat(MAX_SUMMARY_GENERATOR_BYTES + 1), ..a };
        assert!(SummaryTree::new_abstractive(2, TreeParams::default(), vec![written(None)], long).is_err());
        assert!(SummaryOptions::default().validate().is_ok() && !SummaryOptions::default().abstractive);
    }
}

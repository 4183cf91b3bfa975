//! The RAPTOR summary tree (Sarthi et al. 2024) of an engine: built from the chunk vectors
//! the index already stores, and retrieved as the paper's *collapsed tree*.
//!
//! **Building** ([`Engine::build_tree`]). Level 1 clusters the chunk vectors
//! ([`crate::index::tree::partition`]: size-bounded spherical k-means, seeded); a cluster's
//! summary is extractive — the sentence closest to the cluster's centroid from each of its
//! [`TreeParams::summary_length`] most central chunks — so every summary sentence is an
//! exact span of a real chunk. Sentence vectors come from the index's sentence store, or are
//! embedded for those central chunks only (an index built without them; nothing is added to
//! the store). The summary, headed by its documents' titles, is embedded like a chunk; the
//! summaries are clustered again, a level's candidates being its children's summary
//! sentences, until a level has at most [`TreeParams::top_nodes`] nodes or
//! [`TreeParams::max_levels`] is reached. The chunks are never re-embedded. The build works
//! on copies and commits at the end, so an error or a cancellation (checked between
//! k-means splits and embedding batches) leaves the engine as it was. Adding or removing
//! documents drops the tree (it describes the old corpus).
//!
//! **Abstractive summaries** ([`SummaryOptions::abstractive`], off by default). The paper
//! summarises each cluster with a language model. Here the loaded generator rewrites a
//! node's extractive sentences (the same spans as above) into one or two sentences,
//! copy-constrained as compose answers are ([`CopyConstraint`], unit words: every word a
//! word of those sentences, a stop word or one of [`COPY_FREE_WORDS`]), bounded by
//! [`SummaryOptions::max_new_tokens`], cancellable between tokens. The node's vector
//! embeds that text under the same title header; the spans stay on the node, so expansion
//! to chunks and citations are unchanged. A generation that is empty, shorter than
//! [`SummaryOptions::min_words`], fails, or does not pass the constraint again as a whole
//! leaves the node extractive ([`TreeReport::abstractive_fallbacks`]). Higher levels are
//! clustered on the abstractive vectors; their summaries are written from their own
//! extractive sentences, not from the children's generated texts, so no generated word
//! is ever copied twice over.
//!
//! **Retrieving** (`SearchOptions::tree = collapsed`). The paper compares traversing the
//! tree level by level with *collapsing* it — every node of every level in one pool, ranked
//! by cosine with the question — and recommends the collapsed tree. Here the dense ranking
//! pools chunks and summary nodes; a summary node in the ranking is **expanded into the
//! chunks its summary sentences come from** (at most `summary_length`, best cosine with the
//! question first), each taking the node's score and place, duplicates dropped. So a hit is
//! always a real chunk and citations stay real spans, and the sparse side, fusion, filters,
//! reranking and answers work unchanged; the trace lists the summary nodes that were used
//! (level, score, chunks). The tree is dense-only (summaries are not in BM25), so
//! `collapsed` needs `dense` or `hybrid` mode, and an index without a tree refuses it with
//! [`Error::InvalidOption`] rather than silently searching without one.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::answer::COPY_FREE_WORDS;
use super::prompt::{build_summary_prompt, strip_markers};
use super::records::Progress;
use super::Engine;
use crate::error::{Error, Result};
use crate::generate::constrain::{CopyConstraint, CopyUnit};
use crate::generate::{ChatMessage, FinishReason, GenerationOptions, Generator, Prompt};
use crate::index::tree::{
    centroid, dot, partition, Abstractive, SummaryOptions, SummaryTree, TreeNode, TreeParams, TreeSpan,
    MAX_SUMMARY_GENERATOR_BYTES, MAX_SUMMARY_TEXT_BYTES,
};
use crate::index::{ChunkId, Scored};
use crate::query::TreeHit;

/// What a tree build made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeReport {
    /// Chunks the tree was built over.
    pub chunks: usize,
    /// Summary nodes per level (level 1 first).
    pub nodes_per_level: Vec<usize>,
    /// Summary nodes in all.
    pub nodes: usize,
    /// Sentences embedded because the index had no vectors for them.
    pub sentences_embedded: usize,
    /// Summaries embedded (= nodes).
    pub summaries_embedded: usize,
    /// Abstractive build: summaries the generator wrote that the tree uses.
    #[serde(default)]
    pub abstractive: usize,
    /// Abstractive build: nodes that kept their extractive summary because the generation
    /// was empty, too short, failed, or did not pass the copy constraint.
    #[serde(default)]
    pub abstractive_fallbacks: usize,
    /// Abstractive build: tokens generated in all.
    #[serde(default)]
    pub generated_tokens: usize,
}

/// A summary sentence while building: its span and its vector.
#[derive(Clone)]
struct Candidate {
    span: TreeSpan,
    vector: Vec<f32>,
}

impl Engine {
    /// The summary tree, if one was built (or loaded).
    pub fn tree(&self) -> Option<&SummaryTree> {
        self.tree.as_ref()
    }

    /// Drop the summary tree; returns whether there was one.
    pub fn clear_tree(&mut self) -> bool {
        self.tree.take().is_some()
    }

    /// Build (or rebuild) the summary tree over the indexed chunks (see the module docs),
    /// reporting [`Progress::Tree`] and checking `cancelled` between steps. All-or-nothing:
    /// on error or cancellation the engine, its previous tree included, is unchanged.
    pub fn build_tree(
        &mut self,
        params: &TreeParams,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<TreeReport> {
        self.build_tree_with(params, &SummaryOptions::default(), progress, cancelled)
    }

    /// [`Engine::build_tree`] with a choice of summaries: `summaries.abstractive` has the
    /// loaded generator write them (see the module docs; [`Error::ModelNotLoaded`] without
    /// one, before anything is done), also reporting [`Progress::Summaries`].
    pub fn build_tree_with(
        &mut self,
        params: &TreeParams,
        summaries: &SummaryOptions,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<TreeReport> {
        let (tree, report) = self.compute_tree(params, summaries, progress, cancelled)?;
        self.tree = Some(tree);
        Ok(report)
    }

    fn compute_tree(
        &self,
        params: &TreeParams,
        options: &SummaryOptions,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(SummaryTree, TreeReport)> {
        params.validate()?;
        options.validate()?;
        let abstractive = if options.abstractive {
            let info = self.generator_info().ok_or(Error::ModelNotLoaded("generator"))?;
            let mut generator = info.name.unwrap_or(info.architecture);
            while generator.len() > MAX_SUMMARY_GENERATOR_BYTES {
                generator.pop();
            }
            Some(Abstractive { generator, max_new_tokens: options.max_new_tokens as u32 })
        } else {
            None
        };
        let dim = self.dense.dim();
        let (ids, chunk_vectors) = self.chunk_vectors()?;
        let mut report = TreeReport { chunks: ids.len(), ..TreeReport::default() };
        let mut nodes: Vec<TreeNode> = Vec::new();
        // The current level's items: their vectors and (above level 1) their summaries.
        let mut level_vectors: Vec<Vec<f32>> = Vec::new();
        let mut level_summaries: Vec<Vec<Candidate>> = Vec::new();
        let mut level_offset = 0usize; // index of the current level's first node
        for level in 1..=params.max_levels {
            let items: Vec<&[f32]> =
                if level == 1 { chunk_vectors.clone() } else { level_vectors.iter().map(Vec::as_slice).collect() };
            if items.len() <= params.top_nodes {
                break;
            }
            let clusters = partition(&items, dim, params, cancelled)?;
            if clusters.len() >= items.len() {
                break; // nothing merged: the level would repeat the one below
            }
            if nodes.len() + clusters.len() > params.max_nodes {
                return Err(Error::LimitExceeded {
                    what: "summary tree nodes",
                    limit: params.max_nodes,
                    got: nodes.len() + clusters.len(),
                });
            }
            let centroids: Vec<Vec<f32>> = clusters.iter().map(|c| centroid(&items, c, dim)).collect();
            // Each cluster's candidate sentences.
            let candidates: Vec<Vec<Candidate>> = if level == 1 {
                let central: Vec<Vec<ChunkId>> = clusters
                    .iter()
                    .zip(&centroids)
                    .map(|(c, cen)| {
                        let mut m: Vec<(usize, f32)> = c.iter().map(|&i| (i, dot(items[i], cen))).collect();
                        m.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        m.into_iter().take(params.summary_length).map(|(i, _)| ids[i]).collect()
                    })
                    .collect();
                let sentences = self.sentences_for(&central, level, clusters.len(), progress, cancelled)?;
                report.sentences_embedded += sentences.1;
                central
                    .iter()
                    .map(|cs| cs.iter().flat_map(|id| sentences.0.get(id).cloned().unwrap_or_default()).collect())
                    .collect()
            } else {
                clusters.iter().map(|c| c.iter().flat_map(|&i| level_summaries[i].iter().cloned()).collect()).collect()
            };
            // Pick each summary, then embed the summaries.
            let mut summaries: Vec<Vec<Candidate>> = Vec::with_capacity(clusters.len());
            for ((c, cen), cands) in clusters.iter().zip(&centroids).zip(candidates) {
                let mut picked = pick(cands, cen, params.summary_length);
                if picked.is_empty() {
                    // No sentence long enough anywhere in the cluster (code-only chunks):
                    // the most central member's whole span stands for it.
                    picked = self.fallback_summary(c, &items, cen, level, &ids, &nodes, level_offset);
                }
                self.source_order(&mut picked);
                summaries.push(picked);
            }
            let written: Vec<Option<String>> = if abstractive.is_some() {
                self.write_summaries(&summaries, level, options, &mut report, progress, cancelled)?
            } else {
                vec![None; summaries.len()]
            };
            let texts: Vec<String> =
                summaries.iter().zip(&written).map(|(s, w)| self.summary_text(s, w.as_deref())).collect();
            let vectors = self.embed_level(&texts, level, clusters.len(), progress, cancelled)?;
            report.summaries_embedded += vectors.len();
            let first_new = nodes.len();
            for (((c, s), v), w) in clusters.iter().zip(&summaries).zip(&vectors).zip(written) {
                let children = if level == 1 {
                    c.iter().map(|&i| ids[i]).collect()
                } else {
                    c.iter().map(|&i| (level_offset + i) as u32).collect()
                };
                nodes.push(TreeNode {
                    level: level as u8,
                    children,
                    spans: s.iter().map(|c| c.span).collect(),
                    vector: v.clone(),
                    summary: w,
                });
            }
            report.nodes_per_level.push(clusters.len());
            level_offset = first_new;
            level_vectors = vectors;
            level_summaries = summaries;
        }
        report.nodes = nodes.len();
        let tree = match abstractive {
            Some(a) => SummaryTree::new_abstractive(dim, *params, nodes, a)?,
            None => SummaryTree::new(dim, *params, nodes)?,
        };
        Ok((tree, report))
    }

    /// One level's abstractive summaries, by the loaded generator (see the module docs):
    /// per node its text, or `None` where the node keeps its extractive summary.
    fn write_summaries(
        &self,
        summaries: &[Vec<Candidate>],
        level: usize,
        options: &SummaryOptions,
        report: &mut TreeReport,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Option<String>>> {
        let mut guard = self
            .generator
            .lock()
            .map_err(|_| Error::WrongState("generator lock poisoned by an earlier failure".into()))?;
        let generator = guard.as_mut().ok_or(Error::ModelNotLoaded("generator"))?;
        let total = summaries.len();
        progress(Progress::Summaries { level, done: 0, total });
        let mut out = Vec::with_capacity(total);
        for (i, summary) in summaries.iter().enumerate() {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let sentences: Vec<&str> = summary.iter().filter_map(|c| self.span_text(c.span)).collect();
            let lang = summary
                .first()
                .and_then(|c| self.chunks.get(&c.span.chunk))
                .and_then(|r| self.docs.get(&r.doc_id))
                .map_or(crate::text::Language::English, |d| d.language);
            let free: Vec<&str> = lang.stop_words().iter().chain(COPY_FREE_WORDS).copied().collect();
            let run = write_summary(generator.as_mut(), &sentences, &free, options, cancelled);
            generator.reset();
            let (text, tokens) = match run {
                Ok(r) => r,
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                // A generation that fails (the prompt too long for the context, a model
                // error) is one node's loss, not the build's: it stays extractive.
                Err(_) => (None, 0),
            };
            report.generated_tokens += tokens;
            if text.is_some() {
                report.abstractive += 1;
            } else {
                report.abstractive_fallbacks += 1;
            }
            out.push(text);
            progress(Progress::Summaries { level, done: i + 1, total });
        }
        Ok(out)
    }

    /// The text of a summary span (trimmed), if it addresses one.
    fn span_text(&self, span: TreeSpan) -> Option<&str> {
        let record = self.chunks.get(&span.chunk)?;
        let d = self.docs.get(&record.doc_id)?;
        d.text.get(span.start as usize..span.end as usize).map(str::trim)
    }

    /// The vectors of the sentences of `central` chunks: stored ones, the rest embedded
    /// (not kept). Returns them by chunk, and how many were embedded.
    fn sentences_for(
        &self,
        central: &[Vec<ChunkId>],
        level: usize,
        clusters: usize,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(HashMap<ChunkId, Vec<Candidate>>, usize)> {
        let wanted: Vec<ChunkId> = central
            .iter()
            .flatten()
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out: HashMap<ChunkId, Vec<Candidate>> = HashMap::new();
        let mut missing = Vec::new();
        {
            let store = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
            for &id in &wanted {
                match store.get(id) {
                    Some(vs) => {
                        out.insert(id, vs.iter().map(|v| candidate(id, v)).collect());
                    }
                    None => missing.push(id),
                }
            }
        }
        let spans = self.chunk_spans(&missing);
        if spans.len() != missing.len() {
            return Err(Error::WrongState("a chunk of the tree has no document".into()));
        }
        let total_sentences: usize =
            spans.iter().map(|&(t, s, e)| t.get(s..e).map_or(0, |c| super::select::vector_spans(c, s).len())).sum();
        let total = total_sentences + clusters;
        progress(Progress::Tree { level, done: 0, total });
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let embedded = self.embed_sentences(&spans, &mut |done| {
            progress(Progress::Tree { level, done, total });
            if cancelled() {
                return Err(Error::Cancelled);
            }
            Ok(())
        })?;
        for (id, vs) in missing.into_iter().zip(embedded) {
            out.insert(id, vs.iter().map(|v| candidate(id, v)).collect());
        }
        Ok((out, total_sentences))
    }

    /// The summaries of one level embedded in batches, with progress and cancellation.
    fn embed_level(
        &self,
        texts: &[String],
        level: usize,
        clusters: usize,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for group in texts.chunks(self.config.embed_batch.max(1)) {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let refs: Vec<&str> = group.iter().map(String::as_str).collect();
            out.extend(self.embed_batch_checked(&refs)?);
            progress(Progress::Tree { level, done: out.len(), total: clusters });
        }
        Ok(out)
    }

    /// What a summary is embedded as: the passage prefix, its documents' titles as a
    /// header line (as a chunk has its title and headings), then its sentences — or the
    /// abstractive text `written` from them.
    fn summary_text(&self, summary: &[Candidate], written: Option<&str>) -> String {
        let mut titles: Vec<&str> = Vec::new();
        let mut text = String::new();
        for c in summary {
            let Some((record, _)) = self.chunk(c.span.chunk) else { continue };
            if let Some(d) = self.docs.get(&record.doc_id) {
                let title = d.title.as_deref().unwrap_or(d.id.as_str());
                if !titles.contains(&title) {
                    titles.push(title);
                }
                if let Some(s) = d.text.get(c.span.start as usize..c.span.end as usize) {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(s.trim());
                }
            }
        }
        format!("{}{}\n{}", self.config.passage_prefix, titles.join("; "), written.unwrap_or(&text))
    }

    /// Sort a summary into source order: by document id, then byte offset.
    fn source_order(&self, summary: &mut [Candidate]) {
        let key = |c: &Candidate| {
            let doc = self.chunks.get(&c.span.chunk).map(|r| r.doc_id.clone()).unwrap_or_default();
            (doc, c.span.start)
        };
        summary.sort_by_key(key);
    }

    /// A summary for a cluster without candidate sentences: the most central member
    /// chunk's whole span (level 1), or the most central child's summary.
    #[allow(clippy::too_many_arguments)]
    fn fallback_summary(
        &self,
        cluster: &[usize],
        items: &[&[f32]],
        cen: &[f32],
        level: usize,
        ids: &[ChunkId],
        nodes: &[TreeNode],
        level_offset: usize,
    ) -> Vec<Candidate> {
        let Some(&best) =
            cluster.iter().max_by(|&&a, &&b| dot(items[a], cen).total_cmp(&dot(items[b], cen)).then(b.cmp(&a)))
        else {
            return Vec::new();
        };
        if level == 1 {
            let id = ids[best];
            let Some(c) = self.chunks.get(&id) else { return Vec::new() };
            vec![Candidate {
                span: TreeSpan { chunk: id, start: c.start as u32, end: c.end as u32 },
                vector: items[best].to_vec(),
            }]
        } else {
            nodes
                .get(level_offset + best)
                .map(|n| n.spans.iter().map(|&span| Candidate { span, vector: n.vector.clone() }).collect())
                .unwrap_or_default()
        }
    }

    /// The collapsed-tree dense ranking: chunks and summary nodes in one pool by cosine
    /// with `query_vec`, `depth` deep; each summary node expanded into its summary's
    /// chunks (best cosine first) that `allow` admits. Returns the chunk ranking and the
    /// nodes used.
    pub(crate) fn collapsed_dense(
        &self,
        query_vec: &[f32],
        depth: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        exact: bool,
    ) -> Result<(Vec<Scored>, Vec<TreeHit>)> {
        let tree = self.tree.as_ref().ok_or_else(no_tree)?;
        let chunks = self.dense_search(query_vec, depth, allow, exact)?;
        let nodes = tree.search(query_vec, depth);
        // Merge the two sorted lists (a chunk wins a tie).
        let mut pool: Vec<(Option<u32>, ChunkId, f32)> = Vec::with_capacity(chunks.len() + nodes.len());
        let (mut i, mut j) = (0, 0);
        while pool.len() < depth && (i < chunks.len() || j < nodes.len()) {
            let take_chunk = j >= nodes.len() || (i < chunks.len() && chunks[i].1 >= nodes[j].1);
            if take_chunk {
                pool.push((None, chunks[i].0, chunks[i].1));
                i += 1;
            } else {
                pool.push((Some(nodes[j].0), 0, nodes[j].1));
                j += 1;
            }
        }
        let mut out: Vec<Scored> = Vec::with_capacity(depth);
        let mut seen: HashSet<ChunkId> = HashSet::new();
        let mut used = Vec::new();
        for (node, id, score) in pool {
            if out.len() >= depth {
                break;
            }
            let Some(n) = node else {
                if seen.insert(id) {
                    out.push((id, score));
                }
                continue;
            };
            let Some(tn) = tree.nodes().get(n as usize) else { continue };
            let mut members: Vec<ChunkId> = Vec::new();
            for s in &tn.spans {
                if !members.contains(&s.chunk) && allow.is_none_or(|f| f(s.chunk)) {
                    members.push(s.chunk);
                }
            }
            let vectors = self.dense.vectors_of(&members);
            let mut scored: Vec<(ChunkId, f32)> = members
                .iter()
                .zip(vectors)
                .map(|(id, v)| (*id, v.map_or(f32::NEG_INFINITY, |v| dot(v, query_vec))))
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut added = Vec::new();
            for (id, _) in scored {
                if out.len() < depth && seen.insert(id) {
                    out.push((id, score));
                    added.push(id);
                }
            }
            used.push(TreeHit { node: n, level: tn.level, score, chunks: added });
        }
        Ok((out, used))
    }

    /// Check a loaded tree against the engine's chunks: every level-1 child and every span's
    /// chunk exists, every span lies inside its chunk on character boundaries.
    pub(crate) fn check_tree(&self, tree: &SummaryTree) -> Result<()> {
        let bad = |d: String| Error::corrupt("tree", d);
        if tree.dim() != self.dense.dim() {
            return Err(bad(format!("dimension {} for an index of {}", tree.dim(), self.dense.dim())));
        }
        for (i, n) in tree.nodes().iter().enumerate() {
            if n.level == 1 {
                if let Some(c) = n.children.iter().find(|c| !self.chunks.contains_key(c)) {
                    return Err(bad(format!("node {i}: unknown chunk {c}")));
                }
            }
            for s in &n.spans {
                let c = self.chunks.get(&s.chunk).ok_or_else(|| bad(format!("node {i}: unknown chunk {}", s.chunk)))?;
                let text = self.docs.get(&c.doc_id).map(|d| d.text.as_str()).unwrap_or_default();
                let (st, en) = (s.start as usize, s.end as usize);
                if st < c.start || en > c.end || text.get(st..en).is_none() {
                    return Err(bad(format!("node {i}: span {st}..{en} is outside chunk {}", s.chunk)));
                }
            }
        }
        Ok(())
    }

    /// Statistics of the tree: nodes per level (empty without a tree).
    pub fn tree_levels(&self) -> BTreeMap<u8, usize> {
        let mut m = BTreeMap::new();
        for n in self.tree.iter().flat_map(|t| t.nodes()) {
            *m.entry(n.level).or_insert(0) += 1;
        }
        m
    }
}

/// One abstractive summary of `sentences`, copy-constrained to their words and `free`
/// words; returns the text if it is usable (see [`usable`]) and the tokens generated.
fn write_summary(
    generator: &mut dyn Generator,
    sentences: &[&str],
    free: &[&str],
    options: &SummaryOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<(Option<String>, usize)> {
    if sentences.is_empty() {
        return Ok((None, 0));
    }
    let constraint = |g: &dyn Generator| {
        CopyConstraint::with_unit(g.tokenizer(), sentences.iter().copied(), free.iter().copied(), 0, CopyUnit::Words)
    };
    let messages = [ChatMessage::user(build_summary_prompt(sentences.iter().copied()))];
    let gen_options = GenerationOptions { max_new_tokens: options.max_new_tokens, ..GenerationOptions::default() };
    let mask = Box::new(constraint(&*generator));
    let run = crate::generate::stream_constrained(
        generator,
        Prompt::Chat(&messages),
        &gen_options,
        Some(mask),
        &|| 0.0,
        &mut |_| !cancelled(),
    )?;
    if run.cancelled {
        return Err(Error::Cancelled);
    }
    let truncated = !matches!(run.stats.finish_reason, Some(FinishReason::Eos | FinishReason::Constraint));
    // The whole text must pass the constraint again: cutting and marker removal must not
    // make it claim more, and a generator that ignores masks cannot slip a word in.
    let check = constraint(&*generator);
    let text = usable(&run.text, truncated, options.min_words).filter(|t| check.accepts(t));
    Ok((text, run.stats.generated_tokens))
}

/// A generated summary as stored: model citation markers removed, whitespace normalised,
/// a generation cut by the token bound trimmed to its last whole sentence. `None` (not
/// usable) if a cut generation has no whole sentence of `min_words`, if fewer than
/// `min_words` words (at least one) remain, if it repeats itself (fewer than half its
/// words distinct: SmolLM2 loops on one phrase within the bound at times), or if it is
/// longer than [`MAX_SUMMARY_TEXT_BYTES`].
fn usable(raw: &str, truncated: bool, min_words: usize) -> Option<String> {
    // Removing a marker leaves a space before the punctuation that followed it.
    let mut text = strip_markers(raw);
    for p in [".", ",", ";", ":", "!", "?"] {
        text = text.replace(&format!(" {p}"), p);
    }
    let min_words = min_words.max(1);
    if truncated {
        let ends = text.char_indices().filter(|&(i, c)| {
            matches!(c, '.' | '!' | '?') && text[i + c.len_utf8()..].chars().next().is_none_or(char::is_whitespace)
        });
        let end =
            ends.map(|(i, c)| i + c.len_utf8()).rev().find(|&e| text[..e].split_whitespace().count() >= min_words)?;
        text.truncate(end);
    }
    let text = text.trim().to_owned();
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let distinct = words.iter().collect::<HashSet<_>>().len();
    let ok = words.len() >= min_words && 2 * distinct >= words.len() && text.len() <= MAX_SUMMARY_TEXT_BYTES;
    ok.then_some(text)
}

fn candidate(id: ChunkId, v: &crate::index::sentences::SentenceVector) -> Candidate {
    Candidate { span: TreeSpan { chunk: id, start: v.start, end: v.end }, vector: v.to_f32() }
}

/// The `n` candidates closest to `centroid`, at most one per chunk.
fn pick(mut candidates: Vec<Candidate>, centroid: &[f32], n: usize) -> Vec<Candidate> {
    let mut scored: Vec<(f32, usize)> =
        candidates.iter().enumerate().map(|(i, c)| (dot(&c.vector, centroid), i)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chunks = HashSet::new();
    let mut keep = Vec::new();
    for (_, i) in scored {
        if keep.len() == n {
            break;
        }
        if chunks.insert(candidates[i].span.chunk) {
            keep.push(i);
        }
    }
    keep.sort_unstable();
    let mut out = Vec::with_capacity(keep.len());
    for i in keep.into_iter().rev() {
        out.push(candidates.swap_remove(i));
    }
    out
}

/// The error of `tree: collapsed` on an index without a tree.
pub(crate) fn no_tree() -> Error {
    Error::InvalidOption {
        name: "tree",
        detail: "this index has no summary tree (build one with `sotto raptor` or `build_tree`)".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::embed::Embedder;
    use crate::index::tree::{MAX_SUMMARY_TOKENS, SUMMARIES_SECTION};
    use crate::query::{Mode, SearchOptions, Tree};
    use crate::rag::records::{ChunkRecord, DocRecord};
    use crate::{Document, EngineConfig};

    const TOPICS: [&str; 6] = [
        "harbour ships sail",
        "orchard apples grow",
        "violin music plays",
        "glacier ice melts",
        "bakery bread rises",
        "comet tail glows",
    ];

    /// Thirty one-chunk pages on six topics, each page's sentences sharing its topic's words.
    fn corpus() -> Engine {
        corpus_with(true)
    }

    fn corpus_with(sentence_vectors: bool) -> Engine {
        let mut config = EngineConfig { embed_batch: 4, ..EngineConfig::default() };
        config.sentences.at_index_time = sentence_vectors;
        let mut e = Engine::new(config, Box::new(HashEmbedder::new(64)));
        let mut docs = Vec::new();
        for (t, topic) in TOPICS.iter().enumerate() {
            for p in 0..5 {
                let body = format!(
                    "# Page {t}.{p}\n\nThe {topic} every single day here. Visitors say the {topic} quite often. \
                     Page {p} notes how the {topic} in spring. Short."
                );
                docs.push(Document::new(format!("t{t}/p{p}.md"), body));
            }
        }
        e.add_documents(docs).unwrap();
        e
    }

    fn small() -> TreeParams {
        TreeParams { cluster_size: 3, max_cluster_size: 5, top_nodes: 2, ..TreeParams::default() }
    }

    #[test]
    fn a_tree_cites_real_spans_is_deterministic_and_the_collapsed_search_returns_chunks() {
        let mut e = corpus();
        let events = std::cell::RefCell::new(Vec::new());
        let report = e.build_tree(&small(), &mut |p| events.borrow_mut().push(p), &|| false).unwrap();
        assert!(report.nodes_per_level.len() >= 2, "{report:?}");
        assert!(report.nodes_per_level.windows(2).all(|w| w[1] < w[0]), "levels shrink: {report:?}");
        assert_eq!(report.nodes, report.nodes_per_level.iter().sum::<usize>());
        assert_eq!(report.sentences_embedded, 0, "the stored sentence vectors are used: {report:?}");
        let tree = e.tree().unwrap().clone();
        assert_eq!(tree.len(), report.nodes);
        // Every summary sentence is an exact span inside its chunk; level-1 children are chunks.
        for n in tree.nodes() {
            assert!(!n.spans.is_empty() && n.spans.len() <= small().summary_length);
            let chunks: HashSet<ChunkId> = n.spans.iter().map(|s| s.chunk).collect();
            assert_eq!(chunks.len(), n.spans.len(), "one sentence per chunk");
            for s in &n.spans {
                let (c, _) = e.chunk(s.chunk).unwrap();
                assert!(c.start <= s.start as usize && s.end as usize <= c.end);
                assert!(e.document(&c.doc_id).unwrap().text.get(s.start as usize..s.end as usize).is_some());
            }
            if n.level == 1 {
                assert!(n.children.iter().all(|c| e.chunk(*c).is_some()));
                assert!(n.children.len() <= small().max_cluster_size);
            }
        }
        // Every chunk is in exactly one level-1 node.
        let mut members: Vec<ChunkId> =
            tree.nodes().iter().filter(|n| n.level == 1).flat_map(|n| n.children.clone()).collect();
        members.sort_unstable();
        assert_eq!(members, e.chunks.keys().copied().collect::<Vec<_>>());
        // Progress: per level, done never above total, and the last event of a level is complete.
        let events = events.into_inner();
        assert!(events.iter().all(|p| matches!(p, Progress::Tree { done, total, .. } if done <= total)), "{events:?}");
        assert!(events.iter().any(|p| matches!(p, Progress::Tree { level: 2, .. })));
        // Seeded: the same corpus gives the same bytes.
        let mut again = corpus();
        again.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        assert_eq!(again.to_bytes().unwrap(), e.to_bytes().unwrap());
        // Without stored sentence vectors, the central chunks' sentences are embedded for the
        // build only (the store is not filled) and the tree is the same.
        let mut lazy = corpus_with(false);
        let missing = lazy.chunks_without_sentence_vectors();
        let r = lazy.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        assert!(r.sentences_embedded > 0, "{r:?}");
        assert_eq!(lazy.chunks_without_sentence_vectors(), missing);
        let spans = |t: &SummaryTree| t.nodes().iter().map(|n| n.spans.clone()).collect::<Vec<_>>();
        assert_eq!(spans(lazy.tree().unwrap()), spans(&tree));
        // The collapsed search: real chunks, at most k, unique, nodes traced.
        for mode in [Mode::Dense, Mode::Hybrid] {
            let o = SearchOptions { k: 6, mode, tree: Tree::Collapsed, ..SearchOptions::default() };
            let (hits, trace) = e.search_traced("orchard apples grow", &o, &|| 0.0).unwrap();
            assert!(!hits.is_empty() && hits.len() <= 6);
            let ids: HashSet<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
            assert_eq!(ids.len(), hits.len());
            assert!(hits.iter().all(|h| e.chunk(h.chunk_id).map(|(_, t)| t) == Some(h.text.as_str())));
            assert!(hits[0].doc_id.starts_with("t1/"), "{mode:?}: {hits:?}");
            assert!(!trace.tree.is_empty(), "{mode:?}: a summary node should rank: {trace:?}");
            assert!(trace.notes.iter().any(|n| n.starts_with("collapsed tree")));
            assert_eq!(e.search("orchard apples grow", &o).unwrap(), hits);
        }
        // Loaded back, the tree is the same (vectors within one int8 step).
        let back = Engine::from_bytes(&e.to_bytes().unwrap(), Box::new(HashEmbedder::new(64))).unwrap();
        let bt = back.tree().unwrap();
        assert_eq!(bt.len(), tree.len());
        for (a, b) in tree.nodes().iter().zip(bt.nodes()) {
            assert_eq!((&a.children, &a.spans, a.level), (&b.children, &b.spans, b.level));
            assert!(a.vector.iter().zip(&b.vector).all(|(x, y)| (x - y).abs() < 0.01));
        }
    }

    #[test]
    fn collapsed_needs_a_tree_and_a_dense_retriever() {
        let mut e = corpus();
        let o = SearchOptions { tree: Tree::Collapsed, ..SearchOptions::default() };
        let err = e.search("violin music", &o).unwrap_err();
        assert_eq!(err.kind(), "InvalidOption", "{err}");
        assert!(err.to_string().contains("no summary tree"), "{err}");
        e.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        assert!(e.search("violin music", &o).is_ok());
        // Answers over a collapsed-tree retrieval cite real spans (the grader probes chunks).
        let mut ask = crate::rag::ask::AskOptions::default();
        ask.search = o.clone();
        let a = e.ask("violin music plays", &ask, &|| 0.0, &mut |_| true).unwrap();
        assert!(!a.citations.is_empty(), "{a:?}");
        // The answer's trace lists the summary nodes (a tree alone makes the search traced).
        assert!(a.query.as_ref().is_some_and(|q| q.notes.iter().any(|n| n.starts_with("collapsed tree"))), "{a:?}");
        for c in &a.citations {
            assert_eq!(e.document(&c.doc_id).unwrap().text.get(c.start..c.end), Some(c.text.as_str()));
        }
        let sparse = SearchOptions { mode: Mode::Sparse, ..o };
        assert_eq!(e.search("violin music", &sparse).unwrap_err().kind(), "InvalidOption");
        // Changing the documents drops the tree (it cites the old chunks).
        e.remove_documents(&["t0/p0.md"]).unwrap();
        assert!(e.tree().is_none());
        e.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        e.add_documents(vec![Document::new("new.md", "A new page about nothing in particular at all.")]).unwrap();
        assert!(e.tree().is_none());
    }

    #[test]
    fn one_chunk_or_no_chunk_gives_an_empty_tree_and_no_error() {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        let r = e.build_tree(&TreeParams::default(), &mut |_| {}, &|| false).unwrap();
        assert_eq!((r.chunks, r.nodes), (0, 0));
        assert!(e.tree().is_some_and(|t| t.is_empty()));
        let back = Engine::from_bytes(&e.to_bytes().unwrap(), Box::new(HashEmbedder::new(32))).unwrap();
        assert!(back.tree().is_some_and(|t| t.is_empty()));
        e.add_documents(vec![Document::new("one.md", "Only one short page with a single sentence in it.")]).unwrap();
        let r = e.build_tree(&TreeParams::default(), &mut |_| {}, &|| false).unwrap();
        assert_eq!((r.chunks, r.nodes), (1, 0));
        // A collapsed search over an empty tree is the plain search.
        let plain = e.search("single sentence", &SearchOptions::default()).unwrap();
        let o = SearchOptions { tree: Tree::Collapsed, ..SearchOptions::default() };
        assert_eq!(e.search("single sentence", &o).unwrap(), plain);
    }

    #[test]
    fn cancellation_or_an_error_at_any_point_leaves_the_index_and_its_tree_unchanged() {
        let mut e = corpus();
        e.build_tree(&TreeParams { seed: 1, ..small() }, &mut |_| {}, &|| false).unwrap();
        let before = e.to_bytes().unwrap();
        let cancelled = cancel_at_every_point(&mut e, &|e, cancel| e.build_tree(&small(), &mut |_| {}, cancel));
        assert!(cancelled >= 5, "the build should pass several cancellation points, passed {cancelled}");
        assert_ne!(e.to_bytes().unwrap(), before, "the completed build replaced the tree");
        // Bad parameters and the node limit: typed errors, nothing changed.
        let before = e.to_bytes().unwrap();
        let r = e.build_tree(&TreeParams { cluster_size: 0, ..small() }, &mut |_| {}, &|| false);
        assert_eq!(r.unwrap_err().kind(), "InvalidOption");
        let r = e.build_tree(&TreeParams { max_nodes: 2, ..small() }, &mut |_| {}, &|| false);
        assert!(matches!(r, Err(Error::LimitExceeded { what: "summary tree nodes", limit: 2, .. })), "{r:?}");
        assert_eq!(e.to_bytes().unwrap(), before);
    }

    #[test]
    fn a_corrupt_tree_section_is_a_typed_error_and_nothing_else_is_lost() {
        use crate::index::format::{read_sections, write_section, FORMAT_VERSION, MAGIC};
        let mut e = corpus();
        let without = e.to_bytes().unwrap();
        e.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        let with = e.to_bytes().unwrap();
        let sections = read_sections(&with).unwrap();
        // Rewrite the file with a damaged `tree` payload (valid checksum: the codec and the
        // cross-checks must catch it) — truncated, garbage, and a span outside its chunk.
        let mut bad_span = SummaryTree::from_bytes(sections["tree"]).unwrap().nodes().to_vec();
        bad_span[0].spans[0].end = u32::MAX;
        let damaged: Vec<Vec<u8>> = vec![
            sections["tree"][..sections["tree"].len() / 2].to_vec(),
            vec![0xFF; 40],
            SummaryTree::new(64, small(), bad_span).unwrap().to_bytes(),
        ];
        for payload in damaged {
            let mut out = Vec::new();
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
            for (name, bytes) in &sections {
                write_section(&mut out, name, if name == "tree" { &payload } else { bytes });
            }
            let err = Engine::from_bytes(&out, Box::new(HashEmbedder::new(64))).err().unwrap();
            assert!(matches!(&err, Error::Corrupt { section, .. } if section == "tree"), "{err}");
            // Everything else loads: the same index as before the tree was built.
            let rest = Engine::from_bytes_without_tree(&out, Box::new(HashEmbedder::new(64))).unwrap();
            assert!(rest.tree().is_none());
            assert_eq!(rest.to_bytes().unwrap(), without);
        }
        // A flipped byte fails the section checksum: the same typed error.
        let mut flipped = with.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let err = Engine::from_bytes(&flipped, Box::new(HashEmbedder::new(64))).err().unwrap();
        assert!(matches!(&err, Error::Corrupt { section, .. } if section == "tree"), "{err}");
    }

    /// A scripted generator that writes `script` for every node: the copy constraint's
    /// final check lets it through only where the node's sentences hold its words.
    fn scripted(e: &mut Engine, script: &str) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
        let g = crate::generate::testing::ScriptedGenerator::new(script);
        let prompts = g.prompts.clone();
        e.set_generator(Box::new(g));
        prompts
    }

    fn abstractive() -> SummaryOptions {
        SummaryOptions { abstractive: true, max_new_tokens: 16, ..SummaryOptions::default() }
    }

    const ORCHARD: &str = "The orchard apples grow.";

    #[test]
    fn abstractive_summaries_replace_the_vectors_keep_the_spans_and_fall_back_where_unusable() {
        let mut plain = corpus();
        plain.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        let mut e = corpus();
        let prompts = scripted(&mut e, ORCHARD);
        let events = std::cell::RefCell::new(Vec::new());
        let r = e.build_tree_with(&small(), &abstractive(), &mut |p| events.borrow_mut().push(p), &|| false).unwrap();
        // Only the nodes whose sentences speak of the orchard accept the script.
        assert!(r.abstractive >= 1 && r.abstractive_fallbacks >= 1, "{r:?}");
        assert_eq!(r.abstractive + r.abstractive_fallbacks, r.nodes, "{r:?}");
        assert_eq!(prompts.lock().unwrap().len(), r.nodes, "one generation per node");
        assert!(prompts.lock().unwrap()[0].contains("Summarize"), "{:?}", prompts.lock().unwrap()[0]);
        let tree = e.tree().unwrap();
        assert_eq!(tree.abstractive().map(|a| a.generator.as_str()), Some("scripted"));
        assert_eq!(tree.abstractive_nodes(), r.abstractive);
        for n in tree.nodes() {
            let orchard = n.spans.iter().any(|s| {
                let (c, _) = e.chunk(s.chunk).unwrap();
                e.document(&c.doc_id).unwrap().text[s.start as usize..s.end as usize].contains("orchard")
            });
            assert_eq!(n.summary.as_deref(), orchard.then_some(ORCHARD), "{n:?}");
        }
        // Level 1 is clustered on the chunk vectors: the same clusters and spans as an
        // extractive build; the vectors of abstractive nodes embed the generated text.
        let level1 = |t: &SummaryTree| {
            t.nodes().iter().filter(|n| n.level == 1).map(|n| (n.children.clone(), n.spans.clone())).collect::<Vec<_>>()
        };
        assert_eq!(level1(tree), level1(plain.tree().unwrap()));
        for (a, x) in tree.nodes().iter().zip(plain.tree().unwrap().nodes()).filter(|(n, _)| n.level == 1) {
            assert_eq!(a.summary.is_some(), a.vector != x.vector, "{a:?}");
        }
        let events = events.into_inner();
        assert!(events.iter().any(|p| matches!(p, Progress::Summaries { level: 1, .. })), "{events:?}");
        assert!(events.iter().all(|p| match p {
            Progress::Summaries { done, total, .. } | Progress::Tree { done, total, .. } => done <= total,
            _ => false,
        }));
        // Stats say so; an extractive tree says it is not.
        let stats = e.stats().tree.unwrap();
        assert!(stats.abstractive && stats.abstractive_nodes == r.abstractive, "{stats:?}");
        assert!(!plain.stats().tree.unwrap().abstractive);
        // Saved and loaded: the texts come back, the bytes are stable, the search works.
        let bytes = e.to_bytes().unwrap();
        let back = Engine::from_bytes(&bytes, Box::new(HashEmbedder::new(64))).unwrap();
        let texts = |t: &SummaryTree| t.nodes().iter().map(|n| n.summary.clone()).collect::<Vec<_>>();
        assert_eq!(texts(back.tree().unwrap()), texts(tree));
        assert_eq!(back.tree().unwrap().abstractive(), tree.abstractive());
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let o = SearchOptions { k: 4, tree: Tree::Collapsed, ..SearchOptions::default() };
        let (hits, trace) = back.search_traced("orchard apples grow", &o, &|| 0.0).unwrap();
        assert!(hits[0].doc_id.starts_with("t1/") && !trace.tree.is_empty(), "{hits:?} {trace:?}");
        // The extractive build writes no `tree_summaries` section.
        let sections = crate::index::format::read_sections(&bytes).unwrap();
        assert!(sections.contains_key(SUMMARIES_SECTION));
        let plain_bytes = plain.to_bytes().unwrap();
        assert!(!crate::index::format::read_sections(&plain_bytes).unwrap().contains_key(SUMMARIES_SECTION));
    }

    #[test]
    fn a_generation_that_is_too_short_or_invents_a_word_keeps_the_extractive_summary() {
        for script in ["", "Apples.", "The orchard apples grow quickly."] {
            let mut e = corpus();
            scripted(&mut e, script);
            let r = e.build_tree_with(&small(), &abstractive(), &mut |_| {}, &|| false).unwrap();
            assert_eq!((r.abstractive, r.abstractive_fallbacks), (0, r.nodes), "{script:?}: {r:?}");
            let tree = e.tree().unwrap();
            assert!(tree.abstractive().is_some() && tree.abstractive_nodes() == 0);
            let mut plain = corpus();
            plain.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
            let vectors = |t: &SummaryTree| t.nodes().iter().map(|n| n.vector.clone()).collect::<Vec<_>>();
            assert_eq!(vectors(tree), vectors(plain.tree().unwrap()), "{script:?}: all extractive, the same tree");
        }
    }

    #[test]
    fn abstractive_without_a_generator_or_with_bad_options_is_a_typed_error_and_nothing_changes() {
        let mut e = corpus();
        e.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        let before = e.to_bytes().unwrap();
        let calls = Cell::new(0);
        let r = e.build_tree_with(&small(), &abstractive(), &mut |_| calls.set(calls.get() + 1), &|| false);
        assert!(matches!(r, Err(Error::ModelNotLoaded("generator"))), "{r:?}");
        assert_eq!(calls.get(), 0, "refused before any work");
        scripted(&mut e, ORCHARD);
        for bad in [
            SummaryOptions { max_new_tokens: 0, ..abstractive() },
            SummaryOptions { max_new_tokens: MAX_SUMMARY_TOKENS + 1, ..abstractive() },
            SummaryOptions { min_words: 17, ..abstractive() },
        ] {
            let r = e.build_tree_with(&small(), &bad, &mut |_| {}, &|| false);
            assert_eq!(r.unwrap_err().kind(), "InvalidOption", "{bad:?}");
        }
        assert_eq!(e.to_bytes().unwrap(), before);
    }

    /// Runs `build` cancelled after 0, 1, 2, … cancellation checks until it completes;
    /// every cancelled run must be `Error::Cancelled` and leave the engine's bytes as they
    /// were. Returns how many runs were cancelled.
    fn cancel_at_every_point(
        e: &mut Engine,
        build: &dyn Fn(&mut Engine, &dyn Fn() -> bool) -> Result<TreeReport>,
    ) -> usize {
        let before = e.to_bytes().unwrap();
        let mut cancelled = 0;
        for after in 0.. {
            let calls = Cell::new(0usize);
            let r = build(e, &|| {
                calls.set(calls.get() + 1);
                calls.get() > after
            });
            if r.is_ok() {
                break;
            }
            assert!(matches!(r, Err(Error::Cancelled)), "{after}: {r:?}");
            assert_eq!(e.to_bytes().unwrap(), before, "cancelled after {after} checks");
            cancelled += 1;
        }
        cancelled
    }

    #[test]
    fn cancelling_an_abstractive_build_at_any_point_leaves_the_engine_unchanged() {
        let mut e = corpus();
        scripted(&mut e, ORCHARD);
        e.build_tree(&small(), &mut |_| {}, &|| false).unwrap();
        let cancelled = cancel_at_every_point(&mut e, &|e, cancel| {
            e.build_tree_with(&small(), &abstractive(), &mut |_| {}, cancel)
        });
        // Between nodes and between tokens (4 tokens a node here), not only between levels.
        assert!(cancelled > 4 * e.tree().unwrap().len(), "passed only {cancelled} cancellation points");
        assert!(e.tree().unwrap().abstractive().is_some());
    }

    #[test]
    fn a_damaged_summaries_section_is_a_typed_error_and_the_rest_loads() {
        use crate::index::format::{read_sections, write_section, FORMAT_VERSION, MAGIC};
        let mut e = corpus();
        scripted(&mut e, ORCHARD);
        e.build_tree_with(&small(), &abstractive(), &mut |_| {}, &|| false).unwrap();
        let with = e.to_bytes().unwrap();
        let sections = read_sections(&with).unwrap();
        let n = e.tree().unwrap().len();
        let wire = |texts: Vec<Option<Vec<u8>>>| {
            // The section by hand: generator name, new-token bound, then per node a text.
            let mut b = Vec::new();
            let s = |b: &mut Vec<u8>, bytes: &[u8]| {
                b.push(bytes.len() as u8);
                b.extend_from_slice(bytes);
            };
            s(&mut b, b"scripted");
            b.push(16);
            b.push(texts.len() as u8);
            for t in texts {
                match t {
                    None => b.push(0),
                    Some(t) => {
                        b.push(1);
                        if t.len() < 251 {
                            s(&mut b, &t);
                        } else {
                            b.push(251);
                            b.extend_from_slice(&(t.len() as u16).to_le_bytes());
                            b.extend_from_slice(&t);
                        }
                    }
                }
            }
            b
        };
        // The hand-made encoding is the codec's: a check that the cases below are real.
        let texts: Vec<Option<Vec<u8>>> =
            e.tree().unwrap().nodes().iter().map(|n| n.summary.clone().map(String::into_bytes)).collect();
        assert_eq!(wire(texts.clone()), sections[SUMMARIES_SECTION]);
        let with_text = |t: Vec<u8>| {
            let mut v = texts.clone();
            v[0] = Some(t);
            wire(v)
        };
        let damaged: Vec<(Option<Vec<u8>>, &str)> = vec![
            (Some(wire(texts[..n - 1].to_vec())), "summaries for"),
            (Some(with_text(vec![b'a', 0xFF, 0xFE, b'b'])), "utf"),
            (Some(with_text(b"   ".to_vec())), "empty summary"),
            (Some(with_text(vec![b'a'; MAX_SUMMARY_TEXT_BYTES + 1])), "limit"),
            (Some(vec![0xFF; 9]), ""),
        ];
        for (payload, what) in damaged {
            let mut out = Vec::new();
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
            for (name, bytes) in &sections {
                let bytes = if name == SUMMARIES_SECTION { payload.as_deref().unwrap() } else { bytes };
                write_section(&mut out, name, bytes);
            }
            let err = Engine::from_bytes(&out, Box::new(HashEmbedder::new(64))).err().unwrap();
            assert!(
                matches!(&err, Error::Corrupt { section, detail } if section == SUMMARIES_SECTION
                    && detail.to_lowercase().contains(what)),
                "{what}: {err}"
            );
            let rest = Engine::from_bytes_without_tree(&out, Box::new(HashEmbedder::new(64))).unwrap();
            assert!(rest.tree().is_none());
        }
        // Texts without a tree section: refused; a flipped byte: the checksum.
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32 - 1).to_le_bytes());
        for (name, bytes) in sections.iter().filter(|(name, _)| *name != "tree") {
            write_section(&mut out, name, bytes);
        }
        let err = Engine::from_bytes(&out, Box::new(HashEmbedder::new(64))).err().unwrap();
        assert!(matches!(&err, Error::Corrupt { section, .. } if section == SUMMARIES_SECTION), "{err}");
        let mut flipped = with.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let err = Engine::from_bytes(&flipped, Box::new(HashEmbedder::new(64))).err().unwrap();
        assert!(matches!(&err, Error::Corrupt { section, .. } if section == SUMMARIES_SECTION), "{err}");
        // Without the section the same file is an extractive tree (a build that predates it).
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32 - 1).to_le_bytes());
        for (name, bytes) in sections.iter().filter(|(name, _)| *name != SUMMARIES_SECTION) {
            write_section(&mut out, name, bytes);
        }
        let old = Engine::from_bytes(&out, Box::new(HashEmbedder::new(64))).unwrap();
        let t = old.tree().unwrap();
        assert!(t.abstractive().is_none() && t.nodes().iter().all(|n| n.summary.is_none()));
        assert_eq!(t.len(), n);
    }

    #[test]
    fn a_usable_summary_is_whole_sentences_without_markers() {
        assert_eq!(usable(" The orchard  apples grow [1]. ", false, 4).as_deref(), Some("The orchard apples grow."));
        assert_eq!(usable("Apples , pears [2] ; grow .", false, 2).as_deref(), Some("Apples, pears; grow."));
        assert_eq!(usable("Apples grow.", false, 4), None);
        assert_eq!(usable("", false, 0), None);
        // Cut by the token bound: back to the last whole sentence, if that keeps enough words.
        let cut = "Cargo.toml lists the dependencies of a package. Cargo.lock records the";
        assert_eq!(usable(cut, true, 4).as_deref(), Some("Cargo.toml lists the dependencies of a package."));
        assert_eq!(usable(cut, false, 4).as_deref(), Some(cut));
        // Cut with no whole sentence long enough: not usable.
        assert_eq!(usable("Cargo builds it. Then the package is", true, 4), None);
        assert!(usable("Cargo builds it. Then the package is", false, 4).is_some());
        // A loop on one phrase (as SmolLM2 wrote on the fixture index): not usable.
        assert_eq!(usable("The Turns are a Turns that are Turns that are Turns that.", false, 4), None);
        let long: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
        assert_eq!(usable(&long.join(" "), false, 4), None, "over the byte limit");
    }

    /// 50 000 chunks of hashing-embedder vectors, built directly (indexing 50k documents
    /// would dominate the test): the build stays within its node bound, reports progress,
    /// and a cancellation midway leaves the exported bytes unchanged.
    #[test]
    fn fifty_thousand_chunks_build_bounded_with_progress_and_cancel_cleanly() {
        const N: usize = 50_000;
        const PER_DOC: usize = 100;
        let emb = HashEmbedder::new(32);
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        let mut texts = Vec::with_capacity(N);
        for d in 0..N / PER_DOC {
            let mut text = String::new();
            let mut ids = Vec::new();
            for j in 0..PER_DOC {
                let i = d * PER_DOC + j;
                let s = format!("alpha{} beta{} gamma{} delta{} end.", i % 97, i % 89, (i / 7) % 83, i % 13);
                if !text.is_empty() {
                    text.push(' ');
                }
                let start = text.len();
                text.push_str(&s);
                let id = i as ChunkId;
                e.chunks.insert(
                    id,
                    ChunkRecord { doc_id: format!("d{d}"), start, end: text.len(), heading_path: Vec::new() },
                );
                texts.push(s);
                ids.push(id);
            }
            let record = DocRecord {
                id: format!("d{d}"),
                metadata: BTreeMap::new(),
                format: crate::Format::Text,
                title: None,
                language: crate::text::Language::English,
                text,
                body_sha256: String::new(),
                chunks: ids,
                exact_duplicates: 0,
                near_duplicates: 0,
            };
            e.docs.insert(record.id.clone(), record);
        }
        for (i, t) in texts.iter().enumerate() {
            e.dense.add(i as ChunkId, &emb.embed(t).unwrap()).unwrap();
        }
        e.next_chunk_id = N as ChunkId;
        let before = e.to_bytes().unwrap();
        // Cancel once level 2 starts: level 1 was complete, nothing may stick.
        let level = Cell::new(0usize);
        let mut events = 0usize;
        let t = std::time::Instant::now();
        let r = e.build_tree(
            &TreeParams::default(),
            &mut |p| {
                events += 1;
                if let Progress::Tree { level: l, .. } = p {
                    level.set(l);
                }
            },
            &|| level.get() >= 2,
        );
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        assert!(events > 10, "{events} progress events");
        assert_eq!(e.to_bytes().unwrap(), before, "a cancelled build changed the index");
        let cancel_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let p = TreeParams::default();
        let r = e.build_tree(&p, &mut |_| {}, &|| false).unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!("50k chunks: {r:?} in {secs:.1} s (cancelled run {cancel_s:.1} s)");
        // Bounded: every level at least halves, the total stays under N / (cluster_size / 2).
        assert!(r.nodes_per_level[0] >= N / p.max_cluster_size && r.nodes_per_level[0] <= N / 2, "{r:?}");
        assert!(r.nodes <= 2 * N / p.cluster_size, "{r:?}");
        assert!(*r.nodes_per_level.last().unwrap() <= p.max_cluster_size.max(p.top_nodes) * p.branching, "{r:?}");
        assert!(r.nodes_per_level.len() <= p.max_levels);
        assert!(secs < 120.0, "50k-chunk tree took {secs:.1} s");
    }
}

//! Filtered dense, sparse and hybrid retrieval over the engine's indexes, and the
//! glue of query translation.
//!
//! Filters become an allow-list of chunk ids that both retrievers respect while
//! ranking; hybrid mode fetches `max(k, fusion_candidates)` from each retriever and
//! fuses them ([`crate::index::fusion`]). With `rerank: maxsim` the fused list, cut at
//! `max(k, fusion_candidates)`, is reordered by each chunk's MaxSim (the best cosine of
//! the query with one of its stored sentence vectors) before the top `k` are returned.
//!
//! With [`SearchOptions::translate`] set, the question is ranked first, then the
//! technique ([`crate::query::translate`]) derives its variants or parts from the
//! question and that ranking, each is ranked with the same filters and mode, and the
//! lists are fused (weighted RRF, the question's lists at weight 1, a variant's at
//! [`VARIANT_WEIGHT`]) or merged with a per-part quota (decomposition).
//! [`Engine::search_traced`] returns the hits with a [`QueryTrace`]; [`Engine::search`]
//! runs the same search and drops the trace. A technique that cannot apply (no rule
//! matches, HyDE in sparse mode, no feedback) falls back to the question's own ranking
//! and says why in the trace.

use std::collections::{HashMap, HashSet};

use super::records::SearchHit;
use super::Engine;
use crate::error::{Error, Result};
use crate::index::fusion::{fuse, rrf_weighted, Fusion};
use crate::index::{ChunkId, Scored};
use crate::query::translate::{
    auto_pick, decompose, feedback_terms, pseudo_document, quota_merge, rocchio, step_back_query, QuerySource,
    QueryTrace, StageTime, TracedQuery, Translate, DEFAULT_VARIANTS, FEEDBACK_DEPTH, FEEDBACK_TERMS, MAX_PARTS,
    ROCCHIO_BETA, VARIANT_WEIGHT,
};
use crate::query::{Construct, Mode, Rerank, Route, SearchOptions, Tree};
use crate::text::Language;

/// One query's rankings before the cut to `k`.
struct Ranked {
    dense: Vec<Scored>,
    sparse: Vec<Scored>,
    fused: Vec<Scored>,
    /// Summary nodes of a collapsed-tree dense ranking.
    tree: Vec<crate::query::TreeHit>,
}

type Allowed = Option<HashSet<ChunkId>>;

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Dense => "dense",
        Mode::Sparse => "sparse",
        Mode::Hybrid => "hybrid",
    }
}

impl Engine {
    /// The query's words that BM25 found nowhere, with the indexed words its typo
    /// tolerance searched instead ([`crate::index::sparse`]); empty when every word matched.
    pub fn typo_corrections(&self, query: &str) -> Vec<crate::index::sparse::TypoCorrection> {
        self.sparse.typo_corrections_with(query, Some(&|w: &str| self.known_word(w)))
    }

    /// Typo tolerance corrects only words the embedder's vocabulary does not know whole.
    fn known_word(&self, word: &str) -> bool {
        self.embedder.is_known_word(word).unwrap_or(false)
    }

    /// Search the index (translated when [`SearchOptions::translate`] asks; the trace is
    /// dropped — see [`Engine::search_traced`]).
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchHit>> {
        let query_vec = match (options.mode, options.rerank) {
            (Mode::Sparse, Rerank::None) => None,
            _ => Some(self.embed_query(query, options)?),
        };
        self.search_with_vector(query, query_vec.as_deref(), options)
    }

    /// Search and return the hits with the trace of what was run: the queries, their
    /// source, notes and per-stage time. `clock` returns milliseconds (the core has none).
    pub fn search_traced(
        &self,
        query: &str,
        options: &SearchOptions,
        clock: &dyn Fn() -> f64,
    ) -> Result<(Vec<SearchHit>, QueryTrace)> {
        let t0 = clock();
        let query_vec = match (options.mode, options.rerank) {
            (Mode::Sparse, Rerank::None) => None,
            _ => Some(self.embed_query(query, options)?),
        };
        let embed_ms = clock() - t0;
        let (hits, mut trace) = self.search_traced_with_vector(query, query_vec.as_deref(), options, clock)?;
        trace.stages.insert(0, StageTime { stage: "embed".into(), ms: embed_ms });
        Ok((hits, trace))
    }

    /// The query's vector (with the configured query prefix), after checking the query.
    pub(crate) fn embed_query(&self, query: &str, options: &SearchOptions) -> Result<Vec<f32>> {
        self.check_query(query, options)?;
        let v = self.embedder.embed(&format!("{}{}", self.config.query_prefix, query.trim()))?;
        self.dense.check_vector(&v)?;
        Ok(v)
    }

    /// One batch through the embedder, refusing a reply that does not match it: one vector
    /// per text, each one a vector the dense index accepts (its dimension, finite values).
    pub(crate) fn embed_batch_checked(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.checked_vectors(texts.len(), self.embedder.embed_batch(texts)?)
    }

    /// `vectors`, the embedder's reply for `n` texts, if it is one vector the dense index
    /// accepts (its dimension, finite values) per text.
    pub(crate) fn checked_vectors(&self, n: usize, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
        if vectors.len() != n {
            return Err(Error::Candle(format!("embedder returned {} vectors for {n} texts", vectors.len())));
        }
        for v in &vectors {
            self.dense.check_vector(v)?;
        }
        Ok(vectors)
    }

    /// Reorder `fused` by MaxSim (best sentence cosine; a chunk without sentence vectors
    /// keeps its fused score's rank below every chunk that has them); ties keep the fused order.
    fn rerank_maxsim(&self, query_vec: &[f32], fused: Vec<(ChunkId, f32)>) -> Result<Vec<(ChunkId, f32)>> {
        let ids: Vec<ChunkId> = fused.iter().map(|(id, _)| *id).collect();
        let stored = self.chunk_sentences(&ids)?;
        let mut scored: Vec<(usize, ChunkId, f32)> = fused
            .iter()
            .zip(&stored)
            .enumerate()
            .map(|(i, ((id, _), v))| {
                (i, *id, crate::index::sentences::max_sim(v, query_vec).unwrap_or(f32::NEG_INFINITY))
            })
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        Ok(scored.into_iter().map(|(i, id, s)| (id, if s.is_finite() { s } else { fused[i].1 })).collect())
    }

    fn check_query(&self, query: &str, options: &SearchOptions) -> Result<()> {
        self.check_query_text(query)?;
        options.validate()?;
        if options.tree == Tree::Collapsed && self.tree.is_none() {
            return Err(super::tree::no_tree());
        }
        Ok(())
    }

    /// [`Error::InvalidQuery`] for an empty query or one over `max_query_bytes`.
    pub(crate) fn check_query_text(&self, query: &str) -> Result<()> {
        if query.trim().is_empty() {
            return Err(Error::InvalidQuery("query is empty".into()));
        }
        if query.len() > self.config.max_query_bytes {
            return Err(Error::InvalidQuery(format!(
                "query is {} bytes, more than the limit of {}",
                query.len(),
                self.config.max_query_bytes
            )));
        }
        Ok(())
    }

    /// The chunk ids the filters allow (`None`: no filters).
    fn allowed(&self, options: &SearchOptions) -> Allowed {
        if options.filters.is_empty() {
            return None;
        }
        Some(
            self.docs
                .values()
                .filter(|d| options.filters.iter().all(|f| super::route::doc_matches(f, d)))
                .flat_map(|d| d.chunks.iter().copied())
                .collect(),
        )
    }

    /// Rank one query with the options' mode and fusion, `depth` deep (each retriever
    /// fetches `max(depth, fusion_candidates)` in hybrid mode).
    fn rank(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
        allowed: &Allowed,
        depth: usize,
    ) -> Result<Ranked> {
        let allow_fn = |id: ChunkId| allowed.as_ref().is_none_or(|s| s.contains(&id));
        let allow: Option<&dyn Fn(ChunkId) -> bool> = if allowed.is_some() { Some(&allow_fn) } else { None };
        let candidates = depth.max(self.config.fusion_candidates);
        let need_vec = || {
            query_vec
                .ok_or(Error::InvalidOption { name: "query_vec", detail: "dense search needs a query vector".into() })
        };
        let known_fn = |w: &str| self.known_word(w);
        let known: Option<&dyn Fn(&str) -> bool> = Some(&known_fn);
        let mut tree = Vec::new();
        let mut dense_rank = |depth: usize| -> Result<Vec<Scored>> {
            match options.tree {
                Tree::None => self.dense_search(need_vec()?, depth, allow, options.exact),
                Tree::Collapsed => {
                    let (list, used) = self.collapsed_dense(need_vec()?, depth, allow, options.exact)?;
                    tree = used;
                    Ok(list)
                }
            }
        };
        let (dense, sparse) = match options.mode {
            Mode::Dense => (dense_rank(depth)?, Vec::new()),
            Mode::Sparse => (Vec::new(), self.sparse.search_with(query, depth, allow, known)),
            Mode::Hybrid => (dense_rank(candidates)?, self.sparse.search_with(query, candidates, allow, known)),
        };
        let fused = match options.mode {
            Mode::Dense => dense.clone(),
            Mode::Sparse => sparse.clone(),
            Mode::Hybrid => fuse(options.fusion, &dense, &sparse, depth),
        };
        Ok(Ranked { dense, sparse, fused, tree })
    }

    /// The dense index's search, or its exact scan when the options ask for it.
    pub(crate) fn dense_search(
        &self,
        v: &[f32],
        depth: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        exact: bool,
    ) -> Result<Vec<Scored>> {
        if exact {
            self.dense.search_exact(v, depth, allow)
        } else {
            self.dense.search(v, depth, allow)
        }
    }

    /// A dense-only ranking of a vector, `depth` deep, with the filters.
    fn rank_dense(&self, v: &[f32], allowed: &Allowed, depth: usize, exact: bool) -> Result<Vec<Scored>> {
        let allow_fn = |id: ChunkId| allowed.as_ref().is_none_or(|s| s.contains(&id));
        let allow: Option<&dyn Fn(ChunkId) -> bool> = if allowed.is_some() { Some(&allow_fn) } else { None };
        self.dense_search(v, depth, allow, exact)
    }

    /// A sparse-only ranking of a text, `depth` deep, with the filters (typo-tolerant).
    fn rank_sparse(&self, text: &str, allowed: &Allowed, depth: usize) -> Vec<Scored> {
        let allow_fn = |id: ChunkId| allowed.as_ref().is_none_or(|s| s.contains(&id));
        let allow: Option<&dyn Fn(ChunkId) -> bool> = if allowed.is_some() { Some(&allow_fn) } else { None };
        let known_fn = |w: &str| self.known_word(w);
        self.sparse.search_with(text, depth, allow, Some(&known_fn))
    }

    /// Hits for the first `k` of `fused`, with each chunk's dense and sparse score.
    fn hits(&self, fused: Vec<Scored>, dense: Vec<Scored>, sparse: Vec<Scored>, k: usize) -> Vec<SearchHit> {
        let dense_map: HashMap<ChunkId, f32> = dense.into_iter().collect();
        let sparse_map: HashMap<ChunkId, f32> = sparse.into_iter().collect();
        let mut hits = Vec::with_capacity(fused.len().min(k));
        for (id, score) in fused.into_iter().take(k) {
            let Some(c) = self.chunks.get(&id) else { continue };
            let Some(d) = self.docs.get(&c.doc_id) else { continue };
            hits.push(SearchHit {
                rank: hits.len() + 1,
                chunk_id: id,
                doc_id: d.id.clone(),
                title: d.title.clone(),
                score,
                dense_score: dense_map.get(&id).copied(),
                sparse_score: sparse_map.get(&id).copied(),
                text: d.text.get(c.start..c.end).unwrap_or_default().to_owned(),
                heading_path: c.heading_path.clone(),
                start: c.start,
                end: c.end,
            });
        }
        hits
    }

    /// A chunk's text and its document's language.
    fn chunk_text(&self, id: ChunkId) -> Option<(&str, Language)> {
        let c = self.chunks.get(&id)?;
        let d = self.docs.get(&c.doc_id)?;
        Some((d.text.get(c.start..c.end)?, d.language))
    }

    /// Search with a query vector computed by the caller (e.g. embedded in a batch).
    /// `query_vec` is required unless the mode is sparse. Translated when the options
    /// ask (the trace is dropped).
    pub fn search_with_vector(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        if options.translate != Translate::None || options.route != Route::None || options.construct != Construct::Off {
            return Ok(self.run_traced(query, query_vec, options, &|| 0.0, false)?.0);
        }
        self.check_query(query, options)?;
        if let Some(v) = query_vec {
            self.dense.check_vector(v)?;
        }
        let allowed = self.allowed(options);
        if allowed.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        let k = options.k;
        let candidates = k.max(self.config.fusion_candidates);
        // Reranking reorders a deeper list than it returns.
        let depth = if options.rerank == Rerank::None { k } else { candidates };
        let r = self.rank(query, query_vec, options, &allowed, depth)?;
        let fused = match options.rerank {
            Rerank::None => r.fused,
            Rerank::MaxSim => self.rerank_maxsim(
                query_vec.ok_or(Error::InvalidOption {
                    name: "query_vec",
                    detail: "maxsim reranking needs a query vector".into(),
                })?,
                r.fused,
            )?,
        };
        Ok(self.hits(fused, r.dense, r.sparse, k))
    }

    /// [`Engine::search_traced`] with the question's vector given (required unless the
    /// mode is sparse; also used to embed nothing twice when `ask` has it already).
    pub fn search_traced_with_vector(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
        clock: &dyn Fn() -> f64,
    ) -> Result<(Vec<SearchHit>, QueryTrace)> {
        let (hits, mut trace) = self.run_traced(query, query_vec, options, clock, true)?;
        // The question's class (semantic routing), for the reader of the trace; the search
        // itself does not depend on it.
        let t = clock();
        trace.class = Some(self.classify_question(query, query_vec)?);
        trace.stages.push(StageTime { stage: "classify".into(), ms: clock() - t });
        Ok((hits, trace))
    }

    /// The translated search; `corrections` fills the trace's typo corrections (skipped
    /// when the trace is dropped).
    fn run_traced(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
        clock: &dyn Fn() -> f64,
        corrections: bool,
    ) -> Result<(Vec<SearchHit>, QueryTrace)> {
        self.check_query(query, options)?;
        if let Some(v) = query_vec {
            self.dense.check_vector(v)?;
        }
        let t0 = clock();
        let (technique, reason) = match options.translate {
            Translate::Auto => auto_pick(query),
            t => (t, String::new()),
        };
        let mut trace = QueryTrace::new(options.translate, technique, reason);
        let planned;
        let (options, t0) = if options.route != Route::None || options.construct != Construct::Off {
            planned = self.plan_filters(query, query_vec, options, &mut trace)?;
            let t = clock();
            trace.stages.push(StageTime { stage: "route".into(), ms: t - t0 });
            (&planned, t)
        } else {
            (options, t0)
        };
        let allowed = self.allowed(options);
        if allowed.as_ref().is_some_and(|s| s.is_empty()) {
            trace.notes.push("the filters match no document".into());
            return Ok((Vec::new(), trace));
        }
        let k = options.k;
        let candidates = k.max(self.config.fusion_candidates);
        let depth = if options.rerank == Rerank::None && technique == Translate::None { k } else { candidates };
        let retriever = mode_name(options.mode);
        let base = self.rank(query, query_vec, options, &allowed, depth)?;
        trace.queries.push(TracedQuery {
            text: query.trim().to_owned(),
            source: QuerySource::Original,
            via: "question".into(),
            retriever: retriever.into(),
            weight: 1.0,
            hits: base.fused.len(),
        });
        if options.tree == Tree::Collapsed {
            trace.tree = base.tree.clone();
            let pool = self.tree.as_ref().map_or(0, |t| t.len());
            trace.notes.push(format!(
                "collapsed tree: {} of {pool} summary nodes ranked among the chunks, expanded into {} chunks",
                base.tree.len(),
                base.tree.iter().map(|h| h.chunks.len()).sum::<usize>()
            ));
        }
        let t1 = clock();
        trace.stages.push(StageTime { stage: "retrieve".into(), ms: t1 - t0 });
        // The question's lists in a weighted RRF: its two retrievers at weight 1 when
        // hybrid RRF, else its fused list at the weight of its retrievers.
        let rrf_k = match options.fusion {
            Fusion::Rrf { rrf_k } => rrf_k,
            Fusion::Weighted { .. } => crate::query::options::DEFAULT_RRF_K,
        };
        let question_lists: Vec<(&[Scored], f32)> = match (options.mode, options.fusion) {
            (Mode::Hybrid, Fusion::Rrf { .. }) => vec![(base.dense.as_slice(), 1.0), (base.sparse.as_slice(), 1.0)],
            (Mode::Hybrid, Fusion::Weighted { .. }) => vec![(base.fused.as_slice(), 2.0)],
            _ => vec![(base.fused.as_slice(), 1.0)],
        };
        let fused: Vec<Scored> = match technique {
            Translate::None | Translate::Auto => base.fused.clone(),
            Translate::MultiQuery { .. } | Translate::Fusion => {
                let n = match technique {
                    Translate::MultiQuery { n } => n,
                    _ => DEFAULT_VARIANTS,
                };
                let variants =
                    self.feedback_variants(query, query_vec, &base, options, &allowed, candidates, n, &mut trace)?;
                let mut lists = question_lists.clone();
                lists.extend(variants.iter().map(|v| (v.as_slice(), VARIANT_WEIGHT)));
                let all = rrf_weighted(&lists, rrf_k, depth);
                if technique == Translate::Fusion || variants.is_empty() {
                    all
                } else {
                    // Multi-query: the union of the rankings, interleaved, the question's first.
                    let mut ranked = vec![base.fused.clone()];
                    ranked.extend(variants);
                    quota_merge(&ranked, depth, &all, depth)
                }
            }
            Translate::Decompose => match decompose(query, MAX_PARTS) {
                None => {
                    trace.notes.push("no decomposition rule matched: searched as asked".into());
                    base.fused.clone()
                }
                Some(d) => {
                    if d.found > d.parts.len() {
                        trace.notes.push(format!("{} parts found, the first {} kept", d.found, d.parts.len()));
                    }
                    let vectors = if options.mode == Mode::Sparse {
                        vec![None; d.parts.len()]
                    } else {
                        let texts: Vec<String> =
                            d.parts.iter().map(|p| format!("{}{}", self.config.query_prefix, p)).collect();
                        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                        self.embed_batch_checked(&refs)?.into_iter().map(Some).collect()
                    };
                    let mut ranked = vec![base.fused.clone()];
                    for (part, v) in d.parts.iter().zip(&vectors) {
                        let r = self.rank(part, v.as_deref(), options, &allowed, depth)?;
                        ranked.push(r.fused);
                    }
                    let quota = (k.min(10) / ranked.len()).max(1);
                    for (part, r) in d.parts.iter().zip(&ranked[1..]) {
                        trace.queries.push(TracedQuery {
                            text: part.clone(),
                            source: QuerySource::Rule,
                            via: d.rule.into(),
                            retriever: retriever.into(),
                            weight: quota as f32,
                            hits: r.len(),
                        });
                    }
                    let lists: Vec<(&[Scored], f32)> = ranked.iter().map(|r| (r.as_slice(), 1.0)).collect();
                    let all = rrf_weighted(&lists, rrf_k, depth);
                    quota_merge(&ranked, quota, &all, depth)
                }
            },
            Translate::StepBack => {
                let top: Vec<(Option<&str>, &[String])> = base
                    .fused
                    .iter()
                    .take(FEEDBACK_DEPTH)
                    .filter_map(|(id, _)| {
                        let c = self.chunks.get(id)?;
                        let d = self.docs.get(&c.doc_id)?;
                        Some((d.title.as_deref(), c.heading_path.as_slice()))
                    })
                    .collect();
                match step_back_query(&top, FEEDBACK_DEPTH) {
                    None => {
                        trace.notes.push("the top chunks carry no title or heading: searched as asked".into());
                        base.fused.clone()
                    }
                    Some(general) => {
                        let v = if options.mode == Mode::Sparse { None } else { Some(self.embed_derived(&general)?) };
                        let r = self.rank(&general, v.as_deref(), options, &allowed, depth)?;
                        trace.queries.push(TracedQuery {
                            text: general,
                            source: QuerySource::Feedback,
                            via: "step-back".into(),
                            retriever: retriever.into(),
                            weight: VARIANT_WEIGHT,
                            hits: r.fused.len(),
                        });
                        let mut lists = question_lists.clone();
                        lists.push((r.fused.as_slice(), VARIANT_WEIGHT));
                        rrf_weighted(&lists, rrf_k, depth)
                    }
                }
            }
            Translate::Hyde => {
                if options.mode == Mode::Sparse {
                    trace.notes.push("HyDE searches the dense index: sparse mode searched as asked".into());
                    base.fused.clone()
                } else {
                    let top = if base.sparse.is_empty() {
                        self.rank_sparse(query, &allowed, FEEDBACK_DEPTH)
                    } else {
                        base.sparse.iter().take(FEEDBACK_DEPTH).copied().collect()
                    };
                    let feedback: Vec<(&str, Language)> =
                        top.iter().filter_map(|(id, _)| self.chunk_text(*id)).collect();
                    match pseudo_document(&self.sparse, query, &feedback) {
                        None => {
                            trace
                                .notes
                                .push("no sentence of the top BM25 chunks shares a term: searched as asked".into());
                            base.fused.clone()
                        }
                        Some(doc) => {
                            let texts = [format!("{}{}", self.config.passage_prefix, doc)];
                            let v = self.embed_batch_checked(&[texts[0].as_str()])?.remove(0);
                            let list = self.rank_dense(&v, &allowed, candidates, options.exact)?;
                            trace.queries.push(TracedQuery {
                                text: doc,
                                source: QuerySource::Feedback,
                                via: "hyde".into(),
                                retriever: "dense".into(),
                                weight: VARIANT_WEIGHT,
                                hits: list.len(),
                            });
                            let mut lists = question_lists.clone();
                            lists.push((list.as_slice(), VARIANT_WEIGHT));
                            rrf_weighted(&lists, rrf_k, depth)
                        }
                    }
                }
            }
        };
        let t2 = clock();
        trace.stages.push(StageTime { stage: "translate".into(), ms: t2 - t1 });
        let fused = match (options.rerank, query_vec) {
            (Rerank::None, _) => fused,
            (Rerank::MaxSim, Some(v)) => self.rerank_maxsim(v, fused)?,
            (Rerank::MaxSim, None) => {
                return Err(Error::InvalidOption {
                    name: "query_vec",
                    detail: "maxsim reranking needs a query vector".into(),
                })
            }
        };
        let hits = self.hits(fused, base.dense, base.sparse, k);
        if corrections && options.mode != Mode::Dense {
            trace.corrections = self.typo_corrections(query);
        }
        trace.stages.push(StageTime { stage: "fuse".into(), ms: clock() - t2 });
        Ok((hits, trace))
    }

    /// A text's vector with the query prefix (a derived query), checked.
    fn embed_derived(&self, text: &str) -> Result<Vec<f32>> {
        let v = self.embedder.embed(&format!("{}{}", self.config.query_prefix, text.trim()))?;
        self.dense.check_vector(&v)?;
        Ok(v)
    }

    /// Up to `n` pseudo-relevance-feedback variants of the question, each a ranking:
    /// RM3 terms of the top BM25 chunks (sparse), Rocchio on the top fused chunks
    /// (dense), RM3 terms of the top dense chunks (sparse), Rocchio on the top BM25
    /// chunks (dense). A variant whose retriever the mode lacks, or that finds no
    /// feedback, is skipped with a note.
    #[allow(clippy::too_many_arguments)]
    fn feedback_variants(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        base: &Ranked,
        options: &SearchOptions,
        allowed: &Allowed,
        depth: usize,
        n: usize,
        trace: &mut QueryTrace,
    ) -> Result<Vec<Vec<Scored>>> {
        let sparse_top: Vec<ChunkId> = base.sparse.iter().take(FEEDBACK_DEPTH).map(|h| h.0).collect();
        let dense_top: Vec<ChunkId> = base.dense.iter().take(FEEDBACK_DEPTH).map(|h| h.0).collect();
        let fused_top: Vec<ChunkId> = base.fused.iter().take(FEEDBACK_DEPTH).map(|h| h.0).collect();
        let plan: [(&str, &[ChunkId]); 4] = [
            ("rm3", &sparse_top[..]),
            ("rocchio", &fused_top[..]),
            ("rm3", &dense_top[..]),
            ("rocchio", &sparse_top[..]),
        ];
        let mut out = Vec::new();
        for (i, (via, from)) in plan.iter().take(n).enumerate() {
            let of = ["top BM25 chunks", "top fused chunks", "top dense chunks", "top BM25 chunks"][i];
            if from.is_empty() {
                trace.notes.push(format!("{via} on the {of}: the mode has no such ranking, skipped"));
                continue;
            }
            if *via == "rm3" {
                if options.mode == Mode::Dense {
                    trace.notes.push("rm3: a sparse query, skipped in dense mode".into());
                    continue;
                }
                let feedback: Vec<(&str, Language)> = from.iter().filter_map(|id| self.chunk_text(*id)).collect();
                let terms = feedback_terms(&self.sparse, query, &feedback, FEEDBACK_TERMS);
                if terms.is_empty() {
                    trace.notes.push(format!("rm3 on the {of}: no expansion terms"));
                    continue;
                }
                let text = format!("{} {}", query.trim(), terms.join(" "));
                let list = self.rank_sparse(&text, allowed, depth);
                trace.queries.push(TracedQuery {
                    text,
                    source: QuerySource::Feedback,
                    via: format!("rm3 ({of})"),
                    retriever: "sparse".into(),
                    weight: VARIANT_WEIGHT,
                    hits: list.len(),
                });
                out.push(list);
            } else {
                let Some(q) = query_vec.filter(|_| options.mode != Mode::Sparse) else {
                    trace.notes.push("rocchio: a dense query, skipped in sparse mode".into());
                    continue;
                };
                let vecs: Vec<&[f32]> = from.iter().filter_map(|id| self.dense.vector(*id)).collect();
                let Some(v) = rocchio(q, &vecs, ROCCHIO_BETA) else {
                    trace.notes.push(format!("rocchio on the {of}: no feedback vectors"));
                    continue;
                };
                let list = self.rank_dense(&v, allowed, depth, options.exact)?;
                trace.queries.push(TracedQuery {
                    text: format!("q + {ROCCHIO_BETA}·mean({} vectors of the {of})", vecs.len()),
                    source: QuerySource::Feedback,
                    via: format!("rocchio ({of})"),
                    retriever: "dense".into(),
                    weight: VARIANT_WEIGHT,
                    hits: list.len(),
                });
                out.push(list);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::embed::hashing::HashEmbedder;
    use crate::query::translate::QuerySource;
    use crate::query::{Filter, Mode, SearchOptions, Translate};
    use crate::{Document, Engine, EngineConfig};

    fn engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        let mut fr = Document::new("guide/fr.md", "# Profils\n\nLes profils de compilation changent les options.");
        fr.metadata.insert("lang".into(), "fr".into());
        let mut en = Document::new("guide/en.md", "# Profiles\n\nCompilation profiles change compiler options.");
        en.metadata.insert("lang".into(), "en".into());
        let other = Document::new("reference/manifest.md", "# Manifest\n\nThe manifest lists compiler options too.");
        e.add_documents(vec![fr, en, other]).unwrap();
        e
    }

    #[test]
    fn filters_apply_before_ranking_in_every_mode() {
        let e = engine();
        for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
            let o =
                SearchOptions { k: 5, mode, filters: vec![Filter::parse("lang=en").unwrap()], ..Default::default() };
            let hits = e.search("compiler options", &o).unwrap();
            assert!(!hits.is_empty(), "{mode:?}");
            // `lang` is virtual: a document without it matches its detected language.
            assert!(hits.iter().all(|h| h.doc_id != "guide/fr.md"), "{mode:?}: {hits:?}");
            assert!(hits.iter().any(|h| h.doc_id == "guide/en.md"), "{mode:?}: {hits:?}");
            let o = SearchOptions { mode, filters: vec![Filter::parse("id^=reference/").unwrap()], ..o };
            let hits = e.search("compiler options", &o).unwrap();
            assert!(hits.iter().all(|h| h.doc_id.starts_with("reference/")) && !hits.is_empty(), "{mode:?}");
            let none = SearchOptions { mode, filters: vec![Filter::parse("lang=de").unwrap()], ..o };
            assert!(e.search("compiler options", &none).unwrap().is_empty(), "{mode:?}");
        }
    }

    /// Three pages on flux capacitors that share the question's words, one short mention
    /// of warp cores in a long page, and filler: searched as asked, the flux pages fill
    /// the first two places; decomposed, the warp part gets its place.
    fn two_topic_engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        let filler = "The ship has many rooms and long corridors with lights and doors. ".repeat(12);
        let docs = vec![
            Document::new("flux/a.md", "# Flux capacitors\n\nThe difference between flux capacitors is their flux. Flux capacitors store flux."),
            Document::new("flux/b.md", "# Flux capacitor sizes\n\nWhat is the difference between small and large flux capacitors? Flux."),
            Document::new("flux/c.md", "# Flux capacitor care\n\nFlux capacitors differ: the difference is how much flux capacitors hold."),
            Document::new("ship/warp.md", format!("# The ship\n\n{filler} Deep inside sit the warp cores. {filler}")),
            Document::new("ship/galley.md", "# Galley\n\nThe galley cooks meals for the crew."),
        ];
        e.add_documents(docs).unwrap();
        e
    }

    fn docs(hits: &[crate::rag::records::SearchHit]) -> Vec<String> {
        hits.iter().map(|h| h.doc_id.clone()).collect()
    }

    #[test]
    fn decomposition_retrieves_both_parts_where_the_question_alone_does_not() {
        let e = two_topic_engine();
        let q = "What is the difference between flux capacitors and warp cores?";
        let plain = SearchOptions { k: 2, ..Default::default() };
        let asked = docs(&e.search(q, &plain).unwrap());
        assert!(!asked.contains(&"ship/warp.md".to_owned()), "precondition: the plain search starves warp: {asked:?}");
        let o = SearchOptions { translate: Translate::Decompose, ..plain };
        let (hits, trace) = e.search_traced(q, &o, &|| 0.0).unwrap();
        let got = docs(&hits);
        assert!(
            got.contains(&"ship/warp.md".to_owned()) && got.iter().any(|d| d.starts_with("flux/")),
            "{got:?} {trace:?}"
        );
        let texts: Vec<&str> = trace.queries.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts, [q, "flux capacitors", "warp cores"]);
        assert_eq!(trace.queries[1].source, QuerySource::Rule);
        // Auto decomposes a comparison and says why.
        let (auto_hits, t) = e.search_traced(q, &SearchOptions { translate: Translate::Auto, ..o }, &|| 0.0).unwrap();
        assert_eq!((t.requested, t.technique), (Translate::Auto, Translate::Decompose));
        assert!(!t.reason.is_empty());
        assert_eq!(docs(&auto_hits), got);
    }

    #[test]
    fn every_technique_returns_at_most_k_unique_hits_and_traces_its_queries() {
        let e = two_topic_engine();
        let techniques = [
            Translate::None,
            Translate::MultiQuery { n: 1 },
            Translate::MultiQuery { n: 4 },
            Translate::Fusion,
            Translate::Decompose,
            Translate::StepBack,
            Translate::Hyde,
            Translate::Auto,
        ];
        for q in ["flux capacitors and the warp cores of the ship", "galley meals", "warp"] {
            for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
                for t in techniques {
                    for k in [1, 3, 10] {
                        let o = SearchOptions { k, mode, translate: t, ..Default::default() };
                        let (hits, trace) = e.search_traced(q, &o, &|| 0.0).unwrap();
                        assert!(hits.len() <= k, "{t:?} {mode:?} k={k}: {} hits", hits.len());
                        let ids: HashSet<_> = hits.iter().map(|h| h.chunk_id).collect();
                        assert_eq!(ids.len(), hits.len(), "{t:?} {mode:?}: duplicates");
                        assert!(hits.iter().enumerate().all(|(i, h)| h.rank == i + 1));
                        assert_eq!(trace.queries[0].source, QuerySource::Original, "{t:?}");
                        assert_eq!(trace.queries[0].text, q);
                        // A technique either ran more queries or says why it did not.
                        if !matches!(trace.technique, Translate::None) {
                            assert!(
                                trace.queries.len() > 1 || !trace.notes.is_empty(),
                                "{t:?} {mode:?} {q}: {trace:?}"
                            );
                        }
                        // search() runs the same search without the trace.
                        assert_eq!(docs(&e.search(q, &o).unwrap()), docs(&hits), "{t:?} {mode:?} {q}");
                    }
                }
            }
        }
        // Feedback techniques really run their variants in hybrid mode.
        let o = SearchOptions { translate: Translate::MultiQuery { n: 4 }, ..Default::default() };
        let (_, trace) = e.search_traced("flux capacitors", &o, &|| 0.0).unwrap();
        let via: Vec<&str> = trace.queries.iter().map(|q| q.via.as_str()).collect();
        assert!(via.iter().any(|v| v.starts_with("rm3")) && via.iter().any(|v| v.starts_with("rocchio")), "{via:?}");
        let (_, trace) = e
            .search_traced("flux capacitors", &SearchOptions { translate: Translate::Hyde, ..o.clone() }, &|| 0.0)
            .unwrap();
        assert_eq!(trace.queries.last().unwrap().via, "hyde");
        let (_, trace) = e
            .search_traced("flux capacitors", &SearchOptions { translate: Translate::StepBack, ..o }, &|| 0.0)
            .unwrap();
        assert_eq!(trace.queries.last().unwrap().via, "step-back");
    }

    #[test]
    fn the_trace_carries_the_typo_corrections_the_sparse_search_used() {
        let e = two_topic_engine();
        let o = SearchOptions { k: 3, mode: Mode::Sparse, ..Default::default() };
        let (hits, trace) = e.search_traced("capacitrs", &o, &|| 0.0).unwrap();
        assert!(hits.iter().any(|h| h.doc_id.starts_with("flux/")), "{hits:?}");
        assert_eq!(trace.corrections, e.typo_corrections("capacitrs"));
        assert_eq!(trace.corrections[0].word, "capacitrs");
        assert_eq!(trace.corrections[0].replacements[0].0, "capacitors");
        let (_, trace) =
            e.search_traced("capacitrs", &SearchOptions { mode: Mode::Dense, ..o.clone() }, &|| 0.0).unwrap();
        assert!(trace.corrections.is_empty(), "dense mode corrects nothing");
        let (_, trace) = e.search_traced("flux capacitors", &o, &|| 0.0).unwrap();
        assert!(trace.corrections.is_empty());
    }

    #[test]
    fn a_traced_search_carries_the_question_class() {
        use crate::query::classify::{ClassSource, QuestionClass};
        let e = two_topic_engine();
        let (_, t) =
            e.search_traced("How do I calibrate the flux capacitors?", &SearchOptions::default(), &|| 0.0).unwrap();
        let c = t.class.expect("classified");
        assert_eq!((c.class, c.source), (QuestionClass::HowTo, ClassSource::Rule));
        assert!(t.stages.iter().any(|s| s.stage == "classify"));
        let (_, t) = e.search_traced("flux capacitors", &SearchOptions::default(), &|| 0.0).unwrap();
        assert_eq!(t.class.unwrap().class, QuestionClass::Factoid);
    }

    #[test]
    fn a_fifty_part_question_is_capped_in_the_trace() {
        let e = two_topic_engine();
        let items: Vec<String> = (0..50).map(|i| format!("flux{i}")).collect();
        let q = format!("Tell me about these: {}", items.join(", "));
        let o = SearchOptions { k: 5, translate: Translate::Decompose, ..Default::default() };
        let (hits, trace) = e.search_traced(&q, &o, &|| 0.0).unwrap();
        assert!(hits.len() <= 5);
        assert_eq!(trace.queries.len(), 1 + crate::query::translate::MAX_PARTS);
        assert!(trace.notes.iter().any(|n| n.contains("50 parts")), "{:?}", trace.notes);
        let bad = SearchOptions { translate: Translate::MultiQuery { n: 9 }, ..Default::default() };
        assert_eq!(e.search("flux", &bad).unwrap_err().kind(), "InvalidOption");
    }

    #[test]
    fn invalid_options_and_queries_are_refused_before_searching() {
        let e = engine();
        let bad_k = SearchOptions { k: 0, ..Default::default() };
        assert_eq!(e.search("options", &bad_k).unwrap_err().kind(), "InvalidOption");
        let bad_rrf = SearchOptions { fusion: crate::index::fusion::Fusion::Rrf { rrf_k: 0.0 }, ..Default::default() };
        assert_eq!(e.search("options", &bad_rrf).unwrap_err().kind(), "InvalidOption");
        assert_eq!(e.search("   ", &SearchOptions::default()).unwrap_err().kind(), "InvalidQuery");
        let long = "x".repeat(e.config().max_query_bytes + 1);
        assert_eq!(e.search(&long, &SearchOptions::default()).unwrap_err().kind(), "InvalidQuery");
        let nan = vec![f32::NAN; 64];
        let r = e.search_with_vector("options", Some(&nan), &SearchOptions::default());
        assert_eq!(r.unwrap_err().kind(), "NonFiniteVector");
        let short = vec![0.0; 3];
        let r = e.search_with_vector("options", Some(&short), &SearchOptions::default());
        assert_eq!(r.unwrap_err().kind(), "DimensionMismatch");
    }
}

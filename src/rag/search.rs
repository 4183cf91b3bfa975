//! Filtered dense, sparse and hybrid retrieval over the engine's indexes.
//!
//! Filters become an allow-list of chunk ids that both retrievers respect while
//! ranking; hybrid mode fetches `max(k, fusion_candidates)` from each retriever and
//! fuses them ([`crate::index::fusion`]). With `rerank: maxsim` the fused list, cut at
//! `max(k, fusion_candidates)`, is reordered by each chunk's MaxSim (the best cosine of
//! the query with one of its stored sentence vectors) before the top `k` are returned.

use std::collections::{HashMap, HashSet};

use super::records::SearchHit;
use super::Engine;
use crate::error::{Error, Result};
use crate::index::fusion::fuse;
use crate::index::ChunkId;
use crate::query::{Mode, Rerank, SearchOptions};

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

    /// Search the index.
    pub fn search(&self, query: &str, options: &SearchOptions) -> Result<Vec<SearchHit>> {
        let query_vec = match (options.mode, options.rerank) {
            (Mode::Sparse, Rerank::None) => None,
            _ => Some(self.embed_query(query, options)?),
        };
        self.search_with_vector(query, query_vec.as_deref(), options)
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
        let vectors = self.embedder.embed_batch(texts)?;
        if vectors.len() != texts.len() {
            return Err(Error::Candle(format!(
                "embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
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
        options.validate()
    }

    /// Search with a query vector computed by the caller (e.g. embedded in a batch).
    /// `query_vec` is required unless the mode is sparse.
    pub fn search_with_vector(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        self.check_query(query, options)?;
        if let Some(v) = query_vec {
            self.dense.check_vector(v)?;
        }
        let allowed: Option<HashSet<ChunkId>> = if options.filters.is_empty() {
            None
        } else {
            Some(
                self.docs
                    .values()
                    .filter(|d| options.filters.iter().all(|f| f.matches(&d.id, &d.metadata)))
                    .flat_map(|d| d.chunks.iter().copied())
                    .collect(),
            )
        };
        let allow_fn = |id: ChunkId| allowed.as_ref().is_none_or(|s| s.contains(&id));
        let allow: Option<&dyn Fn(ChunkId) -> bool> = if allowed.is_some() { Some(&allow_fn) } else { None };
        if allowed.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        let k = options.k;
        let candidates = k.max(self.config.fusion_candidates);
        let need_vec = || {
            query_vec
                .ok_or(Error::InvalidOption { name: "query_vec", detail: "dense search needs a query vector".into() })
        };
        // Reranking reorders a deeper list than it returns.
        let depth = if options.rerank == Rerank::None { k } else { candidates };
        let known_fn = |w: &str| self.known_word(w);
        let known: Option<&dyn Fn(&str) -> bool> = Some(&known_fn);
        let (dense, sparse) = match options.mode {
            Mode::Dense => (self.dense.search(need_vec()?, depth, allow)?, Vec::new()),
            Mode::Sparse => (Vec::new(), self.sparse.search_with(query, depth, allow, known)),
            Mode::Hybrid => (
                self.dense.search(need_vec()?, candidates, allow)?,
                self.sparse.search_with(query, candidates, allow, known),
            ),
        };
        let fused = match options.mode {
            Mode::Dense => dense.clone(),
            Mode::Sparse => sparse.clone(),
            Mode::Hybrid => fuse(options.fusion, &dense, &sparse, depth),
        };
        let fused = match options.rerank {
            Rerank::None => fused,
            Rerank::MaxSim => self.rerank_maxsim(need_vec()?, fused)?,
        };
        let dense_map: HashMap<ChunkId, f32> = dense.into_iter().collect();
        let sparse_map: HashMap<ChunkId, f32> = sparse.into_iter().collect();
        let mut hits = Vec::with_capacity(fused.len());
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
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use crate::embed::hashing::HashEmbedder;
    use crate::query::{Filter, Mode, SearchOptions};
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
            assert!(hits.iter().all(|h| h.doc_id == "guide/en.md"), "{mode:?}: {hits:?}");
            let o = SearchOptions { mode, filters: vec![Filter::parse("id^=reference/").unwrap()], ..o };
            let hits = e.search("compiler options", &o).unwrap();
            assert!(hits.iter().all(|h| h.doc_id.starts_with("reference/")) && !hits.is_empty(), "{mode:?}");
            let none = SearchOptions { mode, filters: vec![Filter::parse("lang=de").unwrap()], ..o };
            assert!(e.search("compiler options", &none).unwrap().is_empty(), "{mode:?}");
        }
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

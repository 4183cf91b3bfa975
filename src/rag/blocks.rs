//! Building blocks: the engine's stages one at a time, for pages that compose their own
//! pipeline — vectors for their own store (the transformers.js `feature-extraction`
//! habit), a reranker in front of another search, a preview of how a document is cut.
//! None of them touches the index.
//!
//! - [`Engine::embed_texts`]: the loaded embedder over any texts, in batches of
//!   `embed_batch`, cancellable between batches, every vector checked finite.
//! - [`Engine::rerank_passages`]: late interaction at sentence granularity (ColBERT's
//!   MaxSim, Khattab & Zaharia 2020) — a passage scores the best cosine between the
//!   query and one of its sentences, the score `rerank: maxsim` gives indexed chunks.
//!   Why sentences and not the passage vector: a long passage's mean-pooled vector
//!   blurs the one sentence that answers; MaxSim keeps it (measured on the Cargo Book in
//!   docs/retrieval.md). A passage without a sentence long enough to embed on its own
//!   is scored as a whole.
//! - [`Engine::chunk_document`]: the cleaned text, title, language and the chunks, with
//!   their byte spans in the cleaned text, that `add_documents` would index.

use serde::{Deserialize, Serialize};

use super::select::vector_spans;
use super::Engine;
use crate::error::{Error, Result};
use crate::ingest::dedup::DupKind;
use crate::ingest::{chunk::chunk_checked, clean::clean_with, language, Document, Format};
use crate::text::Language;

/// Most texts one [`Engine::embed_texts`] call takes (each at most
/// `limits.max_document_bytes`; the embedder truncates at its token limit).
pub const MAX_EMBED_TEXTS: usize = 100_000;
/// Most passages one [`Engine::rerank_passages`] call takes.
pub const MAX_RERANK_PASSAGES: usize = 1_000;
/// Most sentences of one passage that rerank embeds (the first ones).
pub const MAX_RERANK_SENTENCES: usize = 64;
/// Largest passage rerank takes, in bytes.
pub const MAX_RERANK_PASSAGE_BYTES: usize = 64 * 1024;

/// Options of [`Engine::embed_texts`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedOptions {
    /// L2-normalise each vector (default true: what the index stores, so a dot product
    /// is the cosine). False gives the pooled vectors as the model produces them.
    pub normalize: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions { normalize: true }
    }
}

/// One reranked passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reranked {
    /// Position of the passage in the input.
    pub index: usize,
    /// MaxSim: the best cosine between the query and one sentence of the passage.
    pub score: f32,
    /// Byte span, in the passage, of the sentence that gave the score (the whole
    /// passage when it has no sentence long enough to embed alone).
    pub start: usize,
    /// End of that span (exclusive).
    pub end: usize,
}

/// A chunk as [`Engine::chunk_document`] reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPreview {
    /// Byte offset of the chunk in [`ChunkedDocument::text`].
    pub start: usize,
    /// Byte offset one past its end.
    pub end: usize,
    /// The chunk's text (`text[start..end]`).
    pub text: String,
    /// Headings enclosing it, outermost first.
    pub heading_path: Vec<String>,
    /// Tokens of what is embedded for it (title and heading line included), as the
    /// loaded embedder counts them.
    pub tokens: usize,
    /// Set when indexing would drop the chunk as a duplicate of an indexed chunk or of
    /// an earlier chunk of this document.
    pub duplicate: Option<Duplicate>,
}

/// Why a previewed chunk would not be indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Duplicate {
    /// The same normalised text as another chunk.
    Exact,
    /// Near-duplicate (MinHash Jaccard at or above `dedup.threshold`).
    Near,
}

/// What indexing would make of one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkedDocument {
    /// The document id.
    pub id: String,
    /// The format used (detected when the document does not say).
    pub format: Format,
    /// The title (metadata `title`, else the markup's).
    pub title: Option<String>,
    /// The language used for stop words and stemming.
    pub language: Language,
    /// The cleaned text the spans point into.
    pub text: String,
    /// The chunks in document order, duplicates included and marked.
    pub chunks: Vec<ChunkPreview>,
}

impl Engine {
    /// Embed `texts` with the loaded embedder, `embed_batch` at a time; `progress(done,
    /// total)` after each batch; [`Error::Cancelled`] as soon as `cancelled()` is true
    /// between batches.
    ///
    /// Errors: [`Error::LimitExceeded`] for more than [`MAX_EMBED_TEXTS`] texts or a
    /// text over `limits.max_document_bytes`; [`Error::NonFiniteVector`] when the model
    /// produces NaN or infinity; [`Error::DimensionMismatch`] for a vector of the wrong size.
    pub fn embed_texts(
        &self,
        texts: &[&str],
        options: &EmbedOptions,
        progress: &mut dyn FnMut(usize, usize),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        if texts.len() > MAX_EMBED_TEXTS {
            return Err(Error::LimitExceeded {
                what: "texts per embed call",
                limit: MAX_EMBED_TEXTS,
                got: texts.len(),
            });
        }
        let max_bytes = self.config.limits.max_document_bytes;
        if let Some(t) = texts.iter().find(|t| t.len() > max_bytes) {
            return Err(Error::LimitExceeded { what: "bytes per embedded text", limit: max_bytes, got: t.len() });
        }
        let batch = self.config.embed_batch.max(1);
        let mut out = Vec::with_capacity(texts.len());
        for group in texts.chunks(batch) {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            let vectors = if options.normalize {
                self.embedder.embed_batch(group)?
            } else {
                self.embedder.embed_batch_pooled(group)?
            };
            out.extend(self.checked_vectors(group.len(), vectors)?);
            progress(out.len(), texts.len());
        }
        Ok(out)
    }

    /// Score each passage against `query` by sentence-level MaxSim and return them best
    /// first (ties keep the input order).
    ///
    /// Errors: [`Error::InvalidQuery`] for an empty or over-long query;
    /// [`Error::LimitExceeded`] for more than [`MAX_RERANK_PASSAGES`] passages or one
    /// over [`MAX_RERANK_PASSAGE_BYTES`].
    pub fn rerank_passages(
        &self,
        query: &str,
        passages: &[&str],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Reranked>> {
        self.check_query_text(query)?;
        if passages.len() > MAX_RERANK_PASSAGES {
            return Err(Error::LimitExceeded {
                what: "passages per rerank call",
                limit: MAX_RERANK_PASSAGES,
                got: passages.len(),
            });
        }
        if let Some(p) = passages.iter().find(|p| p.len() > MAX_RERANK_PASSAGE_BYTES) {
            return Err(Error::LimitExceeded {
                what: "bytes per reranked passage",
                limit: MAX_RERANK_PASSAGE_BYTES,
                got: p.len(),
            });
        }
        // Every passage's sentences (or the passage itself), as (passage, span).
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        for (i, p) in passages.iter().enumerate() {
            let sentences = vector_spans(p, 0);
            if sentences.is_empty() {
                if !p.trim().is_empty() {
                    spans.push((i, 0, p.len()));
                }
            } else {
                spans.extend(sentences.into_iter().take(MAX_RERANK_SENTENCES).map(|(s, e)| (i, s, e)));
            }
        }
        // As `rerank: maxsim` scores indexed chunks: the query with the configured query
        // prefix, the sentences as they are.
        let query_vec = self.embedder.embed(&format!("{}{}", self.config.query_prefix, query.trim()))?;
        self.dense.check_vector(&query_vec)?;
        let texts: Vec<&str> = spans.iter().map(|&(i, s, e)| &passages[i][s..e]).collect();
        let vectors = self.embed_texts(&texts, &EmbedOptions::default(), &mut |_, _| {}, cancelled)?;
        let mut best: Vec<Option<(f32, usize, usize)>> = vec![None; passages.len()];
        for (&(i, s, e), v) in spans.iter().zip(&vectors) {
            let score: f32 = v.iter().zip(&query_vec).map(|(a, b)| a * b).sum();
            if best[i].is_none_or(|(b, _, _)| score > b) {
                best[i] = Some((score, s, e));
            }
        }
        let mut out: Vec<Reranked> = best
            .into_iter()
            .enumerate()
            .map(|(index, b)| {
                // A blank passage scores below every other one.
                let (score, start, end) = b.unwrap_or((-1.0, 0, 0));
                Reranked { index, score, start, end }
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        Ok(out)
    }

    /// Clean and chunk `doc` as [`Engine::add_documents`] would (same validation, limits,
    /// title, token budget and de-duplication against the index, the document's own
    /// earlier version excepted), without indexing it.
    pub fn chunk_document(&self, doc: &Document, cancelled: &dyn Fn() -> bool) -> Result<ChunkedDocument> {
        doc.validate(&self.config.limits)?;
        let format = doc.resolved_format();
        let mut typed = doc.clone();
        typed.format = Some(format);
        let cleaned = clean_with(&typed, &self.config.clean, cancelled)?;
        let title =
            doc.metadata.get("title").cloned().filter(|t| !t.trim().is_empty()).or_else(|| cleaned.title.clone());
        let language = language::resolve(&doc.metadata, &cleaned.text);
        let chunk_config = self.chunk_config_for(title.as_deref());
        let pieces = chunk_checked(&cleaned, &chunk_config, self.embedder.as_ref(), &self.config.limits)?;
        let mut dedup = self.dedup.clone();
        if let Some(old) = self.docs.get(&doc.id) {
            for &c in &old.chunks {
                dedup.remove(c);
            }
        }
        // Ids past every indexed one: this copy of the dedup state is thrown away.
        let mut next_id = self.next_chunk_id;
        let chunks = pieces
            .into_iter()
            .filter(|c| !c.text.trim().is_empty())
            .map(|c| {
                let embedded = self.embed_text(title.as_deref(), &c.heading_path, &c.text);
                let key = super::records::dedup_key(&c.heading_path, &c.text);
                let prepared = dedup.prepare(&key);
                let duplicate = match dedup.check_prepared(&prepared) {
                    DupKind::Exact { .. } => Some(Duplicate::Exact),
                    DupKind::Near { .. } => Some(Duplicate::Near),
                    DupKind::Unique => {
                        dedup.insert_prepared(next_id, prepared);
                        next_id = next_id.wrapping_add(1);
                        None
                    }
                };
                ChunkPreview {
                    duplicate,
                    tokens: self.embedder.count_tokens(&embedded),
                    start: c.start,
                    end: c.end,
                    text: c.text,
                    heading_path: c.heading_path,
                }
            })
            .collect();
        Ok(ChunkedDocument { id: doc.id.clone(), format, title, language, text: cleaned.text, chunks })
    }
}

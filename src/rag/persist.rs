//! The engine saved to, and rebuilt from, an index file.
//!
//! The container (magic, version, checksummed sections) is
//! [`crate::index::format`]; this module decides what goes in the sections — the
//! [`Manifest`], the document and chunk records, the dense index, the sentence vectors
//! (format v2; a v1 file has none and its chunks are embedded when first needed), the
//! optional RAPTOR summary tree (`tree`; absent: the index loads without one) and the texts
//! of an abstractive one (`tree_summaries`; absent: the tree is extractive) — and checks, on
//! load, that they describe one consistent engine before any of it is used:
//! - the configuration passes [`EngineConfig::validate`];
//! - the embedder loaded is the one the index was built with;
//! - every chunk belongs to exactly one document, which lists it once; every chunk has
//!   exactly one vector and every vector a chunk (ids matched, not only counted); every
//!   span lies in its document's cleaned text; ids are below `next_chunk_id`; every
//!   sentence vector belongs to a chunk, has the embedder's dimension and a span inside
//!   its chunk on character boundaries.
//!
//! BM25 postings and the duplicate detector are derived state, rebuilt from the chunk
//! texts on load with the same [`sparse_text`] and [`dedup_key`] as indexing uses.

use std::collections::{BTreeMap, HashSet};

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::records::{dedup_key, sparse_text, ChunkRecord, DocRecord};
use super::{Engine, EngineConfig};
use crate::embed::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::index::dense::DenseIndex;
use crate::index::format::{
    bincode_opts, read_sections, read_versioned, section, write_section, FORMAT_VERSION, MAGIC, MIN_FORMAT_VERSION,
};
use crate::index::sentences::SentenceStore;
use crate::index::sparse::SparseIndex;
use crate::index::tree::{SummaryTree, SUMMARIES_SECTION};
use crate::index::ChunkId;
use crate::ingest::dedup::Deduplicator;

/// The manifest section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (same as the header).
    pub format_version: u32,
    /// Producer, e.g. `sotto 0.1.0`.
    pub created_by: String,
    /// The embedder the vectors come from.
    pub embedder: EmbedderInfo,
    /// Engine configuration (chunking, cleaning, dedup, dense, BM25 parameters).
    pub config: EngineConfig,
    /// SHA-256 over sorted `(document id, body SHA-256)` pairs.
    pub corpus_sha256: String,
    /// Number of documents.
    pub documents: usize,
    /// Number of chunks.
    pub chunks: usize,
    /// Next chunk id to assign.
    pub next_chunk_id: ChunkId,
    /// The grader's calibration (`sotto calibrate`), keyed by the embedder it was fitted
    /// with; absent in indexes written before it existed or never calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::grade::Calibration>,
    /// Collection descriptions (routing), by name; absent when none was set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub collections: BTreeMap<String, String>,
    /// Set in a partial index, the map step of a partitioned build (`index --partition
    /// i/N`): which partition, of which corpus ([`super::partition`]). Absent in a
    /// complete index (and in every file written before partitioned builds existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<super::partition::PartitionInfo>,
}

/// Parse the manifest section and check its format version.
fn parse_manifest(sections: &BTreeMap<String, &[u8]>) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(section(sections, "manifest")?).map_err(|e| Error::corrupt("manifest", e))?;
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&manifest.format_version) {
        return Err(Error::IndexFormat { found: manifest.format_version, supported: FORMAT_VERSION });
    }
    Ok(manifest)
}

/// Read only the manifest (to learn which embedder an index needs before loading it).
pub fn read_manifest(bytes: &[u8]) -> Result<Manifest> {
    parse_manifest(&read_sections(bytes)?)
}

/// SHA-256 over sorted `(id, body hash)` pairs: identifies the corpus an index was built from.
pub fn corpus_sha256<'a>(docs: impl Iterator<Item = &'a DocRecord>) -> String {
    let mut pairs: Vec<(&str, &str)> = docs.map(|d| (d.id.as_str(), d.body_sha256.as_str())).collect();
    pairs.sort_unstable();
    let mut buf = Vec::new();
    for (id, h) in pairs {
        buf.extend_from_slice(id.as_bytes());
        buf.push(0);
        buf.extend_from_slice(h.as_bytes());
        buf.push(b'\n');
    }
    crate::embed::sha256_hex(&buf)
}

pub(crate) fn same_embedder(a: &EmbedderInfo, b: &EmbedderInfo) -> bool {
    a.name == b.name
        && a.dim == b.dim
        && a.weights_sha256 == b.weights_sha256
        && a.tokenizer_sha256 == b.tokenizer_sha256
}

impl Engine {
    /// Serialize the whole engine state to index-file bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        // The loader validates the configuration; never write a file it would refuse (an
        // engine built with `Engine::new` from an unchecked configuration, e.g. a BM25 `k1`
        // of 1e39 that became +inf in f32 and would be written as JSON `null`).
        self.config.validate()?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            created_by: format!("sotto {}", env!("CARGO_PKG_VERSION")),
            embedder: self.embedder.info().clone(),
            config: self.config.clone(),
            corpus_sha256: corpus_sha256(self.docs.values()),
            documents: self.docs.len(),
            chunks: self.chunks.len(),
            next_chunk_id: self.next_chunk_id,
            calibration: self.calibration.clone(),
            collections: self.collections.clone(),
            partition: self.partition.clone(),
        };
        let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::corrupt("manifest", e))?;
        let docs: Vec<&DocRecord> = self.docs.values().collect();
        let docs = bincode_opts(u64::MAX).serialize(&docs).map_err(|e| Error::corrupt("docs", e))?;
        let chunks: Vec<(ChunkId, &ChunkRecord)> = self.chunks.iter().map(|(k, v)| (*k, v)).collect();
        let chunks = bincode_opts(u64::MAX).serialize(&chunks).map_err(|e| Error::corrupt("chunks", e))?;
        let dense = self.dense.to_bytes();
        let sentences = self.sentences.lock().unwrap_or_else(|p| p.into_inner()).to_bytes();
        let tree = self.tree.as_ref().map(|t| t.to_bytes());
        let summaries = self.tree.as_ref().and_then(SummaryTree::summaries_to_bytes);
        let mut out = Vec::with_capacity(
            128 + manifest.len()
                + docs.len()
                + chunks.len()
                + dense.len()
                + sentences.len()
                + tree.as_ref().map_or(0, Vec::len)
                + summaries.as_ref().map_or(0, Vec::len),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(5u32 + u32::from(tree.is_some()) + u32::from(summaries.is_some())).to_le_bytes());
        write_section(&mut out, "manifest", &manifest);
        write_section(&mut out, "docs", &docs);
        write_section(&mut out, "chunks", &chunks);
        write_section(&mut out, "dense", &dense);
        write_section(&mut out, "sentences", &sentences);
        if let Some(tree) = &tree {
            write_section(&mut out, "tree", tree);
        }
        if let Some(summaries) = &summaries {
            write_section(&mut out, SUMMARIES_SECTION, summaries);
        }
        Ok(out)
    }

    /// Load an engine from index-file bytes, using `embedder` for queries. Refuses a
    /// wrong magic, an unknown version, a checksum failure, inconsistent records, or
    /// an index built with a different embedder — each with a typed error.
    ///
    /// The optional `tree` section (the RAPTOR summary tree) is checked like the rest: a
    /// damaged one is a [`Error::Corrupt`] naming `tree`; [`Engine::from_bytes_without_tree`]
    /// then loads everything else (to rebuild the tree with [`Engine::build_tree`]).
    pub fn from_bytes(bytes: &[u8], embedder: Box<dyn Embedder>) -> Result<Engine> {
        Engine::load(bytes, embedder, true)
    }

    /// [`Engine::from_bytes`] ignoring the `tree` and `tree_summaries` sections, if any:
    /// recovers an index whose summary tree is damaged, with nothing else lost.
    pub fn from_bytes_without_tree(bytes: &[u8], embedder: Box<dyn Embedder>) -> Result<Engine> {
        Engine::load(bytes, embedder, false)
    }

    fn load(bytes: &[u8], embedder: Box<dyn Embedder>, with_tree: bool) -> Result<Engine> {
        let (version, sections) = read_versioned(bytes)?;
        let manifest = parse_manifest(&sections)?;
        if manifest.format_version != version {
            return Err(Error::corrupt(
                "manifest",
                format!("format {} in a version {version} file", manifest.format_version),
            ));
        }
        let loaded = embedder.info();
        if !same_embedder(&manifest.embedder, loaded) {
            let describe =
                |e: &EmbedderInfo| format!("{} (dim {}, weights sha256 {:.12})", e.name, e.dim, e.weights_sha256);
            return Err(Error::EmbedderMismatch { index: describe(&manifest.embedder), loaded: describe(loaded) });
        }
        if let Some(c) = &manifest.calibration {
            c.check(loaded)?;
        }
        if manifest.collections.len() > crate::query::route::MAX_DESCRIBED_COLLECTIONS {
            return Err(Error::corrupt("manifest", format!("{} described collections", manifest.collections.len())));
        }
        for (name, desc) in &manifest.collections {
            crate::query::route::validate_collection(name, desc).map_err(|e| Error::corrupt("manifest", e))?;
        }
        let docs_bytes = section(&sections, "docs")?;
        let docs: Vec<DocRecord> = bincode_opts(docs_bytes.len() as u64 * 4 + 1024)
            .deserialize(docs_bytes)
            .map_err(|e| Error::corrupt("docs", e))?;
        let chunk_bytes = section(&sections, "chunks")?;
        let chunks: Vec<(ChunkId, ChunkRecord)> = bincode_opts(chunk_bytes.len() as u64 * 4 + 1024)
            .deserialize(chunk_bytes)
            .map_err(|e| Error::corrupt("chunks", e))?;
        let dense = DenseIndex::from_bytes(section(&sections, "dense")?)?;
        if dense.dim() != loaded.dim {
            return Err(Error::DimensionMismatch { expected: loaded.dim, got: dense.dim() });
        }

        let config = manifest.config.clone();
        config.validate().map_err(|e| Error::corrupt("manifest", format!("configuration: {e}")))?;
        let n_docs = docs.len();
        let docs: BTreeMap<String, DocRecord> = docs.into_iter().map(|d| (d.id.clone(), d)).collect();
        if docs.len() != n_docs {
            return Err(Error::corrupt("docs", "a document id appears twice"));
        }
        let n_chunks = chunks.len();
        let chunks: BTreeMap<ChunkId, ChunkRecord> = chunks.into_iter().collect();
        if chunks.len() != n_chunks {
            return Err(Error::corrupt("chunks", "a chunk id appears twice"));
        }
        if docs.len() != manifest.documents || chunks.len() != manifest.chunks {
            return Err(Error::corrupt("manifest", "document or chunk count disagrees with the records"));
        }
        if dense.len() != chunks.len() {
            return Err(Error::corrupt("dense", format!("{} vectors for {} chunks", dense.len(), chunks.len())));
        }
        if let Some(id) = chunks.keys().find(|&&id| !dense.contains(id)) {
            return Err(Error::corrupt("dense", format!("chunk {id} has no vector")));
        }
        // Cross-check records, then rebuild BM25 and the duplicate detector from texts.
        let mut sparse = SparseIndex::new(config.bm25.clone());
        let mut dedup = Deduplicator::new(config.dedup.clone());
        let mut owned: HashSet<ChunkId> = HashSet::with_capacity(chunks.len());
        for d in docs.values() {
            for id in &d.chunks {
                if !owned.insert(*id) {
                    return Err(Error::corrupt("docs", format!("chunk {id} is listed twice")));
                }
                let c = chunks
                    .get(id)
                    .ok_or_else(|| Error::corrupt("docs", format!("document {:?} lists unknown chunk {id}", d.id)))?;
                if c.doc_id != d.id || *id >= manifest.next_chunk_id {
                    return Err(Error::corrupt("chunks", format!("chunk {id} does not belong to {:?}", d.id)));
                }
                let text = d.text.get(c.start..c.end).ok_or_else(|| {
                    Error::corrupt("chunks", format!("chunk {id} span {}..{} is outside its text", c.start, c.end))
                })?;
                sparse.add_with_prefix(*id, &sparse_text(d.title.as_deref(), &c.heading_path, ""), text, d.language);
                dedup.insert(*id, &dedup_key(&c.heading_path, text));
            }
        }
        if owned.len() != chunks.len() {
            return Err(Error::corrupt("chunks", "some chunks belong to no document"));
        }
        // Sentence vectors (format v2): each belongs to a chunk and lies inside it.
        let sentences = if version >= 2 {
            let store = SentenceStore::from_bytes(section(&sections, "sentences")?)?;
            if store.dim() != loaded.dim && !store.is_empty() {
                return Err(Error::corrupt(
                    "sentences",
                    format!("dimension {} for an index of {}", store.dim(), loaded.dim),
                ));
            }
            for id in store.ids() {
                let c = chunks.get(&id).ok_or_else(|| Error::corrupt("sentences", format!("unknown chunk {id}")))?;
                let text = docs.get(&c.doc_id).map(|d| d.text.as_str()).unwrap_or_default();
                for v in store.get(id).into_iter().flat_map(|v| v.iter()) {
                    let (s, e) = (v.start as usize, v.end as usize);
                    if s < c.start || e > c.end || text.get(s..e).is_none() {
                        return Err(Error::corrupt(
                            "sentences",
                            format!("chunk {id}: span {s}..{e} is outside the chunk"),
                        ));
                    }
                }
            }
            if store.is_empty() {
                SentenceStore::new(loaded.dim)
            } else {
                store
            }
        } else {
            SentenceStore::new(loaded.dim)
        };
        let mut engine = Engine::new(config, embedder);
        engine.docs = docs;
        engine.chunks = chunks;
        engine.dense = dense;
        engine.sparse = sparse;
        engine.dedup = dedup;
        engine.next_chunk_id = manifest.next_chunk_id;
        engine.calibration = manifest.calibration;
        engine.collections = manifest.collections;
        engine.partition = manifest.partition;
        engine.sentences = std::sync::Mutex::new(sentences);
        // The summary tree (optional within format v2): its shape, then its chunks and spans.
        // An abstractive tree's texts (`tree_summaries`, optional) need the tree.
        if with_tree {
            let summaries = sections.get(SUMMARIES_SECTION);
            match sections.get("tree") {
                Some(bytes) => {
                    let mut tree = SummaryTree::from_bytes(bytes)?;
                    if let Some(s) = summaries {
                        tree = tree.with_summaries(s)?;
                    }
                    engine.check_tree(&tree)?;
                    engine.tree = Some(tree);
                }
                None if summaries.is_some() => {
                    return Err(Error::corrupt(SUMMARIES_SECTION, "summary texts without a tree section"));
                }
                None => {}
            }
        }
        Ok(engine)
    }
}

//! The index file: a versioned, checksummed binary container.
//!
//! An index built yesterday must load today, and a damaged or foreign file must be
//! refused with a precise error rather than half-loaded. Layout of format version 1
//! (all integers little-endian):
//!
//! ```text
//! magic         8 bytes   b"SOTTOIDX"
//! version       u32       FORMAT_VERSION (= 1)
//! sections      u32       number of sections that follow
//! section × n:
//!   name_len    u8
//!   name        name_len bytes, ASCII
//!   len         u64       payload length
//!   crc32       u32       CRC-32 (IEEE) of the payload
//!   payload     len bytes
//! ```
//!
//! Sections of version 1, in this order:
//! - `manifest` — JSON ([`Manifest`]): format version, producer, the embedder's
//!   name, dimension and SHA-256 of its weights and tokenizer, the full engine
//!   configuration (chunking, cleaning, dedup, dense, BM25 parameters), the corpus
//!   hash (SHA-256 over sorted document ids and body hashes) and counts.
//! - `docs` — bincode (varint) of the document records, cleaned text included, so
//!   citations resolve to spans without the original files.
//! - `chunks` — bincode of the chunk records (document id, byte span, heading path).
//! - `dense` — the dense index's own encoding ([`DenseIndex::to_bytes`]), HNSW
//!   graphs included, so a browser never rebuilds them.
//!
//! The BM25 index and the duplicate detector are *not* stored: both are rebuilt from
//! the chunk texts on load in milliseconds, which keeps the format small and leaves
//! one source of truth. Unknown sections are skipped (forward-compatible additions
//! within a version); a newer version number is refused.

use std::collections::BTreeMap;

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::dense::DenseIndex;
use super::sparse::SparseIndex;
use super::ChunkId;
use crate::embed::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::ingest::dedup::Deduplicator;
use crate::rag::{ChunkRecord, DocRecord, Engine, EngineConfig};

/// The 8-byte magic number at the start of every index file.
pub const MAGIC: &[u8; 8] = b"SOTTOIDX";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

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
}

fn bincode_opts(limit: u64) -> impl Options {
    bincode::DefaultOptions::new().with_limit(limit)
}

fn write_section(out: &mut Vec<u8>, name: &str, payload: &[u8]) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// A cursor that turns every out-of-bounds read into a `Corrupt` error.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
                Error::corrupt("header", format!("truncated while reading {what} at byte {}", self.pos))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Split a file into its verified sections after checking magic and version.
fn read_sections(bytes: &[u8]) -> Result<BTreeMap<String, &[u8]>> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::BadMagic);
    }
    let mut r = Reader { bytes, pos: MAGIC.len() };
    let version = r.u32("version")?;
    if version != FORMAT_VERSION {
        return Err(Error::IndexFormat { found: version, supported: FORMAT_VERSION });
    }
    let count = r.u32("section count")?;
    if count > 64 {
        return Err(Error::corrupt("header", format!("implausible section count {count}")));
    }
    let mut sections = BTreeMap::new();
    for _ in 0..count {
        let name_len = r.u8("section name length")? as usize;
        let name = std::str::from_utf8(r.take(name_len, "section name")?)
            .map_err(|_| Error::corrupt("header", "section name is not UTF-8"))?
            .to_owned();
        let len = r.u64("section length")?;
        let crc = r.u32("section checksum")?;
        let len = usize::try_from(len).map_err(|_| Error::corrupt(&name, "section length overflows"))?;
        let payload = r.take(len, &format!("section {name}")).map_err(|_| {
            Error::corrupt(
                &name,
                format!("truncated: {len} bytes announced, {} left", bytes.len().saturating_sub(r.pos)),
            )
        })?;
        if crc32fast::hash(payload) != crc {
            return Err(Error::corrupt(&name, "checksum mismatch"));
        }
        sections.insert(name, payload);
    }
    if r.pos != bytes.len() {
        return Err(Error::corrupt("header", format!("{} trailing bytes after the last section", bytes.len() - r.pos)));
    }
    Ok(sections)
}

fn section<'a>(sections: &BTreeMap<String, &'a [u8]>, name: &str) -> Result<&'a [u8]> {
    sections.get(name).copied().ok_or_else(|| Error::corrupt(name, "section missing"))
}

/// Parse the manifest section and check its format version.
fn parse_manifest(sections: &BTreeMap<String, &[u8]>) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(section(sections, "manifest")?).map_err(|e| Error::corrupt("manifest", e))?;
    if manifest.format_version != FORMAT_VERSION {
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

fn same_embedder(a: &EmbedderInfo, b: &EmbedderInfo) -> bool {
    a.name == b.name
        && a.dim == b.dim
        && a.weights_sha256 == b.weights_sha256
        && a.tokenizer_sha256 == b.tokenizer_sha256
}

impl Engine {
    /// Serialize the whole engine state to index-file bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            created_by: format!("sotto {}", env!("CARGO_PKG_VERSION")),
            embedder: self.embedder.info().clone(),
            config: self.config.clone(),
            corpus_sha256: corpus_sha256(self.docs.values()),
            documents: self.docs.len(),
            chunks: self.chunks.len(),
            next_chunk_id: self.next_chunk_id,
        };
        let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::corrupt("manifest", e))?;
        let docs: Vec<&DocRecord> = self.docs.values().collect();
        let docs = bincode_opts(u64::MAX).serialize(&docs).map_err(|e| Error::corrupt("docs", e))?;
        let chunks: Vec<(ChunkId, &ChunkRecord)> = self.chunks.iter().map(|(k, v)| (*k, v)).collect();
        let chunks = bincode_opts(u64::MAX).serialize(&chunks).map_err(|e| Error::corrupt("chunks", e))?;
        let dense = self.dense.to_bytes();
        let mut out = Vec::with_capacity(64 + manifest.len() + docs.len() + chunks.len() + dense.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&4u32.to_le_bytes());
        write_section(&mut out, "manifest", &manifest);
        write_section(&mut out, "docs", &docs);
        write_section(&mut out, "chunks", &chunks);
        write_section(&mut out, "dense", &dense);
        Ok(out)
    }

    /// Load an engine from index-file bytes, using `embedder` for queries. Refuses a
    /// wrong magic, an unknown version, a checksum failure, inconsistent records, or
    /// an index built with a different embedder — each with a typed error.
    pub fn from_bytes(bytes: &[u8], embedder: Box<dyn Embedder>) -> Result<Engine> {
        let sections = read_sections(bytes)?;
        let manifest = parse_manifest(&sections)?;
        let loaded = embedder.info();
        if !same_embedder(&manifest.embedder, loaded) {
            let describe =
                |e: &EmbedderInfo| format!("{} (dim {}, weights sha256 {:.12})", e.name, e.dim, e.weights_sha256);
            return Err(Error::EmbedderMismatch { index: describe(&manifest.embedder), loaded: describe(loaded) });
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
        let docs: BTreeMap<String, DocRecord> = docs.into_iter().map(|d| (d.id.clone(), d)).collect();
        let chunks: BTreeMap<ChunkId, ChunkRecord> = chunks.into_iter().collect();
        if docs.len() != manifest.documents || chunks.len() != manifest.chunks {
            return Err(Error::corrupt("manifest", "document or chunk count disagrees with the records"));
        }
        if dense.len() != chunks.len() {
            return Err(Error::corrupt("dense", format!("{} vectors for {} chunks", dense.len(), chunks.len())));
        }
        // Cross-check records, then rebuild BM25 and the duplicate detector from texts.
        let mut sparse = SparseIndex::new(config.bm25.clone());
        let mut dedup = Deduplicator::new(config.dedup.clone());
        let mut owned = 0usize;
        for d in docs.values() {
            for id in &d.chunks {
                let c = chunks
                    .get(id)
                    .ok_or_else(|| Error::corrupt("docs", format!("document {:?} lists unknown chunk {id}", d.id)))?;
                if c.doc_id != d.id || *id >= manifest.next_chunk_id {
                    return Err(Error::corrupt("chunks", format!("chunk {id} does not belong to {:?}", d.id)));
                }
                let text = d.text.get(c.start..c.end).ok_or_else(|| {
                    Error::corrupt("chunks", format!("chunk {id} span {}..{} is outside its text", c.start, c.end))
                })?;
                sparse.add(*id, &crate::rag::sparse_text(d.title.as_deref(), &c.heading_path, text), d.language);
                dedup.insert(*id, &crate::rag::dedup_key(&c.heading_path, text));
                owned += 1;
            }
        }
        if owned != chunks.len() {
            return Err(Error::corrupt("chunks", "some chunks belong to no document"));
        }
        let mut engine = Engine::new(config, embedder);
        engine.docs = docs;
        engine.chunks = chunks;
        engine.dense = dense;
        engine.sparse = sparse;
        engine.dedup = dedup;
        engine.next_chunk_id = manifest.next_chunk_id;
        Ok(engine)
    }
}

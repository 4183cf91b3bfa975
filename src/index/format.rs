//! The index file's container: magic, version and checksummed sections.
//!
//! This module knows bytes, not engines: what the sections hold and how an engine is
//! rebuilt from them belongs to the engine's persistence module (`rag::persist`), above
//! the index stage.
//!
//! An index built yesterday must load today, and a damaged or foreign file must be
//! refused with a precise error rather than half-loaded. Layout of format versions 1
//! and 2 (all integers little-endian):
//!
//! ```text
//! magic         8 bytes   b"SOTTOIDX"
//! version       u32       1 or FORMAT_VERSION (= 2)
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
//! - `manifest` — JSON (the engine's `Manifest`): format version, producer, the embedder's
//!   name, dimension and SHA-256 of its weights and tokenizer, the full engine
//!   configuration (chunking, cleaning, dedup, dense, BM25 parameters), the corpus
//!   hash (SHA-256 over sorted document ids and body hashes) and counts.
//! - `docs` — bincode (varint) of the document records, cleaned text included, so
//!   citations resolve to spans without the original files.
//! - `chunks` — bincode of the chunk records (document id, byte span, heading path).
//! - `dense` — the dense index's own encoding ([`super::dense::DenseIndex::to_bytes`]), HNSW
//!   graphs included, so a browser never rebuilds them.
//!
//!
//! Version 2 adds one section after `dense`:
//! - `sentences` — the int8 sentence vectors of the chunks with their byte spans
//!   ([`super::sentences::SentenceStore::to_bytes`]), used to select answer sentences and
//!   to rerank by MaxSim without embedding at query time. A chunk without an entry (an
//!   index upgraded in part) has its sentences embedded when first needed. Version 1
//!   files have no such section and still load: every chunk is embedded when first needed
//!   (or all at once by `sotto upgrade`).
//!
//! Optional within version 2, after `sentences`:
//! - `tree` — the RAPTOR summary tree ([`super::tree::SummaryTree::to_bytes`]): nodes by
//!   level, each with its children, its extractive summary as sentence spans of chunks and
//!   its int8 vector. Absent: the index has no tree and loads as before.
//! - `tree_summaries` (after `tree`) — an abstractive tree's texts
//!   ([`super::tree::SummaryTree::summaries_to_bytes`]): the generator, the token bound and
//!   one optional text per node. Absent: the tree is extractive.
//!
//! The BM25 index and the duplicate detector are *not* stored: both are rebuilt from
//! the chunk texts on load in milliseconds, which keeps the format small and leaves
//! one source of truth. Unknown sections are skipped (forward-compatible additions
//! within a version); a newer version number is refused.

use std::collections::BTreeMap;

use bincode::Options;

use crate::error::{Error, Result};

/// The 8-byte magic number at the start of every index file.
pub const MAGIC: &[u8; 8] = b"SOTTOIDX";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Most sections a file may announce.
pub const MAX_SECTIONS: u32 = 64;

/// Bincode (varint) with a size limit on what it may allocate.
pub fn bincode_opts(limit: u64) -> impl Options {
    bincode::DefaultOptions::new().with_limit(limit)
}

/// Append one section (name, length, CRC-32, payload).
pub fn write_section(out: &mut Vec<u8>, name: &str, payload: &[u8]) {
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
/// Section names are unique: a repeated name is corruption.
pub fn read_sections(bytes: &[u8]) -> Result<BTreeMap<String, &[u8]>> {
    read_versioned(bytes).map(|(_, s)| s)
}

/// [`read_sections`], with the file's format version.
pub fn read_versioned(bytes: &[u8]) -> Result<(u32, BTreeMap<String, &[u8]>)> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::BadMagic);
    }
    let mut r = Reader { bytes, pos: MAGIC.len() };
    let version = r.u32("version")?;
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::IndexFormat { found: version, supported: FORMAT_VERSION });
    }
    let count = r.u32("section count")?;
    if count > MAX_SECTIONS {
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
        if sections.insert(name.clone(), payload).is_some() {
            return Err(Error::corrupt(&name, "section appears twice"));
        }
    }
    if r.pos != bytes.len() {
        return Err(Error::corrupt("header", format!("{} trailing bytes after the last section", bytes.len() - r.pos)));
    }
    Ok((version, sections))
}

/// A required section, or a `Corrupt` error naming it.
pub fn section<'a>(sections: &BTreeMap<String, &'a [u8]>, name: &str) -> Result<&'a [u8]> {
    sections.get(name).copied().ok_or_else(|| Error::corrupt(name, "section missing"))
}

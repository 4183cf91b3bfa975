//! The sharded index's codec: checksummed, content-addressed shard blobs and what they hold.
//!
//! A single-file index must be downloaded whole before the first query. A static host can
//! do better by serving the index *in pieces* that a query fetches on demand, as Pagefind
//! does for lexical search: postings are partitioned by term behind a small term
//! dictionary, so a query fetches the dictionary pieces of its terms and then the postings
//! of those terms only. Sotto applies the same idea to the dense side with an inverted
//! file (IVF: Sivic & Zisserman 2003, "Video Google"; Jégou, Douze & Schmid 2011, "Product
//! quantization for nearest neighbor search"): the stored chunk vectors are clustered by
//! seeded spherical k-means, the centroids travel in the manifest, and a query scans only
//! the vectors of its `nprobe` nearest clusters. Vectors are int8 with one scale per
//! vector (as [`super::sentences`] stores sentence vectors: a quarter of f32, a dot-product
//! error of at most `scale / 2 · ‖query‖₁`).
//!
//! This module knows bytes and the shapes of shards, not engines: the manifest (which
//! names an engine configuration and an embedder), the writer and the query-time reader
//! are `rag::shards`.
//!
//! **Shard layout** (all integers little-endian):
//!
//! ```text
//! magic     8 bytes  b"SOTTOSHD"
//! version   u32      SHARD_FORMAT_VERSION (= 1)
//! kind      u8       1 dict, 2 postings, 3 vectors, 4 chunks, 5 sentences
//! len       u64      payload length
//! crc32     u32      CRC-32 (IEEE) of the payload
//! payload   len bytes, bincode (varint) of the kind's struct below
//! ```
//!
//! A shard's file name is `<kind>-<first 32 hex digits of the SHA-256 of its bytes>.bin`,
//! and the manifest's shard table holds the full SHA-256: a name is never reused for other
//! bytes, so a CDN may cache shards forever and an update re-uploads only the shards whose
//! content changed. The CRC catches a damaged blob on its own; the SHA-256 catches a blob
//! served under the wrong name.

use std::collections::BTreeMap;

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::format::bincode_opts;
use super::sentences::SentenceVector;
use super::ChunkId;
use crate::error::{Error, Result};
use crate::text::Language;

/// The 8-byte magic number at the start of every shard.
pub const SHARD_MAGIC: &[u8; 8] = b"SOTTOSHD";
/// The shard (and sharded manifest) format version this build writes and reads.
pub const SHARD_FORMAT_VERSION: u32 = 1;
/// Header bytes before a shard's payload.
pub const SHARD_HEADER_BYTES: usize = 8 + 4 + 1 + 8 + 4;
/// Hex digits of the SHA-256 in a shard's file name.
pub const NAME_HASH_HEX: usize = 32;

/// What a shard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardKind {
    /// Term dictionary bucket: term → (document frequency, postings shard).
    Dict,
    /// BM25 postings of a run of terms (sorted), `(chunk, tf, chunk length)` each.
    Postings,
    /// The int8 vectors of one IVF cluster.
    Vectors,
    /// Chunk texts and metadata of a range of chunk ids.
    Chunks,
    /// Sentence vectors of a range of chunk ids.
    Sentences,
}

impl ShardKind {
    /// The code in the shard header.
    pub fn code(self) -> u8 {
        match self {
            ShardKind::Dict => 1,
            ShardKind::Postings => 2,
            ShardKind::Vectors => 3,
            ShardKind::Chunks => 4,
            ShardKind::Sentences => 5,
        }
    }

    /// The prefix of the kind's file names.
    pub fn prefix(self) -> &'static str {
        match self {
            ShardKind::Dict => "dict",
            ShardKind::Postings => "post",
            ShardKind::Vectors => "vec",
            ShardKind::Chunks => "chunk",
            ShardKind::Sentences => "sent",
        }
    }
}

/// The file name of a shard of `kind` whose bytes hash to `sha256_hex`.
pub fn shard_name(kind: ShardKind, sha256_hex: &str) -> String {
    format!("{}-{}.bin", kind.prefix(), sha256_hex.get(..NAME_HASH_HEX).unwrap_or(sha256_hex))
}

/// Wrap `payload` in a shard header of `kind`.
pub fn encode_shard(kind: ShardKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SHARD_HEADER_BYTES + payload.len());
    out.extend_from_slice(SHARD_MAGIC);
    out.extend_from_slice(&SHARD_FORMAT_VERSION.to_le_bytes());
    out.push(kind.code());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of shard `name` after checking its magic, version, kind, length and CRC.
/// Damage is [`Error::Corrupt`] naming the shard; a newer version is [`Error::IndexFormat`].
pub fn decode_shard<'a>(bytes: &'a [u8], kind: ShardKind, name: &str) -> Result<&'a [u8]> {
    let bad = |detail: String| Error::corrupt(format!("shard {name}"), detail);
    if bytes.len() < SHARD_HEADER_BYTES {
        return Err(bad(format!("truncated: {} bytes, less than a header", bytes.len())));
    }
    if &bytes[..8] != SHARD_MAGIC {
        return Err(bad("bad magic (not a Sotto shard)".into()));
    }
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let version = u32_at(8);
    if version != SHARD_FORMAT_VERSION {
        return Err(Error::IndexFormat { found: version, supported: SHARD_FORMAT_VERSION });
    }
    if bytes[12] != kind.code() {
        return Err(bad(format!("kind {} where {} ({:?}) was expected", bytes[12], kind.code(), kind)));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[13..21]);
    let len = u64::from_le_bytes(len);
    let payload = &bytes[SHARD_HEADER_BYTES..];
    if payload.len() as u64 != len {
        return Err(bad(format!("{len} payload bytes announced, {} present", payload.len())));
    }
    if crc32fast::hash(payload) != u32_at(21) {
        return Err(bad("checksum mismatch".into()));
    }
    Ok(payload)
}

/// Serialize a payload struct with the index's bincode options.
pub fn to_payload<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    bincode_opts(u64::MAX).serialize(value).map_err(|e| Error::corrupt(what, e))
}

/// Decode a payload struct; a length prefix cannot make the decoder read past the payload.
pub fn from_payload<T: serde::de::DeserializeOwned>(payload: &[u8], name: &str) -> Result<T> {
    bincode_opts(payload.len() as u64 * 8 + 1024)
        .deserialize(payload)
        .map_err(|e| Error::corrupt(format!("shard {name}"), e))
}

/// Where the bytes of shards come from: a directory natively, HTTP in a browser (later).
///
/// The reader asks for *all* the shards one step of a query needs before it scores
/// anything (`fetch_many`), so an asynchronous source can fetch them in parallel.
pub trait ShardSource: Send + Sync {
    /// The bytes of shard `name`, or [`Error::ShardUnavailable`] when it cannot be had.
    fn fetch(&self, name: &str) -> Result<Vec<u8>>;

    /// The bytes of several shards, in order (default: one after the other).
    fn fetch_many(&self, names: &[&str]) -> Vec<Result<Vec<u8>>> {
        names.iter().map(|n| self.fetch(n)).collect()
    }
}

/// One term's entry in a dictionary bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DictEntry {
    /// The analyzed term.
    pub term: String,
    /// Chunks containing it (`n(t)` of BM25).
    pub df: u32,
    /// Index in the manifest's shard table of the postings shard holding it.
    pub postings: u32,
}

/// A dictionary bucket: the terms whose [`term_bucket`] is this bucket, sorted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DictShard {
    /// Bucket number.
    pub bucket: u32,
    /// Entries, sorted by term.
    pub entries: Vec<DictEntry>,
}

/// One term's postings, chunk ids ascending and delta-coded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermPostings {
    /// The analyzed term.
    pub term: String,
    /// Gaps between ascending chunk ids (the first is the id itself).
    pub id_gaps: Vec<u32>,
    /// Term frequency in each chunk.
    pub tf: Vec<u32>,
    /// Each chunk's length in analyzed terms (BM25's `|D|`).
    pub len: Vec<u32>,
}

impl TermPostings {
    /// Encode `(chunk, tf, len)` triples (any order).
    pub fn new(term: String, mut list: Vec<(ChunkId, u32, u32)>) -> Self {
        list.sort_unstable_by_key(|p| p.0);
        let mut prev = 0;
        let id_gaps = list
            .iter()
            .map(|p| {
                let g = p.0 - prev;
                prev = p.0;
                g
            })
            .collect();
        TermPostings { term, id_gaps, tf: list.iter().map(|p| p.1).collect(), len: list.iter().map(|p| p.2).collect() }
    }

    /// The `(chunk, tf, len)` triples, or `None` if the lists disagree or ids overflow.
    pub fn decode(&self) -> Option<Vec<(ChunkId, u32, u32)>> {
        if self.tf.len() != self.id_gaps.len() || self.len.len() != self.id_gaps.len() {
            return None;
        }
        let mut id: ChunkId = 0;
        let mut out = Vec::with_capacity(self.id_gaps.len());
        for (i, g) in self.id_gaps.iter().enumerate() {
            if i > 0 && *g == 0 {
                return None;
            }
            id = id.checked_add(*g)?;
            out.push((id, self.tf[i], self.len[i]));
        }
        Some(out)
    }
}

/// A postings shard: a run of terms in sorted order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostingsShard {
    /// Terms and their postings, sorted by term.
    pub terms: Vec<TermPostings>,
}

/// The vectors of one IVF cluster, int8 with one scale per vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorShard {
    /// Cluster number.
    pub cluster: u32,
    /// Dimension.
    pub dim: u32,
    /// Chunk ids, ascending.
    pub ids: Vec<ChunkId>,
    /// Scale of each vector (`max|xᵢ| / 127`).
    pub scales: Vec<f32>,
    /// `ids.len() × dim` codes, row by row.
    pub codes: Vec<i8>,
}

impl VectorShard {
    /// Check the shape: one scale (finite, ≥ 0) and `dim` codes per id, ids ascending.
    pub fn check(&self, dim: usize, name: &str) -> Result<()> {
        let bad = |d: String| Error::corrupt(format!("shard {name}"), d);
        if self.dim as usize != dim {
            return Err(bad(format!("dimension {} for an index of {dim}", self.dim)));
        }
        if self.scales.len() != self.ids.len() || Some(self.codes.len()) != self.ids.len().checked_mul(dim) {
            return Err(bad(format!(
                "{} ids, {} scales, {} codes of dimension {dim}",
                self.ids.len(),
                self.scales.len(),
                self.codes.len()
            )));
        }
        if self.scales.iter().any(|s| !s.is_finite() || *s < 0.0) {
            return Err(bad("a scale is not a finite number ≥ 0".into()));
        }
        if self.ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("ids are not ascending".into()));
        }
        Ok(())
    }

    /// `(chunk, scale · Σ qᵢ yᵢ)` for every vector: the int8 dot product with `query`.
    pub fn scores<'a>(&'a self, query: &'a [f32]) -> impl Iterator<Item = (ChunkId, f32)> + 'a {
        let dim = self.dim as usize;
        self.ids.iter().enumerate().map(move |(i, &id)| {
            let row = &self.codes[i * dim..(i + 1) * dim];
            let mut acc = 0.0f32;
            for (q, y) in row.iter().zip(query) {
                acc += *q as f32 * y;
            }
            (id, acc * self.scales[i])
        })
    }
}

/// A document as a chunk shard carries it (no text: chunks carry their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardDoc {
    /// Document id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// Language (the `lang` filter's fallback).
    pub language: Language,
    /// Metadata as given.
    pub metadata: BTreeMap<String, String>,
}

/// A chunk as a chunk shard carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardChunk {
    /// Chunk id.
    pub id: ChunkId,
    /// Index of its document in the shard's `docs`.
    pub doc: u32,
    /// Byte start in the document's cleaned text (citations).
    pub start: u64,
    /// Byte end.
    pub end: u64,
    /// Headings enclosing the chunk.
    pub heading_path: Vec<String>,
    /// The chunk's text (`end − start` bytes of the cleaned text).
    pub text: String,
}

/// The chunks of a range of ids with the documents they belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkShard {
    /// Documents referenced by the chunks.
    pub docs: Vec<ShardDoc>,
    /// Chunks, ids ascending.
    pub chunks: Vec<ShardChunk>,
}

impl ChunkShard {
    /// Check ids (ascending, inside `first..=last`), document references and spans.
    pub fn check(&self, first: ChunkId, last: ChunkId, name: &str) -> Result<()> {
        let bad = |d: String| Error::corrupt(format!("shard {name}"), d);
        if self.chunks.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(bad("chunk ids are not ascending".into()));
        }
        for c in &self.chunks {
            if c.id < first || c.id > last {
                return Err(bad(format!("chunk {} outside the shard's range {first}..={last}", c.id)));
            }
            if c.doc as usize >= self.docs.len() {
                return Err(bad(format!("chunk {} names document {} of {}", c.id, c.doc, self.docs.len())));
            }
            if c.end < c.start || c.end - c.start != c.text.len() as u64 {
                return Err(bad(format!("chunk {}: span {}..{} for {} bytes", c.id, c.start, c.end, c.text.len())));
            }
        }
        Ok(())
    }
}

/// The sentence vectors of a range of chunk ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceShard {
    /// Dimension.
    pub dim: u32,
    /// Per chunk, its sentence vectors (spans in its document's cleaned text).
    pub chunks: Vec<(ChunkId, Vec<SentenceVector>)>,
}

/// Whether `name` is a plain file name (not empty, not hidden, no path separator): the only
/// names a source looks up, since they come from a manifest.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

/// FNV-1a (64 bit) of a term: a stable hash, the same on every target and every build.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The dictionary bucket of `term` among `buckets` (> 0).
pub fn term_bucket(term: &str, buckets: usize) -> usize {
    (fnv1a(term.as_bytes()) % buckets.max(1) as u64) as usize
}

/// Lower-case hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Bytes of a hex string (`None` if it is not hex of even length).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_round_trip_and_refuse_damage() {
        let p =
            PostingsShard { terms: vec![TermPostings::new("cargo".into(), vec![(9, 1, 30), (2, 3, 12), (40, 1, 7)])] };
        let bytes = encode_shard(ShardKind::Postings, &to_payload(&p, "postings").unwrap());
        let back: PostingsShard = from_payload(decode_shard(&bytes, ShardKind::Postings, "p").unwrap(), "p").unwrap();
        assert_eq!(back, p);
        assert_eq!(back.terms[0].decode().unwrap(), vec![(2, 3, 12), (9, 1, 30), (40, 1, 7)]);
        assert_eq!(back.terms[0].id_gaps, [2, 7, 31]);
        // Wrong kind, flipped byte, truncation, garbage, future version.
        assert_eq!(decode_shard(&bytes, ShardKind::Dict, "p").unwrap_err().kind(), "Corrupt");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode_shard(&flipped, ShardKind::Postings, "p").unwrap_err().to_string().contains("checksum"));
        for n in [0, 5, SHARD_HEADER_BYTES, bytes.len() - 1] {
            assert_eq!(decode_shard(&bytes[..n], ShardKind::Postings, "p").unwrap_err().kind(), "Corrupt", "{n}");
        }
        assert_eq!(
            decode_shard(b"<html>404</html> not found here", ShardKind::Postings, "p").unwrap_err().kind(),
            "Corrupt"
        );
        let mut future = bytes.clone();
        future[8] = 2;
        assert_eq!(decode_shard(&future, ShardKind::Postings, "p").unwrap_err().kind(), "IndexFormat");
        // Undecodable payload with a valid header.
        let junk = encode_shard(ShardKind::Postings, &[0xff; 7]);
        assert_eq!(
            from_payload::<PostingsShard>(decode_shard(&junk, ShardKind::Postings, "p").unwrap(), "p")
                .unwrap_err()
                .kind(),
            "Corrupt"
        );
    }

    #[test]
    fn postings_with_repeated_ids_or_ragged_lists_do_not_decode() {
        let mut t = TermPostings::new("x".into(), vec![(1, 1, 1), (2, 1, 1)]);
        t.id_gaps[1] = 0;
        assert!(t.decode().is_none());
        let mut t = TermPostings::new("x".into(), vec![(1, 1, 1)]);
        t.tf.push(3);
        assert!(t.decode().is_none());
        let t = TermPostings { term: "x".into(), id_gaps: vec![u32::MAX, 1], tf: vec![1, 1], len: vec![1, 1] };
        assert!(t.decode().is_none(), "id overflow");
    }

    #[test]
    fn names_hex_and_buckets_are_stable() {
        assert_eq!(shard_name(ShardKind::Vectors, &"ab".repeat(32)), format!("vec-{}.bin", "ab".repeat(16)));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(to_hex(&[0, 0x7f, 0x80, 0xff]), "007f80ff");
        assert_eq!(from_hex("007F80ff").unwrap(), [0, 0x7f, 0x80, 0xff]);
        assert!(from_hex("0g").is_none() && from_hex("abc").is_none());
        assert!((0..100).all(|i| term_bucket(&format!("t{i}"), 7) < 7));
    }

    #[test]
    fn vector_shards_check_their_shape_and_score_like_the_dequantized_dot() {
        let v = VectorShard { cluster: 0, dim: 2, ids: vec![3, 5], scales: vec![0.5, 1.0], codes: vec![2, -2, 1, 1] };
        v.check(2, "v").unwrap();
        let s: Vec<_> = v.scores(&[1.0, 0.5]).collect();
        assert_eq!(s, [(3, 0.5), (5, 1.5)]);
        assert_eq!(v.check(3, "v").unwrap_err().kind(), "Corrupt");
        let ragged = VectorShard { codes: vec![1, 2, 3], ..v.clone() };
        assert_eq!(ragged.check(2, "v").unwrap_err().kind(), "Corrupt");
        let unsorted = VectorShard { ids: vec![5, 3], ..v.clone() };
        assert_eq!(unsorted.check(2, "v").unwrap_err().kind(), "Corrupt");
        let nan = VectorShard { scales: vec![f32::NAN, 1.0], ..v };
        assert_eq!(nan.check(2, "v").unwrap_err().kind(), "Corrupt");
    }
}

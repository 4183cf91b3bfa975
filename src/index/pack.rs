//! One packed file for a sharded index: the shards concatenated, each found by its offset.
//!
//! Some static hosts prefer a few large files to thousands of small ones (upload limits,
//! file-count quotas, a CDN that bills per object). For them `sotto index --shards OUT
//! --pack` also writes `pack-<hash>.bin`, the shards back to back in table order, and the
//! manifest's optional `pack` field records its name, size, SHA-256 and each shard's
//! offset. A reader then asks for a shard as `Range: bytes=off-(off+len-1)` of the pack
//! (RFC 9110 §14); the bytes are the shard's, checked by its own SHA-256 exactly as a
//! shard file is. The shard files stay next to the pack, so a host that ignores Range
//! still serves the index: a reader that gets the whole pack back (a 200) stops reading it
//! at once and falls back to the shard files.
//!
//! The pack is content-addressed like a shard (`pack-<first 32 hex digits of its
//! SHA-256>.bin`), so a CDN may cache it forever too; an update writes a new pack (every
//! offset may move), which is the cost of the one-file layout.

use serde::{Deserialize, Serialize};

use super::shards::NAME_HASH_HEX;
use crate::embed::sha256_hex;
use crate::error::{Error, Result};

/// Prefix of a pack's file name.
pub const PACK_PREFIX: &str = "pack";

/// The `pack` field of a sharded manifest: where each shard of the table lies in the pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPack {
    /// File name: `pack-<32 hex digits of the SHA-256>.bin`, next to the manifest.
    pub name: String,
    /// The pack's size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the whole pack.
    pub sha256: String,
    /// Byte offset of each shard of the table, in table order (its length is the table's `bytes`).
    pub offsets: Vec<u64>,
}

/// The file name of a pack whose bytes hash to `sha256_hex`.
pub fn pack_name(sha256_hex: &str) -> String {
    format!("{PACK_PREFIX}-{}.bin", sha256_hex.get(..NAME_HASH_HEX).unwrap_or(sha256_hex))
}

impl ShardPack {
    /// Concatenate `shards` (in table order) into a pack; returns its description and bytes.
    pub fn build<B: AsRef<[u8]>>(shards: &[B]) -> (ShardPack, Vec<u8>) {
        let mut bytes = Vec::with_capacity(shards.iter().map(|s| s.as_ref().len()).sum());
        let mut offsets = Vec::with_capacity(shards.len());
        for s in shards {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(s.as_ref());
        }
        let sha256 = sha256_hex(&bytes);
        (ShardPack { name: pack_name(&sha256), bytes: bytes.len() as u64, sha256, offsets }, bytes)
    }

    /// Check the description against the shard table's sizes (`sizes[i]` is row `i`'s
    /// `bytes`): the name carries the hash, one offset per row, every shard inside the pack,
    /// no two overlapping. Anything else is [`Error::Corrupt`] naming `manifest`.
    pub fn check(&self, sizes: &[u64]) -> Result<()> {
        let bad = |d: String| Err(Error::corrupt("manifest", format!("pack: {d}")));
        let hex_ok =
            self.sha256.len() == 64 && self.sha256.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        if !hex_ok || self.name != pack_name(&self.sha256) {
            return bad(format!("{:?} does not carry its hash {:?}", self.name, self.sha256));
        }
        if self.offsets.len() != sizes.len() {
            return bad(format!("{} offsets for {} shards", self.offsets.len(), sizes.len()));
        }
        let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(sizes.len());
        for (i, (&off, &len)) in self.offsets.iter().zip(sizes).enumerate() {
            match off.checked_add(len) {
                Some(end) if end <= self.bytes => spans.push((off, end, i)),
                _ => return bad(format!("shard {i} ({len} bytes at {off}) ends past the pack's {} bytes", self.bytes)),
            }
        }
        spans.sort_unstable();
        if let Some(w) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
            return bad(format!("shards {} and {} overlap at byte {}", w[0].2, w[1].2, w[1].0));
        }
        Ok(())
    }

    /// The byte range `start..end` of table row `i` of `len` bytes (`None`: no such row).
    pub fn range(&self, i: usize, len: u64) -> Option<(u64, u64)> {
        let off = *self.offsets.get(i)?;
        Some((off, off.checked_add(len)?))
    }
}

/// The `Content-Range` a server must send for `start..end` of a pack of `total` bytes
/// (`bytes start-last/total`; RFC 9110 §14.4).
pub fn content_range(start: u64, end: u64, total: u64) -> String {
    format!("bytes {start}-{}/{total}", end.saturating_sub(1))
}

/// Whether a `Content-Range` header value says exactly `start..end` of a pack of `total`
/// bytes (a server may answer `*` for an unknown total; any other difference is a wrong range).
pub fn content_range_matches(value: &str, start: u64, end: u64, total: u64) -> bool {
    let Some(rest) = value.trim().strip_prefix("bytes ") else { return false };
    let Some((range, size)) = rest.split_once('/') else { return false };
    let Some((a, b)) = range.split_once('-') else { return false };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let size_ok = size.trim() == "*" || parse(size) == Some(total);
    end > start && parse(a) == Some(start) && parse(b) == Some(end - 1) && size_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_is_the_shards_back_to_back_at_their_offsets() {
        let shards: Vec<Vec<u8>> = vec![b"first".to_vec(), b"second shard".to_vec(), vec![7u8; 3]];
        let (p, bytes) = ShardPack::build(&shards);
        assert_eq!(p.offsets, vec![0, 5, 17]);
        assert_eq!(p.bytes, 20);
        assert_eq!(bytes.len(), 20);
        for (i, s) in shards.iter().enumerate() {
            let (a, b) = p.range(i, s.len() as u64).unwrap();
            assert_eq!(&bytes[a as usize..b as usize], s.as_slice(), "shard {i}");
        }
        assert_eq!(p.name, pack_name(&sha256_hex(&bytes)));
        assert!(p.name.starts_with("pack-") && p.name.ends_with(".bin") && p.name.len() == 5 + 32 + 4);
        let sizes: Vec<u64> = shards.iter().map(|s| s.len() as u64).collect();
        p.check(&sizes).unwrap();
        // Deterministic: the same shards make the same pack.
        assert_eq!(ShardPack::build(&shards), (p, bytes));
    }

    #[test]
    fn bad_offsets_are_refused_as_a_corrupt_manifest() {
        let (p, _) = ShardPack::build(&[vec![1u8; 10], vec![2u8; 10], vec![3u8; 10]]);
        let sizes = [10, 10, 10];
        let refused = |p: &ShardPack, what: &str| {
            let e = p.check(&sizes).unwrap_err();
            assert!(
                matches!(&e, Error::Corrupt { section, detail } if section == "manifest" && detail.contains(what)),
                "{e:?}"
            );
        };
        let mut overlap = p.clone();
        overlap.offsets[1] = 5;
        refused(&overlap, "overlap");
        let mut past = p.clone();
        past.offsets[2] = 25;
        refused(&past, "past the pack");
        let mut wrapping = p.clone();
        wrapping.offsets[0] = u64::MAX - 3;
        refused(&wrapping, "past the pack");
        let mut short = p.clone();
        short.bytes = 29;
        refused(&short, "past the pack");
        let mut missing = p.clone();
        missing.offsets.pop();
        refused(&missing, "2 offsets for 3 shards");
        let mut renamed = p.clone();
        renamed.name = "pack-0000.bin".into();
        refused(&renamed, "does not carry its hash");
        let mut escaped = p.clone();
        escaped.name = "../pack.bin".into();
        refused(&escaped, "does not carry its hash");
        // Gaps and another order are fine: only overlaps and overruns are refused.
        let mut gaps = p.clone();
        gaps.offsets = vec![20, 0, 10];
        gaps.check(&sizes).unwrap();
        gaps.offsets = vec![0, 12, 25];
        gaps.bytes = 35;
        gaps.check(&sizes).unwrap();
    }

    #[test]
    fn content_ranges_must_say_exactly_the_bytes_asked_for() {
        assert_eq!(content_range(10, 20, 100), "bytes 10-19/100");
        assert!(content_range_matches("bytes 10-19/100", 10, 20, 100));
        assert!(content_range_matches(" bytes 10-19/* ", 10, 20, 100));
        for wrong in
            ["bytes 10-20/100", "bytes 0-19/100", "bytes 10-19/99", "10-19/100", "bytes 10-19", "bytes */100", ""]
        {
            assert!(!content_range_matches(wrong, 10, 20, 100), "{wrong}");
        }
    }
}

//! Exact (hash of normalised text) and near (MinHash over word shingles) duplicate detection.
//!
//! # Design
//!
//! - **Exact**: the text is normalised (Unicode lower-case, whitespace runs collapsed to
//!   one space, trimmed) and hashed to 128 bits; equal hashes are duplicates (a false
//!   match would need a 128-bit collision).
//! - **Near**: Broder's MinHash (*On the resemblance and containment of documents*,
//!   1997) estimates the Jaccard similarity of two texts' sets of `shingle_words`-word
//!   shingles (w-shingling, Broder et al. 1997) as the fraction of equal components of
//!   two [`NUM_PERM`]-component signatures. Candidates are found with LSH banding
//!   (Indyk & Motwani 1998; Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*,
//!   ch. 3): the signature is cut into `b` bands of `r` rows, and two texts sharing any
//!   band are compared. `r` is chosen from the threshold `t` so that the S-curve's
//!   midpoint `(1/b)^(1/r)` lies at least 0.1 below `t` (for the default 0.85: 16 bands
//!   of 8 rows, which finds a pair at Jaccard 0.85 with probability 0.994). Every
//!   candidate is then verified: it is a near duplicate only if its estimated Jaccard
//!   similarity is at least `near_threshold`.
//! - **Deterministic**: hashes are FNV-1a followed by the SplitMix64 finaliser, with
//!   fixed per-permutation seeds, so the same texts give the same decisions on every
//!   platform and run (no `RandomState`, nothing from the OS), native and wasm alike.
//! - Texts shorter than one shingle are represented by a single shingle of all their
//!   words; texts without words are only checked for exact duplicates.
//! - Signatures are stored as 32-bit values (512 bytes per chunk): a chance collision of
//!   one component (2⁻³²) does not move the estimate.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use unicode_segmentation::UnicodeSegmentation;

/// Number of MinHash permutations (signature length).
pub const NUM_PERM: usize = 128;

/// Outcome of a duplicate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupKind {
    /// Not seen before.
    Unique,
    /// Same normalised text as chunk `of`.
    Exact {
        /// Id of the chunk it duplicates.
        of: u32,
    },
    /// Estimated Jaccard similarity with chunk `of` at or above the threshold.
    Near {
        /// Id of the chunk it duplicates.
        of: u32,
    },
}

/// Near-duplicate parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DedupConfig {
    /// Drop exact duplicates (default true).
    pub exact: bool,
    /// Drop near duplicates (default true).
    pub near: bool,
    /// Estimated Jaccard similarity of word shingles at or above which a chunk is a near duplicate (default 0.85).
    pub near_threshold: f32,
    /// Words per shingle (default 5).
    pub shingle_words: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig { exact: true, near: true, near_threshold: 0.85, shingle_words: 5 }
    }
}

/// Deterministic hasher for the maps (ids and keys that already are 64-bit hashes),
/// finished with a mixer so hashbrown's control bits are well spread.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<PassThrough>>;
type Set<K> = HashSet<K, BuildHasherDefault<PassThrough>>;

/// What is remembered of a kept chunk.
#[derive(Debug, Clone)]
struct Entry {
    exact: u128,
    signature: Option<Box<[u32; NUM_PERM]>>,
}

/// A text normalised, hashed and signed once ([`Deduplicator::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    exact: u128,
    signature: Option<Box<[u32; NUM_PERM]>>,
}

/// Remembers the chunks kept so far.
#[derive(Debug, Default, Clone)]
pub struct Deduplicator {
    config: DedupConfig,
    rows: usize,
    entries: Map<u32, Entry>,
    /// Folded exact hash → ids with that normalised text (normally one).
    exact: Map<u64, Vec<u32>>,
    /// Band key (band index mixed with the band's rows) → ids.
    bands: Map<u64, Vec<u32>>,
}

impl Deduplicator {
    /// Empty deduplicator.
    pub fn new(config: DedupConfig) -> Self {
        let rows = rows_per_band(config.near_threshold);
        Deduplicator { config, rows, entries: Map::default(), exact: Map::default(), bands: Map::default() }
    }

    /// Number of chunks remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Normalise, hash and sign `text` once, for [`Deduplicator::check_prepared`] and
    /// [`Deduplicator::insert_prepared`] (indexing checks a chunk, then keeps it: one
    /// MinHash signature instead of two).
    pub fn prepare(&self, text: &str) -> Prepared {
        let normalized = normalize(text);
        Prepared {
            exact: hash128(&normalized),
            signature: signature(&normalized, self.config.shingle_words).map(Box::new),
        }
    }

    /// Classify `text` against what was inserted (does not insert).
    pub fn check(&self, text: &str) -> DupKind {
        self.check_prepared(&self.prepare(text))
    }

    /// Classify a prepared text against what was inserted (does not insert).
    pub fn check_prepared(&self, text: &Prepared) -> DupKind {
        if self.config.exact {
            let h = text.exact;
            if let Some(ids) = self.exact.get(&fold(h)) {
                let same = ids.iter().copied().filter(|id| self.entries.get(id).is_some_and(|e| e.exact == h));
                if let Some(of) = same.min() {
                    return DupKind::Exact { of };
                }
            }
        }
        if self.config.near {
            if let Some(sig) = text.signature.as_deref() {
                if let Some(of) = self.best_near(sig) {
                    return DupKind::Near { of };
                }
            }
        }
        DupKind::Unique
    }

    /// Estimated Jaccard similarity of `text` with the remembered chunk `id`, if both
    /// have a signature.
    pub fn similarity(&self, text: &str, id: u32) -> Option<f32> {
        let sig = signature(&normalize(text), self.config.shingle_words)?;
        let other = self.entries.get(&id)?.signature.as_deref()?;
        Some(estimate(&sig, other))
    }

    /// Remember a kept chunk (replacing what was remembered under the same id).
    pub fn insert(&mut self, id: u32, text: &str) {
        let prepared = self.prepare(text);
        self.insert_prepared(id, prepared);
    }

    /// Remember a kept chunk from its prepared text (see [`Deduplicator::prepare`]; it
    /// must come from this deduplicator's configuration).
    pub fn insert_prepared(&mut self, id: u32, text: Prepared) {
        self.remove(id);
        let Prepared { exact, signature } = text;
        self.exact.entry(fold(exact)).or_default().push(id);
        if let Some(sig) = signature.as_deref() {
            for key in band_keys(sig, self.rows) {
                self.bands.entry(key).or_default().push(id);
            }
        }
        self.entries.insert(id, Entry { exact, signature });
    }

    /// Forget a chunk (its document was deleted or replaced). Unknown ids are ignored.
    pub fn remove(&mut self, id: u32) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        remove_id(&mut self.exact, fold(entry.exact), id);
        if let Some(sig) = entry.signature.as_deref() {
            for key in band_keys(sig, self.rows) {
                remove_id(&mut self.bands, key, id);
            }
        }
    }

    /// The most similar candidate at or above the threshold (ties: smallest id).
    fn best_near(&self, sig: &[u32; NUM_PERM]) -> Option<u32> {
        let mut best: Option<(f32, u32)> = None;
        // A set, not a list: on boilerplate-heavy corpora a band holds thousands of ids
        // and a linear `contains` made each check quadratic in them.
        let mut seen: Set<u32> = Set::default();
        for key in band_keys(sig, self.rows) {
            let Some(ids) = self.bands.get(&key) else {
                continue;
            };
            for &id in ids {
                if !seen.insert(id) {
                    continue;
                }
                let Some(other) = self.entries.get(&id).and_then(|e| e.signature.as_deref()) else {
                    continue;
                };
                let s = estimate(sig, other);
                if s + f32::EPSILON < self.config.near_threshold {
                    continue;
                }
                best = match best {
                    Some((bs, bid)) if bs > s || (bs == s && bid < id) => Some((bs, bid)),
                    _ => Some((s, id)),
                };
            }
        }
        best.map(|(_, id)| id)
    }
}

fn remove_id(map: &mut Map<u64, Vec<u32>>, key: u64, id: u32) {
    if let Some(ids) = map.get_mut(&key) {
        ids.retain(|&x| x != id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

/// Rows per band for a threshold: the largest power of two `r` (dividing
/// [`NUM_PERM`]) whose S-curve midpoint `(1/b)^(1/r)` is at most `threshold - 0.1`.
fn rows_per_band(threshold: f32) -> usize {
    let target = f64::from(threshold) - 0.1;
    let mut best = 1;
    let mut r = 1;
    while r <= NUM_PERM {
        let b = (NUM_PERM / r) as f64;
        if (1.0 / b).powf(1.0 / r as f64) <= target {
            best = r;
        }
        r *= 2;
    }
    best
}

/// Lower-case, whitespace collapsed, trimmed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash128(s: &str) -> u128 {
    let a = mix(fnv1a(s.as_bytes(), 0));
    let b = mix(fnv1a(s.as_bytes(), 0x9e37_79b9_7f4a_7c15) ^ s.len() as u64);
    (u128::from(a) << 64) | u128::from(b)
}

fn fold(h: u128) -> u64 {
    (h >> 64) as u64 ^ h as u64
}

/// Fixed seed of permutation `i`.
fn perm_seed(i: usize) -> u64 {
    mix(0x5157_5f53_4f54_544f ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// MinHash signature of the word shingles of a normalised text, or `None` if it has no words.
fn signature(normalized: &str, shingle_words: usize) -> Option<[u32; NUM_PERM]> {
    let words: Vec<u64> = normalized.unicode_words().map(|w| fnv1a(w.as_bytes(), 0)).collect();
    if words.is_empty() {
        return None;
    }
    let k = shingle_words.max(1).min(words.len());
    let seeds: [u64; NUM_PERM] = std::array::from_fn(perm_seed);
    let mut sig = [u32::MAX; NUM_PERM];
    for window in words.windows(k) {
        let shingle = mix(window.iter().fold(0u64, |h, &w| mix(h ^ w)));
        for (slot, seed) in sig.iter_mut().zip(seeds.iter()) {
            let v = (mix(shingle ^ seed) >> 32) as u32;
            if v < *slot {
                *slot = v;
            }
        }
    }
    Some(sig)
}

fn estimate(a: &[u32; NUM_PERM], b: &[u32; NUM_PERM]) -> f32 {
    let equal = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
    equal as f32 / NUM_PERM as f32
}

/// One key per band: the band index mixed with its rows.
fn band_keys(sig: &[u32; NUM_PERM], rows: usize) -> impl Iterator<Item = u64> + '_ {
    let rows = rows.clamp(1, NUM_PERM);
    sig.chunks(rows)
        .enumerate()
        .map(|(band, values)| values.iter().fold(mix(band as u64 + 1), |h, &v| mix(h ^ u64::from(v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// About 150 words, like a real chunk.
    const TEXT: &str = "Cargo is the Rust package manager. Cargo downloads your Rust package's dependencies, \
        compiles your packages, makes distributable packages, and uploads them to crates.io, the Rust \
        community's package registry. You can contribute to this book on GitHub. To start a new package \
        with Cargo, use cargo new. Cargo defaults to binary programs; pass the lib flag to make a library \
        instead. Cargo generated two files and one directory for us: a manifest and a source directory \
        with a main file. This is called a manifest, and it contains all of the metadata that Cargo needs \
        to compile your package. The file is written in the TOML format. Cargo generated a hello world \
        program for us, otherwise known as a binary crate. Let us compile it and run the result. We can \
        also use cargo run to compile and then run it, all in one step. You will note that several \
        dependencies were compiled while building the package the first time, and later builds reuse them \
        unless something changes in the manifest or in the lock file that records exact versions.";

    fn dedup() -> Deduplicator {
        Deduplicator::new(DedupConfig::default())
    }

    #[test]
    fn exact_duplicate_detected_after_normalisation() {
        let mut d = dedup();
        assert_eq!(d.check(TEXT), DupKind::Unique);
        d.insert(7, TEXT);
        let shouted = TEXT.to_uppercase().replace(' ', "  \n\t");
        assert_eq!(d.check(&shouted), DupKind::Exact { of: 7 });
        assert_eq!(d.check(TEXT), DupKind::Exact { of: 7 });
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn small_edit_is_near_duplicate() {
        let mut d = dedup();
        d.insert(1, TEXT);
        let edited = TEXT.replace("this book", "the book");
        assert_eq!(d.check(&edited), DupKind::Near { of: 1 });
        let s = d.similarity(&edited, 1).unwrap();
        assert!((0.85..1.0).contains(&s), "{s}");
    }

    #[test]
    fn unrelated_text_is_unique() {
        let mut d = dedup();
        d.insert(1, TEXT);
        d.insert(2, "Paris is the capital of France. It is known for the Eiffel Tower and its museums.");
        assert_eq!(
            d.check("The mitochondria is the powerhouse of the cell, producing ATP for the organism."),
            DupKind::Unique
        );
        // Half the text is not a near duplicate at 0.85.
        let half: String = TEXT.split(' ').take(18).collect::<Vec<_>>().join(" ")
            + " and then something else entirely different follows here now";
        assert_eq!(d.check(&half), DupKind::Unique);
    }

    #[test]
    fn remove_forgets() {
        let mut d = dedup();
        d.insert(1, TEXT);
        d.insert(2, "another chunk of text entirely");
        d.remove(1);
        assert_eq!(d.check(TEXT), DupKind::Unique);
        assert_eq!(d.len(), 1);
        d.remove(1); // unknown id: no-op
        d.remove(2);
        assert!(d.is_empty());
        assert!(d.exact.is_empty() && d.bands.is_empty(), "indexes emptied");
        // Re-inserting under the same id replaces.
        d.insert(3, TEXT);
        d.insert(3, "something new");
        assert_eq!(d.check(TEXT), DupKind::Unique);
        assert_eq!(d.check("Something   NEW"), DupKind::Exact { of: 3 });
    }

    #[test]
    fn clone_is_independent() {
        let mut d = dedup();
        d.insert(1, TEXT);
        let mut c = d.clone();
        c.remove(1);
        assert_eq!(d.check(TEXT), DupKind::Exact { of: 1 });
        assert_eq!(c.check(TEXT), DupKind::Unique);
    }

    #[test]
    fn switches_are_respected() {
        let mut d = Deduplicator::new(DedupConfig { exact: false, near: false, ..DedupConfig::default() });
        d.insert(1, TEXT);
        assert_eq!(d.check(TEXT), DupKind::Unique);
        let mut d = Deduplicator::new(DedupConfig { exact: false, ..DedupConfig::default() });
        d.insert(1, TEXT);
        assert_eq!(d.check(TEXT), DupKind::Near { of: 1 });
    }

    #[test]
    fn short_and_wordless_texts() {
        let mut d = dedup();
        d.insert(1, "Options");
        assert_eq!(d.check("options"), DupKind::Exact { of: 1 });
        assert_eq!(d.check("Optional"), DupKind::Unique);
        d.insert(2, "--- ***");
        assert_eq!(d.check("---  ***"), DupKind::Exact { of: 2 });
        assert_eq!(d.check(""), DupKind::Unique);
    }

    #[test]
    fn deterministic_signatures_and_bands() {
        // Fixed values: a change of hashing silently changes dedup decisions between versions.
        let sig = signature(&normalize(TEXT), 5).unwrap();
        assert_eq!(sig, signature(&normalize(TEXT), 5).unwrap());
        assert_eq!(rows_per_band(0.85), 8);
        assert_eq!(rows_per_band(0.5), 2);
        assert_eq!(rows_per_band(0.0), 1);
        assert_eq!(rows_per_band(1.0), 16);
    }

    #[test]
    fn estimate_tracks_true_jaccard() {
        // Two word lists sharing a known fraction of 1-word shingles.
        let a: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let b: Vec<String> = (100..500).map(|i| format!("w{i}")).collect();
        let sa = signature(&a.join(" "), 1).unwrap();
        let sb = signature(&b.join(" "), 1).unwrap();
        let truth = 300.0 / 500.0;
        let est = estimate(&sa, &sb);
        assert!((est - truth).abs() < 0.12, "estimate {est} vs {truth}");
    }
}

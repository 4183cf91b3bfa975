//! Dense vector index in segments: one open exact-scan segment and sealed HNSW
//! segments (Malkov & Yashunin 2016, "Efficient and robust approximate nearest
//! neighbor search using Hierarchical Navigable Small World graphs").
//!
//! Why segments: in wasm an exact scan of 10k × 384 floats costs ~1 ms per query and
//! nothing to build, while `instant-distance` needs about a minute to build 10k
//! vectors single-threaded (`ef_construction` 100) and then answers in ~1 ms too
//! (measured on this project's machines). So new vectors always go to the open **flat** segment
//! (contiguous `f32` rows, scanned with a dot product written so LLVM vectorises it —
//! eight independent accumulators, which become SSE natively and `simd128` in
//! wasm; ~0.6 ms per query over 10k × 384 natively). [`DenseIndex::build_hnsw`] — called by the native CLI, or explicitly in the
//! browser — seals a flat segment that holds at least
//! [`hnsw_threshold`](DenseConfig::hnsw_threshold) live vectors into an **HNSW**
//! segment (built with `instant-distance`, multi-threaded natively through rayon).
//! The graph is stored serialized by [`DenseIndex::to_bytes`] so loading never
//! rebuilds it.
//!
//! **Default threshold: 20 000.** The scan is linear: ~1 ms per 10k vectors per query in
//! wasm, so 20k live flat vectors still answer in ~2 ms, well inside an interactive
//! budget, while an HNSW query costs ~1 ms at 10k in wasm (`ef_search` 100) and grows
//! only logarithmically. Below ~20k an HNSW segment therefore saves at most about a
//! millisecond per query but costs minutes of single-threaded build in a browser; past
//! it the scan's linear cost starts to dominate. `benches/index.rs` measures the
//! crossover natively (scan vs HNSW query at 10k and 100k).
//!
//! **Deletion** is a tombstone bit per segment slot, respected by every search;
//! [`DenseIndex::len`] counts live vectors. `build_hnsw` purges tombstones: the flat
//! segment is compacted; an HNSW segment whose tombstones exceed
//! [`REBUILD_TOMBSTONE_FRACTION`] of its slots is rebuilt from its live vectors, or
//! folded back into the flat segment if fewer than the threshold remain.
//! [`DenseIndex::compact`] purges every tombstone unconditionally.
//!
//! **Search** merges the per-segment top-k (score = dot product = cosine for unit
//! vectors; ties by ascending id). An HNSW segment is asked for its approximate
//! neighbours (`instant-distance` returns at most `ef_search` of them), skipping
//! tombstones and ids the filter rejects; if that does not yield enough hits —
//! `k` above `ef_search`, many tombstones, or a selective filter (estimated up
//! front from a sample of the segment's ids) — the segment is scanned exactly
//! instead, so a filtered query gets `k` results whenever `k` matching vectors exist.
//! Raw vectors of HNSW segments are the graph's own points, so no second copy is
//! kept. HNSW scores are recomputed exactly, so scores agree across segment kinds.
//!
//! **int8 scan.** The flat segment keeps, beside its `f32` rows, an int8 copy derived
//! when a row is added or loaded (never stored: the file format is unchanged): one
//! scale per row (`max |x| / 127`) and `dim` codes, i.e. `dim + 4` bytes per row on top
//! of the `4 × dim` of the floats (+25 %). Once the segment holds at least
//! [`INT8_MIN_ROWS`] live rows, [`DenseIndex::search`] scans the codes instead
//! ([`dot_i8`]: i32 accumulation, sixteen lanes, vectorised by LLVM — SSE2 natively,
//! `simd128` in wasm), keeps the best [`rescore_candidates`]`(k)` and rescores those
//! with the exact `f32` dot product, so every returned score is exact and only the
//! choice of candidates is approximate. A quarter of the bytes to read makes the scan
//! several times faster (`examples/dense_int8.rs` measures it against the `f32` scan in
//! the same run, with recall@10 against exact search on random and on MiniLM vectors).
//! [`DenseIndex::search_exact`] always scans the floats.
//!
//! **1-bit prefilter.** Past [`BITS_MIN_ROWS`] live rows even the int8 codes are too many
//! bytes per query (100k × 384 = 38 MB). The flat segment then also keeps one bit per
//! component — set when the component is above the segment's mean vector — i.e.
//! `dim / 8` bytes per row (+12.5 % of the int8 codes), built at the first search that
//! needs them (one pass over the floats) and extended by every later add, never stored.
//! The query is coded the same way; the [`bit_candidates`] rows nearest in Hamming
//! distance (popcount of XORed words: `i64.popcnt` in wasm) are rescored with their int8
//! codes, and the best [`rescore_candidates`] of those with the exact `f32` dot product. Centering matters: sentence embeddings share a large common
//! component, so the raw signs of many coordinates are the same for every row and carry
//! nothing. `examples/dense_int8.rs` measures all three scans in one run, with recall@10
//! against exact search on random and on MiniLM vectors.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use bincode::Options;
use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};

use super::{ChunkId, Scored};
use crate::error::{Error, Result};

/// An HNSW segment is rebuilt by [`DenseIndex::build_hnsw`] when more than this
/// fraction of its slots are tombstones.
pub const REBUILD_TOMBSTONE_FRACTION: f64 = 0.1;

/// Largest vector dimension accepted when loading.
const MAX_DIM: usize = 1 << 16;

/// Magic of the dense encoding.
const MAGIC: &[u8; 4] = b"SDNS";

/// Version of the dense encoding written by [`DenseIndex::to_bytes`].
pub const DENSE_FORMAT_VERSION: u32 = 1;

/// Segment kinds in the encoding.
const KIND_FLAT: u8 = 0;
const KIND_HNSW: u8 = 1;

/// Ids sampled to estimate how selective a filter is on an HNSW segment.
const FILTER_SAMPLE: usize = 64;

/// Live rows from which [`DenseIndex::search`] scans the flat segment's int8 codes
/// (see the module docs). Below it the `f32` scan is already well under a millisecond
/// natively and in wasm, and an exact answer costs nothing extra.
pub const INT8_MIN_ROWS: usize = 4096;

/// Live rows from which [`DenseIndex::search`] prefilters the flat segment with its
/// 1-bit sign codes instead of scanning the int8 codes (see the module docs).
pub const BITS_MIN_ROWS: usize = 32_768;

/// Rows of a segment used as queries to check the 1-bit path when its codes are built.
const PREFILTER_CHECK_ROWS: usize = 16;

/// Recall@10 the 1-bit path must reach on those rows to be used (at most one miss in 160).
const PREFILTER_MIN_RECALL: f64 = 0.99;

/// Rows the 1-bit prefilter keeps: `max(4k, k + 64, live / 20)`, one row in twenty (5 000
/// at 100k rows). Those are rescored with their int8 codes, and the best
/// [`rescore_candidates`]`(k)` of them with the exact `f32` dot product.
pub fn bit_candidates(k: usize, live: usize) -> usize {
    rescore_candidates(k).max(live / 20)
}

/// Candidates the int8 scan keeps for exact `f32` rescoring: `max(4k, k + 64)`.
/// With `k` = 10 that is 74 of 10k–100k rows; recall@10 against exact search was 1.000
/// on random and on MiniLM vectors (see `examples/dense_int8.rs`, module docs).
pub fn rescore_candidates(k: usize) -> usize {
    k.saturating_mul(4).max(k.saturating_add(64))
}

/// Dense index parameters (names follow Malkov & Yashunin 2016); a field left out of a
/// configuration keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DenseConfig {
    /// A flat segment with at least this many live vectors is turned into an HNSW
    /// segment by [`DenseIndex::build_hnsw`] (default 20 000, see the module docs).
    /// A value past the platform's `usize` (a natively written `usize::MAX` read in wasm)
    /// loads as `usize::MAX`: never.
    #[serde(deserialize_with = "saturating_usize")]
    pub hnsw_threshold: usize,
    /// HNSW construction beam width (default 100).
    pub ef_construction: usize,
    /// HNSW search beam width, fixed when a segment is built (default 100). It also
    /// bounds how many hits one HNSW segment can return; larger `k` scans exactly.
    pub ef_search: usize,
    /// Seed for HNSW level assignment.
    pub seed: u64,
}

/// A `u64` as `usize`, saturating (see [`DenseConfig::hnsw_threshold`]).
fn saturating_usize<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    Ok(usize::try_from(u64::deserialize(d)?).unwrap_or(usize::MAX))
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig { hnsw_threshold: 20_000, ef_construction: 100, ef_search: 100, seed: 0x5077_0001 }
    }
}

/// Kind of a segment, as reported by [`DenseIndex::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentKind {
    /// Exact scan over contiguous rows.
    Flat,
    /// HNSW graph.
    Hnsw,
}

/// One segment's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStats {
    /// Segment kind.
    pub kind: SegmentKind,
    /// Live vectors.
    pub live: usize,
    /// Tombstoned slots not yet purged.
    pub tombstones: usize,
}

/// Per-segment counts of a [`DenseIndex`]; the flat segment comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseStats {
    /// Vector dimension.
    pub dim: usize,
    /// Segments, flat first.
    pub segments: Vec<SegmentStats>,
}

/// Dot product with eight independent accumulators so it vectorises without
/// re-association (SSE natively, `simd128` in wasm: checked in the emitted assembly).
/// Fixed-size sub-slices instead of iterator adapters also keep unoptimised (test)
/// builds ~5× faster. Extra elements of the longer slice are ignored.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let body = n - n % 8;
    let mut acc = [0.0f32; 8];
    let mut i = 0;
    while i < body {
        let (x, y) = (&a[i..i + 8], &b[i..i + 8]);
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
        acc[4] += x[4] * y[4];
        acc[5] += x[5] * y[5];
        acc[6] += x[6] * y[6];
        acc[7] += x[7] * y[7];
        i += 8;
    }
    let mut tail = 0.0;
    while i < n {
        tail += a[i] * b[i];
        i += 1;
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// Quantize `v` to int8 codes appended to `out`: `code = round(x / scale)` with
/// `scale = max |x| / 127` (0 for an all-zero vector, whose codes are 0). Returns the scale.
pub fn quantize_i8(v: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if !(max > 0.0 && max.is_finite()) {
        out.extend(std::iter::repeat_n(0i8, v.len()));
        return 0.0;
    }
    let inv = 127.0 / max;
    out.extend(v.iter().map(|&x| (x * inv).round().clamp(-127.0, 127.0) as i8));
    max / 127.0
}

/// Integer dot product of int8 codes with i32 accumulation. Written with explicit SIMD,
/// because LLVM's vectorisation of the plain loop was measured to come and go between
/// builds (4× apart): `simd128` in wasm (sign-extend to i16, `i32x4.dot_i16x8_s`), SSE2
/// natively on x86_64 (part of the baseline: unpack + arithmetic shift to sign-extend,
/// `pmaddwd`), a scalar loop elsewhere and for the tail. Cannot overflow for any dimension
/// up to 2^16 (the largest accepted): each i32 lane sums at most 2 × 4096 pairs of
/// products of at most 127². Extra elements of the longer slice are ignored.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let body = n - n % 16;
    let mut sum = dot_i8_body(&a[..body], &b[..body]);
    for i in body..n {
        sum += a[i] as i32 * b[i] as i32;
    }
    sum
}

/// [`dot_i8`] over a length that is a multiple of 16.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let mut acc = i32x4_splat(0);
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        // SAFETY: both chunks are exactly 16 bytes; v128_load has no alignment requirement.
        let (x, y) = unsafe { (v128_load(x.as_ptr() as *const v128), v128_load(y.as_ptr() as *const v128)) };
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y)));
    }
    i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc)
}

/// [`dot_i8`] over a length that is a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[inline]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the loads are unaligned loads of exactly
    // 16 bytes from chunks of 16.
    unsafe {
        let mut acc = _mm_setzero_si128();
        for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
            let x = _mm_loadu_si128(x.as_ptr() as *const __m128i);
            let y = _mm_loadu_si128(y.as_ptr() as *const __m128i);
            // Each byte duplicated into a 16-bit lane, then shifted down arithmetically: sign extension.
            let (xl, xh) = (_mm_srai_epi16(_mm_unpacklo_epi8(x, x), 8), _mm_srai_epi16(_mm_unpackhi_epi8(x, x), 8));
            let (yl, yh) = (_mm_srai_epi16(_mm_unpacklo_epi8(y, y), 8), _mm_srai_epi16(_mm_unpackhi_epi8(y, y), 8));
            acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(xl, yl), _mm_madd_epi16(xh, yh)));
        }
        let mut lanes = [0i32; 4];
        _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, acc);
        lanes.iter().sum()
    }
}

/// [`dot_i8`] over a length that is a multiple of 16 (portable).
#[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
#[inline]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// A point of an HNSW graph: one vector; distance = 1 − dot (cosine distance for
/// unit vectors).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Vector(Box<[f32]>);

impl Point for Vector {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// A growable set of slot numbers.
#[derive(Debug, Clone, Default)]
struct Bits {
    words: Vec<u64>,
    count: usize,
}

impl Bits {
    fn get(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Set bit `i`; returns whether it was newly set.
    fn set(&mut self, i: usize) -> bool {
        if self.words.len() <= i / 64 {
            self.words.resize(i / 64 + 1, 0);
        }
        let w = &mut self.words[i / 64];
        let m = 1 << (i % 64);
        if *w & m != 0 {
            return false;
        }
        *w |= m;
        self.count += 1;
        true
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(wi, &w)| (0..64).filter(move |b| w & (1 << b) != 0).map(move |b| wi * 64 + b))
    }
}

#[derive(Debug, Clone, Default)]
struct FlatSegment {
    ids: Vec<ChunkId>,
    /// `ids.len() × dim` floats, row-major.
    data: Vec<f32>,
    /// `ids.len() × dim` int8 codes of `data` (derived, see the module docs).
    codes: Vec<i8>,
    /// One scale per row: `data ≈ scale × codes`.
    scales: Vec<f32>,
    /// 1-bit sign codes of the rows, built at the first search that needs them (derived,
    /// see the module docs) and extended by every later push.
    signs: std::sync::OnceLock<SignCodes>,
    dead: Bits,
}

/// One bit per component and row: set when the component is above the segment's mean
/// (the `center`, fixed when the codes are first built). Hamming distance between a row's
/// bits and the query's estimates the angle between them around that center (Charikar
/// 2002's sign random projections, here on the coordinate axes, as binary quantization of
/// embeddings does); it only chooses candidates, every returned score is exact.
#[derive(Debug, Clone, Default)]
struct SignCodes {
    /// Whether the 1-bit path passed its check on this segment's own rows when the codes
    /// were built: recall@10 ≥ [`PREFILTER_MIN_RECALL`] against the exact scan. Sparse
    /// vectors (feature hashing) fail it (recall 0.73 measured), and the int8 scan is used.
    usable: bool,
    center: Vec<f32>,
    /// `u64` words per row: `ceil(dim / 64)`.
    words: usize,
    bits: Vec<u64>,
}

impl SignCodes {
    fn build(data: &[f32], dim: usize) -> Self {
        let rows = data.len().checked_div(dim).unwrap_or(0);
        let mut center = vec![0.0f64; dim];
        for row in data.chunks_exact(dim.max(1)) {
            for (c, &x) in center.iter_mut().zip(row) {
                *c += x as f64;
            }
        }
        let center: Vec<f32> = center.into_iter().map(|c| (c / rows.max(1) as f64) as f32).collect();
        let mut codes = SignCodes {
            usable: false,
            words: dim.div_ceil(64),
            bits: Vec::with_capacity(rows * dim.div_ceil(64)),
            center,
        };
        for row in data.chunks_exact(dim.max(1)) {
            codes.push(row);
        }
        codes
    }
    /// Set bit `i` of `out` for every component `i` of `v` above the center.
    fn encode_into(&self, v: &[f32], out: &mut [u64]) {
        for (i, (&x, &c)) in v.iter().zip(&self.center).enumerate() {
            if x > c {
                out[i / 64] |= 1 << (i % 64);
            }
        }
    }
    fn push(&mut self, v: &[f32]) {
        let start = self.bits.len();
        let mut row = std::mem::take(&mut self.bits);
        row.resize(start + self.words, 0);
        self.encode_into(v, &mut row[start..]);
        self.bits = row;
    }
    fn encode(&self, v: &[f32]) -> Vec<u64> {
        let mut out = vec![0; self.words];
        self.encode_into(v, &mut out);
        out
    }
}

impl FlatSegment {
    fn live(&self) -> usize {
        self.ids.len() - self.dead.count
    }
    /// Append a row and its int8 codes (and its sign codes once those exist).
    fn push(&mut self, id: ChunkId, v: &[f32]) {
        self.ids.push(id);
        self.data.extend_from_slice(v);
        self.scales.push(quantize_i8(v, &mut self.codes));
        if let Some(signs) = self.signs.get_mut() {
            signs.push(v);
        }
    }
    /// The sign codes, built (and checked, see [`SignCodes::usable`]) on first use.
    fn signs(&self, dim: usize) -> &SignCodes {
        self.signs.get_or_init(|| {
            let mut codes = SignCodes::build(&self.data, dim);
            codes.usable = self.prefilter_recall(&codes, dim) >= PREFILTER_MIN_RECALL;
            codes
        })
    }

    /// Whether [`FlatSegment::scan_bits`] may be used: the codes exist, match the rows,
    /// and passed their check.
    fn bits_usable(&self, dim: usize) -> bool {
        dim > 0 && {
            let signs = self.signs(dim);
            signs.usable && signs.bits.len() == self.ids.len() * signs.words
        }
    }

    /// Recall@10 of the 1-bit path against the exact scan on [`PREFILTER_CHECK_ROWS`]
    /// live rows used as queries (each row's own hit left out of both lists), keeping the
    /// candidates [`bit_candidates`] gives at this size. 1.0 when there are too few rows.
    fn prefilter_recall(&self, codes: &SignCodes, dim: usize) -> f64 {
        let live: Vec<usize> = (0..self.ids.len()).filter(|&s| !self.dead.get(s)).collect();
        if live.len() < 2 * PREFILTER_CHECK_ROWS {
            return 1.0;
        }
        let candidates = bit_candidates(11, live.len());
        let (mut found, mut total) = (0usize, 0usize);
        for i in 0..PREFILTER_CHECK_ROWS {
            let slot = live[i * live.len() / PREFILTER_CHECK_ROWS];
            let query = self.row(slot, dim);
            let mut exact = TopK::new(11);
            self.scan(query, dim, None, &mut exact);
            let mut approx = TopK::new(11);
            self.rescore(query, dim, self.select_bits(codes, query, dim, None, candidates), &mut approx);
            let own = self.ids[slot];
            let approx: Vec<ChunkId> = approx.into_sorted().into_iter().map(|h| h.0).collect();
            for (id, _) in exact.into_sorted().into_iter().filter(|h| h.0 != own).take(10) {
                total += 1;
                found += usize::from(approx.contains(&id));
            }
        }
        found as f64 / total.max(1) as f64
    }

    /// Prefilter with the sign codes, then rescore (see [`FlatSegment::select_bits`] and
    /// [`FlatSegment::rescore`]). Callers check [`FlatSegment::bits_usable`] first.
    fn scan_bits(
        &self,
        query: &[f32],
        dim: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        candidates: usize,
        top: &mut TopK,
    ) {
        if dim == 0 {
            return;
        }
        let signs = self.signs(dim);
        if signs.bits.len() != self.ids.len() * signs.words {
            return self.scan(query, dim, allow, top);
        }
        self.rescore(query, dim, self.select_bits(signs, query, dim, allow, candidates), top);
    }

    /// The `candidates` live, allowed slots nearest the query in Hamming distance of the
    /// sign codes. Selection is a counting pass over the distances (at most `dim + 1`
    /// values), not a heap.
    fn select_bits(
        &self,
        signs: &SignCodes,
        query: &[f32],
        dim: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        candidates: usize,
    ) -> Vec<usize> {
        let q = signs.encode(query);
        const SKIP: u32 = u32::MAX;
        let mut dist = Vec::with_capacity(self.ids.len());
        let mut histogram = vec![0usize; dim + 1];
        for (slot, (&id, row)) in self.ids.iter().zip(signs.bits.chunks_exact(signs.words)).enumerate() {
            if self.dead.get(slot) || allow.is_some_and(|f| !f(id)) {
                dist.push(SKIP);
                continue;
            }
            let d: u32 = row.iter().zip(&q).map(|(a, b)| (a ^ b).count_ones()).sum();
            histogram[(d as usize).min(dim)] += 1;
            dist.push(d);
        }
        // The largest distance `t` such that fewer than `candidates` rows are nearer.
        let (mut below, mut t) = (0usize, 0u32);
        for (d, &count) in histogram.iter().enumerate() {
            t = d as u32;
            if below + count >= candidates {
                break;
            }
            below += count;
        }
        let mut at_t = candidates.saturating_sub(below);
        let mut chosen = Vec::with_capacity(candidates.min(self.ids.len()));
        for (slot, &d) in dist.iter().enumerate() {
            if d < t || (d == t && at_t > 0) {
                if d == t {
                    at_t -= 1;
                }
                chosen.push(slot);
            }
        }
        chosen
    }

    /// Rescore chosen slots into `top`: their int8 codes first, then the exact `f32` dot
    /// product of the best [`rescore_candidates`] of them.
    fn rescore(&self, query: &[f32], dim: usize, chosen: Vec<usize>, top: &mut TopK) {
        let exact = rescore_candidates(top.k);
        if chosen.len() <= exact || self.codes.len() != self.data.len() {
            for slot in chosen {
                top.push(self.ids[slot], dot(query, self.row(slot, dim)));
            }
            return;
        }
        let mut q8 = Vec::with_capacity(dim);
        quantize_i8(query, &mut q8);
        let mut best = TopK::new(exact);
        for slot in chosen {
            let codes = &self.codes[slot * dim..(slot + 1) * dim];
            best.push(slot as ChunkId, dot_i8(&q8, codes) as f32 * self.scales[slot]);
        }
        for Reverse(Ranked(_, slot)) in best.heap {
            let slot = slot as usize;
            top.push(self.ids[slot], dot(query, self.row(slot, dim)));
        }
    }
    /// Scan the int8 codes, keep the best `candidates` slots, rescore them exactly into `top`.
    fn scan_int8(
        &self,
        query: &[f32],
        dim: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        candidates: usize,
        top: &mut TopK,
    ) {
        if dim == 0 || self.codes.len() != self.data.len() {
            return self.scan(query, dim, allow, top);
        }
        let mut q = Vec::with_capacity(dim);
        // The query's own scale is the same for every row: ranking ignores it.
        quantize_i8(query, &mut q);
        let mut best = TopK::new(candidates);
        for (slot, ((&id, codes), &scale)) in
            self.ids.iter().zip(self.codes.chunks_exact(dim)).zip(&self.scales).enumerate()
        {
            if self.dead.get(slot) || allow.is_some_and(|f| !f(id)) {
                continue;
            }
            // Slots fit in u32 (checked on add and load), so they ride in TopK's id.
            best.push(slot as ChunkId, dot_i8(&q, codes) as f32 * scale);
        }
        for Reverse(Ranked(_, slot)) in best.heap {
            let slot = slot as usize;
            top.push(self.ids[slot], dot(query, self.row(slot, dim)));
        }
    }
    fn row(&self, slot: usize, dim: usize) -> &[f32] {
        self.data.get(slot * dim..(slot + 1) * dim).unwrap_or(&[])
    }
    /// Rows of live vectors `(id, row)`.
    fn live_rows(&self, dim: usize) -> impl Iterator<Item = (ChunkId, &[f32])> + '_ {
        self.ids.iter().enumerate().filter(|(s, _)| !self.dead.get(*s)).map(move |(s, &id)| (id, self.row(s, dim)))
    }
    fn scan(&self, query: &[f32], dim: usize, allow: Option<&dyn Fn(ChunkId) -> bool>, top: &mut TopK) {
        if dim == 0 {
            return;
        }
        for (slot, (&id, row)) in self.ids.iter().zip(self.data.chunks_exact(dim)).enumerate() {
            if self.dead.get(slot) || allow.is_some_and(|f| !f(id)) {
                continue;
            }
            top.push(id, dot(query, row));
        }
    }
}

struct HnswSegment {
    map: HnswMap<Vector, ChunkId>,
    dead: Bits,
}

impl std::fmt::Debug for HnswSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswSegment").field("len", &self.map.values.len()).field("dead", &self.dead.count).finish()
    }
}

impl Clone for HnswSegment {
    fn clone(&self) -> Self {
        // `HnswMap` is not `Clone`; a serde round trip is exact (and of a graph already
        // validated, so it is not checked again).
        let map = bincode_options()
            .serialize(&self.map)
            .ok()
            .and_then(|b| bincode_options().deserialize::<HnswMap<Vector, ChunkId>>(&b).ok());
        match map {
            Some(map) => HnswSegment { map, dead: self.dead.clone() },
            // Unreachable in practice; fall back to an equivalent graph built anew.
            None => {
                let (ids, points): (Vec<_>, Vec<_>) = self.live().map(|(id, p)| (id, Vector(p.into()))).unzip();
                HnswSegment { map: Builder::default().seed(0).build(points, ids), dead: Bits::default() }
            }
        }
    }
}

impl HnswSegment {
    fn slots(&self) -> usize {
        self.map.values.len()
    }
    fn live_count(&self) -> usize {
        self.slots() - self.dead.count
    }
    /// Live `(id, vector)` pairs.
    fn live(&self) -> impl Iterator<Item = (ChunkId, &[f32])> + '_ {
        self.map.iter().filter_map(move |(pid, p)| {
            let slot = pid.into_inner() as usize;
            if self.dead.get(slot) {
                return None;
            }
            self.map.values.get(slot).map(|&id| (id, &p.0[..]))
        })
    }
    fn scan(&self, query: &[f32], allow: Option<&dyn Fn(ChunkId) -> bool>, top: &mut TopK) {
        for (id, v) in self.live() {
            if allow.is_none_or(|f| f(id)) {
                top.push(id, dot(query, v));
            }
        }
    }
    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef_search: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        top: &mut TopK,
    ) {
        let want = k.min(self.live_count());
        if want == 0 {
            return;
        }
        if want > ef_search {
            return self.scan(query, allow, top);
        }
        if let Some(f) = allow {
            // Estimate the allowed fraction from evenly spaced ids; if the graph's
            // ef_search candidates are unlikely to contain `want` allowed ones, scan.
            let n = self.slots();
            let step = (n / FILTER_SAMPLE).max(1);
            let sample: Vec<ChunkId> = self.map.values.iter().step_by(step).take(FILTER_SAMPLE).copied().collect();
            let allowed = sample.iter().filter(|&&id| f(id)).count();
            if (allowed as f64 / sample.len().max(1) as f64) * (ef_search as f64) < want as f64 {
                return self.scan(query, allow, top);
            }
        }
        let point = Vector(query.into());
        let mut search = Search::default();
        let mut hits = Vec::with_capacity(want);
        for item in self.map.search(&point, &mut search) {
            let slot = item.pid.into_inner() as usize;
            let id = *item.value;
            if self.dead.get(slot) || allow.is_some_and(|f| !f(id)) {
                continue;
            }
            hits.push((id, dot(query, &item.point.0)));
            if hits.len() == want {
                break;
            }
        }
        if hits.len() < want {
            return self.scan(query, allow, top);
        }
        for (id, s) in hits {
            top.push(id, s);
        }
    }
}

/// Where a live id is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    Flat(u32),
    Hnsw(u32, u32),
}

/// A scored hit ordered best-first: higher score, then lower id.
#[derive(Debug, Clone, Copy)]
struct Ranked(f32, ChunkId);

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

/// Bounded top-k: a min-heap of the best `k` seen so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k.min(1024) + 1) }
    }
    fn push(&mut self, id: ChunkId, score: f32) {
        if self.k == 0 {
            return;
        }
        let r = Ranked(score, id);
        if self.heap.len() < self.k {
            self.heap.push(Reverse(r));
        } else if self.heap.peek().is_some_and(|Reverse(worst)| r > *worst) {
            self.heap.pop();
            self.heap.push(Reverse(r));
        }
    }
    fn into_sorted(self) -> Vec<Scored> {
        // Ascending `Reverse<Ranked>` = best first.
        self.heap.into_sorted_vec().into_iter().map(|Reverse(Ranked(s, id))| (id, s)).collect()
    }
}

/// Segmented dense index over unit vectors; score = dot product (cosine).
#[derive(Debug, Clone)]
pub struct DenseIndex {
    dim: usize,
    config: DenseConfig,
    /// The open segment: every `add` lands here.
    flat: FlatSegment,
    hnsw: Vec<HnswSegment>,
    /// Live ids → slot.
    loc: HashMap<ChunkId, Loc>,
}

impl DenseIndex {
    /// Empty index for vectors of dimension `dim`.
    pub fn new(dim: usize, config: DenseConfig) -> Self {
        DenseIndex { dim, config, flat: FlatSegment::default(), hnsw: Vec::new(), loc: HashMap::new() }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Parameters.
    pub fn config(&self) -> &DenseConfig {
        &self.config
    }

    fn check_dim(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch { expected: self.dim, got: v.len() });
        }
        Ok(())
    }

    /// Whether [`add`](Self::add) would accept `v`: [`Error::DimensionMismatch`] for a
    /// vector of another dimension, [`Error::NonFiniteVector`] for a NaN or infinite
    /// component. One pass over `v`, no allocation: cheap enough to screen every vector
    /// of a batch before anything is changed.
    pub fn check_vector(&self, v: &[f32]) -> Result<()> {
        self.check_dim(v)?;
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteVector { index });
        }
        Ok(())
    }

    /// Add a vector (errors as [`check_vector`](Self::check_vector), before any change).
    /// An id already present is replaced.
    pub fn add(&mut self, id: ChunkId, vector: &[f32]) -> Result<()> {
        self.check_vector(vector)?;
        if u32::try_from(self.flat.ids.len()).is_err() {
            return Err(Error::InvalidOption { name: "dense", detail: "too many vectors in one segment".into() });
        }
        // Removing first may compact the flat segment, so the slot is taken after.
        self.remove(id);
        let slot = self.flat.ids.len() as u32;
        self.flat.push(id, vector);
        self.loc.insert(id, Loc::Flat(slot));
        Ok(())
    }

    /// Tombstone a vector; returns whether it was present.
    pub fn remove(&mut self, id: ChunkId) -> bool {
        match self.loc.remove(&id) {
            None => false,
            Some(Loc::Flat(slot)) => {
                self.flat.dead.set(slot as usize);
                // Compact the open segment once it is mostly dead (cheap: no graph).
                if self.flat.dead.count >= 1024 && self.flat.dead.count > self.flat.live() {
                    self.compact_flat();
                }
                true
            }
            Some(Loc::Hnsw(seg, slot)) => {
                if let Some(s) = self.hnsw.get_mut(seg as usize) {
                    s.dead.set(slot as usize);
                }
                true
            }
        }
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.loc.len()
    }

    /// Whether there are no live vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: ChunkId) -> bool {
        self.loc.contains_key(&id)
    }

    /// The stored vectors of `ids` (`None` for an id that is not live), each HNSW segment
    /// walked once: [`DenseIndex::vector`] walks a segment per call, which is quadratic
    /// over a whole index (the summary tree reads every vector).
    pub fn vectors_of(&self, ids: &[ChunkId]) -> Vec<Option<&[f32]>> {
        let mut by_segment: Vec<Vec<&[f32]>> = Vec::new();
        if ids.iter().any(|id| matches!(self.loc.get(id), Some(Loc::Hnsw(..)))) {
            by_segment = self.hnsw.iter().map(|s| s.map.iter().map(|(_, p)| &p.0[..]).collect()).collect();
        }
        ids.iter()
            .map(|id| match *self.loc.get(id)? {
                Loc::Flat(slot) => Some(self.flat.row(slot as usize, self.dim)),
                Loc::Hnsw(seg, slot) => by_segment.get(seg as usize)?.get(slot as usize).copied(),
            })
            .collect()
    }

    /// The stored vector of a live id.
    pub fn vector(&self, id: ChunkId) -> Option<&[f32]> {
        match *self.loc.get(&id)? {
            Loc::Flat(slot) => Some(self.flat.row(slot as usize, self.dim)),
            Loc::Hnsw(seg, slot) => {
                let s = self.hnsw.get(seg as usize)?;
                s.map.iter().nth(slot as usize).map(|(_, p)| &p.0[..])
            }
        }
    }

    /// Per-segment counts, flat segment first.
    pub fn stats(&self) -> DenseStats {
        let mut segments =
            vec![SegmentStats { kind: SegmentKind::Flat, live: self.flat.live(), tombstones: self.flat.dead.count }];
        segments.extend(self.hnsw.iter().map(|s| SegmentStats {
            kind: SegmentKind::Hnsw,
            live: s.live_count(),
            tombstones: s.dead.count,
        }));
        DenseStats { dim: self.dim, segments }
    }

    fn check_query(&self, query: &[f32]) -> Result<()> {
        self.check_dim(query)?;
        if query.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidQuery("query vector has a non-finite component".into()));
        }
        Ok(())
    }

    /// The `k` best live vectors for `query` among those `allow` accepts, best first.
    pub fn search(&self, query: &[f32], k: usize, allow: Option<&dyn Fn(ChunkId) -> bool>) -> Result<Vec<Scored>> {
        self.check_query(query)?;
        let mut top = TopK::new(k.min(self.len()));
        let candidates = rescore_candidates(k);
        let live = self.flat.live();
        if live >= BITS_MIN_ROWS && bit_candidates(k, live) < live && self.flat.bits_usable(self.dim) {
            self.flat.scan_bits(query, self.dim, allow, bit_candidates(k, live), &mut top);
        } else if live >= INT8_MIN_ROWS && candidates < live {
            self.flat.scan_int8(query, self.dim, allow, candidates, &mut top);
        } else {
            self.flat.scan(query, self.dim, allow, &mut top);
        }
        for seg in &self.hnsw {
            seg.search(query, k, self.config.ef_search, allow, &mut top);
        }
        Ok(top.into_sorted())
    }

    /// The flat segment alone through the int8 scan with rescoring, whatever its size,
    /// keeping `candidates` for rescoring (HNSW segments are ignored): for benchmarks and
    /// recall measurements of the int8 path (see the module docs).
    pub fn search_flat_int8(
        &self,
        query: &[f32],
        k: usize,
        candidates: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
    ) -> Result<Vec<Scored>> {
        self.flat_only(query, k, |flat, top| flat.scan_int8(query, self.dim, allow, candidates.max(k), top))
    }

    /// The flat segment alone through the 1-bit prefilter keeping `candidates` (rescored
    /// as [`DenseIndex::search`] does: int8, then `f32`), whatever its size and whether or
    /// not the path passed its check (HNSW segments are ignored): for benchmarks and recall
    /// measurements of the 1-bit path (see the module docs).
    pub fn search_flat_bits(
        &self,
        query: &[f32],
        k: usize,
        candidates: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
    ) -> Result<Vec<Scored>> {
        self.flat_only(query, k, |flat, top| flat.scan_bits(query, self.dim, allow, candidates.max(k), top))
    }

    /// A checked query's top `k` from one scan of the flat segment alone.
    fn flat_only(&self, query: &[f32], k: usize, scan: impl FnOnce(&FlatSegment, &mut TopK)) -> Result<Vec<Scored>> {
        self.check_query(query)?;
        let mut top = TopK::new(k.min(self.len()));
        scan(&self.flat, &mut top);
        Ok(top.into_sorted())
    }

    /// Whether [`DenseIndex::search`] takes the 1-bit prefilter on this index now: past
    /// [`BITS_MIN_ROWS`] live flat rows and only if the path passed its check on them
    /// (building the codes if they do not exist yet; see the module docs).
    pub fn uses_bit_prefilter(&self) -> bool {
        let live = self.flat.live();
        live >= BITS_MIN_ROWS && self.flat.bits_usable(self.dim)
    }

    /// Like [`DenseIndex::search`] but scanning every segment exactly (the ground
    /// truth for recall).
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
    ) -> Result<Vec<Scored>> {
        self.check_query(query)?;
        let mut top = TopK::new(k.min(self.len()));
        self.flat.scan(query, self.dim, allow, &mut top);
        for seg in &self.hnsw {
            seg.scan(query, allow, &mut top);
        }
        Ok(top.into_sorted())
    }

    /// Turn flat segments past the threshold into HNSW segments and purge tombstones
    /// (see the module docs for the rebuild rule).
    pub fn build_hnsw(&mut self) {
        self.rebuild(false);
    }

    /// One step of an interruptible [`DenseIndex::build_hnsw`], for a host that must stay
    /// responsive or cancel (the browser's worker): rebuild one HNSW segment whose
    /// tombstones exceed the rebuild fraction (folded back into the flat segment when fewer
    /// than the threshold remain), else — when the flat segment holds at least the
    /// threshold of live vectors — seal its first `max_vectors` (at least 1) into a new
    /// HNSW segment; the rest stay flat (below the threshold they are cheap to scan).
    /// Returns the vectors this step put into HNSW, or `None` when there was nothing to do.
    /// Every step leaves a complete index, so stopping between steps loses nothing; with
    /// `max_vectors` at least the flat segment's live count the steps end where
    /// `build_hnsw` ends.
    pub fn build_hnsw_step(&mut self, max_vectors: usize) -> Option<usize> {
        let threshold = self.config.hnsw_threshold.max(1);
        let dirty = self.hnsw.iter().position(|seg| {
            seg.dead.count > 0 && seg.dead.count as f64 > REBUILD_TOMBSTONE_FRACTION * seg.slots() as f64
        });
        if let Some(i) = dirty {
            let seg = self.hnsw.remove(i);
            let live = seg.live_count();
            if live < threshold {
                for (id, v) in seg.live() {
                    self.flat.push(id, v);
                }
                self.reindex();
                return Some(0);
            }
            let (ids, points): (Vec<_>, Vec<_>) = seg.live().map(|(id, v)| (id, Vector(v.into()))).unzip();
            drop(seg);
            let rebuilt = self.build_segment(points, ids);
            self.hnsw.push(rebuilt);
            self.reindex();
            return Some(live);
        }
        self.compact_flat();
        let live = self.flat.live();
        if live < threshold {
            return None;
        }
        let n = max_vectors.max(1).min(live);
        let flat = std::mem::take(&mut self.flat);
        let mut sealed = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, (id, v)) in flat.live_rows(self.dim).enumerate() {
            if i < n {
                sealed.0.push(id);
                sealed.1.push(Vector(v.into()));
            } else {
                self.flat.push(id, v);
            }
        }
        drop(flat);
        let seg = self.build_segment(sealed.1, sealed.0);
        self.hnsw.push(seg);
        self.reindex();
        Some(n)
    }

    /// Purge every tombstone: rebuild every HNSW segment that has any, and build new
    /// HNSW segments as [`DenseIndex::build_hnsw`] does.
    pub fn compact(&mut self) {
        self.rebuild(true);
    }

    fn rebuild(&mut self, force: bool) {
        let threshold = self.config.hnsw_threshold.max(1);
        let mut kept = Vec::new();
        for seg in std::mem::take(&mut self.hnsw) {
            let live = seg.live_count();
            let dirty = seg.dead.count > 0
                && (force || seg.dead.count as f64 > REBUILD_TOMBSTONE_FRACTION * seg.slots() as f64);
            if !dirty {
                kept.push(seg);
            } else if live < threshold {
                for (id, v) in seg.live() {
                    self.flat.push(id, v);
                }
            } else {
                let (ids, points): (Vec<_>, Vec<_>) = seg.live().map(|(id, v)| (id, Vector(v.into()))).unzip();
                kept.push(self.build_segment(points, ids));
            }
        }
        self.compact_flat();
        if self.flat.live() >= threshold {
            let flat = std::mem::take(&mut self.flat);
            let (ids, points): (Vec<_>, Vec<_>) =
                flat.live_rows(self.dim).map(|(id, v)| (id, Vector(v.into()))).unzip();
            drop(flat);
            kept.push(self.build_segment(points, ids));
        }
        self.hnsw = kept;
        self.reindex();
    }

    fn build_segment(&self, points: Vec<Vector>, ids: Vec<ChunkId>) -> HnswSegment {
        let map = Builder::default()
            .ef_construction(self.config.ef_construction)
            .ef_search(self.config.ef_search)
            .seed(self.config.seed)
            .build(points, ids);
        HnswSegment { map, dead: Bits::default() }
    }

    fn compact_flat(&mut self) {
        if self.flat.dead.count == 0 {
            return;
        }
        let old = std::mem::take(&mut self.flat);
        for (id, v) in old.live_rows(self.dim) {
            self.flat.push(id, v);
        }
        for (slot, &id) in self.flat.ids.iter().enumerate() {
            self.loc.insert(id, Loc::Flat(slot as u32));
        }
    }

    /// Recompute the id → slot map from the segments.
    fn reindex(&mut self) {
        self.loc.clear();
        for (slot, &id) in self.flat.ids.iter().enumerate() {
            if !self.flat.dead.get(slot) {
                self.loc.insert(id, Loc::Flat(slot as u32));
            }
        }
        for (si, seg) in self.hnsw.iter().enumerate() {
            for (slot, &id) in seg.map.values.iter().enumerate() {
                if !seg.dead.get(slot) {
                    self.loc.insert(id, Loc::Hnsw(si as u32, slot as u32));
                }
            }
        }
    }

    /// Serialize (segments, tombstones, HNSW graphs). Layout, all integers little-endian:
    ///
    /// ```text
    /// "SDNS" | u32 version (1) | u32 dim
    /// u64 hnsw_threshold | u64 ef_construction | u64 ef_search | u64 seed
    /// u32 segment count, then per segment a u8 kind:
    ///   0 flat: u64 n | n × u32 id | n × dim × f32            (live rows only)
    ///   1 hnsw: u64 len | len bytes: bincode (varint) of instant-distance's HnswMap
    ///           | u64 t | t × u32 tombstoned slot
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.flat.data.len() * 4);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, DENSE_FORMAT_VERSION);
        put_u32(&mut out, self.dim as u32);
        for v in [self.config.hnsw_threshold, self.config.ef_construction, self.config.ef_search] {
            put_u64(&mut out, v as u64);
        }
        put_u64(&mut out, self.config.seed);
        put_u32(&mut out, 1 + self.hnsw.len() as u32);
        put_flat(&mut out, self.flat.live_rows(self.dim));
        for seg in &self.hnsw {
            match bincode_options().serialize(&seg.map) {
                Ok(blob) => {
                    out.push(KIND_HNSW);
                    put_u64(&mut out, blob.len() as u64);
                    out.extend_from_slice(&blob);
                    put_u64(&mut out, seg.dead.count as u64);
                    for slot in seg.dead.iter() {
                        put_u32(&mut out, slot as u32);
                    }
                }
                // bincode cannot fail on these types; should it, the vectors survive
                // as a flat segment and only the graph is lost.
                Err(_) => put_flat(&mut out, seg.live()),
            }
        }
        out
    }

    /// Deserialize what [`DenseIndex::to_bytes`] wrote. Any malformed input is
    /// `Error::Corrupt { section: "dense", .. }`; lengths are checked against the
    /// bytes present before anything is allocated, and HNSW graphs are validated so a
    /// search can never index out of bounds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let version = r.u32()?;
        if version != DENSE_FORMAT_VERSION {
            return Err(corrupt(format!("unknown dense encoding version {version}")));
        }
        let dim = r.u32()? as usize;
        if dim == 0 || dim > MAX_DIM {
            return Err(corrupt(format!("dimension {dim} out of range")));
        }
        let config = DenseConfig {
            // "Never" is usize::MAX natively, which does not fit a 32-bit usize: saturate,
            // so an index written natively loads in wasm (it means the same there).
            hnsw_threshold: usize::try_from(r.u64()?).unwrap_or(usize::MAX),
            ef_construction: r.usize()?,
            ef_search: r.usize()?,
            seed: r.u64()?,
        };
        let mut ix = DenseIndex::new(dim, config);
        let segments = r.u32()?;
        for _ in 0..segments {
            match r.u8()? {
                KIND_FLAT => {
                    let n = r.usize()?;
                    let ids = r.take(n.checked_mul(4).ok_or_else(|| corrupt("flat length overflow"))?)?;
                    let floats = n
                        .checked_mul(dim)
                        .and_then(|x| x.checked_mul(4))
                        .ok_or_else(|| corrupt("flat length overflow"))?;
                    let data = r.take(floats)?;
                    ix.flat.ids.extend(ids.chunks_exact(4).map(le_u32));
                    ix.flat.data.reserve(n * dim);
                    for c in data.chunks_exact(4) {
                        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        if !x.is_finite() {
                            return Err(corrupt("non-finite vector component"));
                        }
                        ix.flat.data.push(x);
                    }
                    let new = &ix.flat.data[ix.flat.data.len() - n * dim..];
                    ix.flat.codes.reserve(n * dim);
                    for row in new.chunks_exact(dim) {
                        ix.flat.scales.push(quantize_i8(row, &mut ix.flat.codes));
                    }
                }
                KIND_HNSW => {
                    let len = r.usize()?;
                    let blob = r.take(len)?;
                    let map = decode_hnsw(blob, dim)?;
                    let slots = map.values.len();
                    let t = r.usize()?;
                    let dead_bytes = r.take(t.checked_mul(4).ok_or_else(|| corrupt("tombstone count overflow"))?)?;
                    let mut dead = Bits::default();
                    for slot in dead_bytes.chunks_exact(4).map(le_u32) {
                        if slot as usize >= slots || !dead.set(slot as usize) {
                            return Err(corrupt(format!("tombstone {slot} invalid for a segment of {slots}")));
                        }
                    }
                    if slots == 0 {
                        return Err(corrupt("empty HNSW segment"));
                    }
                    ix.hnsw.push(HnswSegment { map, dead });
                }
                k => return Err(corrupt(format!("unknown segment kind {k}"))),
            }
        }
        if r.pos != bytes.len() {
            return Err(corrupt(format!("{} trailing bytes", bytes.len() - r.pos)));
        }
        if u32::try_from(ix.flat.ids.len()).is_err() {
            return Err(corrupt("flat segment too large"));
        }
        ix.reindex();
        let stored: usize = ix.flat.ids.len() + ix.hnsw.iter().map(|s| s.live_count()).sum::<usize>();
        if ix.loc.len() != stored {
            return Err(corrupt("a chunk id is stored twice"));
        }
        Ok(ix)
    }
}

/// Mean recall@k of [`DenseIndex::search`] against [`DenseIndex::search_exact`] over
/// `queries`: the fraction of the exact top-k ids that the index returns.
pub fn recall_at_k(index: &DenseIndex, queries: &[Vec<f32>], k: usize) -> Result<f32> {
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for q in queries {
        let exact = index.search_exact(q, k, None)?;
        if exact.is_empty() {
            continue;
        }
        let approx: std::collections::HashSet<ChunkId> = index.search(q, k, None)?.into_iter().map(|h| h.0).collect();
        let found = exact.iter().filter(|h| approx.contains(&h.0)).count();
        sum += found as f64 / exact.len() as f64;
        n += 1;
    }
    if n == 0 {
        return Err(Error::InvalidOption { name: "queries", detail: "no query with an exact result".into() });
    }
    Ok((sum / n as f64) as f32)
}

fn corrupt(detail: impl std::fmt::Display) -> Error {
    Error::corrupt("dense", detail)
}

fn bincode_options() -> impl Options + Copy {
    bincode::DefaultOptions::new().reject_trailing_bytes()
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_flat<'a>(out: &mut Vec<u8>, rows: impl Iterator<Item = (ChunkId, &'a [f32])>) {
    let rows: Vec<_> = rows.collect();
    out.push(KIND_FLAT);
    put_u64(out, rows.len() as u64);
    for (id, _) in &rows {
        put_u32(out, *id);
    }
    for (_, v) in &rows {
        for x in *v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

fn le_u32(c: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&c[..4]);
    u32::from_le_bytes(b)
}

/// Bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            corrupt(format!("truncated: need {n} bytes at offset {}, have {}", self.pos, self.bytes.len() - self.pos))
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(le_u32(self.take(4)?))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn usize(&mut self) -> Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| corrupt("length does not fit in memory"))
    }
}

// ---- validating an untrusted HnswMap ----
//
// instant-distance indexes its points and layers with the neighbour ids stored in the
// graph, so a crafted graph could make a search panic. Its fields are private, but its
// serde `Serialize` shows them: the decoded map is walked through `GraphCheck`, a
// serializer that writes nothing and checks every id as it goes by. The blob is decoded
// once; the walk costs one pass over memory. The walk knows instant-distance 0.6.1's
// field names and shapes (`Cargo.toml` pins that exact version); a layout it does not
// recognise fails the check rather than passing it.

/// What the walk has seen of a serialized `HnswMap<Vector, ChunkId>`:
/// `{ hnsw: { ef_search, points: [Vector([f32])], zero: [ZeroNode((PointId(u32),) × 64)],
/// layers: [[UpperNode((PointId(u32),) × 32)]] }, values: [u32] }`.
struct GraphCheck {
    dim: usize,
    /// The struct field being walked (`points`, `zero`, `layers`, `values`, …).
    field: &'static str,
    /// Sequence nesting inside that field.
    depth: usize,
    points: usize,
    zero_nodes: usize,
    values: Option<usize>,
    /// Nodes of the layer being walked, and of the one below it.
    layer: usize,
    below: Option<usize>,
    layers: usize,
}

#[derive(Debug)]
struct GraphError(String);

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GraphError {}

impl serde::ser::Error for GraphError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        GraphError(msg.to_string())
    }
}

fn graph_err<T>(msg: impl Into<String>) -> std::result::Result<T, GraphError> {
    Err(GraphError(msg.into()))
}

fn valid_id(id: u32, bound: usize) -> bool {
    id == u32::MAX || (id as usize) < bound
}

impl GraphCheck {
    fn seq_start(&mut self, len: Option<usize>) -> std::result::Result<(), GraphError> {
        self.depth += 1;
        match (self.field, self.depth) {
            ("points", 2) if len != Some(self.dim) => {
                graph_err(format!("HNSW vector of length {len:?}, expected {}", self.dim))
            }
            ("layers", 2) => {
                // Search descends from the top layer starting at point 0; candidates found
                // on a layer are looked up on the layer below, so sizes must not grow
                // upwards. `layers[0]` is the first layer above layer 0.
                let Some(m) = len else { return graph_err("HNSW layer without a length") };
                let below = self.below.unwrap_or(self.points);
                if m == 0 || m > below {
                    return graph_err(format!("HNSW layer {} has {m} nodes (layer below: {below})", self.layers + 1));
                }
                self.layers += 1;
                self.layer = m;
                self.below = Some(m);
                Ok(())
            }
            ("values", 1) => {
                self.values = len;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn id(&mut self, v: u32) -> std::result::Result<(), GraphError> {
        match self.field {
            "zero" if !valid_id(v, self.points) => graph_err("HNSW layer-0 neighbour out of range"),
            "layers" if !valid_id(v, self.layer) => {
                graph_err(format!("HNSW layer {} neighbour out of range", self.layers))
            }
            "zero" | "layers" | "values" => Ok(()),
            f => graph_err(format!("unexpected u32 in HNSW field {f:?}")),
        }
    }

    /// Check a decoded map: every id in range, every vector of `dim` finite components,
    /// as many points, values and layer-0 nodes.
    fn run(map: &HnswMap<Vector, ChunkId>, dim: usize) -> std::result::Result<(), GraphError> {
        let mut c = GraphCheck {
            dim,
            field: "",
            depth: 0,
            points: 0,
            zero_nodes: 0,
            values: None,
            layer: 0,
            below: None,
            layers: 0,
        };
        map.serialize(&mut c)?;
        let n = c.points;
        if c.values != Some(n) || c.zero_nodes != n {
            return graph_err(format!("HNSW has {n} points, {:?} values, {} layer-0 nodes", c.values, c.zero_nodes));
        }
        Ok(())
    }
}

impl serde::Serializer for &mut GraphCheck {
    type Ok = ();
    type Error = GraphError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = serde::ser::Impossible<(), GraphError>;
    type SerializeMap = serde::ser::Impossible<(), GraphError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = serde::ser::Impossible<(), GraphError>;

    fn serialize_bool(self, _: bool) -> std::result::Result<(), GraphError> {
        graph_err("unexpected bool in HNSW graph")
    }
    fn serialize_i8(self, _: i8) -> std::result::Result<(), GraphError> {
        graph_err("unexpected i8 in HNSW graph")
    }
    fn serialize_i16(self, _: i16) -> std::result::Result<(), GraphError> {
        graph_err("unexpected i16 in HNSW graph")
    }
    fn serialize_i32(self, _: i32) -> std::result::Result<(), GraphError> {
        graph_err("unexpected i32 in HNSW graph")
    }
    fn serialize_i64(self, _: i64) -> std::result::Result<(), GraphError> {
        graph_err("unexpected i64 in HNSW graph")
    }
    fn serialize_u8(self, _: u8) -> std::result::Result<(), GraphError> {
        graph_err("unexpected u8 in HNSW graph")
    }
    fn serialize_u16(self, _: u16) -> std::result::Result<(), GraphError> {
        graph_err("unexpected u16 in HNSW graph")
    }
    fn serialize_u32(self, v: u32) -> std::result::Result<(), GraphError> {
        self.id(v)
    }
    fn serialize_u64(self, _: u64) -> std::result::Result<(), GraphError> {
        // `ef_search` (usize).
        if self.field == "ef_search" {
            Ok(())
        } else {
            graph_err(format!("unexpected u64 in HNSW field {:?}", self.field))
        }
    }
    fn serialize_f32(self, v: f32) -> std::result::Result<(), GraphError> {
        if self.field != "points" {
            return graph_err(format!("unexpected f32 in HNSW field {:?}", self.field));
        }
        if !v.is_finite() {
            return graph_err("non-finite HNSW vector component");
        }
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> std::result::Result<(), GraphError> {
        graph_err("unexpected f64 in HNSW graph")
    }
    fn serialize_char(self, _: char) -> std::result::Result<(), GraphError> {
        graph_err("unexpected char in HNSW graph")
    }
    fn serialize_str(self, _: &str) -> std::result::Result<(), GraphError> {
        graph_err("unexpected string in HNSW graph")
    }
    fn serialize_bytes(self, _: &[u8]) -> std::result::Result<(), GraphError> {
        graph_err("unexpected bytes in HNSW graph")
    }
    fn serialize_none(self) -> std::result::Result<(), GraphError> {
        graph_err("unexpected option in HNSW graph")
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> std::result::Result<(), GraphError> {
        graph_err("unexpected option in HNSW graph")
    }
    fn serialize_unit(self) -> std::result::Result<(), GraphError> {
        graph_err("unexpected unit in HNSW graph")
    }
    fn serialize_unit_struct(self, _: &'static str) -> std::result::Result<(), GraphError> {
        graph_err("unexpected unit struct in HNSW graph")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> std::result::Result<(), GraphError> {
        graph_err("unexpected enum in HNSW graph")
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> std::result::Result<(), GraphError> {
        match name {
            "Vector" if self.field == "points" => self.points += 1,
            "ZeroNode" if self.field == "zero" => self.zero_nodes += 1,
            "PointId" | "UpperNode" => {}
            _ => return graph_err(format!("unexpected {name} in HNSW field {:?}", self.field)),
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> std::result::Result<(), GraphError> {
        graph_err("unexpected enum in HNSW graph")
    }
    fn serialize_seq(self, len: Option<usize>) -> std::result::Result<Self, GraphError> {
        self.seq_start(len)?;
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self, GraphError> {
        // Fixed-size neighbour arrays: no nesting level of their own.
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> std::result::Result<Self, GraphError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, GraphError> {
        graph_err("unexpected enum in HNSW graph")
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self::SerializeMap, GraphError> {
        graph_err("unexpected map in HNSW graph")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> std::result::Result<Self, GraphError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, GraphError> {
        graph_err("unexpected enum in HNSW graph")
    }
}

impl serde::ser::SerializeSeq for &mut GraphCheck {
    type Ok = ();
    type Error = GraphError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> std::result::Result<(), GraphError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> std::result::Result<(), GraphError> {
        self.depth -= 1;
        Ok(())
    }
}

impl serde::ser::SerializeTuple for &mut GraphCheck {
    type Ok = ();
    type Error = GraphError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> std::result::Result<(), GraphError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> std::result::Result<(), GraphError> {
        Ok(())
    }
}

impl serde::ser::SerializeTupleStruct for &mut GraphCheck {
    type Ok = ();
    type Error = GraphError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> std::result::Result<(), GraphError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> std::result::Result<(), GraphError> {
        Ok(())
    }
}

impl serde::ser::SerializeStruct for &mut GraphCheck {
    type Ok = ();
    type Error = GraphError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> std::result::Result<(), GraphError> {
        match key {
            "hnsw" | "ef_search" | "points" | "zero" | "layers" | "values" => {
                self.field = key;
                self.depth = 0;
            }
            _ => return graph_err(format!("unexpected HNSW field {key:?}")),
        }
        value.serialize(&mut **self)
    }
    fn end(self) -> std::result::Result<(), GraphError> {
        Ok(())
    }
}

/// Decode (once) and validate a serialized `HnswMap` whose vectors have `dim` components.
fn decode_hnsw(blob: &[u8], dim: usize) -> Result<HnswMap<Vector, ChunkId>> {
    let map: HnswMap<Vector, ChunkId> = bincode_options()
        .with_limit(blob.len() as u64)
        .deserialize(blob)
        .map_err(|e| corrupt(format!("HNSW graph: {e}")))?;
    GraphCheck::run(&map, dim).map_err(|e| corrupt(e.0))?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn seed() -> u64 {
        let seed = std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5077_0042);
        println!("SOTTO_SEED={seed}");
        seed
    }

    fn normalize(mut v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    fn gaussian(rng: &mut StdRng) -> f32 {
        // Box–Muller.
        let (u, v): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// `n` unit vectors around `clusters` random centres.
    fn clustered(rng: &mut StdRng, n: usize, dim: usize, clusters: usize, spread: f32) -> Vec<Vec<f32>> {
        let centres: Vec<Vec<f32>> =
            (0..clusters).map(|_| normalize((0..dim).map(|_| gaussian(rng)).collect())).collect();
        (0..n)
            .map(|_| {
                let c = &centres[rng.gen_range(0..clusters)];
                normalize(c.iter().map(|x| x + spread * gaussian(rng)).collect())
            })
            .collect()
    }

    fn random_unit(rng: &mut StdRng, n: usize, dim: usize) -> Vec<Vec<f32>> {
        (0..n).map(|_| normalize((0..dim).map(|_| gaussian(rng)).collect())).collect()
    }

    fn config(threshold: usize) -> DenseConfig {
        DenseConfig { hnsw_threshold: threshold, ef_construction: 100, ef_search: 100, seed: 7 }
    }

    fn filled(vectors: &[Vec<f32>], threshold: usize) -> DenseIndex {
        let mut ix = DenseIndex::new(vectors[0].len(), config(threshold));
        for (i, v) in vectors.iter().enumerate() {
            ix.add(i as ChunkId, v).unwrap();
        }
        ix
    }

    #[test]
    fn a_stepwise_hnsw_build_ends_as_the_whole_build_and_every_step_is_a_complete_index() {
        let mut rng = StdRng::seed_from_u64(seed());
        let vectors = random_unit(&mut rng, 300, 16);
        let queries = random_unit(&mut rng, 20, 16);
        let exact = filled(&vectors, 100);
        let want: Vec<Vec<Scored>> = queries.iter().map(|q| exact.search_exact(q, 10, None).unwrap()).collect();

        // One step as large as the flat segment: the whole build's segments.
        let mut whole = filled(&vectors, 100);
        whole.build_hnsw();
        let mut one = filled(&vectors, 100);
        assert_eq!(one.build_hnsw_step(usize::MAX), Some(300));
        assert_eq!(one.build_hnsw_step(usize::MAX), None);
        assert_eq!(one.stats(), whole.stats());
        for q in &queries {
            assert_eq!(one.search(q, 10, None).unwrap(), whole.search(q, 10, None).unwrap());
        }

        // Steps of 80: 80, 80, 80 sealed, then 60 left flat (below the threshold of 100).
        let mut steps = filled(&vectors, 100);
        let mut sealed = Vec::new();
        while let Some(n) = steps.build_hnsw_step(80) {
            sealed.push(n);
            // Every vector is still found, with its exact score, after every step.
            assert_eq!(steps.len(), 300);
            for (i, v) in vectors.iter().enumerate().step_by(37) {
                let top = steps.search_exact(v, 1, None).unwrap();
                assert_eq!(top[0].0, i as ChunkId, "after {} steps", sealed.len());
            }
        }
        assert_eq!(sealed, [80, 80, 80]);
        let kinds: Vec<(SegmentKind, usize)> = steps.stats().segments.iter().map(|s| (s.kind, s.live)).collect();
        assert_eq!(kinds.iter().filter(|k| k.0 == SegmentKind::Hnsw).count(), 3, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| k.0 == SegmentKind::Flat).map(|k| k.1).sum::<usize>(), 60);
        // Approximate search over the segments still finds the exact top 10 (almost all of it).
        let hits: usize = queries
            .iter()
            .zip(&want)
            .map(|(q, w)| steps.search(q, 10, None).unwrap().iter().filter(|h| w.contains(h)).count())
            .sum();
        assert!(hits >= 190, "recall@10 {} over 20 queries", hits as f32 / 200.0);
        // It survives the file format.
        let back = DenseIndex::from_bytes(&steps.to_bytes()).unwrap();
        assert_eq!(back.stats(), steps.stats());

        // A segment mostly deleted is rebuilt by a step; one below the threshold goes flat.
        for id in 0..70 {
            steps.remove(id);
        }
        assert_eq!(steps.build_hnsw_step(80), Some(0), "the first segment (10 live of 80) folds back into flat");
        let flat: usize = steps.stats().segments.iter().filter(|s| s.kind == SegmentKind::Flat).map(|s| s.live).sum();
        assert_eq!(flat, 70);
        assert_eq!(steps.len(), 230);
        assert_eq!(steps.build_hnsw_step(0), None, "70 flat vectors: under the threshold, nothing to do");
    }

    #[test]
    fn dot_i8_matches_the_scalar_sum_on_odd_shapes() {
        let mut rng = StdRng::seed_from_u64(seed());
        for n in [0usize, 1, 3, 15, 16, 17, 31, 33, 383, 384, 385, 1001] {
            for _ in 0..5 {
                let a: Vec<i8> = (0..n).map(|_| rng.gen_range(-127i8..=127)).collect();
                let b: Vec<i8> = (0..n).map(|_| rng.gen_range(-127i8..=127)).collect();
                let want: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
                assert_eq!(dot_i8(&a, &b) as i64, want, "n = {n}");
            }
            // Extremes: every product 127², no overflow.
            let max = vec![127i8; n];
            assert_eq!(dot_i8(&max, &max) as i64, 16_129 * n as i64);
        }
        // The longest dimension accepted cannot overflow either.
        let big = vec![-127i8; MAX_DIM];
        assert_eq!(dot_i8(&big, &big) as i64, 16_129 * MAX_DIM as i64);
    }

    #[test]
    fn quantized_dot_is_within_its_error_bound_of_the_f32_dot() {
        let mut rng = StdRng::seed_from_u64(seed());
        for dim in [1usize, 5, 17, 100, 383, 385] {
            for v in random_unit(&mut rng, 20, dim).chunks_exact(2) {
                let (a, b) = (&v[0], &v[1]);
                let (mut qa, mut qb) = (Vec::new(), Vec::new());
                let (sa, sb) = (quantize_i8(a, &mut qa), quantize_i8(b, &mut qb));
                assert_eq!((qa.len(), qb.len()), (dim, dim));
                let approx = sa * sb * dot_i8(&qa, &qb) as f32;
                // |x − s·q| ≤ s/2 per component, so the error is at most
                // sb/2·‖a‖₁ + sa/2·‖b‖₁ + dim·sa·sb/4 (plus rounding of the floats).
                let l1 = |x: &[f32]| x.iter().map(|c| c.abs()).sum::<f32>();
                let bound = sb / 2.0 * l1(a) + sa / 2.0 * l1(b) + dim as f32 * sa * sb / 4.0 + 1e-5;
                let exact = dot(a, b);
                assert!((approx - exact).abs() <= bound, "dim {dim}: {approx} vs {exact}, bound {bound}");
            }
        }
        let mut zeros = Vec::new();
        assert_eq!(quantize_i8(&[0.0; 7], &mut zeros), 0.0);
        assert_eq!(zeros, [0i8; 7]);
    }

    #[test]
    fn int8_search_has_recall_1_exact_scores_and_respects_filters_and_tombstones() {
        let seed = seed();
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = 385; // odd: the kernel's tail runs
        let n = INT8_MIN_ROWS + 904;
        let vs = random_unit(&mut rng, n, dim);
        let queries = random_unit(&mut rng, 40, dim);
        let mut ix = filled(&vs, usize::MAX);
        assert_eq!(ix.stats().segments.len(), 1);
        // search() takes the int8 path here; search_exact() scans the floats.
        let recall = recall_at_k(&ix, &queries, 10).unwrap();
        println!("int8 recall@10 = {recall:.4} (seed {seed})");
        assert!(recall >= 0.99, "recall@10 = {recall} < 0.99 with SOTTO_SEED={seed}");
        for q in &queries {
            for (id, score) in ix.search(q, 10, None).unwrap() {
                assert_eq!(score, dot(q, ix.vector(id).unwrap()), "scores are rescored exactly");
            }
        }
        // An exact query vector is found first with its exact score.
        let hit = ix.search(&vs[123], 1, None).unwrap();
        assert_eq!(hit, vec![(123, dot(&vs[123], &vs[123]))]);
        // Tombstones and filters.
        for id in 0..200 {
            ix.remove(id);
        }
        let allow = |id: ChunkId| id % 3 == 0;
        for q in queries.iter().take(10) {
            let got = ix.search(q, 10, Some(&allow)).unwrap();
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|&(id, _)| id >= 200 && id % 3 == 0), "{got:?}");
        }
        assert!(ix.search(&vs[123], 5, None).unwrap().iter().all(|h| h.0 != 123));
        // Codes are derived on load: the loaded index answers the same.
        let back = DenseIndex::from_bytes(&ix.to_bytes()).unwrap();
        for q in queries.iter().take(10) {
            assert_eq!(back.search(q, 10, None).unwrap(), ix.search(q, 10, None).unwrap());
        }
        // The forced int8 path on a small segment agrees with exact search too.
        let small = filled(&vs[..300], usize::MAX);
        for q in queries.iter().take(10) {
            assert_eq!(small.search_flat_int8(q, 10, 64, None).unwrap(), small.search_exact(q, 10, None).unwrap());
        }
    }

    #[test]
    fn one_bit_prefilter_has_high_recall_exact_scores_and_respects_filters_and_tombstones() {
        let seed = seed();
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = 385; // not a multiple of 64: the last word of each row is partial
                       // Clustered vectors around a shared offset, like sentence embeddings: the prefilter
                       // must center them (the raw signs of the offset's coordinates say nothing).
        let n = 6000;
        let vs = offset_clusters(&mut rng, n, dim);
        let queries: Vec<Vec<f32>> = vs.iter().step_by(150).cloned().collect();
        let mut ix = filled(&vs, usize::MAX);
        // The default fraction of the rows as candidates.
        let candidates = bit_candidates(10, n);
        let mut found = 0;
        for q in &queries {
            let exact = ix.search_exact(q, 10, None).unwrap();
            let got = ix.search_flat_bits(q, 10, candidates, None).unwrap();
            for (id, score) in &got {
                assert_eq!(*score, dot(q, ix.vector(*id).unwrap()), "scores are rescored exactly");
            }
            found += exact.iter().filter(|h| got.contains(h)).count();
        }
        let recall = found as f64 / (10 * queries.len()) as f64;
        assert!(recall >= 0.99, "1-bit recall@10 = {recall} < 0.99 with SOTTO_SEED={seed}");
        // Rows added after the codes exist get codes too: a new exact match is found first.
        let extra = random_unit(&mut rng, 1, dim).remove(0);
        ix.add(n as ChunkId, &extra).unwrap();
        assert_eq!(ix.search_flat_bits(&extra, 1, candidates, None).unwrap()[0].0, n as ChunkId);
        // Tombstones and filters.
        for id in 0..200 {
            ix.remove(id);
        }
        let allow = |id: ChunkId| id % 3 == 0;
        for q in queries.iter().take(10) {
            let got = ix.search_flat_bits(q, 10, candidates, Some(&allow)).unwrap();
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|&(id, _)| id >= 200 && id % 3 == 0), "{got:?}");
        }
        // Candidates beyond the live rows: every allowed row is rescored, i.e. exact search.
        let small = filled(&vs[..300], usize::MAX);
        for q in queries.iter().take(10) {
            assert_eq!(small.search_flat_bits(q, 10, 1000, None).unwrap(), small.search_exact(q, 10, None).unwrap());
        }
    }

    /// Unit vectors around a shared offset in 40 clusters, like sentence embeddings.
    fn offset_clusters(rng: &mut StdRng, n: usize, dim: usize) -> Vec<Vec<f32>> {
        let offset = random_unit(rng, 1, dim).remove(0);
        let centres = random_unit(rng, 40, dim);
        (0..n)
            .map(|i| {
                let c = &centres[i % centres.len()];
                let noise = random_unit(rng, 1, dim).remove(0);
                let v: Vec<f32> = (0..dim).map(|j| 2.0 * offset[j] + c[j] + 0.6 * noise[j]).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect()
    }

    #[test]
    fn the_one_bit_path_is_taken_only_where_its_check_passes() {
        let seed = seed();
        let mut rng = StdRng::seed_from_u64(seed);
        let n = BITS_MIN_ROWS + 100;
        // Clustered dense vectors: the check passes, search() prefilters, and still finds
        // an exact match first with its exact score.
        let vs = offset_clusters(&mut rng, n, 64);
        let ix = filled(&vs, usize::MAX);
        assert!(ix.uses_bit_prefilter(), "clustered vectors should pass the check (SOTTO_SEED={seed})");
        assert_eq!(ix.search(&vs[77], 1, None).unwrap(), vec![(77, dot(&vs[77], &vs[77]))]);
        let small = filled(&vs[..BITS_MIN_ROWS - 1], usize::MAX);
        assert!(!small.uses_bit_prefilter(), "below BITS_MIN_ROWS the int8 scan is used");
        drop((vs, ix, small));
        // Sparse vectors (six non-zero components of 384, as feature hashing makes them):
        // Hamming distance over mostly-constant bits says little, the check fails, and
        // search() keeps the int8 scan (recall 1 against exact on these queries).
        let sparse: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                let mut v = vec![0.0f32; 384];
                for _ in 0..6 {
                    v[rng.gen_range(0..384)] += if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect();
        let ix = filled(&sparse, usize::MAX);
        assert!(!ix.uses_bit_prefilter(), "sparse vectors should fail the check (SOTTO_SEED={seed})");
        for q in sparse.iter().step_by(4000) {
            assert_eq!(
                ix.search(q, 10, None).unwrap(),
                ix.search_flat_int8(q, 10, rescore_candidates(10), None).unwrap()
            );
        }
    }

    #[test]
    fn dot_matches_naive() {
        for n in [0, 1, 7, 8, 9, 31, 384] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4);
        }
    }

    #[test]
    fn flat_search_add_remove_and_errors() {
        let mut ix = DenseIndex::new(3, DenseConfig::default());
        assert!(ix.search(&[1.0, 0.0, 0.0], 5, None).unwrap().is_empty());
        ix.add(10, &[1.0, 0.0, 0.0]).unwrap();
        ix.add(11, &[0.0, 1.0, 0.0]).unwrap();
        ix.add(12, &[0.6, 0.8, 0.0]).unwrap();
        assert!(matches!(ix.add(13, &[1.0, 0.0]), Err(Error::DimensionMismatch { expected: 3, got: 2 })));
        assert!(matches!(ix.add(13, &[0.0, f32::NAN, 0.0]), Err(Error::NonFiniteVector { index: 1 })));
        // An existing id given a bad vector keeps its old one.
        assert!(matches!(ix.add(12, &[0.0, 0.0, f32::NEG_INFINITY]), Err(Error::NonFiniteVector { index: 2 })));
        assert_eq!(ix.vector(12), Some(&[0.6, 0.8, 0.0][..]));
        // The same check, up front, without changing anything.
        assert!(ix.check_vector(&[0.0, 1.0, 0.0]).is_ok());
        assert!(matches!(ix.check_vector(&[f32::INFINITY, 0.0, 0.0]), Err(Error::NonFiniteVector { index: 0 })));
        assert!(matches!(ix.check_vector(&[1.0; 4]), Err(Error::DimensionMismatch { expected: 3, got: 4 })));
        assert!(matches!(ix.search(&[1.0], 1, None), Err(Error::DimensionMismatch { .. })));
        assert!(matches!(ix.search(&[f32::INFINITY, 0.0, 0.0], 1, None), Err(Error::InvalidQuery(_))));
        assert_eq!(ix.len(), 3);
        let hits = ix.search(&[1.0, 0.0, 0.0], 2, None).unwrap();
        assert_eq!(hits, vec![(10, 1.0), (12, 0.6)]);
        // k larger than len returns all; k = 0 returns none.
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], 100, None).unwrap().len(), 3);
        assert!(ix.search(&[1.0, 0.0, 0.0], 0, None).unwrap().is_empty());
        // Filter.
        let odd = |id: ChunkId| id % 2 == 1;
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], 5, Some(&odd)).unwrap(), vec![(11, 0.0)]);
        // Remove = tombstone; upsert replaces.
        assert!(ix.remove(10));
        assert!(!ix.remove(10));
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], 1, None).unwrap()[0].0, 12);
        ix.add(11, &[1.0, 0.0, 0.0]).unwrap();
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], 1, None).unwrap(), vec![(11, 1.0)]);
        assert_eq!(ix.vector(11), Some(&[1.0, 0.0, 0.0][..]));
        assert_eq!(ix.stats().segments[0], SegmentStats { kind: SegmentKind::Flat, live: 2, tombstones: 2 });
    }

    #[test]
    fn upsert_that_triggers_flat_compaction_keeps_slots_right() {
        let mut ix = DenseIndex::new(2, DenseConfig::default());
        for id in 0..2100 {
            ix.add(id, &[1.0, id as f32]).unwrap();
        }
        for id in 0..1050 {
            ix.remove(id);
        }
        assert_eq!(ix.stats().segments[0].tombstones, 1050);
        // This replacement's removal makes the dead outnumber the live: compaction.
        ix.add(2000, &[0.0, 1.0]).unwrap();
        assert_eq!(ix.stats().segments[0].tombstones, 0);
        assert_eq!(ix.vector(2000), Some(&[0.0, 1.0][..]));
        assert_eq!(ix.vector(2099), Some(&[1.0, 2099.0][..]));
        assert_eq!(ix.len(), 1050);
        assert_eq!(ix.search(&[0.0, 1.0], 1, None).unwrap()[0].0, 2099);
        assert_eq!(ix.search(&[-1.0, 0.0], 1, None).unwrap()[0].0, 2000);
    }

    #[test]
    fn ties_are_broken_by_id() {
        let mut ix = DenseIndex::new(2, DenseConfig::default());
        for id in [5, 3, 9, 1] {
            ix.add(id, &[1.0, 0.0]).unwrap();
        }
        let ids: Vec<_> = ix.search(&[1.0, 0.0], 3, None).unwrap().into_iter().map(|h| h.0).collect();
        assert_eq!(ids, [1, 3, 5]);
    }

    #[test]
    fn hnsw_segments_search_filter_tombstones_and_round_trip() {
        let mut rng = StdRng::seed_from_u64(seed());
        let vs = clustered(&mut rng, 600, 16, 20, 0.3);
        let mut ix = filled(&vs, 200);
        ix.build_hnsw();
        assert_eq!(ix.stats().segments.len(), 2);
        assert_eq!(ix.stats().segments[1].kind, SegmentKind::Hnsw);
        assert_eq!(ix.stats().segments[0].live, 0);
        // A second batch stays flat until it reaches the threshold.
        let more = clustered(&mut rng, 100, 16, 20, 0.3);
        for (i, v) in more.iter().enumerate() {
            ix.add(10_000 + i as ChunkId, v).unwrap();
        }
        ix.build_hnsw();
        assert_eq!(ix.stats().segments[0].live, 100);
        assert_eq!(ix.len(), 700);
        let q = &vs[3];
        let hits = ix.search(q, 10, None).unwrap();
        assert_eq!(hits[0].0, 3);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        // Tombstones are respected in HNSW segments.
        assert!(ix.remove(3));
        assert!(ix.search(q, 10, None).unwrap().iter().all(|h| h.0 != 3));
        assert_eq!(ix.search(q, 5000, None).unwrap().len(), 699);
        // Selective filter: exact answer among the allowed ids.
        let allow = |id: ChunkId| id % 37 == 0;
        let got = ix.search(q, 10, Some(&allow)).unwrap();
        let want = ix.search_exact(q, 10, Some(&allow)).unwrap();
        assert_eq!(got, want);
        assert!(got.iter().all(|h| h.0 % 37 == 0) && got.len() == 10);
        // Broad filter goes through the graph and still returns k allowed hits.
        let even = |id: ChunkId| id % 2 == 0;
        let got = ix.search(q, 10, Some(&even)).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|h| h.0 % 2 == 0));
        // k above ef_search falls back to an exact scan of the segment.
        assert_eq!(ix.search(q, 300, None).unwrap(), ix.search_exact(q, 300, None).unwrap());

        // Round trip keeps graph, tombstones and results.
        let bytes = ix.to_bytes();
        let back = DenseIndex::from_bytes(&bytes).unwrap();
        assert_eq!(back.stats(), ix.stats());
        assert_eq!(back.config(), ix.config());
        for q in vs.iter().take(20) {
            assert_eq!(back.search(q, 10, None).unwrap(), ix.search(q, 10, None).unwrap());
        }
        assert_eq!(back.to_bytes(), bytes);
        let cloned = ix.clone();
        assert_eq!(cloned.search(q, 10, None).unwrap(), ix.search(q, 10, None).unwrap());

        // Purging: a few tombstones keep the graph; compact() rebuilds it.
        ix.build_hnsw();
        assert_eq!(ix.stats().segments[1].tombstones, 1);
        ix.compact();
        assert_eq!(ix.stats().segments[1], SegmentStats { kind: SegmentKind::Hnsw, live: 599, tombstones: 0 });
        assert_eq!(ix.len(), 699);
        assert!(ix.vector(3).is_none());
        assert_eq!(ix.vector(4), Some(&vs[4][..]));
        // Deleting most of a segment folds it back into the flat one.
        for i in 0..520 {
            ix.remove(i);
        }
        ix.build_hnsw();
        let st = ix.stats();
        assert_eq!(st.segments.len(), 1);
        assert_eq!(st.segments[0].live, 180);
        assert_eq!(ix.len(), 180);
        assert_eq!(ix.search(&vs[550], 1, None).unwrap()[0].0, 550);
    }

    #[test]
    fn hnsw_recall_at_10_on_10k_clustered_vectors() {
        // A moderate dimension keeps the test build affordable; recall on real 384-d
        // embeddings is the integration test's job.
        let seed = seed();
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = 32;
        let vs = clustered(&mut rng, 10_000, dim, 50, 0.3);
        let queries = clustered(&mut rng, 200, dim, 50, 0.3);
        let mut ix =
            DenseIndex::new(dim, DenseConfig { hnsw_threshold: 10_000, ef_construction: 100, ef_search: 100, seed });
        for (i, v) in vs.iter().enumerate() {
            ix.add(i as ChunkId, v).unwrap();
        }
        ix.build_hnsw();
        assert_eq!(ix.stats().segments[1].live, 10_000);
        let recall = recall_at_k(&ix, &queries, 10).unwrap();
        println!("recall@10 = {recall:.4} (seed {seed})");
        assert!(recall >= 0.98, "recall@10 = {recall} < 0.98 with SOTTO_SEED={seed}");
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let mut rng = StdRng::seed_from_u64(seed());
        let vs = random_unit(&mut rng, 300, 8);
        let mut ix = filled(&vs, 200);
        ix.build_hnsw();
        for i in 0..10 {
            ix.add(1000 + i, &vs[i as usize]).unwrap();
        }
        ix.remove(5);
        let bytes = ix.to_bytes();
        assert!(DenseIndex::from_bytes(&bytes).is_ok());
        // Every truncation fails cleanly.
        for cut in (0..bytes.len()).step_by(101).chain([bytes.len() - 1]) {
            assert!(
                matches!(DenseIndex::from_bytes(&bytes[..cut]), Err(Error::Corrupt { ref section, .. }) if section == "dense")
            );
        }
        // Trailing garbage and a wrong magic.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(DenseIndex::from_bytes(&longer).is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(DenseIndex::from_bytes(&bad).is_err());
        // Bit flips: an error or a usable index, never a panic.
        for i in (0..bytes.len()).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            if let Ok(ix) = DenseIndex::from_bytes(&b) {
                let _ = ix.search(&vs[0], 10, None).unwrap();
                let _ = ix.search(&vs[0], 10, Some(&|id| id % 3 == 0)).unwrap();
            }
        }
    }

    #[test]
    fn crafted_graph_with_out_of_range_ids_is_rejected() {
        #[derive(Serialize)]
        struct ZeroOut([u32; 32], [u32; 32]);
        #[derive(Serialize)]
        struct UpperOut([u32; 32]);
        #[derive(Serialize)]
        struct HnswOut {
            ef_search: usize,
            points: Vec<Vector>,
            zero: Vec<ZeroOut>,
            layers: Vec<Vec<UpperOut>>,
        }
        #[derive(Serialize)]
        struct MapOut {
            hnsw: HnswOut,
            values: Vec<ChunkId>,
        }
        let blob = |zero_id: u32, upper_id: u32, layer_len: usize| {
            let mut z = [u32::MAX; 32];
            z[0] = zero_id;
            let mut u = [u32::MAX; 32];
            u[0] = upper_id;
            let map = MapOut {
                hnsw: HnswOut {
                    ef_search: 10,
                    points: vec![Vector(vec![1.0, 0.0].into()), Vector(vec![0.0, 1.0].into())],
                    zero: vec![ZeroOut(z, [u32::MAX; 32]), ZeroOut([u32::MAX; 32], [u32::MAX; 32])],
                    layers: vec![(0..layer_len).map(|_| UpperOut(u)).collect()],
                },
                values: vec![1, 2],
            };
            bincode_options().serialize(&map).unwrap()
        };
        // The layout written here is instant-distance's: a valid graph decodes and searches.
        let ok = decode_hnsw(&blob(1, 0, 1), 2).unwrap();
        let mut s = Search::default();
        assert_eq!(ok.search(&Vector(vec![0.0, 1.0].into()), &mut s).map(|i| *i.value).collect::<Vec<_>>(), [2, 1]);
        assert!(decode_hnsw(&blob(2, 0, 1), 2).is_err(), "layer-0 id out of range");
        assert!(decode_hnsw(&blob(1, 1, 1), 2).is_err(), "upper id out of range");
        assert!(decode_hnsw(&blob(1, 0, 3), 2).is_err(), "upper layer larger than the one below");
        assert!(decode_hnsw(&blob(1, 0, 0), 2).is_err(), "empty upper layer");
        assert!(decode_hnsw(&blob(1, 0, 1), 3).is_err(), "dimension mismatch");
        // Every other way the counts can disagree.
        let custom = |points: usize, zero: usize, values: usize, first: f32| {
            let map = MapOut {
                hnsw: HnswOut {
                    ef_search: 10,
                    points: (0..points).map(|_| Vector(vec![first, 1.0].into())).collect(),
                    zero: (0..zero).map(|_| ZeroOut([u32::MAX; 32], [u32::MAX; 32])).collect(),
                    layers: vec![],
                },
                values: (0..values as u32).collect(),
            };
            bincode_options().serialize(&map).unwrap()
        };
        assert!(decode_hnsw(&custom(2, 2, 2, 0.0), 2).is_ok());
        assert!(decode_hnsw(&custom(2, 1, 2, 0.0), 2).is_err(), "fewer layer-0 nodes than points");
        assert!(decode_hnsw(&custom(2, 2, 3, 0.0), 2).is_err(), "more values than points");
        assert!(decode_hnsw(&custom(2, 2, 2, f32::NAN), 2).is_err(), "non-finite point");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            prop_assert!(DenseIndex::from_bytes(&bytes).is_err());
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&1u32.to_le_bytes());
            with_magic.extend_from_slice(&bytes);
            let _ = DenseIndex::from_bytes(&with_magic);
        }

        #[test]
        fn flat_round_trip_and_exactness(
            vs in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 4), 1..40),
            removed in prop::collection::vec(0u32..40, 0..10),
            k in 0usize..50,
        ) {
            let mut ix = DenseIndex::new(4, DenseConfig::default());
            for (i, v) in vs.iter().enumerate() {
                ix.add(i as ChunkId, v).unwrap();
            }
            for r in &removed {
                ix.remove(*r);
            }
            let back = DenseIndex::from_bytes(&ix.to_bytes()).unwrap();
            prop_assert_eq!(back.len(), ix.len());
            let q = [0.5, -0.5, 0.25, 1.0];
            let got = back.search(&q, k, None).unwrap();
            prop_assert_eq!(&got, &ix.search(&q, k, None).unwrap());
            prop_assert_eq!(got.len(), k.min(ix.len()));
            // Brute force reference.
            let mut want: Vec<Scored> = vs.iter().enumerate()
                .filter(|(i, _)| !removed.contains(&(*i as u32)))
                .map(|(i, v)| (i as ChunkId, dot(&q, v))).collect();
            super::super::fusion::sort_scored(&mut want);
            want.truncate(k);
            prop_assert_eq!(got, want);
        }
    }
}

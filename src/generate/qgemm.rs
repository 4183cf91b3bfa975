//! Q8_0 weights × int8 activations for many tokens at once: the matrix–matrix product of
//! prefill.
//!
//! candle's `QMatMul` multiplies a multi-row input one row at a time (quantize the row, one
//! `vec_dot` per weight row), so a 300-token prompt streams every weight matrix 300 times.
//! Here all prompt tokens are quantized first (Q8_0-style: blocks of 32 values, `i8` plus a
//! scale), and each weight block, once loaded, is multiplied with several tokens while it
//! sits in registers (register tiling: `R` weight rows × `T` tokens per micro-kernel), with
//! exact `i32` accumulation inside a block and `f32` across blocks. Token tiles are the outer
//! loop: a tile's activations stay in L1 while the weight matrix (≤ 1 MB for SmolLM2) streams
//! from L2.
//!
//! The arithmetic is the one candle uses for Q8_0 (same activation quantization, same
//! per-block `i32` dot scaled by `d_w · d_x` with both scales rounded to f16), so results
//! differ from candle's only by the order of the `f32` additions.
//!
//! Measured (December 2026, a 2-core AMD EPYC with AVX-512 shared with other builds, so
//! ratios within one run only; `examples/qgemm_speed`, `examples/prefill_speed`,
//! 1 thread):
//!
//! * before this module, prefill of a 341-token SmolLM2 RAG prompt spent ≈ 78 % of its time
//!   in candle's Q8_0 `vec_dot`, activation quantization and f16 scale conversion, ≈ 2 % in
//!   attention's f32 GEMM, ≈ 2 % in `exp` (softmax, SiLU);
//! * AVX2 kernel: 52–66 GOP/s (1 MAC = 2 ops) on the 576-row projections, 25–26 GOP/s on the
//!   1536-wide ones (row panels; 11–16 without), against 3–10 GOP/s for candle's per-token
//!   `QMatMul` on its AVX2 path. candle 0.11.1's own AVX512-VNNI repacked path (`vpdpbusd`,
//!   only for `k % 256 == 0`, i.e. `ffn_down`) reached 33–86 GOP/s: a VNNI variant of this
//!   kernel is the next native step;
//! * prefill 2.5–2.7× faster natively (e.g. 46 → 119 tok/s; decode unchanged, it still runs
//!   candle's `QMatMul`); in Node (wasm, SIMD128, 1 thread) 29.6 → 41.7 tok/s, where the
//!   SIMD128 kernel is still ≈ 45 % of the run (≈ 7 GMAC/s): its per-block scale work and the
//!   in-loop sign extension of both operands are what to remove next (pre-widened i16
//!   operands, a 4-row transposed reduction so one f32x4 multiply scales four outputs).
//!
//! Three implementations of the same product: [`matmul_scalar`] (the reference), AVX2 + FMA
//! on x86-64 when the CPU has them (detected at run time), and SIMD128 on wasm32 when the
//! build enables `simd128` (`.cargo/config.toml` does). Tests compare each against the
//! scalar one on random shapes, including token counts and row counts that are not
//! multiples of the tiles.

use half::f16;

use crate::error::{Error, Result};

/// Values per Q8_0 block.
pub(crate) const QK: usize = 32;
/// Bytes per Q8_0 block: an f16 scale, then 32 `i8`.
pub(crate) const BLOCK_BYTES: usize = 2 + QK;

fn shape_err(detail: String) -> Error {
    Error::model("q8_0 matmul", detail)
}

/// Rows of activations quantized per block of 32 values, as Q8_0 does it: `d = max|x| / 127`,
/// `q = round(x / d)`, and `d` kept (rounded to f16, like the format) for the product.
#[derive(Debug, Default, Clone)]
pub(crate) struct QuantizedRows {
    rows: usize,
    k: usize,
    qs: Vec<i8>,
    /// `rows × k / 32` scales.
    scales: Vec<f32>,
}

impl QuantizedRows {
    /// Quantize `rows` rows of `k` values (`x.len() == rows * k`, `k` a multiple of 32),
    /// reusing this buffer's allocations.
    pub(crate) fn quantize(&mut self, x: &[f32], rows: usize, k: usize) -> Result<()> {
        if k == 0 || k % QK != 0 || x.len() != rows * k {
            return Err(shape_err(format!("{} values are not {rows} rows of a multiple of {QK}: {k}", x.len())));
        }
        self.rows = rows;
        self.k = k;
        self.qs.clear();
        self.qs.resize(rows * k, 0);
        self.scales.clear();
        self.scales.reserve(rows * k / QK);
        for (block, q) in x.chunks_exact(QK).zip(self.qs.chunks_exact_mut(QK)) {
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
            for (qi, &v) in q.iter_mut().zip(block) {
                *qi = (v * inv).round() as i8;
            }
            self.scales.push(f16::from_f32(d).to_f32());
        }
        Ok(())
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}

/// A `[n, k]` matrix of Q8_0 blocks, borrowed (candle's storage of a Q8_0 tensor, row-major).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Matrix<'a> {
    bytes: &'a [u8],
    n: usize,
    k: usize,
}

impl<'a> Q8Matrix<'a> {
    pub(crate) fn new(bytes: &'a [u8], n: usize, k: usize) -> Result<Self> {
        if k == 0 || k % QK != 0 || bytes.len() != n * (k / QK) * BLOCK_BYTES {
            return Err(shape_err(format!("{} bytes are not a [{n}, {k}] Q8_0 matrix", bytes.len())));
        }
        Ok(Self { bytes, n, k })
    }

    /// Every block's scale as f32, `n × k / 32`, row-major.
    fn scales(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.bytes.chunks_exact(BLOCK_BYTES).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()));
    }
}

fn check(w: &Q8Matrix<'_>, x: &QuantizedRows, out: &[f32]) -> Result<()> {
    if w.k != x.k || out.len() != x.rows * w.n {
        return Err(shape_err(format!(
            "[{}, {}] activations times a [{}, {}] matrix into {} outputs",
            x.rows,
            x.k,
            w.n,
            w.k,
            out.len()
        )));
    }
    Ok(())
}

/// `out[t][r] = Σ_k x[t][k] · w[r][k]` (`out` is `[tokens, n]`, row-major), the reference
/// implementation: one block at a time, `i32` within a block, `f32` across blocks.
pub(crate) fn matmul_scalar(w: &Q8Matrix<'_>, x: &QuantizedRows, out: &mut [f32]) -> Result<()> {
    check(w, x, out)?;
    let nb = w.k / QK;
    for t in 0..x.rows {
        let xq = &x.qs[t * w.k..(t + 1) * w.k];
        let xd = &x.scales[t * nb..(t + 1) * nb];
        for r in 0..w.n {
            let row = &w.bytes[r * nb * BLOCK_BYTES..(r + 1) * nb * BLOCK_BYTES];
            let mut sum = 0f32;
            for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
                let dw = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                let dot: i32 = blk[2..]
                    .iter()
                    .zip(&xq[b * QK..(b + 1) * QK])
                    .map(|(&wq, &aq)| (wq as i8 as i32) * aq as i32)
                    .sum();
                sum += dot as f32 * (dw * xd[b]);
            }
            out[t * w.n + r] = sum;
        }
    }
    Ok(())
}

/// Which implementation [`matmul`] runs on this machine.
pub(crate) fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return "avx2";
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return "simd128";
    #[allow(unreachable_code)]
    "scalar"
}

/// Most tokens one thread takes at a time: small enough to balance two threads on a busy
/// machine, large enough that re-reading the weights per chunk (≤ 1 MB from L2/L3) is noise
/// next to the chunk's products.
const TOKENS_PER_CHUNK: usize = 64;

/// `out[t][r] = Σ_k x[t][k] · w[r][k]`, with the fastest kernel this machine has.
/// `scratch` holds the weight scales between calls (no allocation once it is large enough).
/// Tokens are shared out in chunks to [`crate::par`]'s threads; each output is computed by
/// the same code whatever the chunking, so the result does not depend on the thread count.
pub(crate) fn matmul(w: &Q8Matrix<'_>, x: &QuantizedRows, out: &mut [f32], scratch: &mut Vec<f32>) -> Result<()> {
    check(w, x, out)?;
    if x.rows == 0 || w.n == 0 {
        return Ok(());
    }
    let chunk = crate::par::rows_per_chunk(x.rows, 4, TOKENS_PER_CHUNK, w.n * w.k);
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        w.scales(scratch);
        let wd = &scratch[..];
        crate::par::for_each_chunk(out, chunk * w.n, |ci, o| {
            let t0 = ci * chunk;
            // SAFETY: the CPU has AVX2 and FMA (checked above); shapes were checked by
            // `check`, and `o` holds the outputs of tokens t0..t0 + o.len() / n.
            unsafe { avx2::matmul(w, wd, x, t0..t0 + o.len() / w.n, o) };
        });
        return Ok(());
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        w.scales(scratch);
        let wd = &scratch[..];
        crate::par::for_each_chunk(out, chunk * w.n, |ci, o| {
            let t0 = ci * chunk;
            simd128::matmul(w, wd, x, t0..t0 + o.len() / w.n, o);
        });
        return Ok(());
    }
    #[allow(unreachable_code)]
    {
        let _ = (scratch, chunk);
        matmul_scalar(w, x, out)
    }
}

/// Tokens per micro-kernel tile (AVX2).
#[cfg(target_arch = "x86_64")]
const T: usize = 4;
/// Weight bytes per row panel (AVX2).
#[cfg(target_arch = "x86_64")]
const PANEL_BYTES: usize = 192 * 1024;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use std::ops::Range;

    use super::{Q8Matrix, QuantizedRows, BLOCK_BYTES, PANEL_BYTES, QK, T};

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// The outputs of tokens `tokens` into `out` (`tokens.len() × n`).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; shapes must have been checked, `tokens` must lie
    /// within `x`'s rows.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn matmul(
        w: &Q8Matrix<'_>,
        wd: &[f32],
        x: &QuantizedRows,
        tokens: Range<usize>,
        out: &mut [f32],
    ) {
        let (n, k) = (w.n, w.k);
        let nb = k / QK;
        assert!(tokens.end <= x.rows && out.len() == tokens.len() * n);
        let wp = w.bytes.as_ptr();
        let xp = x.qs.as_ptr();
        let xd = x.scales.as_ptr();
        // Token t's outputs start at (t - tokens.start) · n.
        let op = out.as_mut_ptr();
        let first = tokens.start;
        let wdp = wd.as_ptr();
        // One tile: rows r0..r0+R of the weights, tokens t0..t0+TT.
        // The tile's arrays share the loop bounds R and TT; indexing keeps them in registers.
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn tile<const R: usize, const TT: usize>(
            (wp, wdp, xp, xd, op): (*const u8, *const f32, *const i8, *const f32, *mut f32),
            (n, k, nb, first): (usize, usize, usize, usize),
            r0: usize,
            t0: usize,
        ) {
            let ones = _mm256_set1_epi16(1);
            let mut acc = [[_mm256_setzero_ps(); TT]; R];
            for b in 0..nb {
                let mut wv = [_mm256_setzero_si256(); R];
                let mut wabs = [_mm256_setzero_si256(); R];
                let mut dw = [0f32; R];
                for i in 0..R {
                    let blk = wp.add(((r0 + i) * nb + b) * BLOCK_BYTES);
                    wv[i] = _mm256_loadu_si256(blk.add(2) as *const __m256i);
                    wabs[i] = _mm256_sign_epi8(wv[i], wv[i]);
                    dw[i] = *wdp.add((r0 + i) * nb + b);
                }
                for j in 0..TT {
                    let a = _mm256_loadu_si256(xp.add((t0 + j) * k + b * QK) as *const __m256i);
                    let da = *xd.add((t0 + j) * nb + b);
                    for i in 0..R {
                        // |w| · (a · sign w): unsigned × signed bytes, pairs summed to i16
                        // (at most 2 · 128 · 127, no saturation), then pairs to i32.
                        let p16 = _mm256_maddubs_epi16(wabs[i], _mm256_sign_epi8(a, wv[i]));
                        let p32 = _mm256_madd_epi16(p16, ones);
                        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(dw[i] * da), acc[i][j]);
                    }
                }
            }
            for i in 0..R {
                for j in 0..TT {
                    *op.add((t0 - first + j) * n + r0 + i) = hsum(acc[i][j]);
                }
            }
        }
        let ptrs = (wp, wdp, xp, xd, op);
        let dims = (n, k, nb, first);
        macro_rules! run {
            ($r:expr, $t:expr, $r0:expr, $t0:expr) => {
                tile::<$r, $t>(ptrs, dims, $r0, $t0)
            };
        }
        // Row panels of at most PANEL_BYTES of weights stay in L2 while every token tile
        // passes over them (a whole 1536 × 576 matrix, 940 KB, does not fit this CPU's
        // 1 MB L2 next to the activations: measured 11–16 GOP/s unpanelled vs 52–65 for the
        // 576-row matrices).
        let m = tokens.end;
        let panel = (PANEL_BYTES / (nb * BLOCK_BYTES)).max(2) & !1;
        let mut p0 = 0;
        while p0 < n {
            let p1 = (p0 + panel).min(n);
            let mut t0 = tokens.start;
            while t0 < m {
                let full = m - t0 >= T;
                let mut r = p0;
                while r + 2 <= p1 {
                    if full {
                        run!(2, T, r, t0);
                    } else {
                        run!(2, 1, r, t0);
                    }
                    r += 2;
                }
                if r < p1 {
                    if full {
                        run!(1, T, r, t0);
                    } else {
                        run!(1, 1, r, t0);
                    }
                }
                t0 += if full { T } else { 1 };
            }
            p0 = p1;
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    use std::ops::Range;

    use super::{Q8Matrix, QuantizedRows, BLOCK_BYTES, QK};

    /// The outputs of tokens `tokens` into `out` (`tokens.len() × n`). Shapes must have been
    /// checked.
    pub(super) fn matmul(w: &Q8Matrix<'_>, wd: &[f32], x: &QuantizedRows, tokens: Range<usize>, out: &mut [f32]) {
        let (n, k) = (w.n, w.k);
        let nb = k / QK;
        assert!(tokens.end <= x.rows && out.len() == tokens.len() * n);
        let first = tokens.start;
        // Sign-extend 16 bytes to two i16x8 halves.
        #[inline(always)]
        fn widen(v: v128) -> (v128, v128) {
            (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
        }
        // The four i16x8 vectors of a 32-byte block at `p`.
        #[inline(always)]
        unsafe fn load_block(p: *const u8) -> [v128; 4] {
            let (a, b) = widen(v128_load(p as *const v128));
            let (c, d) = widen(v128_load(p.add(16) as *const v128));
            [a, b, c, d]
        }
        #[inline(always)]
        fn dot(a: &[v128; 4], b: &[v128; 4]) -> v128 {
            let s0 = i32x4_add(i32x4_dot_i16x8(a[0], b[0]), i32x4_dot_i16x8(a[1], b[1]));
            let s1 = i32x4_add(i32x4_dot_i16x8(a[2], b[2]), i32x4_dot_i16x8(a[3], b[3]));
            i32x4_add(s0, s1)
        }
        // The tile's arrays share the loop bounds rr and tt; indexing keeps them in registers.
        #[allow(clippy::needless_range_loop)]
        let tile = |r0: usize, t0: usize, rr: usize, tt: usize, out: &mut [f32]| {
            // rr ≤ 2, tt ≤ 2: four accumulators, eight widened weight vectors.
            let mut acc = [[f32x4_splat(0.0); 2]; 2];
            for b in 0..nb {
                let mut wv = [[i32x4_splat(0); 4]; 2];
                let mut dw = [0f32; 2];
                for i in 0..rr {
                    let off = ((r0 + i) * nb + b) * BLOCK_BYTES + 2;
                    // SAFETY: `off + 32 <= w.bytes.len()` for every row and block of a checked matrix.
                    wv[i] = unsafe { load_block(w.bytes.as_ptr().add(off)) };
                    dw[i] = wd[(r0 + i) * nb + b];
                }
                for j in 0..tt {
                    let off = (t0 + j) * k + b * QK;
                    // SAFETY: `off + 32 <= x.qs.len()` for every token and block of checked activations.
                    let a = unsafe { load_block(x.qs.as_ptr().add(off) as *const u8) };
                    let da = x.scales[(t0 + j) * nb + b];
                    for i in 0..rr {
                        let s = f32x4_convert_i32x4(dot(&wv[i], &a));
                        acc[i][j] = f32x4_add(acc[i][j], f32x4_mul(s, f32x4_splat(dw[i] * da)));
                    }
                }
            }
            for i in 0..rr {
                for j in 0..tt {
                    let v = acc[i][j];
                    out[(t0 - first + j) * n + r0 + i] = (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
                        + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v));
                }
            }
        };
        let m = tokens.end;
        let mut t0 = first;
        while t0 < m {
            let tt = (m - t0).min(2);
            let mut r = 0;
            while r < n {
                let rr = (n - r).min(2);
                tile(r, t0, rr, tt, out);
                r += rr;
            }
            t0 += tt;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};

    fn seed() -> u64 {
        std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12)
    }

    /// A random `[n, k]` matrix quantized to Q8_0 by candle, and its bytes.
    fn weights(rng: &mut impl Rng, n: usize, k: usize) -> (QTensor, Vec<u8>) {
        let v: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0f32..1.0) * rng.gen_range(0.01f32..2.0)).collect();
        let t = Tensor::from_vec(v, (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
        let bytes = q.data().unwrap().into_owned();
        (q, bytes)
    }

    fn activations(rng: &mut impl Rng, m: usize, k: usize) -> Vec<f32> {
        (0..m * k).map(|_| rng.gen_range(-3.0f32..3.0)).collect()
    }

    /// Every kernel this machine runs agrees with the scalar reference on random shapes,
    /// including token and row counts that are not multiples of the tiles.
    #[test]
    fn kernels_match_the_scalar_reference() {
        let seed = seed();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut scratch = Vec::new();
        let mut x = QuantizedRows::default();
        for (m, n, k) in
            [(1, 1, 32), (3, 5, 64), (4, 2, 32), (5, 7, 96), (9, 3, 160), (17, 33, 576), (64, 64, 1536), (9, 301, 1536)]
        {
            let (_q, bytes) = weights(&mut rng, n, k);
            let w = Q8Matrix::new(&bytes, n, k).unwrap();
            x.quantize(&activations(&mut rng, m, k), m, k).unwrap();
            let (mut want, mut got) = (vec![0f32; m * n], vec![f32::NAN; m * n]);
            matmul_scalar(&w, &x, &mut want).unwrap();
            matmul(&w, &x, &mut got, &mut scratch).unwrap();
            for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                // Only the order of f32 additions differs.
                let tol = 1e-5 * (1.0 + a.abs()) * (k as f32 / 32.0).sqrt();
                assert!(
                    (a - b).abs() <= tol,
                    "seed {seed} [{m}x{k}]·[{n}x{k}]ᵀ ({}) at {i}: {a} vs {b}",
                    kernel_name()
                );
            }
        }
    }

    /// Prefill's product on pools of 1, 2, 3 and 5 threads is bit-identical, on token and
    /// row counts that are not multiples of the tiles or of the chunks.
    #[cfg(feature = "parallel")]
    #[test]
    fn threaded_matmul_equals_the_serial_one_bit_for_bit() {
        let seed = seed();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let pools: Vec<_> = [1, 2, 3, 5]
            .into_iter()
            .map(|t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("pool")))
            .collect();
        let mut x = QuantizedRows::default();
        for (m, n, k) in [(301, 17, 64), (67, 33, 576), (9, 301, 1536), (130, 65, 96)] {
            let (_q, bytes) = weights(&mut rng, n, k);
            let w = Q8Matrix::new(&bytes, n, k).unwrap();
            x.quantize(&activations(&mut rng, m, k), m, k).unwrap();
            let mut serial: Option<Vec<u32>> = None;
            for (t, p) in &pools {
                let got = p.install(|| {
                    let chunk = crate::par::rows_per_chunk(m, 4, TOKENS_PER_CHUNK, n * k);
                    assert_eq!(chunk < m, *t > 1, "{t} threads, {m} tokens: chunks of {chunk}");
                    let mut out = vec![f32::NAN; m * n];
                    matmul(&w, &x, &mut out, &mut Vec::new()).unwrap();
                    out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                });
                match &serial {
                    None => serial = Some(got),
                    Some(s) => assert_eq!(&got, s, "seed {seed} [{m}x{k}]·[{n}x{k}]ᵀ ({}), {t} threads", kernel_name()),
                }
            }
        }
    }

    /// The scalar reference equals candle's Q8_0 product (the arithmetic prefill replaces).
    #[test]
    fn scalar_reference_matches_candles_q8_0_matmul() {
        let seed = seed();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (m, n, k) = (7, 13, 192);
        let (q, bytes) = weights(&mut rng, n, k);
        let xs = activations(&mut rng, m, k);
        let mut x = QuantizedRows::default();
        x.quantize(&xs, m, k).unwrap();
        let mut ours = vec![0f32; m * n];
        matmul_scalar(&Q8Matrix::new(&bytes, n, k).unwrap(), &x, &mut ours).unwrap();
        let mm = candle_core::quantized::QMatMul::from_qtensor(q).unwrap();
        let input = Tensor::from_vec(xs, (m, k), &Device::Cpu).unwrap();
        let theirs: Vec<f32> =
            candle_core::Module::forward(&mm, &input).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "seed {seed} at {i}: {a} vs candle {b}");
        }
    }

    #[test]
    fn shape_mismatches_are_errors() {
        let mut x = QuantizedRows::default();
        assert!(x.quantize(&[0.0; 31], 1, 31).is_err());
        assert!(x.quantize(&[0.0; 64], 3, 32).is_err());
        assert!(Q8Matrix::new(&[0u8; 33], 1, 32).is_err());
        let bytes = [0u8; 2 * BLOCK_BYTES];
        let w = Q8Matrix::new(&bytes, 2, 32).unwrap();
        x.quantize(&[1.0; 64], 1, 64).unwrap();
        assert!(matmul(&w, &x, &mut [0.0; 2], &mut Vec::new()).is_err());
        x.quantize(&[1.0; 32], 1, 32).unwrap();
        assert!(matmul(&w, &x, &mut [0.0; 3], &mut Vec::new()).is_err());
        let mut out = [f32::NAN; 2];
        matmul(&w, &x, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(out, [0.0, 0.0]);
    }
}

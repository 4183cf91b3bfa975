//! Dense kernels for the packed BERT encoder ([`super::encoder`]): a blocked GEMM
//! `Y = X·Wᵀ + b` (f32, and int8 with i32 accumulation) with an optional fused GELU,
//! plus layer norm, softmax and the erf GELU they need.
//!
//! Decisions:
//! - **Weights are packed once at load** into panels of [`NR`] output columns, k-major
//!   (`panel[k][0..NR]`), padded with zero columns to a multiple of `2·NR`. The
//!   micro-kernel then reads one contiguous vector per panel per k step; activations stay
//!   row-major and unpacked (a sentence batch is a few hundred rows, packing them would
//!   cost as much as it saves).
//! - **Register-tiled micro-kernels, selected at run time** ([`Isa::detect`]): x86-64
//!   AVX2+FMA (`is_x86_feature_detected!`) computes a 6×16 tile in 12 ymm accumulators;
//!   wasm SIMD128 (compile-time `target_feature = "simd128"`, the crate's wasm build flag)
//!   a 4×8 tile in 8 v128 accumulators (wasm has no FMA without relaxed SIMD, and V8 maps
//!   v128 locals to 16 xmm registers, so a bigger tile spills); elsewhere a portable
//!   4×16 tile written for the auto-vectoriser. [`Isa::Scalar`] is the reference
//!   every kernel is tested against.
//! - **Relaxed SIMD is not used.** `f32x4.relaxed_madd` and `i32x4.relaxed_dot_i8x16_i7x16_add_s`
//!   would help, but a wasm module containing an instruction the engine lacks fails to
//!   validate as a whole, so it cannot be detected at run time inside one module; it would
//!   need a second build.
//! - **int8** ([`PackedI8`]): weights are quantized symmetrically per output channel at
//!   load, activations per row at each call (to a grid of up to ±32767 levels, see
//!   [`activation_levels`]); products are summed in i32 by
//!   `_mm256_madd_epi16` / `i32x4.dot_i16x8_s`, both of which multiply i16 pairs along k.
//!   So the int8 weight values are *stored* as i16 pairs (k padded to even), which avoids a
//!   widening step in the inner loop; memory is half of f32's. `k · 127² < 2³¹` for any
//!   `k < 133 000`, so the i32 sums cannot overflow for BERT-family widths (checked at pack).
//! - **GELU is the erf form** (`hidden_act: "gelu"` in BERT configs, as PyTorch and
//!   candle compute it), with erf from Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7) and an
//!   exp written in plain f32 arithmetic so loops over it vectorise (no libm call).

/// Output columns per packed panel.
pub const NR: usize = 8;

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Plain loops, the reference.
    Scalar,
    /// Fixed-size tiles the compiler auto-vectorises.
    Portable,
    /// x86-64 AVX2 + FMA, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// wasm SIMD128 (compile time: the crate's wasm build enables `simd128`).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

impl Isa {
    /// The fastest kernel this machine runs.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            return Isa::Simd128;
        }
        #[allow(unreachable_code)]
        Isa::Portable
    }

    /// Every kernel this machine can run (for tests and benchmarks).
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar, Isa::Portable];
        let best = Isa::detect();
        if !v.contains(&best) {
            v.push(best);
        }
        v
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2+fma",
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => "simd128",
        }
    }
}

/// What to apply to `X·Wᵀ + b` before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// Nothing.
    None,
    /// erf GELU.
    Gelu,
}

fn padded_n(n: usize) -> usize {
    n.div_ceil(2 * NR) * 2 * NR
}

/// A linear layer's weight `[n, k]` (PyTorch `Linear` layout) and bias, packed for [`gemm_f32`].
#[derive(Debug, Clone)]
pub struct PackedF32 {
    n: usize,
    k: usize,
    /// `padded_n / NR` panels of `k × NR`.
    panels: Vec<f32>,
    /// Bias, zero-padded to `padded_n`.
    bias: Vec<f32>,
}

impl PackedF32 {
    /// Pack `w` (`n` rows of `k`) and `bias` (`n`).
    pub fn new(w: &[f32], bias: &[f32], n: usize, k: usize) -> PackedF32 {
        assert!(w.len() == n * k && bias.len() == n, "weight {} ≠ {n}×{k} or bias {} ≠ {n}", w.len(), bias.len());
        let np = padded_n(n);
        let mut panels = vec![0f32; np * k];
        for j in 0..n {
            let (p, c) = (j / NR, j % NR);
            let panel = &mut panels[p * k * NR..(p + 1) * k * NR];
            for (kk, &x) in w[j * k..(j + 1) * k].iter().enumerate() {
                panel[kk * NR + c] = x;
            }
        }
        let mut b = vec![0f32; np];
        b[..n].copy_from_slice(bias);
        PackedF32 { n, k, panels, bias: b }
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.panels[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

/// Largest tile any micro-kernel writes (rows × columns).
const MAX_TILE: usize = 6 * 2 * NR;

/// Rows of activations per cache block.
const MC: usize = 48;

/// `out[m × n] = epilogue(a[m × k] · Wᵀ + b)`, all row-major.
pub fn gemm_f32(isa: Isa, a: &[f32], m: usize, w: &PackedF32, out: &mut [f32], epi: Epilogue) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() >= m * k && out.len() >= m * n, "gemm: a {} < {m}×{k} or out {} < {m}×{n}", a.len(), out.len());
    let out = &mut out[..m * n];
    if m == 0 || n == 0 {
        return;
    }
    // GELU runs on each chunk of rows as soon as its tiles are written (still in cache).
    let gelu = |c: &mut [f32]| {
        if epi == Epilogue::Gelu {
            gelu_in_place(c)
        }
    };
    match isa {
        Isa::Scalar => {
            gemm_f32_scalar(a, m, w, out);
            gelu(out);
        }
        Isa::Portable => {
            blocked(out, m, n, k, 4, 2 * NR, |at, tile, ldt| portable::f32_tile(a, k, w, at, tile, ldt), gelu)
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only produced by `detect` after checking avx2 and fma.
        Isa::Avx2 => {
            blocked(out, m, n, k, 6, 2 * NR, |at, tile, ldt| unsafe { avx2::f32_tile(a, k, w, at, tile, ldt) }, gelu)
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => blocked(out, m, n, k, 4, NR, |at, tile, ldt| simd128::f32_tile(a, k, w, at, tile, ldt), gelu),
    }
}

/// Drive a micro-kernel over `out` (`m × n`, inner dimension `k`): row tiles of `mr`,
/// column tiles of `nr` (a multiple of `NR`), in blocks of at most [`MC`] rows so a block of
/// activations stays in cache while every weight panel passes over it. The kernel
/// `(first_row, rows, first_panel, dst, ldd)` writes an `mr × nr` tile at `dst` with row
/// stride `ldd`: full tiles go straight into `out`, edge tiles through a local buffer (rows
/// past `rows` are don't-care). Chunks of rows go to [`crate::par`]'s threads (each output
/// element is computed by the same tile code whatever the chunking, so the result does not
/// depend on the thread count); `post` then runs on each chunk.
#[allow(clippy::too_many_arguments)]
fn blocked<T: Copy + Default + Send>(
    out: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    mr: usize,
    nr: usize,
    kernel: impl Fn(At, &mut [T], usize) + Sync + Send,
    post: impl Fn(&mut [T]) + Sync + Send,
) {
    debug_assert!(mr * nr <= MAX_TILE && nr % NR == 0);
    let np = padded_n(n);
    let chunk = crate::par::rows_per_chunk(m, mr, MC, n * k);
    crate::par::for_each_chunk(out, chunk * n, |ci, out| {
        let first = ci * chunk;
        let last = first + out.len() / n;
        let mut tile = [T::default(); MAX_TILE];
        for b0 in (first..last).step_by(MC) {
            let b1 = (b0 + MC).min(last);
            for c0 in (0..np).step_by(nr) {
                let cols = nr.min(n.saturating_sub(c0));
                if cols == 0 {
                    break;
                }
                for r0 in (b0..b1).step_by(mr) {
                    let rows = mr.min(b1 - r0);
                    let at = (r0 - first) * n + c0;
                    if rows == mr && cols == nr {
                        // A full tile: straight into the output.
                        kernel(At { r0, rows, p0: c0 / NR }, &mut out[at..], n);
                        continue;
                    }
                    kernel(At { r0, rows, p0: c0 / NR }, &mut tile[..mr * nr], nr);
                    for r in 0..rows {
                        out[at + r * n..at + r * n + cols].copy_from_slice(&tile[r * nr..r * nr + cols]);
                    }
                }
            }
        }
        post(out);
    });
}

/// The reference: one dot product per output, in k order.
fn gemm_f32_scalar(a: &[f32], m: usize, w: &PackedF32, out: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    for i in 0..m {
        for j in 0..n {
            let panel = w.panel(j / NR);
            let mut s = 0f32;
            for kk in 0..k {
                s += a[i * k + kk] * panel[kk * NR + j % NR];
            }
            out[i * n + j] = s + w.bias[j];
        }
    }
}

/// Where a micro-kernel works: rows `r0..r0 + rows` (at most its tile height), weight
/// panels `p0..` (as many as its tile width).
#[derive(Clone, Copy)]
struct At {
    r0: usize,
    rows: usize,
    p0: usize,
}

/// Row index `r0 + r`, clamped to the last row of the block, so a short edge tile reads
/// valid memory (its extra rows are computed and thrown away).
#[inline(always)]
fn row(r0: usize, r: usize, rows: usize) -> usize {
    r0 + r.min(rows - 1)
}

mod portable {
    use super::*;

    /// A 4 × 16 tile in plain arrays; LLVM keeps them in vector registers.
    pub(super) fn f32_tile(a: &[f32], k: usize, w: &PackedF32, at: At, tile: &mut [f32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 4;
        let (b0, b1) = (w.panel(p0), w.panel(p0 + 1));
        let ar: [&[f32]; MR] = std::array::from_fn(|r| &a[row(r0, r, rows) * k..][..k]);
        let bias = &w.bias[p0 * NR..(p0 + 2) * NR];
        let mut acc = [[0f32; 2 * NR]; MR];
        for accr in acc.iter_mut() {
            accr.copy_from_slice(bias);
        }
        for kk in 0..k {
            let x0: &[f32; NR] = b0[kk * NR..kk * NR + NR].try_into().expect("NR");
            let x1: &[f32; NR] = b1[kk * NR..kk * NR + NR].try_into().expect("NR");
            for r in 0..MR {
                let av = ar[r][kk];
                for c in 0..NR {
                    acc[r][c] += av * x0[c];
                    acc[r][NR + c] += av * x1[c];
                }
            }
        }
        for r in 0..MR {
            tile[r * ldt..r * ldt + 2 * NR].copy_from_slice(&acc[r]);
        }
    }

    /// The int8 tile: 4 × 16 i32 sums of i16 pair products.
    pub(super) fn i8_tile(a: &[i16], kp: usize, w: &PackedI8, at: At, tile: &mut [i32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 4;
        let (b0, b1) = (w.panel(p0), w.panel(p0 + 1));
        let ar: [&[i16]; MR] = std::array::from_fn(|r| &a[row(r0, r, rows) * 2 * kp..][..2 * kp]);
        let mut acc = [[0i32; 2 * NR]; MR];
        for p in 0..kp {
            let x0 = &b0[p * 2 * NR..(p + 1) * 2 * NR];
            let x1 = &b1[p * 2 * NR..(p + 1) * 2 * NR];
            for r in 0..MR {
                let (a0, a1) = (ar[r][2 * p] as i32, ar[r][2 * p + 1] as i32);
                for c in 0..NR {
                    acc[r][c] += a0 * x0[2 * c] as i32 + a1 * x0[2 * c + 1] as i32;
                    acc[r][NR + c] += a0 * x1[2 * c] as i32 + a1 * x1[2 * c + 1] as i32;
                }
            }
        }
        for r in 0..MR {
            tile[r * ldt..r * ldt + 2 * NR].copy_from_slice(&acc[r]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// A 6 × 16 tile: 12 ymm accumulators, two panel loads and six broadcasts per k step.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn f32_tile(a: &[f32], k: usize, w: &PackedF32, at: At, tile: &mut [f32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 6;
        let (b0, b1) = (w.panel(p0), w.panel(p0 + 1));
        assert!(b0.len() >= k * NR && b1.len() >= k * NR && tile.len() >= (MR - 1) * ldt + 2 * NR);
        let mut ap = [a.as_ptr(); MR];
        for (r, p) in ap.iter_mut().enumerate() {
            *p = a[row(r0, r, rows) * k..][..k].as_ptr();
        }
        let (bp0, bp1) = (b0.as_ptr(), b1.as_ptr());
        let bias0 = _mm256_loadu_ps(w.bias.as_ptr().add(p0 * NR));
        let bias1 = _mm256_loadu_ps(w.bias.as_ptr().add(p0 * NR + NR));
        let mut c0 = [bias0; MR];
        let mut c1 = [bias1; MR];
        for kk in 0..k {
            // SAFETY: kk < k and each panel holds k × NR floats; each row slice holds k.
            let x0 = _mm256_loadu_ps(bp0.add(kk * NR));
            let x1 = _mm256_loadu_ps(bp1.add(kk * NR));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*ap[r].add(kk));
                c0[r] = _mm256_fmadd_ps(av, x0, c0[r]);
                c1[r] = _mm256_fmadd_ps(av, x1, c1[r]);
            }
        }
        let t = tile.as_mut_ptr();
        for r in 0..MR {
            _mm256_storeu_ps(t.add(r * ldt), c0[r]);
            _mm256_storeu_ps(t.add(r * ldt + NR), c1[r]);
        }
    }

    /// The int8 tile, 6 × 16 i32: `_mm256_madd_epi16` multiplies the i16 pairs of one
    /// activation (broadcast as an i32) with 8 columns' weight pairs and adds each pair.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn i8_tile(a: &[i16], kp: usize, w: &PackedI8, at: At, tile: &mut [i32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 6;
        let (b0, b1) = (w.panel(p0), w.panel(p0 + 1));
        assert!(b0.len() >= kp * 2 * NR && b1.len() >= kp * 2 * NR && tile.len() >= (MR - 1) * ldt + 2 * NR);
        let mut ap = [a.as_ptr() as *const i32; MR];
        for (r, p) in ap.iter_mut().enumerate() {
            *p = a[row(r0, r, rows) * 2 * kp..][..2 * kp].as_ptr() as *const i32;
        }
        let (bp0, bp1) = (b0.as_ptr(), b1.as_ptr());
        let mut c0 = [_mm256_setzero_si256(); MR];
        let mut c1 = [_mm256_setzero_si256(); MR];
        for p in 0..kp {
            // SAFETY: p < kp; each panel holds kp × 2·NR i16, each row 2·kp i16 (read as
            // kp unaligned i32 pairs).
            let x0 = _mm256_loadu_si256(bp0.add(p * 2 * NR) as *const __m256i);
            let x1 = _mm256_loadu_si256(bp1.add(p * 2 * NR) as *const __m256i);
            for r in 0..MR {
                let av = _mm256_set1_epi32(ap[r].add(p).read_unaligned());
                c0[r] = _mm256_add_epi32(c0[r], _mm256_madd_epi16(av, x0));
                c1[r] = _mm256_add_epi32(c1[r], _mm256_madd_epi16(av, x1));
            }
        }
        let t = tile.as_mut_ptr();
        for r in 0..MR {
            _mm256_storeu_si256(t.add(r * ldt) as *mut __m256i, c0[r]);
            _mm256_storeu_si256(t.add(r * ldt + NR) as *mut __m256i, c1[r]);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::*;
    use core::arch::wasm32::*;

    /// A 4 × 8 tile: 8 v128 accumulators, two panel loads and four splats per k step
    /// (mul + add: no FMA in SIMD128).
    pub(super) fn f32_tile(a: &[f32], k: usize, w: &PackedF32, at: At, tile: &mut [f32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 4;
        let b = w.panel(p0);
        assert!(b.len() >= k * NR && tile.len() >= (MR - 1) * ldt + NR);
        let ar: [&[f32]; MR] = std::array::from_fn(|r| &a[row(r0, r, rows) * k..][..k]);
        let bp = b.as_ptr();
        // SAFETY (all loads below): kk < k, the panel holds k × NR floats, rows hold k,
        // the bias holds padded_n ≥ (p0 + 1) × NR floats; v128 loads are unaligned.
        unsafe {
            let bias0 = v128_load(w.bias.as_ptr().add(p0 * NR) as *const v128);
            let bias1 = v128_load(w.bias.as_ptr().add(p0 * NR + 4) as *const v128);
            let mut c0 = [bias0; MR];
            let mut c1 = [bias1; MR];
            for kk in 0..k {
                let x0 = v128_load(bp.add(kk * NR) as *const v128);
                let x1 = v128_load(bp.add(kk * NR + 4) as *const v128);
                for r in 0..MR {
                    let av = f32x4_splat(*ar[r].get_unchecked(kk));
                    c0[r] = f32x4_add(c0[r], f32x4_mul(av, x0));
                    c1[r] = f32x4_add(c1[r], f32x4_mul(av, x1));
                }
            }
            let t = tile.as_mut_ptr();
            for r in 0..MR {
                v128_store(t.add(r * ldt) as *mut v128, c0[r]);
                v128_store(t.add(r * ldt + 4) as *mut v128, c1[r]);
            }
        }
    }

    /// The int8 tile, 4 × 8 i32: `i32x4.dot_i16x8_s` of one activation pair (splat as an
    /// i32) with 4 columns' weight pairs.
    pub(super) fn i8_tile(a: &[i16], kp: usize, w: &PackedI8, at: At, tile: &mut [i32], ldt: usize) {
        let At { r0, rows, p0 } = at;
        const MR: usize = 4;
        let b = w.panel(p0);
        assert!(b.len() >= kp * 2 * NR && tile.len() >= (MR - 1) * ldt + NR);
        let ar: [&[i16]; MR] = std::array::from_fn(|r| &a[row(r0, r, rows) * 2 * kp..][..2 * kp]);
        let bp = b.as_ptr();
        // SAFETY: p < kp, the panel holds kp × 2·NR i16, rows hold 2·kp i16.
        unsafe {
            let mut c0 = [i32x4_splat(0); MR];
            let mut c1 = [i32x4_splat(0); MR];
            for p in 0..kp {
                let x0 = v128_load(bp.add(p * 2 * NR) as *const v128);
                let x1 = v128_load(bp.add(p * 2 * NR + NR) as *const v128);
                for r in 0..MR {
                    let av = i32x4_splat((ar[r].as_ptr().add(2 * p) as *const i32).read_unaligned());
                    c0[r] = i32x4_add(c0[r], i32x4_dot_i16x8(av, x0));
                    c1[r] = i32x4_add(c1[r], i32x4_dot_i16x8(av, x1));
                }
            }
            let t = tile.as_mut_ptr();
            for r in 0..MR {
                v128_store(t.add(r * ldt) as *mut v128, c0[r]);
                v128_store(t.add(r * ldt + 4) as *mut v128, c1[r]);
            }
        }
    }
}

/// Largest `k` whose int8 sums fit i32: `k · 127 · 127 < 2³¹`.
pub const MAX_I8_K: usize = (i32::MAX as usize) / (127 * 127);

/// A linear layer quantized to int8 per output channel, packed for [`gemm_i8`]: panels of
/// `NR` columns holding, for each pair of k, the columns' two weights side by side (i16).
#[derive(Debug, Clone)]
pub struct PackedI8 {
    n: usize,
    k: usize,
    /// k pairs (k rounded up to even, halved).
    kp: usize,
    panels: Vec<i16>,
    /// Per output channel: weight = q · scale. Zero-padded to `padded_n`.
    scales: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedI8 {
    /// Quantize and pack `w` (`n` rows of `k`) with `bias` (`n`). `None` if `k` is too wide
    /// for i32 sums ([`MAX_I8_K`]) or a weight is not finite.
    pub fn new(w: &[f32], bias: &[f32], n: usize, k: usize) -> Option<PackedI8> {
        assert!(w.len() == n * k && bias.len() == n, "weight {} ≠ {n}×{k} or bias {} ≠ {n}", w.len(), bias.len());
        if k > MAX_I8_K || w.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let np = padded_n(n);
        let kp = k.div_ceil(2);
        let mut panels = vec![0i16; np * kp * 2];
        let mut scales = vec![0f32; np];
        for j in 0..n {
            let wr = &w[j * k..(j + 1) * k];
            let max = wr.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales[j] = scale;
            let (p, c) = (j / NR, j % NR);
            let panel = &mut panels[p * kp * 2 * NR..(p + 1) * kp * 2 * NR];
            for (kk, &x) in wr.iter().enumerate() {
                panel[(kk / 2) * 2 * NR + 2 * c + kk % 2] = quantize(x / scale);
            }
        }
        let mut b = vec![0f32; np];
        b[..n].copy_from_slice(bias);
        Some(PackedI8 { n, k, kp, panels, scales, bias: b })
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    fn panel(&self, p: usize) -> &[i16] {
        &self.panels[p * self.kp * 2 * NR..(p + 1) * self.kp * 2 * NR]
    }
}

/// Round to the nearest integer in `[-limit, limit]` (symmetric).
#[inline(always)]
fn quantize_to(x: f32, limit: f32) -> i16 {
    // Adding and removing 1.5·2²³ rounds to nearest (even) without a libm call.
    const ROUND: f32 = 12_582_912.0;
    ((x.clamp(-limit, limit) + ROUND) - ROUND) as i16
}

/// Round to the nearest int8 in `[-127, 127]` (symmetric: -128 unused).
#[inline(always)]
fn quantize(x: f32) -> i16 {
    quantize_to(x, 127.0)
}

/// Levels of a quantized activation for an input width of `k` (even): as many as i32
/// sums of `k` products with int8 weights allow, at most the i16 range. The pair kernels
/// multiply i16 by i16 anyway, so a wider activation grid costs nothing, and it is what
/// keeps all-MiniLM-L6-v2 within 0.995 cosine of f32: with int8 activations (±127) the
/// worst sentence of the parity set fell to 0.9937 (mean 0.9972), the error coming from
/// the few outlier dimensions BERT activations have, which squeeze every other value of
/// the row into a handful of levels.
pub fn activation_levels(k: usize) -> f32 {
    ((i32::MAX as usize) / (127 * k.max(1))).min(i16::MAX as usize) as f32
}

/// Scratch of [`gemm_i8`]: the quantized activations and their row scales, reused across calls.
#[derive(Debug, Default)]
pub struct I8Scratch {
    q: Vec<i16>,
    scales: Vec<f32>,
    acc: Vec<i32>,
}

/// Quantize each row of `a` (`m × k`) symmetrically to [`activation_levels`] (i16, k
/// padded to even with zeros); returns the per-row scales in `s.scales`.
fn quantize_rows(a: &[f32], m: usize, k: usize, kp: usize, s: &mut I8Scratch) {
    let levels = activation_levels(2 * kp);
    s.q.clear();
    s.q.resize(m * 2 * kp, 0);
    s.scales.clear();
    for i in 0..m {
        let r = &a[i * k..(i + 1) * k];
        let max = r.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / levels } else { 1.0 };
        let inv = 1.0 / scale;
        s.scales.push(scale);
        for (q, &x) in s.q[i * 2 * kp..i * 2 * kp + k].iter_mut().zip(r) {
            *q = quantize_to(x * inv, levels);
        }
    }
}

/// `out[m × n] = epilogue(dequant(quant(a) · quant(W)ᵀ) + b)`: activations quantized per
/// row here, weights per channel at pack time, products summed in i32.
pub fn gemm_i8(isa: Isa, a: &[f32], m: usize, w: &PackedI8, out: &mut [f32], epi: Epilogue, s: &mut I8Scratch) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    assert!(a.len() >= m * k && out.len() >= m * n, "gemm: a {} < {m}×{k} or out {} < {m}×{n}", a.len(), out.len());
    let out = &mut out[..m * n];
    if m == 0 || n == 0 {
        return;
    }
    quantize_rows(a, m, k, kp, s);
    let mut acc = std::mem::take(&mut s.acc);
    acc.clear();
    acc.resize(m * n, 0);
    let q = &s.q;
    match isa {
        Isa::Scalar => {
            for i in 0..m {
                for j in 0..n {
                    let panel = w.panel(j / NR);
                    let mut sum = 0i32;
                    for kk in 0..2 * kp {
                        sum += q[i * 2 * kp + kk] as i32 * panel[(kk / 2) * 2 * NR + 2 * (j % NR) + kk % 2] as i32;
                    }
                    acc[i * n + j] = sum;
                }
            }
        }
        Isa::Portable => {
            blocked(&mut acc, m, n, kp, 4, 2 * NR, |at, tile, ldt| portable::i8_tile(q, kp, w, at, tile, ldt), |_| ())
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only produced by `detect` after checking avx2 and fma.
        Isa::Avx2 => blocked(
            &mut acc,
            m,
            n,
            kp,
            6,
            2 * NR,
            |at, tile, ldt| unsafe { avx2::i8_tile(q, kp, w, at, tile, ldt) },
            |_| (),
        ),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => {
            blocked(&mut acc, m, n, kp, 4, NR, |at, tile, ldt| simd128::i8_tile(q, kp, w, at, tile, ldt), |_| ())
        }
    }
    // Dequantize, add the bias and apply the epilogue, by chunks of rows (erf GELU over an
    // FFN's 1536 columns is worth sharing).
    let (acc_ref, scales) = (&acc, &s.scales);
    let chunk = crate::par::rows_per_chunk(m, 1, MC, n * 16);
    crate::par::for_each_chunk(out, chunk * n, |ci, o| {
        let first = ci * chunk;
        for (r, orow) in o.chunks_exact_mut(n).enumerate() {
            let i = first + r;
            let sa = scales[i];
            let ac = &acc_ref[i * n..(i + 1) * n];
            for j in 0..n {
                orow[j] = ac[j] as f32 * (sa * w.scales[j]) + w.bias[j];
            }
        }
        if epi == Epilogue::Gelu {
            gelu_in_place(o);
        }
    });
    s.acc = acc;
}

/// `e^x` in plain f32 arithmetic (range reduction to `r ∈ [-ln2/2, ln2/2]`, degree-6
/// Taylor polynomial, relative error ≈ 2e-7), so loops over it auto-vectorise. Below -87
/// the result is 0 (softmax of a masked score), above 88 it saturates at e⁸⁸.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and removing 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let tiny = x < -87.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let bits = ((n as i32 + 127) as u32) << 23;
    if tiny {
        0.0
    } else {
        p * f32::from_bits(bits)
    }
}

/// erf, Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let ax = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * ax);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-ax * ax);
    y.copysign(x)
}

/// `x · Φ(x) = x/2 · (1 + erf(x/√2))`, in place.
pub fn gelu_in_place(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `x ← layer_norm(x + residual) · gamma + beta` for each row of `dim` (biased variance, as
/// PyTorch's `LayerNorm`). `residual` may be empty (no residual).
pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let dim = gamma.len();
    for (i, row) in x.chunks_exact_mut(dim).enumerate() {
        if !residual.is_empty() {
            for (v, r) in row.iter_mut().zip(&residual[i * dim..(i + 1) * dim]) {
                *v += r;
            }
        }
        let mean = row.iter().sum::<f32>() / dim as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// Softmax of one row in place (max subtracted first).
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut rand::rngs::StdRng, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    /// `a · wᵀ + b` in f64 from the unpacked weights.
    fn reference(a: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|kk| a[i * k + kk] as f64 * w[j * k + kk] as f64).sum();
                out[i * n + j] = (s + b[j] as f64) as f32;
            }
        }
        out
    }

    fn max_rel_err(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max) / scale
    }

    /// Shapes including ones that are not multiples of any tile (m, n, k odd, 1, primes).
    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 16, 8),
        (3, 5, 7),
        (6, 16, 32),
        (7, 17, 33),
        (13, 31, 1),
        (49, 40, 65),
        (50, 130, 97),
        (97, 24, 384),
        (5, 9, 1537),
    ];

    #[test]
    fn every_f32_kernel_matches_the_reference_on_odd_shapes() {
        let seed = std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12u64);
        println!("seed {seed}; kernels {:?}", Isa::available());
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for &(m, n, k) in SHAPES {
            let (a, w, b) = (random(&mut rng, m * k, 1.0), random(&mut rng, n * k, 1.0), random(&mut rng, n, 1.0));
            let want = reference(&a, &w, &b, m, n, k);
            let packed = PackedF32::new(&w, &b, n, k);
            for isa in Isa::available() {
                let mut out = vec![f32::NAN; m * n + 3];
                gemm_f32(isa, &a, m, &packed, &mut out, Epilogue::None);
                let err = max_rel_err(&out[..m * n], &want);
                assert!(err < 1e-5, "{isa:?} {m}×{n}×{k}: relative error {err}");
                assert!(out[m * n..].iter().all(|x| x.is_nan()), "{isa:?} wrote past m × n");
            }
        }
    }

    #[test]
    fn every_int8_kernel_matches_the_scalar_int8_path_exactly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for &(m, n, k) in SHAPES {
            let (a, w, b) = (random(&mut rng, m * k, 3.0), random(&mut rng, n * k, 0.2), random(&mut rng, n, 1.0));
            let packed = PackedI8::new(&w, &b, n, k).expect("fits");
            let mut s = I8Scratch::default();
            let mut want = vec![0f32; m * n];
            gemm_i8(Isa::Scalar, &a, m, &packed, &mut want, Epilogue::Gelu, &mut s);
            for isa in Isa::available() {
                let mut out = vec![f32::NAN; m * n];
                gemm_i8(isa, &a, m, &packed, &mut out, Epilogue::Gelu, &mut s);
                // Integer sums are exact, so every kernel agrees bit for bit.
                assert_eq!(out, want, "{isa:?} {m}×{n}×{k}");
            }
            // And the quantized product is close to the f32 one (symmetric int8 on both
            // sides: error ≲ 1 % of the output scale on random data).
            let mut f = reference(&a, &w, &b, m, n, k);
            gelu_in_place(&mut f);
            let err = max_rel_err(&want, &f);
            assert!(err < 0.03, "{m}×{n}×{k}: int8 vs f32 relative error {err}");
        }
    }

    /// Odd shapes big enough to be split across threads (m·n·k/2 ≥ `par::MIN_PARALLEL_WORK`,
    /// so the int8 product, which counts k in pairs, is split too).
    #[cfg(feature = "parallel")]
    const SPLIT_SHAPES: &[(usize, usize, usize)] =
        &[(97, 24, 384), (50, 130, 97), (37, 129, 131), (131, 33, 154), (7, 301, 257), (601, 17, 63)];

    /// The same product on pools of 1, 2, 3 and 5 threads is bit-identical, for every kernel,
    /// f32 and int8, with and without the fused GELU.
    #[cfg(feature = "parallel")]
    #[test]
    fn threaded_gemms_equal_the_serial_ones_bit_for_bit() {
        let seed = std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(21u64);
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let pool = |t: usize| rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("pool");
        let pools: Vec<_> = [1, 2, 3, 5].into_iter().map(|t| (t, pool(t))).collect();
        for &(m, n, k) in SPLIT_SHAPES {
            let (a, w, b) = (random(&mut rng, m * k, 2.0), random(&mut rng, n * k, 0.5), random(&mut rng, n, 1.0));
            let (pf, pi) = (PackedF32::new(&w, &b, n, k), PackedI8::new(&w, &b, n, k).expect("fits"));
            for isa in Isa::available() {
                for epi in [Epilogue::None, Epilogue::Gelu] {
                    let mut serial: Option<(Vec<f32>, Vec<f32>)> = None;
                    for (t, p) in &pools {
                        let (f, i) = p.install(|| {
                            // The rows really are split when there is more than one thread.
                            let chunk = crate::par::rows_per_chunk(m, 4, MC, n * k.div_ceil(2));
                            assert_eq!(chunk < m, *t > 1, "{t} threads, {m}×{n}×{k}: chunks of {chunk}");
                            let mut f = vec![f32::NAN; m * n];
                            gemm_f32(isa, &a, m, &pf, &mut f, epi);
                            let mut i = vec![f32::NAN; m * n];
                            gemm_i8(isa, &a, m, &pi, &mut i, epi, &mut I8Scratch::default());
                            (f, i)
                        });
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        match &serial {
                            None => serial = Some((f, i)),
                            Some((sf, si)) => {
                                assert_eq!(bits(&f), bits(sf), "f32 {isa:?} {epi:?} {m}×{n}×{k}, {t} threads");
                                assert_eq!(bits(&i), bits(si), "int8 {isa:?} {epi:?} {m}×{n}×{k}, {t} threads");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn int8_refuses_what_it_cannot_sum_or_scale() {
        assert!(PackedI8::new(&[1.0, f32::NAN], &[0.0], 1, 2).is_none());
        let wide = MAX_I8_K + 1;
        assert!(PackedI8::new(&vec![0.5; wide], &[0.0], 1, wide).is_none());
        // A zero row is fine (scale 1, all zeros).
        let p = PackedI8::new(&[0.0; 4], &[1.0, 2.0], 2, 2).unwrap();
        let mut out = [0f32; 2];
        gemm_i8(Isa::detect(), &[3.0, 4.0], 1, &p, &mut out, Epilogue::None, &mut I8Scratch::default());
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn fused_gelu_matches_gemm_then_erf_gelu() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (m, n, k) = (9, 23, 19);
        let (a, w, b) = (random(&mut rng, m * k, 1.0), random(&mut rng, n * k, 1.0), random(&mut rng, n, 1.0));
        let p = PackedF32::new(&w, &b, n, k);
        let want: Vec<f32> = reference(&a, &w, &b, m, n, k)
            .iter()
            .map(|&x| (0.5 * x as f64 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2))) as f32)
            .collect();
        let mut out = vec![0f32; m * n];
        gemm_f32(Isa::detect(), &a, m, &p, &mut out, Epilogue::Gelu);
        assert!(max_rel_err(&out, &want) < 1e-5);
    }

    /// erf in f64 by its series / continued fraction is overkill; a high-order Taylor
    /// series is exact to f64 for |x| ≤ 3 and erf is ±1 to 2e-5 beyond... so use
    /// the complementary series for |x| > 3.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 5.0 {
            return x.signum();
        }
        // Taylor series: erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut sum = 0f64;
        let mut term = x;
        let mut n = 0f64;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
            if n > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..=800 {
            let x = i as f32 * 0.05;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(((got - want) / want).abs() < 5e-7 || want < 1e-37, "exp({x}) = {got}, want {want}");
        }
        for i in -600..=600 {
            let x = i as f64 * 0.01;
            let got = erf(x as f32) as f64;
            assert!((got - libm_erf(x)).abs() < 4e-7, "erf({x}) = {got}, want {}", libm_erf(x));
        }
    }

    #[test]
    fn layer_norm_and_softmax_match_their_definitions() {
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 8.0];
        let res = vec![1.0f32; 8];
        let (g, b) = ([2.0f32, 1.0, 1.0, 0.5], [0.0f32, 1.0, 0.0, 0.0]);
        add_layer_norm(&mut x, &res, &g, &b, 1e-12);
        // Row 0 + 1 = [2, 3, 4, 5]: mean 3.5, var 1.25.
        let s = 1.25f32.sqrt();
        let want0 = [2.0 * -1.5 / s, 1.0 + -0.5 / s, 0.5 / s, 0.5 * 1.5 / s];
        for (a, b) in x[..4].iter().zip(want0) {
            assert!((a - b).abs() < 1e-5, "{x:?}");
        }
        let mut row = vec![1.0f32, 2.0, 3.0, -1e9];
        softmax_in_place(&mut row);
        let z: f32 = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        for (i, v) in [1.0f32, 2.0, 3.0].iter().enumerate() {
            assert!((row[i] - v.exp() / z).abs() < 1e-6);
        }
        assert_eq!(row[3], 0.0);
    }
}

//! Data parallelism for the kernels: split an output buffer into row chunks and fill them
//! on rayon's pool, or one after another.
//!
//! The kernels (`embed::kernels`, the prefill product in `generate::qgemm`) call
//! [`for_each_chunk`] the same way whatever the build; feature `parallel` (the CLI's, and
//! the browser's threaded build, feature `threads`) decides whether chunks run on the pool.
//! Each output element is computed by the same code in the same order either way, so a
//! threaded result is bit-identical to the serial one (tested in the kernels' modules).
//!
//! In the browser's threaded build the pool is started from JavaScript
//! (`initThreadPool(n)`, which wasm-bindgen-rayon exports) **before** anything touches
//! rayon: rayon's global pool is created once, and a pool made implicitly first (where the
//! wasm target cannot spawn threads) has one thread for good.

/// Threads the kernels split their work over (1 without feature `parallel`).
pub fn threads() -> usize {
    imp::threads()
}

/// Call `f(i, chunk)` for every `chunk`-long piece of `data` (the last may be shorter), `i`
/// counting from 0, in parallel where the build has a pool, else in order.
pub fn for_each_chunk<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if data.is_empty() {
        return;
    }
    imp::for_each_chunk(data, chunk.max(1), f)
}

/// Call `f(i, piece)` for each piece of `data` cut at `bounds` (`bounds[i]..bounds[i + 1]`,
/// times `stride` elements; `bounds` ascending, its last at most `data.len() / stride`), in
/// parallel where the build has a pool, else in order. For pieces of unequal size, such as
/// the rows of each sequence of a batch.
pub fn for_each_piece<T: Send>(
    data: &mut [T],
    bounds: &[usize],
    stride: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let mut pieces = Vec::with_capacity(bounds.len().saturating_sub(1));
    let mut rest = data;
    for w in bounds.windows(2) {
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut((w[1] - w[0]) * stride);
        pieces.push(piece);
        rest = tail;
    }
    if let Some(&first) = bounds.first() {
        debug_assert_eq!(first, 0, "pieces start at row 0");
    }
    imp::for_each(pieces, f)
}

/// Below this many multiply-adds a product runs as one chunk: waking the pool's workers
/// costs more than it saves (tens of microseconds in the browser).
pub const MIN_PARALLEL_WORK: usize = 1 << 18;

/// Rows per chunk when `rows` rows, each `work_per_row` multiply-adds, are shared by
/// [`threads`] workers: at most `max` rows, a multiple of `align` (a kernel's tile
/// height), and few enough that every thread gets some when the rows allow. A product
/// smaller than [`MIN_PARALLEL_WORK`] is one chunk of all its rows.
pub fn rows_per_chunk(rows: usize, align: usize, max: usize, work_per_row: usize) -> usize {
    let align = align.max(1);
    if threads() <= 1 || rows.saturating_mul(work_per_row) < MIN_PARALLEL_WORK {
        return rows.max(1);
    }
    let share = rows.div_ceil(threads()).div_ceil(align) * align;
    share.clamp(align, max.max(align))
}

#[cfg(feature = "parallel")]
mod imp {
    use rayon::prelude::*;

    pub fn threads() -> usize {
        rayon::current_num_threads()
    }

    pub fn for_each_chunk<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
        if data.len() <= chunk {
            f(0, data);
            return;
        }
        data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }

    pub fn for_each<T: Send>(pieces: Vec<&mut [T]>, f: impl Fn(usize, &mut [T]) + Sync + Send) {
        if pieces.len() == 1 {
            return pieces.into_iter().for_each(|p| f(0, p));
        }
        pieces.into_par_iter().enumerate().for_each(|(i, p)| f(i, p));
    }
}

#[cfg(not(feature = "parallel"))]
mod imp {
    pub fn threads() -> usize {
        1
    }

    pub fn for_each_chunk<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
        for (i, c) in data.chunks_mut(chunk).enumerate() {
            f(i, c);
        }
    }

    pub fn for_each<T: Send>(pieces: Vec<&mut [T]>, f: impl Fn(usize, &mut [T]) + Sync + Send) {
        for (i, p) in pieces.into_iter().enumerate() {
            f(i, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_visited_once_with_its_index() {
        for (len, chunk) in [(1, 1), (10, 3), (12, 4), (7, 100), (100, 1)] {
            let mut v = vec![usize::MAX; len];
            for_each_chunk(&mut v, chunk, |i, c| {
                for (j, x) in c.iter_mut().enumerate() {
                    assert_eq!(*x, usize::MAX, "visited twice");
                    *x = i * chunk + j;
                }
            });
            assert_eq!(v, (0..len).collect::<Vec<_>>(), "len {len} chunk {chunk}");
        }
        for_each_chunk(&mut [0u8; 0], 4, |_, _| panic!("no chunk of nothing"));
    }

    #[test]
    fn pieces_follow_their_bounds() {
        let mut v = vec![usize::MAX; 2 * 9];
        for_each_piece(&mut v, &[0, 2, 3, 3, 7], 2, |i, p| p.iter_mut().for_each(|x| *x = i));
        assert_eq!(v, [0, 0, 0, 0, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, usize::MAX, usize::MAX, usize::MAX, usize::MAX]);
        for_each_piece(&mut v, &[0], 2, |_, _| panic!("no piece"));
    }

    #[test]
    fn chunks_are_aligned_bounded_and_shared() {
        let t = threads();
        assert_eq!(rows_per_chunk(35, 4, 48, 10), 35, "a small product is one chunk");
        if t == 1 {
            assert_eq!(rows_per_chunk(560, 6, 48, 1 << 20), 560, "one thread: one chunk");
            return;
        }
        for (rows, align, max) in [(1, 4, 48), (35, 4, 48), (560, 6, 48), (300, 4, 64), (7, 1, 3)] {
            let c = rows_per_chunk(rows, align, max, MIN_PARALLEL_WORK);
            assert!(c % align == 0 && c <= max.max(align) && c >= align, "{rows} {align} {max}: {c}");
            if rows >= t * max {
                assert_eq!(c, max);
            } else {
                assert!(rows.div_ceil(c) >= t.min(rows.div_ceil(align)), "{rows} rows, {t} threads: chunks of {c}");
            }
        }
    }
}

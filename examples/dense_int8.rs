//! The flat segment's three scans (issue 12, item 4), same run: the `f32` scan, the int8
//! scan (exact rescoring of `rescore_candidates(10)` = 74 candidates) and the 1-bit
//! prefilter (exact rescoring of `bit_candidates(10, n)`, 1 % of the rows): query time at
//! 10k and 100k × 384 random unit vectors, and recall@10 of each approximate path against
//! exact search, on those random vectors and on all-MiniLM-L6-v2 vectors of Cargo Book
//! sentences (where the 1-bit path is forced with 1 % of the rows as candidates, as it
//! would get at 100k).
//!
//! ```sh
//! SOTTO_MODELS=$HOME/.cache/sotto/models cargo run --release --example dense_int8 -- [--real N] [--queries Q]
//! ```
//!
//! `--real 0` skips the MiniLM part (default: 6000 sentences, every 60th held out as a
//! query). Timings: each query runs the three scans back to back (`search_exact`,
//! `search_flat_int8`, `search_flat_bits`), rotating which goes first; the median per
//! query is printed with the ratios. The first 1-bit query builds the sign codes; it is
//! timed apart (`build ms`).

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sotto::embed::Embedder;
use sotto::index::dense::{bit_candidates, rescore_candidates, DenseConfig, DenseIndex, BITS_MIN_ROWS, INT8_MIN_ROWS};
use sotto::index::ChunkId;

#[path = "../tests/common/mod.rs"]
mod common;

const DIM: usize = 384;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |s| s.parse().expect(name))
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / n).collect()
}

fn random_unit(rng: &mut StdRng, n: usize) -> Vec<Vec<f32>> {
    (0..n).map(|_| unit((0..DIM).map(|_| rng.gen::<f32>() * 2.0 - 1.0).collect())).collect()
}

fn index(vs: &[Vec<f32>]) -> DenseIndex {
    let config = DenseConfig { hnsw_threshold: usize::MAX, ..DenseConfig::default() };
    let mut ix = DenseIndex::new(vs[0].len(), config);
    for (i, v) in vs.iter().enumerate() {
        ix.add(i as ChunkId, v).expect("add");
    }
    ix
}

/// Which approximate path a measurement forces.
#[derive(Clone, Copy)]
enum Path {
    Int8,
    /// The 1-bit prefilter with this many candidates.
    Bits(usize),
}

fn run(ix: &DenseIndex, q: &[f32], path: Path) -> Vec<(u32, f32)> {
    match path {
        Path::Int8 => ix.search_flat_int8(q, 10, rescore_candidates(10), None).unwrap(),
        Path::Bits(c) => ix.search_flat_bits(q, 10, c, None).unwrap(),
    }
}

/// Recall@10 of a path (forced, whatever the size) against exact search.
fn recall(ix: &DenseIndex, queries: &[Vec<f32>], path: Path) -> f64 {
    let mut sum = 0.0;
    for q in queries {
        let exact = ix.search_exact(q, 10, None).unwrap();
        let got = run(ix, q, path);
        let found = exact.iter().filter(|(id, _)| got.iter().any(|(g, _)| g == id)).count();
        sum += found as f64 / exact.len().max(1) as f64;
    }
    sum / queries.len() as f64
}

/// Recall@10 of the 1-bit path keeping 1 %, 2 % and 5 % of `n` rows (at least 74).
fn bit_recalls(ix: &DenseIndex, queries: &[Vec<f32>], n: usize) -> String {
    [100, 50, 20]
        .map(|div| format!("{:.4}", recall(ix, queries, Path::Bits((n / div).max(rescore_candidates(10))))))
        .join(" / ")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Distinct sentences of at least six words from the Cargo Book's cleaned pages.
fn cargo_book_sentences(limit: usize) -> Vec<String> {
    let root = common::data_dir().join("cargo-book");
    let mut paths = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("cargo-book directory") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") && !path.ends_with("print.html") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for path in paths {
        let doc = sotto::Document::from_bytes("x.html", &std::fs::read(&path).unwrap()).unwrap();
        let cleaned = sotto::ingest::clean::clean(&doc, &Default::default()).expect("clean");
        for s in cleaned.text.split(['.', '\n', '?', '!']) {
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if s.split(' ').count() >= 6 && seen.insert(s.clone()) {
                out.push(s);
                if out.len() == limit {
                    return out;
                }
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_real = arg(&args, "--real", 6000);
    let n_queries = arg(&args, "--queries", 200);
    let mut rng = StdRng::seed_from_u64(42);
    println!(
        "INT8_MIN_ROWS = {INT8_MIN_ROWS}, BITS_MIN_ROWS = {BITS_MIN_ROWS}, candidates for k = 10: int8 {}, 1-bit {} at 100k",
        rescore_candidates(10),
        bit_candidates(10, 100_000)
    );
    println!();
    println!("| vectors | f32 ms/query | int8 ms | 1-bit ms (build ms) | f32 / int8 | f32 / 1-bit | recall@10 int8 | recall@10 1-bit at 1 % / 2 % / 5 % (default) of rows |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in [10_000usize, 100_000] {
        let vs = random_unit(&mut rng, n);
        let queries = random_unit(&mut rng, n_queries);
        let ix = index(&vs);
        drop(vs);
        let bits = Path::Bits(bit_candidates(10, n));
        let t = Instant::now();
        std::hint::black_box(run(&ix, &queries[0], bits));
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut ms = [Vec::new(), Vec::new(), Vec::new()];
        for (i, q) in queries.iter().enumerate() {
            for j in 0..3 {
                let which = (i + j) % 3;
                let t = Instant::now();
                match which {
                    0 => drop(std::hint::black_box(ix.search_exact(q, 10, None).unwrap())),
                    1 => drop(std::hint::black_box(run(&ix, q, Path::Int8))),
                    _ => drop(std::hint::black_box(run(&ix, q, bits))),
                }
                ms[which].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let [a, b, c] = ms.map(median);
        println!(
            "| {n} × {DIM} random{} | {a:.3} | {b:.3} | {c:.3} ({build_ms:.0}) | {:.2} | {:.2} | {:.4} | {} |",
            if n >= BITS_MIN_ROWS {
                format!(" (search() uses 1-bit: {})", ix.uses_bit_prefilter())
            } else {
                String::new()
            },
            a / b,
            a / c,
            recall(&ix, &queries, Path::Int8),
            bit_recalls(&ix, &queries, n)
        );
    }
    if n_real > 0 {
        let model = sotto::native::load_default_embedder()
            .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 must be present (scripts/fetch-models.sh): {e}"));
        let sentences = cargo_book_sentences(n_real);
        let t = Instant::now();
        let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let mut vectors = Vec::with_capacity(refs.len());
        for part in refs.chunks(256) {
            vectors.extend(model.embed_batch(part).expect("embed"));
        }
        eprintln!("embedded {} sentences in {:.1} s", vectors.len(), t.elapsed().as_secs_f64());
        let (mut corpus, mut queries) = (Vec::new(), Vec::new());
        for (i, v) in vectors.into_iter().enumerate() {
            if i % 60 == 59 {
                queries.push(v);
            } else {
                corpus.push(v);
            }
        }
        let ix = index(&corpus);
        println!(
            "| {} × {DIM} MiniLM (Cargo Book sentences, {} held-out queries) | | | | | | {:.4} | {} |",
            corpus.len(),
            queries.len(),
            recall(&ix, &queries, Path::Int8),
            bit_recalls(&ix, &queries, corpus.len())
        );
    }
}

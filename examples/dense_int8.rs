//! The flat segment's int8 scan against its `f32` scan (issue 12, item 3), same run:
//! query time at 10k and 100k × 384 random unit vectors, and recall@10 of the int8 scan
//! (with exact rescoring of `rescore_candidates(10)` = 74 candidates) against exact
//! search, on those random vectors and on all-MiniLM-L6-v2 vectors of Cargo Book
//! sentences.
//!
//! ```sh
//! SOTTO_MODELS=$HOME/.cache/sotto/models cargo run --release --example dense_int8 -- [--real N] [--queries Q]
//! ```
//!
//! `--real 0` skips the MiniLM part (default: 6000 sentences, every 60th held out as a
//! query). Timings: each query runs the `f32` scan (`search_exact`) and the int8 scan
//! (`search`, which takes the int8 path from `INT8_MIN_ROWS` rows) back to back,
//! alternating which goes first; the median per query is printed with the ratio.

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sotto::embed::Embedder;
use sotto::index::dense::{rescore_candidates, DenseConfig, DenseIndex, INT8_MIN_ROWS};
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

/// Recall@10 of the int8 path (forced, whatever the size) against exact search.
fn recall(ix: &DenseIndex, queries: &[Vec<f32>]) -> f64 {
    let mut sum = 0.0;
    for q in queries {
        let exact = ix.search_exact(q, 10, None).unwrap();
        let got = ix.search_flat_int8(q, 10, rescore_candidates(10), None).unwrap();
        let found = exact.iter().filter(|(id, _)| got.iter().any(|(g, _)| g == id)).count();
        sum += found as f64 / exact.len().max(1) as f64;
    }
    sum / queries.len() as f64
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
    println!("INT8_MIN_ROWS = {INT8_MIN_ROWS}, candidates for k = 10: {}", rescore_candidates(10));
    println!();
    println!("| vectors | f32 scan ms/query | int8 scan + rescore ms/query | f32 / int8 | recall@10 vs exact |");
    println!("|---|---|---|---|---|");
    for n in [10_000usize, 100_000] {
        let vs = random_unit(&mut rng, n);
        let queries = random_unit(&mut rng, n_queries);
        let ix = index(&vs);
        drop(vs);
        let (mut f32_ms, mut int8_ms) = (Vec::new(), Vec::new());
        for (i, q) in queries.iter().enumerate() {
            let time_f32 = || {
                let t = Instant::now();
                std::hint::black_box(ix.search_exact(q, 10, None).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            };
            let time_int8 = || {
                let t = Instant::now();
                std::hint::black_box(ix.search(q, 10, None).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            };
            if i % 2 == 0 {
                f32_ms.push(time_f32());
                int8_ms.push(time_int8());
            } else {
                int8_ms.push(time_int8());
                f32_ms.push(time_f32());
            }
        }
        let (a, b) = (median(f32_ms), median(int8_ms));
        println!("| {n} × {DIM} random | {a:.3} | {b:.3} | {:.2} | {:.4} |", a / b, recall(&ix, &queries));
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
            "| {} × {DIM} MiniLM (Cargo Book sentences, {} held-out queries) | | | | {:.4} |",
            corpus.len(),
            queries.len(),
            recall(&ix, &queries)
        );
    }
}

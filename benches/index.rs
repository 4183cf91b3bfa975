//! Index benchmarks: dense query (exact scan vs HNSW) and HNSW build at 10k and 100k
//! random 384-d unit vectors; BM25 indexing and querying on synthetic Zipfian text.
//!
//! `cargo bench --bench index` runs everything at 10k plus the 100k exact scan and the
//! 100k BM25 query. `SOTTO_BENCH_100K=1` adds the 100k HNSW query and the 100k HNSW
//! build (11 builds, each several minutes natively on 2 cores); the 100k graph used for
//! queries is cached under `CARGO_TARGET_TMPDIR` so reruns skip building it.
//! `SOTTO_SEED` overrides the data seed. Recall@10 of each HNSW index against exact
//! search is printed once per size (random vectors are HNSW's hardest case; real
//! embeddings have a much lower intrinsic dimension).
//!
//! Where HNSW starts to beat the scan decides `DenseConfig::hnsw_threshold`: compare
//! `dense_query_k10/exact_scan/N` with `dense_query_k10/hnsw/N`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sotto::index::dense::{recall_at_k, DenseConfig, DenseIndex};
use sotto::index::sparse::{Bm25Config, SparseIndex};
use sotto::index::text::Language;

const DIM: usize = 384;

fn seed() -> u64 {
    let seed = std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
    eprintln!("SOTTO_SEED={seed}");
    seed
}

fn big() -> bool {
    std::env::var("SOTTO_BENCH_100K").is_ok_and(|v| v == "1")
}

fn unit_vectors(rng: &mut StdRng, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..DIM).map(|_| rng.gen::<f32>() * 2.0 - 1.0).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// An index over `vs` whose flat segment is sealed by `build_hnsw` once it holds `threshold`.
fn index_with_threshold(vs: &[Vec<f32>], threshold: usize) -> DenseIndex {
    let config = DenseConfig { hnsw_threshold: threshold, ..DenseConfig::default() };
    let mut ix = DenseIndex::new(DIM, config);
    for (i, v) in vs.iter().enumerate() {
        ix.add(i as u32, v).expect("add");
    }
    ix
}

/// All vectors in the open flat segment (never sealed).
fn flat_index(vs: &[Vec<f32>]) -> DenseIndex {
    index_with_threshold(vs, usize::MAX)
}

/// All vectors in one HNSW segment (default ef_construction / ef_search).
fn hnsw_index(vs: &[Vec<f32>]) -> DenseIndex {
    let mut ix = index_with_threshold(vs, 1);
    ix.build_hnsw();
    ix
}

/// HNSW index over `vs`, loaded from a cache file when a previous run left one.
fn cached_hnsw(vs: &[Vec<f32>], seed: u64) -> DenseIndex {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sotto-bench-hnsw-{}-{DIM}-{seed}.dense", vs.len()));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(ix) = DenseIndex::from_bytes(&bytes) {
            let want = DenseConfig { hnsw_threshold: 1, ..DenseConfig::default() };
            if ix.len() == vs.len() && ix.config() == &want {
                eprintln!("loaded cached HNSW graph {}", path.display());
                return ix;
            }
        }
    }
    let t = Instant::now();
    let ix = hnsw_index(vs);
    eprintln!("built HNSW over {} vectors in {:.1} s", vs.len(), t.elapsed().as_secs_f64());
    let _ = std::fs::write(&path, ix.to_bytes());
    ix
}

fn dense(c: &mut Criterion) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let queries = unit_vectors(&mut rng, 200);
    let vs_100k = unit_vectors(&mut rng, 100_000);

    let mut g = c.benchmark_group("dense_query_k10");
    for n in [10_000usize, 100_000] {
        let vs = &vs_100k[..n];
        let flat = flat_index(vs);
        g.bench_with_input(BenchmarkId::new("exact_scan", n), &flat, |b, ix| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % queries.len();
                ix.search(&queries[i], 10, None).expect("search")
            })
        });
        drop(flat);
        if n == 10_000 || big() {
            let hnsw = if n == 10_000 { hnsw_index(vs) } else { cached_hnsw(vs, seed) };
            let recall = recall_at_k(&hnsw, &queries, 10).expect("recall");
            eprintln!(
                "HNSW {n}: recall@10 vs exact = {recall:.3} (ef_construction 100, ef_search 100, random vectors)"
            );
            g.bench_with_input(BenchmarkId::new("hnsw", n), &hnsw, |b, ix| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    ix.search(&queries[i], 10, None).expect("search")
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("hnsw_build");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(1));
    let sizes: &[usize] = if big() { &[10_000, 100_000] } else { &[10_000] };
    for &n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        let flat = index_with_threshold(&vs_100k[..n], 1);
        g.bench_function(BenchmarkId::new("ef_construction_100", n), |b| {
            b.iter_batched(
                || flat.clone(),
                |mut ix| {
                    ix.build_hnsw();
                    ix
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Zipf-distributed pseudo-words.
struct Corpus {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new(vocab: usize) -> Self {
        const SYL: [&str; 16] =
            ["ka", "re", "mo", "ti", "lu", "sa", "ne", "po", "di", "ge", "fa", "bu", "zo", "vi", "ch", "st"];
        let words = (0..vocab)
            .map(|mut r| {
                let mut w = String::new();
                loop {
                    w.push_str(SYL[r % 16]);
                    r /= 16;
                    if r == 0 {
                        break;
                    }
                }
                w.push_str(["", "s", "ing", "ed"][w.len() % 4]);
                w
            })
            .collect();
        let mut total = 0.0;
        let cumulative = (1..=vocab)
            .map(|r| {
                total += 1.0 / (r as f64).powf(1.07);
                total
            })
            .collect();
        Corpus { words, cumulative }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < x).min(self.words.len() - 1);
        &self.words[i]
    }

    fn text(&self, rng: &mut StdRng, words: usize) -> String {
        let mut s = String::new();
        for i in 0..words {
            if i > 0 {
                s.push(if i % 17 == 0 { '.' } else { ' ' });
                if i % 17 == 0 {
                    s.push(' ');
                }
            }
            s.push_str(self.word(rng));
        }
        s
    }
}

fn sparse(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(seed());
    let corpus = Corpus::new(30_000);
    let docs: Vec<String> = (0..100_000).map(|_| corpus.text(&mut rng, 150)).collect();
    let queries: Vec<String> = (0..200).map(|_| corpus.text(&mut rng, 4)).collect();
    let index = |n: usize| {
        let mut ix = SparseIndex::new(Bm25Config::default());
        for (i, d) in docs[..n].iter().enumerate() {
            ix.add(i as u32, d, Language::English);
        }
        ix
    };

    let mut g = c.benchmark_group("bm25_index");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function(BenchmarkId::new("chunks_150_words", 10_000), |b| b.iter(|| index(10_000)));
    g.finish();

    let mut g = c.benchmark_group("bm25_query");
    for n in [10_000usize, 100_000] {
        let ix = index(n);
        g.bench_with_input(BenchmarkId::new("4_words_k10", n), &ix, |b, ix| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % queries.len();
                ix.search(&queries[i], 10, None)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dense, sparse);
criterion_main!(benches);

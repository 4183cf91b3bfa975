//! Embedding throughput of all-MiniLM-L6-v2 with the default (packed f32) encoder
//! (chunks/s; `examples/embed_speed.rs` compares it with candle and int8), at inputs of
//! ~32, ~128 and ~256 word pieces (incl. [CLS]/[SEP]), embedded one at a time and in
//! batches of 16. Needs the real model (`scripts/fetch-models.sh` or `$SOTTO_MODELS`).
//!
//! `cargo bench --bench embed` (criterion reports elements/s = chunks/s).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sotto::embed::bert::BertEmbedder;
use sotto::embed::Embedder;
use sotto::ingest::chunk::TokenCounter;

const PROSE: &str = "Cargo is the Rust package manager. It downloads your package's dependencies, \
compiles your packages, makes distributable packages, and uploads them to crates.io. A workspace \
is a set of packages that share one Cargo.lock and one output directory. Profiles change compiler \
settings such as optimisation level and debug information; the dev profile is used by cargo build \
and the release profile by cargo build --release. Features let a package offer optional \
functionality, enabled by dependents with the features key. Build scripts run before the package \
is compiled and can generate code or link native libraries. ";

fn load() -> BertEmbedder {
    sotto::native::load_default_embedder()
        .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 must be present (run scripts/fetch-models.sh): {e}"))
}

/// `count` different texts of about `tokens` word pieces each (incl. special tokens),
/// each starting at a different word of the prose so they are not identical.
fn texts(e: &BertEmbedder, tokens: usize, count: usize) -> Vec<String> {
    let words: Vec<&str> = PROSE.split_whitespace().collect();
    (0..count)
        .map(|k| {
            let mut t = String::new();
            let mut i = k * 7;
            while e.count_tokens(&t) + e.special_tokens() < tokens {
                if !t.is_empty() {
                    t.push(' ');
                }
                t.push_str(words[i % words.len()]);
                i += 1;
            }
            t
        })
        .collect()
}

fn bench_embed(c: &mut Criterion) {
    let e = load();
    let mut group = c.benchmark_group("embed");
    group.sample_size(10);
    for tokens in [32usize, 128, 256] {
        let pool = texts(&e, tokens, 16);
        let refs: Vec<&str> = pool.iter().map(String::as_str).collect();
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("batch1", tokens), &refs, |b, refs| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % refs.len();
                e.embed(refs[i]).expect("embed")
            })
        });
        group.throughput(Throughput::Elements(refs.len() as u64));
        group.bench_with_input(BenchmarkId::new("batch16", tokens), &refs, |b, refs| {
            b.iter(|| e.embed_batch(refs).expect("embed_batch"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_embed);
criterion_main!(benches);

//! Indexing throughput with the real all-MiniLM-L6-v2 (issue 12, item 1): chunks/s of
//! `Engine::add_documents` when every document is its own call (embedding batches never
//! span documents: what indexing did before batches ran across documents) against one
//! call for the whole batch, interleaved in the same run.
//!
//! ```sh
//! SOTTO_MODELS=$HOME/.cache/sotto/models cargo run --release --example index_speed -- [--reps N] [--book-reps N] [--skip-book]
//! ```
//!
//! Corpora:
//! - `sentences`: 100 one-sentence documents of 30 words each (a seeded draw from a
//!   fixed vocabulary, so no two are near duplicates), sentence vectors on (the default:
//!   each document's sentence is embedded a second time for answers);
//! - the same with sentence vectors off (`sentences.at_index_time = false`);
//! - `cargo-book`: every HTML page of `../shared/data/cargo-book` (or `$SOTTO_DATA`),
//!   sentence vectors off to save time.
//!
//! Printed per corpus and mode: the median wall time over `--reps` (default 3; the
//! Cargo Book `--book-reps`, default 1),
//! chunks/s, embedder calls and texts per call; then the ratio across/per-document from
//! the same run. The model is loaded once and shared by every engine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sotto::embed::bert::BertEmbedder;
use sotto::embed::{Embedder, EmbedderInfo};
use sotto::ingest::chunk::TokenCounter;
use sotto::{Document, Engine, EngineConfig};

#[path = "../tests/common/mod.rs"]
mod common;

/// The shared model, counting calls and texts.
struct Shared {
    inner: Arc<BertEmbedder>,
    calls: Arc<AtomicUsize>,
    texts: Arc<AtomicUsize>,
}

impl TokenCounter for Shared {
    fn count_tokens(&self, text: &str) -> usize {
        self.inner.count_tokens(text)
    }
}

impl Embedder for Shared {
    fn info(&self) -> &EmbedderInfo {
        self.inner.info()
    }
    fn embed_batch(&self, texts: &[&str]) -> sotto::Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.texts.fetch_add(texts.len(), Ordering::Relaxed);
        self.inner.embed_batch(texts)
    }
}

const VOCABULARY: &str = "cargo package crate build compile profile release debug feature workspace \
dependency registry version manifest lock file target directory test bench example binary library \
script link native code generate option flag command install publish upload token source path git \
branch revision tag patch override replace resolver edition rust compiler toolchain channel stable \
nightly beta cache index network proxy mirror offline vendor checksum hash metadata author license \
readme keyword category badge homepage repository documentation include exclude default optional \
platform host triple linker archive object rebuild fingerprint output warning error message format \
json human short color progress jobs parallel thread core memory disk space time speed fast slow";

/// `n` one-sentence documents of `words` words each.
fn sentence_docs(n: usize, words: usize) -> Vec<Document> {
    let vocab: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let mut rng = StdRng::seed_from_u64(12);
    (0..n)
        .map(|i| {
            let body: Vec<&str> = (0..words).map(|_| vocab[rng.gen_range(0..vocab.len())]).collect();
            Document::new(format!("s{i:03}.md"), format!("{}.", body.join(" ")))
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    PerDocument,
    Across,
}

struct Run {
    seconds: f64,
    chunks: usize,
    calls: usize,
    texts: usize,
}

fn run(model: &Arc<BertEmbedder>, config: &EngineConfig, docs: &[Document], mode: Mode) -> Run {
    let calls = Arc::new(AtomicUsize::new(0));
    let texts = Arc::new(AtomicUsize::new(0));
    let shared = Shared { inner: model.clone(), calls: calls.clone(), texts: texts.clone() };
    let mut engine = Engine::with_config(config.clone(), Box::new(shared)).expect("config");
    let t = Instant::now();
    let mut chunks = 0;
    match mode {
        Mode::PerDocument => {
            for d in docs {
                chunks += engine.add_documents(vec![d.clone()]).expect("index").chunks;
            }
        }
        Mode::Across => chunks = engine.add_documents(docs.to_vec()).expect("index").chunks,
    }
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(engine.stats().chunks, chunks);
    Run { seconds, chunks, calls: calls.load(Ordering::Relaxed), texts: texts.load(Ordering::Relaxed) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[allow(clippy::needless_range_loop)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--reps N"))
        .unwrap_or(3);
    let book_reps: usize = args
        .iter()
        .position(|a| a == "--book-reps")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--book-reps N"))
        .unwrap_or(1);
    let skip_book = args.iter().any(|a| a == "--skip-book");
    let model = Arc::new(
        sotto::native::load_default_embedder()
            .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 must be present (scripts/fetch-models.sh): {e}")),
    );
    let with_sentences = EngineConfig::default();
    let without_sentences = {
        let mut c = EngineConfig::default();
        c.sentences.at_index_time = false;
        c
    };
    let sentences = sentence_docs(100, 30);
    let mut corpora: Vec<(&str, &EngineConfig, Vec<Document>, usize)> = vec![
        ("100 sentences, sentence vectors on", &with_sentences, sentences.clone(), reps),
        ("100 sentences, sentence vectors off", &without_sentences, sentences, reps),
    ];
    if !skip_book {
        corpora.push(("cargo-book, sentence vectors off", &without_sentences, common::cargo_book_docs(), book_reps));
    }
    println!("| corpus | mode | chunks | embed calls | texts/call | median s | chunks/s |");
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (name, config, docs, reps) in &corpora {
        let mut times = [Vec::new(), Vec::new()];
        let mut last: [Option<Run>; 2] = [None, None];
        for rep in 0..*reps {
            // Alternate which mode goes first, so drift on a noisy machine hits both.
            let order =
                if rep % 2 == 0 { [Mode::PerDocument, Mode::Across] } else { [Mode::Across, Mode::PerDocument] };
            for mode in order {
                let r = run(&model, config, docs, mode);
                let slot = (mode == Mode::Across) as usize;
                eprintln!("{name} rep {rep} {}: {:.2} s", ["per-document", "across"][slot], r.seconds);
                times[slot].push(r.seconds);
                last[slot] = Some(r);
            }
        }
        let mut chunks_per_s = [0.0; 2];
        for slot in 0..2 {
            let r = last[slot].as_ref().unwrap();
            let m = median(times[slot].clone());
            chunks_per_s[slot] = r.chunks as f64 / m;
            println!(
                "| {name} | {} | {} | {} | {:.1} | {:.2} | {:.1} |",
                ["per-document calls", "one call"][slot],
                r.chunks,
                r.calls,
                r.texts as f64 / r.calls.max(1) as f64,
                m,
                chunks_per_s[slot]
            );
        }
        ratios.push((name, chunks_per_s[1] / chunks_per_s[0]));
    }
    println!();
    for (name, r) in ratios {
        println!("{name}: one call / per-document calls = {r:.2}x chunks/s");
    }
}

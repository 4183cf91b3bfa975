//! A large synthetic index for browser benchmarks of the dense scan (issue 12, item 4):
//! `N` one-paragraph documents, one chunk each, embedded with the feature-hashing embedder
//! (384 dimensions, no model download, seconds natively), no sentence vectors. The page
//! loads it with `loadHashingEmbedder(384)` + `importIndex`, so the only thing a dense
//! query costs beyond hashing its words is the scan of `N` vectors.
//!
//! ```sh
//! cargo run --release --example hashing_index -- 100000 target/bench/hashing-100000.sotto
//! ```

use sotto::embed::hashing::HashEmbedder;
use sotto::{Document, Engine, EngineConfig};

const WORDS: &str = "river stone cloud lantern copper meadow signal harbor violet engine orbit candle willow \
    marble thunder glacier pepper canyon falcon saddle ember quartz tunnel beacon velvet mosaic anchor basalt \
    cobalt fern library protocol compiler garden market theory window kernel planet museum bridge forest island \
    desert valley ocean summit castle village station factory";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(100_000, |s| s.parse().expect("N"));
    let out = args.get(2).cloned().unwrap_or_else(|| format!("target/bench/hashing-{n}.sotto"));
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut config = EngineConfig::default();
    config.sentences.at_index_time = false;
    config.dense.hnsw_threshold = usize::MAX; // the flat segment is what is measured
    let mut engine = Engine::new(config, Box::new(HashEmbedder::new(384)));
    let mut x: u64 = 1234;
    let mut next = |m: usize| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % m
    };
    for start in (0..n).step_by(5000) {
        let docs: Vec<Document> = (start..(start + 5000).min(n))
            .map(|i| {
                let text: Vec<&str> = (0..24).map(|_| words[next(words.len())]).collect();
                Document::new(format!("d{i}.txt"), format!("{} {i}.", text.join(" ")))
            })
            .collect();
        engine.add_documents(docs).expect("add");
        eprintln!("{} documents", (start + 5000).min(n));
    }
    let bytes = engine.to_bytes().expect("serialize");
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).expect("output directory");
    }
    std::fs::write(&out, &bytes).expect("write");
    eprintln!("{out}: {} chunks, {:.1} MB", engine.stats().chunks, bytes.len() as f64 / 1e6);
}

//! Added search latency of the RAPTOR collapsed tree, without the query embedding (which
//! dominates and, on a shared machine, is noisy): every question of the given JSONL files
//! is embedded once, then searched with `tree: none` and `tree: collapsed`, interleaved,
//! `--rounds` times; prints the median per-search time of each and their ratio.
//!
//! ```text
//! cargo run --release --features cli --example tree_latency -- INDEX.sotto Q1.jsonl [Q2.jsonl …] [--rounds 20]
//! ```

use std::time::Instant;

use sotto::query::{Mode, SearchOptions, Tree};
use sotto::Engine;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args.get(i + 1).ok_or("--rounds N")?.parse()?,
        None => 20,
    };
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--") && a.parse::<usize>().is_err()).collect();
    let (index, questions) = files.split_first().ok_or("usage: tree_latency INDEX Q.jsonl…")?;
    let bytes = std::fs::read(index)?;
    let manifest = sotto::rag::persist::read_manifest(&bytes)?;
    let models = sotto::native::models_dir();
    let embedder = sotto::native::load_bert_dir(&sotto::native::embedder_dir(&models, &manifest.embedder.name))?;
    let engine = Engine::from_bytes(&bytes, Box::new(embedder))?;
    let tree = engine.tree().ok_or("the index has no summary tree (sotto raptor)")?;
    println!("{} chunks, {} summary nodes", engine.stats().chunks, tree.len());
    let mut qs = Vec::new();
    for path in questions {
        let ds = sotto::eval::parse_jsonl(&std::fs::read_to_string(path)?, false)?;
        qs.extend(ds.questions.into_iter().map(|q| q.question));
    }
    let vectors: Vec<Vec<f32>> =
        qs.iter().map(|q| sotto::embed::Embedder::embed(engine.embedder(), q)).collect::<Result<_, _>>()?;
    for mode in [Mode::Hybrid, Mode::Dense] {
        let flat = SearchOptions { mode, ..SearchOptions::default() };
        let collapsed = SearchOptions { tree: Tree::Collapsed, ..flat.clone() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for (q, v) in qs.iter().zip(&vectors) {
                for (o, out) in [(&flat, &mut a), (&collapsed, &mut b)] {
                    let t = Instant::now();
                    std::hint::black_box(engine.search_with_vector(q, Some(v), o)?);
                    out.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        let (ma, mb) = (median(&mut a), median(&mut b));
        println!(
            "{mode:?}: {} searches each; median tree none {ma:.3} ms, collapsed {mb:.3} ms, ratio {:.2}",
            a.len(),
            mb / ma
        );
    }
    Ok(())
}

//! Answer quality and select-stage cost on the Cargo Book (issue 10).
//!
//! ```sh
//! cargo run --example answers -- [--rerank none|maxsim] [--index PATH] [--rebuild]
//! ```
//!
//! Builds the Cargo Book index once (all-MiniLM-L6-v2; build time and file size printed)
//! and caches it at `--index` (default `$CARGO_TARGET_DIR/cargo-book-v<format>.sotto`),
//! then, on a freshly loaded engine, runs `Engine::ask` (extractive, default options) on
//! every answerable question of `cargo-book-qa.jsonl` and `cargo-book-hard.jsonl` and
//! prints per question and in total:
//! - containment: an `answers` string contained (case-insensitive) in the answer text;
//! - whether a citation points to a relevant page; sentences per answer;
//! - the select stage's latency (p50 / p95 over the questions, first pass on a cold engine);
//! - document R@5 and MRR of retrieval (`sotto::eval::evaluate`) with the same options.
//!
//! The questions are split for tuning: DEV = the answerable hard questions whose number
//! is odd (ch01, ch03, …, cm01, cm03, …: 9), TEST = the even ones (9); containment is printed for both.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use sotto::eval::{evaluate, parse_jsonl, EvalOptions};
use sotto::rag::ask::AskOptions;
use sotto::Engine;

#[path = "../tests/common/mod.rs"]
mod common;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// DEV: answerable hard questions with an odd number (`ch01`, `ch03`, …, `cm01`, `cm03`, …).
fn is_dev(id: &str) -> bool {
    id.get(2..).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n % 2 == 1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    let index_path = arg("--index")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join(format!("cargo-book-v{}.sotto", sotto::index::format::FORMAT_VERSION)));
    let mut ask = AskOptions::default();
    if let Some(r) = arg("--rerank") {
        ask.search = set_rerank(ask.search, &r)?;
    }
    ask.validate()?;

    if let (Some(v1), false) = (arg("--upgrade-from"), index_path.exists()) {
        // The sentence vectors' share of the build: a v1 index upgraded in place.
        let bytes = std::fs::read(&v1)?;
        let mut engine = Engine::from_bytes(&bytes, Box::new(sotto::native::load_default_embedder()?))?;
        let t = Instant::now();
        let n = engine.upgrade_sentences(&mut |_, _| {}, &|| false)?;
        let s = t.elapsed().as_secs_f64();
        let out = engine.to_bytes()?;
        std::fs::write(&index_path, &out)?;
        println!(
            "index: upgraded {v1} ({} bytes) with the sentence vectors of {n} chunks in {s:.1} s; {} bytes ({:.2} MB) -> {}",
            bytes.len(),
            out.len(),
            out.len() as f64 / 1e6,
            index_path.display()
        );
    }
    if args.iter().any(|a| a == "--rebuild") || !index_path.exists() {
        let docs = common::cargo_book_docs();
        let mut engine = Engine::new(Default::default(), Box::new(sotto::native::load_default_embedder()?));
        let t = Instant::now();
        let report = engine.add_documents(docs)?;
        let build_s = t.elapsed().as_secs_f64();
        let bytes = engine.to_bytes()?;
        std::fs::write(&index_path, &bytes)?;
        println!(
            "index: built {} documents, {} chunks in {build_s:.1} s; {} bytes ({:.2} MB) -> {}",
            report.documents,
            report.chunks,
            bytes.len(),
            bytes.len() as f64 / 1e6,
            index_path.display()
        );
    }
    let bytes = std::fs::read(&index_path)?;
    let t = Instant::now();
    let mut engine = Engine::from_bytes(&bytes, Box::new(sotto::native::load_default_embedder()?))?;
    if let Some(t) = arg("--tune") {
        let (l, c) = t.split_once(',').ok_or("--tune wants lambda,cutoff")?;
        engine.set_select_tuning(sotto::rag::select::SelectTuning {
            mmr_lambda: l.parse()?,
            other_doc_cutoff: c.parse()?,
        });
        println!("tuning: MMR lambda {l}, other-document cutoff {c}");
    }
    println!(
        "index: {} ({:.2} MB, {} chunks), loaded in {:.0} ms",
        index_path.display(),
        bytes.len() as f64 / 1e6,
        engine.stats().chunks,
        t.elapsed().as_secs_f64() * 1e3
    );
    println!("options: {:?}", ask.search);

    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let mut select = Vec::new();
    let (mut answered, mut cites, mut sentences) = (0usize, 0usize, 0usize);
    let (mut gold, mut contained, mut dev, mut dev_ok, mut test, mut test_ok) = (0, 0, 0, 0, 0, 0);
    let files: Vec<&str> = match arg("--only") {
        Some(f) if f == "hard" => vec!["cargo-book-hard.jsonl"],
        _ => vec!["cargo-book-qa.jsonl", "cargo-book-hard.jsonl"],
    };
    for file in files.iter().copied() {
        // The hard file's unanswerable questions (empty `relevant_docs`) are skipped.
        let ds = parse_jsonl(&std::fs::read_to_string(common::data_dir().join(file))?, true)?;
        for q in ds.questions.iter().filter(|q| !q.relevant_docs.is_empty()) {
            let a = engine.ask(&q.question, &ask, &clock, &mut |_| true)?;
            answered += 1;
            select.push(a.timings.select_ms);
            let relevant: HashSet<&str> = q.relevant_docs.iter().map(String::as_str).collect();
            let cited = a.citations.iter().any(|c| relevant.contains(c.doc_id.as_str()));
            cites += cited as usize;
            sentences += a.sentences.len();
            let text = a.answer.to_lowercase();
            let hit = (!q.answers.is_empty()).then(|| q.answers.iter().any(|s| text.contains(&s.to_lowercase())));
            if let Some(h) = hit {
                gold += 1;
                contained += h as usize;
                if is_dev(&q.id) {
                    dev += 1;
                    dev_ok += h as usize;
                } else {
                    test += 1;
                    test_ok += h as usize;
                }
            }
            println!(
                "{:<5} contain {:<5} cites-relevant {:<5} sentences {} select {:>7.1} ms{} | {}",
                q.id,
                hit.map_or("-".to_owned(), |h| h.to_string()),
                cited,
                a.sentences.len(),
                a.timings.select_ms,
                if a.abstained { " ABSTAINED" } else { "" },
                a.answer.chars().take(400).collect::<String>().replace('\n', " ")
            );
        }
    }
    select.sort_by(f64::total_cmp);
    println!("---");
    println!(
        "containment {contained}/{gold} (DEV {dev_ok}/{dev}, TEST {test_ok}/{test}); cites relevant {cites}/{answered}; \
         sentences/answer {:.2}; select p50 {:.1} ms p95 {:.1} ms",
        sentences as f64 / answered as f64,
        percentile(&select, 0.5),
        percentile(&select, 0.95)
    );
    for file in files.iter().copied().filter(|_| !args.iter().any(|a| a == "--no-eval")) {
        let ds = parse_jsonl(&std::fs::read_to_string(common::data_dir().join(file))?, true)?;
        let options = EvalOptions { search: ask.search.clone(), ..EvalOptions::default() };
        let r = evaluate(&engine, &ds.questions, &options, &clock)?;
        println!("retrieval {file}: doc R@5 {:.3} MRR {:.3} (n = {})", r.doc.recall[&5], r.doc.mrr, r.questions);
    }
    Ok(())
}

fn set_rerank(mut search: sotto::SearchOptions, r: &str) -> Result<sotto::SearchOptions, Box<dyn std::error::Error>> {
    search.rerank = r.parse()?;
    Ok(search)
}

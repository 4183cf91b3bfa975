//! Selecting an extractive answer with all-MiniLM-L6-v2, with and without the engine's
//! cache of sentence vectors: the cold case embeds every candidate sentence of the
//! retrieved chunks (most of an answer's cost), the warm case finds them cached, as
//! for a question asked again or an evaluation running several configurations.
//! Corpus: `docs/*.md`; questions: `docs/sample-qa.jsonl`. Needs the real model.
//!
//! `cargo bench --bench answer` (compare `ask/cold` with `ask/warm` of the same run).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use sotto::rag::ask::AskOptions;
use sotto::{Document, Engine, EngineConfig};

fn engine() -> Engine {
    let embedder = sotto::native::load_default_embedder()
        .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 is needed (run scripts/fetch-models.sh): {e}"));
    let mut engine = Engine::new(EngineConfig::default(), Box::new(embedder));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|x| x == "md") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            docs.push(Document::new(name, std::fs::read_to_string(&path).expect("read a doc")));
        }
    }
    engine.add_documents(docs).expect("index docs/");
    engine
}

fn questions() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sample-qa.jsonl"))
        .expect("docs/sample-qa.jsonl");
    sotto::eval::parse_jsonl(&text, false)
        .expect("sample questions")
        .questions
        .into_iter()
        .map(|q| q.question)
        .collect()
}

fn ask(c: &mut Criterion) {
    let engine = engine();
    let questions = questions();
    let options = AskOptions::default();
    let clock = || 0.0;
    let ask_all = |e: &Engine| {
        for q in &questions {
            e.ask(q, &options, &clock, &mut |_| true).expect("ask");
        }
    };
    let mut g = c.benchmark_group("ask");
    g.sample_size(10);
    // Sentence vectors are stored at index time (format v2): no cold/warm difference.
    g.bench_function("stored", |b| b.iter(|| ask_all(&engine)));
    g.finish();
}

criterion_group!(benches, ask);
criterion_main!(benches);

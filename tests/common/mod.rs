//! Shared helpers for integration tests: where models, data and fixtures live.
#![allow(dead_code)]

use std::path::PathBuf;

use sotto::embed::bert::BertEmbedder;
use sotto::Document;

/// The real all-MiniLM-L6-v2 (panics with instructions when missing: CI has it).
pub fn minilm() -> BertEmbedder {
    sotto::native::load_default_embedder()
        .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 must be present (run scripts/fetch-models.sh): {e}"))
}

/// `$SOTTO_DATA` or `<repo>/../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SOTTO_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("data"))
}

/// A committed fixture file.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

/// Every page of the Cargo Book, with ids relative to its root.
pub fn cargo_book_docs() -> Vec<Document> {
    let root = data_dir().join("cargo-book");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{} must exist: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                let id = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(&path).unwrap();
                out.push(Document::from_bytes(id, &bytes).unwrap());
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A model-free embedder for quick tests.
pub fn hashing() -> sotto::embed::hashing::HashEmbedder {
    sotto::embed::hashing::HashEmbedder::new(128)
}

#[allow(unused)]
fn _assert_types(_: BertEmbedder) {}

/// A Cargo Book-style passage of ~80 words, for generation prompts of a known size
/// (`benches/generate.rs`, `examples/prefill_speed.rs`, `tests/prefill_parity.rs`).
pub const PASSAGE: &str = "Cargo is the Rust package manager. It downloads your package's dependencies, \
compiles your packages, makes distributable packages, and uploads them to crates.io. A workspace \
is a set of packages that share one Cargo.lock and one output directory. Profiles change compiler \
settings such as optimisation level and debug information. Features let a package offer optional \
functionality, enabled by dependents with the features key. Build scripts run before the package \
is compiled and can generate code or link native libraries. ";

/// A RAG question over three copies of [`PASSAGE`]: a ~340-token SmolLM2 prompt.
pub fn three_source_question() -> String {
    format!("Sources:\n[1] {PASSAGE}\n[2] {PASSAGE}\n[3] {PASSAGE}\nQuestion: What does a workspace share?")
}

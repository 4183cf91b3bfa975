//! The ingest stage (clean → chunk → dedup) on the real Cargo Book in
//! `../shared/data/cargo-book`: every page carries the same mdBook chrome, and
//! `print.html` repeats every other page, so most of its chunks must be recognised as
//! duplicates once the canonical pages are in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sotto::ingest::chunk::{chunk, chunk_cost, Chunk, ChunkConfig, TokenCounter};
use sotto::ingest::clean::{clean, CleanConfig, CleanedDoc};
use sotto::ingest::dedup::{DedupConfig, Deduplicator, DupKind};
use sotto::ingest::{Document, Limits};
use unicode_segmentation::UnicodeSegmentation;

/// Whitespace-ish counter: words and punctuation are tokens (close to BERT's pre-tokenizer).
struct WordCounter;
impl TokenCounter for WordCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_word_bounds().filter(|w| !w.chars().all(char::is_whitespace)).count()
    }
}

/// The real all-MiniLM-L6-v2 WordPiece tokenizer, without truncation or padding; also
/// measures how many calls and how much time go to the tokenizer.
struct MiniLmCounter {
    tk: tokenizers::Tokenizer,
    calls: std::cell::Cell<usize>,
    bytes: std::cell::Cell<usize>,
    time: std::cell::Cell<std::time::Duration>,
}
impl TokenCounter for MiniLmCounter {
    fn count_tokens(&self, text: &str) -> usize {
        let t = Instant::now();
        let n = self.tk.encode_fast(text, false).map(|e| e.len()).unwrap_or(usize::MAX / 4);
        self.time.set(self.time.get() + t.elapsed());
        self.calls.set(self.calls.get() + 1);
        self.bytes.set(self.bytes.get() + text.len());
        n
    }
    fn counts_are_subadditive(&self) -> bool {
        // WordPiece after whitespace/punctuation pre-tokenization; `chunk_book` checks
        // every chunk's real count against the budget, so the claim is tested here.
        true
    }
}

fn book_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cargo-book");
    assert!(dir.is_dir(), "the Cargo Book corpus is required at {}", dir.display());
    dir
}

fn html_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable corpus directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// (document id, cleaned document) for every page.
fn cleaned_book() -> Vec<(String, CleanedDoc)> {
    let dir = book_dir();
    let files = html_files(&dir);
    assert!(files.len() >= 100, "expected the full book, found {} pages", files.len());
    let t = Instant::now();
    let docs: Vec<(String, CleanedDoc)> = files
        .iter()
        .map(|path| {
            let id = path.strip_prefix(&dir).expect("inside the corpus").to_string_lossy().replace('\\', "/");
            let bytes = std::fs::read(path).expect("readable page");
            let doc = Document::from_bytes(id.clone(), &bytes).expect("UTF-8 page");
            doc.validate(&Limits::default()).expect("valid page");
            let cleaned = clean(&doc, &CleanConfig::default()).expect("clean never fails on a valid page");
            (id, cleaned)
        })
        .collect();
    eprintln!("cleaned {} pages in {:.2?}", docs.len(), t.elapsed());
    docs
}

fn chunk_book(docs: &[(String, CleanedDoc)], counter: &dyn TokenCounter) -> Vec<(String, Vec<Chunk>)> {
    let config = ChunkConfig::default();
    let t = Instant::now();
    let out: Vec<(String, Vec<Chunk>)> = docs.iter().map(|(id, d)| (id.clone(), chunk(d, &config, counter))).collect();
    if let Ok(page) = std::env::var("SOTTO_SHOW_CHUNKS") {
        for (id, chunks) in out.iter().filter(|(id, _)| *id == page) {
            for c in chunks {
                eprintln!(
                    "--- {id} [{}..{}] {} tokens, path {:?}\n{}",
                    c.start,
                    c.end,
                    chunk_cost(c, counter),
                    c.heading_path,
                    c.text
                );
            }
        }
    }
    let n: usize = out.iter().map(|(_, c)| c.len()).sum();
    eprintln!("chunked into {n} chunks in {:.2?}", t.elapsed());
    for ((id, d), (_, chunks)) in docs.iter().zip(&out) {
        for c in chunks {
            assert_eq!(c.text, d.text[c.start..c.end], "{id}");
            let cost = chunk_cost(c, counter);
            assert!(cost <= config.max_tokens, "{id}: chunk of {cost} tokens: {:?}", &c.text[..c.text.len().min(200)]);
        }
    }
    out
}

struct DupStats {
    print_chunks: usize,
    exact: usize,
    near: usize,
    canonical_chunks: usize,
    canonical_dups: usize,
}

/// Insert every canonical page's kept chunks, then classify print.html's chunks.
fn measure_print_duplicates(chunked: &[(String, Vec<Chunk>)]) -> DupStats {
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let mut next = 0u32;
    let (mut canonical_chunks, mut canonical_dups) = (0, 0);
    for (id, chunks) in chunked.iter().filter(|(id, _)| id != "print.html") {
        for c in chunks {
            canonical_chunks += 1;
            match dedup.check(&c.text) {
                DupKind::Unique => {
                    dedup.insert(next, &c.text);
                    next += 1;
                }
                _ => {
                    canonical_dups += 1;
                    if std::env::var_os("SOTTO_SHOW_DUPS").is_some() {
                        eprintln!("  canonical dup in {id}: {:?}", c.text.chars().take(100).collect::<String>());
                    }
                }
            }
        }
    }
    let print = &chunked.iter().find(|(id, _)| id == "print.html").expect("print.html in the corpus").1;
    let (mut exact, mut near) = (0, 0);
    let mut unique_samples = Vec::new();
    for c in print {
        match dedup.check(&c.text) {
            DupKind::Exact { .. } => exact += 1,
            DupKind::Near { .. } => near += 1,
            DupKind::Unique => {
                if unique_samples.len() < 8 {
                    unique_samples.push(c.text.chars().take(120).collect::<String>());
                }
            }
        }
    }
    for s in &unique_samples {
        eprintln!("  unique print.html chunk: {s:?}");
    }
    DupStats { print_chunks: print.len(), exact, near, canonical_chunks, canonical_dups }
}

fn report(label: &str, s: &DupStats) -> f64 {
    let frac = (s.exact + s.near) as f64 / s.print_chunks.max(1) as f64;
    eprintln!(
        "[{label}] print.html: {} chunks, {} exact + {} near duplicates = {:.1}%; canonical pages: {} chunks, {} duplicates among themselves",
        s.print_chunks,
        s.exact,
        s.near,
        100.0 * frac,
        s.canonical_chunks,
        s.canonical_dups
    );
    frac
}

#[test]
fn cargo_book_cleans_without_chrome() {
    let docs = cleaned_book();
    for (id, d) in &docs {
        if id == "toc.html" {
            continue; // the chapter list is that page's only content
        }
        assert!(!d.text.trim().is_empty(), "{id}: no text");
        let redirect = d.title.as_deref() == Some("Redirecting...");
        assert!(
            redirect || d.title.as_deref().is_some_and(|t| t.ends_with("The Cargo Book")),
            "{id}: title {:?}",
            d.title
        );
        for chrome in
            ["Keyboard shortcuts", "Toggle Table of Contents", "Previous chapter", "localStorage", "Search this book"]
        {
            assert!(!d.text.contains(chrome), "{id}: chrome {chrome:?} in the text");
        }
        // The sidebar's chapter list would put these three next to each other.
        assert!(!d.text.contains("Introduction\n\n1. Getting Started"), "{id}: sidebar in the text");
        let mut prev = 0;
        for b in &d.blocks {
            assert!(
                b.start >= prev
                    && b.end <= d.text.len()
                    && d.text.is_char_boundary(b.start)
                    && d.text.is_char_boundary(b.end)
            );
            prev = b.end;
        }
    }
}

#[test]
fn cargo_book_print_page_is_mostly_duplicates() {
    let docs = cleaned_book();
    let chunked = chunk_book(&docs, &WordCounter);
    let stats = measure_print_duplicates(&chunked);
    let frac = report("word counter", &stats);
    assert!(frac >= 0.8, "only {:.1}% of print.html's chunks are duplicates", 100.0 * frac);
}

#[test]
fn cargo_book_with_the_real_tokenizer() {
    let path = sotto::native::models_dir().join(sotto::native::DEFAULT_EMBEDDER).join("tokenizer.json");
    let mut tk = tokenizers::Tokenizer::from_file(&path)
        .unwrap_or_else(|e| panic!("tokenizer {} is required (run the model fetch script): {e}", path.display()));
    tk.with_truncation(None).expect("disable truncation");
    tk.with_padding(None);
    let counter = MiniLmCounter { tk, calls: Default::default(), bytes: Default::default(), time: Default::default() };
    let docs = cleaned_book();
    let text_bytes: usize = docs.iter().map(|(_, d)| d.text.len()).sum();
    let t = Instant::now();
    let whole: usize = docs.iter().map(|(_, d)| counter.count_tokens(&d.text)).sum();
    eprintln!("baseline: one tokenizer pass over all cleaned text ({whole} tokens) takes {:.2?}", t.elapsed());
    counter.time.set(Default::default());
    counter.calls.set(0);
    counter.bytes.set(0);
    let t = Instant::now();
    let chunked: Vec<(String, Vec<Chunk>)> =
        docs.iter().map(|(id, d)| (id.clone(), chunk(d, &ChunkConfig::default(), &counter))).collect();
    eprintln!(
        "MiniLM chunking: {:.2?} total, of which tokenizer {:.2?} in {} calls over {} bytes ({} bytes of cleaned text)",
        t.elapsed(),
        counter.time.get(),
        counter.calls.get(),
        counter.bytes.get(),
        text_bytes
    );
    let chunked_checked = chunk_book(&docs, &counter);
    assert_eq!(chunked, chunked_checked, "chunking is deterministic");
    let stats = measure_print_duplicates(&chunked);
    let frac = report("MiniLM tokenizer", &stats);
    assert!(frac >= 0.8, "only {:.1}% of print.html's chunks are duplicates", 100.0 * frac);
}

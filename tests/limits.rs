//! Resource limits through the engine (issue 14): the inputs that crashed or hung the
//! browser engine are indexed in bounded time and memory, a document past a limit is a
//! typed error that leaves the index byte-identical, and configurations written before
//! the limits existed still load. The limits themselves are listed in `docs/limits.md`.

use sotto::embed::hashing::HashEmbedder;
use sotto::ingest::clean::CleanConfig;
use sotto::ingest::Limits;
use sotto::{Document, Engine, EngineConfig, Error, Format, SearchOptions};

fn engine(config: EngineConfig) -> Engine {
    Engine::new(config, Box::new(HashEmbedder::new(64)))
}

fn seeded(config: EngineConfig) -> Engine {
    let mut e = engine(config);
    e.add_documents(vec![Document::new("a.md", "# Cargo\n\nCargo is the Rust package manager.")]).unwrap();
    e
}

/// Issue 14's engine killer: one 64 KiB heading, then 100 000 tiny paragraphs. The wasm
/// engine grew to 4 GB and died on it.
fn long_heading_many_paragraphs() -> String {
    let mut s = String::from("# ");
    s.push_str(&"heading ".repeat(8192));
    s.push_str("\n\n");
    s.push_str(&"p\n\n".repeat(100_000));
    s
}

/// Peak resident memory of this process so far, in MiB (Linux; `None` elsewhere).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status.lines().find(|l| l.starts_with("VmHWM"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[test]
fn hostile_markdown_indexes_in_bounded_memory() {
    let mut e = seeded(EngineConfig::default());
    let body = long_heading_many_paragraphs();
    let report = e.add_documents(vec![Document::new("hostile.md", body.as_str())]).unwrap();
    assert_eq!(report.documents, 1);
    assert!(report.chunks >= 1);
    if let Some(peak) = peak_rss_mib() {
        // Copying the heading into every block's path needed ~6 GB.
        assert!(peak < 1024, "peak RSS {peak} MiB");
    }
    // Every chunk's heading path is the heading cut to fit, not 64 KiB.
    let hits = e.search("heading", &SearchOptions { k: 50, ..SearchOptions::default() }).unwrap();
    assert!(!hits.is_empty());
    for h in &hits {
        let bytes: usize = h.heading_path.iter().map(String::len).sum();
        assert!(bytes <= 1024, "{} bytes of heading path", bytes);
    }
    // Still usable afterwards.
    assert_eq!(e.search("Cargo package manager", &SearchOptions::default()).unwrap()[0].doc_id, "a.md");
}

#[test]
fn deeply_nested_html_indexes() {
    let mut e = seeded(EngineConfig::default());
    let n = 300_000;
    let body = format!("<html><body>{}deep text{}</body></html>", "<div>".repeat(n), "</div>".repeat(n));
    e.add_documents(vec![Document::new("deep.html", body)]).unwrap();
    let hits = e.search("deep text", &SearchOptions::default()).unwrap();
    assert_eq!(hits[0].doc_id, "deep.html");
}

#[test]
fn a_document_past_the_block_limit_is_refused_and_nothing_changes() {
    let config =
        EngineConfig { clean: CleanConfig { max_blocks: 1000, ..CleanConfig::default() }, ..Default::default() };
    let mut e = seeded(config);
    let before = e.to_bytes().unwrap();
    let too_many = Document::new("many.txt", "para\n\n".repeat(1001)).with_format(Format::Text);
    let ok = Document::new("b.md", "# Other\n\nAnother document.");
    match e.add_documents(vec![ok, too_many]) {
        Err(Error::LimitExceeded { what: "blocks per document", limit: 1000, got: 1001 }) => {}
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_eq!(e.to_bytes().unwrap(), before, "the whole batch was refused, the index is unchanged");
    e.add_documents(vec![Document::new("fits.txt", "para\n\n".repeat(1000)).with_format(Format::Text)]).unwrap();
}

#[test]
fn configurations_without_the_new_limits_still_load() {
    // An EngineConfig as written before the limits existed: the new fields are absent.
    let mut json = serde_json::to_value(EngineConfig::default()).unwrap();
    json["limits"].as_object_mut().unwrap().remove("max_chunks_per_document");
    for field in ["max_heading_bytes", "max_blocks", "max_nesting_depth"] {
        json["clean"].as_object_mut().unwrap().remove(field);
    }
    json["clean"]["max_word_chars"] = serde_json::json!(100);
    let config: EngineConfig = serde_json::from_value(json).unwrap();
    assert_eq!(config.clean, CleanConfig { max_word_chars: 100, ..CleanConfig::default() });
    assert_eq!(config.limits, Limits::default());
}

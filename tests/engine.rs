//! Engine behaviour with a model-free embedder: upsert, delete, filters, modes, and
//! every bad input the core issue lists — each a typed error that leaves the engine
//! as it was.

use sotto::embed::hashing::HashEmbedder;
use sotto::index::format::{FORMAT_VERSION, MAGIC};
use sotto::index::fusion::Fusion;
use sotto::{Document, Engine, EngineConfig, Error, Filter, Format, Mode, SearchOptions};

fn engine() -> Engine {
    Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(128)))
}

fn corpus() -> Vec<Document> {
    vec![
        Document::new("guide/cargo.md", "# Cargo\n\nCargo is the Rust package manager. It downloads dependencies and compiles packages.")
            .with_meta("section", "guide"),
        Document::new(
            "guide/lock.html",
            "<html><head><title>Cargo.lock</title></head><body><nav>Home | Guide | Reference</nav><main><h1>Cargo.lock</h1><p>The lock file records the exact versions of every dependency that was resolved.</p></main></body></html>",
        )
        .with_meta("section", "guide"),
        Document::new("reference/profiles.txt", "Profiles change compiler settings such as optimization level and debug information.")
            .with_meta("section", "reference"),
        Document::new("fr/recette.txt", "La tarte aux pommes se prépare avec des pommes, du beurre et de la farine.")
            .with_meta("language", "fr"),
    ]
}

fn loaded() -> Engine {
    let mut e = engine();
    let report = e.add_documents(corpus()).expect("corpus indexes");
    assert_eq!(report.documents, 4);
    assert!(report.chunks >= 4);
    e
}

fn opts(k: usize, mode: Mode) -> SearchOptions {
    SearchOptions { k, mode, ..SearchOptions::default() }
}

fn fingerprint(e: &Engine) -> Vec<u8> {
    e.to_bytes().expect("serializes")
}

#[test]
fn search_finds_the_right_document_in_every_mode() {
    let e = loaded();
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        let hits = e.search("exact versions of every dependency lock file", &opts(3, mode)).unwrap();
        assert_eq!(hits[0].doc_id, "guide/lock.html", "mode {mode:?}: {hits:?}");
        assert_eq!(hits[0].rank, 1);
        let text = &e.document(&hits[0].doc_id).unwrap().text[hits[0].start..hits[0].end];
        assert_eq!(text, hits[0].text, "hit span must address the cleaned text");
    }
    let weighted = SearchOptions { fusion: Fusion::Weighted { alpha: 0.3 }, ..opts(3, Mode::Hybrid) };
    assert_eq!(e.search("lock file exact versions", &weighted).unwrap()[0].doc_id, "guide/lock.html");
}

#[test]
fn html_chrome_is_not_indexed() {
    let e = loaded();
    let doc = e.document("guide/lock.html").unwrap();
    assert!(!doc.text.contains("Home | Guide"), "navigation leaked: {:?}", doc.text);
    assert_eq!(doc.title.as_deref(), Some("Cargo.lock"));
    assert_eq!(doc.format, Format::Html);
}

#[test]
fn french_text_is_stemmed_as_french() {
    let e = loaded();
    let hits = e.search("pomme", &opts(1, Mode::Sparse)).unwrap();
    assert_eq!(hits[0].doc_id, "fr/recette.txt");
}

#[test]
fn upsert_replaces_and_delete_removes_everywhere() {
    let mut e = loaded();
    let report = e
        .add_documents(vec![Document::new(
            "reference/profiles.txt",
            "Workspaces group several packages that share one lock file and target directory.",
        )])
        .unwrap();
    assert_eq!(report.replaced, 1);
    assert_eq!(e.stats().documents, 4);
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        let hits = e.search("optimization level debug information", &opts(10, mode)).unwrap();
        assert!(hits.iter().all(|h| !h.text.contains("optimization level")), "old text still indexed in {mode:?}");
    }
    let n = e.remove_documents(&["guide/cargo.md"]).unwrap();
    assert_eq!(n, 1);
    assert!(e.document("guide/cargo.md").is_none());
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        let hits = e.search("Rust package manager downloads dependencies", &opts(10, mode)).unwrap();
        assert!(hits.iter().all(|h| h.doc_id != "guide/cargo.md"), "deleted doc returned in {mode:?}");
    }
    // Re-adding the same text works: its chunks were forgotten by the duplicate detector.
    let again = e.add_documents(vec![corpus().remove(0)]).unwrap();
    assert!(again.chunks >= 1 && again.exact_duplicates == 0, "{again:?}");
}

#[test]
fn filters_apply_before_ranking() {
    let e = loaded();
    let eq = SearchOptions {
        filters: vec![Filter::Equals { key: "section".into(), value: "reference".into() }],
        ..opts(5, Mode::Hybrid)
    };
    let hits = e.search("lock file dependency versions", &eq).unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.doc_id == "reference/profiles.txt"), "{hits:?}");
    let prefix = SearchOptions {
        filters: vec![Filter::Prefix { key: "id".into(), prefix: "guide/".into() }],
        ..opts(5, Mode::Dense)
    };
    assert!(e.search("compiler settings", &prefix).unwrap().iter().all(|h| h.doc_id.starts_with("guide/")));
    let one_of = SearchOptions {
        filters: vec![Filter::OneOf {
            key: "id".into(),
            values: vec!["fr/recette.txt".into(), "guide/cargo.md".into()],
        }],
        ..opts(5, Mode::Sparse)
    };
    let hits = e.search("pommes cargo", &one_of).unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    let none = SearchOptions {
        filters: vec![Filter::Equals { key: "section".into(), value: "nope".into() }],
        ..opts(5, Mode::Hybrid)
    };
    assert!(e.search("cargo", &none).unwrap().is_empty());
}

#[test]
fn k_zero_is_an_error_and_k_beyond_the_corpus_returns_everything() {
    let e = loaded();
    assert!(matches!(e.search("cargo", &opts(0, Mode::Hybrid)), Err(Error::InvalidOption { name: "k", .. })));
    let all = e.search("cargo rust lock pommes profiles", &opts(1000, Mode::Dense)).unwrap();
    assert_eq!(all.len(), e.stats().chunks);
    let mut ids: Vec<u32> = all.iter().map(|h| h.chunk_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
}

#[test]
fn bad_queries_are_typed_errors() {
    let e = loaded();
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        assert!(matches!(e.search("", &opts(5, mode)), Err(Error::InvalidQuery(_))));
        assert!(matches!(e.search("  \n\t", &opts(5, mode)), Err(Error::InvalidQuery(_))));
        let long = "cargo ".repeat(100_000 / 6 + 1);
        assert!(long.len() >= 100_000);
        assert!(matches!(e.search(&long, &opts(5, mode)), Err(Error::InvalidQuery(_))));
    }
    let bad_alpha = SearchOptions { fusion: Fusion::Weighted { alpha: 1.5 }, ..opts(5, Mode::Hybrid) };
    assert!(matches!(e.search("cargo", &bad_alpha), Err(Error::InvalidOption { .. })));
    // Still usable.
    assert!(!e.search("cargo", &opts(5, Mode::Hybrid)).unwrap().is_empty());
}

/// Every rejected batch must leave the engine byte-for-byte unchanged.
fn assert_rejected(e: &mut Engine, docs: Vec<Document>, check: impl Fn(&Error) -> bool) {
    let before = fingerprint(e);
    let err = e.add_documents(docs).expect_err("batch must be rejected");
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(fingerprint(e), before, "a rejected batch changed the engine ({err})");
}

#[test]
fn bad_documents_are_rejected_atomically() {
    let mut e = loaded();
    let good = || Document::new("new.txt", "A perfectly fine new document about build scripts.");
    let invalid = |err: &Error| matches!(err, Error::InvalidDocument { .. });
    assert_rejected(&mut e, vec![good(), Document::new("empty.txt", "")], invalid);
    assert_rejected(&mut e, vec![good(), Document::new("ws.txt", " \n\t\u{a0} \r\n ")], invalid);
    assert_rejected(&mut e, vec![good(), Document::new("", "no id")], invalid);
    assert_rejected(&mut e, vec![Document::new("nul.bin", "abc\0\0\0\u{1}\u{2}def"), good()], invalid);
    // 50 MB document: over the 16 MiB default limit.
    assert_rejected(&mut e, vec![good(), Document::new("big.txt", "word ".repeat(10 << 20))], invalid);
    // One 1 MB "word": nothing readable remains after cleaning.
    assert_rejected(&mut e, vec![good(), Document::new("word.txt", "x".repeat(1 << 20))], invalid);
    // Duplicate ids in one batch.
    assert_rejected(&mut e, vec![good(), good()], |err| matches!(err, Error::DuplicateId(id) if id == "new.txt"));
    // Invalid UTF-8 never becomes a document.
    let bytes = [b'o', b'k', 0xff, 0xfe, b'x'];
    assert!(matches!(Document::from_bytes("bad.txt", &bytes), Err(Error::InvalidUtf8 { offset: 2, .. })));
    // The engine is still usable and the good document goes in on its own.
    assert_eq!(e.add_documents(vec![good()]).unwrap().documents, 1);
}

#[test]
fn deleting_an_unknown_id_removes_nothing() {
    let mut e = loaded();
    let before = fingerprint(&e);
    let err = e.remove_documents(&["guide/cargo.md", "nope.txt"]).unwrap_err();
    assert!(matches!(err, Error::UnknownDocument(ref id) if id == "nope.txt"));
    assert_eq!(fingerprint(&e), before);
}

#[test]
fn hostile_html_is_survivable() {
    let mut e = loaded();
    let deep = format!("<html><body>{}deep text{}</body></html>", "<div>".repeat(10_000), "</div>".repeat(10_000));
    let no_body = "<html><head><title>Only a head</title></head></html>".to_string();
    let hostile = r#"<html><body><script>alert(1)</script><img src=x onerror="alert(2)"><p>Visible <a href="javascript:alert(3)">link</a> text.</p><style>p{}</style></body></html>"#;
    let r = e.add_documents(vec![Document::new("deep.html", deep)]).unwrap();
    assert!(r.chunks >= 1);
    assert!(e.document("deep.html").unwrap().text.contains("deep text"));
    // A page with no body and no readable text is rejected with a typed error.
    match e.add_documents(vec![Document::new("head.html", no_body)]) {
        Ok(_) => assert!(e.document("head.html").is_some()),
        Err(err) => assert!(matches!(err, Error::InvalidDocument { .. }), "{err:?}"),
    }
    e.add_documents(vec![Document::new("hostile.html", hostile)]).unwrap();
    let text = &e.document("hostile.html").unwrap().text;
    assert!(text.contains("Visible") && text.contains("link"));
    assert!(!text.contains("alert"), "script text leaked: {text:?}");
}

#[test]
fn index_bytes_round_trip() {
    let e = loaded();
    let bytes = e.to_bytes().unwrap();
    let back = Engine::from_bytes(&bytes, Box::new(HashEmbedder::new(128))).unwrap();
    assert_eq!(back.to_bytes().unwrap(), bytes, "re-serialization must be identical");
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        let a = e.search("lock file versions", &opts(4, mode)).unwrap();
        let b = back.search("lock file versions", &opts(4, mode)).unwrap();
        assert_eq!(a, b, "{mode:?}");
    }
    assert_eq!(back.stats(), e.stats());
}

#[test]
fn damaged_or_foreign_index_files_are_refused() {
    let e = loaded();
    let bytes = e.to_bytes().unwrap();
    let emb = || Box::new(HashEmbedder::new(128));
    // Wrong magic.
    let mut wrong = bytes.clone();
    wrong[0] = b'X';
    assert!(matches!(Engine::from_bytes(&wrong, emb()), Err(Error::BadMagic)));
    assert!(matches!(Engine::from_bytes(b"", emb()), Err(Error::BadMagic)));
    // Future version.
    let mut future = bytes.clone();
    future[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(
        matches!(Engine::from_bytes(&future, emb()), Err(Error::IndexFormat { found, .. }) if found == FORMAT_VERSION + 1)
    );
    // Truncated at many points.
    for cut in [9, 13, 20, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let r = Engine::from_bytes(&bytes[..cut], emb());
        assert!(matches!(r, Err(Error::Corrupt { .. })), "cut at {cut}: {:?}", r.err());
    }
    // A flipped bit anywhere after the header is caught by a checksum (or header check).
    for pos in [17, 40, bytes.len() / 2, bytes.len() - 2] {
        let mut flipped = bytes.clone();
        flipped[pos] ^= 0x10;
        let r = Engine::from_bytes(&flipped, emb());
        assert!(
            matches!(r, Err(Error::Corrupt { .. }) | Err(Error::IndexFormat { .. })),
            "bit flip at {pos}: {:?}",
            r.err()
        );
    }
    // Another embedder.
    let r = Engine::from_bytes(&bytes, Box::new(HashEmbedder::new(64)));
    assert!(matches!(r, Err(Error::EmbedderMismatch { .. })), "{:?}", r.err());
}

#[test]
fn cancelled_ingest_changes_nothing() {
    let mut e = loaded();
    let before = fingerprint(&e);
    let err = e
        .add_documents_with(vec![Document::new("x.txt", "Some new text to embed.")], &mut |_| {}, &|| true)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
    assert_eq!(fingerprint(&e), before);
}

#[test]
fn duplicate_pages_are_dropped_and_counted() {
    let mut config = EngineConfig::default();
    config.chunk.max_tokens = 120;
    config.chunk.overlap_tokens = 0;
    let mut e = Engine::new(config, Box::new(HashEmbedder::new(128)));
    let page = "Dependencies are listed in the manifest under the dependencies table. Each entry names a crate and a \
                version requirement that Cargo resolves against the registry index when it builds the lock file. A caret \
                requirement allows updates that do not modify the left-most non-zero digit, a tilde requirement allows \
                patch updates only, and a wildcard allows any version in its position. Comparison requirements give an \
                explicit range. Several requirements can be combined with a comma, and all of them must hold for a \
                version to be selected by the resolver.";
    let other =
        "Publishing a crate uploads a packaged archive to the registry. You need an API token from your account \
                 page, and the package must have a license, a description and no path dependencies without versions. \
                 Once published, a version can never be overwritten or deleted, only yanked.";
    let report = e
        .add_documents(vec![
            Document::new("a.txt", page),
            Document::new("print.txt", format!("{page}\n\n{other}")),
            Document::new("b.txt", page.replace("Cargo resolves", "Cargo will resolve")),
        ])
        .unwrap();
    assert_eq!(report.exact_duplicates, 1, "{report:?}");
    assert_eq!(report.near_duplicates, 1, "{report:?}");
    assert_eq!(e.stats().exact_duplicates, 1);
    // The canonical (shorter) page keeps its chunk; the aggregate keeps only what is new.
    let hits = e.search("dependencies table version requirement", &opts(1, Mode::Sparse)).unwrap();
    assert_eq!(hits[0].doc_id, "a.txt");
    assert_eq!(e.document("print.txt").unwrap().chunks.len(), 1);
    assert!(e.document("b.txt").unwrap().chunks.is_empty());
}

#[test]
fn stats_count_the_vectors_in_hnsw_segments_and_they_survive_a_round_trip() {
    let mut config = EngineConfig::default();
    config.dense.hnsw_threshold = 2;
    let mut e = Engine::new(config, Box::new(HashEmbedder::new(128)));
    e.add_documents(corpus()).unwrap();
    assert_eq!(e.stats().hnsw_vectors, 0, "nothing is HNSW before build_hnsw");
    e.build_hnsw();
    let stats = e.stats();
    assert!(stats.hnsw_vectors >= 2 && stats.hnsw_vectors <= stats.chunks, "{stats:?}");
    let back = Engine::from_bytes(&e.to_bytes().unwrap(), Box::new(HashEmbedder::new(128))).unwrap();
    assert_eq!(back.stats().hnsw_vectors, stats.hnsw_vectors);
    assert_eq!(e.search("lock file versions", &opts(3, Mode::Dense)).unwrap()[0].doc_id, "guide/lock.html");
}

#[test]
fn hnsw_builds_by_steps_report_progress_and_stop_when_cancelled_keeping_what_was_built() {
    let mut config = EngineConfig::default();
    config.dense.hnsw_threshold = 2;
    let fresh = || {
        let mut e = Engine::new(config.clone(), Box::new(HashEmbedder::new(128)));
        e.add_documents(corpus()).unwrap();
        e
    };
    let mut e = fresh();
    let chunks = e.stats().chunks;
    assert!(chunks >= 4, "{chunks} chunks");
    let mut seen = Vec::new();
    let report = e
        .build_hnsw_with(
            2,
            &mut |p| {
                if let sotto::rag::Progress::Hnsw { done, total } = p {
                    seen.push((done, total));
                }
            },
            &|| false,
        )
        .unwrap();
    assert!(report.steps >= 2 && !report.cancelled, "{report:?}");
    assert_eq!(report.hnsw_vectors + report.flat_vectors, chunks);
    assert_eq!(report.hnsw_vectors, e.stats().hnsw_vectors);
    assert!(report.flat_vectors < 2, "{report:?}: the flat rest is under the threshold");
    assert_eq!(seen.len(), report.steps);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0) && seen.iter().all(|s| s.1 == chunks), "{seen:?}");
    assert_eq!(e.search("lock file versions", &opts(3, Mode::Dense)).unwrap()[0].doc_id, "guide/lock.html");

    // Cancelled after the first step: that segment stays, the rest is still scanned exactly.
    let mut c = fresh();
    let calls = std::cell::Cell::new(0);
    let report = c
        .build_hnsw_with(2, &mut |_| {}, &|| {
            calls.set(calls.get() + 1);
            calls.get() > 1
        })
        .unwrap();
    assert!(report.cancelled && report.steps == 1 && report.hnsw_vectors == 2, "{report:?}");
    assert_eq!(report.flat_vectors, chunks - 2);
    assert_eq!(c.search("lock file versions", &opts(3, Mode::Dense)).unwrap()[0].doc_id, "guide/lock.html");
    let back = Engine::from_bytes(&c.to_bytes().unwrap(), Box::new(HashEmbedder::new(128))).unwrap();
    assert_eq!(back.stats().hnsw_vectors, 2);

    assert_eq!(c.build_hnsw_with(0, &mut |_| {}, &|| false).unwrap_err().kind(), "InvalidOption");
}

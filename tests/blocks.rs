//! The building blocks (`rag::blocks`) on the real all-MiniLM-L6-v2: `embed_texts` gives
//! the vectors indexing stores, `rerank_passages` finds the passage and the sentence that
//! answer, `chunk_document` reports the chunks indexing makes — and each refuses bad
//! input with a typed error.

mod common;

use sotto::rag::blocks::{EmbedOptions, MAX_EMBED_TEXTS, MAX_RERANK_PASSAGES};
use sotto::{Document, Engine, EngineConfig, Error, Format};

fn engine() -> Engine {
    Engine::new(EngineConfig::default(), Box::new(common::minilm()))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embed_texts_matches_the_embedder_batched_and_unnormalised() {
    let e = engine();
    let texts =
        ["Cargo downloads your dependencies.", "The capital of France is Paris.", "Profiles set optimisation levels."];
    let mut calls = Vec::new();
    let config = EngineConfig { embed_batch: 2, ..EngineConfig::default() };
    let small_batches = Engine::new(config, Box::new(common::minilm()));
    let v = small_batches
        .embed_texts(&texts, &EmbedOptions::default(), &mut |done, total| calls.push((done, total)), &|| false)
        .unwrap();
    assert_eq!(calls, vec![(2, 3), (3, 3)], "progress after each batch of embed_batch = 2");
    assert_eq!(v.len(), 3);
    for (t, got) in texts.iter().zip(&v) {
        assert_eq!(got.len(), 384);
        let norm = dot(got, got).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "normalised: {norm}");
        let alone = e.embed_texts(&[t], &EmbedOptions::default(), &mut |_, _| {}, &|| false).unwrap();
        assert!(dot(got, &alone[0]) > 0.9999, "batching must not change a vector");
    }
    // Semantics: the query is nearest to the sentence about dependencies.
    let q = &e
        .embed_texts(&["which tool fetches crates?"], &EmbedOptions::default(), &mut |_, _| {}, &|| false)
        .unwrap()[0];
    assert!(dot(q, &v[0]) > dot(q, &v[1]) && dot(q, &v[0]) > dot(q, &v[2]));

    // normalize: false is the pooled vector: same direction, not unit length.
    let raw = e.embed_texts(&texts[..1], &EmbedOptions { normalize: false }, &mut |_, _| {}, &|| false).unwrap();
    let norm = dot(&raw[0], &raw[0]).sqrt();
    assert!((norm - 1.0).abs() > 0.01, "MiniLM's mean-pooled vector is not unit length: {norm}");
    assert!(dot(&raw[0], &v[0]) / norm > 0.9999, "same direction as the normalised vector");

    // Empty input is an empty answer, not an error.
    assert!(e.embed_texts(&[], &EmbedOptions::default(), &mut |_, _| {}, &|| false).unwrap().is_empty());
}

#[test]
fn embed_texts_is_cancellable_and_bounded() {
    let e = engine();
    let many: Vec<String> = (0..40).map(|i| format!("sentence number {i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let seen = std::cell::Cell::new(0);
    let r = e.embed_texts(&refs, &EmbedOptions::default(), &mut |done, _| seen.set(done), &|| seen.get() >= 16);
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(seen.get(), 16, "stopped after the first batch of 16");

    let too_many = vec![""; MAX_EMBED_TEXTS + 1];
    assert!(matches!(
        e.embed_texts(&too_many, &EmbedOptions::default(), &mut |_, _| {}, &|| false),
        Err(Error::LimitExceeded { what: "texts per embed call", .. })
    ));
    let huge = "a ".repeat(9 * 1024 * 1024);
    assert!(matches!(
        e.embed_texts(&[huge.as_str()], &EmbedOptions::default(), &mut |_, _| {}, &|| false),
        Err(Error::LimitExceeded { what: "bytes per embedded text", .. })
    ));
}

#[test]
fn rerank_puts_the_answering_passage_first_and_points_at_its_sentence() {
    let e = engine();
    let passages = [
        "Build scripts run before the package is compiled. They can generate code.",
        "Cargo keeps a lock file. The CARGO_HOME environment variable sets where Cargo stores its registry cache and downloaded crates. Tests run in parallel.",
        "Workspaces share one lock file and one target directory between several packages.",
        "   ",
    ];
    let ranked = e
        .rerank_passages("Which environment variable changes where Cargo keeps its cache?", &passages, &|| false)
        .unwrap();
    assert_eq!(ranked.len(), 4);
    assert_eq!(ranked[0].index, 1, "{ranked:?}");
    let best = &passages[1][ranked[0].start..ranked[0].end];
    assert!(best.contains("CARGO_HOME"), "the scoring sentence: {best:?}");
    assert_eq!(ranked.last().unwrap().index, 3, "a blank passage ranks last");
    assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));

    // MaxSim beats the whole-passage vector when one sentence answers in a long passage:
    // the score is the sentence's cosine, at least the passage's.
    let whole = e.embed_texts(&[passages[1]], &EmbedOptions::default(), &mut |_, _| {}, &|| false).unwrap();
    let q = e
        .embed_texts(
            &["Which environment variable changes where Cargo keeps its cache?"],
            &EmbedOptions::default(),
            &mut |_, _| {},
            &|| false,
        )
        .unwrap();
    assert!(
        ranked[0].score > dot(&q[0], &whole[0]),
        "MaxSim {} vs passage cosine {}",
        ranked[0].score,
        dot(&q[0], &whole[0])
    );

    assert!(matches!(e.rerank_passages("  ", &passages, &|| false), Err(Error::InvalidQuery(_))));
    let many = vec!["x"; MAX_RERANK_PASSAGES + 1];
    assert!(matches!(e.rerank_passages("q", &many, &|| false), Err(Error::LimitExceeded { .. })));
    assert!(e.rerank_passages("q", &[], &|| false).unwrap().is_empty());
}

#[test]
fn chunk_document_reports_what_indexing_makes() {
    let mut e = engine();
    let body = format!(
        "# Guide\n\nIntro paragraph about the guide.\n\n## Install\n\n{}\n\n## Use\n\nRun the tool.",
        "Installing takes a few steps that are described here in detail. ".repeat(60)
    );
    let doc = Document::new("guide.md", body.as_str());
    let preview = e.chunk_document(&doc, &|| false).unwrap();
    assert_eq!(preview.format, Format::Markdown);
    assert_eq!(preview.title.as_deref(), Some("Guide"));
    assert!(preview.chunks.len() >= 3, "{} chunks", preview.chunks.len());
    for c in &preview.chunks {
        assert_eq!(&preview.text[c.start..c.end], c.text);
        assert!(c.tokens <= EngineConfig::default().chunk.max_tokens + 2, "{} tokens", c.tokens);
    }
    assert!(preview.chunks.iter().any(|c| c.heading_path == ["Guide", "Install"]));
    // The repeated paragraph makes duplicate chunks: marked, and indexing drops them.
    let kept: Vec<_> = preview.chunks.iter().filter(|c| c.duplicate.is_none()).collect();
    assert!(kept.len() < preview.chunks.len(), "the repeated section has duplicates");
    // The same chunks as indexing: same count and spans.
    let report = e.add_documents(vec![doc.clone()]).unwrap();
    assert_eq!(report.chunks, kept.len());
    assert_eq!(report.exact_duplicates + report.near_duplicates, preview.chunks.len() - kept.len());
    let stored = e.document("guide.md").unwrap();
    assert_eq!(stored.text, preview.text);
    let spans: Vec<(usize, usize)> =
        stored.chunks.iter().map(|&c| e.chunk(c).map(|(r, _)| (r.start, r.end)).unwrap()).collect();
    assert_eq!(spans, kept.iter().map(|c| (c.start, c.end)).collect::<Vec<_>>());
    // Previewing it again once indexed: its own chunks are not duplicates of themselves.
    let again = e.chunk_document(&doc, &|| false).unwrap();
    assert_eq!(again, preview);

    // Pages: one section per page.
    let pdf_text = Document::new("book.pdf", "Page one text here.\u{c}Page two mentions the port 8080.")
        .with_format(Format::Pages);
    let pages = e.chunk_document(&pdf_text, &|| false).unwrap();
    assert_eq!(
        pages.chunks.iter().map(|c| c.heading_path.clone()).collect::<Vec<_>>(),
        vec![vec!["p. 1"], vec!["p. 2"]]
    );

    // Bad input: the same typed errors as add_documents.
    assert!(matches!(e.chunk_document(&Document::new("", "x"), &|| false), Err(Error::InvalidDocument { .. })));
    assert!(matches!(e.chunk_document(&Document::new("bin", "a\0b"), &|| false), Err(Error::InvalidDocument { .. })));
}

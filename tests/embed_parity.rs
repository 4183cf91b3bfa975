//! Parity of Sotto's candle BERT embedder with sentence-transformers (PyTorch).
//!
//! `tests/fixtures/embedding_reference.json` holds all-MiniLM-L6-v2 vectors written by
//! `scripts/make_embedding_reference.py` (run once by hand; CI never installs PyTorch).
//! The real model must be in `$SOTTO_MODELS/all-MiniLM-L6-v2` or
//! `~/.cache/sotto/models/all-MiniLM-L6-v2` (`scripts/fetch-models.sh` puts it there).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use sotto::embed::bert::BertEmbedder;
use sotto::embed::Embedder;
use sotto::ingest::chunk::TokenCounter;

#[derive(Deserialize)]
struct Reference {
    model: String,
    max_seq_length: usize,
    dim: usize,
    sentences: Vec<String>,
    token_counts: Vec<usize>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embedding_reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let r: Reference = serde_json::from_str(&text).expect("embedding_reference.json is malformed");
    assert_eq!(r.sentences.len(), r.vectors.len());
    assert_eq!(r.sentences.len(), r.token_counts.len());
    assert!(r.sentences.len() >= 20, "the issue asks for at least 20 reference sentences");
    r
}

/// The real model, loaded once for all tests of this file.
fn embedder() -> &'static BertEmbedder {
    static E: OnceLock<BertEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        sotto::native::load_default_embedder()
            .unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 must be present (run scripts/fetch-models.sh): {e}"))
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn identity_matches_sentence_transformers_setup() {
    let r = reference();
    let e = embedder();
    assert_eq!(r.model, "all-MiniLM-L6-v2");
    assert_eq!(e.info().dim, r.dim);
    assert_eq!(e.info().max_tokens, r.max_seq_length, "truncation must match sentence-transformers' max_seq_length");
    assert_eq!(e.special_tokens(), 2);
    assert_eq!(e.info().weights_sha256.len(), 64);
}

#[test]
fn tokenization_matches_reference_lengths() {
    // Same word-piece counts (incl. [CLS]/[SEP], after truncation) as the Python tokenizer:
    // catches a fixed-128 padding or 128 truncation left in place.
    let r = reference();
    let e = embedder();
    for (s, &n) in r.sentences.iter().zip(&r.token_counts) {
        assert_eq!(e.token_ids(s).unwrap().len(), n, "token count differs for {s:?}");
    }
    let longest = r.sentences.iter().max_by_key(|s| s.len()).unwrap();
    assert!(e.count_tokens(longest) > r.max_seq_length, "count_tokens must not truncate");
}

#[test]
fn vectors_match_sentence_transformers() {
    let r = reference();
    let e = embedder();
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let got = e.embed_batch(&texts).unwrap();
    assert_eq!(got.len(), texts.len());
    let mut min = (f32::INFINITY, 0usize);
    let mut max_abs = 0f32;
    let mut failures = Vec::new();
    for (i, (g, want)) in got.iter().zip(&r.vectors).enumerate() {
        assert_eq!(g.len(), r.dim);
        max_abs = g.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(max_abs, f32::max);
        let c = cosine(g, want);
        if c < min.0 {
            min = (c, i);
        }
        if c < 0.999 {
            failures.push(format!("{c:.6} for {:?}", texts[i]));
        }
    }
    println!(
        "min cosine vs sentence-transformers over {} sentences: {:.7} ({:?}); max |diff| {:.2e}",
        texts.len(),
        min.0,
        texts[min.1].chars().take(40).collect::<String>(),
        max_abs
    );
    assert!(failures.is_empty(), "cosine < 0.999: {failures:#?}");
}

#[test]
fn batch_and_single_agree_and_are_unit_norm() {
    let r = reference();
    let e = embedder();
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    // A batch mixing 3-token and 256-token inputs: heavy padding for the short ones
    // inside each sub-batch.
    let batch = e.embed_batch(&texts).unwrap();
    let mut min = f32::INFINITY;
    for (t, b) in texts.iter().zip(&batch) {
        let single = e.embed(t).unwrap();
        assert!((norm(&single) - 1.0).abs() < 1e-4, "norm {} for {t:?}", norm(&single));
        assert!((norm(b) - 1.0).abs() < 1e-4, "norm {} for {t:?}", norm(b));
        let c = cosine(&single, b);
        min = min.min(c);
        assert!(c >= 0.9999, "batch vs single cosine {c} for {t:?}");
    }
    println!("min cosine batch vs single: {min:.7}");
    // Short texts padded inside one sub-batch next to the longest text.
    let longest = *texts.iter().max_by_key(|t| t.len()).unwrap();
    let padded = e.embed_batch(&[longest, "A", texts[0]]).unwrap();
    assert!(cosine(&padded[1], &e.embed("A").unwrap()) >= 0.9999);
    assert!(cosine(&padded[2], &batch[0]) >= 0.9999);
}

#[test]
fn related_sentences_are_closer_than_unrelated_ones() {
    // A semantic sanity check independent of the fixture.
    let e = embedder();
    let v = e
        .embed_batch(&[
            "How do I add a dependency to my Rust project?",
            "Add the crate to the [dependencies] section of Cargo.toml.",
            "Paris is the capital of France.",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.1);
}

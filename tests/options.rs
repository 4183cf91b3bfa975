//! One options model: the same invalid values — `rrf_k: 0`, an unknown mode, `k: 0`,
//! `max_tokens: 1` — are refused with the same error kind (`InvalidOption`) by the core
//! API, the evaluation grid and the CLI (the wasm adapter's side is in `tests/wasm.rs`,
//! `bad_options_are_errors`). Each caller spells the value its own way; all of them go
//! through `sotto::query::options` and `EngineConfig::validate`.

use sotto::embed::hashing::HashEmbedder;
use sotto::eval::grid::{ChunkSpec, GridConfig, IndexKey};
use sotto::index::fusion::Fusion;
use sotto::query::options::fusion_from_parts;
use sotto::{Document, Engine, EngineConfig, Error, Mode, Retrieval, SearchOptions};

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
    e.add_documents(vec![Document::new("a.md", "# Cargo\n\nCargo is the Rust package manager.")]).unwrap();
    e
}

#[track_caller]
fn invalid_option<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Err(Error::InvalidOption { name, .. }) => name,
        other => panic!("expected InvalidOption, got {other:?}"),
    }
}

#[test]
fn the_core_refuses_each_invalid_value() {
    let e = engine();
    let rrf0 = SearchOptions { fusion: Fusion::Rrf { rrf_k: 0.0 }, ..SearchOptions::default() };
    assert_eq!(invalid_option(e.search("cargo", &rrf0)), "rrf_k");
    assert_eq!(invalid_option(fusion_from_parts(None, None, Some(0.0))), "rrf_k");
    assert_eq!(invalid_option("fuzzy".parse::<Mode>()), "mode");
    let k0 = SearchOptions { k: 0, ..SearchOptions::default() };
    assert_eq!(invalid_option(e.search("cargo", &k0)), "k");
    let mut config = EngineConfig::default();
    config.chunk.max_tokens = 1;
    assert_eq!(invalid_option(config.validate()), "chunk.max_tokens");
    assert_eq!(
        invalid_option(Engine::with_config(config, Box::new(HashEmbedder::new(64))).map(|_| ())),
        "chunk.max_tokens"
    );
    assert_eq!(invalid_option("poetic".parse::<sotto::rag::answer::Constrain>()), "constrain");
    for (name, want) in [
        ("none", sotto::rag::answer::Constrain::None),
        ("copy", sotto::rag::answer::Constrain::Copy),
        ("Bigram", sotto::rag::answer::Constrain::Bigram),
    ] {
        assert_eq!(name.parse::<sotto::rag::answer::Constrain>().unwrap(), want);
    }
    let bigram: sotto::rag::ask::AskOptions = serde_json::from_str(r#"{"constrain": "bigram"}"#).unwrap();
    assert_eq!(bigram.constrain, sotto::rag::answer::Constrain::Bigram);
    assert_eq!(invalid_option("sometimes".parse::<sotto::query::Route>()), "route");
    assert_eq!(invalid_option("maybe".parse::<sotto::query::Construct>()), "construct");
    let bad: Result<SearchOptions, _> = serde_json::from_str(r#"{"route": "sometimes"}"#);
    assert!(bad.is_err(), "an unknown route in JSON options is refused");
    let mut named = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
    assert_eq!(invalid_option(named.set_collection_description("bad\nname", "x")), "collection");
    let bad: Result<sotto::rag::ask::AskOptions, _> = serde_json::from_str(r#"{"constrain": "poetic"}"#);
    assert!(bad.is_err(), "an unknown constraint in JSON options is refused");
    // An answer's options carry the same search rules.
    let ask = sotto::rag::ask::AskOptions { search: k0, ..Default::default() };
    assert_eq!(invalid_option(e.ask("cargo?", &ask, &|| 0.0, &mut |_| true)), "k");
    // Adaptive RAG picks its own pipeline: a translation beside it is refused.
    let mut adaptive = sotto::rag::ask::AskOptions { adaptive: true, ..Default::default() };
    adaptive.search.translate = sotto::query::Translate::Hyde;
    assert_eq!(invalid_option(e.ask("cargo?", &adaptive, &|| 0.0, &mut |_| true)), "adaptive");
    let bad: Result<sotto::rag::ask::AskOptions, _> = serde_json::from_str(r#"{"adaptive": "yes"}"#);
    assert!(bad.is_err(), "a non-boolean adaptive in JSON options is refused");
}

#[test]
fn the_grid_refuses_each_invalid_value() {
    let key = IndexKey { embedder: "hash".into(), chunk: ChunkSpec { max_tokens: 256, overlap: 32 } };
    assert_eq!(invalid_option(GridConfig::from_json(r#"{"modes": ["hybrid-rrf:0"]}"#, &key)), "rrf_k");
    assert_eq!(invalid_option(GridConfig::from_json(r#"{"rrf_k": 0}"#, &key)), "rrf_k");
    assert_eq!(invalid_option(GridConfig::from_json(r#"{"modes": ["fuzzy"]}"#, &key)), "mode");
    assert_eq!(invalid_option(GridConfig::from_json(r#"{"k": 0}"#, &key)), "k");
    let chunking = r#"{"chunking": [{"max_tokens": 1, "overlap": 0}]}"#;
    assert_eq!(invalid_option(GridConfig::from_json(chunking, &key)), "chunk.max_tokens");
    assert_eq!(invalid_option(Retrieval::parse("hybrid", 0.0, 0.5)), "rrf_k");
    let adaptive = r#"{"adaptive": true, "translate": ["none", "hyde"]}"#;
    assert_eq!(invalid_option(GridConfig::from_json(adaptive, &key)), "adaptive");
    assert_eq!(invalid_option(GridConfig::from_json(r#"{"adaptive": "yes"}"#, &key)), "adaptive");
}

#[cfg(feature = "cli")]
#[test]
fn the_cli_refuses_each_invalid_value_before_reading_anything() {
    use std::process::{Command, Stdio};
    // The index file does not exist: the options are refused before it is read.
    let missing = "no-such-index.sotto";
    let cases: Vec<Vec<&str>> = vec![
        vec!["search", missing, "cargo", "--rrf-k", "0"],
        vec!["search", missing, "cargo", "--mode", "fuzzy"],
        vec!["search", missing, "cargo", "-k", "0"],
        vec!["search", missing, "cargo", "--filter", "no operator"],
        vec!["search", missing, "cargo", "--route", "sometimes"],
        vec!["search", missing, "cargo", "--construct", "maybe"],
        vec!["ask", missing, "cargo?", "--route", "sometimes"],
        vec!["ask", missing, "cargo?", "--mode", "poetic"],
        vec!["ask", missing, "cargo?", "-k", "0"],
        vec!["ask", missing, "cargo?", "--mode", "generative", "--constrain", "poetic"],
        vec!["ask", missing, "cargo?", "--adaptive", "--translate", "hyde"],
        vec!["index", "no-such-dir", "-o", "x.sotto", "--max-tokens", "1"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sotto"))
            .args(&args)
            .env("SOTTO_MODELS", "/nonexistent")
            .stdin(Stdio::null())
            .output()
            .expect("run sotto");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains("error[InvalidOption]"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

//! The retrieval grader on the real all-MiniLM-L6-v2 with its shipped calibration: an
//! engine over a handful of documents grades an in-scope question above the abstention
//! threshold and an off-topic one incorrect (the thresholds are the shipped defaults,
//! fitted on the Cargo Book dev split, see `src/rag/grade.rs`); calibrations are tied
//! to their embedder; old index files load and use the defaults.

mod common;

use sotto::rag::ask::AskOptions;
use sotto::rag::grade::{default_minilm, CalibrationSource, Grade};
use sotto::{Document, Engine, EngineConfig, Error};

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::default(), Box::new(common::minilm()));
    e.add_documents(vec![
        Document::new(
            "lock.md",
            "# The lock file\n\nCargo.lock records the exact version of every dependency that was resolved. \
             Cargo writes it when it resolves dependencies, and later builds reuse the same versions so they \
             are reproducible. Applications should commit Cargo.lock to version control.",
        ),
        Document::new(
            "features.md",
            "# Features\n\nFeatures enable optional dependencies and conditional compilation. A package declares \
             them in the [features] table of Cargo.toml, and users turn them on with --features.",
        ),
        Document::new(
            "profiles.md",
            "# Profiles\n\nProfiles change compiler settings such as optimisation level and debug information. \
             The release profile sets opt-level = 3; lto and codegen-units trade compile time for speed.",
        ),
        Document::new(
            "publishing.md",
            "# Publishing on crates.io\n\nRun cargo login with an API token, then cargo publish uploads the \
             package to the registry. A published version can never be overwritten, only yanked.",
        ),
    ])
    .unwrap();
    e
}

fn ask(e: &Engine, q: &str) -> sotto::rag::answer::Answer {
    e.ask(q, &AskOptions::default(), &|| 0.0, &mut |_| true).unwrap()
}

#[test]
fn in_scope_questions_are_answered_and_off_topic_ones_abstained_with_topics() {
    let e = engine();
    assert_eq!(e.calibration().0, CalibrationSource::ShippedDefault, "MiniLM without calibration uses the defaults");
    for q in ["Why should an application commit Cargo.lock?", "How do I upload my package to crates.io?"] {
        let a = ask(&e, q);
        let g = a.grade.as_ref().expect("the grade is in the trace");
        assert_ne!(g.grade, Grade::Incorrect, "{q}: {g:?}");
        assert!(!a.abstained && !a.citations.is_empty(), "{q}: {}", a.answer);
        assert!(g.confidence >= default_minilm().incorrect_below, "{q}: {g:?}");
        assert!(g.actions[0].starts_with("graded"), "{:?}", g.actions);
    }
    for q in ["What is the capital city of Peru?", "How do I bake sourdough bread at home?"] {
        let a = ask(&e, q);
        let g = a.grade.as_ref().expect("the grade is in the trace");
        assert_eq!(g.grade, Grade::Incorrect, "{q}: {g:?}");
        assert!(a.abstained && a.citations.is_empty(), "{q}: {}", a.answer);
        assert!(!g.topics.is_empty() && a.answer.contains(&g.topics[0]), "{q}: {}", a.answer);
        assert!(g.confidence < default_minilm().incorrect_below);
    }
    // Grading switched off: the old fixed cosine floor decides, and there is no trace.
    let off = AskOptions { grade: false, ..AskOptions::default() };
    let a = e.ask("Why should an application commit Cargo.lock?", &off, &|| 0.0, &mut |_| true).unwrap();
    assert!(a.grade.is_none() && !a.abstained);
}

#[test]
fn a_calibration_for_another_embedder_is_refused_and_an_index_keeps_its_own() {
    let mut e = engine();
    let mut other = default_minilm();
    other.embedder = "bge-small-en-v1.5".into();
    assert!(matches!(e.set_calibration(other), Err(Error::CalibrationMismatch { .. })));
    // A fitted calibration travels with the index file.
    let mut mine = default_minilm();
    mine.fitted_on = "this test".into();
    mine.incorrect_below = 0.0;
    mine.correct_from = 0.0;
    e.set_calibration(mine.clone()).unwrap();
    let back = Engine::from_bytes(&e.to_bytes().unwrap(), Box::new(common::minilm())).unwrap();
    assert_eq!(back.calibration(), (CalibrationSource::Index, Some(mine)));
    // With thresholds at 0 nothing is graded incorrect: the calibration, not the default, is used.
    let a = back.ask("What is the capital city of Peru?", &AskOptions::default(), &|| 0.0, &mut |_| true).unwrap();
    assert_ne!(a.grade.unwrap().grade, Grade::Incorrect);
}

#[test]
fn the_committed_v1_fixture_loads_without_calibration_and_uses_the_defaults() {
    let bytes = std::fs::read(common::fixture("index_v1.sotto")).unwrap();
    assert!(sotto::rag::persist::read_manifest(&bytes).unwrap().calibration.is_none());
    let e = Engine::from_bytes(&bytes, Box::new(common::minilm())).expect("v1 fixture loads");
    assert_eq!(e.calibration().0, CalibrationSource::ShippedDefault);
    // The hashing embedder has no shipped calibration: uncalibrated, fixed floor.
    let h = Engine::new(EngineConfig::default(), Box::new(common::hashing()));
    assert_eq!(h.calibration(), (CalibrationSource::Uncalibrated, None));
}

//! Semantic routing with the real all-MiniLM-L6-v2 (the one embedder with prototype floors).
//!
//! The floors in `rag::adaptive` were set from the dev sets: no question of
//! `cargo-book-qa.jsonl` or `cargo-book-hard.jsonl` (56) may reach a prototype class or
//! the meta class (sending an answerable question to the no-retrieval pipeline would fail
//! to answer it), and meta phrasings that are neither prototypes nor rule matches must.
//! The numbers printed are the ones `docs/answers.md` cites.

mod common;

use sotto::query::classify::{ClassSource, QuestionClass};
use sotto::{Engine, EngineConfig};

fn questions(path: std::path::PathBuf) -> Vec<(String, String)> {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must exist: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v["question"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn dev_questions_are_never_meta_and_held_out_meta_phrasings_are() {
    let e = Engine::new(EngineConfig::default(), Box::new(common::minilm()));
    let classify = |q: &str| e.classify(q).unwrap();
    let mut dev = questions(common::fixture("cargo-book-qa-answers.jsonl"));
    dev.extend(questions(common::data_dir().join("cargo-book-hard.jsonl")));
    assert_eq!(dev.len(), 56);
    let mut max_sim = f32::MIN;
    for (id, q) in &dev {
        let c = classify(q);
        println!("{id}: {} ({:?}, {}, {:?})", c.class.name(), c.source, c.rule, c.similarity);
        assert_ne!(c.class, QuestionClass::Meta, "{id}: {q}");
        assert_ne!(c.source, ClassSource::Prototype, "{id}: {q} reached a prototype: {c:?}");
        max_sim = max_sim.max(c.similarity.unwrap_or(f32::MIN));
    }
    println!("dev set: highest nearest-prototype cosine {max_sim:.3}");
    for q in HELD_OUT_META {
        let c = classify(q);
        println!("held out {q:?}: {} ({:?}, {}, {:?})", c.class.name(), c.source, c.rule, c.similarity);
    }
    let meta: Vec<&str> = HELD_OUT_META.iter().copied().filter(|q| classify(q).class == QuestionClass::Meta).collect();
    println!("held out meta phrasings routed to meta: {}/{}", meta.len(), HELD_OUT_META.len());
    for q in &HELD_OUT_META[..4] {
        assert!(meta.contains(q), "{q} (used to set the floor) is not meta");
    }
}

/// Meta questions written for this test, none of them a prototype. The first four were
/// used to set the meta floor (0.70 missed "what sort of things do you know about?" at
/// 0.48); the last four were written after, and not tuned on.
const HELD_OUT_META: &[&str] = &[
    "good evening!",
    "what are you for?",
    "what sort of things do you know about?",
    "what kind of stuff can I ask here?",
    "what are your capabilities?",
    "what questions can you answer?",
    "hey, what is this assistant?",
    "how does this thing work?",
];

//! Query construction on the Cargo Book's real document ids (no model needed: the schema
//! comes from ids and metadata). Thresholds are the dev measurement of 2026-12-07
//! (`scripts/bench-construct.py`): every one of the 12 constrained questions of
//! `tests/fixtures/cargo-book-constrained.jsonl` gets a filter that keeps its relevant
//! page, and none of the 66 plain, hard and overview questions gets any filter (the
//! first version filtered 9 of them and cost one plain question its top-5 page).

mod common;

use std::collections::BTreeMap;

use sotto::query::construct::{construct, DocFacts, Schema};

fn questions(path: &std::path::Path) -> Vec<(String, String, Vec<String>)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let rel = v["relevant_docs"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
            (v["id"].as_str().unwrap().to_owned(), v["question"].as_str().unwrap().to_owned(), rel)
        })
        .collect()
}

#[test]
fn constrained_questions_get_the_right_filter_and_plain_ones_none() {
    let docs = common::cargo_book_docs();
    let metas: Vec<BTreeMap<String, String>> = docs.iter().map(|d| d.metadata.clone()).collect();
    let schema = Schema::from_docs(docs.iter().zip(&metas).map(|(d, m)| DocFacts {
        id: &d.id,
        metadata: m,
        language: "en",
        collection: "default",
    }));
    assert!(schema.labels.len() > 100, "directories and file names of 104 pages: {}", schema.labels.len());

    let constrained = questions(&common::fixture("cargo-book-constrained.jsonl"));
    assert_eq!(constrained.len(), 12);
    for (id, q, relevant) in &constrained {
        let c = construct(q, &schema, &[]);
        assert_eq!(c.filters.len(), 1, "{id} {q}: {c:?}");
        let keeps = relevant.iter().any(|r| c.filters[0].matches(r, &BTreeMap::new()));
        assert!(keeps, "{id}: {:?} drops the relevant page {relevant:?}", c.filters[0]);
    }

    let mut plain = questions(&common::data_dir().join("cargo-book-qa.jsonl"));
    plain.extend(questions(&common::data_dir().join("cargo-book-hard.jsonl")));
    plain.extend(questions(&common::fixture("cargo-book-overview.jsonl")));
    assert!(plain.len() >= 66);
    let filtered: Vec<_> = plain
        .iter()
        .filter_map(|(id, q, _)| {
            let c = construct(q, &schema, &[]);
            (!c.filters.is_empty()).then(|| format!("{id}: {q} → {:?}", c.filters))
        })
        .collect();
    assert!(filtered.is_empty(), "plain questions got filters:\n{}", filtered.join("\n"));
}

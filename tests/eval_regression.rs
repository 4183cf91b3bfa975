//! Regression guard for retrieval quality: index the Cargo Book with all-MiniLM-L6-v2
//! (default engine configuration), evaluate `cargo-book-qa.jsonl` in hybrid mode with
//! reciprocal rank fusion, and fail when document recall@5 or MRR falls more than
//! `tolerance` (0.02) below the committed baseline `tests/fixtures/cargo_book_baseline.json`.
//! Not a timing test: only ranking quality is compared.
//!
//! Re-record the baseline (deliberately, after an intended change) with
//! `SOTTO_RECORD_BASELINE=1 cargo test --test eval_regression`; without that variable
//! the test only compares. Needs the models and `../shared/data` (or `$SOTTO_DATA`).

mod common;

use std::io::BufReader;

use serde::{Deserialize, Serialize};
use sotto::eval::grid::ModeSpec;
use sotto::eval::{evaluate, read_jsonl, EvalOptions};
use sotto::{Engine, EngineConfig};

#[derive(Debug, Serialize, Deserialize)]
struct Scores {
    recall_at_5: f64,
    mrr: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    dataset: String,
    embedder: String,
    configuration: String,
    questions: usize,
    tolerance: f64,
    hybrid_rrf: Scores,
    how_to_record: String,
}

#[test]
fn cargo_book_hybrid_recall_and_mrr_do_not_regress() {
    let path = common::data_dir().join("cargo-book-qa.jsonl");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{} must exist: {e}", path.display()));
    let ds = read_jsonl(BufReader::new(file), false).expect("dataset parses");
    let docs = common::cargo_book_docs();
    assert!(docs.len() >= 100, "expected the 104 Cargo Book pages, found {}", docs.len());
    let mut engine = Engine::new(EngineConfig::default(), Box::new(common::minilm()));
    let t = std::time::Instant::now();
    engine.add_documents(docs).expect("the Cargo Book indexes");
    eprintln!("indexed the Cargo Book in {:.1} s: {:?}", t.elapsed().as_secs_f64(), engine.stats());

    let options = EvalOptions { search: ModeSpec::HybridRrf { rrf_k: 60.0 }.search_options(), ..EvalOptions::default() };
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let report = evaluate(&engine, &ds.questions, &options, &clock).expect("evaluation runs");
    assert!(report.per_question.iter().all(|q| q.missing_relevant.is_empty()), "a relevant page is missing from the index");
    let now = Scores { recall_at_5: report.doc.recall[&5], mrr: report.doc.mrr };
    eprintln!("hybrid-rrf on {} questions: recall@5 {:.4}, MRR {:.4}", ds.questions.len(), now.recall_at_5, now.mrr);

    let baseline_path = common::fixture("cargo_book_baseline.json");
    if std::env::var("SOTTO_RECORD_BASELINE").is_ok_and(|v| v == "1") {
        let b = Baseline {
            dataset: "cargo-book-qa.jsonl".into(),
            embedder: engine.stats().embedder,
            configuration: "hybrid-rrf (rrf_k 60), EngineConfig::default() (256-token chunks, 32 overlap)".into(),
            questions: ds.questions.len(),
            tolerance: 0.02,
            hybrid_rrf: now,
            how_to_record: "SOTTO_RECORD_BASELINE=1 cargo test --test eval_regression".into(),
        };
        std::fs::write(&baseline_path, serde_json::to_string_pretty(&b).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", baseline_path.display());
        return;
    }
    let text = std::fs::read_to_string(&baseline_path)
        .unwrap_or_else(|e| panic!("{} is committed (record it with SOTTO_RECORD_BASELINE=1): {e}", baseline_path.display()));
    let base: Baseline = serde_json::from_str(&text).expect("baseline parses");
    assert_eq!(base.questions, ds.questions.len(), "the dataset changed since the baseline was recorded");
    let tol = base.tolerance;
    assert!(
        now.recall_at_5 >= base.hybrid_rrf.recall_at_5 - tol,
        "hybrid recall@5 regressed: {:.4} < baseline {:.4} − {tol}",
        now.recall_at_5,
        base.hybrid_rrf.recall_at_5
    );
    assert!(now.mrr >= base.hybrid_rrf.mrr - tol, "hybrid MRR regressed: {:.4} < baseline {:.4} − {tol}", now.mrr, base.hybrid_rrf.mrr);
    if now.recall_at_5 > base.hybrid_rrf.recall_at_5 + tol || now.mrr > base.hybrid_rrf.mrr + tol {
        eprintln!("better than the baseline: consider re-recording it (SOTTO_RECORD_BASELINE=1) so the guard keeps the gain");
    }
}

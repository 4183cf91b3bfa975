//! `sotto eval` as a user runs it, on bad input (the list of the evaluation issue): an
//! empty dataset, duplicate question ids, a non-UTF-8 file, relevant documents missing
//! from the index, a grid naming an unknown mode or a missing model, and a 1 GiB dataset
//! that must be streamed (its peak memory is watched through /proc), plus a good run
//! whose report and JSON are checked. Uses the real all-MiniLM-L6-v2 from `$SOTTO_MODELS`.
#![cfg(feature = "cli")]

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_eval").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sotto() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sotto"));
    c.stdin(Stdio::null());
    c
}

/// `sotto eval --docs tests/fixtures/corpus <questions> <extra…>`.
fn eval(questions: &Path, extra: &[&str]) -> Output {
    let corpus = common::fixture("corpus");
    let mut c = sotto();
    c.arg("eval").arg("--docs").arg(&corpus).arg(questions).args(extra);
    c.output().expect("run sotto")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a failure mentioning {needle:?}; stderr:\n{err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert!(!err.contains("panicked"), "a panic is not an error message:\n{err}");
}

const Q1: &str = r#"{"id":"q1","question":"What eight bytes does an index file start with?","relevant_docs":["index-format.md"],"answers":["SOTTOIDX"]}"#;
const Q2: &str = r#"{"id":"q2","question":"How are near-duplicate chunks detected?","relevant_docs":["ingest.md","not-indexed.md"]}"#;

#[test]
fn a_good_run_writes_the_report_and_reports_missing_documents() {
    let dir = scratch("good");
    let q = dir.join("qa.jsonl");
    std::fs::write(&q, format!("{Q1}\n{Q2}\n")).unwrap();
    let report = dir.join("report.html");
    let o = eval(&q, &["--modes", "sparse,hybrid", "--report", report.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    let runs = json["grid"]["runs"].as_array().unwrap();
    assert_eq!(
        runs.iter().map(|r| r["config"]["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["sparse", "hybrid-rrf"]
    );
    assert_eq!(runs[1]["report"]["doc"]["hit"]["5"], 1.0, "both questions find a relevant document");
    assert_eq!(json["missing_relevant"], serde_json::json!(["not-indexed.md"]));
    assert!(stderr(&o).contains("relevant documents not in the index"), "{}", stderr(&o));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("hybrid-rrf"));
}

/// An out-of-scope question: nothing in the fixture corpus is about a web server's port.
const OUT: &str = r#"{"id":"out","question":"Which port does the Apache web server listen on by default?","relevant_docs":[],"kind":"unanswerable"}"#;
const Q1_KIND: &str = r#"{"id":"q1","question":"What eight bytes does an index file start with?","relevant_docs":["index-format.md"],"answers":["SOTTOIDX"],"kind":"lookup"}"#;

#[test]
fn answers_are_scored_for_abstention_containment_and_kinds() {
    let dir = scratch("abstain");
    let q = dir.join("qa.jsonl");
    std::fs::write(&q, format!("{Q1_KIND}\n{OUT}\n")).unwrap();
    let report = dir.join("report.html");
    let o = eval(&q, &["--modes", "hybrid", "--answers", "extractive", "--report", report.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    let r = &json["grid"]["runs"][0]["report"];
    assert_eq!(r["questions"], 2);
    assert_eq!(r["answerable"], 1, "the out-of-scope question is not a retrieval question");
    assert_eq!(r["doc"]["hit"]["5"], 1.0, "recall over the answerable question only");
    let per = r["per_question"].as_array().unwrap();
    assert_eq!(per[1]["answerable"], false);
    let abstained = per[1]["answer"]["abstained"].as_bool().expect("the out-of-scope question was asked");
    let ab = &r["answers"]["abstention"];
    assert_eq!(ab["unanswerable"], 1);
    assert_eq!(ab["answerable"], 1);
    assert_eq!(ab["correct"], u64::from(abstained));
    assert_eq!(ab["recall"], if abstained { 1.0 } else { 0.0 });
    // Answered out of scope is its own failure class; abstaining is no failure.
    assert_eq!(per[1]["failure"], if abstained { serde_json::Value::Null } else { "answered_out_of_scope".into() });
    let first = &per[0]["answer"];
    let text = first["text"].as_str().unwrap();
    let contains = !first["abstained"].as_bool().unwrap() && text.to_lowercase().contains("sottoidx");
    assert_eq!(first["contains_answer"], contains, "{text}");
    assert_eq!(r["answers"]["answer_containment"], if contains { 1.0 } else { 0.0 });
    assert_eq!(r["kinds"]["unanswerable"]["questions"], 1);
    assert_eq!(r["kinds"]["lookup"]["hit_at_5"], 1.0);
    assert!(r["stages"]["answer.select"]["p50"].is_number());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("abstention R") && html.contains("By kind"), "the report shows abstention and kinds");

    // The text form prints the same figures.
    let o = eval(&q, &["--modes", "hybrid", "--answers"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("out-of-scope abstained") && out.contains("gold in answer"), "{out}");
    assert!(out.contains("kind unanswerable"), "{out}");

    // Bad values are refused before any work.
    fails_with(&eval(&q, &["--answers", "sometimes"]), "sometimes");
    fails_with(&eval(&q, &["--answers", "generative", "--generator", "/nonexistent.gguf"]), "reading generator");
    fails_with(&eval(&q, &["--generator", "/nonexistent.gguf"]), "only used with --answers generative");
}

#[test]
fn bad_datasets_are_clear_errors() {
    let dir = scratch("bad");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    fails_with(&eval(&empty, &[]), "dataset has no questions");

    let dup = dir.join("dup.jsonl");
    std::fs::write(&dup, format!("{Q1}\n{Q2}\n{Q1}\n")).unwrap();
    fails_with(&eval(&dup, &["--modes", "sparse"]), "line 3: duplicate question id \"q1\"");
    let o = eval(&dup, &["--modes", "sparse", "--skip-bad", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped line 3"), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["dataset"]["questions"], 2);

    let latin1 = dir.join("latin1.jsonl");
    let mut bytes = format!("{Q1}\n").into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"q3\",\"question\":\"caf\xe9 ?\",\"relevant_docs\":[\"ingest.md\"]}\n");
    std::fs::write(&latin1, bytes).unwrap();
    fails_with(&eval(&latin1, &[]), "line 2: not valid UTF-8");

    let missing_field = dir.join("field.jsonl");
    std::fs::write(&missing_field, "{\"id\":\"q\",\"relevant_docs\":[\"a\"]}\n").unwrap();
    fails_with(&eval(&missing_field, &[]), "question");
}

#[test]
fn grids_naming_an_unknown_mode_or_a_missing_model_fail_before_any_work() {
    let dir = scratch("grid");
    let q = dir.join("qa.jsonl");
    std::fs::write(&q, format!("{Q1}\n")).unwrap();
    let unknown = dir.join("unknown.json");
    std::fs::write(&unknown, r#"{"modes": ["dense", "colbert"]}"#).unwrap();
    fails_with(&eval(&q, &["--config", unknown.to_str().unwrap()]), "colbert");
    fails_with(&eval(&q, &["--modes", "dense,splade"]), "splade");

    let missing = dir.join("missing.json");
    std::fs::write(&missing, r#"{"embedders": ["all-MiniLM-L6-v2", "no-such-model"]}"#).unwrap();
    let o = eval(&q, &["--config", missing.to_str().unwrap()]);
    fails_with(&o, "missing model file");
    assert!(stderr(&o).contains("no-such-model"), "{}", stderr(&o));
}

/// Peak resident memory (VmHWM, kB) of a running child, sampled until it exits.
fn run_watching_memory(mut c: Command) -> (Output, u64) {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let watcher = std::thread::spawn(move || {
        let mut peak = 0u64;
        while let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak = peak.max(kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
            }
            if s.lines().any(|l| l.starts_with("State:") && l.contains("zombie")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak
    });
    let out = child.wait_with_output().expect("wait");
    (out, watcher.join().unwrap())
}

#[test]
fn a_one_gib_dataset_is_streamed_not_loaded_whole() {
    let dir = scratch("huge");
    let path = dir.join("huge.jsonl");
    // A good line, then one line of 1 GiB (a sparse file: no disk used), then another good line.
    const GIB: u64 = 1 << 30;
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{Q1}").unwrap();
    f.seek(SeekFrom::Start(GIB)).unwrap();
    write!(f, "\n{Q2}\n").unwrap();
    drop(f);
    assert!(std::fs::metadata(&path).unwrap().len() > GIB);

    let mut c = sotto();
    c.arg("eval").arg("--docs").arg(common::fixture("corpus")).arg(&path).args([
        "--modes",
        "sparse",
        "--skip-bad",
        "--json",
    ]);
    let (o, peak_kb) = run_watching_memory(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped line 2"), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["dataset"]["questions"], 2, "the lines on both sides of the huge one are read");
    eprintln!("peak resident memory evaluating a 1 GiB dataset: {:.0} MB", peak_kb as f64 / 1024.0);
    assert!(peak_kb > 0, "memory was not observed");
    assert!(peak_kb < 512 * 1024, "peak {peak_kb} kB: the file was loaded whole");

    // Without --skip-bad the long line is an error naming it.
    let mut c = sotto();
    c.arg("eval").arg("--docs").arg(common::fixture("corpus")).arg(&path).args(["--modes", "sparse"]);
    let (o, _) = run_watching_memory(c);
    fails_with(&o, "line 2");
}

/// Query translation from the command line: the grid crosses `--translate` with the
/// modes, `search --translate auto --json` prints the trace, and an unknown technique or
/// a bad variant count is a clear error.
#[test]
fn translate_runs_in_eval_and_search_and_refuses_unknown_names() {
    let dir = scratch("translate");
    let q = dir.join("qa.jsonl");
    std::fs::write(&q, format!("{Q1}\n{Q2}\n")).unwrap();
    let o = eval(&q, &["--modes", "hybrid", "--translate", "none,decompose,fusion", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    let names: Vec<&str> =
        json["grid"]["runs"].as_array().unwrap().iter().map(|r| r["config"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hybrid-rrf · none", "hybrid-rrf · decompose", "hybrid-rrf · fusion"]);
    fails_with(&eval(&q, &["--modes", "hybrid", "--translate", "telepathy"]), "telepathy");
    fails_with(&eval(&q, &["--modes", "hybrid", "--translate", "multi-query:9"]), "multi-query takes 1 to 4");

    let index = dir.join("corpus.sotto");
    let o = sotto().arg("index").arg(common::fixture("corpus")).arg("-o").arg(&index).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let question = "What is the difference between near-duplicate chunks and the index file magic?";
    let o = sotto().arg("search").arg(&index).arg(question).args(["--translate", "auto", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    let trace = &json["trace"];
    assert_eq!(trace["requested"], "auto");
    assert_eq!(trace["technique"], "decompose", "{trace}");
    let queries: Vec<&str> = trace["queries"].as_array().unwrap().iter().map(|q| q["text"].as_str().unwrap()).collect();
    assert_eq!(queries, [question, "near-duplicate chunks", "the index file magic"], "{trace}");
    assert!(!json["hits"].as_array().unwrap().is_empty());
}

//! `sotto shard`, then `sotto search` and `sotto eval` on the manifest, as a user runs
//! them, against the same commands on the index file they were cut from (the committed
//! `index_v2.sotto`, all-MiniLM-L6-v2 from `$SOTTO_MODELS`).
#![cfg(feature = "cli")]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn sotto() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sotto"));
    c.stdin(Stdio::null());
    c
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    o
}

fn scores(o: &Output) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json output");
    v["hits"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect()
}

fn hits(o: &Output) -> Vec<(String, u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json output");
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["doc_id"].as_str().unwrap().to_owned(), h["start"].as_u64().unwrap(), h["end"].as_u64().unwrap()))
        .collect()
}

#[test]
fn search_and_eval_on_a_manifest_match_the_index_file() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_shards");
    let _ = std::fs::remove_dir_all(&out);
    let index = common::fixture("index_v2.sotto");
    let o = ok(sotto().arg("shard").arg(&index).arg(&out).output().unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).contains("shards"), "{o:?}");
    let manifest = out.join("manifest.json");
    for q in ["How are near-duplicate chunks detected?", "magic number and checksums", "reciprocal rank fusion"] {
        for mode in ["sparse", "dense", "hybrid"] {
            let search = |path: &PathBuf, extra: &[&str]| {
                ok(sotto()
                    .args(["search", "--json", "-k", "5", "--mode", mode])
                    .arg(path)
                    .arg(q)
                    .args(extra)
                    .output()
                    .unwrap())
            };
            let single = search(&index, &[]);
            // Every cluster probed: the exact scan up to int8 rounding.
            let sharded = search(&manifest, &["--nprobe", "1000"]);
            let (a, b) = (hits(&single), hits(&sharded));
            assert_eq!(a.len(), b.len(), "{mode} {q}");
            // BM25 is exact; dense scores are int8 dot products (within 0.01 of the cosine for
            // MiniLM), so a near tie may swap: rank by rank the scores agree within that, and
            // RRF scores within what a one-place swap deep in a list changes.
            let tol = match mode {
                "sparse" => 0.0,
                "dense" => 0.01,
                _ => 0.001,
            };
            for (r, (x, y)) in scores(&single).iter().zip(scores(&sharded)).enumerate() {
                assert!((x - y).abs() <= tol, "{mode} {q} rank {r}: {x} vs {y}\n{a:?}\n{b:?}");
            }
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            assert!(same + 1 >= a.len(), "{mode} {q}: {a:?} vs {b:?}");
            if mode == "sparse" {
                assert_eq!(a, b, "{q}");
            }
            let v: serde_json::Value = serde_json::from_slice(&sharded.stdout).unwrap();
            assert!(v["shards"]["requests"].as_u64().unwrap() > 0, "{v}");
        }
    }
    // `info` summarises the manifest.
    let info = ok(sotto().arg("info").arg(&manifest).output().unwrap());
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!((v["format"].as_str(), v["documents"].as_u64()), (Some("sotto-shards"), Some(3)), "{v}");
    assert!(v["shards"]["vectors"]["count"].as_u64().unwrap() >= 1, "{v}");
    // A directory works as the manifest's path; a bad option is refused before reading.
    ok(sotto().args(["search", "--mode", "sparse"]).arg(&out).arg("checksums").output().unwrap());
    let o = sotto().args(["search", "--translate", "hyde"]).arg(&manifest).arg("checksums").output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("InvalidOption"), "{o:?}");
    // eval: the same document-level figures.
    let questions = out.join("q.jsonl");
    std::fs::write(
        &questions,
        "{\"id\":\"a\",\"question\":\"How are near-duplicate chunks detected?\",\"relevant_docs\":[\"ingest.md\"]}\n\
         {\"id\":\"b\",\"question\":\"What does the index file start with?\",\"relevant_docs\":[\"index-format.md\"]}\n\
         {\"id\":\"c\",\"question\":\"How are dense and sparse results combined?\",\"relevant_docs\":[\"retrieval.md\"]}\n",
    )
    .unwrap();
    // The first numeric columns of the hybrid row: the config column is 34 characters wide
    // in the single-file table (R@1 R@5 R@10 P@5 MRR …), 28 in the sharded one (R@1 R@5 R@10 MRR …).
    let row = |o: &Output, width: usize| -> Vec<String> {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = text.lines().find(|l| l.starts_with("hybrid")).unwrap_or_else(|| panic!("no hybrid row in {text}"));
        line.get(width..).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
    };
    let single = ok(sotto().args(["eval", "--modes", "hybrid"]).arg(&index).arg(&questions).output().unwrap());
    let sharded = ok(sotto()
        .args(["eval", "--modes", "hybrid", "--nprobe", "1000"])
        .arg(&manifest)
        .arg(&questions)
        .output()
        .unwrap());
    let (a, b) = (row(&single, 34), row(&sharded, 28));
    assert_eq!(a[..3], b[..3], "R@1, R@5, R@10: {a:?} vs {b:?}");
    assert_eq!(a[4], b[3], "MRR: {a:?} vs {b:?}");
    // A missing shard: a typed error on the command line.
    let victim = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("chunk-"))
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    let o = sotto().args(["search", "--mode", "sparse", "-k", "10"]).arg(&manifest).arg("chunks").output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("ShardUnavailable"), "{o:?}");
}

//! A partitioned build as a user (or a Ray task) runs it: `sotto index --partition i/3`
//! three times, then `sotto merge`, against one `sotto index` over the same documents —
//! a few pages of the Cargo Book (`$SOTTO_DATA`), plus an exact copy of one page and a
//! one-word edit of another so that duplicate detection works across partitions, with
//! the real all-MiniLM-L6-v2 from `$SOTTO_MODELS`. Then every refusal of `sotto merge`.
#![cfg(feature = "cli")]

mod common;

use std::path::{Path, PathBuf};
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

/// The command fails, and its error names `kind`.
fn fails_with(o: Output, kind: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "should fail with {kind}: {}", String::from_utf8_lossy(&o.stdout));
    assert!(err.contains(&format!("error[{kind}]")), "expected error[{kind}]: {err}");
    err
}

/// Seven documents: five pages, a copy of one (exact duplicates) and a one-word edit of
/// another (near duplicates), in three directories so ids and file order differ.
fn corpus(dir: &Path) {
    let book = common::data_dir().join("cargo-book");
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["getting-started", "guide", "copy", "edited"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for page in ["getting-started/index.html", "getting-started/installation.html", "guide/index.html"] {
        std::fs::copy(book.join(page), dir.join(page)).unwrap();
    }
    for page in ["guide/why-cargo-exists.html", "guide/dependencies.html"] {
        std::fs::copy(book.join(page), dir.join(page)).unwrap();
    }
    std::fs::copy(book.join("guide/index.html"), dir.join("copy/index.html")).unwrap();
    let deps = std::fs::read_to_string(book.join("guide/dependencies.html")).unwrap();
    let edited = deps.replacen("add a dependency on the ", "add one dependency on the ", 1);
    assert_ne!(edited, deps, "the page changed: pick another sentence to edit");
    std::fs::write(dir.join("edited/deps.html"), edited).unwrap();
}

fn search(index: &Path, q: &str, mode: &str) -> serde_json::Value {
    let o = ok(sotto().args(["search", "--json", "-k", "8", "--mode", mode]).arg(index).arg(q).output().unwrap());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json output");
    v["hits"].clone()
}

/// The shard directory's file names and the manifest's text.
fn shard_listing(dir: &Path) -> (Vec<String>, String) {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    (names, std::fs::read_to_string(dir.join("manifest.json")).unwrap())
}

/// Build partition `spec` of `docs` into `out`, with extra arguments.
fn partition(docs: &Path, spec: &str, out: &Path, extra: &[&str]) {
    ok(sotto().arg("index").arg(docs).args(["--partition", spec, "-o"]).arg(out).args(extra).output().unwrap());
}

#[test]
fn three_partitions_merged_are_the_single_build_and_wrong_sets_are_refused() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_partition");
    let docs = root.join("docs");
    corpus(&docs);
    let full = root.join("full.sotto");
    let o = ok(sotto()
        .arg("index")
        .arg(&docs)
        .arg("-o")
        .arg(&full)
        .arg("--shards")
        .arg(root.join("full-shards"))
        .output()
        .unwrap());
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        !said.contains("dropped 0 exact") && !said.contains("and 0 near"),
        "the corpus must have both kinds of duplicates: {said}"
    );

    let parts: Vec<PathBuf> = (0..3).map(|i| root.join(format!("part-{i}.sotto"))).collect();
    for (i, p) in parts.iter().enumerate() {
        partition(&docs, &format!("{i}/3"), p, &[]);
        let m = sotto::rag::persist::read_manifest(&std::fs::read(p).unwrap()).unwrap();
        let info = m.partition.expect("a partial index says so in its manifest");
        assert_eq!((info.index, info.count, info.documents), (i as u32, 3, 7));
    }
    let merged = root.join("merged.sotto");
    let merged_shards = root.join("merged-shards");
    let o = ok(sotto()
        .arg("merge")
        .args(&parts)
        .arg("-o")
        .arg(&merged)
        .arg("--shards")
        .arg(&merged_shards)
        .output()
        .unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).contains("merged 3 partitions → 7 documents"), "{o:?}");

    // The same file, byte for byte: records, chunk ids, postings (rebuilt on load from the
    // same texts in the same order) and vectors. MiniLM embeds each text on its own rows
    // (no padding across a batch), so a vector does not depend on its batch-mates.
    let (a, b) = (std::fs::read(&full).unwrap(), std::fs::read(&merged).unwrap());
    assert!(a == b, "merged index differs from the single build ({} vs {} bytes)", a.len(), b.len());
    // And so the same search results, scores included, in every mode.
    for q in ["How do I add a dependency?", "install cargo with rustup", "why does cargo exist"] {
        for mode in ["dense", "sparse", "hybrid"] {
            let (x, y) = (search(&full, q, mode), search(&merged, q, mode));
            assert!(!x.as_array().unwrap().is_empty(), "{mode} {q}");
            assert_eq!(x, y, "{mode} {q}");
        }
    }
    // The sharded layouts: the same manifest (IVF centroids, statistics) and shard files.
    assert_eq!(shard_listing(&root.join("full-shards")), shard_listing(&merged_shards));
    // Merged in another order: the same file.
    let reversed = root.join("reversed.sotto");
    let rev: Vec<&PathBuf> = parts.iter().rev().collect();
    ok(sotto().arg("merge").args(rev).arg("-o").arg(&reversed).output().unwrap());
    assert!(std::fs::read(&reversed).unwrap() == a);

    // Refusals, each with its kind.
    let merge =
        |inputs: &[&Path]| sotto().arg("merge").args(inputs).arg("-o").arg(root.join("bad.sotto")).output().unwrap();
    let (p0, p1, p2) = (parts[0].as_path(), parts[1].as_path(), parts[2].as_path());
    let err = fails_with(merge(&[p0, p2]), "MissingPartitions");
    assert!(err.contains("[1]"), "{err}");
    fails_with(merge(&[p0, p1, p1, p2]), "DuplicatePartition");
    let err = fails_with(merge(&[full.as_path(), p1, p2]), "NotPartial");
    assert!(err.contains("full.sotto"), "the refusal names the file: {err}");
    let of_two = root.join("part-0-of-2.sotto");
    partition(&docs, "0/2", &of_two, &[]);
    let err = fails_with(merge(&[&of_two, p1, p2]), "PartitionMismatch");
    assert!(err.contains("partition count"), "{err}");
    let other_config = root.join("part-0-128.sotto");
    partition(&docs, "0/3", &other_config, &["--max-tokens", "128"]);
    let err = fails_with(merge(&[&other_config, p1, p2]), "PartitionMismatch");
    assert!(err.contains("configuration"), "{err}");
    // Another corpus: one document fewer.
    let fewer = root.join("fewer");
    corpus(&fewer);
    std::fs::remove_file(fewer.join("copy/index.html")).unwrap();
    let other_corpus = root.join("part-0-fewer.sotto");
    partition(&fewer, "0/3", &other_corpus, &[]);
    let err = fails_with(merge(&[&other_corpus, p1, p2]), "PartitionMismatch");
    assert!(err.contains("corpus"), "{err}");
    // Another embedder: the same file, its manifest naming other weights.
    let other_embedder = root.join("part-0-other-embedder.sotto");
    std::fs::write(&other_embedder, with_other_weights(&std::fs::read(p0).unwrap())).unwrap();
    fails_with(merge(&[&other_embedder, p1, p2]), "EmbedderMismatch");
    assert!(!root.join("bad.sotto").exists(), "a refused merge writes nothing");

    // Bad specs are refused before anything is read or written.
    for bad in ["3/3", "0/0", "x", "1/3/3", "-1/3"] {
        let out = root.join("never.sotto");
        let o = sotto().arg("index").arg(&docs).arg(format!("--partition={bad}")).arg("-o").arg(&out).output().unwrap();
        fails_with(o, "InvalidPartition");
        assert!(!out.exists());
    }
    let o =
        sotto().arg("index").arg(&docs).args(["--partition", "0/3", "--shards"]).arg(root.join("x")).output().unwrap();
    assert!(!o.status.success(), "a partition writes no shards: the merge does");
}

/// `bytes` with the manifest's embedder weights hash changed (sections re-checksummed).
fn with_other_weights(bytes: &[u8]) -> Vec<u8> {
    use sotto::index::format::{read_versioned, write_section, MAGIC};
    let (version, sections) = read_versioned(bytes).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, payload) in &sections {
        if name == "manifest" {
            let mut m: serde_json::Value = serde_json::from_slice(payload).unwrap();
            m["embedder"]["weights_sha256"] = serde_json::Value::String("0".repeat(64));
            write_section(&mut out, name, &serde_json::to_vec(&m).unwrap());
        } else {
            write_section(&mut out, name, payload);
        }
    }
    out
}

//! The module tree is the pipeline (ARCHITECTURE.md): ingest → embed → index → query →
//! generate → rag → eval, with the adapters (native, wasm, the CLI) on top and the
//! shared vocabulary (`error`, `text`) below. A module may name only modules before
//! it — an arrow that points back up the pipeline fails this test, with the file, the
//! line and the offending path.

use std::path::{Path, PathBuf};

/// Stages in pipeline order; a module may depend on its own stage and earlier ones.
const ORDER: &[&str] = &["error", "text", "par", "ingest", "embed", "index", "query", "generate", "rag", "eval"];
/// Adapters may name anything.
const ADAPTERS: &[&str] = &["native", "wasm", "bin", "lib"];

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|m| *m == module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The stage a file under `src/` belongs to: its first path component, without `.rs`.
fn stage_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::<module>` a line names.
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        // `sotto_crate::x` or `my_crate::` are not paths into this crate.
        let before = rest[..i].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    out
}

fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let stage = stage_of(src, &file);
        if ADAPTERS.contains(&stage.as_str()) {
            continue;
        }
        let Some(own) = rank(&stage) else {
            found.push(format!("{}: module {stage:?} is not in the pipeline order", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for named in named_modules(line) {
                if rank(&named).is_some_and(|r| r > own) {
                    found.push(format!(
                        "{}:{}: stage {stage} names the later stage {named}: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn every_arrow_points_down_the_pipeline() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "{} upward arrows:\n{}", found.len(), found.join("\n"));
}

#[test]
fn the_check_catches_an_upward_arrow() {
    // A scratch tree with one upward arrow (index → rag) and one allowed arrow (rag → index).
    let dir = std::env::temp_dir().join(format!("sotto-arch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("index")).unwrap();
    std::fs::create_dir_all(dir.join("rag")).unwrap();
    std::fs::write(dir.join("index/format.rs"), "use crate::rag::Engine;\n").unwrap();
    std::fs::write(dir.join("rag/mod.rs"), "use crate::index::dense::DenseIndex;\n").unwrap();
    std::fs::write(dir.join("ingest.rs"), "/// see crate::error::Error and crate::Engine\n").unwrap();
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("index/format.rs:1") && found[0].contains("later stage rag"), "{found:?}");
    assert_eq!(named_modules("a my_crate::x crate::ingest::y (crate::rag)"), ["ingest", "rag"]);
}

//! Replays committed fuzz inputs through the fuzz harness, on the stable toolchain.
//!
//! `fuzz/src/harness.rs` holds one entry point per fuzz target (input layout, the API
//! calls the engine makes, the invariants checked); it is included here unchanged, so an
//! input replays through exactly the code libFuzzer ran. Two kinds of inputs:
//!
//! - `fuzz/regressions/<target>/*`: minimised inputs that crashed, timed out or ran out of
//!   memory under the fuzzer. Each must now return normally (`Ok` or a typed error) with
//!   no panic anywhere — also none caught inside Sotto (`catch_unwind` in the GGUF loader),
//!   since a panic aborts the wasm instance. Inputs of bugs not fixed yet are listed in
//!   [`OPEN`] and replayed by their own `#[ignore]`d tests instead.
//! - `fuzz/seeds/<target>/*`: the committed seed corpora, which must pass too (they are
//!   valid files and the harness's invariants hold on them), so the harness and the seeds
//!   are checked by every `cargo test`, without nightly.
//!
//! A timeout input is replayed without a timed assertion: it must finish (the harness
//! bounds nothing itself), which `cargo test` shows by not hanging.

#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Regression inputs of bugs that are not fixed yet: `(target, file name, why)`. They are
/// skipped by the directory replays (with a message) and replayed by the `#[ignore]`d tests
/// below; remove an entry (and the `#[ignore]`) when its fix lands.
const OPEN: &[(&str, &str, &str)] = &[];

thread_local! {
    static PANICKED: Cell<usize> = const { Cell::new(0) };
}

/// Count panics per thread, including those caught by `catch_unwind` inside Sotto.
fn install_panic_counter() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.expect("directory entry").path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Feed one file to a target's entry point; fail on any panic (caught or not).
fn replay(target: &str, path: &Path) {
    install_panic_counter();
    let entry = harness::entry_point(target).unwrap_or_else(|| panic!("unknown fuzz target {target}"));
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PANICKED.with(|p| p.set(0));
    let outcome = std::panic::catch_unwind(|| entry(&data));
    let panics = PANICKED.with(|p| p.get());
    assert!(
        outcome.is_ok() && panics == 0,
        "{target}: {} panicked ({panics} panic(s), see the message above)",
        path.display()
    );
}

/// Replay every regression input of `target` except the open ones; returns how many ran.
fn replay_regressions(target: &str) -> usize {
    let mut n = 0;
    for path in files(&fuzz_dir().join("regressions").join(target)) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some((_, _, why)) = OPEN.iter().find(|(t, f, _)| *t == target && *f == name) {
            eprintln!("{target}/{name}: not replayed here, open bug ({why}); see its #[ignore]d test");
            continue;
        }
        replay(target, &path);
        n += 1;
    }
    n
}

/// Replay every seed of `target`; there must be some.
fn replay_seeds(target: &str) {
    let seeds = files(&fuzz_dir().join("seeds").join(target));
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ holds no seeds (cargo run --example make_seeds in fuzz/)");
    for path in &seeds {
        replay(target, path);
    }
}

fn check_target(target: &str) {
    replay_seeds(target);
    let n = replay_regressions(target);
    eprintln!("{target}: seeds and {n} regression input(s) replayed");
}

#[test]
fn every_target_has_an_entry_point_and_seeds() {
    for t in harness::TARGETS {
        assert!(harness::entry_point(t).is_some(), "{t}");
        assert!(fuzz_dir().join("fuzz_targets").join(format!("{t}.rs")).is_file(), "fuzz/fuzz_targets/{t}.rs");
    }
    for (t, f, _) in OPEN {
        assert!(fuzz_dir().join("regressions").join(t).join(f).is_file(), "OPEN names a missing file {t}/{f}");
    }
}

#[test]
fn clean_chunk_inputs() {
    check_target("clean_chunk");
}

#[test]
fn index_load_inputs() {
    check_target("index_load");
}

#[test]
fn gguf_load_inputs() {
    check_target("gguf_load");
}

#[test]
fn embedder_load_inputs() {
    check_target("embedder_load");
}

#[test]
fn dataset_inputs() {
    check_target("dataset");
}

#[test]
fn options_inputs() {
    check_target("options");
}

#[test]
fn sentences_inputs() {
    check_target("sentences");
}

/// The amplified layout expands as documented (the harness's own decoding must be right
/// for the replays above to mean anything).
#[test]
fn amplify_round_trips_and_caps() {
    let pieces: &[(u16, &[u8])] = &[(3, b"ab"), (1, b"-"), (0, b"z")];
    assert_eq!(harness::amplify(&harness::amplified(pieces), 1 << 20), b"ababab-z");
    let big = harness::amplified(&[(u16::MAX, b"0123456789")]);
    assert_eq!(harness::amplify(&big, 1000).len(), 1000);
    assert_eq!(harness::crc32(b"123456789"), 0xCBF4_3926, "CRC-32/IEEE check value");
}

// ---- fixed findings: each replays its committed input by name (the directory replays above
// run them too); the comment says what the bug was. A new unfixed finding goes into OPEN with
// an #[ignore]d test like these until its fix lands.

fn replay_named(target: &str, file: &str) {
    replay(target, &fuzz_dir().join("regressions").join(target).join(file));
}

/// `overlap_tokens` ≥ `max_tokens` makes every chunk repeat almost all of the previous one:
/// one chunk per sentence, each of `max_tokens` tokens, so de-duplication (and embedding)
/// costs `sentences × max_tokens` — 50 s for 256 KiB of two-word paragraphs (timeout).
#[test]
fn fixed_chunk_overlap_above_budget_text() {
    replay_named("clean_chunk", "chunk-overlap-above-budget-text");
}

/// The same through `Engine::add_documents` (chunks are de-duplicated and embedded).
#[test]
fn fixed_chunk_overlap_above_budget_engine() {
    replay_named("clean_chunk", "chunk-overlap-above-budget-engine");
}

/// Issue 14's engine-killing Markdown, amplified: a 32 KiB heading of words, then 65 535
/// one-letter paragraphs (229 KB). Every block clones the heading path: 2.1 GB (OOM under
/// the fuzzer's 2 GB limit; here the harness's 64 MiB bound on heading-path bytes fails,
/// after the allocation).
#[test]
fn fixed_heading_path_cloned_per_block_oom() {
    replay_named("clean_chunk", "heading-path-cloned-per-block-oom");
}

/// 12 000 nested `<div>`s (60 KB): 6 s in the fuzz build, 52 000 (260 KB) 111 s. The time
/// goes to html5ever's tree builder (`close_p_element_in_button_scope` → `in_scope_named`
/// walks the whole stack of open elements for every start tag). There is no work counter
/// to assert on, so before the fix this test fails only by taking seconds to minutes; the
/// fuzzer's 1 s timeout is the real check.
#[test]
fn fixed_html_deep_nesting_quadratic() {
    replay_named("clean_chunk", "html-deep-nesting-quadratic");
}

/// An HTML page whose unclosed `<h2>` puts 1 KiB of heading text over thousands of 16-token
/// chunks (546 bytes amplified to 256 KiB): the title and heading path were analysed
/// (segmented, stemmed) again for every chunk's BM25 text — 5.4 s in the fuzz build
/// (campaign of 2026-12-06), 0.39 s once the prefix is analysed per section
/// (`SparseIndex::add_with_prefix`) and the title bounded like a heading.
#[test]
fn fixed_heading_prefix_analysed_per_tiny_chunk_timeout() {
    replay_named("clean_chunk", "heading-prefix-analysed-per-tiny-chunk-timeout");
}

/// The harness asserted that every read question has relevant documents, but
/// `relevant_docs: []` is a legal out-of-scope question (9 "crashes" of the 2026-12-06
/// campaign were this). The product side: `relevant_docs: [" "]` used to be dropped to
/// `[]`, silently turning a question out of scope; it is now a line error.
#[test]
fn fixed_dataset_out_of_scope_questions_and_blank_ids() {
    replay_named("dataset", "empty-relevant-docs-is-an-out-of-scope-question");
    replay_named("dataset", "blank-relevant-id-is-an-error");
    // The same legal question through the line-by-line reader (`QuestionReader`, the
    // harness's kind 1): a harness assertion, not an engine bug (2026-12-07 campaign).
    replay_named("dataset", "question-reader-out-of-scope-question");
}

/// A long "sentence" is cut into 64-word pieces; 64 words of U+FFFD and punctuation made a
/// piece without a letter or digit — a sentence the rest of the engine assumes never
/// exists (campaign of 2026-12-06).
#[test]
fn fixed_symbol_only_piece_of_a_long_sentence() {
    replay_named("sentences", "symbol-only-piece-of-a-long-sentence");
}

/// A GGUF whose byte-level BPE vocabulary is `a`, `b` with the merge `a b` (result not in
/// the vocabulary, and longer than every token) panics inside `tokenizers`
/// (`BpeBuilder::build`, bpe/model.rs:267, slice index out of range).
#[test]
fn fixed_bpe_merge_longer_than_every_token() {
    replay_named("gguf_load", "bpe-merge-longer-than-every-token");
}

/// The same with a SentencePiece (`llama`) vocabulary and an explicit merge list.
#[test]
fn fixed_sentencepiece_merge_longer_than_every_token() {
    replay_named("gguf_load", "sentencepiece-merge-longer-than-every-token");
}

/// `strip_markers("[\u{c}]")` returns `"[ ]"`, a marker by its own definition: whitespace
/// is collapsed after the markers were looked for.
#[test]
fn fixed_strip_markers_formfeed_in_brackets() {
    replay_named("sentences", "strip-markers-formfeed-in-brackets");
}

/// `"[3[4]]"` becomes `"[3]"` and `"[1\u{c}2]"` becomes `"[1 2]"`: model text can still
/// carry a citation marker the engine did not give.
#[test]
fn fixed_strip_markers_nested_and_formfeed() {
    replay_named("sentences", "strip-markers-nested-and-formfeed");
}

/// A `tokenizer.json` whose `decoder` object is not valid JSON (`{#cleanup": …`) panics in
/// `tokenizers` (decoders/mod.rs:90, `expect("Helper")`) instead of failing to parse, when
/// `BertEmbedder::from_bytes` calls `Tokenizer::from_bytes` (src/embed/bert.rs:289).
#[test]
fn fixed_tokenizer_json_syntax_error_in_decoder() {
    replay_named("embedder_load", "tokenizer-json-syntax-error-in-decoder");
}

/// A `TemplateProcessing` post-processor whose template names a special token missing
/// from its `special_tokens` map loads, then panics on the first encoding
/// (tokenizers processors/template.rs:563, `HashMap` index) inside `embed_batch`.
#[test]
fn fixed_template_references_unknown_special_token() {
    replay_named("embedder_load", "template-references-unknown-special-token");
}

/// Weights whose embedding row for `cargo` is NaN: `add_documents` of `paris.txt` and
/// `cargo.md` commits `paris.txt`, then fails on `cargo.md`'s first vector in
/// `dense.add` (`InvalidDocument { id: "chunk 4", .. }`) — the batch is half committed.
#[test]
fn fixed_nan_embedding_row_partial_commit() {
    replay_named("embedder_load", "nan-embedding-row-partial-commit");
}

/// A well-formed index (checksums right, counts equal) whose last chunk's vector is stored
/// under id 999 loads; the chunk can never be found by dense search, and after more
/// changes the engine exports files that do not load ("8 vectors for 7 chunks").
#[test]
fn fixed_crafted_vector_under_foreign_id() {
    replay_named("index_load", "crafted-vector-under-foreign-id");
}

/// The fuzzer's version of the same (found in 5 minutes, mutated HNSW segment ids).
#[test]
fn fixed_fuzzed_chunk_without_vector() {
    replay_named("index_load", "fuzzed-chunk-without-vector");
}

/// A document listing one chunk twice and another chunk owned by nobody passes the
/// ownership count (`owned == chunks.len()`).
#[test]
fn fixed_crafted_chunk_listed_twice() {
    replay_named("index_load", "crafted-chunk-listed-twice");
}

/// The fuzzer's version of the same.
#[test]
fn fixed_fuzzed_chunk_listed_twice() {
    replay_named("index_load", "fuzzed-chunk-listed-twice");
}

/// `{"bm25": {"k1": 1e39}}` decodes to `k1 = inf`; the engine works, but its export writes
/// `null` for it and `Engine::from_bytes` refuses the manifest: an index that cannot be
/// loaded back (in the browser, a saved index that is lost).
#[test]
fn fixed_engine_config_f32_overflow_export_unloadable() {
    replay_named("options", "engine-config-f32-overflow-export-unloadable");
}

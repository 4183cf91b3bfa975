//! End to end on real data with the real model: index the Cargo Book with
//! all-MiniLM-L6-v2, evaluate `cargo-book-qa.jsonl`, check de-duplication of the
//! book's `print.html`, HNSW recall against exact search on 10k+ real embeddings, and
//! that the committed format-v1 fixture index still loads.
//!
//! Needs the models (`scripts/fetch-models.sh`) and `../shared/data` (or `$SOTTO_DATA`);
//! a missing file is a failure, not a skip.

mod common;

use std::collections::HashSet;
use std::sync::OnceLock;

use sotto::embed::Embedder;
use sotto::eval::{evaluate, parse_jsonl, EvalOptions, EvalReport};
use sotto::index::dense::{DenseConfig, DenseIndex};
use sotto::index::fusion::Fusion;
use sotto::{Engine, EngineConfig, Mode, SearchOptions};

fn cargo_book() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let docs = common::cargo_book_docs();
        assert!(docs.len() >= 100, "expected the 104 Cargo Book pages, found {}", docs.len());
        // Sentence vectors are embedded lazily here (`at_index_time: false`): the retrieval
        // tests do not use them, the answer test gets them on first retrieval, and embedding
        // all ~12 000 at index time would double this test's 9 minutes in CI. Index-time
        // vectors are tested in tests/sentences.rs.
        let mut config = EngineConfig::default();
        config.sentences.at_index_time = false;
        let mut engine = Engine::new(config, Box::new(common::minilm()));
        let t = std::time::Instant::now();
        let report = engine.add_documents(docs).expect("the Cargo Book indexes");
        eprintln!("indexed Cargo Book: {report:?} in {:.1} s", t.elapsed().as_secs_f64());
        engine
    })
}

fn eval(mode: Mode, fusion: Fusion) -> EvalReport {
    let text = std::fs::read_to_string(common::data_dir().join("cargo-book-qa.jsonl")).expect("cargo-book-qa.jsonl");
    let ds = parse_jsonl(&text, false).expect("dataset parses");
    assert_eq!(ds.questions.len(), 30);
    let mut options = EvalOptions::default();
    options.search.mode = mode;
    options.search.fusion = fusion;
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    evaluate(cargo_book(), &ds.questions, &options, &clock).expect("evaluation runs")
}

#[test]
fn hybrid_retrieval_beats_each_retriever_alone() {
    let rrf = Fusion::Rrf { rrf_k: 60.0 };
    let dense = eval(Mode::Dense, rrf);
    let sparse = eval(Mode::Sparse, rrf);
    let hybrid = eval(Mode::Hybrid, rrf);
    let weighted = eval(Mode::Hybrid, Fusion::Weighted { alpha: 0.5 });
    for r in [&dense, &sparse, &hybrid, &weighted] {
        eprintln!(
            "{:<40} doc R@1 {:.3} R@5 {:.3} R@10 {:.3} P@5 {:.3} MRR {:.3} nDCG@10 {:.3} | chunk hit@5 {:.3} MRR {:.3} | p50 {:.1} ms",
            r.config, r.doc.recall[&1], r.doc.recall[&5], r.doc.recall[&10], r.doc.precision[&5], r.doc.mrr, r.doc.ndcg_at_10,
            r.chunk.hit[&5], r.chunk.mrr, r.latency_ms.p50
        );
        assert!(
            r.per_question.iter().all(|q| q.missing_relevant.is_empty()),
            "a relevant page is missing from the index"
        );
    }
    let r5 = |r: &EvalReport| r.doc.recall[&5];
    assert!(r5(&hybrid) >= 0.80, "hybrid recall@5 {:.3} < 0.80", r5(&hybrid));
    assert!(r5(&hybrid) >= r5(&dense) && r5(&hybrid) >= r5(&sparse), "hybrid must not be worse than either retriever");
    assert!(
        hybrid.doc.mrr > dense.doc.mrr.min(sparse.doc.mrr),
        "hybrid MRR {:.3} should beat the weaker retriever",
        hybrid.doc.mrr
    );
}

#[test]
fn print_html_is_mostly_dropped_as_duplicates_and_navigation_is_gone() {
    let engine = cargo_book();
    let print = engine.document("print.html").expect("print.html indexed");
    let kept = print.chunks.len();
    let dropped = print.exact_duplicates + print.near_duplicates;
    eprintln!(
        "print.html: kept {kept} chunks, dropped {} exact + {} near",
        print.exact_duplicates, print.near_duplicates
    );
    assert!(dropped > 4 * kept, "print.html should be mostly duplicates: kept {kept}, dropped {dropped}");
    // The sidebar (chapter list) of every page is navigation, not content.
    let page = engine.document("guide/cargo-toml-vs-cargo-lock.html").expect("page indexed");
    assert!(page.text.contains("Cargo.lock"));
    assert!(!page.text.contains("Frequently Asked Questions"), "sidebar leaked into the page text");
    let stats = engine.stats();
    assert!(stats.exact_duplicates + stats.near_duplicates > 0);
    // Citations are real spans.
    let hits = engine.search("Should a library commit Cargo.lock?", &SearchOptions::default()).unwrap();
    for h in hits {
        let doc = engine.document(&h.doc_id).unwrap();
        assert_eq!(&doc.text[h.start..h.end], h.text);
        assert!(h.text.split_whitespace().count() <= 256);
    }
}

/// Real embeddings: the chunks of the Cargo Book plus the sentences of its cleaned text.
fn real_vectors(min: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let engine = cargo_book();
    let embedder = common::minilm();
    let mut texts: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for id in engine.document_ids() {
        let doc = engine.document(id).unwrap();
        for line in doc.text.split(['\n', '.', '?', '!']) {
            let t = line.trim();
            if t.split_whitespace().count() >= 3 && seen.insert(t.to_lowercase()) {
                texts.push(t.chars().take(300).collect());
            }
        }
    }
    assert!(texts.len() >= min + 200, "only {} distinct sentences", texts.len());
    texts.truncate(min + 200);
    let t = std::time::Instant::now();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut vectors = Vec::with_capacity(refs.len());
    for batch in refs.chunks(64) {
        vectors.extend(embedder.embed_batch(batch).unwrap());
    }
    eprintln!("embedded {} sentences in {:.1} s", vectors.len(), t.elapsed().as_secs_f64());
    // Every 51st sentence is held out as a query.
    let (mut base, mut queries) = (Vec::new(), Vec::new());
    for (i, v) in vectors.into_iter().enumerate() {
        if i % 51 == 0 && queries.len() < 200 {
            queries.push(v);
        } else {
            base.push(v);
        }
    }
    (base, queries)
}

#[test]
fn hnsw_recall_against_exact_search_on_real_embeddings() {
    let seed = std::env::var("SOTTO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5077_0001u64);
    eprintln!("HNSW seed {seed} (override with SOTTO_SEED)");
    let (base, queries) = real_vectors(10_000);
    assert!(base.len() >= 10_000);
    let dim = base[0].len();
    let mut exact = DenseIndex::new(dim, DenseConfig { hnsw_threshold: usize::MAX, ..DenseConfig::default() });
    let mut hnsw = DenseIndex::new(dim, DenseConfig { hnsw_threshold: 1000, seed, ..DenseConfig::default() });
    for (i, v) in base.iter().enumerate() {
        exact.add(i as u32, v).unwrap();
        hnsw.add(i as u32, v).unwrap();
    }
    let t = std::time::Instant::now();
    hnsw.build_hnsw();
    eprintln!("HNSW build of {} vectors: {:.1} s", base.len(), t.elapsed().as_secs_f64());
    // Tombstones must hold across the rebuilt segment too.
    assert!(hnsw.remove(7) && exact.remove(7));
    let mut found = 0usize;
    let mut total = 0usize;
    for q in &queries {
        let truth: HashSet<u32> = exact.search(q, 10, None).unwrap().into_iter().map(|(id, _)| id).collect();
        let got = hnsw.search(q, 10, None).unwrap();
        assert!(got.iter().all(|(id, _)| *id != 7));
        found += got.iter().filter(|(id, _)| truth.contains(id)).count();
        total += truth.len();
    }
    let recall = found as f64 / total as f64;
    eprintln!("HNSW recall@10 vs exact on {} real vectors, {} queries: {recall:.4}", base.len(), queries.len());
    assert!(recall >= 0.98, "recall@10 {recall:.4} < 0.98 (seed {seed})");
    // Serialized graphs load back and answer identically.
    let back = DenseIndex::from_bytes(&hnsw.to_bytes()).unwrap();
    for q in queries.iter().take(20) {
        assert_eq!(back.search(q, 10, None).unwrap(), hnsw.search(q, 10, None).unwrap());
    }
}

#[test]
fn committed_v1_fixture_still_loads() {
    let bytes = std::fs::read(common::fixture("index_v1.sotto")).expect("tests/fixtures/index_v1.sotto is committed");
    let engine = Engine::from_bytes(&bytes, Box::new(common::minilm())).expect("format v1 fixture loads");
    assert_eq!(engine.stats().documents, 3);
    let hits = engine
        .search("How are near-duplicate chunks detected?", &SearchOptions { k: 3, ..SearchOptions::default() })
        .unwrap();
    assert_eq!(hits[0].doc_id, "ingest.md", "{hits:?}");
    let hits = engine
        .search("magic number and checksums", &SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() })
        .unwrap();
    assert_eq!(hits[0].doc_id, "index-format.md");
}

#[test]
fn committed_v2_fixture_loads_with_its_sentence_vectors() {
    // tests/fixtures/index_v2.sotto is `sotto upgrade tests/fixtures/index_v1.sotto` (MiniLM).
    let v2 = std::fs::read(common::fixture("index_v2.sotto")).expect("tests/fixtures/index_v2.sotto is committed");
    let engine = Engine::from_bytes(&v2, Box::new(common::minilm())).expect("format v2 fixture loads");
    assert_eq!(engine.stats().documents, 3);
    assert_eq!(engine.chunks_without_sentence_vectors(), 0, "every chunk has its sentence vectors");
    // Written by an earlier build: today's export may add manifest fields with defaults,
    // but exporting what was loaded is stable from then on.
    let again = engine.to_bytes().unwrap();
    let reloaded = Engine::from_bytes(&again, Box::new(common::minilm())).expect("its re-export loads");
    assert_eq!(reloaded.to_bytes().unwrap(), again, "re-serialization is stable");
    assert_eq!(reloaded.chunks_without_sentence_vectors(), 0);
    // The v1 fixture upgraded here gives the same sentences, vectors within one int8 step.
    let v1 = std::fs::read(common::fixture("index_v1.sotto")).unwrap();
    let mut upgraded = Engine::from_bytes(&v1, Box::new(common::minilm())).unwrap();
    assert_eq!(upgraded.chunks_without_sentence_vectors(), 10);
    upgraded.upgrade_sentences(&mut |_, _| {}, &|| false).unwrap();
    let store = |bytes: &[u8]| {
        sotto::index::sentences::SentenceStore::from_bytes(
            sotto::index::format::read_sections(bytes).unwrap()["sentences"],
        )
        .unwrap()
    };
    let (a, b) = (store(&v2), store(&upgraded.to_bytes().unwrap()));
    assert_eq!(a.ids().collect::<Vec<_>>(), b.ids().collect::<Vec<_>>());
    assert!(a.vectors() >= 20, "{} sentence vectors", a.vectors());
    for id in a.ids() {
        for (x, y) in a.get(id).unwrap().iter().zip(b.get(id).unwrap().iter()) {
            assert_eq!((x.start, x.end), (y.start, y.end));
            let cos: f32 = x.dot(&y.to_f32());
            assert!(cos > 0.99, "chunk {id}: cosine {cos} between fixture and fresh vectors");
        }
    }
    // Answers select from the stored vectors; MaxSim reranking runs on them.
    let options = sotto::rag::ask::AskOptions::default();
    let a = engine.ask("How are near-duplicate chunks detected?", &options, &|| 0.0, &mut |_| true).unwrap();
    assert!(!a.abstained && a.citations.iter().any(|c| c.doc_id == "ingest.md"), "{a:?}");
    let o = SearchOptions { k: 3, rerank: sotto::query::Rerank::MaxSim, ..SearchOptions::default() };
    assert_eq!(engine.search("How are near-duplicate chunks detected?", &o).unwrap()[0].doc_id, "ingest.md");
}

#[test]
fn committed_tree_fixture_loads_rebuilds_identically_and_serves_the_collapsed_tree() {
    // tests/fixtures/index_v2_tree.sotto is `sotto raptor tests/fixtures/index_v2.sotto
    // --params '{"cluster_size": 2, "max_cluster_size": 3, "top_nodes": 1}'` (MiniLM).
    let params =
        sotto::index::tree::TreeParams { cluster_size: 2, max_cluster_size: 3, top_nodes: 1, ..Default::default() };
    let bytes = std::fs::read(common::fixture("index_v2_tree.sotto")).expect("index_v2_tree.sotto is committed");
    let engine = Engine::from_bytes(&bytes, Box::new(common::minilm())).expect("the tree fixture loads");
    let tree = engine.tree().expect("the fixture has a tree");
    assert_eq!(engine.tree_levels().into_values().collect::<Vec<_>>(), [5, 3, 1]);
    assert_eq!(tree.params(), &params);
    let again = engine.to_bytes().unwrap();
    let reloaded = Engine::from_bytes(&again, Box::new(common::minilm())).unwrap();
    assert_eq!(reloaded.to_bytes().unwrap(), again, "re-serialization is stable");
    // Rebuilt here from the tree-less v2 fixture: the same tree (seeded; vectors within int8 steps).
    let v2 = std::fs::read(common::fixture("index_v2.sotto")).unwrap();
    let mut rebuilt = Engine::from_bytes(&v2, Box::new(common::minilm())).unwrap();
    assert!(rebuilt.tree().is_none(), "an index without a tree loads as before");
    let flat = SearchOptions { k: 3, ..SearchOptions::default() };
    let collapsed = SearchOptions { tree: sotto::query::Tree::Collapsed, ..flat.clone() };
    let q = "How are near-duplicate chunks detected?";
    assert_eq!(rebuilt.search(q, &collapsed).unwrap_err().kind(), "InvalidOption");
    let report = rebuilt.build_tree(&params, &mut |_| {}, &|| false).unwrap();
    assert_eq!((report.nodes, report.sentences_embedded), (9, 0), "{report:?}");
    for (a, b) in tree.nodes().iter().zip(rebuilt.tree().unwrap().nodes()) {
        assert_eq!((a.level, &a.children, &a.spans), (b.level, &b.children, &b.spans));
        let cos: f32 = a.vector.iter().zip(&b.vector).map(|(x, y)| x * y).sum();
        assert!(cos > 0.99, "summary vector cosine {cos}");
    }
    // The collapsed tree: real chunks, the nodes traced; the plain search is untouched.
    let (hits, trace) = engine.search_traced(q, &collapsed, &|| 0.0).unwrap();
    assert_eq!(hits[0].doc_id, "ingest.md", "{hits:?}");
    assert!(hits.iter().all(|h| engine.chunk(h.chunk_id).map(|(_, t)| t) == Some(h.text.as_str())));
    assert!(!trace.tree.is_empty() && trace.tree.iter().any(|t| !t.chunks.is_empty()), "{trace:?}");
    assert_eq!(engine.search(q, &flat).unwrap(), rebuilt.search(q, &flat).unwrap());
}

fn smollm2() -> Box<dyn sotto::generate::Generator> {
    let path = sotto::native::models_dir().join(sotto::native::DEFAULT_GENERATOR);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} must be present (scripts/fetch-models.sh): {e}", path.display()));
    sotto::generate::load_gguf(&bytes, &sotto::generate::LoadOptions::default()).expect("SmolLM2 loads")
}

/// Check the invariants every answer must hold: citations resolve to real spans of the
/// cleaned documents, and every sentence marked supported carries a citation.
fn check_answer(engine: &Engine, a: &sotto::rag::answer::Answer) {
    for c in &a.citations {
        let doc = engine.document(&c.doc_id).unwrap_or_else(|| panic!("citation to unknown doc {}", c.doc_id));
        assert_eq!(doc.text.get(c.start..c.end), Some(c.text.as_str()), "citation [{}] does not address its span", c.n);
        let (chunk, _) = engine.chunk(c.chunk_id).expect("cited chunk exists");
        assert_eq!(chunk.doc_id, c.doc_id);
        assert!(c.start >= chunk.start && c.end <= chunk.end, "citation span outside its chunk");
    }
    for s in &a.sentences {
        if s.supported {
            assert!(!s.citations.is_empty(), "supported sentence without citation: {s:?}");
        }
        for n in &s.citations {
            assert!(a.citations.iter().any(|c| c.n == *n), "dangling citation [{n}]");
        }
    }
    assert!(!a.answer.trim().is_empty());
}

#[test]
fn grounded_answers_on_ten_questions_in_both_modes() {
    use sotto::rag::answer::AnswerMode;
    use sotto::rag::ask::AskOptions;
    let text = std::fs::read_to_string(common::data_dir().join("cargo-book-qa.jsonl")).unwrap();
    let ds = parse_jsonl(&text, false).unwrap();
    // A private engine: the generator is attached to it.
    let bytes = cargo_book().to_bytes().unwrap();
    let mut engine = Engine::from_bytes(&bytes, Box::new(common::minilm())).unwrap();
    engine.set_generator(smollm2());
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let (mut ex_relevant, mut gen_relevant, mut generated, mut flagged, mut fell_back) = (0, 0, 0, 0, 0);
    for q in ds.questions.iter().take(10) {
        let relevant: HashSet<&str> = q.relevant_docs.iter().map(String::as_str).collect();
        for mode in [AnswerMode::Extractive, AnswerMode::Generative] {
            let options = AskOptions { mode, ..AskOptions::default() };
            let mut streamed = String::new();
            let a = engine
                .ask(&q.question, &options, &clock, &mut |t| {
                    streamed.push_str(t);
                    true
                })
                .unwrap();
            check_answer(&engine, &a);
            assert!(!a.abstained, "{}: abstained on an answerable question", q.id);
            let cites_relevant = a.citations.iter().any(|c| relevant.contains(c.doc_id.as_str()));
            match mode {
                AnswerMode::Extractive => {
                    ex_relevant += cites_relevant as usize;
                    assert_eq!(a.mode, AnswerMode::Extractive);
                    assert!(a.sentences.iter().all(|s| s.supported && s.citations.len() == 1));
                }
                AnswerMode::Generative | AnswerMode::Compose => {
                    let gen_text = a.generated_text.clone().expect("generated text recorded");
                    assert_eq!(streamed, gen_text, "the stream is the generated text");
                    generated += a.sentences.len() + a.dropped.len();
                    flagged += a.dropped.len() + a.sentences.iter().filter(|s| !s.supported).count();
                    fell_back += a.fell_back as usize;
                    if a.mode == AnswerMode::Generative {
                        gen_relevant += cites_relevant as usize;
                    }
                    assert!(
                        a.timings.prompt_tokens > 0 && a.timings.prompt_tokens <= 400,
                        "prompt {} tokens",
                        a.timings.prompt_tokens
                    );
                }
            }
            eprintln!("{} {:?}{}: {}", q.id, a.mode, if a.fell_back { " (fallback)" } else { "" }, a.answer);
        }
    }
    eprintln!(
        "extractive answers citing a relevant page: {ex_relevant}/10; generative answers kept: {}/10 (citing a relevant page: {gen_relevant}); generated sentences flagged {flagged}/{generated}",
        10 - fell_back
    );
    assert!(ex_relevant >= 8, "extractive answers cite a relevant page for only {ex_relevant}/10 questions");
    // Off-topic questions are declined rather than answered from unrelated text.
    let a = engine.ask("What is the capital of France?", &AskOptions::default(), &clock, &mut |_| true).unwrap();
    assert!(a.abstained, "{a:?}");
    assert!(a.citations.is_empty());
}

/// The committed evaluation baseline (`tests/fixtures/cargo_book_baseline.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Baseline {
    dataset: String,
    embedder: String,
    configuration: String,
    questions: usize,
    tolerance: f64,
    hybrid_rrf: Scores,
    how_to_record: String,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Scores {
    recall_at_5: f64,
    mrr: f64,
}

/// Regression guard (not a timing test): hybrid recall@5 and MRR must not fall more
/// than the baseline's tolerance (0.02) below the committed baseline. Re-record on
/// purpose with `SOTTO_RECORD_BASELINE=1 cargo test --test cargo_book regression`.
#[test]
fn regression_guard_against_committed_baseline() {
    let report = eval(Mode::Hybrid, Fusion::Rrf { rrf_k: 60.0 });
    let now = Scores { recall_at_5: report.doc.recall[&5], mrr: report.doc.mrr };
    eprintln!("hybrid-rrf: recall@5 {:.4}, MRR {:.4}", now.recall_at_5, now.mrr);
    let path = common::fixture("cargo_book_baseline.json");
    if std::env::var("SOTTO_RECORD_BASELINE").is_ok_and(|v| v == "1") {
        let b = Baseline {
            dataset: "cargo-book-qa.jsonl".into(),
            embedder: cargo_book().stats().embedder,
            configuration: "hybrid-rrf (rrf_k 60), EngineConfig::default() (256-token chunks, 32 overlap)".into(),
            questions: report.questions,
            tolerance: 0.02,
            hybrid_rrf: now,
            how_to_record: "SOTTO_RECORD_BASELINE=1 cargo test --test cargo_book regression".into(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&b).unwrap() + "\n").unwrap();
        eprintln!("recorded {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} is committed: {e}", path.display()));
    let base: Baseline = serde_json::from_str(&text).expect("baseline parses");
    assert_eq!(base.questions, report.questions, "the dataset changed since the baseline was recorded");
    let tol = base.tolerance;
    assert!(
        now.recall_at_5 >= base.hybrid_rrf.recall_at_5 - tol,
        "hybrid recall@5 regressed: {:.4} < baseline {:.4} - {tol}",
        now.recall_at_5,
        base.hybrid_rrf.recall_at_5
    );
    assert!(
        now.mrr >= base.hybrid_rrf.mrr - tol,
        "hybrid MRR regressed: {:.4} < baseline {:.4} - {tol}",
        now.mrr,
        base.hybrid_rrf.mrr
    );
}

/// Query translation on the hard set's 8 two-part questions (`kind: "multi"`): the share
/// of questions with every relevant page among the first 5 distinct documents of the
/// hits (hybrid RRF), as `sotto eval` ranks documents.
fn multi_all_docs_at_5(translate: sotto::Translate) -> f64 {
    let text =
        std::fs::read_to_string(common::data_dir().join("cargo-book-hard.jsonl")).expect("cargo-book-hard.jsonl");
    let ds = parse_jsonl(&text, false).expect("dataset parses");
    let multi: Vec<_> = ds.questions.iter().filter(|q| q.kind.as_deref() == Some("multi")).collect();
    assert_eq!(multi.len(), 8, "the hard set's two-part questions");
    // k = 30: the depth `sotto eval` searches to (`EvalOptions::chunk_depth`).
    let options = SearchOptions { k: 30, translate, ..SearchOptions::default() };
    let found = multi
        .iter()
        .filter(|q| {
            let hits = cargo_book().search(&q.question, &options).expect("search");
            let top = first_docs(&hits, 5);
            q.relevant_docs.iter().all(|d| top.contains(&d.as_str()))
        })
        .count();
    found as f64 / multi.len() as f64
}

/// The first `n` distinct documents of a ranking, as `sotto eval` ranks documents.
fn first_docs(hits: &[sotto::SearchHit], n: usize) -> Vec<&str> {
    let mut top: Vec<&str> = Vec::new();
    for h in hits {
        if top.len() < n && !top.contains(&h.doc_id.as_str()) {
            top.push(h.doc_id.as_str());
        }
    }
    top
}

/// Decomposition's measured gain, kept (2026-12-02: all-docs@5 0.875 decomposed against
/// 0.50 as asked; the thresholds sit one question below the measurement). And `auto`,
/// which decomposes 12 of the 30 plain questions, must not cost them more than 0.02 of
/// document R@5 or MRR (measured: unchanged, 1.000 and 0.872).
#[test]
fn decomposition_puts_both_pages_of_two_part_questions_in_the_top_five() {
    let asked = multi_all_docs_at_5(sotto::Translate::None);
    let decomposed = multi_all_docs_at_5(sotto::Translate::Decompose);
    eprintln!("two-part questions, all relevant pages in the top 5: as asked {asked:.3}, decomposed {decomposed:.3}");
    assert!(decomposed >= 0.75, "decomposed all-docs@5 {decomposed:.3} < 0.75");
    assert!(decomposed >= asked + 0.25, "decomposition gains too little: {decomposed:.3} against {asked:.3}");
    let text = std::fs::read_to_string(common::data_dir().join("cargo-book-qa.jsonl")).expect("cargo-book-qa.jsonl");
    let ds = parse_jsonl(&text, false).expect("dataset parses");
    let n = ds.questions.len() as f64;
    let mut scores = Vec::new();
    let mut split = 0;
    for translate in [sotto::Translate::None, sotto::Translate::Auto] {
        let options = SearchOptions { k: 30, translate, ..SearchOptions::default() };
        let (mut r5, mut mrr) = (0.0, 0.0);
        for q in &ds.questions {
            let (hits, trace) = cargo_book().search_traced(&q.question, &options, &|| 0.0).unwrap();
            split += usize::from(trace.technique == sotto::Translate::Decompose);
            let docs = first_docs(&hits, 30);
            if let Some(rank) = docs.iter().position(|d| q.relevant_docs.iter().any(|r| r == d)) {
                r5 += f64::from(u8::from(rank < 5));
                mrr += 1.0 / (rank + 1) as f64;
            }
        }
        scores.push((r5 / n, mrr / n));
    }
    eprintln!(
        "plain questions: as asked hit@5 {:.3} MRR {:.3}; auto ({split} decomposed) hit@5 {:.3} MRR {:.3}",
        scores[0].0, scores[0].1, scores[1].0, scores[1].1
    );
    assert!(split > 0, "no plain question was decomposed: the comparison says nothing");
    assert!(scores[1].0 >= scores[0].0 - 0.02, "auto costs hit@5: {scores:?}");
    assert!(scores[1].1 >= scores[0].1 - 0.02, "auto costs MRR: {scores:?}");
}

//! Issue 11, item 5: RAPTOR summaries written by the local generator, as an option.
//! With the real SmolLM2-135M-Instruct and all-MiniLM-L6-v2 on the three-page fixture index
//! (`tests/fixtures/index_v2.sotto`, 10 chunks; 3 + 1 nodes in the live build, to keep the
//! generation short; 5 + 3 + 1 in the committed fixture): every
//! abstractive summary copies only its node's sentences (and function words), the tree
//! survives save and load, cancellation and a missing generator change nothing, and the
//! committed abstractive fixture keeps loading. A missing model is a failure, not a skip.

mod common;

use std::cell::Cell;
use std::collections::HashSet;

use sotto::index::format::{read_sections, write_section, FORMAT_VERSION, MAGIC};
use sotto::index::tree::{SummaryOptions, SummaryTree, TreeParams, SUMMARIES_SECTION};
use sotto::rag::answer::COPY_FREE_WORDS;
use sotto::{Engine, Error, SearchOptions};

/// The parameters of the committed tree fixtures (`index_v2_tree*.sotto`).
fn params() -> TreeParams {
    TreeParams { cluster_size: 2, max_cluster_size: 3, top_nodes: 1, ..TreeParams::default() }
}

/// Three clusters of the ten chunks, then the top node: four generations.
fn live_params() -> TreeParams {
    TreeParams { cluster_size: 5, max_cluster_size: 6, top_nodes: 1, ..TreeParams::default() }
}

fn smollm2() -> Box<dyn sotto::generate::Generator> {
    let bytes = sotto::native::read_model_file(sotto::native::DEFAULT_GENERATOR).unwrap_or_else(|e| panic!("{e}"));
    sotto::generate::load_gguf(&bytes, &sotto::generate::LoadOptions::default()).expect("SmolLM2 loads")
}

fn fixture_engine(name: &str) -> Engine {
    let bytes = std::fs::read(common::fixture(name)).unwrap_or_else(|e| panic!("{name} is committed: {e}"));
    Engine::from_bytes(&bytes, Box::new(common::minilm())).unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// The punctuation the copy constraint strips around a word.
const PUNCT: &[char] = &['.', ',', ';', ':', '!', '?', '(', ')', '"', '\'', '`', '[', ']', '-'];

/// Words of every abstractive summary that are neither words of its node's sentences nor
/// function words (stop words, `COPY_FREE_WORDS`); a check independent of the constraint.
fn invented_words(engine: &Engine, tree: &SummaryTree) -> Vec<(usize, String)> {
    let free: HashSet<String> =
        COPY_FREE_WORDS.iter().chain(sotto::text::Language::English.stop_words()).map(|w| w.to_lowercase()).collect();
    let mut out = Vec::new();
    for (i, n) in tree.nodes().iter().enumerate() {
        let Some(summary) = &n.summary else { continue };
        let mut allowed = free.clone();
        for s in &n.spans {
            let (c, _) = engine.chunk(s.chunk).unwrap();
            let text = &engine.document(&c.doc_id).unwrap().text[s.start as usize..s.end as usize];
            allowed.extend(text.split_whitespace().map(|w| w.trim_matches(PUNCT).to_lowercase()));
        }
        for w in summary.split_whitespace().map(|w| w.trim_matches(PUNCT).to_lowercase()) {
            if !w.is_empty() && !allowed.contains(&w) {
                out.push((i, w));
            }
        }
    }
    out
}

#[test]
fn smollm2_summaries_copy_only_their_nodes_sentences_and_survive_save_and_load() {
    let v2 = std::fs::read(common::fixture("index_v2.sotto")).unwrap();
    let mut engine = Engine::from_bytes(&v2, Box::new(common::minilm())).unwrap();
    // No generator: a typed error before anything is done.
    let options = SummaryOptions { abstractive: true, max_new_tokens: 24, ..SummaryOptions::default() };
    let r = engine.build_tree_with(&live_params(), &options, &mut |_| {}, &|| false);
    assert!(matches!(r, Err(Error::ModelNotLoaded("generator"))), "{r:?}");
    assert!(engine.tree().is_none());

    engine.set_generator(smollm2());
    let before = engine.to_bytes().unwrap();
    // Cancelled after a few tokens of the first summary: nothing changes, the generator is
    // usable afterwards.
    let tokens = Cell::new(0usize);
    let r = engine.build_tree_with(&live_params(), &options, &mut |_| {}, &|| {
        tokens.set(tokens.get() + 1);
        tokens.get() > 40
    });
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(engine.to_bytes().unwrap(), before);

    let t = std::time::Instant::now();
    let report = engine.build_tree_with(&live_params(), &options, &mut |_| {}, &|| false).unwrap();
    eprintln!("{report:?} in {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(report.nodes_per_level, [3, 1], "{report:?}");
    assert_eq!(report.abstractive + report.abstractive_fallbacks, report.nodes, "{report:?}");
    assert!(report.abstractive >= report.nodes / 2, "SmolLM2 wrote too few usable summaries: {report:?}");
    assert!(report.generated_tokens <= report.nodes * options.max_new_tokens, "{report:?}");
    let tree = engine.tree().unwrap().clone();
    for n in tree.nodes() {
        eprintln!("L{} {:?}", n.level, n.summary);
    }
    let invented = invented_words(&engine, &tree);
    assert!(invented.is_empty(), "words outside their node's sentences: {invented:?}");
    let a = tree.abstractive().unwrap();
    assert!(a.generator.to_lowercase().contains("smollm2") && a.max_new_tokens == 24, "{a:?}");

    // The spans are an extractive build's (level 1 is clustered on the chunk vectors).
    let mut extractive = Engine::from_bytes(&v2, Box::new(common::minilm())).unwrap();
    extractive.build_tree(&live_params(), &mut |_| {}, &|| false).unwrap();
    let level1 = |t: &SummaryTree| {
        t.nodes().iter().filter(|n| n.level == 1).map(|n| (n.children.clone(), n.spans.clone())).collect::<Vec<_>>()
    };
    assert_eq!(level1(&tree), level1(extractive.tree().unwrap()));

    // Saved and loaded byte-identically, texts included; the collapsed tree still returns
    // real chunks.
    let bytes = engine.to_bytes().unwrap();
    let back = Engine::from_bytes(&bytes, Box::new(common::minilm())).unwrap();
    assert_eq!(back.to_bytes().unwrap(), bytes);
    let texts = |t: &SummaryTree| t.nodes().iter().map(|n| n.summary.clone()).collect::<Vec<_>>();
    assert_eq!(texts(back.tree().unwrap()), texts(&tree));
    let o = SearchOptions { k: 3, tree: sotto::query::Tree::Collapsed, ..SearchOptions::default() };
    let (hits, trace) = back.search_traced("How are near-duplicate chunks detected?", &o, &|| 0.0).unwrap();
    assert_eq!(hits[0].doc_id, "ingest.md", "{hits:?}");
    assert!(!trace.tree.is_empty(), "{trace:?}");
}

#[test]
fn committed_abstractive_tree_fixture_loads_and_without_its_section_is_extractive() {
    // tests/fixtures/index_v2_tree_abstractive.sotto is `sotto raptor
    // tests/fixtures/index_v2.sotto --params '{"cluster_size": 2, "max_cluster_size": 3,
    // "top_nodes": 1}' --abstractive --summary-tokens 32` (MiniLM, SmolLM2-135M-Instruct).
    let bytes = std::fs::read(common::fixture("index_v2_tree_abstractive.sotto")).unwrap();
    let engine = Engine::from_bytes(&bytes, Box::new(common::minilm())).expect("the abstractive fixture loads");
    let tree = engine.tree().expect("it has a tree");
    assert_eq!(tree.params(), &params());
    assert_eq!(engine.tree_levels().into_values().collect::<Vec<_>>(), [5, 3, 1]);
    let a = tree.abstractive().expect("abstractive");
    assert_eq!(a.max_new_tokens, 32);
    assert!(tree.abstractive_nodes() >= 1);
    assert!(invented_words(&engine, tree).is_empty(), "{:?}", invented_words(&engine, tree));
    let stats = engine.stats().tree.unwrap();
    assert!(stats.abstractive && stats.abstractive_nodes == tree.abstractive_nodes(), "{stats:?}");
    assert_eq!(engine.to_bytes().unwrap(), bytes, "re-serialization is byte-identical");
    // The same level-1 spans as the extractive fixture; abstractive vectors differ.
    let extractive = fixture_engine("index_v2_tree.sotto");
    for (x, y) in tree.nodes().iter().zip(extractive.tree().unwrap().nodes()).filter(|(n, _)| n.level == 1) {
        assert_eq!((&x.children, &x.spans), (&y.children, &y.spans));
        if x.summary.is_some() {
            let cos: f32 = x.vector.iter().zip(&y.vector).map(|(a, b)| a * b).sum();
            assert!(cos < 0.999, "an abstractive node embeds its own text (cosine {cos})");
        }
    }
    // Without the `tree_summaries` section (an older writer): the same tree, extractive.
    let sections = read_sections(&bytes).unwrap();
    let mut old = Vec::new();
    old.extend_from_slice(MAGIC);
    old.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    old.extend_from_slice(&(sections.len() as u32 - 1).to_le_bytes());
    for (name, payload) in sections.iter().filter(|(n, _)| *n != SUMMARIES_SECTION) {
        write_section(&mut old, name, payload);
    }
    let older = Engine::from_bytes(&old, Box::new(common::minilm())).unwrap();
    let t = older.tree().unwrap();
    assert!(t.abstractive().is_none() && t.abstractive_nodes() == 0 && t.len() == tree.len());
    assert!(!older.stats().tree.unwrap().abstractive);
    // A damaged section: a typed error naming it; the rest of the index loads.
    let mut bad = Vec::new();
    bad.extend_from_slice(MAGIC);
    bad.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bad.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, payload) in &sections {
        let p: &[u8] = if name == SUMMARIES_SECTION { &payload[..payload.len() - 3] } else { payload };
        write_section(&mut bad, name, p);
    }
    let err = Engine::from_bytes(&bad, Box::new(common::minilm())).err().unwrap();
    assert!(matches!(&err, Error::Corrupt { section, .. } if section == SUMMARIES_SECTION), "{err}");
    assert!(Engine::from_bytes_without_tree(&bad, Box::new(common::minilm())).is_ok());
}

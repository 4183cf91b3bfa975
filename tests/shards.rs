//! The sharded static index (issue 13): parity with the single-file index, the committed
//! format fixture, and bad input (hashes, missing shards, foreign and inconsistent
//! manifests, damaged shards, limits).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sotto::embed::hashing::HashEmbedder;
use sotto::index::shards::{ShardKind, ShardSource};
use sotto::native::DirSource;
use sotto::rag::answer::{Answer, AnswerMode};
use sotto::rag::ask::AskOptions;
use sotto::rag::shards::{AskStep, ShardLimits, ShardManifest, ShardParams, ShardSet, ShardedIndex};
use sotto::{Document, Engine, EngineConfig, Error, Filter, Mode, SearchOptions};

const DIM: usize = 128;

/// Shards in memory, with a request counter and per-name tampering.
#[derive(Default, Clone)]
struct MemSource {
    shards: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<usize>>,
    /// Names served with their last byte flipped, as many times as the count says.
    lie: Arc<Mutex<HashMap<String, usize>>>,
}

impl MemSource {
    fn of(set: &ShardSet) -> MemSource {
        let s = MemSource::default();
        s.shards.lock().unwrap().extend(set.shards.iter().cloned());
        s
    }
}

impl ShardSource for MemSource {
    fn fetch(&self, name: &str) -> sotto::Result<Vec<u8>> {
        *self.requests.lock().unwrap() += 1;
        let mut bytes = self
            .shards
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ShardUnavailable { name: name.into(), detail: "404 not found".into() })?;
        if let Some(n) = self.lie.lock().unwrap().get_mut(name).filter(|n| **n > 0) {
            *n -= 1;
            if let Some(b) = bytes.last_mut() {
                *b ^= 0x55;
            }
        }
        Ok(bytes)
    }
}

/// The hashing embedder with every vector rounded to int8 codes × one scale, as the
/// sharded index stores them: the single-file index then holds exactly the sharded
/// index's vectors, so rankings can be compared without int8 rounding in between. A small
/// dense component (a hash of the text per dimension) spreads the scores: feature hashing
/// alone makes many chunks exactly orthogonal to a query, ties that float summation order
/// would break either way.
struct Int8Exact(HashEmbedder, sotto::embed::EmbedderInfo);

impl Int8Exact {
    fn new() -> Self {
        let h = HashEmbedder::new(DIM);
        let mut info = sotto::embed::Embedder::info(&h).clone();
        info.name = format!("{}-int8", info.name);
        Int8Exact(h, info)
    }
}

impl sotto::text::TokenCounter for Int8Exact {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

impl sotto::embed::Embedder for Int8Exact {
    fn info(&self) -> &sotto::embed::EmbedderInfo {
        &self.1
    }
    fn embed_batch(&self, texts: &[&str]) -> sotto::Result<Vec<Vec<f32>>> {
        Ok(self
            .0
            .embed_batch(texts)?
            .into_iter()
            .zip(texts)
            .map(|(mut v, t)| {
                for (i, x) in v.iter_mut().enumerate() {
                    let h = sotto::index::shards::fnv1a(format!("{i}\u{0}{t}").as_bytes());
                    *x += 0.05 * ((h % 2001) as f32 / 1000.0 - 1.0);
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                let mut codes = Vec::new();
                let scale = sotto::index::dense::quantize_i8(&v, &mut codes);
                codes.into_iter().map(|c| c as f32 * scale).collect()
            })
            .collect())
    }
}

/// The repository's documentation pages: a real, varied corpus of about a hundred chunks.
fn docs_engine() -> Engine {
    docs_engine_with(|| Box::new(HashEmbedder::new(DIM)))
}

fn docs_engine_with(embedder: impl Fn() -> Box<dyn sotto::embed::Embedder>) -> Engine {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let id = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut d = Document::new(id.clone(), std::fs::read_to_string(&path).unwrap());
            d.metadata.insert("section".into(), if id.as_str() < "f" { "early" } else { "late" }.into());
            docs.push(d);
        }
    }
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(docs.len() >= 5, "docs/*.md");
    let mut config = EngineConfig::default();
    config.sentences.at_index_time = false;
    let mut e = Engine::new(config, embedder());
    e.add_documents(docs).unwrap();
    // As the CLI does: through the index file.
    Engine::from_bytes(&e.to_bytes().unwrap(), embedder()).unwrap()
}

fn open(set: &ShardSet, src: MemSource) -> ShardedIndex {
    open_with(set, src, Box::new(HashEmbedder::new(DIM)))
}

fn open_with(set: &ShardSet, src: MemSource, embedder: Box<dyn sotto::embed::Embedder>) -> ShardedIndex {
    ShardedIndex::open(&set.manifest_bytes, embedder, Box::new(src), ShardLimits::default()).unwrap()
}

const QUERIES: &[&str] = &[
    "magic number and checksums of the index file",
    "How are near-duplicate chunks detected?",
    "reciprocal rank fusion of dense and sparse results",
    "limits on document bytes",
    "BM25 parameters k1 and b",
    "evaluation metrics recall and MRR",
    "sentence vectors quantized to int8",
    "what happens when a model file is missing",
    "chunk overlap tokens",
    "HTML report of an evaluation",
    "typo tolerance",
    "summary tree RAPTOR",
];

fn ids(hits: &[sotto::SearchHit]) -> Vec<u32> {
    hits.iter().map(|h| h.chunk_id).collect()
}

#[test]
fn sparse_search_is_the_single_file_index_to_the_bit() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let ix = open(&set, MemSource::of(&set));
    for q in QUERIES {
        let o = SearchOptions { k: 10, mode: Mode::Sparse, ..SearchOptions::default() };
        let want = e.search(q, &o).unwrap();
        let (got, trace) = ix.search(q, &o, None).unwrap();
        assert!(!want.is_empty(), "{q}");
        assert_eq!(ids(&got), ids(&want), "{q}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.score.to_bits(), w.score.to_bits(), "{q}: {g:?} vs {w:?}");
            assert_eq!(
                (&g.doc_id, &g.text, g.start, g.end, &g.heading_path),
                (&w.doc_id, &w.text, w.start, w.end, &w.heading_path)
            );
        }
        // Dictionary, postings, chunks: at most three rounds, no vector shard.
        assert!(trace.rounds <= 3 && trace.requests + trace.cache_hits > 0, "{trace:?}");
        assert!(trace.shards.iter().all(|s| !s.starts_with("vec-")), "{trace:?}");
        assert!(trace.bytes < set.total_bytes() as u64, "{q}: fetched {} of {}", trace.bytes, set.total_bytes());
    }
}

/// The exact (f32) dense score of every chunk for `q`, from the single-file index.
fn exact_scores(e: &Engine, q: &str) -> HashMap<u32, f32> {
    let o = SearchOptions { k: 10_000, mode: Mode::Dense, ..SearchOptions::default() };
    e.search(q, &o).unwrap().into_iter().map(|h| (h.chunk_id, h.score)).collect()
}

/// `got` ranks like `want` up to int8 rounding: wherever the ids differ, the exact scores
/// of the two chunks at that rank are within `tol` of each other.
fn same_up_to_rounding(want: &[u32], got: &[u32], exact: &HashMap<u32, f32>, tol: f32) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!("{} vs {} hits", got.len(), want.len()));
    }
    for (r, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g && (exact[w] - exact[g]).abs() > tol {
            return Err(format!("rank {r}: {g} (exact {}) where {w} (exact {})", exact[g], exact[w]));
        }
    }
    Ok(())
}

#[test]
fn dense_with_every_cluster_probed_ranks_as_the_exact_scan_up_to_int8_rounding() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let clusters = set.manifest.ivf.clusters.len();
    assert!(clusters > 3, "{clusters} clusters");
    let ix = open(&set, MemSource::of(&set));
    let mut identical = 0;
    for q in QUERIES {
        let exact = exact_scores(&e, q);
        let o = SearchOptions { k: 10, mode: Mode::Dense, ..SearchOptions::default() };
        let want = e.search(q, &o).unwrap();
        let (got, trace) = ix.search(q, &o, Some(clusters)).unwrap();
        assert_eq!(trace.nprobe, clusters);
        // Int8 codes: each component off by at most scale/2 (scale = max|x|/127 ≤ 1/127),
        // so a score by at most ‖q‖₁/254; two such errors may swap a pair.
        let q_l1: f32 =
            sotto::embed::Embedder::embed(&HashEmbedder::new(DIM), q).unwrap().iter().map(|x| x.abs()).sum();
        let tol = 2.0 * q_l1 / 254.0;
        same_up_to_rounding(&ids(&want), &ids(&got), &exact, tol).unwrap_or_else(|m| panic!("{q}: {m}"));
        for h in &got {
            assert!((h.score - exact[&h.chunk_id]).abs() <= tol / 2.0, "{q}: {h:?}");
        }
        identical += usize::from(ids(&want) == ids(&got));
    }
    // The corpus is the live docs/, so this count moves with every docs edit (6 of 12 before
    // the packed-file section of index-format.md, 5 after); the bound that matters is
    // `same_up_to_rounding` above, this one only catches int8 reordering most lists.
    assert!(identical >= QUERIES.len() / 3, "dense rankings identical for {identical} of {} queries", QUERIES.len());
}

#[test]
fn with_the_same_int8_vectors_dense_and_hybrid_rankings_are_identical() {
    let e = docs_engine_with(|| Box::new(Int8Exact::new()));
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let clusters = set.manifest.ivf.clusters.len();
    let ix = open_with(&set, MemSource::of(&set), Box::new(Int8Exact::new()));
    for q in QUERIES {
        for mode in [Mode::Dense, Mode::Hybrid] {
            for fusion in
                [sotto::index::fusion::Fusion::default(), sotto::index::fusion::Fusion::Weighted { alpha: 0.5 }]
            {
                let o = SearchOptions { k: 10, mode, fusion, ..SearchOptions::default() };
                let want = e.search(q, &o).unwrap();
                let (got, _) = ix.search(q, &o, Some(clusters)).unwrap();
                assert_eq!(ids(&got), ids(&want), "{mode:?} {fusion:?} {q}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.score - w.score).abs() < 1e-5, "{mode:?} {q}: {g:?} vs {w:?}");
                }
            }
        }
    }
}

const TOPIC_WORDS: [[&str; 6]; 8] = [
    ["volcano", "magma", "eruption", "lava", "crater", "basalt"],
    ["violin", "orchestra", "melody", "conductor", "symphony", "cello"],
    ["glacier", "iceberg", "tundra", "permafrost", "blizzard", "snowfield"],
    ["mortgage", "interest", "banker", "loan", "equity", "dividend"],
    ["pancake", "syrup", "waffle", "butter", "breakfast", "griddle"],
    ["telescope", "galaxy", "nebula", "astronomer", "comet", "quasar"],
    ["tractor", "harvest", "wheat", "farmer", "barley", "plough"],
    ["keyboard", "compiler", "debugger", "kernel", "syntax", "runtime"],
];

/// Eight topics, each with its own vocabulary, ten pages each: vectors that cluster, as
/// real embeddings of a documentation site do by subject (feature hashing of the `docs/`
/// pages barely does: there the calibrated default probes 9 of 10 clusters).
fn topic_engine() -> Engine {
    let mut docs = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for t in 0..8 {
        for d in 0..10 {
            let words: Vec<&str> = (0..60).map(|_| TOPIC_WORDS[t][(next() % 6) as usize]).collect();
            docs.push(Document::new(format!("topic{t}/page{d}.md"), format!("{}.", words.join(" "))));
        }
    }
    let mut config = EngineConfig::default();
    config.sentences.at_index_time = false;
    let mut e = Engine::new(config, Box::new(HashEmbedder::new(DIM)));
    e.add_documents(docs).unwrap();
    e
}

#[test]
fn a_small_nprobe_keeps_recall_at_10_and_fetches_less() {
    let e = topic_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let clusters = set.manifest.ivf.clusters.len();
    let default = set.manifest.ivf.default_nprobe as usize;
    let ix = open(&set, MemSource::of(&set));
    let o = SearchOptions { k: 10, mode: Mode::Dense, ..SearchOptions::default() };
    let queries: Vec<String> = TOPIC_WORDS
        .iter()
        .flat_map(|w| [format!("{} {} {}", w[0], w[2], w[4]), format!("{} {}", w[1], w[5])])
        .collect();
    let recall = |nprobe: usize| -> (f64, u64) {
        let (mut found, mut total, mut bytes) = (0, 0, 0);
        for q in &queries {
            let want: HashSet<u32> = ids(&e.search(q, &o).unwrap()).into_iter().collect();
            ix.clear_cache();
            let (got, t) = ix.search(q, &o, Some(nprobe)).unwrap();
            bytes += t.bytes;
            found += got.iter().filter(|h| want.contains(&h.chunk_id)).count();
            total += want.len();
        }
        (found as f64 / total as f64, bytes)
    };
    let small = (clusters / 4).max(1);
    let ((r_small, b_small), (r_default, _), (r_all, b_all)) = (recall(small), recall(default), recall(clusters));
    eprintln!(
        "{clusters} clusters: recall@10 {r_small:.3} at nprobe {small}, {r_default:.3} at the default {default}, \
         {r_all:.3} at all; {b_small} vs {b_all} bytes"
    );
    assert!(clusters >= 8, "{clusters} clusters");
    assert!(r_small >= 0.9, "recall@10 {r_small:.3} with nprobe {small} of {clusters}");
    // Calibrated at depth max(10, fusion_candidates) = 50 of these 80 chunks: nearly every cluster.
    assert!(r_default >= 0.99 && default <= clusters, "default nprobe {default}: recall@10 {r_default:.3}");
    assert!(b_small < b_all, "{b_small} vs {b_all} bytes");
    let (_, t) = ix.search(&queries[0], &o, Some(small)).unwrap();
    assert_eq!(t.shards.iter().filter(|s| s.starts_with("vec-")).count(), small, "{t:?}");
    assert!(set.manifest.ivf.calibrated_recall >= 0.995);
}

#[test]
fn filters_post_filter_on_id_prefix_and_metadata() {
    let e = docs_engine_with(|| Box::new(Int8Exact::new()));
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let ix = open_with(&set, MemSource::of(&set), Box::new(Int8Exact::new()));
    let clusters = set.manifest.ivf.clusters.len();
    for f in ["id^=index", "section=late", "lang=en"] {
        for mode in [Mode::Sparse, Mode::Dense, Mode::Hybrid] {
            let o = SearchOptions { k: 5, mode, filters: vec![Filter::parse(f).unwrap()], ..SearchOptions::default() };
            let want = e.search("index file format and limits", &o).unwrap();
            let (got, _) = ix.search("index file format and limits", &o, Some(clusters)).unwrap();
            assert!(!got.is_empty(), "{f} {mode:?}");
            // The over-fetched lists cover the corpus: post-filtering loses nothing, and the
            // filtered lists fuse as the single-file index's pre-filtered ones.
            assert_eq!(ids(&got), ids(&want), "{f} {mode:?}");
        }
    }
    let o = SearchOptions { filters: vec![Filter::parse("section=none").unwrap()], ..SearchOptions::default() };
    assert!(ix.search("index", &o, None).unwrap().0.is_empty());
}

#[test]
fn unsupported_options_and_bad_queries_are_refused() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let ix = open(&set, MemSource::of(&set));
    let kind = |o: SearchOptions, q: &str, n: Option<usize>| ix.search(q, &o, n).unwrap_err().kind();
    assert_eq!(
        kind(SearchOptions { translate: sotto::Translate::Hyde, ..Default::default() }, "x", None),
        "InvalidOption"
    );
    assert_eq!(
        kind(SearchOptions { rerank: sotto::query::Rerank::MaxSim, ..Default::default() }, "x", None),
        "InvalidOption"
    );
    assert_eq!(kind(SearchOptions { k: 0, ..Default::default() }, "x", None), "InvalidOption");
    assert_eq!(kind(SearchOptions::default(), "x", Some(0)), "InvalidOption");
    assert_eq!(kind(SearchOptions::default(), "  ", None), "InvalidQuery");
    assert_eq!(kind(SearchOptions::default(), &"x".repeat(9000), None), "InvalidQuery");
}

// ---- bad input ----

#[test]
fn a_shard_whose_hash_does_not_match_is_fetched_again_then_refused() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let src = MemSource::of(&set);
    let ix = open(&set, src.clone());
    let o = SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() };
    let q = "magic number and checksums";
    let (want, clean) = ix.search(q, &o, None).unwrap();
    // Once wrong, then right: the refetch succeeds and counts as a request.
    ix.clear_cache();
    for name in &clean.shards {
        src.lie.lock().unwrap().insert(name.clone(), 1);
    }
    let (got, t) = ix.search(q, &o, None).unwrap();
    assert_eq!(ids(&got), ids(&want));
    assert_eq!(t.requests, 2 * clean.requests, "{t:?}");
    // Always wrong: a Corrupt error naming the shard, after exactly two requests for it.
    ix.clear_cache();
    let victim = clean.shards.last().unwrap().clone();
    src.lie.lock().unwrap().insert(victim.clone(), usize::MAX);
    let before = *src.requests.lock().unwrap();
    match ix.search(q, &o, None) {
        Err(Error::Corrupt { section, detail }) => {
            assert!(section.contains(&victim) && detail.contains("hash"), "{section}: {detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*src.requests.lock().unwrap() - before, clean.requests + 1);
    // The source heals: the same reader answers again.
    src.lie.lock().unwrap().clear();
    assert_eq!(ids(&ix.search(q, &o, None).unwrap().0), ids(&want));
}

#[test]
fn a_missing_shard_fails_its_query_and_the_reader_stays_usable() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams { postings_shard_bytes: 256, ..ShardParams::default() }).unwrap();
    let src = MemSource::of(&set);
    let ix = open(&set, src.clone());
    let o = SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() };
    let (_, t) = ix.search("checksums", &o, None).unwrap();
    let postings: Vec<&String> = t.shards.iter().filter(|s| s.starts_with("post-")).collect();
    assert_eq!(postings.len(), 1, "{t:?}");
    ix.clear_cache();
    src.shards.lock().unwrap().remove(postings[0]);
    match ix.search("checksums", &o, None) {
        Err(Error::ShardUnavailable { name, detail }) => assert!(&name == postings[0] && detail.contains("404")),
        other => panic!("{other:?}"),
    }
    // Another query, whose shards are all there, still works on the same reader.
    let (hits, t2) = ix.search("reciprocal rank fusion", &o, None).unwrap();
    assert!(!hits.is_empty() && !t2.shards.contains(postings[0]), "{t2:?}");
}

/// Re-serialize a manifest after `edit` changed its JSON.
fn edited(set: &ShardSet, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&set.manifest_bytes).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn open_err(manifest: &[u8], set: &ShardSet, dim: usize, limits: ShardLimits) -> Error {
    match ShardedIndex::open(manifest, Box::new(HashEmbedder::new(dim)), Box::new(MemSource::of(set)), limits) {
        Ok(_) => panic!("opened"),
        Err(e) => e,
    }
}

#[test]
fn foreign_future_and_inconsistent_manifests_are_refused() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let l = ShardLimits::default();
    assert_eq!(open_err(&set.manifest_bytes, &set, 64, l).kind(), "EmbedderMismatch");
    let future = edited(&set, |v| v["format_version"] = 2.into());
    assert!(matches!(open_err(&future, &set, DIM, l), Error::IndexFormat { found: 2, supported: 1 }));
    assert_eq!(open_err(&edited(&set, |v| v["format"] = "pagefind".into()), &set, DIM, l).kind(), "BadMagic");
    assert_eq!(open_err(b"{\"format\": \"sotto-shards\", \"format_version\": 1", &set, DIM, l).kind(), "Corrupt");
    assert_eq!(open_err(b"\x00\x01garbage", &set, DIM, l).kind(), "Corrupt");
    let small = ShardLimits { max_manifest_bytes: 100, ..l };
    assert!(matches!(
        open_err(&set.manifest_bytes, &set, DIM, small),
        Error::LimitExceeded { what: "manifest bytes", .. }
    ));
    let tiny_shards = ShardLimits { max_shard_bytes: 100, ..l };
    assert!(matches!(
        open_err(&set.manifest_bytes, &set, DIM, tiny_shards),
        Error::LimitExceeded { what: "shard bytes", .. }
    ));
    let kind_of = |k: ShardKind| set.manifest.shards.iter().position(|s| s.kind == k).unwrap();
    let vec_shard = kind_of(ShardKind::Vectors);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("dict bucket → vectors", edited(&set, |v| v["bm25"]["dict"][0] = vec_shard.into())),
        ("index out of range", edited(&set, |v| v["ivf"]["clusters"][0]["shard"] = 99_999.into())),
        ("name without its hash", edited(&set, |v| v["shards"][0]["name"] = "dict-0000.bin".into())),
        ("sha not hex", edited(&set, |v| v["shards"][0]["sha256"] = "z".repeat(64).into())),
        (
            "shard listed twice",
            edited(&set, |v| {
                let first = v["shards"][0].clone();
                v["shards"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "ranges out of order",
            edited(&set, |v| {
                let r = v["chunk_ranges"].as_array_mut().unwrap();
                assert!(r.len() >= 2, "several chunk shards");
                r.swap(0, 1);
            }),
        ),
        ("cluster sizes", edited(&set, |v| v["ivf"]["clusters"][0]["size"] = 100_000.into())),
        ("centroid", edited(&set, |v| v["ivf"]["clusters"][0]["centroid"] = "00ff".into())),
        ("nprobe", edited(&set, |v| v["ivf"]["default_nprobe"] = 0.into())),
        ("dimension", edited(&set, |v| v["ivf"]["dim"] = 3.into())),
        ("bm25 n", edited(&set, |v| v["bm25"]["n"] = 1.into())),
        ("configuration", edited(&set, |v| v["config"]["bm25"]["k1"] = (-1.0).into())),
    ];
    for (what, bytes) in bad {
        let err = open_err(&bytes, &set, DIM, l);
        assert!(matches!(&err, Error::Corrupt { section, .. } if section == "manifest"), "{what}: {err:?}");
    }
}

#[test]
fn truncated_or_garbage_shards_are_corrupt_even_when_the_table_lists_their_hash() {
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let o = SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() };
    let probe = open(&set, MemSource::of(&set));
    let (_, t) = probe.search("checksums", &o, None).unwrap();
    let dict_name = t.shards.iter().find(|s| s.starts_with("dict-")).unwrap().clone();
    let original = set.shards.iter().find(|s| s.0 == dict_name).unwrap().1.clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", original[..original.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("html", b"<html><body>404 Not Found</body></html>".to_vec()),
        ("other kind", set.shards.iter().find(|s| s.0.starts_with("vec-")).unwrap().1.clone()),
        ("payload garbage", sotto::index::shards::encode_shard(ShardKind::Dict, &[0xff; 40])),
    ];
    for (what, bytes) in cases {
        // Served under the right name: the hash check refuses it (after one refetch).
        let src = MemSource::of(&set);
        src.shards.lock().unwrap().insert(dict_name.clone(), bytes.clone());
        let ix = open(&set, src);
        let err = ix.search("checksums", &o, None).unwrap_err();
        assert!(matches!(&err, Error::Corrupt { section, .. } if section.contains(&dict_name)), "{what}: {err:?}");
        // A manifest rewritten to vouch for these bytes: decoding refuses them.
        let sha = sotto::embed::sha256_hex(&bytes);
        let name = sotto::index::shards::shard_name(ShardKind::Dict, &sha);
        let manifest = edited(&set, |v| {
            for s in v["shards"].as_array_mut().unwrap() {
                if s["name"] == dict_name.as_str() {
                    s["name"] = name.clone().into();
                    s["sha256"] = sha.clone().into();
                    s["bytes"] = bytes.len().into();
                }
            }
        });
        let src = MemSource::of(&set);
        src.shards.lock().unwrap().insert(name.clone(), bytes.clone());
        let ix = ShardedIndex::open(&manifest, Box::new(HashEmbedder::new(DIM)), Box::new(src), ShardLimits::default())
            .unwrap();
        let err = ix.search("checksums", &o, None).unwrap_err();
        assert!(matches!(&err, Error::Corrupt { section, .. } if section.contains(&name)), "{what}: {err:?}");
    }
}

// ---- the committed fixture ----

fn fixture_dir() -> std::path::PathBuf {
    common::fixture("shards_v1")
}

/// The fixture's corpus: `tests/fixtures/corpus`, hashing embedder of dimension 128.
fn fixture_engine() -> Engine {
    let dir = common::fixture("corpus");
    let mut docs: Vec<Document> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| Document::new(p.file_name().unwrap().to_string_lossy(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut config = EngineConfig::default();
    config.sentences.at_index_time = false;
    let mut e = Engine::new(config, Box::new(common::hashing()));
    e.add_documents(docs).unwrap();
    e
}

/// The parameters the committed fixtures (`shards_v1`, `shards_v1_pack`) were written with.
fn fixture_params() -> ShardParams {
    ShardParams { clusters: Some(3), postings_shard_bytes: 1024, chunk_shard_bytes: 2048, ..ShardParams::default() }
}

/// `SOTTO_WRITE_FIXTURES=1 cargo test --test shards` rewrites `tests/fixtures/shards_v1`.
#[test]
fn committed_sharded_fixture_opens_and_answers() {
    let params = fixture_params();
    if std::env::var_os("SOTTO_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(fixture_dir());
        sotto::native::write_shards(&fixture_dir(), &fixture_engine().to_shards(&params).unwrap()).unwrap();
    }
    let limits = ShardLimits::default();
    let manifest = std::fs::read(fixture_dir().join("manifest.json")).expect("tests/fixtures/shards_v1 is committed");
    let m = ShardManifest::parse(&manifest, &limits).expect("format v1 fixture parses");
    assert_eq!((m.format_version, m.documents, m.embedder.name.as_str()), (1, 3, "hashing-128"));
    assert!(m.pack.is_none(), "the v1 fixture predates packs");
    let ix = sotto::native::open_sharded(&fixture_dir(), Box::new(common::hashing()), limits).expect("fixture opens");
    let sparse = SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() };
    let (hits, t) = ix.search("magic number and checksums", &sparse, None).unwrap();
    assert_eq!(hits[0].doc_id, "index-format.md", "{hits:?}");
    assert!(t.requests >= 3 && t.bytes > 0);
    // Every shard on disk is one the table lists, under the name its bytes hash to.
    let listed: HashSet<&str> = m.shards.iter().map(|s| s.name.as_str()).collect();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "manifest.json" {
            assert!(listed.contains(name.as_str()), "{name} is not in the table");
            let bytes = std::fs::read(fixture_dir().join(&name)).unwrap();
            let kind = m.shards.iter().find(|s| s.name == name).unwrap().kind;
            assert_eq!(name, sotto::index::shards::shard_name(kind, &sotto::embed::sha256_hex(&bytes)));
        }
    }
    assert_eq!(listed.len(), m.shards.len());
    // Today's reader answers from it as the single-file engine answers from the same corpus.
    let e = fixture_engine();
    for q in ["How are near-duplicate chunks detected?", "reciprocal rank fusion", "checksums"] {
        let want = e.search(q, &sparse).unwrap();
        let (got, _) = ix.search(q, &sparse, None).unwrap();
        assert_eq!(
            got.iter().map(|h| (&h.doc_id, h.start)).collect::<Vec<_>>(),
            want.iter().map(|h| (&h.doc_id, h.start)).collect::<Vec<_>>(),
            "{q}"
        );
    }
    let dense = SearchOptions { k: 3, mode: Mode::Dense, ..SearchOptions::default() };
    assert_eq!(ix.search("near-duplicate chunks", &dense, Some(3)).unwrap().0.len(), 3);
    // Another embedder, a future version: typed errors.
    let other = sotto::native::open_sharded(&fixture_dir(), Box::new(HashEmbedder::new(64)), limits);
    assert_eq!(other.err().map(|e| e.kind()), Some("EmbedderMismatch"));
    let mut v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    v["format_version"] = 2.into();
    let future = ShardManifest::parse(&serde_json::to_vec(&v).unwrap(), &limits).unwrap_err();
    assert!(matches!(future, Error::IndexFormat { found: 2, supported: 1 }), "{future:?}");
}

/// Shards read from a pack by offset, as an HTTP Range reader reads them.
struct PackSource {
    pack: Vec<u8>,
    ranges: HashMap<String, (u64, u64)>,
    reads: Arc<Mutex<usize>>,
}

impl ShardSource for PackSource {
    fn fetch(&self, name: &str) -> sotto::Result<Vec<u8>> {
        *self.reads.lock().unwrap() += 1;
        let (a, b) = self
            .ranges
            .get(name)
            .copied()
            .ok_or_else(|| Error::ShardUnavailable { name: name.into(), detail: "not in the pack".into() })?;
        Ok(self.pack[a as usize..b as usize].to_vec())
    }
}

/// `SOTTO_WRITE_FIXTURES=1 cargo test --test shards` rewrites `tests/fixtures/shards_v1_pack`
/// (the v1 fixture's corpus and parameters, with `--pack`).
#[test]
fn committed_packed_fixture_holds_each_shard_at_its_offset() {
    let dir = common::fixture("shards_v1_pack");
    let params = fixture_params();
    if std::env::var_os("SOTTO_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        let set = fixture_engine().to_shards(&params).unwrap().with_pack().unwrap();
        sotto::native::write_shards(&dir, &set).unwrap();
    }
    let limits = ShardLimits::default();
    let manifest = std::fs::read(dir.join("manifest.json")).expect("tests/fixtures/shards_v1_pack is committed");
    let m = ShardManifest::parse(&manifest, &limits).expect("the packed fixture parses");
    assert_eq!(m.format_version, 1, "a pack is optional within version 1");
    let pack = m.pack.clone().expect("the fixture lists a pack");
    let bytes = std::fs::read(dir.join(&pack.name)).expect("the pack is committed");
    let sha = sotto::embed::sha256_hex(&bytes);
    assert_eq!((bytes.len() as u64, sha.as_str()), (pack.bytes, pack.sha256.as_str()));
    assert_eq!(pack.name, sotto::index::pack::pack_name(&sha));
    // Each shard's bytes in the pack are its file's; the files stay, for hosts without Range.
    let mut ranges = HashMap::new();
    for (i, e) in m.shards.iter().enumerate() {
        let (a, b) = pack.range(i, e.bytes).unwrap();
        assert_eq!(&bytes[a as usize..b as usize], std::fs::read(dir.join(&e.name)).unwrap().as_slice(), "{}", e.name);
        ranges.insert(e.name.clone(), (a, b));
    }
    assert_eq!(pack.bytes, m.shards.iter().map(|e| e.bytes).sum::<u64>(), "the shards back to back, nothing else");
    // Read through the pack: the same answers as through the files.
    let reads = Arc::new(Mutex::new(0));
    let source = PackSource { pack: bytes.clone(), ranges, reads: reads.clone() };
    let by_pack = ShardedIndex::open(&manifest, Box::new(common::hashing()), Box::new(source), limits).unwrap();
    let by_files = sotto::native::open_sharded(&dir, Box::new(common::hashing()), limits).unwrap();
    for (q, mode) in [("magic number and checksums", Mode::Sparse), ("near-duplicate chunks", Mode::Hybrid)] {
        let o = SearchOptions { k: 3, mode, ..SearchOptions::default() };
        let (a, b) = (by_pack.search(q, &o, Some(3)).unwrap().0, by_files.search(q, &o, Some(3)).unwrap().0);
        assert_eq!(
            a.iter().map(|h| (h.chunk_id, h.score)).collect::<Vec<_>>(),
            b.iter().map(|h| (h.chunk_id, h.score)).collect::<Vec<_>>(),
            "{q}"
        );
    }
    assert!(*reads.lock().unwrap() > 0);
    // Bad offsets or sizes: a corrupt manifest, not a read out of bounds.
    let v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let last = m.shards.len() - 1;
    let edits: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>)> = vec![
        ("overlap", Box::new(|v| v["pack"]["offsets"][1] = v["pack"]["offsets"][0].clone())),
        ("past the pack", Box::new(move |v| v["pack"]["offsets"][last] = pack.bytes.into())),
        ("past the pack", Box::new(|v| v["pack"]["bytes"] = 10.into())),
        ("offsets for", Box::new(|v| drop(v["pack"]["offsets"].as_array_mut().unwrap().pop()))),
        ("does not carry its hash", Box::new(|v| v["pack"]["name"] = "../pack.bin".into())),
    ];
    for (what, edit) in edits {
        let mut bad = v.clone();
        edit(&mut bad);
        let e = ShardManifest::parse(&serde_json::to_vec(&bad).unwrap(), &limits).unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt { section, detail } if section == "manifest" && detail.contains(what)),
            "{what}: {e:?}"
        );
    }
    // A pack that is not an object is a corrupt manifest too; without the field the manifest
    // is an unpacked one (what a reader that predates packs sees).
    let mut odd = v.clone();
    odd["pack"] = "pack.bin".into();
    assert_eq!(ShardManifest::parse(&serde_json::to_vec(&odd).unwrap(), &limits).unwrap_err().kind(), "Corrupt");
    let mut plain = v.clone();
    plain.as_object_mut().unwrap().remove("pack");
    assert!(ShardManifest::parse(&serde_json::to_vec(&plain).unwrap(), &limits).unwrap().pack.is_none());
}

#[test]
fn the_directory_source_refuses_odd_names_large_files_and_reports_missing_ones() {
    let src = DirSource::new(fixture_dir(), 1 << 20);
    for name in ["../Cargo.toml", "a/b", ".hidden", ""] {
        assert_eq!(src.fetch(name).unwrap_err().kind(), "ShardUnavailable", "{name}");
    }
    assert_eq!(src.fetch("post-0000.bin").unwrap_err().kind(), "ShardUnavailable");
    let tiny = DirSource::new(fixture_dir(), 10);
    assert!(matches!(tiny.fetch("manifest.json"), Err(Error::LimitExceeded { what: "shard bytes", .. })));
}

#[test]
fn writing_is_deterministic_and_content_addressed() {
    let e = fixture_engine();
    let p = ShardParams { chunk_shard_bytes: 1024, ..ShardParams::default() };
    let (a, b) = (e.to_shards(&p).unwrap(), e.to_shards(&p).unwrap());
    assert_eq!(a.manifest_bytes, b.manifest_bytes);
    assert_eq!(a.shards, b.shards);
    let dir = std::env::temp_dir().join(format!("sotto-shards-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(sotto::native::write_shards(&dir, &a).unwrap(), a.shards.len());
    assert_eq!(sotto::native::write_shards(&dir, &b).unwrap(), 0, "unchanged shards are not rewritten");
    // One more document: the shards of untouched content keep their names.
    let mut e2 = fixture_engine();
    e2.add_documents(vec![Document::new("zzz.md", "# Appendix\n\nA new page about flux capacitors.")]).unwrap();
    let c = e2.to_shards(&p).unwrap();
    let old: HashSet<&String> = a.shards.iter().map(|s| &s.0).collect();
    let kept = c.shards.iter().filter(|s| old.contains(&s.0)).count();
    eprintln!("{kept} of {} shards unchanged after adding a document", c.shards.len());
    // The new chunks get new ids: every chunk shard but the last keeps its name (postings,
    // dictionary and clusters are recomputed).
    let chunk_shards = |s: &ShardSet| -> Vec<String> {
        s.manifest.chunk_ranges.iter().map(|r| s.manifest.shards[r.chunks as usize].name.clone()).collect()
    };
    let (before, after) = (chunk_shards(&a), chunk_shards(&c));
    assert!(before.len() >= 3, "{} chunk shards", before.len());
    assert_eq!(before[..before.len() - 1], after[..before.len() - 1]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The asynchronous path: the caller fetches what each step needs, all at once.
#[test]
fn a_stepwise_search_asks_for_each_round_and_ends_where_search_does() {
    use sotto::rag::shards::Step;
    let e = docs_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    let src = MemSource::of(&set);
    // The reader's own source is empty: every shard must come through `provide`.
    let ix = open(&set, MemSource::default());
    let reference = open(&set, MemSource::of(&set));
    for mode in [Mode::Sparse, Mode::Dense, Mode::Hybrid] {
        for (q, filters) in [(QUERIES[0], vec![]), (QUERIES[3], vec![Filter::parse("section=late").unwrap()])] {
            let o = SearchOptions { k: 5, mode, filters, ..SearchOptions::default() };
            ix.clear_cache();
            let v = ix.query_vector(q, &o).unwrap();
            assert_eq!(v.is_some(), mode != Mode::Sparse);
            let mut needs = Vec::new();
            let (hits, trace) = loop {
                match ix.search_step(q, &o, None, v.as_deref()).unwrap() {
                    Step::Need(names) => {
                        assert!(!names.is_empty() && needs.len() < 3, "{mode:?} {q}: {needs:?} then {names:?}");
                        for n in &names {
                            ix.provide(n, &src.fetch(n).unwrap()).unwrap();
                        }
                        needs.push(names);
                    }
                    Step::Done(h, t) => break (h, t),
                }
            };
            reference.clear_cache();
            let (want, wt) = reference.search(q, &o, None).unwrap();
            assert_eq!(ids(&hits), ids(&want), "{mode:?} {q}");
            assert_eq!(needs.iter().map(Vec::len).sum::<usize>(), wt.requests, "{mode:?} {q}");
            assert_eq!((trace.requests, trace.bytes), (0, 0));
        }
    }
    // Bytes that do not hash to the table's, a name the index does not have.
    let name = &set.shards[0].0;
    let mut bad = set.shards[0].1.clone();
    bad[20] ^= 1;
    assert!(matches!(ix.provide(name, &bad), Err(Error::Corrupt { section, .. }) if section.contains(name.as_str())));
    assert_eq!(ix.provide("post-0000.bin", &bad).unwrap_err().kind(), "ShardUnavailable");
    // Dense without a vector.
    let o = SearchOptions { mode: Mode::Dense, ..SearchOptions::default() };
    assert_eq!(ix.search_step("x", &o, None, None).unwrap_err().kind(), "InvalidOption");
}

/// The docs corpus with sentence vectors stored at index time (what answers read).
fn answering_engine() -> Engine {
    answering_engine_with(|| Box::new(HashEmbedder::new(DIM)))
}

fn answering_engine_with(embedder: impl Fn() -> Box<dyn sotto::embed::Embedder>) -> Engine {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut docs: Vec<Document> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| Document::new(p.file_name().unwrap().to_string_lossy(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut e = Engine::new(EngineConfig::default(), embedder());
    e.add_documents(docs).unwrap();
    Engine::from_bytes(&e.to_bytes().unwrap(), embedder()).unwrap()
}

/// Drive an answer through `ask_step`, providing what each step needs from `src`.
fn ask_by_steps(ix: &ShardedIndex, src: &MemSource, q: &str, o: &AskOptions) -> (Answer, usize) {
    let qvec = ix.question_vector(q, o).unwrap();
    let mut needs = 0;
    loop {
        match ix.ask_step(q, o, None, &qvec, 0.0, &|| 0.0).unwrap() {
            AskStep::Need(names) => {
                needs += 1;
                assert!(needs <= 4, "more than four rounds");
                for n in names {
                    ix.provide(&n, &src.fetch(&n).unwrap()).unwrap();
                }
            }
            AskStep::Done(answer, _) => return (*answer, needs),
        }
    }
}

#[test]
fn extractive_answers_on_shards_are_the_single_file_answers() {
    let e = answering_engine();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    assert!(set.manifest.shards.iter().any(|s| s.kind == ShardKind::Sentences));
    let ix = open(&set, MemSource::of(&set));
    let clock = || 0.0;
    // BM25 ranks as the single file does to the bit, so the same chunks reach sentence
    // selection; the sentence vectors are the stored int8 ones on both sides.
    let mut o = AskOptions { grade: false, abstain_below: 0.0, ..AskOptions::default() };
    o.search.mode = Mode::Sparse;
    let mut answered = 0;
    for q in QUERIES {
        let want = e.ask(q, &o, &clock, &mut |_| true).unwrap();
        let (got, trace) = ix.ask(q, &o, None, &clock).unwrap();
        assert_eq!(got.answer, want.answer, "{q}");
        assert_eq!(got.citations, want.citations, "{q}");
        assert_eq!(
            (got.abstained, got.retrieval_score.to_bits()),
            (want.abstained, want.retrieval_score.to_bits()),
            "{q}"
        );
        answered += usize::from(!got.citations.is_empty());
        assert!(trace.shards.iter().any(|s| s.starts_with("sent-")), "{q}: {trace:?}");
        assert!(trace.rounds <= 4, "{trace:?}");
    }
    assert!(answered >= QUERIES.len() - 1, "only {answered} of {} questions answered with citations", QUERIES.len());

    // Step by step (as the browser drives it), from a fresh reader: the same answer.
    let src = MemSource::of(&set);
    let fresh = open(&set, src.clone());
    let (stepped, needs) = ask_by_steps(&fresh, &src, QUERIES[1], &o);
    let want = e.ask(QUERIES[1], &o, &clock, &mut |_| true).unwrap();
    assert_eq!((stepped.answer, stepped.citations), (want.answer, want.citations));
    assert!((3..=4).contains(&needs), "{needs} rounds");

    // A threshold no sentence reaches: both abstain.
    let high = AskOptions { abstain_below: 0.999, ..o.clone() };
    assert!(ix.ask(QUERIES[0], &high, None, &clock).unwrap().0.abstained);
    assert!(e.ask(QUERIES[0], &high, &clock, &mut |_| true).unwrap().abstained);

    // Refused with a typed error: a generator, adaptive routing, query translation, and an
    // index written without sentence vectors.
    let refused = |o: &AskOptions| matches!(ix.ask(QUERIES[0], o, None, &clock), Err(Error::InvalidOption { .. }));
    assert!(refused(&AskOptions { mode: AnswerMode::Generative, ..o.clone() }));
    assert!(refused(&AskOptions { adaptive: true, ..o.clone() }));
    let mut translated = o.clone();
    translated.search.translate = sotto::Translate::Decompose;
    assert!(refused(&translated));
    let bare = docs_engine().to_shards(&ShardParams::default()).unwrap();
    let no_vectors = open(&bare, MemSource::of(&bare));
    assert!(matches!(no_vectors.ask(QUERIES[0], &o, None, &clock), Err(Error::InvalidOption { name: "mode", .. })));
    // And the readers still answer.
    assert!(!ix.ask(QUERIES[1], &o, None, &clock).unwrap().0.citations.is_empty());
}

/// Questions the docs pages do not answer (the grader's negatives).
const OFF_TOPIC: &[&str] = &[
    "What is the boiling point of olive oil?",
    "Who won the football world cup in 1998?",
    "How do I repot an orchid?",
    "best pancake recipe with buttermilk",
    "When did the Roman empire fall?",
    "How tall is Mount Kilimanjaro?",
    "What will the weather be tomorrow?",
    "Where is the nearest train station?",
    "What colour is the sky?",
    "what time is it now",
];

#[test]
fn sharded_answers_are_graded_as_the_single_file_grades_them() {
    let e0 = answering_engine_with(|| Box::new(Int8Exact::new()));
    // A calibration fitted on this index (as `sotto calibrate` does): the docs questions
    // answerable, the off-topic ones not.
    let o = AskOptions::default();
    let samples: Vec<_> = QUERIES
        .iter()
        .map(|q| (*q, true))
        .chain(OFF_TOPIC.iter().map(|q| (*q, false)))
        .map(|(q, yes)| (e0.question_features(q, &o).unwrap(), yes))
        .collect();
    let c = sotto::rag::grade::fit(&samples, 1.0, e0.embedder().info(), "test").unwrap();
    let mut e = e0;
    e.set_calibration(c.clone()).unwrap();
    let set = e.to_shards(&ShardParams::default()).unwrap();
    assert_eq!(set.manifest.calibration.as_ref(), Some(&c), "the manifest carries the calibration");
    let clusters = set.manifest.ivf.clusters.len();
    let src = MemSource::of(&set);
    let ix = open_with(&set, src.clone(), Box::new(Int8Exact::new()));
    assert_eq!(ix.calibration().0, sotto::rag::grade::CalibrationSource::Index);
    let clock = || 0.0;
    let (mut abstained, mut answered, mut compared, mut compared_abstained, mut re_retrieved) = (0, 0, 0, 0, 0);
    for q in QUERIES.iter().chain(OFF_TOPIC) {
        for mode in [Mode::Hybrid, Mode::Dense, Mode::Sparse] {
            let mut o = AskOptions::default();
            o.search.mode = mode;
            let want = e.ask(q, &o, &clock, &mut |_| true).unwrap();
            let (got, _) = ix.ask(q, &o, Some(clusters), &clock).unwrap();
            let (wg, gg) = (want.grade.as_ref().unwrap(), got.grade.as_ref().expect("a sharded answer is graded"));
            abstained += usize::from(got.abstained);
            answered += usize::from(!got.abstained);
            // BM25 on shards has no typo tolerance: a question with a word the index does
            // not know ranks differently on the single file, which adds its corrections.
            if !e.typo_corrections(q).is_empty() {
                continue;
            }
            compared += 1;
            compared_abstained += usize::from(want.abstained);
            // Every cluster probed and the same int8 vectors: the same features, the same
            // grades and actions (an ambiguous one re-retrieves with the same expansion
            // terms), the same answer or abstention with the same closest topics.
            for ((n, a), (_, b)) in gg.features.iter().zip(&wg.features) {
                assert!((a - b).abs() < 1e-5, "{mode:?} {q}: {n} {a} vs {b}");
            }
            assert_eq!(gg.actions, wg.actions, "{mode:?} {q}");
            assert_eq!(got.abstained, want.abstained, "{mode:?} {q}");
            assert_eq!((&got.answer, &got.citations), (&want.answer, &want.citations), "{mode:?} {q}");
            if wg.actions.iter().any(|a| a.starts_with("re-retrieved")) {
                re_retrieved += 1;
                if re_retrieved == 1 {
                    // Step by step from a fresh reader: the re-retrieval's rounds are asked
                    // for too, and the answer is the same.
                    let fresh = open_with(&set, src.clone(), Box::new(Int8Exact::new()));
                    let qvec = fresh.question_vector(q, &o).unwrap();
                    let mut needs = 0;
                    let stepped = loop {
                        match fresh.ask_step(q, &o, Some(clusters), &qvec, 0.0, &|| 0.0).unwrap() {
                            AskStep::Need(names) => {
                                needs += 1;
                                assert!(needs <= 10, "more than ten rounds");
                                for n in names {
                                    fresh.provide(&n, &src.fetch(&n).unwrap()).unwrap();
                                }
                            }
                            AskStep::Done(answer, _) => break answer,
                        }
                    };
                    assert!(needs > 4, "{needs} rounds for a re-retrieval");
                    assert_eq!((&stepped.answer, &stepped.grade), (&got.answer, &got.grade), "{q}");
                }
            }
        }
    }
    assert!(
        abstained >= 3 && answered >= 3,
        "abstained {abstained}, answered {answered}: the grader decides both ways"
    );
    assert!(compared >= 3 * QUERIES.len(), "only {compared} answers compared");
    assert!(compared_abstained >= 3, "only {compared_abstained} compared abstentions");
    assert!(re_retrieved >= 1, "no ambiguous grade: the re-retrieval was not compared");

    // Step by step (as the browser drives it): still four rounds at most, graded.
    let fresh = open_with(&set, src.clone(), Box::new(Int8Exact::new()));
    let (stepped, needs) = ask_by_steps(&fresh, &src, OFF_TOPIC[0], &AskOptions::default());
    assert!(stepped.grade.is_some() && needs <= 4, "{needs} rounds");

    // Without the grader: the fixed cosine floor, as before; no grade in the answer.
    let plain = AskOptions { grade: false, ..AskOptions::default() };
    assert!(ix.ask(QUERIES[1], &plain, None, &clock).unwrap().0.grade.is_none());

    // A manifest whose calibration is another embedder's is refused when opened.
    let mut other = c.clone();
    other.weights_sha256 = "0".repeat(64);
    let bytes = edited(&set, |m| m["calibration"] = serde_json::to_value(&other).unwrap());
    let err = ShardedIndex::open(&bytes, Box::new(Int8Exact::new()), Box::new(src.clone()), ShardLimits::default());
    assert_eq!(err.err().map(|e| e.kind()), Some("CalibrationMismatch"));
    // Without one (a manifest written before calibrations were carried): uncalibrated for
    // this embedder, so the cosine floor decides.
    let bytes = edited(&set, |m| {
        m.as_object_mut().unwrap().remove("calibration");
    });
    let bare = ShardedIndex::open(&bytes, Box::new(Int8Exact::new()), Box::new(src), ShardLimits::default()).unwrap();
    assert_eq!(bare.calibration().0, sotto::rag::grade::CalibrationSource::Uncalibrated);
    assert!(bare.ask(QUERIES[1], &AskOptions::default(), None, &clock).unwrap().0.grade.is_none());
}

//! The sharded static index against the single-file index it was cut from (issue 13,
//! items 1–2), same run: retrieval quality on a question set (document level, as
//! `sotto eval`: 30 chunks, documents in first-hit order), recall@10 of the sharded dense
//! search against the single-file index's exact scan per `nprobe`, bytes fetched and
//! requests per query (p50/p95, cold: the cache cleared before each query; warm: one
//! cache over the whole run), and sizes.
//!
//! ```sh
//! cargo run --release --features cli --example shards_measure -- INDEX.sotto QUESTIONS.jsonl [OUT_DIR]
//! ```
//!
//! The embedder is the one the index manifest names, from `$SOTTO_MODELS`.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use sotto::eval::metrics::{hit_at_k, percentile, reciprocal_rank};
use sotto::native::{embedder_dir, load_bert_dir, models_dir, open_sharded, write_shards};
use sotto::rag::persist::read_manifest;
use sotto::rag::shards::{ShardLimits, ShardParams};
use sotto::{Engine, Mode, SearchHit, SearchOptions};

fn doc_rels(hits: &[SearchHit], relevant: &[String]) -> Vec<bool> {
    let mut seen = HashSet::new();
    hits.iter().filter(|h| seen.insert(h.doc_id.clone())).map(|h| relevant.contains(&h.doc_id)).collect()
}

fn p(v: &[f64], q: f64) -> f64 {
    percentile(v, q).unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let index = PathBuf::from(args.first().expect("INDEX.sotto"));
    let questions = PathBuf::from(args.get(1).expect("QUESTIONS.jsonl"));
    let out = args.get(2).map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("sotto-shards-measure"));

    let bytes = std::fs::read(&index).expect("index file");
    let name = read_manifest(&bytes).expect("manifest").embedder.name;
    let load = || Box::new(load_bert_dir(&embedder_dir(&models_dir(), &name)).expect("embedder"));
    let engine = Engine::from_bytes(&bytes, load()).expect("index loads");
    let t = Instant::now();
    // `SOTTO_SHARD_PARAMS='{"clusters": 82}'`: other cuts (absent keys keep the defaults).
    let params: ShardParams = std::env::var("SOTTO_SHARD_PARAMS")
        .map(|j| serde_json::from_str(&j).expect("SOTTO_SHARD_PARAMS"))
        .unwrap_or_default();
    println!("params: {}", serde_json::to_string(&params).expect("params"));
    let set = engine.to_shards(&params).expect("shards");
    let shard_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    write_shards(&out, &set).expect("write shards");
    let m = &set.manifest;
    let largest = set.shards.iter().map(|s| s.1.len()).max().unwrap_or(0);
    println!("index: {} ({} documents, {} chunks, embedder {name})", index.display(), m.documents, m.chunks);
    println!(
        "size: single file {:.2} MB; sharded {:.2} MB = manifest {:.1} kB + {} shards (largest {:.1} kB); cut in {shard_s:.2} s",
        bytes.len() as f64 / 1e6,
        set.total_bytes() as f64 / 1e6,
        set.manifest_bytes.len() as f64 / 1e3,
        set.shards.len(),
        largest as f64 / 1e3
    );
    for kind in ["dict", "post", "vec", "chunk", "sent"] {
        let of: Vec<usize> =
            set.shards.iter().filter(|s| s.0.starts_with(&format!("{kind}-"))).map(|s| s.1.len()).collect();
        if !of.is_empty() {
            println!("  {kind:<6} {:>4} shards, {:>8.1} kB", of.len(), of.iter().sum::<usize>() as f64 / 1e3);
        }
    }
    let clusters = m.ivf.clusters.len();
    println!(
        "IVF: {clusters} clusters (sizes {}..{}), default nprobe {} (calibrated: recall@{} {:.3} on {} synthetic queries)",
        m.ivf.clusters.iter().map(|c| c.size).min().unwrap_or(0),
        m.ivf.clusters.iter().map(|c| c.size).max().unwrap_or(0),
        m.ivf.default_nprobe,
        m.ivf.calibration_depth,
        m.ivf.calibrated_recall,
        ShardParams::default().calibration_queries.min(m.chunks)
    );

    let ix = open_sharded(&out, load(), ShardLimits::default()).expect("sharded index opens");
    let file = std::fs::File::open(&questions).expect("questions");
    let ds = sotto::eval::read_jsonl(BufReader::new(file), false).expect("questions parse");
    let qs: Vec<_> = ds.questions.iter().filter(|q| q.answerable()).collect();
    println!("questions: {} ({} answerable)", questions.display(), qs.len());

    // Retrieval quality, hybrid (RRF) and the other modes, same options on both sides.
    println!(
        "\n{:<16} {:>7} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7} | {:>6} | {:>8} {:>8} {:>7} {:>7} | {:>8}",
        "mode",
        "R@1 1f",
        "R@5 1f",
        "R@10 1f",
        "MRR 1f",
        "R@1 sh",
        "R@5 sh",
        "R@10 sh",
        "MRR sh",
        "same10",
        "kB p50",
        "kB p95",
        "req p50",
        "req p95",
        "warm kB"
    );
    let runs = [
        ("hybrid (rrf)", Mode::Hybrid, None),
        ("hybrid, all", Mode::Hybrid, Some(clusters)),
        ("dense", Mode::Dense, None),
        ("sparse", Mode::Sparse, None),
    ];
    for (label, mode, nprobe) in runs {
        let o = SearchOptions { k: 30, mode, ..SearchOptions::default() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut kb, mut req, mut same) = (Vec::new(), Vec::new(), 0);
        for q in &qs {
            let single = engine.search(&q.question, &o).expect("single-file search");
            ix.clear_cache();
            let (sharded, t) = ix.search(&q.question, &o, nprobe).expect("sharded search");
            kb.push(t.bytes as f64 / 1e3);
            req.push(t.requests as f64);
            let ids = |h: &[SearchHit]| h.iter().take(10).map(|h| h.chunk_id).collect::<Vec<_>>();
            same += usize::from(ids(&single) == ids(&sharded));
            a.push(doc_rels(&single, &q.relevant_docs));
            b.push(doc_rels(&sharded, &q.relevant_docs));
        }
        // Warm: one cache for the whole run.
        ix.clear_cache();
        let warm: u64 = qs.iter().map(|q| ix.search(&q.question, &o, nprobe).expect("warm").1.bytes).sum();
        let n = qs.len() as f64;
        let r = |rows: &[Vec<bool>], k| rows.iter().map(|x| hit_at_k(x, k)).sum::<f64>() / n;
        let mrr = |rows: &[Vec<bool>]| rows.iter().map(|x| reciprocal_rank(x, x.len())).sum::<f64>() / n;
        println!(
            "{label:<16} {:>7.3} {:>7.3} {:>7.3} {:>7.3} | {:>7.3} {:>7.3} {:>7.3} {:>7.3} | {:>3}/{:<2} | {:>8.1} {:>8.1} {:>7.0} {:>7.0} | {:>8.1}",
            r(&a, 1),
            r(&a, 5),
            r(&a, 10),
            mrr(&a),
            r(&b, 1),
            r(&b, 5),
            r(&b, 10),
            mrr(&b),
            same,
            qs.len(),
            p(&kb, 50.0),
            p(&kb, 95.0),
            p(&req, 50.0),
            p(&req, 95.0),
            warm as f64 / 1e3 / n
        );
    }
    println!("(1f = single file, sh = sharded at the default nprobe (\"all\": every cluster); same10 = questions whose top-10");
    println!(" chunk ids are identical; k = 30 chunks per query, as `sotto eval`;");
    println!(
        " kB/req: per query, cold cache, after the manifest; warm kB: mean per query with one cache over the run)"
    );

    // Hybrid quality per nprobe, and the questions whose R@5 differs from the single file.
    let o = SearchOptions { k: 30, ..SearchOptions::default() };
    let single: Vec<Vec<bool>> =
        qs.iter().map(|q| doc_rels(&engine.search(&q.question, &o).expect("single"), &q.relevant_docs)).collect();
    let n = qs.len() as f64;
    print!("hybrid R@5 / MRR by nprobe:");
    let mut sweep = vec![8, 12, 16, 20, 24, 28, 32, m.ivf.default_nprobe as usize, clusters];
    sweep.retain(|&n| n <= clusters);
    sweep.sort_unstable();
    sweep.dedup();
    for np in sweep {
        let rows: Vec<(Vec<bool>, &str)> = qs
            .iter()
            .map(|q| {
                (doc_rels(&ix.search(&q.question, &o, Some(np)).expect("hybrid").0, &q.relevant_docs), q.id.as_str())
            })
            .collect();
        let r5 = rows.iter().map(|x| hit_at_k(&x.0, 5)).sum::<f64>() / n;
        let mrr = rows.iter().map(|x| reciprocal_rank(&x.0, x.0.len())).sum::<f64>() / n;
        let differ: Vec<&str> =
            rows.iter().zip(&single).filter(|(r, s)| hit_at_k(&r.0, 5) != hit_at_k(s, 5)).map(|(r, _)| r.1).collect();
        print!("  {np}: {r5:.3}/{mrr:.3} {differ:?}");
    }
    println!();

    // What a page pays for its first answer: hybrid, k = 5, cold cache.
    for k in [5, 10] {
        let o = SearchOptions { k, ..SearchOptions::default() };
        let (mut kb, mut req) = (Vec::new(), Vec::new());
        for q in &qs {
            ix.clear_cache();
            let (_, t) = ix.search(&q.question, &o, None).expect("hybrid");
            kb.push(t.bytes as f64 / 1e3);
            req.push(t.requests as f64);
        }
        println!(
            "hybrid k = {k:<2}: {:.1} kB p50, {:.1} kB p95, {:.0} requests p50, {:.0} p95 (cold, after the {:.1} kB manifest)",
            p(&kb, 50.0),
            p(&kb, 95.0),
            p(&req, 50.0),
            p(&req, 95.0),
            set.manifest_bytes.len() as f64 / 1e3
        );
    }

    // Dense recall@10 against the single-file index's exact scan, per nprobe.
    let dense = SearchOptions { k: 10, mode: Mode::Dense, ..SearchOptions::default() };
    let exact: Vec<HashSet<u32>> = qs
        .iter()
        .map(|q| engine.search(&q.question, &dense).expect("exact").iter().map(|h| h.chunk_id).collect())
        .collect();
    println!("\nnprobe  recall@10  kB p50  kB p95  (dense, {} questions; exact = single-file flat f32 scan)", qs.len());
    let mut probes: Vec<usize> = (1..=clusters.min(12)).collect();
    for extra in [16, 24, 32, m.ivf.default_nprobe as usize, clusters] {
        if extra <= clusters && !probes.contains(&extra) {
            probes.push(extra);
        }
    }
    probes.sort_unstable();
    probes.dedup();
    for np in probes {
        let (mut found, mut total, mut kb) = (0, 0, Vec::new());
        for (q, want) in qs.iter().zip(&exact) {
            ix.clear_cache();
            let (got, t) = ix.search(&q.question, &dense, Some(np)).expect("dense");
            kb.push(t.bytes as f64 / 1e3);
            found += got.iter().filter(|h| want.contains(&h.chunk_id)).count();
            total += want.len();
        }
        let mark = if np == m.ivf.default_nprobe as usize { "  ← default" } else { "" };
        println!("{np:>6}  {:>9.3}  {:>6.1}  {:>6.1}{mark}", found as f64 / total as f64, p(&kb, 50.0), p(&kb, 95.0));
    }
}

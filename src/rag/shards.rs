//! A sharded static index: written from an engine, read query by query through a
//! [`ShardSource`], fetching only the pieces a query needs.
//!
//! Why: a page that imports the single-file index downloads all of it before the first
//! query (the Rust Book: 6.8 MB). Pagefind showed that a static host can serve a lexical
//! index as fragments, fetched per query; this module does the same for Sotto's hybrid
//! index. The codec (shard blobs, payload shapes) is [`crate::index::shards`]; here are the
//! [`ShardManifest`], the writer ([`Engine::to_shards`]) and the reader ([`ShardedIndex`]).
//!
//! **What is where.** `manifest.json` holds the format version, the embedder's identity
//! (as the single-file manifest has it), the engine configuration (chunking, BM25 `k1`,
//! `b`, fusion depth, query prefix), the corpus statistics BM25 needs (`N`, the total
//! length, so `avgdl`, and the languages a query is analyzed in), the IVF centroids (int8
//! with one scale, hex) and the shard table (name, kind, SHA-256, size). Shards:
//! - *postings*: the BM25 postings of a run of terms in sorted order (about
//!   [`ShardParams::postings_shard_bytes`] each), `(chunk, tf, chunk length)` per posting,
//!   so a query scores without any per-chunk table;
//! - *dict*: the term dictionary split into buckets by a hash of the term (FNV-1a), each
//!   mapping a term to its document frequency and postings shard — the dictionary itself
//!   is fetched by the piece, so it stays small however large the vocabulary;
//! - *vectors*: one per IVF cluster (Sivic & Zisserman 2003; Jégou et al. 2011), the chunk
//!   vectors int8 with one scale per vector. Clusters come from seeded spherical k-means
//!   (the summary tree's, [`crate::index::tree`]) over the stored chunk vectors,
//!   `⌈√N⌉` clusters by default;
//! - *chunks* (and *sentences*): texts, spans, heading paths and document metadata (and
//!   sentence vectors) of a range of chunk ids.
//!
//! **A query in three rounds.** Each round computes the names it needs, then asks the
//! source for all of them at once ([`ShardSource::fetch_many`], so a browser can fetch
//! them in parallel), then scores: (1) the dictionary buckets of the query's terms and the
//! vector shards of the `nprobe` clusters nearest the query vector; (2) the postings shards
//! of the terms found; (3) the chunk shards of the hits. Fetched shards are kept in an
//! in-memory LRU cache bounded in bytes ([`ShardLimits::cache_bytes`]). The trace
//! ([`ShardTrace`]) counts requests and bytes per query. [`ShardedIndex::search`] asks its
//! (synchronous) source; [`ShardedIndex::search_step`] instead returns the names a round
//! still needs ([`Step::Need`]) for the caller to fetch — in a browser, with parallel
//! `fetch`es — and hand back through [`ShardedIndex::provide`], so an asynchronous adapter
//! needs no blocking source.
//!
//! **Exactness.** BM25 scores are the single-file index's to the bit (same terms, same
//! statistics, same float operations: [`crate::index::sparse::term_score`]). Dense scores
//! are int8 dot products (within `scale / 2 · ‖q‖₁` of the exact cosine); with `nprobe` =
//! all clusters the ranking is the exact scan's up to that rounding. The default `nprobe`
//! is calibrated when the shards are written: the smallest whose clusters hold
//! [`ShardParams::recall_target`] of the exact top `max(10, fusion_candidates)` of
//! synthetic queries (midpoints of two random chunk vectors, harder than a chunk's own
//! vector), recorded in the manifest. Calibrated at depth 10 and 0.99 it fell short on
//! real questions (Cargo Book, MiniLM: nprobe 12 of 41 clusters, dense recall@10 0.980 on
//! the 30 questions of `cargo-book-qa.jsonl`); at depth 50 and 0.99 (nprobe 19) one
//! question's hybrid R@5 still differed from the single file; depth 50 and 0.995 gives
//! nprobe 21 and the single file's hybrid R@5 and MRR. Those 30 questions are the only
//! real-question check of this default so far.
//!
//! **Measured** (`examples/shards_measure.rs`, Cargo Book, MiniLM, 1655 chunks): 4.87 MB
//! as one file, 2.36 MB sharded (79 kB manifest, 241 shards); default `nprobe` 21 of 41,
//! dense recall@10 0.997 against the exact scan, hybrid R@5 and MRR equal to the single
//! file's on its 30 questions; a cold hybrid query (`k` = 5) fetches 474 kB in 37 requests
//! at p50, two thirds of it cluster vectors — the part a 1-bit prefilter would shrink.
//!
//! **Not (yet) on a sharded index:** typo tolerance (it needs the whole lexicon; a word
//! that matches no term simply scores nothing), query translation, routing, query
//! construction, the summary tree and MaxSim reranking — each is refused with
//! [`Error::InvalidOption`]. Filters are *post-filters*: both retrievers rank
//! [`FILTER_OVERFETCH`] times `max(k, fusion_candidates)` deep, the chunk shards of every
//! candidate are fetched (document id and metadata live there), the candidates whose
//! document fails a filter are dropped from each list, and the lists, cut to the depth the
//! single-file index uses, are fused. The result is the single-file index's (which filters
//! before ranking) whenever the over-fetched lists hold enough matching chunks; a very
//! selective filter may return fewer than `k` hits, and costs the chunk shards of all
//! candidates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::answer::{Answer, AnswerMode};
use super::ask::{abstain_answer, fill, finish_grade, first_grade, second_grade, AskOptions, EXPANSION_TERMS};
use super::grade::{
    calibration_for, features_of, Calibration, CalibrationSource, Features, Grade, Probes as GradeProbes, FEATURE_DEPTH,
};
use super::persist::{corpus_sha256, same_embedder};
use super::records::SearchHit;
use super::route::meta_matches;
use super::select::{extractive, score_sentences, Passages, SelectTuning};
use super::{Engine, EngineConfig};
use crate::embed::{sha256_hex, Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::index::dense::{dot, quantize_i8};
use crate::index::fusion::{fuse, sort_scored};
use crate::index::pack::ShardPack;
use crate::index::sentences::{ChunkSentences, SentenceVector};
use crate::index::shards::{
    decode_shard, encode_shard, from_hex, from_payload, shard_name, term_bucket, to_hex, to_payload, ChunkShard,
    DictShard, PostingsShard, SentenceShard, ShardChunk, ShardDoc, ShardKind, ShardSource, TermPostings, VectorShard,
    SHARD_FORMAT_VERSION,
};
use crate::index::sparse::{idf, query_terms_in, term_score};
use crate::index::tree::{centroid, kmeans, SplitMix};
use crate::index::{ChunkId, Scored};
use crate::query::translate::{feedback_candidates, pick_feedback_terms};
use crate::query::{Construct, Mode, Rerank, Route, SearchOptions, Translate, Tree};
use crate::text::Language;

/// The `format` field of a sharded manifest.
pub const SHARDED_FORMAT: &str = "sotto-shards";
/// The manifest's file name in a shard directory.
pub const MANIFEST_NAME: &str = "manifest.json";
/// With filters, each retriever ranks this many times `max(k, fusion_candidates)` before
/// the post-filter.
pub const FILTER_OVERFETCH: usize = 4;
/// Most IVF clusters a manifest may declare.
pub const MAX_CLUSTERS: usize = 1 << 16;

/// How [`Engine::to_shards`] cuts the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardParams {
    /// IVF clusters (default `⌈√N⌉`), 1 ..= [`MAX_CLUSTERS`], at most one per chunk.
    pub clusters: Option<usize>,
    /// k-means iterations (default 20), 1 ..= 1000.
    pub kmeans_iterations: usize,
    /// Seed of k-means and of the calibration queries.
    pub seed: u64,
    /// Share of the exact top `calibration_depth` the default `nprobe` must find on the calibration queries
    /// (default 0.995), in (0, 1].
    pub recall_target: f64,
    /// Calibration queries (default 256, at most one per chunk).
    pub calibration_queries: usize,
    /// The depth whose exact results the default `nprobe` must find (default
    /// `max(10, fusion_candidates)`: a hybrid search fuses that deep a dense list, and a
    /// question is further from the chunks than the synthetic queries are, so the deeper
    /// list also protects the top 10 of real questions).
    pub calibration_depth: Option<usize>,
    /// Target size of a postings shard (default 8 KiB; a term with longer postings gets a
    /// shard of its own), at least 256.
    pub postings_shard_bytes: usize,
    /// Terms per dictionary bucket, on average (default 512), at least 1.
    pub dict_terms_per_shard: usize,
    /// Target size of a chunk shard's texts (default 8 KiB), at least 256: a hit costs its
    /// chunk shard, so small shards keep the last round cheap.
    pub chunk_shard_bytes: usize,
}

impl Default for ShardParams {
    fn default() -> Self {
        ShardParams {
            clusters: None,
            kmeans_iterations: 20,
            seed: 0x5077_5EED,
            recall_target: 0.995,
            calibration_queries: 256,
            calibration_depth: None,
            postings_shard_bytes: 8 << 10,
            dict_terms_per_shard: 512,
            chunk_shard_bytes: 8 << 10,
        }
    }
}

impl ShardParams {
    /// Refuse out-of-range values with [`Error::InvalidOption`].
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, detail: String| Err(Error::InvalidOption { name, detail });
        if self.clusters.is_some_and(|c| c == 0 || c > MAX_CLUSTERS) {
            return bad("clusters", format!("must be 1 to {MAX_CLUSTERS}"));
        }
        if !(1..=1000).contains(&self.kmeans_iterations) {
            return bad("kmeans_iterations", "must be 1 to 1000".into());
        }
        if self.calibration_depth.is_some_and(|d| d == 0 || d > crate::query::options::MAX_K) {
            return bad("calibration_depth", format!("must be 1 to {}", crate::query::options::MAX_K));
        }
        if !(self.recall_target > 0.0 && self.recall_target <= 1.0) {
            return bad("recall_target", format!("{} is not in (0, 1]", self.recall_target));
        }
        if self.postings_shard_bytes < 256 || self.chunk_shard_bytes < 256 || self.dict_terms_per_shard == 0 {
            return bad("shard size", "postings and chunk shards of at least 256 bytes, ≥ 1 term per bucket".into());
        }
        Ok(())
    }
}

/// Resource limits of a [`ShardedIndex`] (see `docs/limits.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLimits {
    /// Largest manifest accepted (default 16 MiB).
    pub max_manifest_bytes: usize,
    /// Largest shard accepted (default 64 MiB).
    pub max_shard_bytes: usize,
    /// Bytes of fetched shards kept in memory (default 32 MiB; 0 disables the cache).
    pub cache_bytes: usize,
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits { max_manifest_bytes: 16 << 20, max_shard_bytes: 64 << 20, cache_bytes: 32 << 20 }
    }
}

/// One row of the shard table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name: `<kind>-<32 hex digits of the SHA-256>.bin`.
    pub name: String,
    /// What it holds.
    pub kind: ShardKind,
    /// Hex SHA-256 of the whole shard.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// What BM25 needs besides postings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Stats {
    /// Chunks (`N`).
    pub n: u32,
    /// Sum of the chunks' lengths in analyzed terms (`avgdl = total_len / N`).
    pub total_len: u64,
    /// Languages a query is analyzed in (those of the indexed chunks), in order.
    pub languages: Vec<Language>,
    /// Distinct terms.
    pub terms: u64,
    /// Shard-table index of each dictionary bucket (a term's bucket is `FNV-1a(term) mod len`).
    pub dict: Vec<u32>,
}

/// One IVF cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvfCluster {
    /// Shard-table index of its vector shard.
    pub shard: u32,
    /// Vectors in it.
    pub size: u32,
    /// Scale of the centroid's int8 codes.
    pub scale: f32,
    /// The centroid's int8 codes, hex (two digits per dimension, two's complement).
    pub centroid: String,
}

/// The inverted file over the chunk vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvfHeader {
    /// Vector dimension.
    pub dim: u32,
    /// k-means seed.
    pub seed: u64,
    /// k-means iterations.
    pub kmeans_iterations: u32,
    /// Clusters probed per query unless the caller says otherwise.
    pub default_nprobe: u32,
    /// The recall target the default was calibrated for.
    pub recall_target: f64,
    /// Recall of the default on the calibration queries (cluster coverage of their exact
    /// top `calibration_depth`).
    pub calibrated_recall: f64,
    /// The depth the default was calibrated at.
    #[serde(default)]
    pub calibration_depth: u32,
    /// The clusters.
    pub clusters: Vec<IvfCluster>,
}

/// A range of chunk ids and the shards holding them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRange {
    /// First chunk id.
    pub first: ChunkId,
    /// Last chunk id (inclusive).
    pub last: ChunkId,
    /// Shard-table index of the chunk shard.
    pub chunks: u32,
    /// Shard-table index of the sentence-vector shard, if the chunks have sentence vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentences: Option<u32>,
}

/// `manifest.json` of a sharded index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardManifest {
    /// Always [`SHARDED_FORMAT`].
    pub format: String,
    /// [`SHARD_FORMAT_VERSION`].
    pub format_version: u32,
    /// Producer, e.g. `sotto 0.1.0`.
    pub created_by: String,
    /// The embedder the vectors come from.
    pub embedder: EmbedderInfo,
    /// Engine configuration (chunking, cleaning, dedup, dense, BM25 parameters, query prefix).
    pub config: EngineConfig,
    /// SHA-256 over sorted `(document id, body SHA-256)` pairs, as in the single-file manifest.
    pub corpus_sha256: String,
    /// Documents.
    pub documents: usize,
    /// Chunks.
    pub chunks: usize,
    /// BM25 statistics and the dictionary buckets.
    pub bm25: Bm25Stats,
    /// IVF centroids and vector shards.
    pub ivf: IvfHeader,
    /// Chunk id ranges, ascending and disjoint.
    pub chunk_ranges: Vec<ChunkRange>,
    /// The shard table.
    pub shards: Vec<ShardEntry>,
    /// The grader's calibration of the index it was cut from (`sotto calibrate`), if any;
    /// without one, an all-MiniLM-L6-v2 index grades with the shipped default, as a
    /// single file does. Absent from manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// The shards packed into one file, read with HTTP Range requests (optional within
    /// format version 1: a reader that does not know it reads the shard files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<ShardPack>,
}

/// A written sharded index: the manifest and the shards, ready to be stored.
#[derive(Debug, Clone)]
pub struct ShardSet {
    /// The manifest.
    pub manifest: ShardManifest,
    /// Its JSON (`manifest.json`).
    pub manifest_bytes: Vec<u8>,
    /// `(file name, bytes)` of every shard, as in the table.
    pub shards: Vec<(String, Vec<u8>)>,
    /// The packed file's bytes, when [`ShardSet::with_pack`] made one (its name is the
    /// manifest's `pack.name`).
    pub pack: Option<Vec<u8>>,
}

impl ShardSet {
    /// Total bytes: manifest plus shards.
    pub fn total_bytes(&self) -> usize {
        self.manifest_bytes.len() + self.shards.iter().map(|s| s.1.len()).sum::<usize>()
    }

    /// Also pack the shards into one file (the shards stay: see [`crate::index::pack`]),
    /// recording it in the manifest.
    pub fn with_pack(mut self) -> Result<ShardSet> {
        let (pack, bytes) = ShardPack::build(&self.shards.iter().map(|s| s.1.as_slice()).collect::<Vec<_>>());
        self.manifest.pack = Some(pack);
        self.manifest_bytes = serde_json::to_vec(&self.manifest).map_err(|e| Error::corrupt("manifest", e))?;
        self.pack = Some(bytes);
        Ok(self)
    }
}

/// The shard table under construction (identical shards are stored once).
#[derive(Default)]
struct Table {
    entries: Vec<ShardEntry>,
    blobs: Vec<Vec<u8>>,
    by_name: HashMap<String, u32>,
}

impl Table {
    fn push<T: Serialize>(&mut self, kind: ShardKind, value: &T) -> Result<u32> {
        let bytes = encode_shard(kind, &to_payload(value, kind.prefix())?);
        let sha256 = sha256_hex(&bytes);
        let name = shard_name(kind, &sha256);
        if let Some(&i) = self.by_name.get(&name) {
            return Ok(i);
        }
        let i = self.entries.len() as u32;
        self.by_name.insert(name.clone(), i);
        self.entries.push(ShardEntry { name, kind, sha256, bytes: bytes.len() as u64 });
        self.blobs.push(bytes);
        Ok(i)
    }
}

fn quantize(v: &[f32]) -> (f32, Vec<i8>) {
    let mut codes = Vec::with_capacity(v.len());
    let scale = quantize_i8(v, &mut codes);
    (scale, codes)
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// The clusters in the order a query should probe them: centroid score descending, then index.
fn probe_order(query: &[f32], centroids: &[Vec<f32>]) -> Vec<usize> {
    let mut s: Vec<(usize, f32)> = centroids.iter().enumerate().map(|(i, c)| (i, dot(query, c))).collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.into_iter().map(|(i, _)| i).collect()
}

/// The dequantized centroid of a cluster (`None`: bad hex or dimension).
fn centroid_of(c: &IvfCluster, dim: usize) -> Option<Vec<f32>> {
    let codes = from_hex(&c.centroid)?;
    (codes.len() == dim).then(|| codes.into_iter().map(|b| b as i8 as f32 * c.scale).collect())
}

/// The smallest `nprobe` whose clusters hold `target` of the exact top 10 of the
/// calibration queries, and that share.
fn calibrate_nprobe(
    vecs: &[&[f32]],
    cluster_of: &[usize],
    centroids: &[Vec<f32>],
    params: &ShardParams,
    depth: usize,
) -> (usize, f64) {
    let (n, k) = (vecs.len(), centroids.len());
    if k <= 1 || n == 0 {
        return (k.max(1), 1.0);
    }
    let dim = vecs[0].len();
    let mut rng = SplitMix(params.seed ^ 0xCA1B_4A7E);
    let queries = params.calibration_queries.clamp(1, n);
    // found[p] = exact top-10 items whose cluster is among the first p + 1 probed.
    let mut found = vec![0usize; k];
    let mut total = 0usize;
    for _ in 0..queries {
        let (a, b) = ((rng.next() % n as u64) as usize, (rng.next() % n as u64) as usize);
        let mut q: Vec<f32> = (0..dim).map(|i| vecs[a][i] + vecs[b][i]).collect();
        normalize(&mut q);
        let mut exact: Vec<Scored> = vecs.iter().enumerate().map(|(i, v)| (i as ChunkId, dot(&q, v))).collect();
        sort_scored(&mut exact);
        let mut rank_of = vec![0usize; k];
        for (r, c) in probe_order(&q, centroids).into_iter().enumerate() {
            rank_of[c] = r;
        }
        for &(i, _) in exact.iter().take(depth) {
            found[rank_of[cluster_of[i as usize]]] += 1;
            total += 1;
        }
    }
    let mut covered = 0;
    for (p, f) in found.iter().enumerate() {
        covered += f;
        let recall = covered as f64 / total as f64;
        if recall >= params.recall_target {
            return (p + 1, recall);
        }
    }
    (k, 1.0)
}

impl Engine {
    /// Cut the index into a sharded static index (see the module docs). The grader's
    /// calibration is carried over; the engine's collections and summary tree are not (yet).
    pub fn to_shards(&self, params: &ShardParams) -> Result<ShardSet> {
        params.validate()?;
        self.config.validate()?;
        let mut table = Table::default();

        // BM25: postings in runs of sorted terms, then the dictionary buckets.
        let (terms, total_len) = self.sparse.export();
        let n_terms = terms.len();
        let mut dict_entries = Vec::with_capacity(n_terms);
        let mut run: Vec<TermPostings> = Vec::new();
        let mut run_terms: Vec<(String, u32)> = Vec::new();
        let mut run_bytes = 0usize;
        let flush = |run: &mut Vec<TermPostings>,
                     run_terms: &mut Vec<(String, u32)>,
                     table: &mut Table,
                     out: &mut Vec<crate::index::shards::DictEntry>|
         -> Result<()> {
            if run.is_empty() {
                return Ok(());
            }
            let i = table.push(ShardKind::Postings, &PostingsShard { terms: std::mem::take(run) })?;
            out.extend(run_terms.drain(..).map(|(term, df)| crate::index::shards::DictEntry { term, df, postings: i }));
            Ok(())
        };
        for (term, list) in terms {
            run_bytes += term.len() + 1 + 4 * list.len();
            run_terms.push((term.clone(), list.len() as u32));
            run.push(TermPostings::new(term, list));
            if run_bytes >= params.postings_shard_bytes {
                flush(&mut run, &mut run_terms, &mut table, &mut dict_entries)?;
                run_bytes = 0;
            }
        }
        flush(&mut run, &mut run_terms, &mut table, &mut dict_entries)?;
        let buckets = n_terms.div_ceil(params.dict_terms_per_shard).max(1);
        let mut by_bucket: Vec<Vec<crate::index::shards::DictEntry>> = vec![Vec::new(); buckets];
        for e in dict_entries {
            by_bucket[term_bucket(&e.term, buckets)].push(e);
        }
        let mut dict = Vec::with_capacity(buckets);
        for (b, entries) in by_bucket.into_iter().enumerate() {
            dict.push(table.push(ShardKind::Dict, &DictShard { bucket: b as u32, entries })?);
        }

        // Dense: seeded spherical k-means over the stored vectors, one shard per cluster.
        let (ids, vecs) = self.chunk_vectors()?;
        let dim = self.dense.dim();
        let n = ids.len();
        let k = params.clusters.unwrap_or_else(|| (n as f64).sqrt().ceil() as usize).clamp(1, n.max(1));
        let assign = if n == 0 || k == 1 {
            vec![0; n]
        } else {
            let members: Vec<usize> = (0..n).collect();
            kmeans(&vecs, &members, dim, k, params.kmeans_iterations, &mut SplitMix(params.seed))
        };
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &a) in assign.iter().enumerate() {
            groups[a].push(i);
        }
        groups.retain(|g| !g.is_empty());
        let mut cluster_of = vec![0usize; n];
        let mut clusters = Vec::with_capacity(groups.len());
        let mut centroids = Vec::with_capacity(groups.len());
        for (c, members) in groups.iter().enumerate() {
            let (scale, codes) = quantize(&centroid(&vecs, members, dim));
            centroids.push(codes.iter().map(|&q| q as f32 * scale).collect::<Vec<f32>>());
            let mut shard = VectorShard {
                cluster: c as u32,
                dim: dim as u32,
                ids: Vec::with_capacity(members.len()),
                scales: Vec::with_capacity(members.len()),
                codes: Vec::with_capacity(members.len() * dim),
            };
            for &m in members {
                cluster_of[m] = c;
                shard.ids.push(ids[m]);
                shard.scales.push(quantize_i8(vecs[m], &mut shard.codes));
            }
            let bytes: Vec<u8> = codes.iter().map(|&q| q as u8).collect();
            clusters.push(IvfCluster {
                shard: table.push(ShardKind::Vectors, &shard)?,
                size: members.len() as u32,
                scale,
                centroid: to_hex(&bytes),
            });
        }
        let calibration_depth = params.calibration_depth.unwrap_or(self.config.fusion_candidates).max(10);
        let (default_nprobe, calibrated_recall) =
            calibrate_nprobe(&vecs, &cluster_of, &centroids, params, calibration_depth);

        // Chunks (and sentence vectors) by id range.
        let sentences = self.sentences.lock().unwrap_or_else(|p| p.into_inner());
        let mut chunk_ranges = Vec::new();
        let mut shard = ChunkShard { docs: Vec::new(), chunks: Vec::new() };
        let mut sent: Vec<(ChunkId, Vec<crate::index::sentences::SentenceVector>)> = Vec::new();
        let mut doc_at: HashMap<&str, u32> = HashMap::new();
        let mut bytes = 0usize;
        let mut flush_chunks = |shard: &mut ChunkShard,
                                sent: &mut Vec<(ChunkId, Vec<crate::index::sentences::SentenceVector>)>,
                                doc_at: &mut HashMap<&str, u32>,
                                table: &mut Table|
         -> Result<()> {
            let (Some(first), Some(last)) = (shard.chunks.first().map(|c| c.id), shard.chunks.last().map(|c| c.id))
            else {
                return Ok(());
            };
            let chunks = table.push(
                ShardKind::Chunks,
                &std::mem::replace(shard, ChunkShard { docs: Vec::new(), chunks: Vec::new() }),
            )?;
            let sentences = if sent.is_empty() {
                None
            } else {
                Some(
                    table
                        .push(ShardKind::Sentences, &SentenceShard { dim: dim as u32, chunks: std::mem::take(sent) })?,
                )
            };
            doc_at.clear();
            chunk_ranges.push(ChunkRange { first, last, chunks, sentences });
            Ok(())
        };
        for (&id, c) in &self.chunks {
            let d =
                self.docs.get(&c.doc_id).ok_or_else(|| Error::corrupt("chunks", format!("chunk {id}: no document")))?;
            let text =
                d.text.get(c.start..c.end).ok_or_else(|| Error::corrupt("chunks", format!("chunk {id}: bad span")))?;
            let doc = match doc_at.get(d.id.as_str()) {
                Some(&i) => i,
                None => {
                    let i = shard.docs.len() as u32;
                    shard.docs.push(ShardDoc {
                        id: d.id.clone(),
                        title: d.title.clone(),
                        language: d.language,
                        metadata: d.metadata.clone(),
                    });
                    doc_at.insert(d.id.as_str(), i);
                    bytes += d.id.len() + d.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                    i
                }
            };
            bytes += text.len() + c.heading_path.iter().map(String::len).sum::<usize>() + 16;
            shard.chunks.push(ShardChunk {
                id,
                doc,
                start: c.start as u64,
                end: c.end as u64,
                heading_path: c.heading_path.clone(),
                text: text.to_owned(),
            });
            if let Some(v) = sentences.get(id) {
                sent.push((id, v.as_ref().clone()));
            }
            if bytes >= params.chunk_shard_bytes {
                flush_chunks(&mut shard, &mut sent, &mut doc_at, &mut table)?;
                bytes = 0;
            }
        }
        flush_chunks(&mut shard, &mut sent, &mut doc_at, &mut table)?;
        drop(sentences);

        let manifest = ShardManifest {
            format: SHARDED_FORMAT.into(),
            format_version: SHARD_FORMAT_VERSION,
            created_by: format!("sotto {}", env!("CARGO_PKG_VERSION")),
            embedder: self.embedder.info().clone(),
            config: self.config.clone(),
            corpus_sha256: corpus_sha256(self.docs.values()),
            documents: self.docs.len(),
            chunks: self.chunks.len(),
            bm25: Bm25Stats {
                n: self.sparse.len() as u32,
                total_len,
                languages: self.sparse.languages(),
                terms: n_terms as u64,
                dict,
            },
            ivf: IvfHeader {
                dim: dim as u32,
                seed: params.seed,
                kmeans_iterations: params.kmeans_iterations as u32,
                default_nprobe: default_nprobe as u32,
                recall_target: params.recall_target,
                calibrated_recall,
                calibration_depth: calibration_depth as u32,
                clusters,
            },
            chunk_ranges,
            shards: table.entries,
            calibration: self.calibration.clone(),
            pack: None,
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::corrupt("manifest", e))?;
        let shards = manifest.shards.iter().map(|e| e.name.clone()).zip(table.blobs).collect();
        Ok(ShardSet { manifest, manifest_bytes, shards, pack: None })
    }
}

impl ShardManifest {
    /// Parse and check a manifest: its size, format and version, configuration, and that
    /// its shard table is consistent (names carry their hashes, every reference points at
    /// a shard of the right kind, ranges ascend, clusters cover the chunks).
    pub fn parse(bytes: &[u8], limits: &ShardLimits) -> Result<ShardManifest> {
        if bytes.len() > limits.max_manifest_bytes {
            return Err(Error::LimitExceeded {
                what: "manifest bytes",
                limit: limits.max_manifest_bytes,
                got: bytes.len(),
            });
        }
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::corrupt("manifest", e))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(SHARDED_FORMAT) {
            return Err(Error::BadMagic);
        }
        // The version first: a future manifest may not parse as this one.
        let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(SHARD_FORMAT_VERSION) {
            return Err(Error::IndexFormat {
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: SHARD_FORMAT_VERSION,
            });
        }
        let m: ShardManifest = serde_json::from_value(value).map_err(|e| Error::corrupt("manifest", e))?;
        m.check(limits)?;
        Ok(m)
    }

    fn check(&self, limits: &ShardLimits) -> Result<()> {
        let bad = |d: String| Err(Error::corrupt("manifest", d));
        self.config.validate().map_err(|e| Error::corrupt("manifest", format!("configuration: {e}")))?;
        let mut names = HashSet::new();
        for e in &self.shards {
            let hex_ok =
                e.sha256.len() == 64 && e.sha256.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
            if !hex_ok || e.name != shard_name(e.kind, &e.sha256) {
                return bad(format!("shard {:?} does not carry its hash {:?}", e.name, e.sha256));
            }
            if !names.insert(e.name.as_str()) {
                return bad(format!("shard {} is listed twice", e.name));
            }
            if e.bytes > limits.max_shard_bytes as u64 {
                return Err(Error::LimitExceeded {
                    what: "shard bytes",
                    limit: limits.max_shard_bytes,
                    got: usize::try_from(e.bytes).unwrap_or(usize::MAX),
                });
            }
        }
        let of_kind = |i: u32, kind: ShardKind, what: &str| -> Result<()> {
            match self.shards.get(i as usize) {
                Some(e) if e.kind == kind => Ok(()),
                Some(e) => bad(format!("{what} points at shard {} of kind {:?}, not {kind:?}", e.name, e.kind)),
                None => bad(format!("{what} points at shard {i} of {}", self.shards.len())),
            }
        };
        if self.bm25.dict.is_empty() {
            return bad("no dictionary bucket".into());
        }
        for &i in &self.bm25.dict {
            of_kind(i, ShardKind::Dict, "a dictionary bucket")?;
        }
        if self.bm25.n as usize != self.chunks || (self.chunks > 0 && self.bm25.languages.is_empty()) {
            return bad(format!("BM25 statistics for {} chunks in an index of {}", self.bm25.n, self.chunks));
        }
        let dim = self.ivf.dim as usize;
        if dim != self.embedder.dim {
            return bad(format!("vectors of dimension {dim} for an embedder of {}", self.embedder.dim));
        }
        if self.ivf.clusters.len() > MAX_CLUSTERS {
            return bad(format!("{} clusters", self.ivf.clusters.len()));
        }
        for (c, cl) in self.ivf.clusters.iter().enumerate() {
            of_kind(cl.shard, ShardKind::Vectors, &format!("cluster {c}"))?;
            if !(cl.scale.is_finite() && cl.scale >= 0.0) || centroid_of(cl, dim).is_none() {
                return bad(format!("cluster {c}: centroid is not {dim} int8 codes with a finite scale"));
            }
        }
        if self.ivf.clusters.iter().map(|c| c.size as usize).sum::<usize>() != self.chunks {
            return bad(format!("clusters hold other than the {} chunks", self.chunks));
        }
        let clusters = self.ivf.clusters.len() as u32;
        if clusters > 0 && !(1..=clusters).contains(&self.ivf.default_nprobe) {
            return bad(format!("default nprobe {} with {clusters} clusters", self.ivf.default_nprobe));
        }
        let mut prev: Option<ChunkId> = None;
        for r in &self.chunk_ranges {
            if r.first > r.last || prev.is_some_and(|p| r.first <= p) {
                return bad(format!("chunk range {}..={} overlaps or is out of order", r.first, r.last));
            }
            prev = Some(r.last);
            of_kind(r.chunks, ShardKind::Chunks, "a chunk range")?;
            if let Some(s) = r.sentences {
                of_kind(s, ShardKind::Sentences, "a chunk range")?;
            }
        }
        if self.chunks > 0 && self.chunk_ranges.is_empty() {
            return bad("no chunk shard".into());
        }
        if let Some(pack) = &self.pack {
            pack.check(&self.shards.iter().map(|e| e.bytes).collect::<Vec<_>>())?;
        }
        Ok(())
    }
}

/// What fetching did for one query.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShardTrace {
    /// Requests to the source (a refetch after a hash mismatch counts).
    pub requests: usize,
    /// Bytes received from the source.
    pub bytes: u64,
    /// Shards served from the in-memory cache.
    pub cache_hits: usize,
    /// Rounds that asked the source for something (a search at most 3, an answer 4, one
    /// graded ambiguous up to 10 with its re-retrieval).
    pub rounds: usize,
    /// The shards the query used, in the order first needed.
    pub shards: Vec<String>,
    /// Clusters probed, of how many.
    pub nprobe: usize,
    /// Clusters in the index.
    pub clusters: usize,
    /// Query terms found nowhere (no typo tolerance on a sharded index).
    pub unmatched_terms: Vec<String>,
}

impl ShardTrace {
    /// Add what a second search of the same question fetched (CRAG's re-retrieval).
    fn absorb(&mut self, other: ShardTrace) {
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.cache_hits += other.cache_hits;
        self.rounds += other.rounds;
        for s in other.shards {
            if !self.shards.contains(&s) {
                self.shards.push(s);
            }
        }
    }
}

/// One round's shards, or the names of those not cached (step mode).
type Round = std::result::Result<HashMap<u32, Arc<Loaded>>, Vec<String>>;

/// Where a [`ShardedIndex::search_step`] is.
#[derive(Debug)]
pub enum Step {
    /// Fetch these shards (all at once), [`ShardedIndex::provide`] them, step again.
    Need(Vec<String>),
    /// The hits, and what the search used.
    Done(Vec<SearchHit>, ShardTrace),
}

/// What a search scored beyond its hits, for the grader: each retriever's list at
/// [`FEATURE_DEPTH`] (filtered), the query's terms and the IDF of those the dictionary has.
struct Probes {
    dense: Vec<Scored>,
    sparse: Vec<Scored>,
    terms: Vec<String>,
    idf: HashMap<String, f32>,
}

/// A second retrieval (CRAG's *ambiguous* action): its hits, their fetched shards, the
/// question's candidate sentences in them, and its grader features.
struct Retrieval {
    hits: Vec<SearchHit>,
    got: HashMap<u32, Arc<Loaded>>,
    candidates: Vec<super::select::Scored>,
    features: super::grade::Features,
}

/// The expansion terms found, and the retrieval they gave (none without terms).
struct Second {
    terms: Vec<String>,
    retrieval: Option<Retrieval>,
}

impl Probes {
    /// The grader's features of the question these rankings are of, for an answer built
    /// from `hits` (their texts in `view`) whose best sentence cosine is `sentence_top`.
    fn features(&self, hits: &[SearchHit], view: &View, sentence_top: f32) -> Features {
        let language = hits.first().and_then(|h| view.doc_language(&h.doc_id)).unwrap_or(Language::English);
        features_of(&GradeProbes {
            dense: &self.dense,
            sparse: &self.sparse,
            terms: &self.terms,
            idf: &|t| self.idf.get(t).copied().unwrap_or(0.0),
            hits,
            language,
            sentence_top,
        })
    }
}

/// Where [`ShardedIndex::run_probed`] is.
enum Ran {
    Need(Vec<String>),
    Done(Vec<SearchHit>, ShardTrace, Box<Probes>),
}

/// Where a [`ShardedIndex::ask_step`] is.
#[derive(Debug)]
pub enum AskStep {
    /// Fetch these shards (all at once), [`ShardedIndex::provide`] them, step again.
    Need(Vec<String>),
    /// The answer, and what it used.
    Done(Box<Answer>, ShardTrace),
}

/// The fetched chunk and sentence shards of a question's hits, as answer selection reads
/// them: only those chunks' texts are known.
struct View<'a> {
    docs: HashMap<&'a str, &'a ShardDoc>,
    chunks: HashMap<ChunkId, (&'a str, &'a ShardChunk)>,
    sentences: HashMap<ChunkId, ChunkSentences>,
}

impl<'a> View<'a> {
    fn new(hits: &[SearchHit], got: &'a HashMap<u32, Arc<Loaded>>) -> View<'a> {
        let wanted: HashSet<ChunkId> = hits.iter().map(|h| h.chunk_id).collect();
        let mut view = View { docs: HashMap::new(), chunks: HashMap::new(), sentences: HashMap::new() };
        for loaded in got.values() {
            match loaded.as_ref() {
                Loaded::Chunks(c) => {
                    for chunk in c.chunks.iter().filter(|x| wanted.contains(&x.id)) {
                        let Some(doc) = c.docs.get(chunk.doc as usize) else { continue };
                        view.docs.insert(doc.id.as_str(), doc);
                        view.chunks.insert(chunk.id, (doc.id.as_str(), chunk));
                    }
                }
                Loaded::Sentences(v) => {
                    for (id, vs) in v.chunks.iter().filter(|x| wanted.contains(&x.0)) {
                        view.sentences.insert(*id, Arc::new(vs.clone()));
                    }
                }
                _ => {}
            }
        }
        view
    }
}

impl Passages for View<'_> {
    fn chunk_of(&self, id: ChunkId) -> Option<(&str, usize, usize, &[String])> {
        self.chunks.get(&id).map(|(d, c)| (*d, c.start as usize, c.end as usize, c.heading_path.as_slice()))
    }
    fn doc_title(&self, doc_id: &str) -> Option<Option<&str>> {
        self.docs.get(doc_id).map(|d| d.title.as_deref())
    }
    fn doc_language(&self, doc_id: &str) -> Option<Language> {
        self.docs.get(doc_id).map(|d| d.language)
    }
    fn text(&self, doc_id: &str, start: usize, end: usize) -> Option<&str> {
        if start > end {
            return None;
        }
        self.chunks.values().filter(|(d, _)| *d == doc_id).find_map(|(_, c)| {
            let (cs, ce) = (c.start as usize, c.end as usize);
            if start >= cs && end <= ce {
                c.text.get(start - cs..end - cs)
            } else {
                None
            }
        })
    }
    fn sentence_vectors(&self, ids: &[ChunkId]) -> Result<Vec<ChunkSentences>> {
        Ok(ids.iter().map(|id| self.sentences.get(id).cloned().unwrap_or_default()).collect())
    }
    fn sentence_vector(&self, chunk: ChunkId, start: usize, end: usize) -> Option<SentenceVector> {
        self.sentences.get(&chunk)?.iter().find(|v| v.start as usize == start && v.end as usize == end).cloned()
    }
    fn tuning(&self) -> SelectTuning {
        SelectTuning::default()
    }
}

/// A decoded shard.
enum Loaded {
    Dict(DictShard),
    /// Terms (sorted) with their decoded postings.
    Postings(Vec<crate::index::sparse::TermList>),
    Vectors(VectorShard),
    Chunks(ChunkShard),
    Sentences(SentenceShard),
}

/// The LRU cache of decoded shards, bounded by their byte size.
struct Cache {
    limit: usize,
    used: usize,
    tick: u64,
    map: HashMap<u32, (Arc<Loaded>, usize, u64)>,
}

impl Cache {
    fn get(&mut self, i: u32) -> Option<Arc<Loaded>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&i).map(|e| {
            e.2 = tick;
            e.0.clone()
        })
    }

    fn put(&mut self, i: u32, loaded: Arc<Loaded>, bytes: usize) {
        if bytes > self.limit {
            return;
        }
        while self.used + bytes > self.limit {
            let Some((&old, _)) = self.map.iter().min_by_key(|(_, e)| e.2) else { break };
            if let Some(e) = self.map.remove(&old) {
                self.used -= e.1;
            }
        }
        self.tick += 1;
        if let Some(e) = self.map.insert(i, (loaded, bytes, self.tick)) {
            self.used -= e.1;
        }
        self.used += bytes;
    }
}

/// A sharded index opened for queries: the manifest in memory, shards fetched on demand.
pub struct ShardedIndex {
    manifest: ShardManifest,
    centroids: Vec<Vec<f32>>,
    embedder: Box<dyn Embedder>,
    source: Box<dyn ShardSource>,
    limits: ShardLimits,
    cache: Mutex<Cache>,
    by_name: HashMap<String, u32>,
    /// The last query text embedded inside a step, and its vector.
    memo: Mutex<Option<(String, Vec<f32>)>>,
}

impl ShardedIndex {
    /// Open a sharded index from its manifest's bytes, with the embedder that built it and
    /// a source of shards. Refuses a foreign or future manifest, an inconsistent shard
    /// table and another embedder, each with a typed error; fetches nothing yet.
    pub fn open(
        manifest: &[u8],
        embedder: Box<dyn Embedder>,
        source: Box<dyn ShardSource>,
        limits: ShardLimits,
    ) -> Result<ShardedIndex> {
        let manifest = ShardManifest::parse(manifest, &limits)?;
        let loaded = embedder.info();
        if !same_embedder(&manifest.embedder, loaded) {
            let describe =
                |e: &EmbedderInfo| format!("{} (dim {}, weights sha256 {:.12})", e.name, e.dim, e.weights_sha256);
            return Err(Error::EmbedderMismatch { index: describe(&manifest.embedder), loaded: describe(loaded) });
        }
        if let Some(c) = &manifest.calibration {
            c.check(loaded)?;
        }
        let dim = manifest.ivf.dim as usize;
        let centroids = manifest.ivf.clusters.iter().filter_map(|c| centroid_of(c, dim)).collect();
        let cache = Mutex::new(Cache { limit: limits.cache_bytes, used: 0, tick: 0, map: HashMap::new() });
        let by_name = manifest.shards.iter().enumerate().map(|(i, e)| (e.name.clone(), i as u32)).collect();
        Ok(ShardedIndex { manifest, centroids, embedder, source, limits, cache, by_name, memo: Mutex::new(None) })
    }

    /// The manifest.
    pub fn manifest(&self) -> &ShardManifest {
        &self.manifest
    }

    /// The embedder.
    pub fn embedder(&self) -> &dyn Embedder {
        self.embedder.as_ref()
    }

    /// Bytes of shards in the cache now.
    pub fn cached_bytes(&self) -> usize {
        self.cache.lock().map(|c| c.used).unwrap_or(0)
    }

    /// Forget every cached shard.
    pub fn clear_cache(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.map.clear();
            c.used = 0;
        }
    }

    /// The chunk range holding chunk `id` (ranges are ascending and disjoint).
    fn range_of(&self, id: ChunkId) -> Option<&ChunkRange> {
        let r = &self.manifest.chunk_ranges;
        r.get(r.partition_point(|x| x.last < id)).filter(|x| x.first <= id)
    }

    fn entry(&self, i: u32) -> &ShardEntry {
        &self.manifest.shards[i as usize]
    }

    /// Bytes that are the shard the table lists (size and SHA-256), within the size limit.
    fn verify(&self, i: u32, bytes: &[u8]) -> Result<()> {
        let e = self.entry(i);
        if bytes.len() > self.limits.max_shard_bytes {
            return Err(Error::LimitExceeded {
                what: "shard bytes",
                limit: self.limits.max_shard_bytes,
                got: bytes.len(),
            });
        }
        let got = sha256_hex(bytes);
        if bytes.len() as u64 != e.bytes || got != e.sha256 {
            return Err(Error::corrupt(
                format!("shard {}", e.name),
                format!(
                    "content hash mismatch: {} bytes hashing to {got:.16}…, the table lists {} bytes, {:.16}…",
                    bytes.len(),
                    e.bytes,
                    e.sha256
                ),
            ));
        }
        Ok(())
    }

    fn decode(&self, i: u32, bytes: &[u8]) -> Result<Loaded> {
        let e = self.entry(i);
        let name = e.name.as_str();
        let payload = decode_shard(bytes, e.kind, name)?;
        let bad = |d: String| Error::corrupt(format!("shard {name}"), d);
        Ok(match e.kind {
            ShardKind::Dict => {
                let d: DictShard = from_payload(payload, name)?;
                if let Some(x) = d.entries.iter().find(|x| {
                    self.manifest.shards.get(x.postings as usize).is_none_or(|s| s.kind != ShardKind::Postings)
                }) {
                    return Err(bad(format!("term {:?} points at no postings shard", x.term)));
                }
                if d.entries.windows(2).any(|w| w[0].term >= w[1].term) {
                    return Err(bad("terms are not sorted".into()));
                }
                Loaded::Dict(d)
            }
            ShardKind::Postings => {
                let p: PostingsShard = from_payload(payload, name)?;
                let mut out = Vec::with_capacity(p.terms.len());
                for t in p.terms {
                    let list = t.decode().ok_or_else(|| bad(format!("postings of {:?} do not decode", t.term)))?;
                    out.push((t.term, list));
                }
                if out.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(bad("terms are not sorted".into()));
                }
                Loaded::Postings(out)
            }
            ShardKind::Vectors => {
                let v: VectorShard = from_payload(payload, name)?;
                v.check(self.manifest.ivf.dim as usize, name)?;
                Loaded::Vectors(v)
            }
            ShardKind::Chunks => {
                let c: ChunkShard = from_payload(payload, name)?;
                let r = self
                    .manifest
                    .chunk_ranges
                    .iter()
                    .find(|r| r.chunks == i)
                    .ok_or_else(|| bad("no chunk range names this shard".into()))?;
                c.check(r.first, r.last, name)?;
                Loaded::Chunks(c)
            }
            ShardKind::Sentences => {
                let v: SentenceShard = from_payload(payload, name)?;
                let r = self
                    .manifest
                    .chunk_ranges
                    .iter()
                    .find(|r| r.sentences == Some(i))
                    .ok_or_else(|| bad("no chunk range names this shard".into()))?;
                if v.dim != self.manifest.ivf.dim {
                    return Err(bad(format!(
                        "sentence vectors of dimension {}, the index has {}",
                        v.dim, self.manifest.ivf.dim
                    )));
                }
                if v.chunks.windows(2).any(|w| w[0].0 >= w[1].0)
                    || v.chunks.iter().any(|c| c.0 < r.first || c.0 > r.last)
                {
                    return Err(bad("chunk ids are not ascending inside the shard's range".into()));
                }
                if let Some(x) = v.chunks.iter().flat_map(|c| &c.1).find(|x| x.codes.len() != v.dim as usize) {
                    return Err(bad(format!("a sentence vector of dimension {}", x.codes.len())));
                }
                Loaded::Sentences(v)
            }
        })
    }

    /// One round: every shard of `wanted` from the cache or, all at once, from the source
    /// (a shard whose hash does not match is fetched once more, then refused).
    /// `Ok(Err(names))`: not `from_source`, and these shards are not in the cache.
    fn fetch_round(&self, wanted: &[u32], trace: &mut ShardTrace, from_source: bool) -> Result<Round> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for &i in wanted {
                if out.contains_key(&i) || missing.contains(&i) {
                    continue;
                }
                trace.shards.push(self.entry(i).name.clone());
                match cache.get(i) {
                    Some(l) => {
                        trace.cache_hits += 1;
                        out.insert(i, l);
                    }
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(Ok(out));
        }
        if !from_source {
            return Ok(Err(missing.iter().map(|&i| self.entry(i).name.clone()).collect()));
        }
        trace.rounds += 1;
        let names: Vec<&str> = missing.iter().map(|&i| self.entry(i).name.as_str()).collect();
        let replies = self.source.fetch_many(&names);
        if replies.len() != missing.len() {
            return Err(Error::ShardUnavailable {
                name: names.join(", "),
                detail: format!("the source answered {} of {} requests", replies.len(), names.len()),
            });
        }
        for (&i, reply) in missing.iter().zip(replies) {
            let mut bytes = reply?;
            trace.requests += 1;
            trace.bytes += bytes.len() as u64;
            if self.verify(i, &bytes).is_err() {
                bytes = self.source.fetch(&self.entry(i).name)?;
                trace.requests += 1;
                trace.bytes += bytes.len() as u64;
                self.verify(i, &bytes)?;
            }
            let loaded = Arc::new(self.decode(i, &bytes)?);
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).put(i, loaded.clone(), bytes.len());
            out.insert(i, loaded);
        }
        Ok(Ok(out))
    }

    /// Check, decode and cache a shard fetched by the caller (the asynchronous path: see
    /// [`ShardedIndex::search_step`]). A shard whose bytes do not hash to the table's is
    /// [`Error::Corrupt`] (the caller fetches it once more); a shard larger than the cache
    /// is [`Error::LimitExceeded`] (`cached shards`), since the next step could not find it.
    pub fn provide(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let i = *self.by_name.get(name).ok_or_else(|| Error::ShardUnavailable {
            name: name.to_owned(),
            detail: "not a shard of this index".into(),
        })?;
        self.verify(i, bytes)?;
        if bytes.len() > self.limits.cache_bytes {
            return Err(Error::LimitExceeded {
                what: "cached shards",
                limit: self.limits.cache_bytes,
                got: bytes.len(),
            });
        }
        let loaded = Arc::new(self.decode(i, bytes)?);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).put(i, loaded, bytes.len());
        Ok(())
    }

    fn refuse_unsupported(options: &SearchOptions) -> Result<()> {
        let no = |name: &'static str| {
            Err(Error::InvalidOption { name, detail: "not supported on a sharded index (yet)".into() })
        };
        if options.translate != Translate::None {
            return no("translate");
        }
        if options.route != Route::None {
            return no("route");
        }
        if options.construct != Construct::Off {
            return no("construct");
        }
        if options.tree != Tree::None {
            return no("tree");
        }
        if options.rerank != Rerank::None {
            return no("rerank");
        }
        if options.exact {
            return no("exact");
        }
        Ok(())
    }

    /// Search with the options' mode, fusion and filters (post-filtered, see the module
    /// docs), probing `nprobe` clusters (default: the manifest's). Returns the hits and
    /// what was fetched.
    pub fn search(
        &self,
        query: &str,
        options: &SearchOptions,
        nprobe: Option<usize>,
    ) -> Result<(Vec<SearchHit>, ShardTrace)> {
        let v = self.query_vector(query, options)?;
        match self.run(query, options, nprobe, v.as_deref(), true)? {
            Step::Done(hits, trace) => Ok((hits, trace)),
            Step::Need(_) => Err(Error::WrongState("a search from the source needed more shards".into())),
        }
    }

    /// The query's vector for `options`' mode (`None` in sparse mode), after checking the
    /// options and the query: embed once, then call [`ShardedIndex::search_step`] per round.
    pub fn query_vector(&self, query: &str, options: &SearchOptions) -> Result<Option<Vec<f32>>> {
        self.check(query, options)?;
        if options.mode == Mode::Sparse {
            return Ok(None);
        }
        let v = self.embedder.embed(&format!("{}{}", self.manifest.config.query_prefix, query.trim()))?;
        Ok(Some(v))
    }

    /// One step of a search whose shards the caller fetches (asynchronously, in parallel):
    /// [`Step::Need`] lists the shards of the next round that are not cached — fetch them
    /// all, hand each to [`ShardedIndex::provide`], and call again — until [`Step::Done`]
    /// (at most three `Need`s). Nothing is asked of the index's own source. The trace
    /// counts no requests or bytes: the caller made them. The cache must hold one query's
    /// shards (it does by far: ≈ 0.5 MB of 32 MiB).
    pub fn search_step(
        &self,
        query: &str,
        options: &SearchOptions,
        nprobe: Option<usize>,
        query_vec: Option<&[f32]>,
    ) -> Result<Step> {
        self.run(query, options, nprobe, query_vec, false)
    }

    /// Answer a question extractively (the single-file index's sentence selection and
    /// citations, over the fetched chunk and sentence shards), fetching from the source.
    /// See [`ShardedIndex::ask_step`] for what differs from a single-file index.
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        nprobe: Option<usize>,
        clock: &dyn Fn() -> f64,
    ) -> Result<(Answer, ShardTrace)> {
        let qvec = self.question_vector(question, options)?;
        match self.run_ask(question, options, nprobe, &qvec, clock(), clock, true)? {
            AskStep::Done(answer, trace) => Ok((*answer, trace)),
            AskStep::Need(_) => Err(Error::WrongState("an answer from the source needed more shards".into())),
        }
    }

    /// The calibration the grader uses, and where it comes from (as
    /// [`Engine::calibration`]: the manifest's, else the shipped MiniLM default, else none).
    pub fn calibration(&self) -> (CalibrationSource, Option<Calibration>) {
        calibration_for(self.manifest.calibration.as_ref(), self.embedder.info())
    }

    /// The question's vector for [`ShardedIndex::ask_step`], after checking the options.
    pub fn question_vector(&self, question: &str, options: &AskOptions) -> Result<Vec<f32>> {
        Self::check_ask(options)?;
        let probe = SearchOptions { mode: Mode::Dense, ..options.search.clone() };
        self.check(question, &probe)?;
        self.embedder.embed(&format!("{}{}", self.manifest.config.query_prefix, question.trim()))
    }

    /// One step of an answer whose shards the caller fetches, as [`ShardedIndex::search_step`]
    /// (four `Need`s at most — the search's three, then the chunk and sentence shards of the
    /// hits — and up to six more when an *ambiguous* grade re-retrieves: the feedback chunks,
    /// the expansion words' dictionary buckets, the expanded search's three rounds and its
    /// hits' passages). `t0` is when the caller began (for the answer's timings). The retrieval is
    /// graded as on a single-file index (same features, same calibration, CRAG's actions):
    /// the grader's dense and sparse rankings are the lists the search scores anyway (both
    /// retrievers run whatever the mode; the dense one over the probed clusters, int8), so
    /// grading costs no extra round; an *ambiguous* grade re-retrieves once with expansion
    /// terms, as the single file does. Differences from a single-file index: extractive only
    /// (no generator on a sharded index yet), no adaptive routing.
    /// An index written without sentence vectors cannot answer (`InvalidOption`).
    pub fn ask_step(
        &self,
        question: &str,
        options: &AskOptions,
        nprobe: Option<usize>,
        qvec: &[f32],
        t0: f64,
        clock: &dyn Fn() -> f64,
    ) -> Result<AskStep> {
        Self::check_ask(options)?;
        self.run_ask(question, options, nprobe, qvec, t0, clock, false)
    }

    fn check_ask(options: &AskOptions) -> Result<()> {
        options.validate()?;
        if options.mode != AnswerMode::Extractive {
            return Err(Error::InvalidOption {
                name: "mode",
                detail: "a sharded index answers extractively only (no generator on it yet)".into(),
            });
        }
        if options.adaptive {
            return Err(Error::InvalidOption {
                name: "adaptive",
                detail: "not supported on a sharded index (yet)".into(),
            });
        }
        Self::refuse_unsupported(&options.search)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_ask(
        &self,
        question: &str,
        options: &AskOptions,
        nprobe: Option<usize>,
        qvec: &[f32],
        t0: f64,
        clock: &dyn Fn() -> f64,
        from_source: bool,
    ) -> Result<AskStep> {
        if self.manifest.chunks > 0 && self.manifest.chunk_ranges.iter().any(|r| r.sentences.is_none()) {
            return Err(Error::InvalidOption {
                name: "mode",
                detail: "this sharded index has no sentence vectors (written with --no-sentence-vectors): it can search, not answer"
                    .into(),
            });
        }
        let (source, calibration) =
            if options.grade { self.calibration() } else { (CalibrationSource::Uncalibrated, None) };
        let probe = calibration.is_some();
        let (hits, mut trace, probes) =
            match self.run_probed(question, &options.search, nprobe, Some(qvec), from_source, probe)? {
                Ran::Need(names) => return Ok(AskStep::Need(names)),
                Ran::Done(hits, trace, probes) => (hits, trace, probes),
            };
        let t1 = clock();
        // Round 4: the chunk and sentence shards of the hits.
        let got = match self.fetch_round(&self.passage_shards(&hits), &mut trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(AskStep::Need(names)),
        };
        let view = View::new(&hits, &got);
        let mut answer = Answer { question: question.to_owned(), mode: AnswerMode::Extractive, ..Answer::default() };
        answer.timings.retrieve_ms = t1 - t0;
        let mut candidates = score_sentences(&view, question, qvec, &hits, options)?;
        answer.retrieval_score = candidates.iter().map(|c| c.cosine).fold(0.0, f32::max);
        answer.timings.select_ms = clock() - t1;
        // CRAG's expanded re-retrieval, when it is kept.
        let mut second_hits: Option<Retrieval> = None;
        let abstain = match calibration {
            None => candidates.is_empty() || answer.retrieval_score < options.abstain_below,
            Some(c) => {
                let features = probes.features(&hits, &view, answer.retrieval_score);
                let mut grade = first_grade(&c, source, &features);
                if grade.grade == Grade::Ambiguous {
                    let second = match self.second_retrieval(
                        question,
                        options,
                        nprobe,
                        qvec,
                        &probes,
                        &mut trace,
                        from_source,
                    )? {
                        Err(names) => return Ok(AskStep::Need(names)),
                        Ok(second) => second,
                    };
                    let f2 = second.retrieval.as_ref().map(|r| r.features);
                    if second_grade(&mut grade, &c, &second.terms, f2.as_ref()) {
                        second_hits = second.retrieval;
                    }
                }
                let (kept, kept_candidates) = match second_hits.as_mut() {
                    Some(r) => (&r.hits, &mut r.candidates),
                    None => (&hits, &mut candidates),
                };
                finish_grade(&mut grade, kept, kept_candidates);
                let abstain = grade.grade == Grade::Incorrect || kept_candidates.is_empty();
                answer.grade = Some(grade);
                abstain
            }
        };
        if abstain {
            abstain_answer(&mut answer);
        } else if let Some(r) = &second_hits {
            fill(&mut answer, extractive(&View::new(&r.hits, &r.got), &r.candidates, options));
        } else {
            fill(&mut answer, extractive(&view, &candidates, options));
        }
        answer.timings.total_ms = clock() - t0;
        Ok(AskStep::Done(Box::new(answer), trace))
    }

    /// CRAG's *ambiguous* action on shards, as the single file takes it (`Engine::corrective`):
    /// expansion terms from the first three BM25 chunks of the question (their chunk shards,
    /// then the dictionary buckets of the candidate words, for their IDF), the expanded
    /// question searched again, its hits' sentences scored against the question, and the
    /// features recomputed with the first search's rankings. `Err` lists the shards still
    /// needed (step mode).
    #[allow(clippy::too_many_arguments)]
    fn second_retrieval(
        &self,
        question: &str,
        options: &AskOptions,
        nprobe: Option<usize>,
        qvec: &[f32],
        probes: &Probes,
        trace: &mut ShardTrace,
        from_source: bool,
    ) -> Result<std::result::Result<Second, Vec<String>>> {
        // The feedback: the first three chunks of the question's BM25 ranking (filtered).
        let top: Vec<ChunkId> = probes.sparse.iter().take(3).map(|s| s.0).collect();
        let want: Vec<u32> = top.iter().filter_map(|&id| self.range_of(id).map(|r| r.chunks)).collect();
        let got = match self.fetch_round(&want, trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(Err(names)),
        };
        let mut feedback: Vec<(&str, Language)> = Vec::new();
        for id in &top {
            let found = got.values().find_map(|l| match l.as_ref() {
                Loaded::Chunks(s) => s
                    .chunks
                    .binary_search_by_key(id, |c| c.id)
                    .ok()
                    .map(|at| (s.chunks[at].text.as_str(), s.docs.get(s.chunks[at].doc as usize))),
                _ => None,
            });
            if let Some((text, doc)) = found {
                feedback.push((text, doc.map_or(Language::English, |d| d.language)));
            }
        }
        let asked: HashSet<String> = probes.terms.iter().cloned().collect();
        let candidates = feedback_candidates(&asked, &feedback);
        // The IDF of every candidate stem: its dictionary bucket.
        let dict = &self.manifest.bm25.dict;
        let stems: Vec<&str> = candidates.iter().flatten().map(|(stem, _)| stem.as_str()).collect();
        let buckets: Vec<u32> = stems.iter().map(|t| dict[term_bucket(t, dict.len())]).collect();
        let got_dict = match self.fetch_round(&buckets, trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(Err(names)),
        };
        let n = self.manifest.bm25.n as usize;
        let idf_of = |t: &str| -> f32 {
            let Some(Loaded::Dict(d)) = got_dict.get(&dict[term_bucket(t, dict.len())]).map(Arc::as_ref) else {
                return 0.0;
            };
            match d.entries.binary_search_by(|e| e.term.as_str().cmp(t)) {
                Ok(at) if d.entries[at].df > 0 => idf(n, d.entries[at].df),
                _ => 0.0,
            }
        };
        let terms = pick_feedback_terms(&candidates, &idf_of, EXPANSION_TERMS);
        if terms.is_empty() {
            return Ok(Ok(Second { terms, retrieval: None }));
        }
        // The expanded question, searched as the question was (its vector embedded once).
        let expanded = format!("{question} {}", terms.join(" "));
        let evec = self.embed_memo(&expanded)?;
        let (hits, more, _) =
            match self.run_probed(&expanded, &options.search, nprobe, Some(&evec), from_source, false)? {
                Ran::Need(names) => return Ok(Err(names)),
                Ran::Done(hits, more, probes) => (hits, more, probes),
            };
        trace.absorb(more);
        let got = match self.fetch_round(&self.passage_shards(&hits), trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(Err(names)),
        };
        let view = View::new(&hits, &got);
        let candidates = score_sentences(&view, question, qvec, &hits, options)?;
        let features = probes.features(&hits, &view, candidates.iter().map(|c| c.cosine).fold(0.0, f32::max));
        drop(view);
        Ok(Ok(Second { terms, retrieval: Some(Retrieval { hits, got, candidates, features }) }))
    }

    /// The chunk and sentence shards of `hits`: what sentence selection reads.
    fn passage_shards(&self, hits: &[SearchHit]) -> Vec<u32> {
        hits.iter()
            .filter_map(|h| self.range_of(h.chunk_id))
            .flat_map(|r| [Some(r.chunks), r.sentences])
            .flatten()
            .collect()
    }

    /// The query's vector, embedded once per distinct text (the step protocol runs the same
    /// answer again at every step; the expanded question is embedded inside it).
    fn embed_memo(&self, text: &str) -> Result<Vec<f32>> {
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, v)) = memo.as_ref() {
            if t == text {
                return Ok(v.clone());
            }
        }
        let v = self.embedder.embed(&format!("{}{}", self.manifest.config.query_prefix, text.trim()))?;
        *memo = Some((text.to_owned(), v.clone()));
        Ok(v)
    }

    fn check(&self, query: &str, options: &SearchOptions) -> Result<()> {
        options.validate()?;
        Self::refuse_unsupported(options)?;
        if query.trim().is_empty() {
            return Err(Error::InvalidQuery("query is empty".into()));
        }
        let max = self.manifest.config.max_query_bytes;
        if query.len() > max {
            return Err(Error::InvalidQuery(format!("query is {} bytes, more than the limit of {max}", query.len())));
        }
        Ok(())
    }

    fn run(
        &self,
        query: &str,
        options: &SearchOptions,
        nprobe: Option<usize>,
        query_vec: Option<&[f32]>,
        from_source: bool,
    ) -> Result<Step> {
        Ok(match self.run_probed(query, options, nprobe, query_vec, from_source, false)? {
            Ran::Need(names) => Step::Need(names),
            Ran::Done(hits, trace, _) => Step::Done(hits, trace),
        })
    }

    /// The search; with `probe`, also each retriever's own list at the grader's depth
    /// (both retrievers run whatever the mode: the grader needs both rankings).
    fn run_probed(
        &self,
        query: &str,
        options: &SearchOptions,
        nprobe: Option<usize>,
        query_vec: Option<&[f32]>,
        from_source: bool,
        probe: bool,
    ) -> Result<Ran> {
        self.check(query, options)?;
        let config = &self.manifest.config;
        if nprobe == Some(0) {
            return Err(Error::InvalidOption { name: "nprobe", detail: "must be at least 1".into() });
        }
        let clusters = self.centroids.len();
        let nprobe = nprobe.unwrap_or(self.manifest.ivf.default_nprobe as usize).min(clusters);
        let mut trace = ShardTrace { nprobe, clusters, ..ShardTrace::default() };
        let (dense_on, sparse_on) = (options.mode != Mode::Sparse || probe, options.mode != Mode::Dense || probe);
        let query_vec = match (dense_on, query_vec) {
            (false, _) => None,
            (_, None) => {
                return Err(Error::InvalidOption {
                    name: "query_vec",
                    detail: "dense search needs a query vector".into(),
                })
            }
            (_, Some(v)) => {
                if v.len() != self.manifest.ivf.dim as usize {
                    return Err(Error::DimensionMismatch { expected: self.manifest.ivf.dim as usize, got: v.len() });
                }
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::NonFiniteVector { index: i });
                }
                Some(v)
            }
        };
        let terms =
            if !sparse_on { Vec::new() } else { query_terms_in(query, self.manifest.bm25.languages.iter().copied()) };

        let k = options.k;
        let candidates = k.max(config.fusion_candidates);
        let filtered = !options.filters.is_empty();
        // Each retriever's depth, as the single-file index ranks (`k`; `max(k, fusion_candidates)`
        // before a hybrid fusion); with filters, FILTER_OVERFETCH times the latter, filtered after.
        let keep = if options.mode == Mode::Hybrid { candidates } else { k };
        let retrieve = if filtered { candidates.saturating_mul(FILTER_OVERFETCH) } else { keep };
        // The grader's lists go to its own depth.
        let depth = if probe { retrieve.max(FEATURE_DEPTH) } else { retrieve };

        // Round 1: the dictionary buckets of the terms, the vector shards of the nearest clusters.
        let dict = &self.manifest.bm25.dict;
        let buckets: Vec<u32> = terms.iter().map(|t| dict[term_bucket(t, dict.len())]).collect();
        let probed: Vec<u32> = match &query_vec {
            Some(q) => probe_order(q, &self.centroids)
                .into_iter()
                .take(nprobe)
                .map(|c| self.manifest.ivf.clusters[c].shard)
                .collect(),
            None => Vec::new(),
        };
        let round1: Vec<u32> = buckets.iter().chain(&probed).copied().collect();
        let got1 = match self.fetch_round(&round1, &mut trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(Ran::Need(names)),
        };

        // Round 2: the postings shards of the terms the dictionary knows.
        let mut found: Vec<(String, u32, u32)> = Vec::new(); // (term, df, postings shard)
        for (t, b) in terms.iter().zip(&buckets) {
            let Some(Loaded::Dict(d)) = got1.get(b).map(Arc::as_ref) else { continue };
            match d.entries.binary_search_by(|e| e.term.as_str().cmp(t)) {
                Ok(at) => found.push((t.clone(), d.entries[at].df, d.entries[at].postings)),
                Err(_) => trace.unmatched_terms.push(t.clone()),
            }
        }
        let want2: Vec<u32> = found.iter().map(|f| f.2).collect();
        let got2 = match self.fetch_round(&want2, &mut trace, from_source)? {
            Ok(g) => g,
            Err(names) => return Ok(Ran::Need(names)),
        };

        // Score: BM25 exactly as the single-file index does, int8 dot products over the probed clusters.
        let sparse = if sparse_on { self.score_sparse(&found, &got2, depth)? } else { Vec::new() };
        let dense = match &query_vec {
            Some(q) => {
                let mut all: Vec<Scored> = probed
                    .iter()
                    .filter_map(|i| match got1.get(i).map(Arc::as_ref) {
                        Some(Loaded::Vectors(v)) => Some(v),
                        _ => None,
                    })
                    .flat_map(|v| v.scores(q))
                    .collect();
                sort_scored(&mut all);
                all.truncate(depth);
                all
            }
            None => Vec::new(),
        };
        let shard_of = |id: ChunkId| self.range_of(id).map(|r| r.chunks);
        let lookup = |got: &HashMap<u32, Arc<Loaded>>, id: ChunkId| -> Result<(ShardChunk, ShardDoc)> {
            let i =
                shard_of(id).ok_or_else(|| Error::corrupt("manifest", format!("chunk {id} is in no chunk range")))?;
            let Some(Loaded::Chunks(s)) = got.get(&i).map(Arc::as_ref) else {
                return Err(Error::corrupt("manifest", format!("chunk range of {id} is not a chunk shard")));
            };
            let c = s.chunks.binary_search_by_key(&id, |c| c.id).map(|at| &s.chunks[at]).map_err(|_| {
                Error::corrupt(format!("shard {}", self.entry(i).name), format!("chunk {id} is missing"))
            })?;
            Ok((c.clone(), s.docs[c.doc as usize].clone()))
        };

        // Round 3: the chunk shards of the hits — with filters, of every candidate, whose
        // lists are then filtered and cut to the depth the single-file index ranks at.
        let (dense, sparse, (probe_dense, probe_sparse), got3) = if filtered {
            let want: Vec<u32> = dense.iter().chain(&sparse).filter_map(|(id, _)| shard_of(*id)).collect();
            let got = match self.fetch_round(&want, &mut trace, from_source)? {
                Ok(g) => g,
                Err(names) => return Ok(Ran::Need(names)),
            };
            let mut allowed: HashMap<ChunkId, bool> = HashMap::new();
            for (id, _) in dense.iter().chain(&sparse) {
                if !allowed.contains_key(id) {
                    let (_, d) = lookup(&got, *id)?;
                    let ok = options.filters.iter().all(|f| meta_matches(f, &d.id, &d.metadata, d.language));
                    allowed.insert(*id, ok);
                }
            }
            let allowed_of = |list: &[Scored], n: usize| -> Vec<Scored> {
                list.iter().filter(|(id, _)| allowed.get(id) == Some(&true)).take(n).copied().collect()
            };
            let probes = (allowed_of(&dense, FEATURE_DEPTH), allowed_of(&sparse, FEATURE_DEPTH));
            (allowed_of(&dense, keep), allowed_of(&sparse, keep), probes, Some(got))
        } else {
            let first = |list: &[Scored], n: usize| list[..n.min(list.len())].to_vec();
            let probes = (first(&dense, FEATURE_DEPTH), first(&sparse, FEATURE_DEPTH));
            (first(&dense, retrieve), first(&sparse, retrieve), probes, None)
        };
        // The mode's own lists (the other retriever ran only for the grader).
        let dense = if options.mode == Mode::Sparse { Vec::new() } else { dense };
        let sparse = if options.mode == Mode::Dense { Vec::new() } else { sparse };
        let fused = match options.mode {
            Mode::Dense => dense.clone(),
            Mode::Sparse => sparse.clone(),
            Mode::Hybrid => fuse(options.fusion, &dense, &sparse, k),
        };
        let top = &fused[..k.min(fused.len())];
        let got3 = match got3 {
            Some(g) => g,
            None => {
                let want: Vec<u32> = top.iter().filter_map(|(id, _)| shard_of(*id)).collect();
                match self.fetch_round(&want, &mut trace, from_source)? {
                    Ok(g) => g,
                    Err(names) => return Ok(Ran::Need(names)),
                }
            }
        };

        let dense_map: HashMap<ChunkId, f32> = dense.into_iter().collect();
        let sparse_map: HashMap<ChunkId, f32> = sparse.into_iter().collect();
        let mut hits = Vec::with_capacity(top.len());
        for &(id, score) in top {
            let (c, d) = lookup(&got3, id)?;
            hits.push(SearchHit {
                rank: hits.len() + 1,
                chunk_id: id,
                doc_id: d.id,
                title: d.title,
                score,
                dense_score: dense_map.get(&id).copied(),
                sparse_score: sparse_map.get(&id).copied(),
                text: c.text,
                heading_path: c.heading_path,
                start: c.start as usize,
                end: c.end as usize,
            });
        }
        let n = self.manifest.bm25.n as usize;
        let idf = found.iter().map(|(t, df, _)| (t.clone(), idf(n, *df))).collect();
        Ok(Ran::Done(hits, trace, Box::new(Probes { dense: probe_dense, sparse: probe_sparse, terms, idf })))
    }

    /// BM25 over the fetched postings, terms in query order (the single-file index's order,
    /// so every float is the same), the best `depth`.
    fn score_sparse(
        &self,
        found: &[(String, u32, u32)],
        got: &HashMap<u32, Arc<Loaded>>,
        depth: usize,
    ) -> Result<Vec<Scored>> {
        let n = self.manifest.bm25.n as usize;
        if n == 0 || depth == 0 {
            return Ok(Vec::new());
        }
        let bm = &self.manifest.config.bm25;
        let avgdl = self.manifest.bm25.total_len as f32 / n as f32;
        let mut acc: BTreeMap<ChunkId, f32> = BTreeMap::new();
        for (term, df, shard) in found {
            if *df == 0 {
                continue;
            }
            let name = &self.entry(*shard).name;
            let Some(Loaded::Postings(p)) = got.get(shard).map(Arc::as_ref) else {
                return Err(Error::corrupt(format!("shard {name}"), "not a postings shard"));
            };
            let list = p
                .binary_search_by(|x| x.0.as_str().cmp(term))
                .map(|at| &p[at].1)
                .map_err(|_| Error::corrupt(format!("shard {name}"), format!("term {term:?} is missing")))?;
            if list.len() != *df as usize {
                return Err(Error::corrupt(
                    format!("shard {name}"),
                    format!("term {term:?}: {} postings, the dictionary says {df}", list.len()),
                ));
            }
            let w = 1.0 * idf(n, *df);
            for &(id, tf, len) in list {
                *acc.entry(id).or_insert(0.0) += term_score(bm.k1, bm.b, avgdl, w, tf, len);
            }
        }
        let mut hits: Vec<Scored> = acc.into_iter().filter(|(_, s)| *s > 0.0).collect();
        sort_scored(&mut hits);
        hits.truncate(depth);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::Document;

    /// Shards held in memory; counts requests; can be made to lie.
    #[derive(Default)]
    pub(crate) struct MemSource {
        pub shards: Mutex<HashMap<String, Vec<u8>>>,
        pub requests: Mutex<usize>,
    }

    impl ShardSource for MemSource {
        fn fetch(&self, name: &str) -> Result<Vec<u8>> {
            *self.requests.lock().unwrap() += 1;
            self.shards
                .lock()
                .unwrap()
                .get(name)
                .cloned()
                .ok_or_else(|| Error::ShardUnavailable { name: name.into(), detail: "not found".into() })
        }
    }

    fn engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)));
        let docs = (0..12)
            .map(|i| {
                Document::new(
                    format!("d{i}.md"),
                    format!(
                        "# Page {i}\n\nCargo builds crate number {i}. Profiles tune word{} and word{}.",
                        i % 3,
                        i % 5
                    ),
                )
            })
            .collect();
        e.add_documents(docs).unwrap();
        e
    }

    #[test]
    fn sentence_vectors_and_chunk_records_go_to_their_range_shards_intact() {
        let mut config = EngineConfig::default();
        config.sentences.at_index_time = true;
        let mut e = Engine::new(config, Box::new(HashEmbedder::new(32)));
        let docs = (0..6)
            .map(|i| {
                let mut d = Document::new(
                    format!("d{i}.md"),
                    format!("# Page {i}\n\nCargo builds every crate of the workspace here. Profiles tune the optimisation level {i}."),
                );
                d.metadata.insert("n".into(), i.to_string());
                d
            })
            .collect();
        e.add_documents(docs).unwrap();
        let set = e.to_shards(&ShardParams { chunk_shard_bytes: 256, ..ShardParams::default() }).unwrap();
        let m = &set.manifest;
        assert!(m.chunk_ranges.len() >= 2, "{:?}", m.chunk_ranges);
        let blob = |i: u32| &set.shards[i as usize].1;
        let store = e.sentences.lock().unwrap();
        let mut chunks_seen = 0;
        for r in &m.chunk_ranges {
            let name = &m.shards[r.chunks as usize].name;
            let c: ChunkShard =
                from_payload(decode_shard(blob(r.chunks), ShardKind::Chunks, name).unwrap(), name).unwrap();
            c.check(r.first, r.last, name).unwrap();
            for ch in &c.chunks {
                let (rec, text) = e.chunk(ch.id).unwrap();
                let d = &c.docs[ch.doc as usize];
                assert_eq!(
                    (d.id.as_str(), ch.text.as_str(), ch.start as usize),
                    (rec.doc_id.as_str(), text, rec.start)
                );
                assert_eq!(d.metadata, e.document(&d.id).unwrap().metadata);
                chunks_seen += 1;
            }
            let si = r.sentences.expect("sentence vectors were embedded at index time");
            let sname = &m.shards[si as usize].name;
            let sv: SentenceShard =
                from_payload(decode_shard(blob(si), ShardKind::Sentences, sname).unwrap(), sname).unwrap();
            assert_eq!(sv.dim, 32);
            for (id, vs) in &sv.chunks {
                assert!(c.chunks.iter().any(|ch| ch.id == *id), "sentence vectors of chunk {id} outside its range");
                assert_eq!(store.get(*id).unwrap().as_ref(), vs);
            }
        }
        assert_eq!(chunks_seen, m.chunks);
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let mut c = Cache { limit: 10, used: 0, tick: 0, map: HashMap::new() };
        let l = || Arc::new(Loaded::Postings(Vec::new()));
        c.put(1, l(), 4);
        c.put(2, l(), 4);
        assert!(c.get(1).is_some());
        c.put(3, l(), 4); // evicts 2, the least recently used
        assert!(c.get(2).is_none() && c.get(1).is_some() && c.get(3).is_some());
        assert_eq!(c.used, 8);
        c.put(4, l(), 11); // larger than the whole cache: not kept
        assert!(c.get(4).is_none());
        assert!(c.used <= c.limit);
    }

    #[test]
    fn params_are_validated() {
        assert!(ShardParams::default().validate().is_ok());
        for p in [
            ShardParams { clusters: Some(0), ..ShardParams::default() },
            ShardParams { recall_target: 0.0, ..ShardParams::default() },
            ShardParams { kmeans_iterations: 0, ..ShardParams::default() },
            ShardParams { chunk_shard_bytes: 10, ..ShardParams::default() },
        ] {
            assert_eq!(engine().to_shards(&p).unwrap_err().kind(), "InvalidOption");
        }
    }

    #[test]
    fn a_second_query_on_the_same_terms_is_served_from_the_cache() {
        let e = engine();
        let set = e.to_shards(&ShardParams { clusters: Some(3), ..ShardParams::default() }).unwrap();
        let src = MemSource::default();
        src.shards.lock().unwrap().extend(set.shards.iter().cloned());
        let ix = ShardedIndex::open(
            &set.manifest_bytes,
            Box::new(HashEmbedder::new(32)),
            Box::new(src),
            ShardLimits::default(),
        )
        .unwrap();
        let o = SearchOptions::default();
        let (a, t1) = ix.search("cargo profiles word1", &o, None).unwrap();
        assert!(t1.requests > 0 && t1.bytes > 0 && t1.cache_hits == 0, "{t1:?}");
        assert!(t1.rounds <= 3);
        let (b, t2) = ix.search("cargo profiles word1", &o, None).unwrap();
        assert_eq!(a.iter().map(|h| h.chunk_id).collect::<Vec<_>>(), b.iter().map(|h| h.chunk_id).collect::<Vec<_>>());
        assert_eq!((t2.requests, t2.bytes, t2.rounds), (0, 0, 0), "{t2:?}");
        assert_eq!(t2.cache_hits, t1.requests);
        // A cache of 0 bytes keeps nothing.
        let src = MemSource::default();
        src.shards.lock().unwrap().extend(set.shards.iter().cloned());
        let limits = ShardLimits { cache_bytes: 0, ..ShardLimits::default() };
        let ix =
            ShardedIndex::open(&set.manifest_bytes, Box::new(HashEmbedder::new(32)), Box::new(src), limits).unwrap();
        let (_, t1) = ix.search("cargo", &o, None).unwrap();
        let (_, t2) = ix.search("cargo", &o, None).unwrap();
        assert_eq!(t1.requests, t2.requests);
        assert_eq!(ix.cached_bytes(), 0);
    }
}

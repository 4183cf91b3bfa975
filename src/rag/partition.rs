//! A build split into a map step and a reduce step, so that a batch engine (Ray, a
//! cluster's job array) can fan the embedding out over machines.
//!
//! - **Map** ([`Engine::add_documents_partition`]): every task is handed the *whole*
//!   corpus, in the order a single build would get it, and runs the single build's
//!   prepare step over all of it — validate, clean, chunk, de-duplicate, assign chunk ids —
//!   but embeds only the chunks of the documents its partition owns, and keeps only those
//!   documents. The result is an ordinary index file whose manifest names the partition
//!   ([`PartitionInfo`]: `i` of `N`, the whole corpus's hash and counts).
//! - **Reduce** ([`merge_partitions`]): the partial files are checked to belong together
//!   (same embedder, configuration, corpus and `N`; every partition once), then their
//!   records, vectors and sentence vectors are put together under the ids the map step
//!   assigned, and the BM25 postings and the duplicate detector are rebuilt over the whole
//!   corpus in id order. Nothing is embedded again.
//!
//! Why every map task prepares the whole corpus: duplicate detection is greedy in the
//! build's order (shorter documents first, see [`super`]), and near duplicates are not
//! transitive — a chunk a partition drops as a near duplicate of its own earlier chunk may
//! be kept by a single build, when that earlier chunk was itself dropped for a chunk of
//! another partition. A partition cannot decide that alone, and a chunk it did not embed
//! cannot be recovered at merge time. Cleaning and chunking cost a small fraction of
//! embedding (see `docs/index-format.md`), so each task repeats them for everything and
//! the decisions — which chunks are kept, their ids — are the single build's, exactly.
//! The merged index is then the single build's index: the same records, ids, postings
//! and vectors (the vectors bit for bit when the embedder's output for a text does not
//! depend on the other texts of its batch, which the tests check for MiniLM).
//!
//! A document belongs to partition `i` of `N` when the first eight bytes of the SHA-256
//! of its id, read as a big-endian integer, are `i` modulo `N`: the rule depends only on
//! the id and `N`, so adding documents moves no other document to another partition.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::persist::{corpus_sha256, same_embedder};
use super::records::{dedup_key, sparse_text};
use super::Engine;
use crate::embed::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::index::dense::DenseIndex;
use crate::index::sentences::SentenceStore;
use crate::index::sparse::SparseIndex;
use crate::ingest::dedup::Deduplicator;
use crate::ingest::Document;
use crate::text::TokenCounter;

/// Partition `index` of `count` (validated: `index < count`, `count ≥ 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    index: u32,
    count: u32,
}

impl Partition {
    /// Partition `index` of `count`, or [`Error::InvalidPartition`].
    pub fn new(index: u32, count: u32) -> Result<Partition> {
        let given = format!("{index}/{count}");
        if count == 0 {
            return Err(Error::InvalidPartition { given, reason: "N must be at least 1".into() });
        }
        if index >= count {
            return Err(Error::InvalidPartition { given, reason: format!("i must be below N (0 ≤ i < {count})") });
        }
        Ok(Partition { index, count })
    }

    /// Parse `i/N` (e.g. `0/3`), or [`Error::InvalidPartition`].
    pub fn parse(spec: &str) -> Result<Partition> {
        let bad = |reason: &str| Error::InvalidPartition { given: spec.to_owned(), reason: reason.into() };
        let (i, n) = spec.trim().split_once('/').ok_or_else(|| bad("expected i/N, e.g. 0/3"))?;
        let i: u32 = i.trim().parse().map_err(|_| bad("i is not a non-negative integer"))?;
        let n: u32 = n.trim().parse().map_err(|_| bad("N is not a positive integer"))?;
        Partition::new(i, n)
    }

    /// The partition's index `i`.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The partition count `N`.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the document `id` belongs to this partition (see the module docs).
    pub fn owns(&self, id: &str) -> bool {
        partition_of(id, self.count) == self.index
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The partition of `count` that document `id` belongs to: the first eight bytes of
/// SHA-256(id), big-endian, modulo `count` (`count` 0 is treated as 1).
pub fn partition_of(id: &str, count: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(head) % u64::from(count.max(1))) as u32
}

/// What a partial index's manifest says about it (`partition` in the manifest; absent in
/// a complete index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// This partition's index `i`.
    pub index: u32,
    /// The partition count `N`.
    pub count: u32,
    /// The whole corpus's hash (as the manifest's `corpus_sha256`, over every partition's
    /// documents): partitions of different corpora do not merge.
    pub corpus_sha256: String,
    /// Documents in the whole corpus.
    pub documents: usize,
    /// Chunks kept in the whole corpus.
    pub chunks: usize,
}

impl Engine {
    /// The map step: prepare the whole of `docs` as [`Engine::add_documents_with`] would
    /// (same order, same duplicate decisions, same chunk ids), then embed and keep only the
    /// documents `partition` owns. The engine must be empty; it becomes a partial index
    /// (its manifest records the partition) that takes no further documents and is meant
    /// for [`merge_partitions`]. The report counts this partition's documents and chunks.
    pub fn add_documents_partition(
        &mut self,
        docs: Vec<Document>,
        partition: Partition,
        progress: &mut dyn FnMut(super::Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<super::IngestReport> {
        if !self.docs.is_empty() || self.next_chunk_id != 0 || self.partition.is_some() {
            return Err(Error::WrongState("a partition is built into an empty engine".into()));
        }
        let batch = self.prepare(&docs, Some(partition), progress, cancelled)?;
        self.commit(batch)
    }

    /// The partition this engine holds, if it is a partial index.
    pub fn partition(&self) -> Option<&PartitionInfo> {
        self.partition.as_ref()
    }
}

/// The identity of the merge's embedder, for loading the partial files: loading checks
/// identities only, and nothing in a merge embeds.
struct Identity(EmbedderInfo);

impl TokenCounter for Identity {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Embedder for Identity {
    fn info(&self) -> &EmbedderInfo {
        &self.0
    }
    fn embed_batch(&self, _: &[&str]) -> Result<Vec<Vec<f32>>> {
        Err(Error::ModelNotLoaded("embedder (a merge does not embed)"))
    }
}

/// The reduce step: merge the partial index files `parts` (every partition of one
/// `index --partition` run, in any order) into the index a single build over the whole
/// corpus writes, without embedding. `embedder` becomes the merged engine's; each part must
/// have been built with it ([`Error::EmbedderMismatch`]). Refusals, before anything is
/// built: [`Error::NotPartial`], [`Error::PartitionMismatch`] (partition count, corpus,
/// configuration, collections), [`Error::DuplicatePartition`], [`Error::MissingPartitions`];
/// a part whose records contradict the others is [`Error::Corrupt`].
pub fn merge_partitions(parts: &[&[u8]], embedder: Box<dyn Embedder>) -> Result<Engine> {
    if parts.is_empty() {
        return Err(Error::MissingPartitions { missing: Vec::new(), count: 0 });
    }
    let info = embedder.info().clone();
    let mut engines = Vec::with_capacity(parts.len());
    for bytes in parts {
        engines.push(Engine::from_bytes(bytes, Box::new(Identity(info.clone())))?);
    }
    check_compatible(&engines)?;
    let first = &engines[0];
    let whole = first.partition.clone().ok_or(Error::NotPartial { position: 0 })?;
    let config = first.config.clone();
    let next_chunk_id = first.next_chunk_id;
    let collections = first.collections.clone();
    let calibration = first.calibration.clone();

    // Records: every document and chunk once, under the ids the map step assigned.
    let mut docs = BTreeMap::new();
    let mut chunks = BTreeMap::new();
    let mut owner = BTreeMap::new();
    for (p, e) in engines.iter_mut().enumerate() {
        for (id, d) in std::mem::take(&mut e.docs) {
            if docs.insert(id.clone(), d).is_some() {
                return Err(Error::corrupt("docs", format!("document {id:?} is in two partitions")));
            }
        }
        for (id, c) in std::mem::take(&mut e.chunks) {
            owner.insert(id, p);
            if chunks.insert(id, c).is_some() {
                return Err(Error::corrupt("chunks", format!("chunk {id} is in two partitions")));
            }
        }
    }
    if docs.len() != whole.documents || chunks.len() != whole.chunks {
        return Err(Error::corrupt(
            "manifest",
            format!(
                "the partitions hold {} documents and {} chunks of a corpus of {} and {}",
                docs.len(),
                chunks.len(),
                whole.documents,
                whole.chunks
            ),
        ));
    }
    if corpus_sha256(docs.values()) != whole.corpus_sha256 {
        return Err(Error::corrupt("docs", "the partitions' documents are not the corpus their manifests name"));
    }

    // Derived state, in ascending chunk id order — the order a single build adds chunks in.
    let mut dense = DenseIndex::new(info.dim, config.dense.clone());
    let mut sparse = SparseIndex::new(config.bm25.clone());
    let mut dedup = Deduplicator::new(config.dedup.clone());
    let mut sentences = SentenceStore::new(info.dim);
    for (&id, c) in &chunks {
        let part = owner
            .get(&id)
            .map(|&p| &engines[p])
            .ok_or_else(|| Error::corrupt("dense", format!("chunk {id} has no vector in any partition")))?;
        let vector = part.dense.vector(id).ok_or_else(|| Error::corrupt("dense", format!("chunk {id}")))?;
        dense.add(id, vector)?;
        let d = docs.get(&c.doc_id).ok_or_else(|| Error::corrupt("chunks", format!("chunk {id}: no document")))?;
        let text = d.text.get(c.start..c.end).unwrap_or_default();
        sparse.add_with_prefix(id, &sparse_text(d.title.as_deref(), &c.heading_path, ""), text, d.language);
        dedup.insert(id, &dedup_key(&c.heading_path, text));
        let store = part.sentences.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = store.get(id) {
            sentences.insert(id, v.as_ref().clone())?;
        }
    }
    drop(engines);

    let mut merged = Engine::new(config, embedder);
    merged.docs = docs;
    merged.chunks = chunks;
    merged.dense = dense;
    merged.sparse = sparse;
    merged.dedup = dedup;
    merged.next_chunk_id = next_chunk_id;
    merged.collections = collections;
    merged.calibration = calibration;
    merged.sentences = std::sync::Mutex::new(sentences);
    Ok(merged)
}

/// Every part is a partition of the same run, each partition given once.
fn check_compatible(engines: &[Engine]) -> Result<()> {
    let mut infos = Vec::with_capacity(engines.len());
    for (position, e) in engines.iter().enumerate() {
        infos.push(e.partition.as_ref().ok_or(Error::NotPartial { position })?);
    }
    let first = infos[0];
    let json = |e: &Engine| serde_json::to_string(&e.config).unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (e, p) in engines.iter().zip(&infos) {
        if p.count != first.count {
            return Err(Error::PartitionMismatch {
                what: "partition count",
                detail: format!("{}/{} beside {}/{}", p.index, p.count, first.index, first.count),
            });
        }
        if !same_embedder(e.embedder.info(), engines[0].embedder.info()) {
            return Err(Error::PartitionMismatch { what: "embedder", detail: e.embedder.info().name.clone() });
        }
        if json(e) != json(&engines[0]) {
            return Err(Error::PartitionMismatch {
                what: "configuration",
                detail: format!("partition {} and partition {}", p.index, first.index),
            });
        }
        if e.collections != engines[0].collections {
            return Err(Error::PartitionMismatch {
                what: "collection descriptions",
                detail: format!("partition {} and partition {}", p.index, first.index),
            });
        }
        if p.corpus_sha256 != first.corpus_sha256 || p.documents != first.documents || p.chunks != first.chunks {
            return Err(Error::PartitionMismatch {
                what: "corpus",
                detail: format!(
                    "partition {} of corpus {:.12} ({} documents), partition {} of corpus {:.12} ({} documents)",
                    p.index, p.corpus_sha256, p.documents, first.index, first.corpus_sha256, first.documents
                ),
            });
        }
        if e.next_chunk_id != engines[0].next_chunk_id {
            return Err(Error::PartitionMismatch {
                what: "next chunk id",
                detail: format!("{} beside {}", e.next_chunk_id, engines[0].next_chunk_id),
            });
        }
        if e.tree.is_some() {
            return Err(Error::PartitionMismatch {
                what: "summary tree",
                detail: format!("partition {} has one; build the tree after the merge", p.index),
            });
        }
        if !seen.insert(p.index) {
            return Err(Error::DuplicatePartition { index: p.index, count: p.count });
        }
    }
    let missing: Vec<u32> = (0..first.count).filter(|i| !seen.contains(i)).collect();
    if !missing.is_empty() {
        return Err(Error::MissingPartitions { missing, count: first.count });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::EngineConfig;

    fn engine() -> Engine {
        Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(32)))
    }

    /// Paragraphs of distinct words, numbered by `seed`.
    fn para(seed: usize, words: usize) -> String {
        (0..words).map(|i| format!("w{}x{}", seed, (i * 7919 + seed * 104_729) % 100_003)).collect::<Vec<_>>().join(" ")
    }

    /// A corpus with exact duplicates across documents, a chain of near duplicates (each
    /// one word away from the previous: near the next, not the one after), documents of
    /// equal length (the build's tie-break is the input order) and an aggregate page.
    fn corpus() -> Vec<Document> {
        let mut docs = Vec::new();
        for i in 0..12 {
            docs.push(Document::new(format!("p{i:02}.md"), format!("# Page {i}\n\n{}", para(i, 120))));
        }
        let base: Vec<String> = para(99, 150).split(' ').map(str::to_owned).collect();
        for k in 0..6 {
            let mut w = base.clone();
            for j in 0..k {
                w[j * 10] = format!("edit{j}");
            }
            docs.push(Document::new(format!("chain{k}.md"), format!("# Chain\n\n{}", w.join(" "))));
        }
        docs.push(Document::new("copy-a.md", format!("# Page 3\n\n{}", para(3, 120))));
        docs.push(Document::new("same-len-1.md", format!("# Same\n\n{}", para(50, 40))));
        docs.push(Document::new("same-len-2.md", format!("# Same\n\n{}", para(51, 40))));
        let all: Vec<String> = (0..6).map(|i| format!("# Page {i}\n\n{}", para(i, 120))).collect();
        docs.push(Document::new("print.md", all.join("\n\n")));
        docs
    }

    fn merged(docs: &[Document], n: u32) -> Result<Vec<u8>> {
        let mut parts = Vec::new();
        for i in (0..n).rev() {
            let mut e = engine();
            e.add_documents_partition(docs.to_vec(), Partition::new(i, n)?, &mut |_| {}, &|| false)?;
            assert_eq!(e.partition().map(|p| (p.index, p.count)), Some((i, n)));
            parts.push(e.to_bytes()?);
        }
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        merge_partitions(&slices, Box::new(HashEmbedder::new(32)))?.to_bytes()
    }

    #[test]
    fn a_merge_of_any_number_of_partitions_is_the_single_build() {
        let docs = corpus();
        let mut single = engine();
        let report = single.add_documents(docs.clone()).unwrap();
        assert!(report.exact_duplicates > 0 && report.near_duplicates > 0, "{report:?}");
        let expected = single.to_bytes().unwrap();
        for n in 1..=5 {
            assert!(merged(&docs, n).unwrap() == expected, "{n} partitions");
        }
    }

    #[test]
    fn hnsw_segments_built_after_a_merge_are_the_single_builds() {
        let docs = corpus();
        let mut config = EngineConfig::default();
        config.dense.hnsw_threshold = 8;
        let build = |e: &mut Engine| e.build_hnsw();
        let mut single = Engine::new(config.clone(), Box::new(HashEmbedder::new(32)));
        single.add_documents(docs.clone()).unwrap();
        build(&mut single);
        assert!(single.stats().hnsw_vectors > 0);
        let mut parts = Vec::new();
        for i in 0..3 {
            let mut e = Engine::new(config.clone(), Box::new(HashEmbedder::new(32)));
            e.add_documents_partition(docs.clone(), Partition::new(i, 3).unwrap(), &mut |_| {}, &|| false).unwrap();
            parts.push(e.to_bytes().unwrap());
        }
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let mut merged = merge_partitions(&slices, Box::new(HashEmbedder::new(32))).unwrap();
        build(&mut merged);
        assert!(merged.to_bytes().unwrap() == single.to_bytes().unwrap());
    }

    #[test]
    fn a_partial_index_refuses_changes_and_merges_refuse_what_does_not_belong() {
        let docs = corpus();
        let part = |i, n, docs: &[Document], config: EngineConfig| {
            let mut e = Engine::new(config, Box::new(HashEmbedder::new(32)));
            e.add_documents_partition(docs.to_vec(), Partition::new(i, n).unwrap(), &mut |_| {}, &|| false).unwrap();
            e
        };
        let mut p0 = part(0, 2, &docs, EngineConfig::default());
        assert!(matches!(p0.add_documents(vec![Document::new("x.md", "text")]), Err(Error::WrongState(_))));
        assert!(matches!(p0.remove_documents(&["p00.md"]), Err(Error::WrongState(_))));
        let p0 = p0.to_bytes().unwrap();
        let p1 = part(1, 2, &docs, EngineConfig::default()).to_bytes().unwrap();
        let third = part(2, 3, &docs, EngineConfig::default()).to_bytes().unwrap();
        let mut small = EngineConfig::default();
        small.chunk.max_tokens = 64;
        let other_config = part(1, 2, &docs, small).to_bytes().unwrap();
        let other_corpus = part(1, 2, &docs[1..], EngineConfig::default()).to_bytes().unwrap();
        let mut full = engine();
        full.add_documents(docs.clone()).unwrap();
        let full = full.to_bytes().unwrap();
        let merge = |parts: &[&[u8]], dim| merge_partitions(parts, Box::new(HashEmbedder::new(dim))).map(|_| ());
        assert!(matches!(merge(&[&p0, &p1], 32), Ok(())));
        assert!(
            matches!(merge(&[&p0], 32), Err(Error::MissingPartitions { ref missing, count: 2 }) if missing == &[1])
        );
        assert!(matches!(merge(&[&p0, &p0], 32), Err(Error::DuplicatePartition { index: 0, count: 2 })));
        let e = merge(&[&p0, &p1, &third], 32).unwrap_err();
        assert!(matches!(e, Error::PartitionMismatch { what: "partition count", .. }), "{e:?}");
        let e = merge(&[&p0, &other_config], 32).unwrap_err();
        assert!(matches!(e, Error::PartitionMismatch { what: "configuration", .. }), "{e:?}");
        let e = merge(&[&p0, &other_corpus], 32).unwrap_err();
        assert!(matches!(e, Error::PartitionMismatch { what: "corpus", .. }), "{e:?}");
        assert!(matches!(merge(&[&p0, &full], 32), Err(Error::NotPartial { position: 1 })));
        assert!(matches!(merge(&[&p0, &p1], 16), Err(Error::EmbedderMismatch { .. })));
        assert!(matches!(merge(&[], 32), Err(Error::MissingPartitions { .. })));
        // A non-empty engine does not become a partition.
        let mut e = engine();
        e.add_documents(vec![Document::new("x.md", "some text")]).unwrap();
        let r = e.add_documents_partition(docs, Partition::new(0, 2).unwrap(), &mut |_| {}, &|| false);
        assert!(matches!(r, Err(Error::WrongState(_))));
    }

    #[test]
    fn specs_are_validated() {
        assert_eq!(Partition::parse("0/3").unwrap(), Partition::new(0, 3).unwrap());
        assert_eq!(Partition::parse(" 2 / 3 ").unwrap().to_string(), "2/3");
        assert_eq!(Partition::parse("0/1").unwrap().count(), 1);
        for bad in ["3/3", "0/0", "-1/3", "1", "a/3", "1/b", "1/3/4", ""] {
            let e = Partition::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidPartition { .. }), "{bad}: {e:?}");
        }
    }

    #[test]
    fn the_rule_depends_on_the_id_only_and_covers_every_partition() {
        let ids: Vec<String> = (0..300).map(|i| format!("dir/page{i}.html")).collect();
        let mut sizes = [0usize; 3];
        for id in &ids {
            let p = partition_of(id, 3);
            sizes[p as usize] += 1;
            assert_eq!(partition_of(id, 3), p);
            let owners = (0..3).filter(|&i| Partition::new(i, 3).unwrap().owns(id)).count();
            assert_eq!(owners, 1);
            assert_eq!(partition_of(id, 1), 0);
        }
        assert!(sizes.iter().all(|&n| n > 60), "{sizes:?}");
        // A fixed value: the rule is part of the format (changing it splits corpora differently).
        // (The same computation in Python: int.from_bytes(sha256(id).digest()[:8], "big") % N.)
        assert_eq!(partition_of("guide/index.html", 1000), 261);
        assert_eq!(partition_of("index.html", 1000), 290);
    }
}

//! Adding, replacing and removing documents.
//!
//! [`Engine::add_documents_with`] runs in two phases:
//! 1. **prepare** — validate the batch, clean and chunk (each document on its own, so on
//!    the thread pool where the build has one), de-duplicate in the build's order (on a copy
//!    of the duplicate detector) and embed, touching no engine state;
//! 2. **commit** — check everything the mutations rely on (every chunk span lies in its
//!    cleaned text on char boundaries; every vector has the index's dimension and only
//!    finite values), then apply. The apply step adds the new vectors first (fresh ids,
//!    so nothing else has changed yet), then removes replaced documents and inserts the
//!    new records, BM25 postings and duplicate state, none of which can fail.
//!
//! A failure anywhere — a document, the model, a NaN from a broken safetensors file, a
//! cancellation — therefore leaves the engine byte-identical to before (the tests export
//! the index before and after and compare).

use std::collections::HashSet;

use super::partition::{Partition, PartitionInfo};
use super::persist::corpus_sha256;
use super::records::{dedup_key, sparse_text, ChunkRecord, DocRecord, IngestReport, Progress};
use super::Engine;
use crate::error::{Error, Result};
use crate::index::sentences::SentenceVector;
use crate::index::ChunkId;
use crate::ingest::chunk::chunk_checked;
use crate::ingest::clean::clean_with;
use crate::ingest::dedup::{Deduplicator, DupKind};
use crate::ingest::language;
use crate::ingest::Document;

/// A prepared (cleaned, chunked, deduplicated) document, not yet committed.
struct Prepared {
    record: DocRecord,
    /// Kept chunks with the text to embed for each.
    chunks: Vec<(ChunkRecord, String)>,
}

/// A cleaned and chunked document, before de-duplication.
struct Chunked {
    record: DocRecord,
    pieces: Vec<crate::ingest::chunk::Chunk>,
}

/// A chunk ready to commit: its record, its vector, its sentence vectors.
type PreparedChunk = (ChunkRecord, Vec<f32>, Vec<SentenceVector>);

/// A batch ready to commit: records, one vector and the sentence vectors per kept
/// chunk, the new dedup state.
pub(super) struct Batch {
    docs: Vec<(DocRecord, Vec<PreparedChunk>)>,
    dedup: Deduplicator,
    next_id: ChunkId,
    /// Set when the batch is one partition of the corpus (the map step, [`super::partition`]).
    partition: Option<PartitionInfo>,
}

impl Engine {
    /// Add or replace documents (see [`Engine::add_documents_with`]).
    pub fn add_documents(&mut self, docs: Vec<Document>) -> Result<IngestReport> {
        self.add_documents_with(docs, &mut |_| {}, &|| false)
    }

    /// Add or replace documents, reporting progress and checking `cancelled` between
    /// documents and embedding batches. All-or-nothing: on any error (or cancellation)
    /// the engine is unchanged.
    pub fn add_documents_with(
        &mut self,
        docs: Vec<Document>,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<IngestReport> {
        if let Some(p) = &self.partition {
            return Err(partial_is_read_only(p));
        }
        let batch = self.prepare(&docs, None, progress, cancelled)?;
        self.commit(batch)
    }

    /// Validate, clean, chunk, de-duplicate and embed `docs` without touching the engine.
    /// With a `share`, everything is prepared but only the documents it owns are embedded
    /// and kept (the map step of a partitioned build).
    pub(super) fn prepare(
        &self,
        docs: &[Document],
        share: Option<Partition>,
        progress: &mut dyn FnMut(Progress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Batch> {
        // 1. Validate the whole batch before any work.
        let mut seen = HashSet::new();
        for d in docs {
            if !seen.insert(d.id.as_str()) {
                return Err(Error::DuplicateId(d.id.clone()));
            }
            d.validate(&self.config.limits)?;
        }
        drop(seen);

        // 2. Clean, chunk and de-duplicate on a copy of the dedup state.
        let mut dedup = self.dedup.clone();
        for d in docs {
            if let Some(old) = self.docs.get(&d.id) {
                for &c in &old.chunks {
                    dedup.remove(c);
                }
            }
        }
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_by_key(|&i| (docs[i].body.len(), i));
        let total = docs.len();
        let mut next_id = self.next_chunk_id;
        let mut pending: Vec<Prepared> = Vec::with_capacity(total);
        if crate::par::threads() <= 1 {
            for (n, &i) in order.iter().enumerate() {
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                let chunked = self.clean_and_chunk(&docs[i], cancelled)?;
                pending.push(self.dedup_one(chunked, &mut dedup, &mut next_id)?);
                progress(Progress::Chunking { done: n + 1, total });
            }
        } else {
            // Cleaning and chunking depend on the document alone: a group at a time runs on
            // the pool (cancellation is checked between groups), then the group's chunks are
            // de-duplicated in the build's order, so the decisions and ids are the serial ones.
            let group = 4 * crate::par::threads();
            for (g, idx) in order.chunks(group).enumerate() {
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                let mut slots: Vec<Option<Result<Chunked>>> = (0..idx.len()).map(|_| None).collect();
                crate::par::for_each_chunk(&mut slots, 1, |k, slot| {
                    slot[0] = Some(self.clean_and_chunk(&docs[idx[k]], &|| false));
                });
                for slot in slots {
                    let chunked = slot.ok_or_else(|| Error::WrongState("a document was not chunked".into()))??;
                    pending.push(self.dedup_one(chunked, &mut dedup, &mut next_id)?);
                }
                progress(Progress::Chunking { done: (g * group + idx.len()).min(total), total });
            }
        }
        // A partition: the whole corpus's decisions are made, its share is kept. The dedup
        // state is then that of the kept chunks, as an index file would rebuild it.
        let partition = share.map(|p| PartitionInfo {
            index: p.index(),
            count: p.count(),
            corpus_sha256: corpus_sha256(pending.iter().map(|d| &d.record)),
            documents: pending.len(),
            chunks: pending.iter().map(|d| d.chunks.len()).sum(),
        });
        if let Some(p) = share {
            pending.retain(|d| p.owns(&d.record.id));
            dedup = Deduplicator::new(self.config.dedup.clone());
            for d in &pending {
                for (&id, (c, _)) in d.record.chunks.iter().zip(&d.chunks) {
                    dedup
                        .insert(id, &dedup_key(&c.heading_path, d.record.text.get(c.start..c.end).unwrap_or_default()));
                }
            }
        }

        // 3. Embed every kept chunk (the expensive part), still without touching state.
        // Batches run across documents: a hundred one-paragraph documents are embedded
        // `embed_batch` at a time, not one by one. Then the chunks' sentences, the same
        // way (format v2 stores them; answers and MaxSim reranking use them).
        let spans: Vec<(&str, usize, usize)> = pending
            .iter()
            .flat_map(|p| p.chunks.iter().map(|(c, _)| (p.record.text.as_str(), c.start, c.end)))
            .collect();
        self.check_sentence_limits(&pending)?;
        let at_index_time = self.config.sentences.at_index_time;
        let total_sentences: usize = if at_index_time {
            spans.iter().map(|&(t, s, e)| t.get(s..e).map_or(0, |c| super::select::vector_spans(c, s).len())).sum()
        } else {
            0
        };
        let total_chunks: usize = pending.iter().map(|p| p.chunks.len()).sum();
        let total = total_chunks + total_sentences;
        let batch = self.config.embed_batch.max(1);
        progress(Progress::Embedding { done: 0, total });
        let texts: Vec<&str> = pending.iter().flat_map(|p| p.chunks.iter().map(|(_, t)| t.as_str())).collect();
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(total_chunks);
        for group in texts.chunks(batch) {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            vectors.extend(self.embed_batch_checked(group)?);
            progress(Progress::Embedding { done: vectors.len(), total });
        }
        drop(texts);
        let sentence_vectors = if at_index_time {
            self.embed_sentences(&spans, &mut |done| {
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                progress(Progress::Embedding { done: total_chunks + done, total });
                Ok(())
            })?
        } else {
            vec![Vec::new(); spans.len()]
        };
        drop(spans);
        let mut vectors = vectors.into_iter();
        let mut sentence_vectors = sentence_vectors.into_iter();
        let mut out = Vec::with_capacity(pending.len());
        for prepared in pending {
            let chunks: Vec<PreparedChunk> = prepared
                .chunks
                .into_iter()
                .map(|(c, _)| c)
                .zip(vectors.by_ref())
                .zip(sentence_vectors.by_ref())
                .map(|((c, v), s)| (c, v, s))
                .collect();
            out.push((prepared.record, chunks));
        }
        Ok(Batch { docs: out, dedup, next_id, partition })
    }

    /// The sentence-vector limits ([`super::config::SentenceLimits`]), checked before
    /// anything is embedded.
    fn check_sentence_limits(&self, pending: &[Prepared]) -> Result<()> {
        let limits = &self.config.sentences;
        for p in pending {
            let mut in_doc = 0usize;
            for (c, _) in &p.chunks {
                let n = p.record.text.get(c.start..c.end).map_or(0, |t| super::select::vector_spans(t, c.start).len());
                if n > limits.max_per_chunk {
                    return Err(Error::LimitExceeded {
                        what: "sentence vectors per chunk",
                        limit: limits.max_per_chunk,
                        got: n,
                    });
                }
                in_doc += n;
            }
            if in_doc > limits.max_per_document {
                return Err(Error::LimitExceeded {
                    what: "sentence vectors per document",
                    limit: limits.max_per_document,
                    got: in_doc,
                });
            }
        }
        Ok(())
    }

    /// The chunking configuration for a document titled `title`: the title is embedded in
    /// front of every chunk, so its tokens are reserved in the budget.
    pub(crate) fn chunk_config_for(&self, title: Option<&str>) -> crate::ingest::chunk::ChunkConfig {
        let mut chunk_config = self.config.chunk.clone();
        if let Some(t) = title {
            let reserve = self.embedder.count_tokens(t) + 1;
            chunk_config.max_tokens = chunk_config.max_tokens.saturating_sub(reserve).max(chunk_config.max_tokens / 2);
        }
        chunk_config
    }

    /// Clean and chunk one document (no engine state involved: documents are independent).
    fn clean_and_chunk(&self, doc: &Document, cancelled: &dyn Fn() -> bool) -> Result<Chunked> {
        let format = doc.resolved_format();
        let mut typed = doc.clone();
        typed.format = Some(format);
        let cleaned = clean_with(&typed, &self.config.clean, cancelled)?;
        if cleaned.text.trim().is_empty() {
            return Err(Error::InvalidDocument {
                id: doc.id.clone(),
                reason: "no readable text after cleaning".into(),
            });
        }
        let title =
            doc.metadata.get("title").cloned().filter(|t| !t.trim().is_empty()).or_else(|| cleaned.title.clone());
        let language = language::resolve(&doc.metadata, &cleaned.text);
        let chunk_config = self.chunk_config_for(title.as_deref());
        let pieces = chunk_checked(&cleaned, &chunk_config, self.embedder.as_ref(), &self.config.limits)?;
        let mut record = DocRecord {
            id: doc.id.clone(),
            metadata: doc.metadata.clone(),
            format,
            title,
            language,
            text: String::new(),
            body_sha256: crate::embed::sha256_hex(doc.body.as_bytes()),
            chunks: Vec::new(),
            exact_duplicates: 0,
            near_duplicates: 0,
        };
        record.text = cleaned.text;
        Ok(Chunked { record, pieces })
    }

    /// De-duplicate one chunked document against `dedup`, assigning chunk ids to the
    /// chunks it keeps.
    fn dedup_one(&self, chunked: Chunked, dedup: &mut Deduplicator, next_id: &mut ChunkId) -> Result<Prepared> {
        let Chunked { mut record, pieces } = chunked;
        let mut kept = Vec::new();
        for c in pieces {
            if c.text.trim().is_empty() {
                continue;
            }
            let key = dedup_key(&c.heading_path, &c.text);
            let prepared = dedup.prepare(&key);
            match dedup.check_prepared(&prepared) {
                DupKind::Exact { .. } => record.exact_duplicates += 1,
                DupKind::Near { .. } => record.near_duplicates += 1,
                DupKind::Unique => {
                    let id = *next_id;
                    *next_id = next_id.checked_add(1).ok_or(Error::LimitExceeded {
                        what: "chunk ids in one index",
                        limit: ChunkId::MAX as usize,
                        got: ChunkId::MAX as usize,
                    })?;
                    dedup.insert_prepared(id, prepared);
                    let text = self.embed_text(record.title.as_deref(), &c.heading_path, &c.text);
                    record.chunks.push(id);
                    kept.push((
                        ChunkRecord {
                            doc_id: record.id.clone(),
                            start: c.start,
                            end: c.end,
                            heading_path: c.heading_path,
                        },
                        text,
                    ));
                }
            }
        }
        Ok(Prepared { record, chunks: kept })
    }

    /// The text a chunk is embedded as: the model's passage prefix, then
    /// `title > heading path` as a header line, then the chunk text.
    pub(crate) fn embed_text(&self, title: Option<&str>, heading_path: &[String], text: &str) -> String {
        let mut header: Vec<&str> = Vec::new();
        if let Some(t) = title {
            if heading_path.first().map(String::as_str) != Some(t) {
                header.push(t);
            }
        }
        header.extend(heading_path.iter().map(String::as_str));
        if header.is_empty() {
            format!("{}{}", self.config.passage_prefix, text)
        } else {
            format!("{}{}\n{}", self.config.passage_prefix, header.join(" > "), text)
        }
    }

    /// Everything [`Engine::commit`]'s mutations rely on, checked without mutating.
    fn check_batch(&self, batch: &Batch) -> Result<()> {
        for (record, chunks) in &batch.docs {
            if record.chunks.len() != chunks.len() {
                return Err(Error::WrongState(format!(
                    "document {:?}: {} chunk ids for {} chunks",
                    record.id,
                    record.chunks.len(),
                    chunks.len()
                )));
            }
            for (&id, (chunk, vector, sentences)) in record.chunks.iter().zip(chunks) {
                if let Some(s) = sentences.iter().find(|s| s.codes.len() != self.dense.dim()) {
                    return Err(Error::DimensionMismatch { expected: self.dense.dim(), got: s.codes.len() });
                }
                if record.text.get(chunk.start..chunk.end).is_none() {
                    return Err(Error::InvalidDocument {
                        id: record.id.clone(),
                        reason: format!("chunk span {}..{} is outside its text", chunk.start, chunk.end),
                    });
                }
                self.dense.check_vector(vector)?;
                if id < self.next_chunk_id || self.dense.contains(id) || self.chunks.contains_key(&id) {
                    return Err(Error::WrongState(format!("chunk id {id} is already in use")));
                }
            }
        }
        Ok(())
    }

    /// Check, then apply a prepared batch (see the module docs).
    pub(super) fn commit(&mut self, batch: Batch) -> Result<IngestReport> {
        self.check_batch(&batch)?;
        // Vectors first: the only step with an error path, and on fresh ids, so undoing it
        // (unreachable after the checks) leaves every other structure as it was.
        let mut added: Vec<ChunkId> = Vec::new();
        for (record, chunks) in &batch.docs {
            for (&id, (_, vector, _)) in record.chunks.iter().zip(chunks) {
                if let Err(e) = self.dense.add(id, vector) {
                    for id in added {
                        self.dense.remove(id);
                    }
                    return Err(e);
                }
                added.push(id);
            }
        }
        // The summary tree describes the old corpus: it goes (rebuild it with `build_tree`).
        self.tree = None;
        let mut report = IngestReport::default();
        for (record, chunks) in batch.docs {
            if self.docs.contains_key(&record.id) {
                report.replaced += 1;
                self.remove_committed(&record.id.clone());
            }
            report.documents += 1;
            report.exact_duplicates += record.exact_duplicates;
            report.near_duplicates += record.near_duplicates;
            for (&id, (chunk, _, sentences)) in record.chunks.iter().zip(chunks) {
                // Dimensions were checked above: this insert cannot fail. Without index-time
                // vectors the chunk has no entry, so its first retrieval embeds them.
                if self.config.sentences.at_index_time {
                    let _ = self.sentences.get_mut().unwrap_or_else(|p| p.into_inner()).insert(id, sentences);
                }
                let text = record.text.get(chunk.start..chunk.end).unwrap_or_default();
                let prefix = sparse_text(record.title.as_deref(), &chunk.heading_path, "");
                self.sparse.add_with_prefix(id, &prefix, text, record.language);
                self.chunks.insert(id, chunk);
                report.chunks += 1;
            }
            self.docs.insert(record.id.clone(), record);
        }
        self.dedup = batch.dedup;
        self.next_chunk_id = batch.next_id;
        if batch.partition.is_some() {
            self.partition = batch.partition;
        }
        Ok(report)
    }

    /// Remove documents by id. All-or-nothing: an unknown id is an error and nothing is removed.
    pub fn remove_documents(&mut self, ids: &[&str]) -> Result<usize> {
        if let Some(p) = &self.partition {
            return Err(partial_is_read_only(p));
        }
        for id in ids {
            if !self.docs.contains_key(*id) {
                return Err(Error::UnknownDocument((*id).to_owned()));
            }
        }
        let mut n = 0;
        for id in ids {
            if self.remove_committed(id) {
                n += 1;
            }
        }
        if n > 0 {
            // The summary tree describes the old corpus (and cites removed chunks).
            self.tree = None;
        }
        Ok(n)
    }

    fn remove_committed(&mut self, id: &str) -> bool {
        let Some(record) = self.docs.remove(id) else { return false };
        for c in record.chunks {
            self.dense.remove(c);
            self.sparse.remove(c);
            self.dedup.remove(c);
            self.chunks.remove(&c);
            self.sentences.get_mut().unwrap_or_else(|p| p.into_inner()).remove(c);
        }
        true
    }
}

/// A partial index holds the share of one build: changing it would break the merge.
fn partial_is_read_only(p: &PartitionInfo) -> Error {
    Error::WrongState(format!(
        "this is partition {}/{} of a build: merge the partitions (`sotto merge`) before changing documents",
        p.index, p.count
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::embed::{Embedder, EmbedderInfo};
    use crate::text::TokenCounter;
    use crate::EngineConfig;

    /// What the faulty embedder does to the batch whose number (0-based, counted over
    /// the engine's life) equals `at`.
    #[derive(Clone, Copy, Debug)]
    enum Fault {
        Fail,
        Nan,
        Infinite,
        Short,
        WrongDim,
    }

    struct Faulty {
        inner: HashEmbedder,
        batches: Arc<AtomicUsize>,
        at: Arc<std::sync::Mutex<Option<(usize, Fault)>>>,
    }

    impl TokenCounter for Faulty {
        fn count_tokens(&self, text: &str) -> usize {
            self.inner.count_tokens(text)
        }
    }

    impl Embedder for Faulty {
        fn info(&self) -> &EmbedderInfo {
            self.inner.info()
        }
        fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            let n = self.batches.fetch_add(1, Ordering::SeqCst);
            let mut out = self.inner.embed_batch(texts)?;
            match *self.at.lock().unwrap() {
                Some((at, fault)) if at == n => match fault {
                    Fault::Fail => return Err(Error::Candle("injected failure".into())),
                    Fault::Nan => out[texts.len() - 1][3] = f32::NAN,
                    Fault::Infinite => out[0][0] = f32::INFINITY,
                    Fault::Short => {
                        out.pop();
                    }
                    Fault::WrongDim => {
                        out[0].pop();
                    }
                },
                _ => {}
            }
            Ok(out)
        }
        fn embed(&self, text: &str) -> Result<Vec<f32>> {
            self.inner.embed(text)
        }
    }

    /// A document of `words` distinct-looking words (no near duplicates between documents).
    fn doc(id: &str, words: usize) -> Document {
        let seed = id.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        let body: Vec<String> = (0..words as u64)
            .map(|i| format!("w{}", (i.wrapping_mul(7919).wrapping_add(seed.wrapping_mul(104_729))) % 100_003))
            .collect();
        Document::new(id, format!("# {id}\n\n{}", body.join(" ")))
    }

    /// Where the faulty embedder fails: (batch number, fault), armed by a test.
    type FaultAt = Arc<std::sync::Mutex<Option<(usize, Fault)>>>;

    fn engine() -> (Engine, Arc<AtomicUsize>, FaultAt) {
        let batches = Arc::new(AtomicUsize::new(0));
        let at = Arc::new(std::sync::Mutex::new(None));
        let faulty = Faulty { inner: HashEmbedder::new(32), batches: batches.clone(), at: at.clone() };
        let config = EngineConfig { embed_batch: 2, ..EngineConfig::default() };
        (Engine::new(config, Box::new(faulty)), batches, at)
    }

    /// A batch that replaces one document and adds two, several embedding batches long.
    fn batch() -> Vec<Document> {
        let mut replaced = doc("a.md", 900);
        replaced.body.push_str(" replaced");
        vec![replaced, doc("b.md", 600), doc("c.md", 1200)]
    }

    #[test]
    fn a_fault_at_any_embedding_batch_leaves_the_engine_byte_identical() {
        let (mut e, batches, at) = engine();
        e.add_documents(vec![doc("a.md", 700), doc("z.md", 300)]).unwrap();
        let before = e.to_bytes().unwrap();
        let start = batches.load(Ordering::SeqCst);
        // How many batches the batch takes, measured on a copy that commits.
        let (mut probe, probe_batches, _) = engine();
        probe.add_documents(vec![doc("a.md", 700), doc("z.md", 300)]).unwrap();
        let probe_start = probe_batches.load(Ordering::SeqCst);
        probe.add_documents(batch()).unwrap();
        let n = probe_batches.load(Ordering::SeqCst) - probe_start;
        assert!(n >= 4, "the test batch should take several embedding batches, took {n}");
        let mut failures = 0;
        for k in 0..n {
            for fault in [Fault::Fail, Fault::Nan, Fault::Infinite, Fault::Short, Fault::WrongDim] {
                let offset = batches.load(Ordering::SeqCst);
                *at.lock().unwrap() = Some((offset + k, fault));
                let r = e.add_documents(batch());
                assert!(r.is_err(), "batch {k} {fault:?}: {r:?}");
                assert_eq!(e.to_bytes().unwrap(), before, "batch {k} {fault:?} changed the index");
                failures += 1;
            }
        }
        assert!(start > 0 && failures == 5 * n);
        // Without faults, the same batch commits, and replaces a.md.
        *at.lock().unwrap() = None;
        let report = e.add_documents(batch()).unwrap();
        assert_eq!((report.documents, report.replaced), (3, 1));
        assert_eq!(e.stats().documents, 4);
    }

    #[test]
    fn a_bad_document_or_a_cancellation_at_any_point_changes_nothing() {
        let (mut e, _, _) = engine();
        e.add_documents(vec![doc("a.md", 700)]).unwrap();
        let before = e.to_bytes().unwrap();
        // An unreadable document at each position of the batch (cleaning fails after
        // others were prepared).
        for pos in 0..3 {
            let mut docs = batch();
            docs[pos] = Document::new(docs[pos].id.clone(), "<html><script>x()</script></html>")
                .with_format(crate::Format::Html);
            let r = e.add_documents(docs);
            assert!(matches!(r, Err(Error::InvalidDocument { .. })), "{pos}: {r:?}");
            assert_eq!(e.to_bytes().unwrap(), before, "{pos}");
        }
        // A duplicate id in the batch.
        let r = e.add_documents(vec![doc("x.md", 10), doc("x.md", 20)]);
        assert!(matches!(r, Err(Error::DuplicateId(_))));
        assert_eq!(e.to_bytes().unwrap(), before);
        // Cancellation at each check (between documents and between embedding batches),
        // until the batch gets through all of them and commits.
        let mut cancelled = 0;
        for after in 0.. {
            let calls = AtomicUsize::new(0);
            let r = e.add_documents_with(batch(), &mut |_| {}, &|| calls.fetch_add(1, Ordering::SeqCst) >= after);
            if r.is_ok() {
                break;
            }
            assert!(matches!(r, Err(Error::Cancelled)), "{after}: {r:?}");
            assert_eq!(e.to_bytes().unwrap(), before, "{after}");
            cancelled += 1;
        }
        assert!(cancelled >= 6, "the batch should pass several cancellation points, passed {cancelled}");
    }

    #[test]
    fn commit_checks_spans_and_ids_before_mutating() {
        let (mut e, _, _) = engine();
        e.add_documents(vec![doc("a.md", 300)]).unwrap();
        let before = e.to_bytes().unwrap();
        let prepared = e.prepare(&[doc("b.md", 300), doc("c.md", 300)], None, &mut |_| {}, &|| false).unwrap();
        // A span past the end of its text.
        let mut bad_span = Batch {
            docs: prepared.docs.clone(),
            dedup: prepared.dedup.clone(),
            next_id: prepared.next_id,
            partition: None,
        };
        let last = bad_span.docs.len() - 1;
        let text_len = bad_span.docs[last].0.text.len();
        bad_span.docs[last].1[0].0.end = text_len + 1;
        assert!(matches!(e.commit(bad_span), Err(Error::InvalidDocument { .. })));
        assert_eq!(e.to_bytes().unwrap(), before);
        // A span that splits a character.
        let mut mid_char = Batch {
            docs: prepared.docs.clone(),
            dedup: prepared.dedup.clone(),
            next_id: prepared.next_id,
            partition: None,
        };
        mid_char.docs[0].0.text = "é".repeat(400);
        mid_char.docs[0].1[0].0.start = 1;
        assert!(matches!(e.commit(mid_char), Err(Error::InvalidDocument { .. })));
        // A chunk id already in use.
        let mut reused = Batch {
            docs: prepared.docs.clone(),
            dedup: prepared.dedup.clone(),
            next_id: prepared.next_id,
            partition: None,
        };
        reused.docs[0].0.chunks[0] = 0;
        assert!(matches!(e.commit(reused), Err(Error::WrongState(_))));
        assert_eq!(e.to_bytes().unwrap(), before);
        // The untouched batch commits.
        assert_eq!(e.commit(prepared).unwrap().documents, 2);
    }

    #[test]
    fn embedding_batches_run_across_documents() {
        let (mut e, batches, _) = engine();
        // Ten one-sentence documents: one chunk each, five batches of two (embed_batch = 2),
        // not ten batches of one; then their ten sentences, five batches of two again.
        let docs: Vec<Document> = (0..10).map(|i| doc(&format!("d{i}.md"), 12)).collect();
        let report = e.add_documents(docs).unwrap();
        assert_eq!(report.chunks, 10);
        assert_eq!(batches.load(Ordering::SeqCst), 5 + 5);
        // Each chunk got its own document's vector: searching a document's words finds it.
        for i in [0, 4, 9] {
            let id = format!("d{i}.md");
            let words = e.document(&id).unwrap().text.clone();
            let hits = e.search(&words, &crate::SearchOptions { mode: crate::Mode::Dense, ..Default::default() });
            assert_eq!(hits.unwrap()[0].doc_id, id);
        }
    }

    #[test]
    fn removal_is_all_or_nothing() {
        let (mut e, _, _) = engine();
        e.add_documents(vec![doc("a.md", 300), doc("b.md", 300)]).unwrap();
        let before = e.to_bytes().unwrap();
        assert!(matches!(e.remove_documents(&["a.md", "nope"]), Err(Error::UnknownDocument(_))));
        assert_eq!(e.to_bytes().unwrap(), before);
        assert_eq!(e.remove_documents(&["a.md"]).unwrap(), 1);
        assert_eq!(e.document_ids().collect::<Vec<_>>(), ["b.md"]);
        assert!(e.chunks.values().all(|c| c.doc_id == "b.md"));
        assert_eq!(e.dense.len(), e.chunks.len());
    }
}

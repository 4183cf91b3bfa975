//! The entry points of Sotto's fuzz targets, one function per target.
//!
//! Each function takes the raw fuzzer input, decodes it with a small layout documented on
//! the function, and drives Sotto's public API the way the engine does on untrusted input
//! (a browser page, a file given to the CLI). It returns normally when the API returned
//! `Ok` or a typed `Err`; it panics only when Sotto panics or when a cheap invariant of a
//! successful result is broken (spans out of bounds or off char boundaries, an exported
//! index that does not load back, an engine changed by a failed call, …).
//!
//! This file is shared: the libFuzzer binaries in `fuzz/fuzz_targets/` call it through the
//! `sotto_fuzz` library, and `tests/fuzz_regressions.rs` of the main crate includes it with
//! `#[path]` to replay every committed regression input through the very same code. It may
//! therefore only use `sotto`, `serde_json` and `candle_core` (dependencies of the main
//! crate too), which is also why it decodes structure with its own [`Input`] reader
//! rather than the `arbitrary` crate.

#![allow(dead_code)]

use std::borrow::Cow;
use std::io::BufReader;
use std::sync::OnceLock;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use sotto::embed::bert::{BertEmbedder, BertOptions};
use sotto::embed::hashing::HashEmbedder;
use sotto::embed::pooling::Pooling;
use sotto::embed::{Embedder, EmbedderInfo};
use sotto::generate::testing::TestTensor;
use sotto::generate::{load_gguf, ChatMessage, GenerationOptions, Generator, LoadOptions, Prompt};
use sotto::index::text::Language;
use sotto::ingest::chunk::{chunk, chunk_cost, header_line, Chunk, ChunkConfig, TokenCounter};
use sotto::ingest::clean::{clean, CleanConfig, CleanedDoc};
use sotto::ingest::dedup::{DedupConfig, Deduplicator, DupKind};
use sotto::ingest::{Document, Format, Limits};
use sotto::rag::answer::{
    content_terms, is_degenerate, lexical_evidence, needs_context, split_sentences, support, CitationTable,
    SourceSentence,
};
use sotto::rag::ask::AskOptions;
use sotto::rag::prompt::{build_prompt, strip_markers};
use sotto::{Engine, EngineConfig, Filter, Mode, SearchOptions};

// ---------------------------------------------------------------------------------------
// Input decoding

/// A cursor over fuzzer bytes; every read past the end yields zeros / empty slices, so any
/// input decodes to something.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    /// One byte (0 at the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// Little-endian 24-bit length.
    pub fn u24(&mut self) -> usize {
        usize::from(self.u8()) | usize::from(self.u8()) << 8 | usize::from(self.u8()) << 16
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// One element of `items`, chosen by the next byte.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.u8()) % items.len()]
    }
}

/// Largest body an amplified input expands to (128 KiB of text after lossy UTF-8
/// decoding, well within the engine's 16 MiB document limit). Cleaning, chunking,
/// de-duplicating and indexing that much linear text takes at most about 0.15 s of CPU in
/// the instrumented build (the worst inputs known, the `amplified-*` regressions: 0.04–0.16
/// s), so an input that takes more than the fuzzer's 1 s or 2 GB is super-linear
/// somewhere: the cost must be bounded by a small multiple of the input size. (At 1 MiB,
/// linear inputs alone reached 2 s. At 256 KiB, inputs cut into many small chunks took
/// 0.25–0.31 s of CPU, over half of it MinHash signatures under sanitizer-coverage's
/// per-comparison callbacks — linear, 128 permutations per word — and four of them timed
/// out at 1 s of wall clock on an oversubscribed machine: the
/// `amplified-dedup-signatures-instrumented-*` regressions.)
pub const AMPLIFIED_MAX_BYTES: usize = 128 << 10;

/// Expand `segments` — a sequence of `[reps: u16 LE][len: u8][len bytes]` — into the
/// concatenation of each piece repeated `reps` times (at least once), capped at `cap`
/// bytes. Lets a small input describe a deep nesting or a long repetition, which is how
/// super-linear costs are found with inputs libFuzzer can mutate.
pub fn amplify(segments: &[u8], cap: usize) -> Vec<u8> {
    let mut inp = Input::new(segments);
    let mut out = Vec::new();
    while !inp.is_empty() && out.len() < cap {
        let reps = usize::from(inp.u16()).max(1);
        let len = usize::from(inp.u8());
        let piece = inp.bytes(len);
        if piece.is_empty() {
            continue;
        }
        for _ in 0..reps {
            if out.len() + piece.len() > cap {
                break;
            }
            out.extend_from_slice(piece);
        }
    }
    out
}

/// Cut `text` to at most `max` bytes, on a char boundary.
pub fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The inverse of [`amplify`] for building seeds: `(reps, piece)` pairs (pieces of at
/// most 255 bytes).
pub fn amplified(pieces: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (reps, piece) in pieces {
        for part in piece.chunks(255) {
            out.extend_from_slice(&reps.to_le_bytes());
            out.push(part.len() as u8);
            out.extend_from_slice(part);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Shared helpers

/// A stand-in embedder with any identity: the index loader refuses an index built with a
/// different embedder, so the `index_load` target mirrors the manifest's one to reach the
/// rest of the loader. Vectors are a deterministic byte hash (any dimension, 0 included).
#[derive(Clone)]
pub struct MirrorEmbedder {
    info: EmbedderInfo,
}

impl MirrorEmbedder {
    /// An embedder reporting `info`.
    pub fn new(info: EmbedderInfo) -> Self {
        MirrorEmbedder { info }
    }
}

impl TokenCounter for MirrorEmbedder {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

impl Embedder for MirrorEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed_batch(&self, texts: &[&str]) -> sotto::Result<Vec<Vec<f32>>> {
        let dim = self.info.dim;
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; dim];
                if dim > 0 {
                    let mut h: u32 = 2166136261;
                    for b in t.bytes() {
                        h = (h ^ u32::from(b)).wrapping_mul(16777619);
                        v[h as usize % dim] += 1.0;
                    }
                    v[0] += 1.0;
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= n);
                }
                v
            })
            .collect())
    }
}

/// Two small documents (Markdown and text) for targets that need a non-empty engine.
pub fn two_documents() -> Vec<Document> {
    vec![
        Document::new(
            "cargo.md",
            "# Cargo\n\nCargo is the Rust package manager. It downloads dependencies and builds packages.\n\n\
             ## Lock file\n\nCargo.lock records the exact versions of every dependency. It is written by cargo build.",
        )
        .with_meta("title", "Cargo"),
        Document::new(
            "paris.txt",
            "Paris is the capital of France. It lies on the Seine.\n\nThe Eiffel Tower was built in 1889 for a world fair.",
        )
        .with_meta("lang", "en"),
    ]
}

/// A fresh engine over [`two_documents`] with the hashing embedder.
pub fn small_engine(config: EngineConfig) -> sotto::Result<Engine> {
    let mut e = Engine::new(config, Box::new(HashEmbedder::new(16)));
    e.add_documents(two_documents())?;
    Ok(e)
}

/// Check every hit addresses its span of the stored document text.
fn check_hits(engine: &Engine, hits: &[sotto::SearchHit], k: usize) {
    assert!(hits.len() <= k, "{} hits for k = {k}", hits.len());
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h.rank, i + 1, "ranks are 1-based and dense");
        let doc = engine.document(&h.doc_id).unwrap_or_else(|| panic!("hit in unknown document {:?}", h.doc_id));
        assert_eq!(doc.text.get(h.start..h.end), Some(h.text.as_str()), "hit text is not its span");
    }
}

/// Search in every mode and ask extractively; results must be `Ok` or typed errors, and
/// successful results must address real spans.
fn exercise_queries(engine: &Engine, query: &str) {
    for mode in [Mode::Dense, Mode::Sparse, Mode::Hybrid] {
        let opts = SearchOptions { k: 3, mode, ..SearchOptions::default() };
        if let Ok(hits) = engine.search(query, &opts) {
            check_hits(engine, &hits, 3);
        }
    }
    if let Ok(a) = engine.ask(query, &AskOptions::default(), &|| 0.0, &mut |_| true) {
        check_answer(engine, &a);
    }
}

/// Citations of an answer resolve to spans of their documents, inside their chunks.
fn check_answer(engine: &Engine, a: &sotto::rag::answer::Answer) {
    for c in &a.citations {
        let doc = engine.document(&c.doc_id).unwrap_or_else(|| panic!("citation of unknown document {:?}", c.doc_id));
        assert_eq!(doc.text.get(c.start..c.end), Some(c.text.as_str()), "citation [{}] is not its span", c.n);
        let (chunk, _) = engine.chunk(c.chunk_id).expect("a cited chunk exists");
        assert!(c.start >= chunk.start && c.end <= chunk.end, "citation outside its chunk");
    }
    for s in &a.sentences {
        for n in &s.citations {
            assert!(a.citations.iter().any(|c| c.n == *n), "dangling citation [{n}]");
        }
    }
}

/// An exported engine must load back (with the same embedder) and export the same bytes.
fn check_round_trip(engine: &Engine, embedder: &dyn Fn() -> Box<dyn Embedder>) -> Vec<u8> {
    let bytes = engine.to_bytes().expect("a consistent engine exports");
    let back = Engine::from_bytes(&bytes, embedder()).unwrap_or_else(|e| panic!("an exported index must load: {e}"));
    let again = back.to_bytes().expect("a loaded engine exports");
    assert!(again == bytes, "export → load → export changed the bytes");
    bytes
}

// ---------------------------------------------------------------------------------------
// Target: clean_chunk

/// Token budgets the `clean_chunk` target chooses from.
const MAX_TOKENS: [usize; 4] = [8, 16, 64, 256];
/// Overlaps the `clean_chunk` target chooses from (the last exceeds every budget).
const OVERLAPS: [usize; 4] = [0, 4, 32, 300];

/// `clean_chunk`: `[flags][body]`. Flags: bits 0–1 format (text, Markdown, HTML, detect);
/// bit 2 the body is [`amplify`] segments; bits 3–4 `max_tokens`, bits 5–6 overlap; bit 7
/// also index the document in an engine (hashing embedder) and search it.
///
/// Validates the document as the engine does, then checks the cleaned block structure
/// (ordered, non-empty, on char boundaries, separated by one blank line, covering the
/// text), the chunks (in bounds, on char boundaries, equal to their span, trimmed,
/// ordered, within budget unless a single character, covering every non-space byte, and
/// holding at most [`MAX_CHUNK_BYTES_PER_TEXT_BYTE`] bytes per byte of text — overlap must
/// not multiply the work downstream) and runs the duplicate detector over them.
pub fn clean_chunk(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let format = [Some(Format::Text), Some(Format::Markdown), Some(Format::Html), None][usize::from(flags & 3)];
    let raw: Cow<[u8]> =
        if flags & 4 != 0 { Cow::Owned(amplify(inp.rest(), AMPLIFIED_MAX_BYTES)) } else { Cow::Borrowed(inp.rest()) };
    let config = ChunkConfig {
        max_tokens: MAX_TOKENS[usize::from(flags >> 3 & 3)],
        overlap_tokens: OVERLAPS[usize::from(flags >> 5 & 3)],
    };
    let mut text = String::from_utf8_lossy(&raw).into_owned();
    if flags & 4 != 0 {
        // The cap is on the document's text, not on the amplified bytes: lossy decoding
        // turns each invalid byte into a 3-byte U+FFFD, so 256 KiB of bytes could become
        // 768 KiB of text (the three `amplified-256k-through-the-engine-*` timeouts: same
        // cost per text byte as any other input, three times the text).
        truncate_at_char_boundary(&mut text, AMPLIFIED_MAX_BYTES);
    }
    let mut doc = Document::new("fuzz", text);
    doc.format = format;
    if doc.validate(&Limits::default()).is_err() {
        return;
    }
    let mut typed = doc.clone();
    typed.format = Some(doc.resolved_format());
    let Ok(cleaned) = clean(&typed, &CleanConfig::default()) else { return };
    check_blocks(&cleaned);
    let counter = HashEmbedder::new(16);
    let chunks = chunk(&cleaned, &config, &counter);
    check_chunks(&cleaned, &chunks, &config, &counter);

    let mut dedup = Deduplicator::new(DedupConfig::default());
    for (i, c) in chunks.iter().enumerate() {
        let key = format!("{}\n{}", header_line(&c.heading_path), c.text);
        let prepared = dedup.prepare(&key);
        if let DupKind::Unique = dedup.check_prepared(&prepared) {
            dedup.insert_prepared(i as u32, prepared);
        }
    }

    if flags & 0x80 != 0 {
        let config = EngineConfig { chunk: config, ..EngineConfig::default() };
        // The engine refuses a chunking it cannot honour (overlap ≥ budget) up front.
        let Ok(mut engine) = Engine::with_config(config, Box::new(HashEmbedder::new(16))) else { return };
        let before = engine.to_bytes().expect("an empty engine exports");
        match engine.add_documents(vec![doc]) {
            Ok(_) => {
                check_round_trip(&engine, &|| Box::new(HashEmbedder::new(16)));
                let query: String = cleaned.text.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
                exercise_queries(&engine, if query.is_empty() { "text" } else { &query });
            }
            Err(e) => assert!(engine.to_bytes().ok() == Some(before), "a failed add changed the engine: {e}"),
        }
    }
}

/// The block invariants of [`CleanedDoc`].
pub fn check_blocks(doc: &CleanedDoc) {
    let text = &doc.text;
    let mut prev_end = 0;
    for (i, b) in doc.blocks.iter().enumerate() {
        assert!(b.start < b.end && b.end <= text.len(), "block {i} {b:?} out of bounds (text {} bytes)", text.len());
        assert!(
            text.is_char_boundary(b.start) && text.is_char_boundary(b.end),
            "block {i} {b:?} not on char boundaries"
        );
        if i == 0 {
            assert_eq!(b.start, 0, "text before the first block");
        } else {
            assert_eq!(
                text.get(prev_end..b.start),
                Some("\n\n"),
                "blocks {} and {i} not separated by one blank line",
                i - 1
            );
        }
        prev_end = b.end;
    }
    assert_eq!(prev_end, text.len(), "text after the last block");
    // Bounded memory: each block owns its heading path, so a long heading above many
    // blocks costs heading bytes × blocks (issue 14: 0.57 MB of Markdown took 4 GB).
    let path_bytes: usize = doc.blocks.iter().map(|b| b.heading_path.iter().map(str::len).sum::<usize>()).sum();
    assert!(
        path_bytes <= MAX_HEADING_PATH_BYTES,
        "blocks hold {path_bytes} bytes of heading paths for {} bytes of text",
        text.len()
    );
}

/// The most heading-path bytes (summed over blocks) the `clean_chunk` target accepts for
/// one document; far above what real documents of the target's ≤ 256 KiB inputs need.
pub const MAX_HEADING_PATH_BYTES: usize = 64 << 20;

/// The chunk invariants documented in `ingest::chunk`.
pub fn check_chunks(doc: &CleanedDoc, chunks: &[Chunk], config: &ChunkConfig, counter: &dyn TokenCounter) {
    let text = &doc.text;
    let mut covered = vec![false; text.len()];
    let mut prev: Option<&Chunk> = None;
    for c in chunks {
        assert!(
            c.start < c.end && c.end <= text.len(),
            "chunk {}..{} out of bounds ({} bytes)",
            c.start,
            c.end,
            text.len()
        );
        assert!(
            text.is_char_boundary(c.start) && text.is_char_boundary(c.end),
            "chunk {}..{} off char boundaries",
            c.start,
            c.end
        );
        assert!(text[c.start..c.end] == c.text, "chunk text is not its span");
        assert_eq!(c.text.trim(), c.text, "chunks are trimmed");
        if let Some(p) = prev {
            assert!(
                c.start > p.start && c.end > p.end,
                "chunks out of order: {}..{} then {}..{}",
                p.start,
                p.end,
                c.start,
                c.end
            );
            assert!(c.start <= p.end || text[p.end..c.start].trim().is_empty(), "text lost between chunks");
        }
        let cost = chunk_cost(c, counter);
        let single = !c.text.contains(char::is_whitespace) && c.text.chars().count() <= 1;
        assert!(cost <= config.max_tokens || single, "chunk over budget: {cost} > {}", config.max_tokens);
        covered[c.start..c.end].iter_mut().for_each(|x| *x = true);
        prev = Some(c);
    }
    for (i, ch) in text.char_indices() {
        assert!(ch.is_whitespace() || covered[i], "byte {i} ({ch:?}) is in no chunk");
    }
    // Bounded work: everything downstream (de-duplication, embedding, BM25) is paid per
    // chunk byte, so overlap may repeat text only a small constant number of times.
    let total: usize = chunks.iter().map(|c| c.text.len()).sum();
    assert!(
        total <= MAX_CHUNK_BYTES_PER_TEXT_BYTE * text.len() + 256,
        "chunks hold {total} bytes for {} bytes of text (overlap {} of {} tokens)",
        text.len(),
        config.overlap_tokens,
        config.max_tokens
    );
}

/// The most chunk text the `clean_chunk` target accepts per byte of cleaned text.
pub const MAX_CHUNK_BYTES_PER_TEXT_BYTE: usize = 4;

// ---------------------------------------------------------------------------------------
// Target: index_load

/// Sections of an index file read leniently (lengths clamped, checksums ignored).
/// A section of an index file: (name, payload).
type Section<'a> = (&'a [u8], &'a [u8]);

fn lenient_sections(file: &[u8]) -> Option<(&[u8], Vec<Section<'_>>)> {
    if file.len() < 16 {
        return None;
    }
    let (header, body) = file.split_at(16);
    let count = u32::from_le_bytes([header[12], header[13], header[14], header[15]]).min(64);
    let mut inp = Input::new(body);
    let mut sections = Vec::new();
    for _ in 0..count {
        if inp.is_empty() {
            break;
        }
        let name_len = usize::from(inp.u8());
        let name = inp.bytes(name_len);
        let len = usize::try_from(inp.u64()).unwrap_or(usize::MAX);
        let _crc = inp.bytes(4);
        sections.push((name, inp.bytes(len)));
    }
    Some((header, sections))
}

/// Rewrite an index file with correct lengths and CRC-32s, so the fuzzer's changes inside
/// a section reach the section parsers instead of stopping at the checksum.
pub fn reseal(file: &[u8]) -> Vec<u8> {
    let Some((header, sections)) = lenient_sections(file) else { return file.to_vec() };
    let mut out = header[..12].to_vec();
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, payload) in sections {
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32(payload).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

/// CRC-32 (IEEE), bitwise: the index file's section checksum.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The embedder an index's manifest names, when it can be read and mirrored.
fn manifest_embedder(file: &[u8]) -> Option<EmbedderInfo> {
    let (_, sections) = lenient_sections(file)?;
    let (_, manifest) = sections.into_iter().find(|(n, _)| *n == b"manifest")?;
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let info: EmbedderInfo = serde_json::from_value(value.get("embedder")?.clone()).ok()?;
    (info.dim <= 1 << 16).then_some(info)
}

/// `index_load`: `[mode][index file]`. Mode bit 0: [`reseal`] the file first (fix lengths
/// and checksums). The embedder passed to the loader mirrors the manifest's (name,
/// dimension, hashes), falling back to a 16-dimensional hashing identity.
///
/// A loaded engine must export, load back and export the same bytes; every listed chunk
/// must resolve; searches and an extractive answer must be `Ok` or typed errors with
/// real spans; adding a document must either succeed (and the result round-trip) or fail
/// leaving the export unchanged; removing a document must succeed and round-trip.
pub fn index_load(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else { return };
    let bytes: Cow<[u8]> = if mode & 1 == 1 { Cow::Owned(reseal(file)) } else { Cow::Borrowed(file) };
    let info = manifest_embedder(&bytes).unwrap_or_else(|| HashEmbedder::new(16).info().clone());
    let make = move || -> Box<dyn Embedder> { Box::new(MirrorEmbedder::new(info.clone())) };
    let Ok(mut engine) = Engine::from_bytes(&bytes, make()) else { return };

    let exported = check_round_trip(&engine, &make);
    let ids: Vec<String> = engine.document_ids().map(str::to_owned).collect();
    assert_eq!(ids.len(), engine.stats().documents);
    // Chunks, documents and vectors correspond one to one: each chunk is listed by exactly
    // one document and has exactly one vector.
    let mut listed = std::collections::HashSet::new();
    for id in &ids {
        let doc = engine.document(id).expect("a listed document exists");
        for &c in &doc.chunks {
            assert!(listed.insert(c), "chunk {c} is listed twice");
            let (record, text) = engine.chunk(c).unwrap_or_else(|| panic!("chunk {c} of {id:?} does not resolve"));
            assert_eq!(&record.doc_id, id);
            assert_eq!(doc.text.get(record.start..record.end), Some(text));
            assert!(engine.dense_index().contains(c), "chunk {c} of {id:?} has no vector");
        }
    }
    assert_eq!(listed.len(), engine.stats().chunks, "chunks that belong to no document");
    assert_eq!(engine.dense_index().len(), listed.len(), "vectors that belong to no chunk");
    exercise_queries(&engine, "cargo index format");

    let added = Document::new("fuzz-added.md", "# Added\n\nA new document about cargo, indexes and checksums.");
    match engine.add_documents(vec![added]) {
        Ok(_) => {
            check_round_trip(&engine, &make);
        }
        Err(e) => assert!(engine.to_bytes().ok() == Some(exported), "a failed add changed a loaded engine: {e}"),
    }
    if let Some(first) = ids.first() {
        engine.remove_documents(&[first.as_str()]).expect("removing a listed document succeeds");
        check_round_trip(&engine, &make);
        exercise_queries(&engine, "cargo");
    }
}

// ---------------------------------------------------------------------------------------
// Target: gguf_load (and the tiny GGUF files of the seeds and of the `options` target)

/// Hidden size of the tiny models.
pub const TINY_E: usize = 32;

fn u32v(v: usize) -> Value {
    Value::U32(v as u32)
}

fn string_array<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.as_ref().to_owned())).collect())
}

/// Write a GGUF (`sotto::generate::testing`): metadata and tensors of the given shapes.
/// Matrices whose rows hold an even number of 32-value blocks are Q4_1 (requantized on
/// load), other whole-block rows Q8_0 (candle's Q4_1 dot product `debug_assert!`s an even
/// block count, which would fail the debug-build replays in tests/), the rest F32.
pub fn write_gguf(metadata: &[(String, Value)], tensors: &[(String, Vec<usize>)]) -> Vec<u8> {
    let ts: Vec<TestTensor<'_>> = tensors
        .iter()
        .map(|(name, shape)| {
            let dtype = match shape.as_slice() {
                [_, cols] if cols % 64 == 0 => GgmlDType::Q4_1,
                [_, cols] if cols % 32 == 0 => GgmlDType::Q8_0,
                _ => GgmlDType::F32,
            };
            TestTensor::new(name, shape, dtype)
        })
        .collect();
    let md: Vec<(&str, Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    sotto::generate::testing::write_gguf(&md, &ts).expect("gguf write")
}

/// GPT-2's byte → printable character table (the byte-level BPE alphabet).
pub fn byte_level_alphabet() -> Vec<char> {
    let mut extra = 0u32;
    (0..256u32)
        .map(|b| {
            let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
            let c = if printable {
                b
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(c).unwrap_or('?')
        })
        .collect()
}

/// Tokenizer metadata of a small byte-level BPE vocabulary (three control tokens, the 256
/// byte characters, a few merges).
pub fn byte_level_tokenizer() -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].map(String::from).to_vec();
    tokens.extend(byte_level_alphabet().iter().map(char::to_string));
    tokens.extend(["Ġt", "he", "Ġthe", "Ġc", "at"].map(String::from));
    let mut types = vec![Value::I32(3); 3];
    types.extend(std::iter::repeat_n(Value::I32(1), tokens.len() - 3));
    vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), string_array(&tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), string_array(&["Ġ t", "h e", "Ġt he", "Ġ c", "a t"])),
        ("tokenizer.ggml.bos_token_id".into(), u32v(1)),
        ("tokenizer.ggml.eos_token_id".into(), u32v(2)),
        (
            "tokenizer.chat_template".into(),
            Value::String(
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                 {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
                    .into(),
            ),
        ),
    ]
}

/// Tokenizer metadata of a small SentencePiece vocabulary without merges (they are derived
/// from the scores): unknown, BOS, EOS, 256 byte tokens, a few pieces.
pub fn sentencepiece_tokenizer(with_merges: bool) -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut types = vec![Value::I32(2), Value::I32(3), Value::I32(3)];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(Value::I32(6));
    }
    for t in ["▁", "h", "e", "l", "o", "t", "c", "a", "he", "ll", "▁he", "▁hell", "▁hello", "hell", "▁the", "▁c", "at"]
    {
        tokens.push(t.into());
        types.push(Value::I32(1));
    }
    let scores: Vec<Value> = (0..tokens.len()).map(|i| Value::F32(-(i as f32))).collect();
    let mut md = vec![
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.tokens".into(), string_array(&tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.scores".into(), Value::Array(scores)),
        ("tokenizer.ggml.bos_token_id".into(), u32v(1)),
        ("tokenizer.ggml.eos_token_id".into(), u32v(2)),
        ("tokenizer.ggml.unknown_token_id".into(), u32v(0)),
    ];
    if with_merges {
        md.push(("tokenizer.ggml.merges".into(), string_array(&["h e", "l l", "▁ he", "he ll", "▁he ll"])));
    }
    md
}

/// Number of tokens in `tokenizer.ggml.tokens` of a metadata list.
fn vocab_len(tokenizer: &[(String, Value)]) -> usize {
    tokenizer
        .iter()
        .find(|(k, _)| k == "tokenizer.ggml.tokens")
        .and_then(|(_, v)| match v {
            Value::Array(a) => Some(a.len()),
            _ => None,
        })
        .unwrap_or(0)
}

/// A tiny `llama` GGUF (hidden size 32, `blocks` blocks, 4 heads, 2 KV heads) with the
/// given tokenizer metadata; the embedding table has one row per token.
pub fn tiny_llama(tokenizer: Vec<(String, Value)>, blocks: usize) -> Vec<u8> {
    let (e, kv, hd, ff) = (TINY_E, 2, TINY_E / 4, 64);
    let vocab = vocab_len(&tokenizer).max(1);
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.name".into(), Value::String("tiny-llama".into())),
        ("llama.embedding_length".into(), u32v(e)),
        ("llama.attention.head_count".into(), u32v(4)),
        ("llama.attention.head_count_kv".into(), u32v(kv)),
        ("llama.block_count".into(), u32v(blocks)),
        ("llama.rope.dimension_count".into(), u32v(hd)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
        ("llama.context_length".into(), u32v(64)),
    ];
    md.extend(tokenizer);
    let mut ts = vec![("token_embd.weight".to_string(), vec![vocab, e]), ("output_norm.weight".into(), vec![e])];
    for i in 0..blocks {
        let p = format!("blk.{i}");
        ts.extend([
            (format!("{p}.attn_q.weight"), vec![e, e]),
            (format!("{p}.attn_k.weight"), vec![kv * hd, e]),
            (format!("{p}.attn_v.weight"), vec![kv * hd, e]),
            (format!("{p}.attn_output.weight"), vec![e, e]),
            (format!("{p}.ffn_gate.weight"), vec![ff, e]),
            (format!("{p}.ffn_up.weight"), vec![ff, e]),
            (format!("{p}.ffn_down.weight"), vec![e, ff]),
            (format!("{p}.attn_norm.weight"), vec![e]),
            (format!("{p}.ffn_norm.weight"), vec![e]),
        ]);
    }
    write_gguf(&md, &ts)
}

/// The tiny llama with the byte-level tokenizer, built once (the `options` target's
/// generator).
pub fn tiny_llama_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| tiny_llama(byte_level_tokenizer(), 1))
}

/// Largest vocabulary the synthesized-tokenizer mode builds (each token costs an
/// embedding row).
const SYNTH_MAX_TOKENS: usize = 2048;
/// Largest token the synthesized-tokenizer mode builds by repetition.
const SYNTH_MAX_TOKEN_BYTES: usize = 1 << 18;

/// Tokenizer metadata decoded from fuzzer bytes: `[flags][repeat: u16][types_len: u8]
/// [types][lines separated by b'\n']`. Flags: bits 0–1 the model (`gpt2`, `llama`, `t5`,
/// an unknown one); bit 2 lines holding a space are merges (`"a b"`), the others tokens
/// (without it every line is a token and there is no merge list); bit 3 scores all zero;
/// bit 4 add `bos`/`eos` ids from the types bytes; bit 5 repeat the last token `repeat`
/// times (a long token); bit 6 `add_bos_token`.
pub fn synth_tokenizer(inp: &mut Input<'_>) -> Vec<(String, Value)> {
    let flags = inp.u8();
    let repeat = usize::from(inp.u16());
    let types_len = usize::from(inp.u8());
    let types = inp.bytes(types_len).to_vec();
    let with_merges = flags & 4 != 0;
    let (merges, mut tokens): (Vec<String>, Vec<String>) = inp
        .rest()
        .split(|&b| b == b'\n')
        .take(SYNTH_MAX_TOKENS)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .partition(|line| with_merges && line.contains(' '));
    if flags & 0x20 != 0 {
        if let Some(last) = tokens.last_mut() {
            let n = repeat.min(SYNTH_MAX_TOKEN_BYTES / last.len().max(1));
            *last = last.repeat(n.max(1));
        }
    }
    let model = ["gpt2", "llama", "t5", "bpe"][usize::from(flags & 3)];
    let type_of = |i: usize| if types.is_empty() { 1 } else { i32::from(types[i % types.len()] % 7) };
    let mut md = vec![
        ("tokenizer.ggml.model".into(), Value::String(model.into())),
        ("tokenizer.ggml.tokens".into(), string_array(&tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array((0..tokens.len()).map(|i| Value::I32(type_of(i))).collect())),
    ];
    let zero = flags & 8 != 0;
    md.push((
        "tokenizer.ggml.scores".into(),
        Value::Array((0..tokens.len()).map(|i| Value::F32(if zero { 0.0 } else { -(i as f32) })).collect()),
    ));
    if with_merges {
        md.push(("tokenizer.ggml.merges".into(), string_array(&merges)));
    }
    if flags & 0x10 != 0 {
        let id = |k: usize| u32v(types.get(k).map_or(0, |&b| usize::from(b)));
        md.push(("tokenizer.ggml.bos_token_id".into(), id(0)));
        md.push(("tokenizer.ggml.eos_token_id".into(), id(1)));
        md.push(("tokenizer.ggml.unknown_token_id".into(), id(2)));
    }
    md.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(flags & 0x40 != 0)));
    md
}

/// `gguf_load`: `[flags][text_len: u8][text][rest]`. Flags: bit 0 requantize to Q8_0;
/// bits 1–2 `max_context` (1, 16, 64, 4096); bit 3 use `text` as the chat template
/// override; bit 4 `rest` is not a GGUF but a [`synth_tokenizer`] description, built into
/// a tiny llama GGUF with one embedding row per token.
///
/// `load_gguf` must return a generator or a typed error. A loaded generator must report a
/// context within `max_context`, encode `text` to ids inside its vocabulary, decode them,
/// render a chat, and run a short generation without panicking.
pub fn gguf_load(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let text_len = usize::from(inp.u8());
    let text = String::from_utf8_lossy(inp.bytes(text_len)).into_owned();
    let max_context = [1, 16, 64, 4096][usize::from(flags >> 1 & 3)];
    let opts = LoadOptions {
        requantize_to_q8_0: flags & 1 != 0,
        max_context,
        chat_template: (flags & 8 != 0).then(|| text.clone()),
    };
    let bytes: Cow<[u8]> = if flags & 0x10 != 0 {
        Cow::Owned(tiny_llama(synth_tokenizer(&mut inp), 1))
    } else {
        Cow::Borrowed(inp.rest())
    };
    let Ok(mut g) = load_gguf(&bytes, &opts) else { return };
    exercise_generator(g.as_mut(), &text, max_context);
}

/// Use a loaded generator the way `chat` and `ask` do.
fn exercise_generator(g: &mut dyn Generator, text: &str, max_context: usize) {
    let info = g.info().clone();
    assert!(g.context_len() <= max_context, "context {} over max_context {max_context}", g.context_len());
    let vocab = g.tokenizer().vocab_size();
    assert_eq!(info.vocab_size, vocab);
    for add_special in [false, true] {
        if let Ok(ids) = g.tokenizer().encode(text, add_special) {
            assert!(ids.iter().all(|&i| (i as usize) < vocab), "token id outside the vocabulary of {vocab}");
            let _ = g.tokenizer().decode(&ids);
        }
    }
    for id in 0..vocab.min(300) as u32 {
        let _ = (g.tokenizer().token_text(id), g.tokenizer().piece_bytes(id), g.tokenizer().is_control(id));
    }
    let _ = g.count_tokens(text);
    let _ = g.render_chat(&[ChatMessage::user(text)]);
    let opts = GenerationOptions { max_new_tokens: 3, ..GenerationOptions::default() };
    let prompt = if text.trim().is_empty() { "the cat" } else { text };
    if g.start(Prompt::Text(prompt), &opts).is_ok() {
        for _ in 0..8 {
            match g.next_token() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        assert!(g.stats().generated_tokens <= 3, "more tokens than max_new_tokens");
    }
}

// ---------------------------------------------------------------------------------------
// Target: embedder_load

/// `embedder_load`: `[flags][weights_len: u24][weights][tokenizer_len: u24][tokenizer.json]
/// [config.json = rest]`. Flags: bit 0 CLS pooling; bit 1 no normalisation; bits 2–3
/// `max_tokens` (256, 3, 16, 100 000); bits 4–5 `batch_size` (16, 1, 2, 1000).
///
/// A loaded embedder must return one vector of its dimension per text. It is then used by
/// an engine: adding documents must succeed or leave the engine's export unchanged, and a
/// successful engine must round-trip through its export.
pub fn embedder_load(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.u8();
    let n = inp.u24();
    let weights = inp.bytes(n);
    let n = inp.u24();
    let tokenizer = inp.bytes(n);
    let config = inp.rest();
    let options = BertOptions {
        pooling: if flags & 1 != 0 { Pooling::Cls } else { Pooling::Mean },
        normalize: flags & 2 == 0,
        max_tokens: [256, 3, 16, 100_000][usize::from(flags >> 2 & 3)],
        batch_size: [16, 1, 2, 1000][usize::from(flags >> 4 & 3)],
        ..BertOptions::default()
    };
    let Ok(embedder) = BertEmbedder::from_bytes_with("fuzz-bert", weights, tokenizer, config, options.clone()) else {
        return;
    };
    let dim = embedder.info().dim;
    assert!(embedder.info().max_tokens <= options.max_tokens);
    let texts =
        ["The cat sat on the mat.", "", "le chat est ici, é", "the dog the dog the dog the dog the dog the dog"];
    if let Ok(vectors) = embedder.embed_batch(&texts) {
        assert_eq!(vectors.len(), texts.len(), "one vector per text");
        assert!(vectors.iter().all(|v| v.len() == dim), "vectors of the embedder's dimension");
    }
    let _ = embedder.token_ids(texts[0]);
    let _ = embedder.count_tokens(texts[3]);

    // The engine path (what `loadEmbedder` then `addDocuments` do in the browser).
    let weights_copy = weights.to_vec();
    let tokenizer_copy = tokenizer.to_vec();
    let config_copy = config.to_vec();
    let make = move || -> Box<dyn Embedder> {
        Box::new(
            BertEmbedder::from_bytes_with("fuzz-bert", &weights_copy, &tokenizer_copy, &config_copy, options.clone())
                .expect("the same bytes load again"),
        )
    };
    let config = EngineConfig { chunk: ChunkConfig { max_tokens: 12, overlap_tokens: 2 }, ..EngineConfig::default() };
    let mut engine = Engine::new(config, Box::new(embedder));
    let empty = engine.to_bytes().expect("an empty engine exports");
    match engine.add_documents(two_documents()) {
        Err(e) => assert!(engine.to_bytes().ok() == Some(empty), "a failed add changed the engine: {e}"),
        Ok(_) => {
            let saved = check_round_trip(&engine, &make);
            exercise_queries(&engine, "the cat");
            let replacement = Document::new("cargo.md", "# Cargo\n\nThe cat sat on the mat. The dog sat on a mat, é.");
            if let Err(e) = engine.add_documents(vec![replacement]) {
                assert!(engine.to_bytes().ok() == Some(saved), "a failed replace changed the engine: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Target: dataset

/// Reader buffer sizes the `dataset` target chooses from (small ones put line ends and
/// UTF-8 sequences across buffer refills).
const BUF_CAPACITIES: [usize; 4] = [8192, 1, 7, 64];

fn reader(bytes: &[u8], capacity: usize) -> BufReader<&[u8]> {
    BufReader::with_capacity(capacity, bytes)
}

/// `dataset`: `[flags][rest]`. Flags: bits 0–2 the reader (JSONL questions; JSONL
/// questions with a line bound from the next byte; BEIR corpus; BEIR queries; BEIR qrels;
/// the live evaluation's dataset reader with BEIR queries and qrels split at the first
/// NUL byte; the same for JSONL with a byte bound); bit 3 skip bad lines; bits 4–5 reader
/// buffer size.
///
/// Every reader must return a dataset or a typed error; the result must not depend on the
/// buffer size; successful results must hold their documented invariants (non-empty
/// unique ids, non-empty relevant documents and bodies).
pub fn dataset(data: &[u8]) {
    use sotto::eval::beir::{read_corpus, read_qrels, read_queries};
    use sotto::eval::dataset::{read_jsonl, QuestionReader};
    use sotto::eval::live::{read_dataset, DatasetBytes};

    let mut inp = Input::new(data);
    let flags = inp.u8();
    let skip_bad = flags & 8 != 0;
    let cap = BUF_CAPACITIES[usize::from(flags >> 4 & 3)];
    let kind = flags & 7;
    let line_bound = if kind == 1 || kind == 6 { usize::from(inp.u16()) } else { 0 };
    let rest = inp.rest();
    let same = |a: String, b: String, what: &str| assert!(a == b, "{what}: the result depends on the buffer size");
    match kind {
        0 => {
            let got = read_jsonl(reader(rest, cap), skip_bad);
            if let Ok(ds) = &got {
                check_dataset(ds, skip_bad);
            }
            same(format!("{got:?}"), format!("{:?}", read_jsonl(rest, skip_bad)), "read_jsonl");
        }
        1 => {
            let mut it = QuestionReader::with_max_line_bytes(reader(rest, cap), line_bound);
            let mut n = 0usize;
            while let Some(item) = it.next() {
                if let Ok(q) = item {
                    // An empty `relevant_docs` is an out-of-scope question (legal); a blank id is not.
                    assert!(!q.id.trim().is_empty(), "blank question id");
                    assert!(q.relevant_docs.iter().all(|d| !d.trim().is_empty()), "blank relevant id in {:?}", q.id);
                }
                n += 1;
                assert!(n <= rest.len() + 1, "more items than lines");
                if it.failed() {
                    break;
                }
            }
        }
        2 => {
            let got = read_corpus(reader(rest, cap), skip_bad);
            if let Ok(c) = &got {
                assert!(!c.documents.is_empty());
                let mut ids = std::collections::HashSet::new();
                for d in &c.documents {
                    assert!(ids.insert(d.id.as_str()), "duplicate corpus id {:?}", d.id);
                    assert!(!d.body.trim().is_empty(), "empty corpus body");
                }
            }
            let a = got.map(|c| (c.documents, c.skipped));
            let b = read_corpus(rest, skip_bad).map(|c| (c.documents, c.skipped));
            same(format!("{a:?}"), format!("{b:?}"), "read_corpus");
        }
        3 => {
            let a = read_queries(reader(rest, cap), skip_bad).map(|q| (q.queries, q.skipped));
            let b = read_queries(rest, skip_bad).map(|q| (q.queries, q.skipped));
            same(format!("{a:?}"), format!("{b:?}"), "read_queries");
        }
        4 => {
            let a = read_qrels(reader(rest, cap), skip_bad).map(|q| (q.judgments, q.skipped));
            let b = read_qrels(rest, skip_bad).map(|q| (q.judgments, q.skipped));
            same(format!("{a:?}"), format!("{b:?}"), "read_qrels");
        }
        5 => {
            let cut = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (queries, qrels) = (&rest[..cut], rest.get(cut + 1..).unwrap_or_default());
            if let Ok(ds) = read_dataset(DatasetBytes::Beir { queries, qrels }, skip_bad, 64 << 20) {
                assert!(!ds.questions.is_empty());
                for q in &ds.questions {
                    assert!(!q.relevant_docs.is_empty());
                }
            }
        }
        _ => {
            if let Ok(ds) = read_dataset(DatasetBytes::Jsonl(rest), skip_bad, line_bound) {
                assert!(rest.len() <= line_bound, "a dataset over max_bytes was read");
                check_dataset(&ds, skip_bad);
            }
        }
    }
}

fn check_dataset(ds: &sotto::eval::dataset::Dataset, skip_bad: bool) {
    assert!(!ds.questions.is_empty(), "a dataset without questions is an error");
    assert!(skip_bad || ds.skipped.is_empty(), "lines skipped without skip_bad");
    let mut ids = std::collections::HashSet::new();
    for q in &ds.questions {
        assert!(ids.insert(q.id.as_str()), "duplicate question id {:?}", q.id);
        // An empty `relevant_docs` is an out-of-scope question (legal); a blank id in it is not.
        assert!(!q.id.trim().is_empty() && !q.question.trim().is_empty());
        assert!(q.relevant_docs.iter().all(|d| !d.trim().is_empty()), "blank relevant id in {:?}", q.id);
    }
}

// ---------------------------------------------------------------------------------------
// Target: options

/// Option names (core serde names and the JS adapter's camelCase ones) the JSON generator
/// prefers as object keys.
const KEYS: &[&str] = &[
    "k",
    "mode",
    "fusion",
    "kind",
    "rrf_k",
    "alpha",
    "filters",
    "op",
    "key",
    "value",
    "values",
    "prefix",
    "limits",
    "max_document_bytes",
    "max_id_bytes",
    "clean",
    "max_word_chars",
    "chunk",
    "max_tokens",
    "overlap_tokens",
    "dedup",
    "exact",
    "near",
    "near_threshold",
    "shingle_words",
    "dense",
    "hnsw_threshold",
    "ef_construction",
    "ef_search",
    "seed",
    "bm25",
    "k1",
    "b",
    "embed_batch",
    "query_prefix",
    "passage_prefix",
    "max_query_bytes",
    "fusion_candidates",
    "search",
    "max_sentences",
    "max_candidates",
    "abstain_below",
    "relative_cutoff",
    "context_budget_tokens",
    "support_threshold",
    "strict",
    "max_new_tokens",
    "generation",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "repeat_last_n",
    "loop_guard_ngram",
    "stop_strings",
    "requantize_to_q8_0",
    "max_context",
    "chat_template",
    "name",
    "modes",
    "ks",
    "grid",
    "answers",
    "skip_bad",
    "max_dataset_bytes",
    "details",
    "id",
    "body",
    "format",
    "metadata",
    "title",
    "lang",
    "language",
    "maxNewTokens",
    "rrfK",
];

/// String values the generator prefers.
const STRINGS: &[&str] = &[
    "dense",
    "sparse",
    "hybrid",
    "bm25",
    "rrf",
    "weighted",
    "equals",
    "oneof",
    "prefix",
    "extractive",
    "generative",
    "text",
    "markdown",
    "html",
    "id",
    "title",
    "cargo.md",
    "paris.txt",
    "en",
    "fr",
    "",
    " ",
    "Cargo",
    "{{ x }}",
    "{% for m in messages %}{{ m.content }}{% endfor %}",
    "query: ",
    "<|im_end|>",
    "\u{0}",
    "é",
];

/// Numbers the generator prefers: boundaries of every numeric option.
const NUMBERS: &[f64] = &[
    0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    3.0,
    5.0,
    8.0,
    60.0,
    100.0,
    256.0,
    1024.0,
    4096.0,
    65536.0,
    1e6,
    1e9,
    4294967295.0,
    4294967296.0,
    9007199254740992.0,
    1.8446744073709552e19,
    -9.223372036854776e18,
    1e30,
    3.5e38,
    1e39,
    1e300,
    -1e300,
    1e-40,
    1e-300,
    0.99,
    1.5,
    -0.0,
];

/// A JSON value decoded from fuzzer bytes, biased toward option names and boundary values.
pub fn json_value(inp: &mut Input<'_>, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    let tag = inp.u8();
    match tag % 12 {
        0 => J::Null,
        1 => J::Bool(tag & 0x80 != 0),
        2 => J::from(i64::from(inp.u8() as i8)),
        3 | 4 => serde_json::Number::from_f64(inp.pick(NUMBERS)).map_or(J::Null, J::Number),
        5 => J::from(inp.u64()),
        6 => serde_json::Number::from_f64(f64::from_bits(inp.u64())).map_or(J::Null, J::Number),
        7 => J::String(inp.pick(STRINGS).to_owned()),
        8 => {
            let n = usize::from(inp.u8() % 32);
            J::String(String::from_utf8_lossy(inp.bytes(n)).into_owned())
        }
        9 if depth < 6 => {
            let n = usize::from(inp.u8() % 6);
            J::Array((0..n).map(|_| json_value(inp, depth + 1)).collect())
        }
        _ if depth < 6 => json_object(inp, depth + 1),
        _ => J::Null,
    }
}

/// A JSON object whose keys are mostly option names.
pub fn json_object(inp: &mut Input<'_>, depth: usize) -> serde_json::Value {
    let n = usize::from(inp.u8() % 8);
    let mut map = serde_json::Map::new();
    for _ in 0..n {
        let key = if inp.u8() % 8 == 0 {
            let n = usize::from(inp.u8() % 16);
            String::from_utf8_lossy(inp.bytes(n)).into_owned()
        } else {
            inp.pick(KEYS).to_owned()
        };
        let value = json_value(inp, depth);
        map.insert(key, value);
    }
    serde_json::Value::Object(map)
}

/// `options`: `[kind][style][rest]`. Style bit 0: `rest` is JSON text as is; otherwise the
/// JSON is generated from `rest` by [`json_object`]. Kind (mod 8): `EngineConfig`,
/// `SearchOptions`, `AskOptions`, `GenerationOptions`, `LoadOptions`, `LiveEvalOptions`,
/// a filter list, a document list — decoded with `serde_json` from the bytes, as the
/// adapters decode what a page passes (the wasm adapter through serde-wasm-bindgen).
///
/// Decoded options are then used on a small engine (hashing embedder, two documents;
/// the tiny llama for generation): every call must return `Ok` or a typed error, and an
/// engine built from a decoded configuration must export and load back.
pub fn options(data: &[u8]) {
    let mut inp = Input::new(data);
    let kind = inp.u8() % 8;
    let style = inp.u8();
    let json: Cow<[u8]> = if style & 1 != 0 {
        Cow::Borrowed(inp.rest())
    } else {
        Cow::Owned(serde_json::to_vec(&json_object(&mut inp, 0)).expect("a JSON value serializes"))
    };
    let json = json.as_ref();
    match kind {
        0 => {
            let Ok(config) = serde_json::from_slice::<EngineConfig>(json) else { return };
            // An unchecked configuration may build an engine, but never an index file the
            // loader refuses: export validates it too.
            let unchecked = Engine::new(config.clone(), Box::new(HashEmbedder::new(16)));
            if config.validate().is_err() {
                assert!(unchecked.to_bytes().is_err(), "an invalid configuration was exported");
                return;
            }
            let mut engine = Engine::with_config(config, Box::new(HashEmbedder::new(16))).expect("validated");
            if engine.add_documents(two_documents()).is_ok() {
                engine.build_hnsw();
            }
            exercise_queries(&engine, "cargo lock file");
            check_round_trip(&engine, &|| Box::new(HashEmbedder::new(16)));
        }
        1 => {
            let Ok(opts) = serde_json::from_slice::<SearchOptions>(json) else { return };
            let engine = small_engine(EngineConfig::default()).expect("the small engine builds");
            for query in ["cargo lock file", "paris"] {
                if let Ok(hits) = engine.search(query, &opts) {
                    check_hits(&engine, &hits, opts.k);
                }
            }
        }
        2 => {
            let Ok(opts) = serde_json::from_slice::<AskOptions>(json) else { return };
            let mut engine = small_engine(EngineConfig::default()).expect("the small engine builds");
            if let Ok(a) = engine.ask("Which file records the versions?", &opts, &|| 0.0, &mut |_| true) {
                check_answer(&engine, &a);
            }
            if let Ok(g) = load_gguf(tiny_llama_bytes(), &LoadOptions::default()) {
                engine.set_generator(g);
                if let Ok(a) = engine.ask("Which file records the versions?", &opts, &|| 0.0, &mut |_| true) {
                    check_answer(&engine, &a);
                }
            }
        }
        3 => {
            let Ok(opts) = serde_json::from_slice::<GenerationOptions>(json) else { return };
            if opts.validate().is_err() {
                return;
            }
            let mut g = load_gguf(tiny_llama_bytes(), &LoadOptions::default()).expect("the tiny llama loads");
            if g.start(Prompt::Chat(&[ChatMessage::user("the cat")]), &opts).is_ok() {
                // Prompt plus max_new_tokens fit the context (start checks it), so the
                // generation ends within context_len steps.
                let mut ended = false;
                for _ in 0..=g.context_len() {
                    if !matches!(g.next_token(), Ok(Some(_))) {
                        ended = true;
                        break;
                    }
                }
                assert!(ended, "generation did not end within the context");
            }
        }
        4 => {
            let Ok(opts) = serde_json::from_slice::<LoadOptions>(json) else { return };
            if let Ok(mut g) = load_gguf(tiny_llama_bytes(), &opts) {
                exercise_generator(g.as_mut(), "the cat", opts.max_context);
            }
        }
        5 => {
            use sotto::eval::live::{evaluate_live, DatasetBytes, LiveEvalOptions};
            let Ok(opts) = serde_json::from_slice::<LiveEvalOptions>(json) else { return };
            let engine = small_engine(EngineConfig::default()).expect("the small engine builds");
            let ds = br#"{"id":"q1","question":"Which file records the exact versions?","relevant_docs":["cargo.md"],"answers":["Cargo.lock"]}"#;
            let _ = evaluate_live(&engine, DatasetBytes::Jsonl(ds), &opts, &|| 0.0, &mut |_| true);
        }
        6 => {
            let Ok(filters) = serde_json::from_slice::<Vec<Filter>>(json) else { return };
            let engine = small_engine(EngineConfig::default()).expect("the small engine builds");
            let opts = SearchOptions { filters, ..SearchOptions::default() };
            if let Ok(hits) = engine.search("cargo", &opts) {
                check_hits(&engine, &hits, opts.k);
            }
        }
        _ => {
            let Ok(docs) = serde_json::from_slice::<Vec<Document>>(json) else { return };
            let mut engine = small_engine(EngineConfig::default()).expect("the small engine builds");
            let before = engine.to_bytes().expect("the small engine exports");
            match engine.add_documents(docs) {
                Ok(_) => {
                    check_round_trip(&engine, &|| Box::new(HashEmbedder::new(16)));
                }
                Err(e) => assert!(engine.to_bytes().ok() == Some(before), "a failed add changed the engine: {e}"),
            }
            exercise_queries(&engine, "cargo");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Target: sentences

/// Whether `s` still holds a citation marker `[n]` / `[n, m]` as `strip_markers` removes
/// them.
pub fn has_marker(s: &str) -> bool {
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find(']') {
            let inner = &after[..close];
            if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit() || c == ',' || c == ' ') {
                return true;
            }
        }
        rest = after;
    }
    false
}

/// `sentences`: `[base: u8][text]`. Splits the text into sentences (spans offset by
/// `base`), scores them against each other with the attribution helpers, numbers them in
/// a citation table, builds a generation prompt from them and strips citation markers.
///
/// Spans must be ordered, in bounds, on char boundaries, trimmed and hold a letter or
/// digit; scores must be finite and in [0, 1]; citation numbers stable per span; the
/// prompt must hold exactly one source fence and no chat-control markup from the text;
/// stripped text must hold no citation marker.
pub fn sentences(data: &[u8]) {
    let mut inp = Input::new(data);
    let base = usize::from(inp.u8()) * 1000;
    let text = String::from_utf8_lossy(inp.rest()).into_owned();
    let spans = split_sentences(&text, base);
    let mut prev_end = base;
    let mut table = CitationTable::default();
    let mut sources = Vec::new();
    for (i, &(s, e)) in spans.iter().enumerate() {
        assert!(s >= prev_end && s < e && e <= base + text.len(), "span {s}..{e} out of order or bounds");
        let (ls, le) = (s - base, e - base);
        assert!(text.is_char_boundary(ls) && text.is_char_boundary(le), "span {s}..{e} off char boundaries");
        let sentence = &text[ls..le];
        assert_eq!(sentence.trim(), sentence, "sentences are trimmed");
        assert!(sentence.chars().any(char::is_alphanumeric), "a sentence without a letter or digit");
        let _ = needs_context(sentence);
        let source = SourceSentence {
            chunk_id: 0,
            doc_id: "fuzz".into(),
            chunk_rank: 1,
            start: s,
            end: e,
            text: sentence.to_owned(),
            index_in_chunk: i,
        };
        let n = table.cite(&source, None, &[]);
        assert_eq!(n, i + 1, "a new span gets the next number");
        assert_eq!(table.cite(&source, Some("t"), &[]), n, "citation numbers are stable per span");
        sources.push(sentence);
        prev_end = e;
    }
    assert_eq!(table.citations.len(), spans.len());

    let mid = (0..=text.len() / 2).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let (question, answer) = text.split_at(mid);
    for lang in [Language::English, Language::French, Language::Other] {
        let q = content_terms(question, lang);
        let a = content_terms(answer, lang);
        let whole = content_terms(&text, lang);
        let ev = lexical_evidence(&a, &q);
        assert!(ev.is_finite() && (0.0..=1.0).contains(&ev), "lexical evidence {ev} outside [0, 1]");
        if let Some(s) = support(&a, &whole, &q) {
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "support {s} outside [0, 1]");
        }
    }
    let _ = is_degenerate(&text);

    let prompt = build_prompt(question, sources.iter().copied());
    assert_eq!(prompt.matches("<sources>").count(), 1, "a source opened another fence");
    assert_eq!(prompt.matches("</sources>").count(), 1, "a source closed the fence");
    assert!(!prompt.contains("<|") && !prompt.contains("|>"), "chat-control markup reached the prompt");
    let stripped = strip_markers(&text);
    assert!(!has_marker(&stripped), "a citation marker survived strip_markers: {stripped:?}");
}

// ---------------------------------------------------------------------------------------
// Replaying inputs

/// A target's entry point by name.
pub fn entry_point(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "clean_chunk" => clean_chunk,
        "index_load" => index_load,
        "gguf_load" => gguf_load,
        "embedder_load" => embedder_load,
        "dataset" => dataset,
        "options" => options,
        "sentences" => sentences,
        _ => return None,
    })
}

/// The names of every target.
pub const TARGETS: [&str; 7] =
    ["clean_chunk", "index_load", "gguf_load", "embedder_load", "dataset", "options", "sentences"];

//! Token-aware chunking along headings → paragraphs → sentences.
//!
//! # Design
//!
//! A chunk must fit the embedder's input (BERT-family models see at most 256–512
//! tokens; all-MiniLM-L6-v2 was trained on 256), *including* the contextual header line
//! (`heading_path.join(" > ")`) the engine prepends and the two special tokens
//! (`[CLS]`, `[SEP]`). The budget of a chunk is therefore
//!
//! ```text
//! tokens(chunk text) + tokens(header line) + 2 <= max_tokens
//! ```
//!
//! Splitting is recursive in the usual order of document structure (as in the
//! "recursive character splitter" of common RAG toolkits, but counted in real tokens):
//!
//! 1. The cleaned text is cut into **units** once: sentences of prose blocks (Unicode
//!    sentence boundaries, UAX #29), lines of code blocks and table rows. A unit longer
//!    than the budget is cut at whitespace into runs of words, and a single word longer
//!    than the budget (only possible when `max_word_chars` is large) at char
//!    boundaries, as a last resort. Every unit is counted with the [`TokenCounter`]
//!    exactly once; a chunk's size is the sum of its units, so packing is linear in
//!    the text, not quadratic.
//! 2. Units are packed greedily. A new chunk starts **at a heading** when possible: always
//!    before an `h1` (so a page inside an aggregate like the Cargo Book's `print.html`
//!    is chunked exactly as the page alone, and its chunks dedup as exact copies), and
//!    before a deeper heading when its section (with subsections) would not fit in
//!    what is left or the chunk is already half full; small sections are merged. A
//!    heading directly followed by a deeper one stays with it (no heading-only
//!    chunks). A paragraph that would not fit into a chunk already half full starts
//!    the next chunk instead of being split.
//! 3. **Overlap**: when a chunk ends inside a section, the next one starts with up to
//!    `overlap_tokens` of the previous chunk's trailing sentences — or trailing words of
//!    its last sentence — so a fact cut in two is still whole in one chunk. No overlap is
//!    carried across a heading. The overlap is capped at half the chunk's budget, whatever
//!    the configuration says, so each chunk advances by at least half a chunk and the
//!    chunks hold at most about twice the text: an overlap close to the budget would make
//!    every chunk repeat its predecessor and the output quadratic (found by fuzzing: 376 KB
//!    of text became 93 MB of chunks with overlap 300 of 256 tokens).
//! 4. Each chunk is finally counted as a whole (one more linear pass); if a tokenizer
//!    merges across unit boundaries so that the sum underestimated, the chunk is shrunk
//!    unit by unit. Only an unsplittable unit can exceed the budget. A counter that
//!    declares [`TokenCounter::counts_are_subadditive`] (WordPiece) skips this pass.
//!
//! Offsets are byte offsets into [`CleanedDoc::text`]; `chunk.text ==
//! cleaned.text[start..end]`, start and end are char boundaries and never split a word
//! (except the last-resort split of a giant word).
//!
//! A heading path whose header line would take more than a quarter of the budget is
//! shortened (outermost headings dropped first, then the innermost cut at a word
//! boundary), so the header can never starve the chunk text.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::clean::{BlockKind, CleanedDoc, HeadingPath};
use super::Limits;
use crate::error::{Error, Result};

pub use crate::text::TokenCounter;

/// Chunking parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Upper bound of tokens per chunk, including the heading header line (default 256).
    pub max_tokens: usize,
    /// Tokens of the previous chunk repeated at the start of the next one (default 32).
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { max_tokens: 256, overlap_tokens: 32 }
    }
}

/// A chunk of cleaned text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Byte offset of the chunk start in the cleaned text.
    pub start: usize,
    /// Byte offset one past the chunk end; `text == cleaned.text[start..end]`.
    pub end: usize,
    /// The chunk text.
    pub text: String,
    /// Headings enclosing the chunk's first block, outermost first.
    pub heading_path: Vec<String>,
}

/// Special tokens the embedder adds around every input (`[CLS]` … `[SEP]`).
pub const SPECIAL_TOKENS: usize = 2;

/// The header line the budget accounts for: the heading path joined by `" > "`.
pub fn header_line(heading_path: &[String]) -> String {
    heading_path.join(" > ")
}

/// Tokens a chunk costs against `max_tokens`: its text, its header line and the
/// special tokens.
pub fn chunk_cost(chunk: &Chunk, counter: &dyn TokenCounter) -> usize {
    let header = header_line(&chunk.heading_path);
    counter.count_tokens(&chunk.text) + counter.count_tokens(&header) + SPECIAL_TOKENS
}

/// A contiguous piece of text that is never split further by packing.
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
    /// Index into `Segment`s (the block it belongs to).
    seg: usize,
    /// First unit of its block.
    block_start: bool,
}

/// A block as the chunker sees it.
struct Segment {
    kind: BlockKind,
    /// Index of its heading path after shortening in the shared list of paths (blocks under
    /// the same headings share one), and the path's token cost.
    path: usize,
    header_tokens: usize,
}

/// Split a cleaned document into chunks, without a limit on their number.
///
/// The engine uses [`chunk_checked`], which refuses a document that would produce more than
/// [`Limits::max_chunks_per_document`] chunks.
pub fn chunk(doc: &CleanedDoc, config: &ChunkConfig, counter: &dyn TokenCounter) -> Vec<Chunk> {
    chunk_up_to(doc, config, counter, usize::MAX).unwrap_or_default()
}

/// [`chunk`] with the limits of [`Limits`] applied: more than
/// [`Limits::max_chunks_per_document`] chunks is [`Error::LimitExceeded`]
/// ("chunks per document"), found as soon as the chunk past the limit is cut.
pub fn chunk_checked(
    doc: &CleanedDoc,
    config: &ChunkConfig,
    counter: &dyn TokenCounter,
    limits: &Limits,
) -> Result<Vec<Chunk>> {
    chunk_up_to(doc, config, counter, limits.max_chunks_per_document)
}

fn chunk_up_to(
    doc: &CleanedDoc,
    config: &ChunkConfig,
    counter: &dyn TokenCounter,
    max_chunks: usize,
) -> Result<Vec<Chunk>> {
    let text = doc.text.as_str();
    let max_tokens = config.max_tokens.max(1);
    let (paths, segments, units) = build_units(doc, max_tokens, config.overlap_tokens, counter);
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let budget_of = |seg: usize| -> usize {
        let h = segments.get(seg).map_or(0, |s| s.header_tokens);
        max_tokens.saturating_sub(h + SPECIAL_TOKENS).max(1)
    };
    let n = units.len();

    // Prefix sums of unit tokens, next heading unit and next block start: the section
    // and block sizes the heading/paragraph rules need, in O(1).
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0usize);
    for u in &units {
        let last = prefix.last().copied().unwrap_or(0);
        prefix.push(last + u.tokens);
    }
    let is_heading_start = |k: usize| {
        units[k].block_start && matches!(segments.get(units[k].seg).map(|s| s.kind), Some(BlockKind::Heading(_)))
    };
    let heading_level = |k: usize| match segments.get(units[k].seg).map(|s| s.kind) {
        Some(BlockKind::Heading(l)) => l,
        _ => u8::MAX,
    };
    // section_end[k]: for a heading unit, the next heading of the same or a higher
    // level (its section with subsections); next_block[k]: the next block start.
    let mut section_end = vec![n; n];
    let mut next_block = vec![n; n + 1];
    let mut open_headings: Vec<(u8, usize)> = Vec::new();
    for k in (0..n).rev() {
        next_block[k] = if k + 1 < n && units[k + 1].block_start { k + 1 } else { next_block[k + 1] };
        if is_heading_start(k) {
            let level = heading_level(k);
            while open_headings.last().is_some_and(|&(l, _)| l > level) {
                open_headings.pop();
            }
            section_end[k] = open_headings.last().map_or(n, |&(_, idx)| idx);
            open_headings.push((level, k));
        }
    }
    let span = |from: usize, to: usize| prefix[to] - prefix[from];

    let mut chunks: Vec<Chunk> = Vec::new();
    // Overlap carried into the next chunk: (start byte, tokens, unit index holding start).
    let mut carry: Option<(usize, usize, usize)> = None;
    let mut i = 0;
    while i < n {
        let first = i;
        let (mut start, mut overlap_tokens, mut start_unit) = carry.take().unwrap_or((units[first].start, 0, first));
        let mut budget = budget_of(units[start_unit].seg);
        if overlap_tokens > 0 && overlap_tokens + units[first].tokens > budget {
            (start, overlap_tokens, start_unit) = (units[first].start, 0, first);
            budget = budget_of(units[first].seg);
        }
        let mut tokens = overlap_tokens + units[first].tokens;
        let mut only_headings = overlap_tokens == 0 && is_heading_start(first);
        let mut last_heading = heading_level(first);
        let mut j = first + 1;
        while j < n {
            let u = units[j];
            if is_heading_start(j) {
                let level = heading_level(j);
                let nests = only_headings && level > last_heading;
                let section = span(j, section_end[j]);
                if !nests && (level <= 1 || tokens + section > budget || tokens * 2 >= budget) {
                    break;
                }
                if tokens + u.tokens > budget {
                    break;
                }
                last_heading = level;
            } else {
                if u.block_start && tokens + span(j, next_block[j]) > budget && tokens * 2 >= budget {
                    break;
                }
                if tokens + u.tokens > budget {
                    break;
                }
                only_headings = false;
            }
            tokens += u.tokens;
            j += 1;
        }

        // Verify with one real count; shrink if the tokenizer merged across units.
        while !counter.counts_are_subadditive() {
            let end = units[j - 1].end;
            let header = segments.get(units[start_unit].seg).map_or(0, |s| s.header_tokens);
            let real = text.get(start..end).map_or(0, |t| counter.count_tokens(t));
            if real + header + SPECIAL_TOKENS <= max_tokens {
                break;
            }
            if j - 1 > first {
                j -= 1;
            } else if start != units[first].start {
                start = units[first].start;
                start_unit = first;
            } else {
                break; // a single unsplittable unit
            }
        }

        let end = units[j - 1].end;
        let Some(chunk_text) = text.get(start..end) else {
            i = j;
            continue;
        };
        if chunks.len() >= max_chunks {
            return Err(Error::LimitExceeded { what: "chunks per document", limit: max_chunks, got: chunks.len() + 1 });
        }
        let heading_path = segments.get(units[start_unit].seg).and_then(|s| paths.get(s.path)).cloned();
        chunks.push(Chunk { start, end, text: chunk_text.to_owned(), heading_path: heading_path.unwrap_or_default() });

        if j < n && !is_heading_start(j) && config.overlap_tokens > 0 {
            let budget = budget_of(units[j].seg);
            let limit = config.overlap_tokens.min(budget / 2).min(budget.saturating_sub(units[j].tokens));
            carry = overlap(text, &units, first.min(start_unit), j, start, limit, counter);
        }
        i = j;
    }
    Ok(chunks)
}

/// Trailing sentences (then words) of units `from..to`, starting after `chunk_start`,
/// worth at most `limit` tokens.
fn overlap(
    text: &str,
    units: &[Unit],
    from: usize,
    to: usize,
    chunk_start: usize,
    limit: usize,
    counter: &dyn TokenCounter,
) -> Option<(usize, usize, usize)> {
    if limit == 0 {
        return None;
    }
    let mut tokens = 0;
    let mut found: Option<(usize, usize, usize)> = None;
    for k in (from..to).rev() {
        let u = units[k];
        if u.start <= chunk_start {
            // Only the part of this unit after the chunk start may be repeated.
            if u.end <= chunk_start {
                break;
            }
        } else if tokens + u.tokens <= limit {
            tokens += u.tokens;
            found = Some((u.start, tokens, k));
            continue;
        }
        if found.is_some() {
            break; // keep the overlap on a sentence boundary
        }
        // Not even one whole sentence fits: trailing words of this unit.
        let unit_text = text.get(u.start..u.end)?;
        let words: Vec<(usize, &str)> = word_spans(unit_text).collect();
        for &(offset, word) in words.iter().rev() {
            let abs = u.start + offset;
            if abs <= chunk_start {
                break;
            }
            let c = counter.count_tokens(word);
            if tokens + c > limit {
                break;
            }
            tokens += c;
            found = Some((abs, tokens, k));
        }
        break;
    }
    found
}

/// Runs of non-whitespace ("words") with their byte offsets.
fn word_spans(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let tail = s.get(pos..)?;
        let word_start = pos + (tail.len() - tail.trim_start().len());
        let rest = s.get(word_start..).filter(|r| !r.is_empty())?;
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        pos = word_start + len;
        rest.get(..len).map(|w| (word_start, w))
    })
}

/// Shorten a heading path so its header line costs at most `limit` tokens.
fn fit_path(path: &HeadingPath, limit: usize, counter: &dyn TokenCounter) -> (Vec<String>, usize) {
    let mut path: Vec<String> = path.to_vec();
    loop {
        let cost = counter.count_tokens(&header_line(&path));
        if cost <= limit {
            return (path, cost);
        }
        if path.len() > 1 {
            path.remove(0);
            continue;
        }
        // One heading left and still too long: keep its longest word prefix that fits.
        let Some(only) = path.pop() else {
            return (path, 0);
        };
        let words: Vec<(usize, &str)> = word_spans(&only).collect();
        let (mut lo, mut hi) = (0usize, words.len()); // number of words kept
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let end = words.get(mid - 1).map_or(0, |(o, w)| o + w.len());
            if counter.count_tokens(only.get(..end).unwrap_or("")) <= limit {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo == 0 {
            return (Vec::new(), 0);
        }
        let end = words.get(lo - 1).map_or(0, |(o, w)| o + w.len());
        let cut = only.get(..end).unwrap_or("").to_owned();
        let cost = counter.count_tokens(&cut);
        return (vec![cut], cost);
    }
}

/// Cut the document into counted units (see the module docs). Returns the distinct
/// shortened heading paths, the segments (blocks) and the units.
fn build_units(
    doc: &CleanedDoc,
    max_tokens: usize,
    overlap_tokens: usize,
    counter: &dyn TokenCounter,
) -> (Vec<Vec<String>>, Vec<Segment>, Vec<Unit>) {
    let text = doc.text.as_str();
    let header_limit = max_tokens / 4;
    let no_path = HeadingPath::default();

    // Valid, ordered, non-overlapping blocks; a document without blocks is one paragraph.
    let mut blocks: Vec<(BlockKind, usize, usize, &HeadingPath)> = doc
        .blocks
        .iter()
        .filter(|b| b.start < b.end && text.get(b.start..b.end).is_some())
        .map(|b| (b.kind, b.start, b.end, &b.heading_path))
        .collect();
    if blocks.is_empty() && !text.trim().is_empty() {
        blocks.push((BlockKind::Paragraph, 0, text.len(), &no_path));
    }
    blocks.sort_by_key(|b| (b.1, b.2));

    let mut paths: Vec<Vec<String>> = Vec::new();
    let mut segments: Vec<Segment> = Vec::with_capacity(blocks.len());
    let mut units: Vec<Unit> = Vec::new();
    let mut prev_end = 0;
    // The last raw path seen, its index in `paths` and its cost: consecutive blocks share
    // their path (usually the same `Arc`), so each is fitted and stored once.
    let mut last_path: Option<(&HeadingPath, usize, usize)> = None;
    for (kind, bs, be, raw_path) in blocks {
        if bs < prev_end {
            continue; // overlapping block: malformed input, skip it
        }
        prev_end = be;
        let (path, header_tokens) = match last_path {
            Some((p, idx, cost)) if HeadingPath::ptr_eq(p, raw_path) || p == raw_path => (idx, cost),
            _ => {
                let (fitted, cost) = fit_path(raw_path, header_limit, counter);
                let idx = match paths.last() {
                    Some(last) if *last == fitted => paths.len() - 1,
                    _ => {
                        paths.push(fitted);
                        paths.len() - 1
                    }
                };
                last_path = Some((raw_path, idx, cost));
                (idx, cost)
            }
        };
        let seg = segments.len();
        segments.push(Segment { kind, path, header_tokens });
        let budget = max_tokens.saturating_sub(header_tokens + SPECIAL_TOKENS).max(1);
        let Some(block_text) = text.get(bs..be) else {
            continue;
        };
        let first_unit = units.len();

        let push_piece = |ps: usize, pe: usize, units: &mut Vec<Unit>| {
            let Some(piece) = text.get(ps..pe) else {
                return;
            };
            let tokens = counter.count_tokens(piece);
            if tokens <= budget {
                units.push(Unit { start: ps, end: pe, tokens, seg, block_start: false });
            } else {
                // Runs of words leave room for the overlap the next chunk repeats.
                let run_budget = budget.saturating_sub(overlap_tokens).max(budget / 2).max(1);
                split_long(text, ps, pe, run_budget, seg, counter, units);
            }
        };
        match kind {
            BlockKind::Code | BlockKind::Table => {
                let mut off = 0;
                for line in block_text.split_inclusive('\n') {
                    let (ls, le) = trim_span(block_text, off, off + line.len());
                    if ls < le {
                        push_piece(bs + ls, bs + le, &mut units);
                    }
                    off += line.len();
                }
            }
            _ => {
                for (off, sentence) in block_text.split_sentence_bound_indices() {
                    let (ss, se) = trim_span(block_text, off, off + sentence.len());
                    if ss < se {
                        push_piece(bs + ss, bs + se, &mut units);
                    }
                }
            }
        }
        if let Some(u) = units.get_mut(first_unit) {
            u.block_start = true;
        }
    }
    (paths, segments, units)
}

/// Trim whitespace from the span `s[a..b]`, returning the trimmed span.
fn trim_span(s: &str, a: usize, b: usize) -> (usize, usize) {
    let Some(piece) = s.get(a..b) else {
        return (a, a);
    };
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    (a + lead, a + lead + trimmed.len())
}

/// Split an over-budget piece at word boundaries: runs of words whose summed counts
/// fit, each run verified with one real count (and halved while a tokenizer that merges
/// across words says it is too long); a word that alone exceeds the budget is cut at
/// char boundaries.
fn split_long(
    text: &str,
    ps: usize,
    pe: usize,
    budget: usize,
    seg: usize,
    counter: &dyn TokenCounter,
    units: &mut Vec<Unit>,
) {
    let Some(piece) = text.get(ps..pe) else {
        return;
    };
    let words: Vec<(usize, usize, usize)> =
        word_spans(piece).map(|(off, w)| (ps + off, ps + off + w.len(), counter.count_tokens(w))).collect();
    let verify = !counter.counts_are_subadditive();
    let mut k = 0;
    while let Some(&(ws, we, c)) = words.get(k) {
        if c > budget {
            split_word(text, ws, we, budget, seg, counter, units);
            k += 1;
            continue;
        }
        let mut e = k + 1;
        let mut sum = c;
        while let Some(&(_, _, next)) = words.get(e) {
            if next > budget || sum + next > budget {
                break;
            }
            sum += next;
            e += 1;
        }
        let tokens = loop {
            if !verify {
                break sum;
            }
            let end = words.get(e - 1).map_or(we, |w| w.1);
            let real = text.get(ws..end).map_or(0, |t| counter.count_tokens(t));
            if real <= budget || e == k + 1 {
                break real;
            }
            e = k + ((e - k) / 2).max(1);
        };
        let end = words.get(e - 1).map_or(we, |w| w.1);
        units.push(Unit { start: ws, end, tokens, seg, block_start: false });
        k = e;
    }
}

/// Last resort: cut one giant word into char-boundary pieces of at most `budget` tokens
/// (binary search on the piece length, so O(log n) counts per piece).
fn split_word(
    text: &str,
    ws: usize,
    we: usize,
    budget: usize,
    seg: usize,
    counter: &dyn TokenCounter,
    units: &mut Vec<Unit>,
) {
    let Some(word) = text.get(ws..we) else { return };
    let bounds: Vec<usize> = word.char_indices().map(|(i, _)| i).chain(std::iter::once(word.len())).collect();
    // bounds[k] = byte offset after k chars; pieces go from bounds[a] to bounds[b].
    let mut a = 0;
    let last = bounds.len() - 1;
    while a < last {
        let (mut lo, mut hi) = (a + 1, last); // largest b with count <= budget; at least a+1
        let mut best = a + 1;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let piece = word.get(bounds[a]..bounds[mid]).unwrap_or("");
            if counter.count_tokens(piece) <= budget {
                best = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        let (s, e) = (ws + bounds[a], ws + bounds[best]);
        let tokens = text.get(s..e).map_or(0, |p| counter.count_tokens(p));
        units.push(Unit { start: s, end: e, tokens, seg, block_start: false });
        a = best;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ingest::clean::{clean, Block, CleanConfig};
    use crate::ingest::{Document, Format};
    use proptest::prelude::*;

    /// Whitespace-ish counter: every word-bound segment that is not whitespace is a token
    /// (close to BERT's pre-tokenizer: words and punctuation).
    pub(crate) struct WordCounter;
    impl TokenCounter for WordCounter {
        fn count_tokens(&self, text: &str) -> usize {
            text.split_word_bounds().filter(|w| !w.chars().all(char::is_whitespace)).count()
        }
    }

    /// A counter that is not additive: ceil(chars / 3), like a subword tokenizer on
    /// unknown words. Exercises the verification pass.
    struct CharCounter;
    impl TokenCounter for CharCounter {
        fn count_tokens(&self, text: &str) -> usize {
            text.chars().filter(|c| !c.is_whitespace()).count().div_ceil(3)
        }
    }

    /// A counter whose sum over pieces underestimates the whole (floor(chars / 3)), like
    /// a tokenizer merging across boundaries. Exercises the shrinking in verification.
    struct FloorCounter;
    impl TokenCounter for FloorCounter {
        fn count_tokens(&self, text: &str) -> usize {
            text.chars().filter(|c| !c.is_whitespace()).count() / 3
        }
    }

    /// Declares the word counter subadditive (it is), so the verification is skipped;
    /// `check` still verifies every chunk with real counts.
    struct Trusting;
    impl TokenCounter for Trusting {
        fn count_tokens(&self, text: &str) -> usize {
            WordCounter.count_tokens(text)
        }
        fn counts_are_subadditive(&self) -> bool {
            true
        }
    }

    fn md(s: &str) -> CleanedDoc {
        clean(
            &Document::new("x.md", s).with_format(Format::Markdown),
            &CleanConfig { max_word_chars: 10_000, ..CleanConfig::default() },
        )
        .unwrap()
    }

    fn check(doc: &CleanedDoc, config: &ChunkConfig, counter: &dyn TokenCounter) -> Vec<Chunk> {
        let chunks = chunk(doc, config, counter);
        let text = &doc.text;
        let mut covered = vec![false; text.len()];
        let mut prev: Option<&Chunk> = None;
        for c in &chunks {
            assert!(c.start < c.end && c.end <= text.len(), "bounds {c:?}");
            assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
            assert_eq!(c.text, text[c.start..c.end]);
            assert_eq!(c.text.trim(), c.text, "chunks are trimmed");
            if let Some(p) = prev {
                assert!(c.start > p.start && c.end > p.end, "ordered: {p:?} then {c:?}");
                assert!(c.start <= p.end || text[p.end..c.start].trim().is_empty(), "no gap with content");
            }
            let cost = chunk_cost(c, counter);
            let single_unit = !c.text.contains(char::is_whitespace) && c.text.chars().count() <= 1;
            assert!(cost <= config.max_tokens || single_unit, "over budget ({cost} > {}): {c:?}", config.max_tokens);
            covered[c.start..c.end].iter_mut().for_each(|x| *x = true);
            prev = Some(c);
        }
        for (i, ch) in text.char_indices() {
            if !ch.is_whitespace() {
                assert!(covered[i], "byte {i} ({ch:?}) not covered");
            }
        }
        chunks
    }

    #[test]
    fn empty_doc_gives_no_chunks() {
        assert!(chunk(&CleanedDoc::default(), &ChunkConfig::default(), &WordCounter).is_empty());
    }

    #[test]
    fn h1_starts_a_chunk_small_sections_merge() {
        let d = md("# Title\n\nOne sentence. Two sentence.\n\n## Sub\n\nThree.\n\n# Other\n\nFour.");
        let chunks = check(&d, &ChunkConfig::default(), &WordCounter);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, "Title\n\nOne sentence. Two sentence.\n\nSub\n\nThree.");
        assert_eq!(chunks[0].heading_path, vec!["Title"]);
        assert_eq!(chunks[1].text, "Other\n\nFour.");
        assert_eq!(chunks[1].heading_path, vec!["Other"]);
        // A heading followed directly by a deeper one stays with it.
        let d = md("# T\n\n## Deeper\n\nText.");
        let chunks = check(&d, &ChunkConfig::default(), &WordCounter);
        assert_eq!(chunks.len(), 1);
    }

    #[test]
    fn splits_on_sentences_with_overlap() {
        let sentences: Vec<String> = (0..40).map(|i| format!("Sentence number {i} is here.")).collect();
        let d = md(&sentences.join(" "));
        let config = ChunkConfig { max_tokens: 30, overlap_tokens: 8 };
        let chunks = check(&d, &config, &WordCounter);
        assert!(chunks.len() > 5);
        for w in chunks.windows(2) {
            // Each sentence is 6 tokens: one whole sentence repeated, on a sentence boundary.
            assert!(w[1].start < w[0].end, "overlap expected");
            assert!(w[1].text.starts_with("Sentence number"), "{:?}", w[1].text);
            assert!(WordCounter.count_tokens(&d.text[w[1].start..w[0].end]) <= 8);
        }
        // No overlap when asked for none.
        let chunks = check(&d, &ChunkConfig { max_tokens: 30, overlap_tokens: 0 }, &WordCounter);
        for w in chunks.windows(2) {
            assert!(w[1].start > w[0].end);
        }
    }

    #[test]
    fn overlap_near_the_budget_is_capped_at_half_a_chunk() {
        // An overlap as large as the budget (the engine refuses it; `chunk` must still be
        // linear) would advance each chunk by one sentence and repeat everything else.
        let sentences: Vec<String> = (0..400).map(|i| format!("Sentence number {i} is here.")).collect();
        let d = md(&sentences.join(" "));
        for overlap_tokens in [29, 30, 300] {
            let chunks = chunk(&d, &ChunkConfig { max_tokens: 30, overlap_tokens }, &WordCounter);
            let total: usize = chunks.iter().map(|c| c.text.len()).sum();
            assert!(
                total <= 2 * d.text.len() + 64,
                "overlap {overlap_tokens}: {total} bytes of chunks for {}",
                d.text.len()
            );
            for w in chunks.windows(2) {
                assert!(w[1].start > w[0].start && w[1].end > w[0].end, "chunks must advance");
            }
        }
    }

    #[test]
    fn overlap_takes_trailing_words_of_a_long_sentence() {
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let d = md(&words.join(" "));
        let chunks = check(&d, &ChunkConfig { max_tokens: 22, overlap_tokens: 5 }, &WordCounter);
        assert!(chunks.len() >= 5);
        for w in chunks.windows(2) {
            let shared = &d.text[w[1].start..w[0].end];
            assert_eq!(WordCounter.count_tokens(shared), 5, "{shared:?}");
        }
    }

    #[test]
    fn prefers_heading_boundaries() {
        let para = |n: usize| (0..n).map(|i| format!("Word{i} is fine.")).collect::<Vec<_>>().join(" ");
        let d =
            md(&format!("# A\n\n{}\n\n### B\n\n{}\n\n### C\n\n{}\n\n### D\n\n{}", para(5), para(12), para(3), para(3)));
        let chunks = check(&d, &ChunkConfig { max_tokens: 70, overlap_tokens: 10 }, &WordCounter);
        let starts: Vec<&str> = chunks.iter().map(|c| c.text.lines().next().unwrap_or("")).collect();
        // B does not fit after A; C starts fresh because B's chunk is half full;
        // the small section D joins C.
        assert_eq!(starts, vec!["A", "B", "C"], "{chunks:#?}");
        assert_eq!(chunks[1].heading_path, vec!["A", "B"]);
        assert_eq!(chunks[2].heading_path, vec!["A", "C"]);
        assert!(chunks[2].text.contains("D\n\nWord0"), "small section D merged into C");
    }

    #[test]
    fn code_splits_on_lines_and_giant_words_on_chars() {
        let code: String = (0..50).map(|i| format!("let x{i} = {i};\n")).collect();
        let d = md(&format!("```\n{code}```\n\n{}", "y".repeat(500)));
        let chunks = check(&d, &ChunkConfig { max_tokens: 20, overlap_tokens: 0 }, &CharCounter);
        assert!(chunks.iter().any(|c| c.text.starts_with("let x") && c.text.ends_with(';')));
        let giant: Vec<&Chunk> = chunks.iter().filter(|c| c.text.starts_with('y')).collect();
        assert!(giant.len() > 5);
        assert_eq!(giant.iter().map(|c| c.text.len()).sum::<usize>(), 500);
    }

    #[test]
    fn long_heading_path_is_shortened() {
        let long = (0..200).map(|i| format!("h{i}")).collect::<Vec<_>>().join(" ");
        let d = md(&format!("# {long}\n\n## short\n\ntext here."));
        let chunks = check(&d, &ChunkConfig { max_tokens: 64, overlap_tokens: 4 }, &WordCounter);
        let last = chunks.last().unwrap();
        assert_eq!(last.heading_path, vec!["short"]);
        assert!(chunks.iter().all(|c| WordCounter.count_tokens(&header_line(&c.heading_path)) <= 16));
    }

    #[test]
    fn malformed_blocks_do_not_panic() {
        let text = "héllo wörld. Another one.".to_string();
        let doc = CleanedDoc {
            text: text.clone(),
            title: None,
            blocks: vec![
                Block { kind: BlockKind::Paragraph, start: 2, end: 3, heading_path: HeadingPath::default() }, // mid-char
                Block { kind: BlockKind::Paragraph, start: 20, end: 5, heading_path: HeadingPath::default() },
                Block { kind: BlockKind::Paragraph, start: 0, end: 999, heading_path: HeadingPath::default() },
            ],
        };
        let _ = chunk(&doc, &ChunkConfig::default(), &WordCounter);
        // No blocks at all: the whole text is one paragraph.
        let doc = CleanedDoc { text, title: None, blocks: vec![] };
        let chunks = chunk(&doc, &ChunkConfig::default(), &WordCounter);
        assert_eq!(chunks.len(), 1);
        let chunks = chunk(&doc, &ChunkConfig { max_tokens: 0, overlap_tokens: 100 }, &WordCounter);
        assert!(!chunks.is_empty());
    }

    #[test]
    fn long_heading_over_many_paragraphs_chunks_in_bounded_memory() {
        // Issue 14's engine-killing Markdown: a 64 KiB heading, then 100 000 paragraphs.
        let mut body = String::from("# ");
        body.push_str(&"heading ".repeat(8192));
        body.push_str("\n\n");
        body.push_str(&"p\n\n".repeat(100_000));
        let d = clean(&Document::new("x.md", body.as_str()).with_format(Format::Markdown), &CleanConfig::default())
            .unwrap();
        let chunks = check(&d, &ChunkConfig::default(), &WordCounter);
        // Every chunk's header is the heading cut to fit a quarter of the budget, so the
        // heading bytes over all chunks stay a fraction of the input.
        let path_bytes: usize = chunks.iter().map(|c| c.heading_path.iter().map(String::len).sum::<usize>()).sum();
        assert!(path_bytes <= body.len(), "{path_bytes} heading bytes for {} input bytes", body.len());
        assert!(chunks.iter().all(|c| c.heading_path.len() == 1 && c.heading_path[0].starts_with("heading")));
        assert!(chunks.len() < 2000, "{} chunks", chunks.len());
    }

    #[test]
    fn too_many_chunks_is_a_limit_error() {
        let sentences: Vec<String> = (0..200).map(|i| format!("Sentence number {i} is here.")).collect();
        let d = md(&sentences.join(" "));
        let config = ChunkConfig { max_tokens: 30, overlap_tokens: 0 };
        let all = chunk(&d, &config, &WordCounter);
        assert!(all.len() > 20);
        let limits = Limits { max_chunks_per_document: 20, ..Limits::default() };
        match chunk_checked(&d, &config, &WordCounter, &limits) {
            Err(Error::LimitExceeded { what: "chunks per document", limit: 20, got: 21 }) => {}
            other => panic!("expected LimitExceeded, got {other:?}"),
        }
        let limits = Limits { max_chunks_per_document: all.len(), ..Limits::default() };
        assert_eq!(chunk_checked(&d, &config, &WordCounter, &limits).unwrap(), all);
        assert_eq!(chunk_checked(&d, &config, &WordCounter, &Limits::default()).unwrap(), all);
    }

    #[test]
    fn regression_word_runs_are_verified_with_a_real_count() {
        // Found by proptest: a long sentence cut into word runs by summed counts, with a
        // counter whose sum underestimates, produced a one-unit chunk over budget.
        let x = "x".repeat(40);
        let body = format!("a a a a {x} a a a a {x} aaa {x} aa aaa {x} aaaaa a aaaaaa Aaaaa Aaaa 0000 aaaa a aaaaaa.");
        let config = ChunkConfig { max_tokens: 65, overlap_tokens: 0 };
        check(&md(&body), &config, &FloorCounter);
    }

    /// Markdown-ish documents with headings, prose, lists, code and odd Unicode.
    fn doc_strategy() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            "[a-z]{1,8}",
            "[A-Z][a-z]{0,6}",
            "[0-9]{1,4}",
            Just("naïve".to_string()),
            Just("日本語".to_string()),
            Just("e\u{301}".to_string()),
            Just("x".repeat(40)),
        ];
        let sentence = (prop::collection::vec(word, 1..25), prop_oneof![Just("."), Just("?"), Just("!"), Just("")])
            .prop_map(|(w, p)| format!("{}{p}", w.join(" ")));
        let para = prop::collection::vec(sentence, 1..8).prop_map(|s| s.join(" "));
        let block = prop_oneof![
            4 => para.clone(),
            1 => (1..4usize, "[A-Za-z ]{1,30}").prop_map(|(l, t)| format!("{} {t}", "#".repeat(l))),
            1 => prop::collection::vec(para.clone(), 1..4).prop_map(|items| items.iter().map(|i| format!("- {i}\n")).collect()),
            1 => prop::collection::vec("[a-z ={}();]{0,60}", 1..12).prop_map(|l| format!("```\n{}\n```", l.join("\n"))),
        ];
        prop::collection::vec(block, 0..15).prop_map(|b| b.join("\n\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn chunks_cover_text_within_budget(body in doc_strategy(), max in 8usize..120, overlap in 0usize..40) {
            let doc = md(&body);
            let config = ChunkConfig { max_tokens: max, overlap_tokens: overlap };
            check(&doc, &config, &WordCounter);
            check(&doc, &config, &CharCounter);
            check(&doc, &config, &FloorCounter);
            check(&doc, &config, &Trusting);
        }

        #[test]
        fn plain_text_chunks(body in "\\PC{0,400}", max in 4usize..50) {
            let doc = clean(&Document::new("x.txt", body).with_format(Format::Text), &CleanConfig { max_word_chars: 1000, ..CleanConfig::default() }).unwrap();
            let config = ChunkConfig { max_tokens: max, overlap_tokens: max / 3 };
            check(&doc, &config, &CharCounter);
            check(&doc, &config, &FloorCounter);
        }
    }
}

//! Cleaning: Unicode NFC, control characters and odd whitespace removed, HTML reduced
//! to readable text (navigation, header/footer, scripts, styles, sidebars dropped;
//! headings, lists, tables and code blocks kept as blocks), Markdown parsed.
//!
//! # Design
//!
//! All three formats feed one block model: a small state machine (`Builder`) receives
//! "open heading / open list item / open code / open table / text / close" calls and
//! emits [`Block`]s. The output text is the blocks joined by a blank line, and each
//! block records its byte span and the heading path above it, so the chunker can split
//! along headings → paragraphs → sentences and answers can cite exact spans.
//!
//! - **HTML** is parsed by `html5ever` (into `scraper`'s DOM), never by regular
//!   expressions. Elements nested deeper than [`CleanConfig::max_nesting_depth`] are
//!   left out while parsing (their text is kept), which keeps the parser's cost per tag
//!   bounded; the parser is fed in pieces so cleaning can be cancelled. The DOM is walked
//!   with `ego_tree`'s iterative open/close traversal — no recursion — so no depth can
//!   overflow the stack.
//!   Boilerplate removal follows the usual DOM-heuristic approach (cf. Kohlschütter et
//!   al., *Boilerplate Detection using Shallow Text Features*, WSDM 2010, and
//!   Readability-style main-content selection), kept deliberately simple and
//!   predictable: if the page has a `<main>` (or `role="main"`) element only its
//!   content is read; elements that are never prose (`script`, `style`, `svg`, forms, …)
//!   or page chrome (`nav`, `header`, `footer`, `aside`, and anything whose id/class
//!   names it a sidebar, menu bar, table of contents, breadcrumb, …) are skipped with
//!   their whole subtree. Attributes are never copied into the text, so event handlers
//!   and `javascript:` URLs cannot leak through.
//! - **Markdown** is parsed with `pulldown-cmark` (tables, strikethrough, footnotes,
//!   YAML metadata blocks skipped). Raw HTML blocks go through the HTML path.
//! - **Plain text**: paragraphs are separated by blank lines.
//!
//! Normalisation of every block: characters are filtered first (C0/C1 controls and
//! invisible format characters such as zero-width spaces, soft hyphens and bidi
//! overrides removed; ZWJ/ZWNJ kept because scripts and emoji need them), then the text
//! is put in Unicode NFC (UAX #15) and whitespace (tabs, NBSP, ideographic space, …) is
//! collapsed — to single spaces in prose, while code keeps its line breaks and
//! indentation. Finally "words" (runs of non-whitespace) longer than
//! [`CleanConfig::max_word_chars`] are dropped: they are base64 blobs or minified data
//! that only waste tokens.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use ego_tree::iter::Edge;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts, TokenizerResult,
};
use html5ever::tree_builder::{create_element, Tracer, TreeBuilder, TreeBuilderOpts, TreeSink};
use html5ever::{local_name, namespace_url, ns, LocalName, QualName};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use scraper::{Html, HtmlTreeSink, Node};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::{Document, Format};
use crate::error::{Error, Result};

/// Options for cleaning, including the resource limits that keep the cost of cleaning
/// bounded by the size of the input (see `docs/limits.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CleanConfig {
    /// Words (runs of non-whitespace) longer than this many chars are dropped
    /// (base64 blobs, minified data). Default 256.
    pub max_word_chars: usize,
    /// Most bytes of heading text in one block's heading path (default 1024). A longer
    /// heading keeps its whole text as a block of the document, but the copy that enters
    /// the heading path of the blocks below it (and so every chunk's header line) is cut at
    /// the last word boundary — or char boundary — before the limit, and outer headings
    /// that would take the path past the limit are left out of it (the innermost are the
    /// most specific). Truncating rather than refusing: a long heading is odd but not
    /// wrong, and nothing of the text is lost.
    pub max_heading_bytes: usize,
    /// Most blocks (headings, paragraphs, list items, …) one document may produce
    /// (default 200 000); more is [`Error::LimitExceeded`] ("blocks per document").
    pub max_blocks: usize,
    /// Deepest HTML element nesting kept (default 512, as Blink's HTML parser). An element
    /// that would open while this many are open (the parser's stack of open elements plus
    /// its list of active formatting elements) is left out, as is its end tag, and its
    /// content goes to its parent, separated by a space. Flattened rather than refused:
    /// the text is kept, only structure that deep is lost. This bounds the HTML parser's
    /// cost per tag, which otherwise grows with the depth (quadratic time). Markdown needs
    /// no such limit: its parser and the block builder are linear in the nesting.
    pub max_nesting_depth: usize,
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig { max_word_chars: 256, max_heading_bytes: 1024, max_blocks: 200_000, max_nesting_depth: 512 }
    }
}

/// Kind of a structural block of cleaned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// A heading of level 1–6.
    Heading(u8),
    /// A paragraph of prose.
    Paragraph,
    /// One list item.
    ListItem,
    /// A code block (line breaks preserved).
    Code,
    /// A table (rows on lines, cells separated by " | ").
    Table,
    /// A block quote.
    Quote,
}

/// The headings enclosing a block, outermost first.
///
/// Shared, not copied: every block under the same headings holds the same reference-counted
/// list, and each heading's text is itself shared by the lists of its subsections, so a
/// document of many blocks under a long heading costs one copy of the heading, not one per
/// block. Serialized as a plain list of strings (the same shape as `Vec<String>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadingPath(Arc<[Arc<str>]>);

impl HeadingPath {
    /// The headings, outermost first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(|h| &**h)
    }

    /// Number of headings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no enclosing heading.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An owned copy.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    /// Whether both are the same shared list (cheap; equal lists may still be distinct).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Bytes of heading text in the path.
    pub fn text_bytes(&self) -> usize {
        self.0.iter().map(|h| h.len()).sum()
    }
}

impl From<Vec<String>> for HeadingPath {
    fn from(v: Vec<String>) -> Self {
        HeadingPath(v.into_iter().map(Arc::from).collect())
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for HeadingPath {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for HeadingPath {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl Serialize for HeadingPath {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> std::result::Result<Ser::Ok, Ser::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for HeadingPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(HeadingPath::from)
    }
}

/// A block of the cleaned text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// What the block is.
    pub kind: BlockKind,
    /// Byte offset of the block start in [`CleanedDoc::text`].
    pub start: usize,
    /// Byte offset one past the block end.
    pub end: usize,
    /// Headings enclosing this block, outermost first (a heading's own path includes
    /// itself), with at most [`CleanConfig::max_heading_bytes`] of heading text in all.
    pub heading_path: HeadingPath,
}

/// The readable text of a document plus its block structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CleanedDoc {
    /// The cleaned text; blocks are separated by a blank line.
    pub text: String,
    /// The title (HTML `<title>`/first `<h1>`, Markdown first heading), if any.
    pub title: Option<String>,
    /// Blocks in document order, non-overlapping, offsets on char boundaries.
    pub blocks: Vec<Block>,
}

/// Clean a (validated) document. The result's text may be empty if nothing readable remains.
///
/// Errors: [`Error::LimitExceeded`] when the document exceeds a limit of `config`.
pub fn clean(doc: &Document, config: &CleanConfig) -> Result<CleanedDoc> {
    clean_with(doc, config, &|| false)
}

/// [`clean`], checking `cancelled` every few thousand parse events or DOM nodes; returns
/// [`Error::Cancelled`] as soon as it answers true.
pub fn clean_with(doc: &Document, config: &CleanConfig, cancelled: &dyn Fn() -> bool) -> Result<CleanedDoc> {
    let format = doc.resolved_format();
    let mut builder = Builder::new(config, cancelled);
    let mut title = None;
    match format {
        Format::Html => title = clean_html(&doc.body, &mut builder),
        Format::Markdown => clean_markdown(&doc.body, &mut builder),
        Format::Text => clean_text(&doc.body, &mut builder),
        Format::Pages => {
            clean_pages(&doc.body, &mut builder);
            // "p. 1" is no title: the caller's metadata title (a PDF's Info title) or none.
            return builder.finish_with(None, false);
        }
    }
    builder.finish(title)
}

/// `s` cut to at most `max` bytes: at the last space before the limit if there is one,
/// else at the last char boundary.
fn truncate_heading(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = &s[..end];
    if s[end..].starts_with(' ') {
        return head.trim_end();
    }
    match head.rfind(' ') {
        Some(space) if space > 0 => head[..space].trim_end(),
        _ => head,
    }
}

// ---------------------------------------------------------------------------------
// Character-level normalisation
// ---------------------------------------------------------------------------------

/// Invisible format characters that carry no text: soft hyphen, Arabic letter mark,
/// Mongolian vowel separator, zero-width space, LRM/RLM, bidi embeddings/overrides and
/// isolates, word joiner and invisible operators, BOM / zero-width no-break space,
/// interlinear annotation marks. ZWNJ/ZWJ (U+200C/D) are kept on purpose.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Filter characters, then NFC. Whitespace is mapped to plain spaces, except `\n`
/// which is kept when `keep_newlines` (code); tabs become four spaces in code.
fn filter_nfc(s: &str, keep_newlines: bool) -> String {
    let mut filtered = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                // CRLF and lone CR are line breaks.
                if chars.peek() == Some(&'\n') {
                    continue;
                }
                filtered.push(if keep_newlines { '\n' } else { ' ' });
            }
            '\n' | '\u{2028}' | '\u{2029}' | '\u{0085}' | '\u{000B}' | '\u{000C}' => {
                filtered.push(if keep_newlines { '\n' } else { ' ' })
            }
            '\t' => filtered.push_str(if keep_newlines { "    " } else { " " }),
            c if c.is_whitespace() => filtered.push(' '),
            c if c.is_control() || is_invisible_format(c) => {}
            c => filtered.push(c),
        }
    }
    if unicode_normalization::is_nfc_quick(filtered.chars()) == unicode_normalization::IsNormalized::Yes {
        filtered
    } else {
        filtered.nfc().collect()
    }
}

/// Normalise prose: one line, single spaces, trimmed, over-long words dropped.
pub(crate) fn normalize_prose(s: &str, max_word_chars: usize) -> String {
    let filtered = filter_nfc(s, false);
    let mut out = String::with_capacity(filtered.len());
    for word in filtered.split(' ').filter(|w| !w.is_empty()) {
        if word.chars().count() > max_word_chars {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Normalise code: line breaks and indentation kept, trailing spaces trimmed, runs of
/// blank lines reduced to one, leading/trailing blank lines removed, over-long words
/// dropped.
fn normalize_code(s: &str, max_word_chars: usize) -> String {
    let filtered = filter_nfc(s, true);
    let mut out = String::with_capacity(filtered.len());
    let mut pending_blank = false;
    for line in filtered.split('\n') {
        let mut cleaned = String::with_capacity(line.len());
        // Keep the spacing between words; drop over-long words in place.
        let mut rest = line;
        while !rest.is_empty() {
            let ws_len = rest.len() - rest.trim_start_matches(' ').len();
            let (ws, after) = rest.split_at(ws_len);
            let word_len = after.find(' ').unwrap_or(after.len());
            let (word, after_word) = after.split_at(word_len);
            if !word.is_empty() && word.chars().count() <= max_word_chars {
                cleaned.push_str(ws);
                cleaned.push_str(word);
            }
            rest = after_word;
        }
        let cleaned = cleaned.trim_end();
        if cleaned.trim_start().is_empty() {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if pending_blank {
                out.push('\n');
            }
        }
        pending_blank = false;
        out.push_str(cleaned);
    }
    out
}

// ---------------------------------------------------------------------------------
// The block builder shared by the three formats
// ---------------------------------------------------------------------------------

/// A finished block before offsets are assigned.
struct RawBlock {
    kind: BlockKind,
    text: String,
    heading_path: HeadingPath,
}

/// Table being collected: rows of cells.
#[derive(Default)]
struct TableState {
    rows: Vec<Vec<String>>,
    row: Option<Vec<String>>,
    cell: Option<String>,
}

impl TableState {
    fn close_cell(&mut self) {
        if let Some(cell) = self.cell.take() {
            self.row.get_or_insert_with(Vec::new).push(cell);
        }
    }
    fn close_row(&mut self) {
        self.close_cell();
        if let Some(row) = self.row.take() {
            self.rows.push(row);
        }
    }
    fn text(&mut self, s: &str) {
        self.cell.get_or_insert_with(String::new).push_str(s);
    }
}

/// What an opened element/tag did, so its close can undo it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    /// Inline: nothing to do.
    Inline,
    /// A generic block boundary (div, p, dt, …).
    Boundary,
    /// Pushed a container kind (list item, quote).
    Container,
    /// Started a heading.
    Heading,
    /// Started a code block.
    Code,
    /// Started a table (outermost) or a nested one.
    Table,
    /// Table row.
    Row,
    /// Table cell.
    Cell,
}

/// How many parse events / DOM nodes pass between two calls of the cancellation callback.
const CANCEL_CHECK_EVERY: usize = 4096;

/// Receives structure and text, produces blocks.
struct Builder<'a> {
    max_word_chars: usize,
    max_heading_bytes: usize,
    max_blocks: usize,
    max_nesting_depth: usize,
    cancelled: &'a dyn Fn() -> bool,
    /// Events since the last cancellation check.
    ticks: usize,
    /// The first error (a limit, or cancellation); once set, input is ignored.
    error: Option<Error>,
    blocks: Vec<RawBlock>,
    buf: String,
    containers: Vec<BlockKind>,
    heading: Option<u8>,
    code_depth: usize,
    table_depth: usize,
    table: TableState,
    /// Open headings (level, text truncated to `max_heading_bytes`).
    headings: Vec<(u8, Arc<str>)>,
    /// `headings` as the path every new block shares; rebuilt when a heading closes.
    path: HeadingPath,
}

impl<'a> Builder<'a> {
    fn new(config: &CleanConfig, cancelled: &'a dyn Fn() -> bool) -> Self {
        Builder {
            max_word_chars: config.max_word_chars.max(1),
            max_heading_bytes: config.max_heading_bytes,
            max_blocks: config.max_blocks,
            max_nesting_depth: config.max_nesting_depth,
            cancelled,
            ticks: 0,
            error: None,
            blocks: Vec::new(),
            buf: String::new(),
            containers: Vec::new(),
            heading: None,
            code_depth: 0,
            table_depth: 0,
            table: TableState::default(),
            headings: Vec::new(),
            path: HeadingPath::default(),
        }
    }

    /// Count one parse event; every [`CANCEL_CHECK_EVERY`] events ask the cancellation
    /// callback. Returns true when the walk must stop (cancelled or a limit was hit).
    fn tick(&mut self) -> bool {
        if self.error.is_some() {
            return true;
        }
        self.ticks += 1;
        if self.ticks >= CANCEL_CHECK_EVERY {
            self.ticks = 0;
            if (self.cancelled)() {
                self.error = Some(Error::Cancelled);
                return true;
            }
        }
        false
    }

    /// Ask the cancellation callback now (between pieces of parser input). Returns true
    /// when the walk must stop.
    fn check_cancelled(&mut self) -> bool {
        if self.error.is_none() && (self.cancelled)() {
            self.error = Some(Error::Cancelled);
        }
        self.error.is_some()
    }

    /// Record an error; the first one wins.
    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Append a block, enforcing `max_blocks`.
    fn push_block(&mut self, kind: BlockKind, text: String) {
        if self.error.is_some() {
            return;
        }
        if self.blocks.len() >= self.max_blocks {
            self.fail(Error::LimitExceeded {
                what: "blocks per document",
                limit: self.max_blocks,
                got: self.blocks.len() + 1,
            });
            return;
        }
        self.blocks.push(RawBlock { kind, text, heading_path: self.path.clone() });
    }

    /// Inside a construct whose inner structure is flattened into its text.
    fn in_special(&self) -> bool {
        self.table_depth > 0 || self.heading.is_some() || self.code_depth > 0
    }

    fn text(&mut self, s: &str) {
        if self.error.is_some() {
            return;
        }
        if self.table_depth > 0 {
            self.table.text(s);
        } else {
            self.buf.push_str(s);
        }
    }

    /// A line break (`<br>`, Markdown hard/soft break).
    fn line_break(&mut self) {
        if self.code_depth > 0 && self.table_depth == 0 && self.heading.is_none() {
            self.buf.push('\n');
        } else {
            self.text(" ");
        }
    }

    /// Emit the pending prose buffer as a block of the innermost container kind.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.buf);
        let text = normalize_prose(&raw, self.max_word_chars);
        if text.is_empty() {
            return;
        }
        let kind = self.containers.last().copied().unwrap_or(BlockKind::Paragraph);
        self.push_block(kind, text);
    }

    /// A generic block-level boundary.
    fn boundary(&mut self) -> Action {
        if self.code_depth > 0 && self.table_depth == 0 && self.heading.is_none() {
            // Block elements inside <pre> are rare; keep the code flowing.
            return Action::Inline;
        }
        if self.in_special() {
            self.text(" ");
            return Action::Inline;
        }
        self.flush();
        Action::Boundary
    }

    fn open_container(&mut self, kind: BlockKind) -> Action {
        if self.in_special() {
            return self.boundary();
        }
        self.flush();
        self.containers.push(kind);
        Action::Container
    }

    fn open_heading(&mut self, level: u8) -> Action {
        if self.in_special() {
            return self.boundary();
        }
        self.flush();
        self.heading = Some(level.clamp(1, 6));
        Action::Heading
    }

    fn open_code(&mut self) -> Action {
        if self.in_special() {
            if self.code_depth > 0 {
                self.code_depth += 1;
                return Action::Code;
            }
            return self.boundary();
        }
        self.flush();
        self.code_depth = 1;
        Action::Code
    }

    fn open_table(&mut self) -> Action {
        if self.table_depth > 0 {
            self.table_depth += 1;
            self.table.text(" ");
            return Action::Table;
        }
        if self.in_special() {
            return self.boundary();
        }
        self.flush();
        self.table_depth = 1;
        self.table = TableState::default();
        Action::Table
    }

    fn open_row(&mut self) -> Action {
        match self.table_depth {
            0 => self.boundary(),
            1 => {
                self.table.close_row();
                self.table.row = Some(Vec::new());
                Action::Row
            }
            _ => {
                self.table.text(" ");
                Action::Inline
            }
        }
    }

    fn open_cell(&mut self) -> Action {
        match self.table_depth {
            0 => self.boundary(),
            1 => {
                self.table.close_cell();
                self.table.cell = Some(String::new());
                Action::Cell
            }
            _ => {
                self.table.text(" ");
                Action::Inline
            }
        }
    }

    /// Undo what `action` did at open time.
    fn close(&mut self, action: Action) {
        match action {
            Action::Inline => {}
            Action::Boundary => self.flush(),
            Action::Container => {
                self.flush();
                self.containers.pop();
            }
            Action::Heading => self.close_heading(),
            Action::Code => {
                self.code_depth = self.code_depth.saturating_sub(1);
                if self.code_depth == 0 {
                    self.close_code();
                }
            }
            Action::Table => {
                self.table_depth = self.table_depth.saturating_sub(1);
                if self.table_depth == 0 {
                    self.close_table();
                } else {
                    self.table.text(" ");
                }
            }
            Action::Row => self.table.close_row(),
            Action::Cell => self.table.close_cell(),
        }
    }

    fn close_heading(&mut self) {
        let Some(level) = self.heading.take() else {
            return;
        };
        let raw = std::mem::take(&mut self.buf);
        let text = normalize_prose(&raw, self.max_word_chars);
        if text.is_empty() {
            return;
        }
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.headings.push((level, Arc::from(truncate_heading(&text, self.max_heading_bytes))));
        // The innermost headings that fit in `max_heading_bytes` together (at most six
        // levels: the new path copies at most six pointers, never heading text).
        let mut total = 0;
        let mut kept: Vec<Arc<str>> = self
            .headings
            .iter()
            .rev()
            .filter(|(_, t)| !t.is_empty())
            .take_while(|(_, t)| {
                total += t.len();
                total <= self.max_heading_bytes
            })
            .map(|(_, t)| Arc::clone(t))
            .collect();
        kept.reverse();
        self.path = HeadingPath(kept.into());
        self.push_block(BlockKind::Heading(level), text);
    }

    fn close_code(&mut self) {
        let raw = std::mem::take(&mut self.buf);
        let text = normalize_code(&raw, self.max_word_chars);
        if text.is_empty() {
            return;
        }
        self.push_block(BlockKind::Code, text);
    }

    fn close_table(&mut self) {
        let mut table = std::mem::take(&mut self.table);
        table.close_row();
        let mut text = String::new();
        for row in &table.rows {
            let cells: Vec<String> =
                row.iter().map(|c| normalize_prose(c, self.max_word_chars)).filter(|c| !c.is_empty()).collect();
            if cells.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&cells.join(" | "));
        }
        if text.is_empty() {
            return;
        }
        self.push_block(BlockKind::Table, text);
    }

    /// Close whatever is still open (unbalanced input) and assemble the document.
    fn finish(self, title: Option<String>) -> Result<CleanedDoc> {
        self.finish_with(title, true)
    }

    /// [`Builder::finish`]; without `title`, the first heading is the title only if
    /// `title_from_headings`.
    fn finish_with(mut self, title: Option<String>, title_from_headings: bool) -> Result<CleanedDoc> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.heading.is_some() {
            self.close_heading();
        }
        if self.table_depth > 0 {
            self.table_depth = 0;
            self.close_table();
        }
        if self.code_depth > 0 {
            self.code_depth = 0;
            self.close_code();
        }
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }

        let title = title.map(|t| normalize_prose(&t, self.max_word_chars)).filter(|t| !t.is_empty()).or_else(|| {
            if !title_from_headings {
                return None;
            }
            let first = |lvl: Option<u8>| {
                self.blocks.iter().find(|b| match (b.kind, lvl) {
                    (BlockKind::Heading(l), Some(want)) => l == want,
                    (BlockKind::Heading(_), None) => true,
                    _ => false,
                })
            };
            first(Some(1)).or_else(|| first(None)).map(|b| b.text.clone())
        });
        // The title is prepended to every chunk's embedded text: bounded like a heading,
        // or a 64 KiB first heading costs 64 KiB per chunk.
        let max_heading_bytes = self.max_heading_bytes;
        let title = title.map(|t| truncate_heading(&t, max_heading_bytes).to_owned()).filter(|t| !t.is_empty());

        let total: usize = self.blocks.iter().map(|b| b.text.len() + 2).sum();
        let mut text = String::with_capacity(total);
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for raw in self.blocks {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let start = text.len();
            text.push_str(&raw.text);
            blocks.push(Block { kind: raw.kind, start, end: text.len(), heading_path: raw.heading_path });
        }
        Ok(CleanedDoc { text, title, blocks })
    }
}

// ---------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------

/// Elements that never hold readable prose, or are page chrome; skipped with their subtree.
const DROP_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "nav", "header", "footer", "aside", "form", "button",
    "iframe", "frame", "frameset", "object", "embed", "applet", "canvas", "audio", "video", "picture", "img", "map",
    "select", "input", "textarea", "option", "label", "dialog", "menu", "head", "title", "meta", "link", "base",
    "datalist", "output", "progress", "meter", "slot",
];

/// id/class words (split on `-`/`_`) that mark navigation or page chrome.
const CHROME_WORDS: &[&str] = &[
    "sidebar",
    "navbar",
    "menubar",
    "nav",
    "navigation",
    "toc",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "masthead",
    "cookie",
    "cookies",
    "popup",
    "modal",
    "skiplink",
    "searchbar",
    "searchresults",
    "share",
    "social",
    "advert",
    "advertisement",
    "banner",
];

/// Adjacent id/class word pairs that mark chrome (`menu-bar`, `skip-link`, …).
const CHROME_PAIRS: &[(&str, &str)] =
    &[("menu", "bar"), ("skip", "link"), ("site", "header"), ("page", "header"), ("site", "footer"), ("table", "of")];

/// ARIA landmark roles of chrome.
const CHROME_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "menu",
    "menubar",
    "dialog",
    "alertdialog",
    "toolbar",
];

const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "hgroup",
    "hr",
    "html",
    "legend",
    "main",
    "ol",
    "p",
    "section",
    "summary",
    "ul",
    "dir",
    "tfoot",
];

/// Does an id or class token name page chrome?
fn is_chrome_token(token: &str) -> bool {
    let lower = token.to_ascii_lowercase().replace('_', "-");
    let words: Vec<&str> = lower.split('-').filter(|w| !w.is_empty()).collect();
    if words.iter().any(|w| CHROME_WORDS.contains(w)) {
        return true;
    }
    if words.windows(2).any(|p| CHROME_PAIRS.iter().any(|(a, b)| p[0] == *a && p[1] == *b)) {
        return true;
    }
    // camelCase / glued forms: `mainSidebar`, `topnavbar`.
    ["sidebar", "navbar", "menubar", "breadcrumb"].iter().any(|w| lower.contains(w))
}

/// Should this element (and its subtree) be skipped?
fn is_dropped(el: &scraper::node::Element) -> bool {
    let name = el.name();
    if DROP_TAGS.contains(&name) {
        return true;
    }
    if el.attr("hidden").is_some() {
        return true;
    }
    if el.attr("aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return true;
    }
    if let Some(role) = el.attr("role") {
        if role.split_ascii_whitespace().any(|r| CHROME_ROLES.iter().any(|c| r.eq_ignore_ascii_case(c))) {
            return true;
        }
    }
    if let Some(style) = el.attr("style") {
        let compact: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if compact.contains("display:none") || compact.contains("visibility:hidden") {
            return true;
        }
    }
    if el.id().is_some_and(is_chrome_token) {
        return true;
    }
    el.classes().any(is_chrome_token)
}

/// What opening this element does to the builder.
fn open_element(b: &mut Builder, name: &str) -> Action {
    match name {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = name.as_bytes().get(1).map(|d| d.saturating_sub(b'0')).unwrap_or(1);
            b.open_heading(level)
        }
        "li" => b.open_container(BlockKind::ListItem),
        "blockquote" => b.open_container(BlockKind::Quote),
        "pre" | "listing" | "xmp" | "plaintext" => b.open_code(),
        "table" => b.open_table(),
        "tr" => b.open_row(),
        "td" | "th" => b.open_cell(),
        "br" => {
            b.line_break();
            Action::Inline
        }
        "thead" | "tbody" => Action::Inline,
        n if BLOCK_TAGS.contains(&n) => b.boundary(),
        _ => Action::Inline,
    }
}

/// Walk the subtree of `root` iteratively, feeding the builder.
fn walk_html(root: ego_tree::NodeRef<'_, Node>, b: &mut Builder) {
    // `traverse` yields Open/Close edges without recursion; `actions` is our explicit
    // stack of what each open element did; `skipping` is the id of a dropped subtree.
    let mut actions: Vec<Action> = Vec::new();
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in root.traverse() {
        if b.tick() {
            return;
        }
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(t) => b.text(t),
                    Node::Element(el) => {
                        if node.id() != root.id() && is_dropped(el) {
                            skipping = Some(node.id());
                            continue;
                        }
                        actions.push(open_element(b, el.name()));
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skipping {
                    if id == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if node.value().is_element() {
                    if let Some(action) = actions.pop() {
                        b.close(action);
                    }
                }
            }
        }
    }
    while let Some(action) = actions.pop() {
        b.close(action);
    }
}

/// Find the first element (document order) matching `pred`, iteratively.
fn find_element<'a>(
    root: ego_tree::NodeRef<'a, Node>,
    pred: impl Fn(&scraper::node::Element) -> bool,
) -> Option<ego_tree::NodeRef<'a, Node>> {
    root.descendants().find(|n| n.value().as_element().is_some_and(&pred))
}

/// Elements without content or end tag: they never deepen the tree.
const VOID_TAGS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose content the tokenizer reads as raw text: they must reach the tree
/// builder, which switches the tokenizer's state, or their content would be parsed as
/// markup and leak into the text. They hold no elements, so they deepen the tree by one.
const RAW_TEXT_TAGS: &[&str] =
    &["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"];

/// Bytes of HTML fed to the parser between two cancellation checks.
const HTML_PIECE_BYTES: usize = 16 << 10;

/// Counts the handles the tree builder holds: its stack of open elements, its list of
/// active formatting elements and a few singletons (document, head, form, context).
struct CountHandles(Cell<usize>);

impl Tracer for CountHandles {
    type Handle = ego_tree::NodeId;
    fn trace_handle(&self, _node: &ego_tree::NodeId) {
        self.0.set(self.0.get() + 1);
    }
}

/// Between html5ever's tokenizer and tree builder: drops start tags that would nest
/// deeper than the limit, and their end tags.
///
/// Why: the tree builder scans its stack of open elements (and list of active formatting
/// elements) for most tags, so its cost per tag grows with the depth and a document of
/// `n` nested elements costs `O(n²)` — 100 000 nested `<div>`s took 14 s in the browser.
/// Keeping both below `max_depth` (plus what one token can add) bounds the cost per tag.
/// The depth is measured exactly, through the tree builder's `trace_handles`, before every
/// start tag: `O(depth)`, the same order as the scans the tree builder does itself.
struct DepthLimit {
    tb: TreeBuilder<ego_tree::NodeId, HtmlTreeSink>,
    max_depth: usize,
    /// Start tags left out and not yet matched by an end tag, by name.
    dropped: RefCell<HashMap<LocalName, usize>>,
}

impl DepthLimit {
    /// What a left-out tag becomes: a space, so the words on both sides stay apart.
    fn separator(&self, line_number: u64) -> TokenSinkResult<ego_tree::NodeId> {
        self.tb.process_token(Token::CharacterTokens(StrTendril::from_slice(" ")), line_number)
    }
}

impl TokenSink for DepthLimit {
    type Handle = ego_tree::NodeId;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<ego_tree::NodeId> {
        if let Token::TagToken(tag) = &token {
            let name: &str = &tag.name;
            match tag.kind {
                TagKind::StartTag if !VOID_TAGS.contains(&name) && !RAW_TEXT_TAGS.contains(&name) => {
                    let count = CountHandles(Cell::new(0));
                    self.tb.trace_handles(&count);
                    if count.0.get() > self.max_depth {
                        if !tag.self_closing {
                            *self.dropped.borrow_mut().entry(tag.name.clone()).or_insert(0) += 1;
                        }
                        return self.separator(line_number);
                    }
                }
                TagKind::EndTag => {
                    // The innermost open element of a name is the last one dropped, if any.
                    let matched = self.dropped.borrow_mut().get_mut(&tag.name).filter(|n| **n > 0).map(|n| *n -= 1);
                    if matched.is_some() {
                        return self.separator(line_number);
                    }
                }
                TagKind::StartTag => {}
            }
        }
        self.tb.process_token(token, line_number)
    }

    fn end(&self) {
        self.tb.end()
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.tb.adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Parse HTML — a whole document, or a fragment in a `<body>` context as Markdown's raw
/// HTML — with the nesting depth limited (see [`DepthLimit`]), asking the cancellation
/// callback after every [`HTML_PIECE_BYTES`] of input. `None` when cancelled.
fn parse_html(body: &str, fragment: bool, b: &mut Builder) -> Option<Html> {
    let (tb, tokenizer_opts) = if fragment {
        let sink = HtmlTreeSink::new(Html::new_fragment());
        let context = create_element(&sink, QualName::new(None, ns!(html), local_name!("body")), Vec::new());
        let tb = TreeBuilder::new_for_fragment(sink, context, None, TreeBuilderOpts::default());
        let opts = TokenizerOpts { initial_state: Some(tb.tokenizer_state_for_context_elem()), ..Default::default() };
        (tb, opts)
    } else {
        let sink = HtmlTreeSink::new(Html::new_document());
        (TreeBuilder::new(sink, TreeBuilderOpts::default()), TokenizerOpts::default())
    };
    let limit = DepthLimit { tb, max_depth: b.max_nesting_depth, dropped: RefCell::new(HashMap::new()) };
    let tokenizer = Tokenizer::new(limit, tokenizer_opts);
    let queue = BufferQueue::default();
    let mut rest = body;
    while !rest.is_empty() {
        // Not before the first piece: Markdown parses many small fragments, and the
        // builder's own count of events covers those.
        if rest.len() < body.len() && b.check_cancelled() {
            return None;
        }
        let mut cut = rest.len().min(HTML_PIECE_BYTES);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        queue.push_back(StrTendril::from_slice(piece));
        // `Script` only pauses the tokenizer for a script to run; nothing runs here.
        while let TokenizerResult::Script(_) = tokenizer.feed(&queue) {}
        rest = tail;
    }
    tokenizer.end();
    Some(tokenizer.sink.tb.sink.finish())
}

/// Clean HTML into `b`; returns the `<title>` text if any.
fn clean_html(body: &str, b: &mut Builder) -> Option<String> {
    let html = parse_html(body, false, b)?;
    let doc_root = html.tree.root();
    walk_html_document(doc_root, b)
}

fn walk_html_document(doc_root: ego_tree::NodeRef<'_, Node>, b: &mut Builder) -> Option<String> {
    // <title> of the document head (not an SVG <title>).
    let title = find_element(doc_root, |e| e.name() == "title").and_then(|t| {
        let in_head = t.parent().and_then(|p| p.value().as_element().map(|e| e.name() == "head")).unwrap_or(false);
        in_head.then(|| t.descendants().filter_map(|n| n.value().as_text().map(|x| x.to_string())).collect::<String>())
    });

    // Main content first: <main> or role="main".
    let main = find_element(doc_root, |e| {
        e.name() == "main" || e.attr("role").is_some_and(|r| r.eq_ignore_ascii_case("main"))
    });
    if let Some(main) = main {
        let before = b.blocks.len();
        walk_html(main, b);
        if b.blocks.len() > before {
            return title;
        }
    }
    let body = find_element(doc_root, |e| e.name() == "body");
    match body {
        Some(body) => walk_html(body, b),
        None => walk_html(doc_root, b),
    }
    title
}

// ---------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------

fn clean_markdown(body: &str, b: &mut Builder) {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut actions: Vec<Action> = Vec::new();
    let mut html_block: Option<String> = None;
    let mut in_metadata = false;
    // Raw inline <script>/<style> in a paragraph: skip the text until it closes.
    let mut raw_skip: Option<&'static str> = None;
    for event in Parser::new_ext(body, options) {
        if b.tick() {
            return;
        }
        match event {
            Event::Start(tag) => {
                let action = match tag {
                    Tag::Heading { level, .. } => b.open_heading(level as u8),
                    Tag::Paragraph | Tag::List(_) | Tag::DefinitionList => b.boundary(),
                    Tag::DefinitionListTitle | Tag::DefinitionListDefinition => b.boundary(),
                    Tag::FootnoteDefinition(_) => b.boundary(),
                    Tag::Item => b.open_container(BlockKind::ListItem),
                    Tag::BlockQuote(_) => b.open_container(BlockKind::Quote),
                    Tag::CodeBlock(_) => b.open_code(),
                    Tag::Table(_) => b.open_table(),
                    Tag::TableHead | Tag::TableRow => b.open_row(),
                    Tag::TableCell => b.open_cell(),
                    Tag::HtmlBlock => {
                        html_block = Some(String::new());
                        Action::Inline
                    }
                    Tag::MetadataBlock(_) => {
                        in_metadata = true;
                        Action::Inline
                    }
                    _ => Action::Inline,
                };
                actions.push(action);
            }
            Event::End(end) => {
                match end {
                    TagEnd::HtmlBlock => {
                        if let Some(raw) = html_block.take() {
                            b.boundary();
                            if let Some(fragment) = parse_html(&raw, true, b) {
                                walk_html(fragment.tree.root(), b);
                            }
                            b.boundary();
                        }
                    }
                    TagEnd::MetadataBlock(_) => in_metadata = false,
                    _ => {}
                }
                if let Some(action) = actions.pop() {
                    b.close(action);
                }
            }
            Event::Text(t) => {
                if in_metadata || raw_skip.is_some() {
                    continue;
                }
                if let Some(h) = html_block.as_mut() {
                    h.push_str(&t);
                } else {
                    b.text(&t);
                }
            }
            Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                if raw_skip.is_none() {
                    b.text(&t)
                }
            }
            Event::Html(t) => match html_block.as_mut() {
                Some(h) => h.push_str(&t),
                None => {
                    // Raw HTML outside an HTML block: parse it on its own.
                    b.boundary();
                    if let Some(fragment) = parse_html(&t, true, b) {
                        walk_html(fragment.tree.root(), b);
                    }
                    b.boundary();
                }
            },
            Event::InlineHtml(t) => {
                let lower = t.trim().to_ascii_lowercase();
                match raw_skip {
                    Some(tag) => {
                        if lower.strip_prefix("</").is_some_and(|r| r.starts_with(tag)) {
                            raw_skip = None;
                        }
                    }
                    None => {
                        for tag in ["script", "style", "template", "noscript", "textarea"] {
                            if lower.strip_prefix('<').is_some_and(|r| r.starts_with(tag)) && !lower.ends_with("/>") {
                                raw_skip = Some(tag);
                            }
                        }
                        if lower.starts_with("<br") {
                            b.line_break();
                        }
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if html_block.is_none() && raw_skip.is_none() {
                    b.line_break()
                }
            }
            Event::Rule => {
                b.boundary();
            }
            Event::FootnoteReference(_) | Event::TaskListMarker(_) => {}
        }
    }
    while let Some(action) = actions.pop() {
        b.close(action);
    }
}

// ---------------------------------------------------------------------------------
// Plain text
// ---------------------------------------------------------------------------------

fn clean_text(body: &str, b: &mut Builder) {
    let mut para = String::new();
    for line in body.lines() {
        if b.tick() {
            return;
        }
        if line.chars().all(|c| c.is_whitespace() || c.is_control() || is_invisible_format(c)) {
            if !para.is_empty() {
                b.text(&para);
                b.flush();
                para.clear();
            }
        } else {
            para.push_str(line);
            para.push('\n');
        }
    }
    b.text(&para);
    b.flush();
}

/// Pages separated by form feeds: each non-blank page opens a level-1 section "p. N"
/// (so no chunk spans two pages), then its paragraphs as plain text.
fn clean_pages(body: &str, b: &mut Builder) {
    for (i, page) in body.split('\u{c}').enumerate() {
        if b.error.is_some() || b.check_cancelled() {
            return;
        }
        if page.chars().all(|c| c.is_whitespace() || c.is_control() || is_invisible_format(c)) {
            continue;
        }
        b.open_heading(1);
        b.text(&format!("p. {}", i + 1));
        b.close_heading();
        clean_text(page, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(body: &str) -> CleanedDoc {
        clean(&Document::new("t.html", body).with_format(Format::Html), &CleanConfig::default()).unwrap()
    }

    fn md(body: &str) -> CleanedDoc {
        clean(&Document::new("t.md", body).with_format(Format::Markdown), &CleanConfig::default()).unwrap()
    }

    fn check_offsets(doc: &CleanedDoc) {
        let mut prev_end = 0;
        for (i, b) in doc.blocks.iter().enumerate() {
            assert!(b.start >= prev_end && b.start < b.end && b.end <= doc.text.len(), "block {i} {b:?}");
            assert!(doc.text.is_char_boundary(b.start) && doc.text.is_char_boundary(b.end));
            if i > 0 {
                assert_eq!(&doc.text[prev_end..b.start], "\n\n");
            }
            prev_end = b.end;
        }
        assert_eq!(prev_end, doc.text.len());
    }

    #[test]
    fn normalizes_unicode_and_whitespace() {
        // e + combining acute → é (NFC); NBSP, tab, zero-width space, control char, soft hyphen.
        let d = clean(
            &Document::new(
                "a.txt",
                "Cafe\u{301}\u{a0}au\tlait\u{200b}!\u{7}\u{ad}\r\nsecond line\n\n\n  next   para  ",
            ),
            &CleanConfig::default(),
        )
        .unwrap();
        assert_eq!(d.text, "Caf\u{e9} au lait! second line\n\nnext para");
        assert_eq!(d.blocks.len(), 2);
        check_offsets(&d);
    }

    #[test]
    fn drops_overlong_words() {
        let blob = "A".repeat(300);
        let d = clean(
            &Document::new("a.txt", format!("before {blob} after")),
            &CleanConfig { max_word_chars: 256, ..CleanConfig::default() },
        )
        .unwrap();
        assert_eq!(d.text, "before after");
        let d = clean(&Document::new("a.txt", blob.clone()), &CleanConfig::default()).unwrap();
        assert_eq!(d.text, "");
        assert!(d.blocks.is_empty());
    }

    #[test]
    fn html_structure_is_kept() {
        let d = html(
            "<html><head><title>My Page</title></head><body>\
             <h1>Top</h1><p>Intro <b>bold</b>\n  text.</p>\
             <h2>Sub</h2><ul><li>one</li><li>two <ul><li>inner</li></ul></li></ul>\
             <table><tr><th>Name</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table>\
             <pre><code>fn main() {\n    println!(\"hi\");\n}\n</code></pre>\
             <blockquote><p>quoted</p></blockquote>\
             <h1>Second</h1><p>after</p></body></html>",
        );
        check_offsets(&d);
        assert_eq!(d.title.as_deref(), Some("My Page"));
        let got: Vec<(BlockKind, &str, Vec<String>)> =
            d.blocks.iter().map(|b| (b.kind, &d.text[b.start..b.end], b.heading_path.to_vec())).collect();
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (BlockKind::Heading(1), "Top", p(&["Top"])),
                (BlockKind::Paragraph, "Intro bold text.", p(&["Top"])),
                (BlockKind::Heading(2), "Sub", p(&["Top", "Sub"])),
                (BlockKind::ListItem, "one", p(&["Top", "Sub"])),
                (BlockKind::ListItem, "two", p(&["Top", "Sub"])),
                (BlockKind::ListItem, "inner", p(&["Top", "Sub"])),
                (BlockKind::Table, "Name | Value\na | 1", p(&["Top", "Sub"])),
                (BlockKind::Code, "fn main() {\n    println!(\"hi\");\n}", p(&["Top", "Sub"])),
                (BlockKind::Quote, "quoted", p(&["Top", "Sub"])),
                (BlockKind::Heading(1), "Second", p(&["Second"])),
                (BlockKind::Paragraph, "after", p(&["Second"])),
            ]
        );
    }

    #[test]
    fn html_title_falls_back_to_first_h1() {
        let d = html("<body><h2>Not me</h2><h1>Me</h1><p>x</p></body>");
        assert_eq!(d.title.as_deref(), Some("Me"));
    }

    #[test]
    fn hostile_html_yields_inert_text() {
        let d = html(
            "<html><head><script>alert('head')</script><style>body{color:red}</style></head><body>\
             <p>Hello <a href=\"javascript:alert(1)\" onclick=\"alert(2)\">click here</a>.</p>\
             <img src=x onerror=\"alert(3)\"><script>document.write('evil')</script>\
             <svg onload=alert(4)><script>alert(5)</script><text>svgtext</text></svg>\
             <iframe src=\"javascript:alert(6)\">frame</iframe><noscript>nos</noscript>\
             <template><p>tmpl</p></template><!-- secret comment -->\
             <form action=x><input value=in><button onclick=alert(7)>Press</button></form>\
             <p style=\"display: none\">invisible</p><div hidden>hid</div>\
             <p>World</p></body></html>",
        );
        assert_eq!(d.text, "Hello click here.\n\nWorld");
        for bad in ["alert", "javascript", "onerror", "script", "evil", "<", "secret", "svgtext", "Press"] {
            assert!(!d.text.contains(bad), "{bad} leaked into {:?}", d.text);
        }
    }

    #[test]
    fn chrome_is_dropped_and_main_preferred() {
        let d = html(
            "<body><div class=\"sidebar\"><ol><li>Chapter 1</li></ol></div>\
             <div id=\"menu-bar\"><h1 class=\"menu-title\">Book</h1></div>\
             <main><h1><a class=\"header\" href=\"#x\">Real</a></h1><p>content</p></main>\
             <nav class=\"nav-wrapper\"><a>Next</a></nav></body>",
        );
        assert_eq!(d.text, "Real\n\ncontent");
        // Without <main>, chrome is still dropped from the body.
        let d = html(
            "<body><div id=\"mdbook-sidebar\">Chapter list</div><div class=\"breadcrumbs\">Home</div>\
             <header>Site</header><article><p>body text</p></article><footer>(c)</footer>\
             <div role=\"navigation\">links</div><div class=\"toc\">toc</div></body>",
        );
        assert_eq!(d.text, "body text");
    }

    #[test]
    fn html_without_body_or_text() {
        let d = html("<html><head><title>Only a title</title></head></html>");
        assert_eq!(d.text, "");
        assert_eq!(d.title.as_deref(), Some("Only a title"));
        let d = html("just some <b>text</b> without tags around");
        assert_eq!(d.text, "just some text without tags around");
        let d = html("<html><head><script>x()</script></head></html>");
        assert_eq!(d.text, "");
        assert!(d.blocks.is_empty());
    }

    #[test]
    fn deeply_nested_html_does_not_overflow() {
        // Run on a small stack to make a recursive walk fail loudly.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut s = String::new();
                for tag in ["div", "span", "b", "li", "blockquote", "table"] {
                    s.clear();
                    s.push_str("<html><body>");
                    for _ in 0..10_000 {
                        s.push('<');
                        s.push_str(tag);
                        s.push('>');
                    }
                    s.push_str("deep text");
                    for _ in 0..10_000 {
                        s.push_str("</");
                        s.push_str(tag);
                        s.push('>');
                    }
                    s.push_str("</body></html>");
                    let d = html(&s);
                    assert!(d.text.contains("deep text"), "{tag}: {:?}", &d.text[..d.text.len().min(100)]);
                }
                // Unclosed, too.
                let d = html(&format!("{}tail", "<div><p>x".repeat(10_000)));
                assert!(d.text.ends_with("tail"));
            })
            .unwrap();
        handle.join().expect("deeply nested HTML must not overflow the stack");
    }

    #[test]
    fn markdown_structure() {
        let d = md("---\ntitle: meta\n---\n# Title\n\nSome *text*\nwrapped.\n\n## Part\n\n- a\n- b `code`\n\n\
                    > quote\n\n```rust\nfn x() {\n\tlet y = 1;\n}\n```\n\n| h1 | h2 |\n|----|----|\n| c1 | c2 |\n\n\
                    <div>raw <script>alert(1)</script> html</div>\n\ninline <script>bad()</script> end\n");
        check_offsets(&d);
        assert_eq!(d.title.as_deref(), Some("Title"));
        let got: Vec<(BlockKind, &str)> = d.blocks.iter().map(|b| (b.kind, &d.text[b.start..b.end])).collect();
        assert_eq!(
            got,
            vec![
                (BlockKind::Heading(1), "Title"),
                (BlockKind::Paragraph, "Some text wrapped."),
                (BlockKind::Heading(2), "Part"),
                (BlockKind::ListItem, "a"),
                (BlockKind::ListItem, "b code"),
                (BlockKind::Quote, "quote"),
                (BlockKind::Code, "fn x() {\n    let y = 1;\n}"),
                (BlockKind::Table, "h1 | h2\nc1 | c2"),
                (BlockKind::Paragraph, "raw html"),
                (BlockKind::Paragraph, "inline end"),
            ]
        );
        assert_eq!(d.blocks[6].heading_path, vec!["Title".to_string(), "Part".to_string()]);
    }

    fn nested(tag: &str, n: usize, inner: &str) -> String {
        format!("<html><body>{}{inner}{}</body></html>", format!("<{tag}>").repeat(n), format!("</{tag}>").repeat(n))
    }

    /// Deepest element of a parsed tree (iteratively).
    fn max_depth(html: &Html) -> usize {
        let (mut depth, mut max) = (0usize, 0usize);
        for edge in html.tree.root().traverse() {
            match edge {
                Edge::Open(_) => {
                    depth += 1;
                    max = max.max(depth);
                }
                Edge::Close(_) => depth -= 1,
            }
        }
        max
    }

    fn parse_with(body: &str, max_nesting_depth: usize) -> Html {
        let config = CleanConfig { max_nesting_depth, ..CleanConfig::default() };
        let mut b = Builder::new(&config, &|| false);
        parse_html(body, false, &mut b).unwrap()
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_flattened() {
        // 300 000 levels (3.3 MB) — quadratic before: minutes. Handled, text kept.
        let d = html(&nested("div", 300_000, "deep text"));
        assert_eq!(d.text, "deep text");
        let tree = parse_with(&nested("div", 300_000, "x"), 512);
        let depth = max_depth(&tree);
        assert!((500..=520).contains(&depth), "depth {depth}");
        // Below the limit nothing changes; past it elements are left out, text kept.
        let list = |n: usize| format!("<ul>{}", (0..n).map(|i| format!("<li>item{i}<ul>")).collect::<String>());
        let items = |d: &CleanedDoc| d.blocks.iter().filter(|b| b.kind == BlockKind::ListItem).count();
        let config = |depth: usize| CleanConfig { max_nesting_depth: depth, ..CleanConfig::default() };
        let doc = Document::new("t.html", list(30)).with_format(Format::Html);
        let full = clean(&doc, &config(512)).unwrap();
        assert_eq!(items(&full), 30);
        let flat = clean(&doc, &config(20)).unwrap();
        assert!(items(&flat) < 10, "{} items", items(&flat));
        assert!((0..30).all(|i| flat.text.contains(&format!("item{i}"))), "{:?}", flat.text);
        // End tags of dropped elements are dropped too: what follows the deep part is
        // a sibling at the right level again.
        let body = format!("<body>{}<p>after</p></body>", nested("section", 40, "<p>inside</p>"));
        let d = clean(&Document::new("t.html", body).with_format(Format::Html), &config(10)).unwrap();
        assert_eq!(d.text, "inside\n\nafter");
        // Raw-text elements are never dropped: a script past the limit stays a script.
        let body = format!("{}<script>alert('x')</script>text", "<div>".repeat(100));
        let d = clean(&Document::new("t.html", body).with_format(Format::Html), &config(10)).unwrap();
        assert_eq!(d.text, "text");
    }

    #[test]
    fn formatting_elements_cannot_deepen_the_tree_without_bound() {
        // Formatting elements left open across paragraphs are reopened ("reconstructed")
        // in each new paragraph: 20 000 distinct ones would nest 20 000 deep.
        let body: String = (0..20_000).map(|i| format!("<p><b id=b{i}>w{i}</p>")).collect();
        let tree = parse_with(&body, 64);
        assert!(max_depth(&tree) <= 200, "depth {}", max_depth(&tree));
        let d = html(&body);
        assert!(d.text.contains("w0") && d.text.contains("w19999"));
    }

    #[test]
    fn parsing_in_pieces_matches_scraper() {
        // The tokenizer and tree builder driven here (in pieces, depth-limited) build the
        // same tree as scraper's one-shot parse for real pages.
        for page in ["guide/cargo-toml-vs-cargo-lock.html", "reference/profiles.html", "print.html"] {
            let body = cargo_book(page);
            let config = CleanConfig::default();
            let ours = clean(&Document::new(page, body.as_str()).with_format(Format::Html), &config).unwrap();
            let mut b = Builder::new(&config, &|| false);
            let title = walk_html_document(Html::parse_document(&body).tree.root(), &mut b);
            let theirs = b.finish(title).unwrap();
            assert_eq!(ours, theirs, "{page}");
            assert_eq!(max_depth(&parse_with(&body, 512)), max_depth(&Html::parse_document(&body)), "{page}");
        }
        // Markdown's raw HTML goes through the fragment parser.
        let d = md("text\n\n<div><p>one</p><table><tr><td>a</td><td>b</td></tr></table></div>\n");
        assert_eq!(d.text, "text\n\none\n\na | b");
    }

    #[test]
    fn deeply_nested_markdown_does_not_overflow() {
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let d = md(&format!("{}deep", "> ".repeat(10_000)));
                assert!(d.text.contains("deep"));
                let list: String = (0..2_000).map(|i| format!("{}- item{i}\n", "  ".repeat(i))).collect();
                let d = md(&list);
                assert!(d.text.contains("item1999"));
            })
            .unwrap();
        handle.join().expect("deeply nested Markdown must not overflow the stack");
    }

    /// The engine-killing input of issue 14: one 64 KiB heading, then 100 000 tiny
    /// paragraphs (0.36 MB). Every block used to copy the whole heading path (6.5 GB).
    pub(crate) fn long_heading_many_paragraphs() -> String {
        let mut s = String::from("# ");
        s.push_str(&"heading ".repeat(8192));
        s.push_str("\n\n");
        s.push_str(&"p\n\n".repeat(100_000));
        s
    }

    /// Bytes of heading text held by the distinct shared paths of `doc`'s blocks.
    fn shared_heading_bytes(doc: &CleanedDoc) -> usize {
        let mut seen: Vec<&HeadingPath> = Vec::new();
        for b in &doc.blocks {
            if !seen.last().is_some_and(|p| HeadingPath::ptr_eq(p, &b.heading_path)) {
                seen.push(&b.heading_path);
            }
        }
        seen.iter().map(|p| p.text_bytes()).sum()
    }

    #[test]
    fn long_heading_over_many_blocks_is_shared_and_truncated() {
        let body = long_heading_many_paragraphs();
        let d = md(&body);
        assert_eq!(d.blocks.len(), 100_001);
        // The heading's own text is kept whole in the document text…
        assert_eq!(d.blocks[0].kind, BlockKind::Heading(1));
        assert_eq!(d.blocks[0].end - d.blocks[0].start, "heading ".len() * 8192 - 1);
        // …but its copy in the heading path is cut at a word boundary to the limit,
        let path = &d.blocks[1].heading_path;
        assert_eq!(path.len(), 1);
        let entry = path.iter().next().unwrap();
        assert!(entry.len() <= 1024 && entry.len() > 1000, "{}", entry.len());
        assert!(entry.ends_with("heading") && !entry.ends_with(' '));
        // …and shared by every block, not copied: the heading text held by all block
        // paths together is the one truncated copy.
        assert!(d.blocks.iter().all(|b| HeadingPath::ptr_eq(&b.heading_path, path)));
        assert!(shared_heading_bytes(&d) <= 1024);
        assert!(shared_heading_bytes(&d) <= body.len());
        check_offsets(&d);
    }

    #[test]
    fn heading_path_bytes_are_bounded_with_innermost_headings_kept() {
        // Multi-byte heading with no space: cut at a char boundary.
        let long = "é".repeat(1000); // 2000 bytes
        let wide = CleanConfig { max_word_chars: 2000, ..CleanConfig::default() };
        let d =
            clean(&Document::new("t.md", format!("# {long}\n\ntext")).with_format(Format::Markdown), &wide).unwrap();
        let entry = d.blocks[1].heading_path.iter().next().unwrap().to_string();
        assert_eq!(entry, "é".repeat(512));
        // Outer headings that would take the path past the limit are left out.
        let a = "a".repeat(200);
        let words = |c: &str| format!("{c} ").repeat(100).trim_end().to_string(); // 199 bytes
        let body = format!("# {a}\n\n## {}\n\n### {}\n\n#### {}\n\ntext", words("b"), words("c"), words("d"));
        let d = md(&body);
        let last = &d.blocks.last().unwrap().heading_path;
        assert!(last.text_bytes() <= 1024, "{}", last.text_bytes());
        let firsts: Vec<char> = last.iter().map(|h| h.chars().next().unwrap()).collect();
        assert_eq!(firsts, ['a', 'b', 'c', 'd'], "200 + 3 × 199 bytes fit");
        let config = CleanConfig { max_heading_bytes: 500, ..CleanConfig::default() };
        let d = clean(&Document::new("t.md", body).with_format(Format::Markdown), &config).unwrap();
        let last = &d.blocks.last().unwrap().heading_path;
        let firsts: Vec<char> = last.iter().map(|h| h.chars().next().unwrap()).collect();
        assert_eq!(firsts, ['c', 'd'], "only the innermost that fit");
        // A heading's own path always holds (the start of) the heading itself.
        let tiny = CleanConfig { max_heading_bytes: 0, ..CleanConfig::default() };
        let d = clean(&Document::new("t.md", "# Title\n\nbody").with_format(Format::Markdown), &tiny).unwrap();
        assert!(d.blocks[1].heading_path.is_empty());
        assert_eq!(&d.text, "Title\n\nbody");
    }

    #[test]
    fn heading_path_serializes_as_a_list_of_strings() {
        let d = md("# A\n\n## B\n\ntext");
        let json = serde_json::to_value(&d.blocks[2]).unwrap();
        assert_eq!(json["heading_path"], serde_json::json!(["A", "B"]));
        let back: Block = serde_json::from_value(json).unwrap();
        assert_eq!(back, d.blocks[2]);
    }

    #[test]
    fn too_many_blocks_is_a_limit_error() {
        let config = CleanConfig { max_blocks: 1000, ..CleanConfig::default() };
        for (fmt, body) in [
            (Format::Text, "p\n\n".repeat(1001)),
            (Format::Markdown, "- item\n".repeat(1001)),
            (Format::Html, "<p>x</p>".repeat(1001)),
        ] {
            match clean(&Document::new("t", body.clone()).with_format(fmt), &config) {
                Err(Error::LimitExceeded { what: "blocks per document", limit: 1000, got: 1001 }) => {}
                other => panic!("{fmt:?}: expected LimitExceeded, got {other:?}"),
            }
            let fits = body.get(..body.len() / 2).unwrap_or("");
            assert!(clean(&Document::new("t", fits).with_format(fmt), &config).is_ok(), "{fmt:?}");
        }
        // The defaults take the engine-killing input.
        assert_eq!(md(&long_heading_many_paragraphs()).blocks.len(), 100_001);
    }

    #[test]
    fn cancellation_stops_cleaning() {
        let calls = std::cell::Cell::new(0usize);
        let calls = &calls;
        let cancel_after = |n: usize| {
            move || {
                calls.set(calls.get() + 1);
                calls.get() > n
            }
        };
        let big_md = long_heading_many_paragraphs();
        let big_html = "<p>word</p>".repeat(50_000);
        let big_text = "line\n\n".repeat(50_000);
        for (fmt, body) in [(Format::Markdown, &big_md), (Format::Html, &big_html), (Format::Text, &big_text)] {
            calls.set(0);
            let doc = Document::new("t", body.as_str()).with_format(fmt);
            let r = clean_with(&doc, &CleanConfig::default(), &cancel_after(2));
            assert!(matches!(r, Err(Error::Cancelled)), "{fmt:?}: {r:?}");
            assert_eq!(calls.get(), 3, "{fmt:?}: stopped at the first check answering true");
            // Not cancelled: the callback is asked, and the result is the same as `clean`.
            calls.set(0);
            let r = clean_with(&doc, &CleanConfig::default(), &cancel_after(usize::MAX)).unwrap();
            assert!(calls.get() >= 2, "{fmt:?}: asked {} times", calls.get());
            assert_eq!(r, clean(&doc, &CleanConfig::default()).unwrap());
        }
    }

    fn cargo_book(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cargo-book").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("Cargo Book page {} is required: {e}", path.display()))
    }

    #[test]
    fn cargo_book_page_keeps_content_not_chrome() {
        let d = html(&cargo_book("guide/cargo-toml-vs-cargo-lock.html"));
        check_offsets(&d);
        assert_eq!(d.title.as_deref(), Some("Cargo.toml vs Cargo.lock - The Cargo Book"));
        assert!(d
            .text
            .starts_with("Cargo.toml vs Cargo.lock\n\nCargo.toml and Cargo.lock serve two different purposes."));
        assert!(d.text.contains("regex = { git = \"https://github.com/rust-lang/regex.git\", rev = \"9f9f693\" }"));
        assert!(d.text.ends_with("is just a short specification."));
        // Sidebar chapter list, menu bar, prev/next navigation, keyboard help, print button.
        for chrome in [
            "Getting Started",
            "Installation",
            "The Cargo Book\n",
            "Keyboard shortcuts",
            "Previous chapter",
            "Print this book",
            "Toggle Table of Contents",
            "Search this book",
            "Auto",
            "localStorage",
        ] {
            assert!(!d.text.contains(chrome), "chrome {chrome:?} leaked");
        }
        let code = d.blocks.iter().filter(|b| b.kind == BlockKind::Code).count();
        assert!(code >= 5, "code blocks kept: {code}");
    }

    #[test]
    fn pages_are_sections_named_by_their_number() {
        let body = "First page intro.\n\nSecond paragraph.\u{c}\u{c} \n\u{c}Third page fact: the port is 8080.";
        let d = clean(&Document::new("book.pdf", body).with_format(Format::Pages), &CleanConfig::default()).unwrap();
        check_offsets(&d);
        let sections: Vec<(BlockKind, &str, Vec<String>)> =
            d.blocks.iter().map(|b| (b.kind, &d.text[b.start..b.end], b.heading_path.to_vec())).collect();
        let p1 = vec!["p. 1".to_string()];
        let p4 = vec!["p. 4".to_string()];
        assert_eq!(
            sections,
            vec![
                (BlockKind::Heading(1), "p. 1", p1.clone()),
                (BlockKind::Paragraph, "First page intro.", p1.clone()),
                (BlockKind::Paragraph, "Second paragraph.", p1),
                // pages 2 and 3 are blank: skipped, still counted
                (BlockKind::Heading(1), "p. 4", p4.clone()),
                (BlockKind::Paragraph, "Third page fact: the port is 8080.", p4),
            ]
        );
        assert_eq!(d.title, None, "a page number is no title");
        // A `.txt` with form feeds (pdftotext output) is read as pages; without, as text.
        assert_eq!(Format::detect(body, Some("book.txt")), Format::Pages);
        assert_eq!(Format::detect("a\n\nb", Some("notes.txt")), Format::Text);
    }

    #[test]
    fn pages_never_share_a_chunk() {
        use crate::ingest::chunk::{chunk, tests::WordCounter, ChunkConfig};
        let body = (1..=5).map(|p| format!("Page {p} says one short thing.")).collect::<Vec<_>>().join("\u{c}");
        let d = clean(&Document::new("b.pdf", body).with_format(Format::Pages), &CleanConfig::default()).unwrap();
        let chunks = chunk(&d, &ChunkConfig::default(), &WordCounter);
        assert_eq!(chunks.len(), 5);
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.heading_path, vec![format!("p. {}", i + 1)]);
            assert!(c.text.contains(&format!("Page {} says", i + 1)), "{c:?}");
        }
    }

    #[test]
    fn cargo_book_table_and_lists() {
        let d = html(&cargo_book("reference/profiles.html"));
        check_offsets(&d);
        assert!(d.blocks.iter().any(|b| b.kind == BlockKind::Table));
        assert!(d.blocks.iter().any(|b| b.kind == BlockKind::ListItem));
        assert!(d.blocks.iter().any(|b| matches!(b.kind, BlockKind::Heading(3))));
        assert!(!d.text.contains("Keyboard shortcuts"));
    }

    fn markupish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "\\PC{0,20}",
            "[ \t\n\r\u{a0}\u{200b}\u{feff}\u{7}]{1,4}",
            Just("e\u{301}".to_string()),
            prop::sample::select(vec![
                "<p>",
                "</p>",
                "<h2>",
                "</h2>",
                "<li>",
                "<ul>",
                "</ul>",
                "<pre>",
                "</pre>",
                "<table>",
                "<tr>",
                "<td>",
                "</td>",
                "</table>",
                "<script>",
                "</script>",
                "<nav>",
                "</nav>",
                "<br>",
                "<div class=\"sidebar\">",
                "</div>",
                "<main>",
                "</main>",
                "# ",
                "## ",
                "```",
                "\n\n",
                "- ",
                "> ",
                "| a | b |\n|---|---|\n",
                "&amp;",
                "&nbsp;",
            ])
            .prop_map(str::to_string),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #[test]
        fn any_input_cleans_to_normalized_blocks(body in markupish(), fmt in 0usize..3, max_word in 1usize..40) {
            let format = [Format::Html, Format::Markdown, Format::Text][fmt];
            let d = clean(&Document::new("p", body).with_format(format), &CleanConfig { max_word_chars: max_word, ..CleanConfig::default() }).unwrap();
            check_offsets(&d);
            for b in &d.blocks {
                let t = &d.text[b.start..b.end];
                proptest::prop_assert!(!t.is_empty() && t.trim() == t || b.kind == BlockKind::Code && !t.trim().is_empty());
                proptest::prop_assert!(!t.contains("\n\n\n"));
                proptest::prop_assert!(t.split_whitespace().all(|w| w.chars().count() <= max_word));
            }
            proptest::prop_assert!(!d.text.chars().any(|c| (c.is_control() && c != '\n') || is_invisible_format(c) || (c.is_whitespace() && c != ' ' && c != '\n')));
            proptest::prop_assert!(unicode_normalization::is_nfc(&d.text));
        }
    }
}

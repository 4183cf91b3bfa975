//! Cleaning: Unicode NFC, control characters and odd whitespace removed, HTML reduced
//! to readable text (navigation, header/footer, scripts, styles, sidebars dropped;
//! headings, lists, tables and code blocks kept as blocks), Markdown parsed.
//!
//! OWNER: ingest helper — implement `clean`.

use serde::{Deserialize, Serialize};

use super::Document;
use crate::error::Result;

/// Options for cleaning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleanConfig {
    /// Words (runs of non-whitespace) longer than this many chars are dropped
    /// (base64 blobs, minified data). Default 256.
    pub max_word_chars: usize,
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig { max_word_chars: 256 }
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

/// A block of the cleaned text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// What the block is.
    pub kind: BlockKind,
    /// Byte offset of the block start in [`CleanedDoc::text`].
    pub start: usize,
    /// Byte offset one past the block end.
    pub end: usize,
    /// Headings enclosing this block, outermost first (a heading's own path includes itself).
    pub heading_path: Vec<String>,
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
pub fn clean(doc: &Document, config: &CleanConfig) -> Result<CleanedDoc> {
    let _ = (doc, config);
    Ok(CleanedDoc::default())
}

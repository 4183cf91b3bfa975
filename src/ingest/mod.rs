//! Stage 1 — documents in: validation, cleaning, chunking, de-duplication.
//!
//! A [`Document`] is untrusted input. [`Document::validate`] rejects what cannot be
//! indexed (empty, binary, oversized) with a typed error *before* the engine changes
//! anything; [`clean`] turns HTML / Markdown / text into readable text with block
//! structure and byte offsets; [`chunk`] splits it into token-bounded chunks along
//! headings → paragraphs → sentences; [`dedup`] drops exact and near duplicates.

pub mod chunk;
pub mod clean;
pub mod dedup;
pub mod language;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Markup of a document body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text; paragraphs separated by blank lines.
    Text,
    /// CommonMark (parsed with `pulldown-cmark`).
    Markdown,
    /// HTML (parsed with `html5ever` through `scraper`).
    Html,
    /// Pages of extracted text (a PDF's, as `pdftotext` or the browser's PDF reader
    /// writes them) separated by form feeds (U+000C). Each page is a section headed
    /// "p. N" (1-based; blank pages are skipped but counted), so citations name the page;
    /// within a page, paragraphs as in [`Format::Text`].
    Pages,
}

impl Format {
    /// Guess the format from a file name (extension) and, failing that, from the content.
    pub fn detect(body: &str, file_name: Option<&str>) -> Format {
        if let Some(name) = file_name {
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".html") || lower.ends_with(".htm") || lower.ends_with(".xhtml") {
                return Format::Html;
            }
            if lower.ends_with(".md") || lower.ends_with(".markdown") {
                return Format::Markdown;
            }
            if lower.ends_with(".txt") {
                return if body.contains('\u{c}') { Format::Pages } else { Format::Text };
            }
        }
        let head: String = body.chars().take(2048).collect::<String>().to_ascii_lowercase();
        let trimmed = head.trim_start();
        if trimmed.starts_with("<!doctype html")
            || trimmed.starts_with("<html")
            || head.contains("<body")
            || (head.contains("</p>") || head.contains("</div>"))
        {
            return Format::Html;
        }
        let md_signals = body
            .lines()
            .take(200)
            .filter(|l| {
                let t = l.trim_start();
                t.starts_with("# ")
                    || t.starts_with("## ")
                    || t.starts_with("```")
                    || t.starts_with("* ")
                    || t.starts_with("- [")
            })
            .count();
        if md_signals >= 2 {
            Format::Markdown
        } else {
            Format::Text
        }
    }
}

/// One input document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Caller-chosen unique id (for files: the path relative to the indexed directory).
    pub id: String,
    /// The raw body.
    pub body: String,
    /// Markup; `None` means detect it.
    #[serde(default)]
    pub format: Option<Format>,
    /// String metadata: `title`, `url`, `source`, `language`, … (free-form).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Limits applied to untrusted documents. Defaults are sized for a browser tab.
///
/// Every explicit resource limit of Sotto is listed in `docs/limits.md`; the limits of
/// cleaning (heading bytes, blocks per document, nesting depth) live in
/// [`clean::CleanConfig`], because cleaning is where they are enforced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest body accepted, in bytes (default 16 MiB).
    pub max_document_bytes: usize,
    /// Longest id accepted, in bytes (default 1024).
    pub max_id_bytes: usize,
    /// Most chunks one document may produce (default 100 000); more is
    /// [`Error::LimitExceeded`] ("chunks per document"), see [`chunk::chunk_checked`].
    pub max_chunks_per_document: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_document_bytes: 16 << 20, max_id_bytes: 1024, max_chunks_per_document: 100_000 }
    }
}

impl Document {
    /// A document with a body whose format will be detected.
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Self {
        Document { id: id.into(), body: body.into(), format: None, metadata: BTreeMap::new() }
    }

    /// Build a document from raw bytes: rejects invalid UTF-8 and binary content.
    pub fn from_bytes(id: impl Into<String>, bytes: &[u8]) -> Result<Self> {
        let id = id.into();
        let body = match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(e) => return Err(Error::InvalidUtf8 { id, offset: e.valid_up_to() }),
        };
        Ok(Document::new(id, body))
    }

    /// Set the format explicitly.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Add a metadata entry.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The format, stated or detected (the id is used as a file-name hint).
    pub fn resolved_format(&self) -> Format {
        self.format.unwrap_or_else(|| Format::detect(&self.body, Some(&self.id)))
    }

    /// Reject what cannot be indexed: empty ids, ids with control characters, oversized or binary bodies,
    /// whitespace-only bodies. Does not parse markup.
    pub fn validate(&self, limits: &Limits) -> Result<()> {
        let reject = |reason: String| Err(Error::InvalidDocument { id: self.id.clone(), reason });
        if self.id.trim().is_empty() {
            return reject("empty id".into());
        }
        if self.id.len() > limits.max_id_bytes {
            return reject(format!("id longer than {} bytes", limits.max_id_bytes));
        }
        // Ids are shown (CLI, page) and written into logs and file names: no control characters.
        if let Some(c) = self.id.chars().find(|c| c.is_control()) {
            return reject(format!("id contains the control character U+{:04X}", c as u32));
        }
        if self.body.len() > limits.max_document_bytes {
            return reject(format!(
                "body is {} bytes, more than the limit of {} bytes",
                self.body.len(),
                limits.max_document_bytes
            ));
        }
        if self.body.trim().is_empty() {
            return reject("body is empty or whitespace only".into());
        }
        // Binary content: NUL bytes or a high share of control characters in the head.
        let head: Vec<char> = self.body.chars().take(8192).collect();
        let controls = head.iter().filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')).count();
        if head.contains(&'\0') || controls * 10 > head.len() {
            return reject("body looks binary (NUL or control characters)".into());
        }
        Ok(())
    }
}

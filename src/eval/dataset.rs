//! Evaluation datasets in the BEIR-like JSONL format of `shared/data/README.md`:
//! one JSON object per line with `id`, `question`, `relevant_docs` (document ids, any
//! one of which counts as a hit at document level) and optional `answers` (short
//! strings a correct passage or answer contains), `kind` (a label metrics are broken
//! down by) and `all_docs` (`true`: every relevant document is needed). An empty
//! `relevant_docs` marks an out-of-scope question: the documents do not answer it and
//! the right behaviour is to abstain ([`Question::answerable`] is `false`).
//!
//! Files are read **line by line** from any [`BufRead`] ([`QuestionReader`]), so a
//! 1 GB file is streamed, never held whole: only the current line is buffered, and a
//! line longer than [`MAX_LINE_BYTES`] is skipped over without being stored. Each line
//! is decoded separately, so a non-UTF-8 line is an [`Error::Dataset`] naming its line
//! number, and with `skip_bad` the rest of the file is still read. The core does no
//! file I/O: callers hand in a reader (a file, bytes from JS, a `&[u8]`).

use std::collections::HashSet;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest line accepted by default (16 MiB), in bytes without the line break: every
/// dataset and BEIR reader uses it ([`QuestionReader::with_max_line_bytes`] and
/// [`CorpusReader::with_max_line_bytes`](super::beir::CorpusReader::with_max_line_bytes)
/// take another). A longer line is a bad line, an [`Error::Dataset`] naming it and its
/// length, like any other malformed line (so `skip_bad` skips it); it is consumed in
/// pieces and never buffered whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One evaluation question.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Unique id.
    pub id: String,
    /// The question text.
    pub question: String,
    /// Relevant document ids; empty for an out-of-scope question (to be abstained on).
    pub relevant_docs: Vec<String>,
    /// Strings a correct passage or answer contains (may be empty).
    #[serde(default)]
    pub answers: Vec<String>,
    /// A label to break metrics down by (`paraphrase`, `multi`, `unanswerable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Every relevant document is needed (reported as all-docs@10), not just one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_docs: bool,
}

impl Question {
    /// Whether the documents answer it: `false` when `relevant_docs` is empty (an
    /// out-of-scope question, on which the engine should abstain).
    pub fn answerable(&self) -> bool {
        !self.relevant_docs.is_empty()
    }
}

/// A line that could not be read, kept when parsing with `skip_bad`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadLine {
    /// 1-based line number (0 when the problem is not tied to one line).
    pub line: usize,
    /// What was wrong.
    pub detail: String,
}

/// A parsed dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dataset {
    /// Questions in file order.
    pub questions: Vec<Question>,
    /// Lines skipped (only when parsing with `skip_bad`).
    pub skipped: Vec<BadLine>,
}

/// Reads a text source line by line with a bound on line length. Lines are numbered
/// from 1; a trailing `\r` and a leading UTF-8 byte-order mark are removed.
pub(crate) struct LineReader<R> {
    reader: R,
    line: usize,
    buf: Vec<u8>,
    max: usize,
    failed: bool,
}

/// One line as read: its number and its text, or why it is unusable.
pub(crate) type Line = (usize, std::result::Result<String, String>);

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(reader: R, max: usize) -> Self {
        LineReader { reader, line: 0, buf: Vec::new(), max, failed: false }
    }

    /// Whether reading failed (an I/O error, after which nothing more is read).
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// The next non-blank line and its 1-based number; a line that is not UTF-8 (or too
    /// long) is an [`Error::Dataset`] naming it, and the reader goes on after it.
    pub(crate) fn next_content_line(&mut self) -> Option<Result<(usize, String)>> {
        loop {
            let (n, text) = match self.next_line()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            match text {
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => return Some(Ok((n, t))),
                Err(detail) => return Some(Err(Error::Dataset { line: n, detail })),
            }
        }
    }

    /// The next line; `Err` only for I/O errors (fatal, reported once).
    pub(crate) fn next_line(&mut self) -> Option<Result<Line>> {
        if self.failed {
            return None;
        }
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        let mut length = 0usize;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(Error::Dataset { line: self.line + 1, detail: format!("read error: {e}") }));
                }
            };
            if available.is_empty() {
                if !any {
                    return None;
                }
                break;
            }
            any = true;
            let (piece, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            length = length.saturating_add(piece.len());
            if !too_long {
                if self.buf.len() + piece.len() > self.max {
                    too_long = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(piece);
                }
            }
            self.reader.consume(used);
            if done {
                break;
            }
        }
        self.line += 1;
        let n = self.line;
        if too_long {
            return Some(Ok((n, Err(format!("line is {length} bytes, more than the limit of {} bytes", self.max)))));
        }
        let mut bytes: &[u8] = &self.buf;
        if n == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        Some(Ok((
            n,
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to() + 1)),
        )))
    }
}

/// Streams [`Question`]s from JSONL, one line at a time. Blank lines are ignored.
/// Yields `Err(Error::Dataset)` for a malformed line (wrong JSON, missing or mistyped
/// field, non-UTF-8, too long, duplicate id) and goes on with the next line; after an
/// I/O error ([`QuestionReader::failed`]) it stops.
pub struct QuestionReader<R> {
    lines: LineReader<R>,
    ids: HashSet<String>,
}

impl<R: BufRead> QuestionReader<R> {
    /// A reader over `reader`.
    pub fn new(reader: R) -> Self {
        QuestionReader { lines: LineReader::new(reader, MAX_LINE_BYTES), ids: HashSet::new() }
    }

    /// The same with a custom line-length bound.
    pub fn with_max_line_bytes(reader: R, max: usize) -> Self {
        QuestionReader { lines: LineReader::new(reader, max.max(1)), ids: HashSet::new() }
    }

    /// Whether reading stopped on an I/O error (that error was the last item).
    pub fn failed(&self) -> bool {
        self.lines.failed()
    }
}

impl<R: BufRead> Iterator for QuestionReader<R> {
    type Item = Result<Question>;

    fn next(&mut self) -> Option<Self::Item> {
        let (n, line) = match self.lines.next_content_line()? {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        Some(parse_line(&line, n).and_then(|q| {
            if self.ids.contains(&q.id) {
                Err(Error::Dataset { line: n, detail: format!("duplicate question id {:?}", q.id) })
            } else {
                self.ids.insert(q.id.clone());
                Ok(q)
            }
        }))
    }
}

/// A JSON value as a non-empty string (numbers accepted for ids).
pub(crate) fn field_string(
    obj: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    n: usize,
    number_ok: bool,
) -> Result<String> {
    match obj.get(field) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(serde_json::Value::Number(x)) if number_ok => Ok(x.to_string()),
        Some(_) => Err(Error::Dataset { line: n, detail: format!("field `{field}` must be a non-empty string") }),
        None => Err(Error::Dataset { line: n, detail: format!("missing field `{field}`") }),
    }
}

/// Parse one line as a JSON object.
pub(crate) fn json_object(line: &str, n: usize) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(line) {
        Ok(serde_json::Value::Object(o)) => Ok(o),
        Ok(_) => Err(Error::Dataset { line: n, detail: "not a JSON object".into() }),
        Err(e) => Err(Error::Dataset { line: n, detail: format!("not JSON: {e}") }),
    }
}

fn parse_line(line: &str, n: usize) -> Result<Question> {
    let obj = json_object(line, n)?;
    let strings = |field: &str, required: bool| -> Result<Vec<String>> {
        match obj.get(field) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Error::Dataset { line: n, detail: format!("field `{field}` must hold strings") })
                })
                .collect(),
            Some(serde_json::Value::String(s)) => Ok(vec![s.clone()]),
            Some(_) => Err(Error::Dataset { line: n, detail: format!("field `{field}` must be a list of strings") }),
            None if required => Err(Error::Dataset { line: n, detail: format!("missing field `{field}`") }),
            None => Ok(Vec::new()),
        }
    };
    let kind = match obj.get("kind") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(Error::Dataset { line: n, detail: "field `kind` must be a string".into() }),
    };
    let all_docs = match obj.get("all_docs") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return Err(Error::Dataset { line: n, detail: "field `all_docs` must be true or false".into() }),
    };
    let mut q = Question {
        id: field_string(&obj, "id", n, true)?,
        question: field_string(&obj, "question", n, false)?,
        relevant_docs: strings("relevant_docs", true)?,
        answers: strings("answers", false)?,
        kind,
        all_docs,
    };
    q.answers.retain(|a| !a.trim().is_empty());
    // A blank id is a broken line, not an out-of-scope question: dropping it would turn an
    // answerable question into one that must be abstained on, silently (found by fuzzing).
    if q.relevant_docs.iter().any(|d| d.trim().is_empty()) {
        return Err(Error::Dataset { line: n, detail: "`relevant_docs` holds a blank document id".into() });
    }
    Ok(q)
}

/// Read a JSONL dataset from a reader, streaming. With `skip_bad`, malformed lines
/// and duplicate ids are recorded in [`Dataset::skipped`] and the rest is read;
/// without it the first bad line is an [`Error::Dataset`] naming the line and field.
/// I/O errors are always fatal. A dataset without any question is an error.
pub fn read_jsonl<R: BufRead>(reader: R, skip_bad: bool) -> Result<Dataset> {
    let mut ds = Dataset::default();
    let mut it = QuestionReader::new(reader);
    while let Some(item) = it.next() {
        match item {
            Ok(q) => ds.questions.push(q),
            Err(Error::Dataset { line, detail }) if skip_bad && !it.failed() => {
                ds.skipped.push(BadLine { line, detail })
            }
            Err(e) => return Err(e),
        }
    }
    if ds.questions.is_empty() {
        let detail = if ds.skipped.is_empty() {
            "dataset has no questions".to_owned()
        } else {
            format!("dataset has no valid questions ({} bad lines skipped)", ds.skipped.len())
        };
        return Err(Error::Dataset { line: 0, detail });
    }
    Ok(ds)
}

/// Parse JSONL text (see [`read_jsonl`]).
pub fn parse_jsonl(text: &str, skip_bad: bool) -> Result<Dataset> {
    read_jsonl(text.as_bytes(), skip_bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "{\"id\":\"a\",\"question\":\"q?\",\"relevant_docs\":[\"x.html\"]}";

    #[test]
    fn reads_valid_lines_and_optional_answers() {
        let ds = parse_jsonl(
            "{\"id\":\"a\",\"question\":\"q?\",\"relevant_docs\":[\"x.html\"]}\n\n{\"id\":\"b\",\"question\":\"r?\",\"relevant_docs\":[\"y\"],\"answers\":[\"42\"]}\n",
            false,
        )
        .unwrap();
        assert_eq!(ds.questions.len(), 2);
        assert_eq!(ds.questions[1].answers, vec!["42".to_string()]);
    }

    #[test]
    fn kind_all_docs_and_out_of_scope_questions_are_read() {
        let ds = parse_jsonl(
            "{\"id\":\"m\",\"question\":\"A and B?\",\"relevant_docs\":[\"a\",\"b\"],\"kind\":\"multi\",\"all_docs\":true}\n\
             {\"id\":\"u\",\"question\":\"Weather?\",\"relevant_docs\":[],\"kind\":\"unanswerable\"}\n",
            false,
        )
        .unwrap();
        let (m, u) = (&ds.questions[0], &ds.questions[1]);
        assert_eq!(m.kind.as_deref(), Some("multi"));
        assert!(m.all_docs && m.answerable());
        assert_eq!(u.kind.as_deref(), Some("unanswerable"));
        assert!(!u.all_docs && !u.answerable());
        // A dataset of only out-of-scope questions is a dataset (it evaluates abstention).
        let blank = parse_jsonl("{\"id\":\"b\",\"question\":\"q?\",\"relevant_docs\":[\" \"]}", false);
        assert!(
            matches!(&blank, Err(Error::Dataset { line: 1, detail }) if detail.contains("blank")),
            "a blank relevant id is an error, not an out-of-scope question: {blank:?}"
        );
        let only = parse_jsonl("{\"id\":\"u\",\"question\":\"Weather?\",\"relevant_docs\":[]}", false).unwrap();
        assert!(!only.questions[0].answerable() && only.questions[0].kind.is_none());
    }

    #[test]
    fn mistyped_kind_or_all_docs_names_the_field() {
        for (line, field) in [
            ("{\"id\":\"a\",\"question\":\"q\",\"relevant_docs\":[\"x\"],\"kind\":3}", "kind"),
            ("{\"id\":\"a\",\"question\":\"q\",\"relevant_docs\":[\"x\"],\"all_docs\":\"yes\"}", "all_docs"),
        ] {
            match parse_jsonl(line, false) {
                Err(Error::Dataset { line: 1, detail }) => assert!(detail.contains(field), "{detail}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn bad_line_names_line_and_field() {
        let err = parse_jsonl(
            "{\"id\":\"a\",\"question\":\"q\",\"relevant_docs\":[\"x\"]}\n{\"id\":\"b\",\"relevant_docs\":[\"x\"]}",
            false,
        )
        .unwrap_err();
        match err {
            Error::Dataset { line, detail } => {
                assert_eq!(line, 2);
                assert!(detail.contains("question"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn skip_bad_keeps_the_rest_and_rejects_duplicate_ids() {
        let ds = parse_jsonl(
            "{\"id\":\"a\",\"question\":\"q\",\"relevant_docs\":[\"x\"]}\nnot json\n{\"id\":\"a\",\"question\":\"q2\",\"relevant_docs\":[\"x\"]}\n",
            true,
        )
        .unwrap();
        assert_eq!(ds.questions.len(), 1);
        assert_eq!(ds.skipped.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 3]);
        assert!(ds.skipped[1].detail.contains("duplicate"), "{:?}", ds.skipped);
    }

    #[test]
    fn duplicate_id_without_skip_bad_is_an_error_on_its_line() {
        let text = format!("{A}\n{A}\n");
        match parse_jsonl(&text, false) {
            Err(Error::Dataset { line: 2, detail }) => {
                assert!(detail.contains("duplicate question id \"a\""), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_dataset_is_an_error() {
        assert!(matches!(parse_jsonl("", false), Err(Error::Dataset { line: 0, .. })));
        assert!(matches!(parse_jsonl("\n\n", true), Err(Error::Dataset { .. })));
        match parse_jsonl("nope\n", true) {
            Err(Error::Dataset { detail, .. }) => {
                assert!(detail.contains("1 bad lines skipped"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn non_utf8_line_is_reported_with_its_number_and_skippable() {
        let mut bytes = format!("{A}\n").into_bytes();
        bytes.extend_from_slice(b"{\"id\":\"b\",\"question\":\"caf\xE9\",\"relevant_docs\":[\"x\"]}\n");
        bytes.extend_from_slice(b"{\"id\":\"c\",\"question\":\"ok\",\"relevant_docs\":[\"x\"]}\r\n");
        match read_jsonl(&bytes[..], false) {
            Err(Error::Dataset { line: 2, detail }) => {
                assert!(detail.contains("UTF-8"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        let ds = read_jsonl(&bytes[..], true).unwrap();
        assert_eq!(ds.questions.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(ds.skipped[0].line, 2);
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let text = format!("\u{feff}{A}\r\n");
        assert_eq!(parse_jsonl(&text, false).unwrap().questions[0].id, "a");
    }

    #[test]
    fn overlong_line_is_skipped_without_buffering_it() {
        let long = format!("{{\"id\":\"long\",\"question\":\"{}\",\"relevant_docs\":[\"x\"]}}", "w".repeat(5000));
        let text = format!("{long}\n{A}\n");
        let mut it = QuestionReader::with_max_line_bytes(std::io::BufReader::with_capacity(64, text.as_bytes()), 1000);
        match it.next() {
            Some(Err(Error::Dataset { line: 1, detail })) => {
                assert!(detail.contains(&format!("{} bytes, more than the limit of 1000", long.len())), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(it.next().unwrap().unwrap().id, "a");
        assert!(it.next().is_none());
        assert!(it.lines.buf.capacity() < 1000, "the long line was buffered");
    }

    /// An endless JSONL source: reading must be incremental, or `take` would never return.
    struct Endless {
        n: usize,
        pending: Vec<u8>,
    }

    impl std::io::Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                self.n += 1;
                self.pending = format!(
                    "{{\"id\":\"q{}\",\"question\":\"{}\",\"relevant_docs\":[\"d\"]}}\n",
                    self.n,
                    "pad ".repeat(200)
                )
                .into_bytes();
            }
            let m = out.len().min(self.pending.len());
            out[..m].copy_from_slice(&self.pending[..m]);
            self.pending.drain(..m);
            Ok(m)
        }
    }

    #[test]
    fn questions_are_streamed_from_an_endless_reader() {
        let reader = std::io::BufReader::new(Endless { n: 0, pending: Vec::new() });
        let got: Vec<Question> = QuestionReader::new(reader).take(2000).collect::<Result<_>>().unwrap();
        assert_eq!(got.len(), 2000);
        assert_eq!(got[1999].id, "q2000");
    }

    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn io_errors_are_fatal_even_with_skip_bad() {
        match read_jsonl(std::io::BufReader::new(Failing), true) {
            Err(Error::Dataset { detail, .. }) => assert!(detail.contains("disk on fire")),
            other => panic!("unexpected {other:?}"),
        }
    }
}

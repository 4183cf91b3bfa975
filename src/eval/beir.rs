//! BEIR's own layout (Thakur et al. 2021, "BEIR: A Heterogeneous Benchmark for
//! Zero-shot Evaluation of Information Retrieval Models"), so public benchmarks can be
//! dropped in as they are published:
//!
//! - `corpus.jsonl`: `{"_id", "title", "text", "metadata"?}` per line → [`Document`]s;
//! - `queries.jsonl`: `{"_id", "text", "metadata"?}` per line;
//! - `qrels/<split>.tsv`: `query-id  corpus-id  score` with a header line (the
//!   four-column TREC form `qid 0 docid score` is accepted too).
//!
//! Every reader streams from a [`BufRead`] (see [`super::dataset`]); malformed lines
//! are [`Error::Dataset`] with their line number, or skipped and recorded with
//! `skip_bad`. Relevance is binary here (score > 0 is relevant), as in the rest of
//! [`crate::eval`]; BEIR's graded nDCG is therefore not reproduced on graded qrels.
//! Queries without any positive judgment are not evaluated, as in BEIR.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

use serde::Serialize;

use super::dataset::{field_string, json_object, BadLine, Dataset, LineReader, Question, MAX_LINE_BYTES};
use crate::error::{Error, Result};
use crate::ingest::{Document, Format};

/// Streams BEIR corpus lines as [`Document`]s (format text; `title` and string
/// metadata kept as metadata). A document whose `text` is empty uses its title;
/// with neither it is a bad line, and so is a repeated `_id`.
pub struct CorpusReader<R> {
    lines: LineReader<R>,
    ids: HashSet<String>,
}

impl<R: BufRead> CorpusReader<R> {
    /// A reader over `reader`, with lines of at most [`MAX_LINE_BYTES`].
    pub fn new(reader: R) -> Self {
        Self::with_max_line_bytes(reader, MAX_LINE_BYTES)
    }

    /// The same with another bound on line length (bytes); a longer line is a bad line.
    pub fn with_max_line_bytes(reader: R, max: usize) -> Self {
        CorpusReader { lines: LineReader::new(reader, max.max(1)), ids: HashSet::new() }
    }

    /// Whether reading stopped on an I/O error.
    pub fn failed(&self) -> bool {
        self.lines.failed()
    }
}

fn corpus_line(line: &str, n: usize) -> Result<Document> {
    let obj = json_object(line, n)?;
    let id = field_string(&obj, "_id", n, true)?;
    let text_of = |field: &str| -> Result<String> {
        match obj.get(field) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Error::Dataset { line: n, detail: format!("field `{field}` must be a string") }),
        }
    };
    let title = text_of("title")?;
    let text = text_of("text")?;
    let body = if text.trim().is_empty() { title.clone() } else { text };
    if body.trim().is_empty() {
        return Err(Error::Dataset { line: n, detail: format!("document {id:?} has neither text nor title") });
    }
    let mut doc = Document::new(id, body).with_format(Format::Text);
    if let Some(serde_json::Value::Object(meta)) = obj.get("metadata") {
        for (k, v) in meta {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            doc.metadata.insert(k.clone(), v);
        }
    }
    if !title.trim().is_empty() {
        doc.metadata.insert("title".into(), title);
    }
    Ok(doc)
}

impl<R: BufRead> Iterator for CorpusReader<R> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Self::Item> {
        let (n, line) = match self.lines.next_content_line()? {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        Some(corpus_line(&line, n).and_then(|d| {
            if self.ids.insert(d.id.clone()) {
                Ok(d)
            } else {
                Err(Error::Dataset { line: n, detail: format!("duplicate document id {:?}", d.id) })
            }
        }))
    }
}

/// A corpus read whole (for small corpora; large ones iterate [`CorpusReader`] in batches).
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Documents in file order.
    pub documents: Vec<Document>,
    /// Lines skipped (with `skip_bad`).
    pub skipped: Vec<BadLine>,
}

/// Read a whole `corpus.jsonl`.
pub fn read_corpus<R: BufRead>(reader: R, skip_bad: bool) -> Result<Corpus> {
    let mut it = CorpusReader::new(reader);
    let mut documents = Vec::new();
    let mut skipped = Vec::new();
    while let Some(item) = it.next() {
        match item {
            Ok(d) => documents.push(d),
            Err(Error::Dataset { line, detail }) if skip_bad && !it.failed() => skipped.push(BadLine { line, detail }),
            Err(e) => return Err(e),
        }
    }
    if documents.is_empty() {
        return Err(Error::Dataset { line: 0, detail: "corpus has no documents".into() });
    }
    Ok(Corpus { documents, skipped })
}

/// One BEIR query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// Query id (`_id`).
    pub id: String,
    /// Query text.
    pub text: String,
}

/// Queries read from `queries.jsonl`.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    /// Queries in file order.
    pub queries: Vec<Query>,
    /// Lines skipped (with `skip_bad`).
    pub skipped: Vec<BadLine>,
}

/// Read `queries.jsonl` (duplicate ids are bad lines).
pub fn read_queries<R: BufRead>(reader: R, skip_bad: bool) -> Result<Queries> {
    let mut lines = LineReader::new(reader, MAX_LINE_BYTES);
    let mut ids = HashSet::new();
    let mut out = Queries::default();
    while let Some(l) = lines.next_line() {
        let (n, text) = l?;
        let parsed = match text {
            Err(detail) => Err(Error::Dataset { line: n, detail }),
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => json_object(&t, n).and_then(|o| {
                let id = field_string(&o, "_id", n, true)?;
                let text = field_string(&o, "text", n, false)?;
                if ids.insert(id.clone()) {
                    Ok(Query { id, text })
                } else {
                    Err(Error::Dataset { line: n, detail: format!("duplicate query id {id:?}") })
                }
            }),
        };
        match parsed {
            Ok(q) => out.queries.push(q),
            Err(Error::Dataset { line, detail }) if skip_bad => out.skipped.push(BadLine { line, detail }),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Relevance judgments: query id → document id → score.
#[derive(Debug, Clone, Default)]
pub struct Qrels {
    /// Judgments (scores ≤ 0 mean judged not relevant).
    pub judgments: BTreeMap<String, BTreeMap<String, i64>>,
    /// Lines skipped (with `skip_bad`).
    pub skipped: Vec<BadLine>,
}

fn qrels_line(line: &str, n: usize) -> Result<Option<(String, String, i64)>> {
    let cols: Vec<&str> =
        if line.contains('\t') { line.split('\t').map(str::trim).collect() } else { line.split_whitespace().collect() };
    let (q, d, s) = match cols.as_slice() {
        [q, d, s] => (*q, *d, *s),
        [q, _, d, s] => (*q, *d, *s),
        _ => {
            return Err(Error::Dataset {
                line: n,
                detail: format!("expected `query-id corpus-id score` (3 or 4 columns), found {} columns", cols.len()),
            })
        }
    };
    match s.parse::<i64>().or_else(|e| s.parse::<f64>().map(|f| f.round() as i64).map_err(|_| e)) {
        Ok(score) if !q.is_empty() && !d.is_empty() => Ok(Some((q.to_owned(), d.to_owned(), score))),
        Ok(_) => Err(Error::Dataset { line: n, detail: "empty query or corpus id".into() }),
        // The first line of BEIR's files is a header.
        Err(_) if n == 1 => Ok(None),
        Err(_) => Err(Error::Dataset { line: n, detail: format!("score {s:?} is not a number") }),
    }
}

/// Read a qrels `.tsv` (header optional; repeated pairs are bad lines).
pub fn read_qrels<R: BufRead>(reader: R, skip_bad: bool) -> Result<Qrels> {
    let mut lines = LineReader::new(reader, MAX_LINE_BYTES);
    let mut qrels = Qrels::default();
    while let Some(l) = lines.next_line() {
        let (n, text) = l?;
        let parsed = match text {
            Err(detail) => Err(Error::Dataset { line: n, detail }),
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => qrels_line(&t, n),
        };
        match parsed {
            Ok(None) => {}
            Ok(Some((q, d, score))) => {
                let judged = qrels.judgments.entry(q.clone()).or_default();
                match judged.entry(d) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(score);
                    }
                    std::collections::btree_map::Entry::Occupied(o) => {
                        let detail = format!("repeated judgment for query {q:?} and document {:?}", o.key());
                        if !skip_bad {
                            return Err(Error::Dataset { line: n, detail });
                        }
                        qrels.skipped.push(BadLine { line: n, detail });
                    }
                }
            }
            Err(Error::Dataset { line, detail }) if skip_bad => qrels.skipped.push(BadLine { line, detail }),
            Err(e) => return Err(e),
        }
    }
    Ok(qrels)
}

/// Join queries and judgments into a [`Dataset`]: one question per query with at
/// least one positive judgment, in query-file order, relevant documents sorted.
/// Judgments naming an unknown query and bad lines of either file are reported in
/// [`Dataset::skipped`] (with the file named in the detail). No question at all is an error.
pub fn assemble(queries: &Queries, qrels: &Qrels) -> Result<Dataset> {
    let mut ds = Dataset::default();
    let known: HashSet<&str> = queries.queries.iter().map(|q| q.id.as_str()).collect();
    for b in &queries.skipped {
        ds.skipped.push(BadLine { line: b.line, detail: format!("queries: {}", b.detail) });
    }
    for b in &qrels.skipped {
        ds.skipped.push(BadLine { line: b.line, detail: format!("qrels: {}", b.detail) });
    }
    for q in qrels.judgments.keys().filter(|q| !known.contains(q.as_str())) {
        ds.skipped.push(BadLine { line: 0, detail: format!("qrels: judgments for unknown query {q:?}") });
    }
    for q in &queries.queries {
        let Some(j) = qrels.judgments.get(&q.id) else {
            continue;
        };
        let relevant: Vec<String> = j.iter().filter(|(_, &s)| s > 0).map(|(d, _)| d.clone()).collect();
        if relevant.is_empty() {
            continue;
        }
        ds.questions.push(Question {
            id: q.id.clone(),
            question: q.text.clone(),
            relevant_docs: relevant,
            answers: Vec::new(),
            ..Question::default()
        });
    }
    if ds.questions.is_empty() {
        return Err(Error::Dataset { line: 0, detail: "no query has a positive relevance judgment".into() });
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = r#"{"_id": "d1", "title": "Cargo", "text": "Cargo is the Rust package manager.", "metadata": {"url": "https://x", "year": 2020}}
{"_id": "d2", "title": "", "text": "Paris is the capital of France."}
{"_id": 3, "title": "Only a title"}
"#;

    #[test]
    fn corpus_lines_become_documents() {
        let c = read_corpus(CORPUS.as_bytes(), false).unwrap();
        assert_eq!(c.documents.len(), 3);
        let d1 = &c.documents[0];
        assert_eq!(d1.id, "d1");
        assert_eq!(d1.body, "Cargo is the Rust package manager.");
        assert_eq!(d1.format, Some(Format::Text));
        assert_eq!(d1.metadata.get("title").map(String::as_str), Some("Cargo"));
        assert_eq!(d1.metadata.get("year").map(String::as_str), Some("2020"));
        assert!(!c.documents[1].metadata.contains_key("title"));
        assert_eq!(c.documents[2].id, "3");
        assert_eq!(c.documents[2].body, "Only a title");
    }

    #[test]
    fn corpus_bad_lines_duplicates_and_empty_corpus() {
        let text = format!("{CORPUS}{{\"_id\": \"d1\", \"text\": \"again\"}}\n{{\"_id\": \"d9\"}}\n[1]\n");
        match read_corpus(text.as_bytes(), false) {
            Err(Error::Dataset { line: 4, detail }) => {
                assert!(detail.contains("duplicate document id"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        let c = read_corpus(text.as_bytes(), true).unwrap();
        assert_eq!(c.documents.len(), 3);
        assert_eq!(c.skipped.iter().map(|b| b.line).collect::<Vec<_>>(), [4, 5, 6]);
        assert!(matches!(read_corpus("\n".as_bytes(), true), Err(Error::Dataset { line: 0, .. })));
        let mut bytes = b"{\"_id\": \"x\", \"text\": \"caf\xE9\"}\n".to_vec();
        bytes.extend_from_slice(CORPUS.as_bytes());
        match read_corpus(&bytes[..], false) {
            Err(Error::Dataset { line: 1, detail }) => assert!(detail.contains("UTF-8")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn overlong_corpus_line_is_a_bad_line() {
        let long = format!("{{\"_id\": \"big\", \"text\": \"{}\"}}", "w ".repeat(3000));
        let text = format!("{long}\n{CORPUS}");
        let reader = || std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut it = CorpusReader::with_max_line_bytes(reader(), 1000);
        match it.next() {
            Some(Err(Error::Dataset { line: 1, detail })) => {
                assert!(detail.contains(&format!("{} bytes, more than the limit of 1000", long.len())), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(it.map(|d| d.unwrap().id).collect::<Vec<_>>(), ["d1", "d2", "3"]);
        // Under the default limit the same line is fine.
        assert_eq!(read_corpus(reader(), false).unwrap().documents.len(), 4);
    }

    #[test]
    fn queries_qrels_and_assembly() {
        let queries = read_queries(
            "{\"_id\":\"q1\",\"text\":\"What is Cargo?\"}\n{\"_id\":\"q2\",\"text\":\"Capital of France?\"}\n{\"_id\":\"q3\",\"text\":\"Unjudged\"}\n{\"_id\":\"q4\",\"text\":\"Only negatives\"}\n"
                .as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(queries.queries.len(), 4);
        let qrels = read_qrels(
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td1\t0\nq4\td1\t0\nq9\td1\t1\n".as_bytes(),
            false,
        )
        .unwrap();
        assert_eq!(qrels.judgments["q2"].len(), 2);
        let ds = assemble(&queries, &qrels).unwrap();
        assert_eq!(ds.questions.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["q1", "q2"]);
        assert_eq!(ds.questions[1].relevant_docs, ["d2"]);
        assert_eq!(ds.questions[0].question, "What is Cargo?");
        assert!(ds.skipped.iter().any(|b| b.detail.contains("unknown query \"q9\"")), "{:?}", ds.skipped);
    }

    #[test]
    fn qrels_trec_form_and_errors() {
        let q = read_qrels("q1 0 d1 1\nq1 0 d2 0\n".as_bytes(), false).unwrap();
        assert_eq!(q.judgments["q1"]["d1"], 1);
        match read_qrels("q1\td1\t1\nq1\td1\tx\n".as_bytes(), false) {
            Err(Error::Dataset { line: 2, detail }) => {
                assert!(detail.contains("score"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        match read_qrels("q1\td1\t1\nq1\td1\t1\n".as_bytes(), false) {
            Err(Error::Dataset { line: 2, detail }) => {
                assert!(detail.contains("repeated"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
        let q = read_qrels("q1\td1\t1\nonly-two\tcols\nq1\td1\t1\nq2\td3\t1\n".as_bytes(), true).unwrap();
        assert_eq!(q.skipped.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(q.judgments.len(), 2);
    }

    #[test]
    fn duplicate_query_ids_and_no_judged_query() {
        match read_queries("{\"_id\":\"q1\",\"text\":\"a\"}\n{\"_id\":\"q1\",\"text\":\"b\"}\n".as_bytes(), false) {
            Err(Error::Dataset { line: 2, detail }) => {
                assert!(detail.contains("duplicate query id"))
            }
            other => panic!("unexpected {other:?}"),
        }
        let queries = read_queries("{\"_id\":\"q1\",\"text\":\"a\"}\n".as_bytes(), false).unwrap();
        assert!(matches!(assemble(&queries, &Qrels::default()), Err(Error::Dataset { line: 0, .. })));
    }
}

//! Evaluation datasets in the BEIR-like JSONL format of `shared/data/README.md`:
//! one JSON object per line with `id`, `question`, `relevant_docs` (document ids, any
//! one of which counts as a hit at document level) and optional `answers` (short
//! strings a correct passage or answer contains).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One evaluation question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Unique id.
    pub id: String,
    /// The question text.
    pub question: String,
    /// Relevant document ids.
    pub relevant_docs: Vec<String>,
    /// Strings a correct passage or answer contains (may be empty).
    #[serde(default)]
    pub answers: Vec<String>,
}

/// A line that could not be read, kept when parsing with `skip_bad`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadLine {
    /// 1-based line number.
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

fn parse_line(line: &str, n: usize) -> Result<Question> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| Error::Dataset { line: n, detail: format!("not JSON: {e}") })?;
    let obj = v.as_object().ok_or_else(|| Error::Dataset { line: n, detail: "not a JSON object".into() })?;
    let string = |field: &str| -> Result<String> {
        match obj.get(field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(serde_json::Value::Number(x)) if field == "id" => Ok(x.to_string()),
            Some(_) => Err(Error::Dataset { line: n, detail: format!("field `{field}` must be a non-empty string") }),
            None => Err(Error::Dataset { line: n, detail: format!("missing field `{field}`") }),
        }
    };
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
    let q = Question {
        id: string("id")?,
        question: string("question")?,
        relevant_docs: strings("relevant_docs", true)?,
        answers: strings("answers", false)?,
    };
    if q.relevant_docs.is_empty() {
        return Err(Error::Dataset { line: n, detail: "field `relevant_docs` is empty".into() });
    }
    Ok(q)
}

/// Parse JSONL text. Blank lines are ignored. With `skip_bad`, malformed lines and
/// duplicate ids are recorded in [`Dataset::skipped`] and the rest is read; without it
/// the first bad line is an [`Error::Dataset`] naming the line and field.
pub fn parse_jsonl(text: &str, skip_bad: bool) -> Result<Dataset> {
    let mut ds = Dataset::default();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(line, n).and_then(|q| {
            if ids.contains(&q.id) {
                Err(Error::Dataset { line: n, detail: format!("duplicate question id {:?}", q.id) })
            } else {
                Ok(q)
            }
        });
        match parsed {
            Ok(q) => {
                ids.insert(q.id.clone());
                ds.questions.push(q);
            }
            Err(Error::Dataset { line, detail }) if skip_bad => ds.skipped.push(BadLine { line, detail }),
            Err(e) => return Err(e),
        }
    }
    if ds.questions.is_empty() {
        return Err(Error::Dataset { line: 0, detail: "dataset has no questions".into() });
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_line_names_line_and_field() {
        let err = parse_jsonl("{\"id\":\"a\",\"question\":\"q\",\"relevant_docs\":[\"x\"]}\n{\"id\":\"b\",\"relevant_docs\":[\"x\"]}", false)
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
    }

    #[test]
    fn empty_dataset_is_an_error() {
        assert!(matches!(parse_jsonl("\n\n", true), Err(Error::Dataset { .. })));
    }
}

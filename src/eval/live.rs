//! Evaluating the index at hand: what the demo page's Evaluate panel runs in its worker.
//!
//! The browser holds one live index and the bytes of an uploaded dataset, not files and
//! directories, so this module is the in-memory counterpart of `sotto eval`: it parses
//! the dataset from bytes (the JSONL format, or BEIR's `queries.jsonl` plus a qrels
//! `.tsv`), builds the grid (modes × k, or a grid JSON restricted to the live index, see
//! [`run_grid_on`]), evaluates it with the same metric code and returns the same
//! [`Report`] — so the panel shows exactly the HTML file the CLI writes.
//!
//! Datasets are read whole (a page has them as bytes already); [`LiveEvalOptions::max_dataset_bytes`]
//! bounds what a tab is asked to hold, and larger files belong to the streaming CLI.

use serde::Deserialize;

use super::beir::{assemble, read_qrels, read_queries};
use super::dataset::{read_jsonl, Dataset};
use super::grid::{run_grid_on, GridConfig, GridProgress, IndexKey, ModeSpec};
use super::report::{DatasetSummary, Report};
use super::run::EvalOptions;
use crate::error::{Error, Result};
use crate::rag::answer::AnswerMode;
use crate::rag::ask::AskOptions;
use crate::rag::Engine;

/// Options of [`evaluate_live`]. Every field has a default, so `{}` is a valid value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveEvalOptions {
    /// Dataset name shown in the report (default "dataset").
    pub name: String,
    /// Retrieval modes, as `sotto eval --modes` spells them (default dense, sparse,
    /// hybrid, weighted). Ignored when `grid` is given.
    pub modes: Vec<String>,
    /// Cut-offs (default 1, 3, 5, 10). Ignored when `grid` is given.
    pub ks: Vec<usize>,
    /// A grid in the JSON form of [`GridConfig::from_json`]; its chunking and embedder
    /// must be the live index's.
    pub grid: Option<String>,
    /// Also answer every question and score the answers: extractive, or generative
    /// (needs a generator). Default: retrieval only.
    pub answers: Option<AnswerMode>,
    /// Skip malformed lines (reported in the report) instead of failing (default false).
    pub skip_bad: bool,
    /// Largest dataset accepted, in bytes (default 64 MiB).
    pub max_dataset_bytes: usize,
    /// Extra `(label, value)` lines for the report header (time, page, …).
    pub details: Vec<(String, String)>,
}

impl Default for LiveEvalOptions {
    fn default() -> Self {
        LiveEvalOptions {
            name: "dataset".into(),
            modes: ["dense", "sparse", "hybrid", "weighted"].map(String::from).to_vec(),
            ks: vec![1, 3, 5, 10],
            grid: None,
            answers: None,
            skip_bad: false,
            max_dataset_bytes: 64 << 20,
            details: Vec::new(),
        }
    }
}

/// The dataset as bytes: the JSONL question format, or BEIR's queries and qrels.
#[derive(Debug, Clone, Copy)]
pub enum DatasetBytes<'a> {
    /// `{id, question, relevant_docs, answers?}` per line.
    Jsonl(&'a [u8]),
    /// BEIR `queries.jsonl` (`_id`, `text`) and a qrels `.tsv` (`query-id corpus-id score`).
    Beir {
        /// queries.jsonl.
        queries: &'a [u8],
        /// qrels/<split>.tsv.
        qrels: &'a [u8],
    },
}

/// Parse `input`, refusing more than `max_bytes` in total.
pub fn read_dataset(input: DatasetBytes<'_>, skip_bad: bool, max_bytes: usize) -> Result<Dataset> {
    let size = match input {
        DatasetBytes::Jsonl(b) => b.len(),
        DatasetBytes::Beir { queries, qrels } => queries.len() + qrels.len(),
    };
    if size > max_bytes {
        return Err(Error::Dataset {
            line: 0,
            detail: format!(
                "the dataset is {:.1} MB, over the {:.0} MB this page accepts; evaluate it with `sotto eval`, which streams it",
                size as f64 / 1e6,
                max_bytes as f64 / 1e6
            ),
        });
    }
    match input {
        DatasetBytes::Jsonl(b) => read_jsonl(b, skip_bad),
        DatasetBytes::Beir { queries, qrels } => {
            let q = read_queries(queries, skip_bad)?;
            let r = read_qrels(qrels, skip_bad)?;
            let mut ds = assemble(&q, &r)?;
            ds.skipped.extend(q.skipped.iter().cloned());
            ds.skipped.extend(r.skipped.iter().cloned());
            Ok(ds)
        }
    }
}

/// The grid `options` describe over the live index `key`.
pub fn live_grid(options: &LiveEvalOptions, key: &IndexKey) -> Result<GridConfig> {
    let mut grid = match &options.grid {
        Some(text) => GridConfig::from_json(text, key)?,
        None => {
            let mut g = GridConfig::single(key);
            g.modes = options.modes.iter().map(|m| ModeSpec::parse(m, 60.0, 0.5)).collect::<Result<_>>()?;
            if g.modes.is_empty() {
                return Err(Error::InvalidOption { name: "modes", detail: "no retrieval mode to evaluate".into() });
            }
            let mut ks = options.ks.clone();
            ks.sort_unstable();
            ks.dedup();
            if ks.is_empty() || ks[0] == 0 {
                return Err(Error::InvalidOption { name: "ks", detail: format!("{ks:?}: give cut-offs ≥ 1") });
            }
            g.ks = ks;
            g
        }
    };
    grid.answers |= options.answers.is_some();
    Ok(grid)
}

/// Evaluate `input` on `engine` and build the report. `progress` is called before the
/// run and after every question; returning `false` cancels ([`Error::Cancelled`]).
pub fn evaluate_live(
    engine: &Engine,
    input: DatasetBytes<'_>,
    options: &LiveEvalOptions,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(GridProgress<'_>) -> bool,
) -> Result<Report> {
    if engine.stats().documents == 0 {
        return Err(Error::WrongState("the index is empty: add documents before evaluating".into()));
    }
    let key = IndexKey::of(engine);
    let grid = live_grid(options, &key)?;
    let dataset = read_dataset(input, options.skip_bad, options.max_dataset_bytes)?;
    if options.answers.is_some_and(AnswerMode::uses_generator) && !engine.has_generator() {
        return Err(Error::ModelNotLoaded("generator"));
    }
    let base = EvalOptions {
        answers: options.answers.map(|mode| AskOptions { mode, ..AskOptions::default() }),
        ..EvalOptions::default()
    };
    let t0 = clock();
    let run = run_grid_on(engine, &grid, &dataset.questions, &base, clock, progress)?;
    let mut report =
        Report::new(format!("Sotto evaluation — {}", options.name), DatasetSummary::new(&options.name, &dataset), run);
    report.details.extend(options.details.iter().cloned());
    report.details.push(("index".into(), key.name()));
    report.details.push(("wall time".into(), format!("{:.1} s", (clock() - t0) / 1e3)));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::EngineConfig;

    fn engine() -> Engine {
        crate::eval::testing::hash_engine(&[
            ("lock.md", "# Lock file\n\nCargo.lock records the exact versions of every resolved dependency."),
            ("build.md", "# Build scripts\n\nA build.rs file runs before the package is compiled."),
        ])
    }

    const JSONL: &str = "{\"id\":\"q1\",\"question\":\"Which file records exact versions?\",\"relevant_docs\":[\"lock.md\"],\"answers\":[\"Cargo.lock\"]}\n\
                         {\"id\":\"q2\",\"question\":\"What runs before the package is compiled?\",\"relevant_docs\":[\"build.md\",\"gone.md\"]}\n";

    #[test]
    fn jsonl_bytes_give_the_same_report_as_the_cli_path() {
        let e = engine();
        let options = LiveEvalOptions {
            name: "mini".into(),
            modes: vec!["sparse".into(), "hybrid".into()],
            ..Default::default()
        };
        let mut events = Vec::new();
        let r = evaluate_live(&e, DatasetBytes::Jsonl(JSONL.as_bytes()), &options, &|| 0.0, &mut |p| {
            events.push(matches!(p, GridProgress::Indexing { .. }));
            true
        })
        .unwrap();
        assert_eq!(r.grid.runs.len(), 2);
        assert_eq!(r.dataset.questions, 2);
        assert_eq!(r.missing_relevant, ["gone.md"], "reported, not fatal");
        assert_eq!(events, [true, false, false, false, false]);
        let sparse = &r.grid.runs[0].report;
        assert_eq!(sparse.config, "sparse");
        assert_eq!(sparse.doc.hit[&1], 1.0, "{:?}", sparse.per_question);
        let html = r.to_html();
        assert!(html.contains("Sotto evaluation — mini"));
    }

    #[test]
    fn beir_bytes_are_assembled() {
        let e = engine();
        let queries =
            b"{\"_id\":\"1\",\"text\":\"Which file records exact versions?\"}\n{\"_id\":\"2\",\"text\":\"unjudged\"}\n";
        let qrels = b"query-id\tcorpus-id\tscore\n1\tlock.md\t1\n";
        let options = LiveEvalOptions { modes: vec!["dense".into()], ..Default::default() };
        let r = evaluate_live(&e, DatasetBytes::Beir { queries, qrels }, &options, &|| 0.0, &mut |_| true).unwrap();
        assert_eq!(r.dataset.questions, 1, "queries without judgments are not questions");
        assert_eq!(r.grid.runs[0].report.questions, 1);
    }

    #[test]
    fn bad_input_is_typed_and_leaves_the_engine_alone() {
        let e = engine();
        let before = e.to_bytes().unwrap();
        let run = |input: DatasetBytes<'_>, options: LiveEvalOptions| {
            evaluate_live(&e, input, &options, &|| 0.0, &mut |_| true).map(|_| ())
        };
        let d = LiveEvalOptions::default;
        // Empty dataset.
        assert!(matches!(run(DatasetBytes::Jsonl(b""), d()), Err(Error::Dataset { line: 0, .. })));
        // Duplicate question ids: the second is line 2.
        let dup = format!("{}{}", JSONL.lines().next().unwrap(), "\n").repeat(2);
        assert!(matches!(run(DatasetBytes::Jsonl(dup.as_bytes()), d()), Err(Error::Dataset { line: 2, .. })));
        // …skipped on request, and the skipped line is in the report.
        let r = evaluate_live(
            &e,
            DatasetBytes::Jsonl(dup.as_bytes()),
            &LiveEvalOptions { skip_bad: true, ..d() },
            &|| 0.0,
            &mut |_| true,
        )
        .unwrap();
        assert_eq!(r.dataset.skipped.len(), 1);
        // Non-UTF-8.
        let mut latin1 = JSONL.as_bytes().to_vec();
        latin1.extend_from_slice(b"{\"id\":\"q3\",\"question\":\"caf\xe9?\",\"relevant_docs\":[\"x\"]}\n");
        assert!(matches!(run(DatasetBytes::Jsonl(&latin1), d()), Err(Error::Dataset { line: 3, .. })));
        // Too large for a tab.
        match run(DatasetBytes::Jsonl(JSONL.as_bytes()), LiveEvalOptions { max_dataset_bytes: 10, ..d() }) {
            Err(Error::Dataset { detail, .. }) => assert!(detail.contains("sotto eval"), "{detail}"),
            other => panic!("unexpected {other:?}"),
        }
        // Unknown mode, empty modes, zero k.
        let mode = LiveEvalOptions { modes: vec!["colbert".into()], ..d() };
        assert!(matches!(
            run(DatasetBytes::Jsonl(JSONL.as_bytes()), mode),
            Err(Error::InvalidOption { name: "mode", .. })
        ));
        let none = LiveEvalOptions { modes: vec![], ..d() };
        assert!(matches!(
            run(DatasetBytes::Jsonl(JSONL.as_bytes()), none),
            Err(Error::InvalidOption { name: "modes", .. })
        ));
        let ks = LiveEvalOptions { ks: vec![0, 5], ..d() };
        assert!(matches!(run(DatasetBytes::Jsonl(JSONL.as_bytes()), ks), Err(Error::InvalidOption { name: "ks", .. })));
        // A grid naming another embedder (a model this page has not loaded).
        let grid = LiveEvalOptions { grid: Some(r#"{"embedders": ["bge-small"]}"#.into()), ..d() };
        assert!(matches!(
            run(DatasetBytes::Jsonl(JSONL.as_bytes()), grid),
            Err(Error::InvalidOption { name: "grid", .. })
        ));
        // Generative answers without a generator.
        let gen = LiveEvalOptions { answers: Some(AnswerMode::Generative), ..d() };
        assert!(matches!(run(DatasetBytes::Jsonl(JSONL.as_bytes()), gen), Err(Error::ModelNotLoaded("generator"))));
        // An empty index.
        let empty = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        let r = evaluate_live(&empty, DatasetBytes::Jsonl(JSONL.as_bytes()), &d(), &|| 0.0, &mut |_| true);
        assert!(matches!(r, Err(Error::WrongState(_))));
        assert_eq!(e.to_bytes().unwrap(), before, "the index is untouched");
        // And the engine still evaluates.
        assert!(run(DatasetBytes::Jsonl(JSONL.as_bytes()), d()).is_ok());
    }

    #[test]
    fn options_deserialize_with_defaults_and_refuse_unknown_keys() {
        let o: LiveEvalOptions = serde_json::from_str(r#"{"name": "x", "answers": "extractive"}"#).unwrap();
        assert_eq!(o.modes.len(), 4);
        assert_eq!(o.answers, Some(AnswerMode::Extractive));
        assert!(serde_json::from_str::<LiveEvalOptions>(r#"{"modez": []}"#).is_err());
    }
}

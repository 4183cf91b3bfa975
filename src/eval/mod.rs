//! Evaluation against ground truth: datasets, metrics, runs, configuration grids and
//! the HTML report.
//!
//! - [`dataset`]: the BEIR-like JSONL question format, streamed line by line;
//! - [`beir`]: BEIR's own layout (corpus, queries, qrels);
//! - [`metrics`]: ranking metrics (hit/recall/precision@k, MRR, nDCG) and answer
//!   metrics (exact match, token F1, containment, citation precision, abstention);
//! - [`run`]: one configuration evaluated on an [`crate::Engine`];
//! - [`grid`]: several configurations from one small JSON file, re-indexing only when
//!   chunking or the embedder change;
//! - [`live`]: the same evaluation on an index already in memory, from dataset bytes
//!   (the demo page's Evaluate panel);
//! - [`report`]: one self-contained HTML file (and its JSON form) comparing them.
//!
//! Like the rest of the core, nothing here touches the file system or a clock: readers
//! are `BufRead`s, engines come from caller-supplied closures, time from a clock closure.

pub mod beir;
pub mod dataset;
pub mod grid;
pub mod live;
pub mod metrics;
pub mod report;
pub mod run;

pub use dataset::{parse_jsonl, read_jsonl, Dataset, Question, QuestionReader};
pub use grid::{run_grid, run_grid_on, GridConfig, GridRun, IndexKey, ModeSpec};
pub use report::{DatasetSummary, Report};
pub use run::{evaluate, evaluate_with, EvalOptions, EvalReport, Failure};

/// Test fixtures shared by the evaluation modules.
#[cfg(test)]
pub(crate) mod testing {
    use crate::embed::hashing::HashEmbedder;
    use crate::{Document, Engine, EngineConfig};

    /// An engine with the model-free hashing embedder over `(id, body)` documents.
    pub(crate) fn hash_engine(docs: &[(&str, &str)]) -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        e.add_documents(docs.iter().map(|(id, body)| Document::new(*id, *body)).collect()).unwrap();
        e
    }
}

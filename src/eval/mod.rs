//! Evaluation against ground truth: datasets, metrics, runs.

pub mod dataset;
pub mod metrics;
pub mod run;

pub use dataset::{parse_jsonl, Dataset, Question};
pub use run::{evaluate, EvalOptions, EvalReport};

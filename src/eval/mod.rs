//! Evaluation against ground truth: datasets, metrics, runs.

pub mod dataset;
pub mod metrics;

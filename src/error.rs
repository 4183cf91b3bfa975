//! One error type for the whole engine.
//!
//! Variants are grouped by pipeline stage. Every failure that input can cause is a
//! variant here, so callers (CLI, wasm adapter) can report a precise kind and message
//! and the engine stays usable: operations validate before they mutate.

use thiserror::Error;

/// Shorthand for `Result<T, sotto::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Sotto.
#[derive(Debug, Error)]
pub enum Error {
    // ---- ingest ----
    /// A document was rejected before indexing (empty, binary, too large, …).
    #[error("document {id:?} rejected: {reason}")]
    InvalidDocument {
        /// The document id (may be empty if the id itself is the problem).
        id: String,
        /// Human-readable reason.
        reason: String,
    },
    /// The same id appears more than once in one batch.
    #[error("document id {0:?} appears more than once in the batch")]
    DuplicateId(String),
    /// A document id that is not in the index was asked for.
    #[error("unknown document id {0:?}")]
    UnknownDocument(String),
    /// The raw bytes of a document are not valid UTF-8.
    #[error("document {id:?} is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 {
        /// The document id.
        id: String,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },

    /// An input exceeds an explicit resource limit (document bytes, heading bytes, blocks or
    /// chunks per document, nesting depth, vocabulary size, token length, dataset line, …).
    /// The limits are documented in one place: `docs/limits.md`.
    #[error("limit exceeded: {what} is {got}, more than the limit of {limit}")]
    LimitExceeded {
        /// Which limit (e.g. "heading bytes", "nesting depth", "gguf token bytes").
        what: &'static str,
        /// The limit.
        limit: usize,
        /// The size found (or the first size seen past the limit).
        got: usize,
    },

    // ---- models ----
    /// A model file (weights, tokenizer, config, GGUF) could not be read or is inconsistent.
    #[error("model file {what}: {detail}")]
    ModelFormat {
        /// Which file or part (e.g. "safetensors", "tokenizer.json", "config.json", "gguf").
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A model architecture that Sotto does not implement.
    #[error("unsupported model architecture {0:?}")]
    UnsupportedArchitecture(String),
    /// An operation needs a model that was not loaded.
    #[error("no {0} is loaded")]
    ModelNotLoaded(&'static str),
    /// Vector dimensions disagree.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Dimension the index was built with.
        expected: usize,
        /// Dimension received.
        got: usize,
    },
    /// A vector (an embedding to index) has a NaN or infinite component — a broken model
    /// or a caller's vector; nothing was changed.
    #[error("vector component {index} is not finite")]
    NonFiniteVector {
        /// Index of the first non-finite component.
        index: usize,
    },
    /// Tensor computation failed inside candle.
    #[error("model computation failed: {0}")]
    Candle(String),
    /// Tokenization failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    // ---- query ----
    /// The query is unusable (empty, too long, …).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A search or generation option is out of range.
    #[error("invalid option {name}: {detail}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// Why it is invalid.
        detail: String,
    },

    // ---- index file ----
    /// The bytes do not start with Sotto's magic number.
    #[error("not a Sotto index (bad magic)")]
    BadMagic,
    /// The index file was written by a format version this build cannot read.
    #[error("index format version {found} is not supported (this build reads {supported})")]
    IndexFormat {
        /// Version found in the file.
        found: u32,
        /// Version(s) this build reads.
        supported: u32,
    },
    /// A section's checksum does not match its bytes, or the file is truncated.
    #[error("index file corrupt in {section}: {detail}")]
    Corrupt {
        /// Section name (e.g. "manifest", "dense").
        section: String,
        /// What was found.
        detail: String,
    },
    /// The index was built with a different embedder than the one loaded.
    #[error("index built with embedder {index} but {loaded} is loaded")]
    EmbedderMismatch {
        /// Embedder recorded in the index manifest.
        index: String,
        /// Embedder currently loaded.
        loaded: String,
    },
    /// A shard of a sharded index could not be fetched (a missing file, an HTTP 404, an
    /// I/O error). The query that needed it fails; the index stays usable for others.
    #[error("shard {name} unavailable: {detail}")]
    ShardUnavailable {
        /// The shard's file name.
        name: String,
        /// What the source reported.
        detail: String,
    },
    /// A grader calibration (in an index manifest, or handed to
    /// `Engine::set_calibration`) was fitted with another embedder than the one loaded:
    /// its coefficients do not apply to this model's scores.
    #[error("grader calibration fitted for embedder {calibrated_for} but {loaded} is loaded (run `sotto calibrate`)")]
    CalibrationMismatch {
        /// Embedder the calibration was fitted with.
        calibrated_for: String,
        /// Embedder currently loaded.
        loaded: String,
    },

    // ---- partitioned builds (map/reduce) ----
    /// A partition spec is not `i/N` with `0 ≤ i < N` and `N ≥ 1`.
    #[error("invalid partition {given:?}: {reason}")]
    InvalidPartition {
        /// The spec as given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An index handed to a merge is a complete index, not a partition written by
    /// `index --partition i/N`.
    #[error("input {position} is not a partial index (write one with `sotto index --partition i/N`)")]
    NotPartial {
        /// 0-based position of the input among those merged.
        position: usize,
    },
    /// Partial indexes that cannot be merged: another partition count, another corpus,
    /// another configuration or another collection description.
    #[error("partial indexes do not belong together: {what} differs ({detail})")]
    PartitionMismatch {
        /// What differs (e.g. "partition count", "corpus", "configuration").
        what: &'static str,
        /// The values found.
        detail: String,
    },
    /// The same partition was given twice to a merge.
    #[error("partition {index}/{count} is given twice")]
    DuplicatePartition {
        /// The partition's index.
        index: u32,
        /// The partition count.
        count: u32,
    },
    /// A merge was given some partitions but not all.
    #[error("partitions {missing:?} of {count} are missing")]
    MissingPartitions {
        /// The indexes of the partitions not given.
        missing: Vec<u32>,
        /// The partition count.
        count: u32,
    },

    // ---- generation ----
    /// The prompt does not fit the model's context window.
    #[error("prompt of {tokens} tokens exceeds the context window of {context}")]
    ContextOverflow {
        /// Tokens requested (prompt + max new tokens).
        tokens: usize,
        /// Context window of the model.
        context: usize,
    },
    /// A step-wise API was called in the wrong order (e.g. `next_token` before `start`).
    #[error("wrong call order: {0}")]
    WrongState(String),
    /// The operation was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,

    // ---- evaluation ----
    /// An evaluation dataset line is malformed.
    #[error("dataset line {line}: {detail}")]
    Dataset {
        /// 1-based line number.
        line: usize,
        /// What was wrong (field name and problem).
        detail: String,
    },
}

impl Error {
    /// A short stable name for the variant, used as the `kind` on the JS side and in CLI JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidDocument { .. } => "InvalidDocument",
            Error::DuplicateId(_) => "DuplicateId",
            Error::UnknownDocument(_) => "UnknownDocument",
            Error::InvalidUtf8 { .. } => "InvalidUtf8",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::ModelFormat { .. } => "ModelFormat",
            Error::UnsupportedArchitecture(_) => "UnsupportedArchitecture",
            Error::ModelNotLoaded(_) => "ModelNotLoaded",
            Error::DimensionMismatch { .. } => "DimensionMismatch",
            Error::NonFiniteVector { .. } => "NonFiniteVector",
            Error::Candle(_) => "Candle",
            Error::Tokenizer(_) => "Tokenizer",
            Error::InvalidQuery(_) => "InvalidQuery",
            Error::InvalidOption { .. } => "InvalidOption",
            Error::BadMagic => "BadMagic",
            Error::IndexFormat { .. } => "IndexFormat",
            Error::Corrupt { .. } => "Corrupt",
            Error::EmbedderMismatch { .. } => "EmbedderMismatch",
            Error::ShardUnavailable { .. } => "ShardUnavailable",
            Error::CalibrationMismatch { .. } => "CalibrationMismatch",
            Error::InvalidPartition { .. } => "InvalidPartition",
            Error::NotPartial { .. } => "NotPartial",
            Error::PartitionMismatch { .. } => "PartitionMismatch",
            Error::DuplicatePartition { .. } => "DuplicatePartition",
            Error::MissingPartitions { .. } => "MissingPartitions",
            Error::ContextOverflow { .. } => "ContextOverflow",
            Error::WrongState(_) => "WrongState",
            Error::Cancelled => "Cancelled",
            Error::Dataset { .. } => "Dataset",
        }
    }

    /// Helper for model-file errors.
    pub fn model(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::ModelFormat { what: what.into(), detail: detail.to_string() }
    }

    /// Helper for corruption errors.
    pub fn corrupt(section: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt { section: section.into(), detail: detail.to_string() }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e.to_string())
    }
}

//! Stage 4 — what a question asks for, before any index is touched: the retrieval
//! [`options`] (mode, fusion, `k`, filters) parsed and validated once for every caller
//! (Rust API, CLI, wasm, evaluation grid, worker), and the [`filter`] language over
//! document metadata.
//!
//! The query layer of the advanced-RAG repertoire (query translation, routing, query
//! construction) grows here: it turns one question into the searches the engine runs.

pub mod filter;
pub mod options;

pub use filter::Filter;
pub use options::{Mode, Rerank, Retrieval, SearchOptions};

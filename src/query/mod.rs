//! Stage 4 — what a question asks for, before any index is touched: the retrieval
//! [`options`] (mode, fusion, `k`, filters) parsed and validated once for every caller
//! (Rust API, CLI, wasm, evaluation grid, worker), and the [`filter`] language over
//! document metadata.
//!
//! The query layer of the advanced-RAG repertoire grows here: [`translate`] turns one
//! question into the searches the engine runs (multi-query, RAG-Fusion, decomposition,
//! step-back, HyDE — model-free). [`classify`] is semantic routing: the question's class
//! (meta, definition, how-to, comparison, yes/no, list, overview, factoid) from rules and
//! prototype embeddings, which the adaptive answer pipeline (`rag::adaptive`) acts on.
//! Logical routing and query construction are still to come.

pub mod classify;
pub mod construct;
pub mod filter;
pub mod options;
pub mod route;
pub mod translate;

pub use classify::{Classification, QuestionClass};
pub use construct::Construct;
pub use filter::Filter;
pub use options::{Mode, Rerank, Retrieval, SearchOptions, Tree, TreeHit};
pub use route::Route;
pub use translate::{QueryTrace, Translate};

//! # Sotto — retrieval-augmented generation that runs in the browser
//!
//! The module tree is the pipeline, in the order data flows:
//! [`ingest`] (validate, clean, chunk, de-duplicate, language) → [`embed`] (sentence
//! vectors) → [`index`] (dense segments, BM25, fusion, the file container) → [`query`]
//! (validated search options, the filter language) → [`generate`] (the local GGUF
//! generator) → [`rag`] (the [`Engine`] that orchestrates them, persistence, grounded
//! answers) → [`eval`] (metrics against ground truth). A module names only modules
//! before it (and [`text`] and [`error`], which every stage shares); `tests/architecture.rs`
//! checks it.
//!
//! Core modules are target-agnostic: no file system, threads or clocks. The CLI
//! (`src/bin/sotto.rs`, feature `cli`) and the wasm adapter (`src/wasm/`) do I/O.
//!
//! ```
//! use sotto::{Engine, EngineConfig, Document, SearchOptions};
//! use sotto::embed::hashing::HashEmbedder;
//!
//! let mut engine = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
//! engine.add_documents(vec![
//!     Document::new("a.md", "# Cargo\n\nCargo is the Rust package manager."),
//!     Document::new("b.txt", "Paris is the capital of France."),
//! ]).unwrap();
//! let hits = engine.search("package manager", &SearchOptions::default()).unwrap();
//! assert_eq!(hits[0].doc_id, "a.md");
//! ```
#![warn(missing_docs)]

pub mod embed;
pub mod error;
pub mod eval;
pub mod generate;
pub mod index;
pub mod ingest;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod par;
pub mod query;
pub mod rag;
pub mod text;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use ingest::{Document, Format};
pub use query::{Filter, Mode, QueryTrace, Retrieval, SearchOptions, Translate};
pub use rag::{Engine, EngineConfig, SearchHit};

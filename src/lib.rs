//! # Sotto — retrieval-augmented generation that runs in the browser
//!
//! The module tree is the pipeline, in the order data flows:
//! [`ingest`] (validate, clean, chunk, de-duplicate) → [`embed`] (sentence vectors) →
//! [`index`] (dense segments, BM25, fusion, on-disk format) → [`rag`] (the [`Engine`]
//! that orchestrates them) → [`eval`] (metrics against ground truth); [`generate`]
//! holds the local GGUF generator.
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
pub mod rag;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use ingest::{Document, Format};
pub use rag::{Engine, EngineConfig, Filter, Mode, SearchHit, SearchOptions};

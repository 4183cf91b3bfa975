//! The engine (being written by the lead).
#![allow(missing_docs)]
use crate::embed::Embedder;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineConfig {}
pub struct Engine { _e: Box<dyn Embedder> }
impl Engine { pub fn new(_c: EngineConfig, e: Box<dyn Embedder>) -> Self { Engine { _e: e } } }
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub enum Mode { #[default] Hybrid }
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Filter {}
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {}
#[derive(Debug, Clone)]
pub struct SearchHit {}

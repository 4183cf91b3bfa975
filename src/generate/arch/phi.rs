//! `phi2` (Phi-2: parallel attention + MLP, LayerNorm, partial rotary) through
//! `candle_transformers::models::quantized_phi`, and `phi3` (Phi-3: fused QKV and gate/up
//! projections, RMSNorm) through `quantized_phi3`.
//!
//! Limits of candle 0.11.1 reported in [`GeneratorInfo::warnings`](crate::generate::GeneratorInfo):
//! Phi-2's RoPE table covers 4096 positions; Phi-3 uses a fixed RoPE base of 10 000 without
//! the "longrope" scaling of the 128k variants, and preallocates its KV cache for the whole
//! context — so the context is capped at [`LoadOptions::max_context`] by rewriting
//! `phi3.context_length` before construction.

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;
use candle_transformers::models::{quantized_phi, quantized_phi3};

use super::{check_blocks, check_embeddings, check_heads, guarded, info, input, logits, Common};
use crate::error::Result;
use crate::generate::gguf::{self, expect_shape, Meta, Prepared};
use crate::generate::session::{Backend, Session};
use crate::generate::{Generator, LoadOptions};

pub(crate) struct Phi2 {
    model: quantized_phi::ModelWeights,
}

impl Backend for Phi2 {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(tokens)?, 0)?)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(&[token])?, pos)?)
    }
    /// candle's phi2 has no cache reset; the next prefill (position 0) replaces the cache.
    fn clear(&mut self) {}
}

pub(crate) struct Phi3 {
    model: quantized_phi3::ModelWeights,
}

impl Backend for Phi3 {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(tokens)?, 0)?)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(&[token])?, pos)?)
    }
    /// candle's phi3 resets its cache at the next prefill (position 0).
    fn clear(&mut self) {}
}

fn check_output(content: &Content, e: usize, common: &Common) -> Result<usize> {
    match gguf::shape_of(content, "output.weight")? {
        [v, cols] if *cols == e && *v >= common.tokenizer.vocab_size() => Ok(*v),
        d => Err(gguf::format_err(format!("tensor output.weight has shape {d:?}"))),
    }
}

pub(crate) fn load_phi2(
    bytes: &[u8],
    content: Content,
    common: Common,
    opts: &LoadOptions,
) -> Result<Box<dyn Generator>> {
    let m = Meta(&content.metadata);
    let e = m.usize("phi2.embedding_length")?;
    let heads = m.usize("phi2.attention.head_count")?;
    let kv = m.usize("phi2.attention.head_count_kv")?;
    let blocks = m.usize("phi2.block_count")?;
    let rope = m.usize("phi2.rope.dimension_count")?;
    let eps = m.f64("phi2.attention.layer_norm_epsilon")?;
    let hd = check_heads(e, heads, kv)?;
    if kv != heads {
        return Err(gguf::format_err("phi2 with grouped-query attention is not supported by candle"));
    }
    if rope == 0 || rope % 2 != 0 || rope > hd || eps <= 0.0 {
        return Err(gguf::format_err(format!("rope dimension {rope} must be even and at most {hd}; epsilon > 0")));
    }
    check_blocks(&content, blocks, |i| format!("blk.{i}.attn_qkv.weight"))?;
    check_embeddings(&content, "token_embd.weight", e, &common.tokenizer)?;
    let v = check_output(&content, e, &common)?;
    for n in ["output_norm.weight", "output_norm.bias"] {
        expect_shape(&content, n, &[e])?;
    }
    expect_shape(&content, "output.bias", &[v])?;
    let ff = match gguf::shape_of(&content, "blk.0.ffn_up.weight")? {
        [ff, cols] if *cols == e && *ff > 0 => *ff,
        d => return Err(gguf::format_err(format!("tensor blk.0.ffn_up.weight has shape {d:?}"))),
    };
    for i in 0..blocks {
        let p = format!("blk.{i}");
        for (n, s) in [
            ("attn_norm.weight", vec![e]),
            ("attn_norm.bias", vec![e]),
            ("attn_qkv.weight", vec![3 * e, e]),
            ("attn_qkv.bias", vec![3 * e]),
            ("attn_output.weight", vec![e, e]),
            ("attn_output.bias", vec![e]),
            ("ffn_up.weight", vec![ff, e]),
            ("ffn_up.bias", vec![ff]),
            ("ffn_down.weight", vec![e, ff]),
            ("ffn_down.bias", vec![e]),
        ] {
            expect_shape(&content, &format!("{p}.{n}"), &s)?;
        }
    }
    let context =
        m.opt_usize("phi2.context_length")?.unwrap_or(2048).min(quantized_phi::MAX_SEQ_LEN).min(opts.max_context);
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let info = info(&common, &prepared.content, context, e, blocks, prepared.requantized, vec![]);
    let (content, mut reader) = prepared.into_parts();
    let model = guarded(|| quantized_phi::ModelWeights::from_gguf(content, &mut reader, &Device::Cpu))?;
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, Phi2 { model })))
}

pub(crate) fn load_phi3(
    bytes: &[u8],
    mut content: Content,
    common: Common,
    opts: &LoadOptions,
) -> Result<Box<dyn Generator>> {
    let m = Meta(&content.metadata);
    let e = m.usize("phi3.embedding_length")?;
    let heads = m.usize("phi3.attention.head_count")?;
    let kv = m.usize("phi3.attention.head_count_kv")?;
    let blocks = m.usize("phi3.block_count")?;
    let rope = m.usize("phi3.rope.dimension_count")?;
    let ff = m.usize("phi3.feed_forward_length")?;
    let trained = m.usize("phi3.context_length")?;
    let eps = m.f64("phi3.attention.layer_norm_rms_epsilon")?;
    let hd = check_heads(e, heads, kv)?;
    if rope != hd || hd % 2 != 0 || eps <= 0.0 || ff == 0 || trained == 0 {
        return Err(gguf::format_err(format!(
            "rope dimension {rope} must equal the even head dimension {hd}; epsilon, feed-forward and context must be positive"
        )));
    }
    let mut warnings = Vec::new();
    if m.get("phi3.rope.scaling.attn_factor").is_some() || m.get("phi3.rope.scaling.type").is_some() {
        warnings.push("RoPE scaling (longrope) is ignored by candle 0.11.1's phi3".to_string());
    }
    check_blocks(&content, blocks, |i| format!("blk.{i}.attn_qkv.weight"))?;
    check_embeddings(&content, "token_embd.weight", e, &common.tokenizer)?;
    check_output(&content, e, &common)?;
    expect_shape(&content, "output_norm.weight", &[e])?;
    for i in 0..blocks {
        let p = format!("blk.{i}");
        for (n, s) in [
            ("attn_norm.weight", vec![e]),
            ("ffn_norm.weight", vec![e]),
            ("attn_qkv.weight", vec![(heads + 2 * kv) * hd, e]),
            ("attn_output.weight", vec![e, heads * hd]),
            ("ffn_up.weight", vec![2 * ff, e]),
            ("ffn_down.weight", vec![e, ff]),
        ] {
            expect_shape(&content, &format!("{p}.{n}"), &s)?;
        }
    }
    let context = trained.min(opts.max_context);
    // candle sizes the RoPE table and the preallocated KV cache from this key.
    content.metadata.insert("phi3.context_length".into(), Value::U32(context.min(u32::MAX as usize) as u32));
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let info = info(&common, &prepared.content, context, e, blocks, prepared.requantized, warnings);
    let (content, mut reader) = prepared.into_parts();
    let model = guarded(|| quantized_phi3::ModelWeights::from_gguf(false, content, &mut reader, &Device::Cpu))?;
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, Phi3 { model })))
}

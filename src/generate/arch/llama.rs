//! `llama`: Llama-family decoders (SmolLM2, Llama 2/3, Mistral-style) through
//! `candle_transformers::models::quantized_llama`.

use candle_core::quantized::gguf_file::Content;
use candle_core::Device;
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};

use super::{check_blocks, check_embeddings, check_heads, guarded, info, input, logits, Common};
use crate::error::{Error, Result};
use crate::generate::gguf::{self, expect_shape, Meta, Prepared};
use crate::generate::session::{Backend, Session};
use crate::generate::{Generator, LoadOptions};

pub(crate) struct Llama {
    model: ModelWeights,
}

impl Backend for Llama {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(tokens)?, 0)?)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        logits(self.model.forward(&input(&[token])?, pos)?)
    }
    fn clear(&mut self) {
        self.model.clear_kv_cache();
    }
}

/// Hyper-parameters after validation.
struct Dims {
    embedding: usize,
    blocks: usize,
    context: usize,
}

fn validate(content: &Content, common: &Common, opts: &LoadOptions) -> Result<Dims> {
    let m = Meta(&content.metadata);
    if m.opt_usize("llama.expert_count")?.unwrap_or(0) > 1 {
        return Err(Error::UnsupportedArchitecture("llama (mixture of experts)".into()));
    }
    let e = m.usize("llama.embedding_length")?;
    let heads = m.usize("llama.attention.head_count")?;
    let kv = m.usize("llama.attention.head_count_kv")?;
    let blocks = m.usize("llama.block_count")?;
    let rope = m.usize("llama.rope.dimension_count")?;
    let eps = m.f64("llama.attention.layer_norm_rms_epsilon")?;
    let hd = check_heads(e, heads, kv)?;
    if rope != hd || hd % 2 != 0 {
        return Err(gguf::format_err(format!("rope dimension {rope} must equal the even head dimension {hd}")));
    }
    if eps <= 0.0 {
        return Err(gguf::format_err("layer_norm_rms_epsilon must be positive"));
    }
    check_blocks(content, blocks, |i| format!("blk.{i}.attn_q.weight"))?;
    let vocab = check_embeddings(content, "token_embd.weight", e, &common.tokenizer)?;
    expect_shape(content, "output_norm.weight", &[e])?;
    if content.tensor_infos.contains_key("output.weight") {
        let out = gguf::shape_of(content, "output.weight")?;
        if out.len() != 2 || out[1] != e || out[0] < common.tokenizer.vocab_size() {
            return Err(gguf::format_err(format!("tensor output.weight has shape {out:?}")));
        }
    }
    let _ = vocab;
    let ff = match gguf::shape_of(content, "blk.0.ffn_gate.weight")? {
        [ff, cols] if *cols == e && *ff > 0 => *ff,
        d => return Err(gguf::format_err(format!("tensor blk.0.ffn_gate.weight has shape {d:?}"))),
    };
    for i in 0..blocks {
        let p = format!("blk.{i}");
        expect_shape(content, &format!("{p}.attn_q.weight"), &[heads * hd, e])?;
        expect_shape(content, &format!("{p}.attn_k.weight"), &[kv * hd, e])?;
        expect_shape(content, &format!("{p}.attn_v.weight"), &[kv * hd, e])?;
        expect_shape(content, &format!("{p}.attn_output.weight"), &[e, heads * hd])?;
        expect_shape(content, &format!("{p}.ffn_gate.weight"), &[ff, e])?;
        expect_shape(content, &format!("{p}.ffn_up.weight"), &[ff, e])?;
        expect_shape(content, &format!("{p}.ffn_down.weight"), &[e, ff])?;
        expect_shape(content, &format!("{p}.attn_norm.weight"), &[e])?;
        expect_shape(content, &format!("{p}.ffn_norm.weight"), &[e])?;
    }
    let trained = m.opt_usize("llama.context_length")?.unwrap_or(MAX_SEQ_LEN);
    Ok(Dims { embedding: e, blocks, context: trained.min(MAX_SEQ_LEN).min(opts.max_context) })
}

pub(crate) fn load(bytes: &[u8], content: Content, common: Common, opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    let dims = validate(&content, &common, opts)?;
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let mut warnings = Vec::new();
    if dims.context < opts.max_context {
        warnings.push(format!("context limited to {} tokens (candle's RoPE table)", dims.context));
    }
    let info =
        info(&common, &prepared.content, dims.context, dims.embedding, dims.blocks, prepared.requantized, warnings);
    let (content, mut reader) = prepared.into_parts();
    let model = guarded(|| ModelWeights::from_gguf(content, &mut reader, &Device::Cpu))?;
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, Llama { model })))
}

//! `t5`: encoder–decoder T5 / Flan-T5 (Raffel et al. 2020) through
//! `candle_transformers::models::quantized_t5`.
//!
//! llama.cpp's GGUF names T5 tensors `enc.blk.N.attn_q.weight`, `dec.blk.N.cross_attn_k.weight`
//! …, while candle's loader expects the Hugging Face names
//! (`encoder.block.N.layer.0.SelfAttention.q.weight`); tensors are renamed on load (files
//! that already use the Hugging Face names load as they are). The model configuration is
//! built from the `t5.*` metadata. The prompt goes to the encoder (with `</s>` appended, as
//! T5's tokenizer does), and decoding starts from `t5.decoder_start_token_id` (the pad token
//! by default). The repetition penalty, when enabled, also counts encoder tokens.

use std::io::Cursor;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::QTensor;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_t5::{Config, T5ForConditionalGeneration};
use candle_transformers::quantized_var_builder::VarBuilder;

use super::{check_blocks, check_embeddings, guarded, info, input, logits, Common};
use crate::error::{Error, Result};
use crate::generate::gguf::{self as g, expect_shape, Meta, Prepared};
use crate::generate::session::{Backend, Session};
use crate::generate::{Generator, LoadOptions};

pub(crate) struct T5 {
    model: T5ForConditionalGeneration,
    encoder_out: Option<Tensor>,
    start_id: u32,
    eos_id: Option<u32>,
}

impl Backend for T5 {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.model.clear_kv_cache();
        let mut ids = tokens.to_vec();
        if let Some(eos) = self.eos_id {
            if ids.last() != Some(&eos) {
                ids.push(eos);
            }
        }
        let enc = self.model.encode(&input(&ids)?)?;
        let l = logits(self.model.decode(&input(&[self.start_id])?, &enc)?)?;
        self.encoder_out = Some(enc);
        Ok(l)
    }

    fn step(&mut self, token: u32, _pos: usize) -> Result<Vec<f32>> {
        let enc = self.encoder_out.as_ref().ok_or_else(|| Error::WrongState("no encoded prompt".into()))?;
        logits(self.model.decode(&input(&[token])?, enc)?)
    }

    fn clear(&mut self) {
        self.model.clear_kv_cache();
        self.encoder_out = None;
    }

    /// The prompt (plus `</s>`) goes to the encoder; the decoder sees the start token and
    /// the generated tokens.
    fn positions_needed(&self, prompt_len: usize, max_new_tokens: usize) -> usize {
        (prompt_len + 1).max(max_new_tokens + 1)
    }
}

/// llama.cpp tensor name → Hugging Face name used by candle's T5.
fn hf_name(name: &str, gated: bool) -> Option<String> {
    let fixed = match name {
        "token_embd.weight" => Some("shared.weight"),
        "output.weight" => Some("lm_head.weight"),
        "enc.output_norm.weight" => Some("encoder.final_layer_norm.weight"),
        "dec.output_norm.weight" => Some("decoder.final_layer_norm.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let (stack, rest) = if let Some(r) = name.strip_prefix("enc.blk.") {
        ("encoder", r)
    } else {
        ("decoder", name.strip_prefix("dec.blk.")?)
    };
    let (block, rest) = rest.split_once('.')?;
    let block: usize = block.parse().ok()?;
    let (part, suffix) = rest.split_once('.')?;
    let ff_layer = if stack == "encoder" { 1 } else { 2 };
    let up = if gated { "wi_1" } else { "wi" };
    let mapped = match part {
        "attn_q" => "layer.0.SelfAttention.q".to_string(),
        "attn_k" => "layer.0.SelfAttention.k".to_string(),
        "attn_v" => "layer.0.SelfAttention.v".to_string(),
        "attn_o" => "layer.0.SelfAttention.o".to_string(),
        "attn_rel_b" => "layer.0.SelfAttention.relative_attention_bias".to_string(),
        "attn_norm" => "layer.0.layer_norm".to_string(),
        "cross_attn_q" => "layer.1.EncDecAttention.q".to_string(),
        "cross_attn_k" => "layer.1.EncDecAttention.k".to_string(),
        "cross_attn_v" => "layer.1.EncDecAttention.v".to_string(),
        "cross_attn_o" => "layer.1.EncDecAttention.o".to_string(),
        "cross_attn_rel_b" => "layer.1.EncDecAttention.relative_attention_bias".to_string(),
        "cross_attn_norm" => "layer.1.layer_norm".to_string(),
        "ffn_gate" => format!("layer.{ff_layer}.DenseReluDense.wi_0"),
        "ffn_up" => format!("layer.{ff_layer}.DenseReluDense.{up}"),
        "ffn_down" => format!("layer.{ff_layer}.DenseReluDense.wo"),
        "ffn_norm" => format!("layer.{ff_layer}.layer_norm"),
        _ => return None,
    };
    Some(format!("{stack}.block.{block}.{mapped}.{suffix}"))
}

pub(crate) fn load(bytes: &[u8], content: Content, common: Common, opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    let m = Meta(&content.metadata);
    let d_model = m.usize("t5.embedding_length")?;
    let heads = m.usize("t5.attention.head_count")?;
    let d_kv = m.usize("t5.attention.key_length")?;
    let d_ff = m.usize("t5.feed_forward_length")?;
    let blocks = m.usize("t5.block_count")?;
    let dec_blocks = m.opt_usize("t5.decoder_block_count")?.unwrap_or(blocks);
    let buckets = m.opt_usize("t5.attention.relative_buckets_count")?.unwrap_or(32);
    let eps = match m.opt_f64("t5.attention.layer_norm_rms_epsilon")? {
        Some(e) => e,
        None => m.f64("t5.attention.layer_norm_epsilon")?,
    };
    if heads == 0 || d_model == 0 || d_kv == 0 || d_ff == 0 || buckets < 2 || eps <= 0.0 || dec_blocks == 0 {
        return Err(g::format_err("t5 dimensions, bucket count (>= 2) and epsilon must be positive"));
    }
    let hf_named = content.tensor_infos.contains_key("shared.weight");
    let embd = if hf_named { "shared.weight" } else { "token_embd.weight" };
    let probe = |hf_stack: &str, gguf_stack: &str, i: usize| {
        if hf_named {
            format!("{hf_stack}.block.{i}.layer.0.SelfAttention.q.weight")
        } else {
            format!("{gguf_stack}.blk.{i}.attn_q.weight")
        }
    };
    check_blocks(&content, blocks, |i| probe("encoder", "enc", i))?;
    check_blocks(&content, dec_blocks, |i| probe("decoder", "dec", i))?;
    let vocab = check_embeddings(&content, embd, d_model, &common.tokenizer)?;
    if !hf_named {
        expect_shape(&content, "enc.blk.0.attn_rel_b.weight", &[buckets, heads])?;
        expect_shape(&content, "dec.blk.0.attn_rel_b.weight", &[buckets, heads])?;
    }
    let gated = content.tensor_infos.contains_key("enc.blk.0.ffn_gate.weight")
        || content.tensor_infos.contains_key("encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
    let tied =
        !content.tensor_infos.contains_key("output.weight") && !content.tensor_infos.contains_key("lm_head.weight");
    let pad = m.opt_usize("tokenizer.ggml.padding_token_id")?.unwrap_or(0);
    let start = m.opt_usize("t5.decoder_start_token_id")?.unwrap_or(pad);
    if start >= vocab {
        return Err(g::format_err(format!("decoder start token {start} is outside the vocabulary")));
    }
    let eos = common.tokenizer.eos_id();
    let cfg_json = serde_json::json!({
        "vocab_size": vocab,
        "d_model": d_model,
        "d_kv": d_kv,
        "d_ff": d_ff,
        "num_layers": blocks,
        "num_decoder_layers": dec_blocks,
        "num_heads": heads,
        "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": 128,
        "dropout_rate": 0.0,
        "layer_norm_epsilon": eps,
        "initializer_factor": 1.0,
        "feed_forward_proj": if gated { "gated-gelu" } else { "relu" },
        "tie_word_embeddings": tied,
        "is_decoder": false,
        "is_encoder_decoder": true,
        "use_cache": true,
        "pad_token_id": pad,
        "eos_token_id": eos.unwrap_or(1),
        "decoder_start_token_id": start,
    });
    let cfg: Config = serde_json::from_value(cfg_json).map_err(|e| g::format_err(format!("t5 config: {e}")))?;
    let context = m.opt_usize("t5.context_length")?.unwrap_or(512).min(opts.max_context);

    // Read (and requantize) every tensor, rename, and hand candle a GGUF with HF names.
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let info = info(&common, &prepared.content, context, d_model, blocks, prepared.requantized, vec![]);
    let (content, mut reader) = prepared.into_parts();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let new = if hf_named { Some(name.clone()) } else { hf_name(name, gated) };
        let Some(new) = new else { continue };
        let q = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(|e| g::format_err(format!("tensor {name}: {e}")))?;
        tensors.push((new, q));
    }
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (n.as_str(), q)).collect();
    let no_meta: [(&str, &Value); 0] = [];
    let mut buf = Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &no_meta, &refs).map_err(g::format_err)?;
    drop(tensors);
    let buf = buf.into_inner();
    let model = guarded(|| {
        let vb = VarBuilder::from_gguf_buffer(&buf, &Device::Cpu)?;
        T5ForConditionalGeneration::load(vb, &cfg)
    })?;
    let backend = T5 { model, encoder_out: None, start_id: start as u32, eos_id: eos };
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, backend)))
}

#[cfg(test)]
mod tests {
    use super::hf_name;

    #[test]
    fn llama_cpp_names_map_to_hugging_face_names() {
        assert_eq!(hf_name("enc.blk.3.attn_q.weight", true).unwrap(), "encoder.block.3.layer.0.SelfAttention.q.weight");
        assert_eq!(
            hf_name("dec.blk.0.cross_attn_o.weight", true).unwrap(),
            "decoder.block.0.layer.1.EncDecAttention.o.weight"
        );
        assert_eq!(
            hf_name("dec.blk.1.ffn_up.weight", true).unwrap(),
            "decoder.block.1.layer.2.DenseReluDense.wi_1.weight"
        );
        assert_eq!(
            hf_name("enc.blk.1.ffn_up.weight", false).unwrap(),
            "encoder.block.1.layer.1.DenseReluDense.wi.weight"
        );
        assert_eq!(hf_name("enc.output_norm.weight", true).unwrap(), "encoder.final_layer_norm.weight");
        assert_eq!(hf_name("token_embd.weight", true).unwrap(), "shared.weight");
        assert_eq!(hf_name("something.else", true), None);
    }
}

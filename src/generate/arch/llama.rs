//! `llama`: Llama-family decoders (SmolLM2, Llama 2/3, Mistral-style).
//!
//! The forward pass is this crate's own, so that prefill can run its projections as
//! matrix–matrix products ([`qgemm`](crate::generate::qgemm)): candle's
//! `quantized_llama` multiplies a prompt one token at a time and streams every weight
//! matrix once per token. Decoding (one token) still goes through candle's `QMatMul`, and
//! so do weights that are not Q8_0 (a file loaded without requantization).
//!
//! The semantics are those of candle-transformers' `quantized_llama` (the previous backend,
//! kept as [`load_reference`] for the parity tests and the speed example), which follows
//! llama.cpp's conventions for GGUF files:
//!
//! * token embeddings looked up in `token_embd.weight` (rows dequantized on lookup; the
//!   reference dequantizes the whole table at load, the same values at 4 bytes per weight);
//!   the output projection is `output.weight`, or the embeddings when tied (SmolLM2);
//! * each block: `x + attn(attn_norm(x))`, then `x + down(silu(gate(h)) · up(h))` with
//!   `h = ffn_norm(x)`; RMSNorm `x / sqrt(mean(x²) + eps) · w`;
//! * RoPE on q and k in the interleaved layout (pairs `2i, 2i + 1`: llama.cpp's converter
//!   permutes the q/k weights for it), frequencies `base^(-2i / d)` (`llama.rope.freq_base`,
//!   default 10 000), angles computed in f32 as the reference does, so the tables are
//!   bit-identical;
//! * grouped-query attention, scores divided by `sqrt(head_dim)`, causal mask, f32 softmax;
//! * logits of the last position only.

use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};
use candle_transformers::quantized_nn::RmsNorm;

use super::{check_blocks, check_embeddings, check_heads, guarded, info, input, logits, Common};
use crate::error::{Error, Result};
use crate::generate::gguf::{self, expect_shape, Meta, Prepared};
use crate::generate::qgemm::{self, Q8Matrix, QuantizedRows};
use crate::generate::session::{Backend, Session};
use crate::generate::{Generator, GeneratorInfo, LoadOptions};

/// candle's `quantized_llama`, the reference implementation.
pub(crate) struct Reference {
    model: ModelWeights,
}

impl Backend for Reference {
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
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    blocks: usize,
    context: usize,
    eps: f64,
    rope_base: f32,
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
    let rope_base = m.opt_f64("llama.rope.freq_base")?.unwrap_or(10_000.0);
    if rope_base <= 0.0 {
        return Err(gguf::format_err("llama.rope.freq_base must be positive"));
    }
    Ok(Dims {
        embedding: e,
        heads,
        kv_heads: kv,
        head_dim: hd,
        blocks,
        context: trained.min(MAX_SEQ_LEN).min(opts.max_context),
        eps,
        rope_base: rope_base as f32,
    })
}

/// Which forward pass to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implementation {
    /// This module's, with batched prefill.
    Own,
    /// candle-transformers' `quantized_llama` (the parity tests' and the speed example's
    /// reference).
    Candle,
}

/// Validate, requantize and build the chosen forward pass.
fn build(
    bytes: &[u8],
    content: Content,
    common: &Common,
    opts: &LoadOptions,
    which: Implementation,
) -> Result<(GeneratorInfo, Box<dyn Backend>)> {
    let dims = validate(&content, common, opts)?;
    let prepared = Prepared::new(bytes, content, opts.requantize_to_q8_0)?;
    let mut warnings = Vec::new();
    if dims.context < opts.max_context {
        warnings.push(format!("context limited to {} tokens (candle's RoPE table)", dims.context));
    }
    let info =
        info(common, &prepared.content, dims.context, dims.embedding, dims.blocks, prepared.requantized, warnings);
    let (content, mut reader) = prepared.into_parts();
    let backend: Box<dyn Backend> = match which {
        Implementation::Own => Box::new(guarded(|| Llama::from_gguf(dims, &content, &mut reader))?),
        Implementation::Candle => {
            Box::new(Reference { model: guarded(|| ModelWeights::from_gguf(content, &mut reader, &Device::Cpu))? })
        }
    };
    Ok((info, backend))
}

pub(crate) fn load(
    bytes: &[u8],
    content: Content,
    common: Common,
    opts: &LoadOptions,
    which: Implementation,
) -> Result<Box<dyn Generator>> {
    let (info, backend) = build(bytes, content, &common, opts, which)?;
    Ok(Box::new(Session::new(info, common.tokenizer, common.template, backend)))
}

/// The logits after prefilling `prompt`, then after each token of `forced` fed one at a time.
pub(crate) fn logits_trace(
    bytes: &[u8],
    content: Content,
    common: &Common,
    opts: &LoadOptions,
    which: Implementation,
    prompt: &[u32],
    forced: &[u32],
) -> Result<Vec<Vec<f32>>> {
    let (_, mut backend) = build(bytes, content, common, opts, which)?;
    let mut out = vec![backend.prefill(prompt)?];
    for (i, &t) in forced.iter().enumerate() {
        out.push(backend.step(t, prompt.len() + i)?);
    }
    Ok(out)
}

/// A projection `y = x Wᵀ`: candle's `QMatMul` for one token, [`qgemm`] for many when the
/// weights are Q8_0 (the same bytes, borrowed from the tensor).
struct Linear {
    weight: Arc<QTensor>,
    mm: QMatMul,
    /// Output and input sizes.
    n: usize,
    k: usize,
}

impl Linear {
    fn new(weight: QTensor) -> candle_core::Result<Self> {
        let (n, k) = weight.shape().dims2()?;
        let weight = Arc::new(weight);
        Ok(Self { mm: QMatMul::from_arc(weight.clone())?, weight, n, k })
    }

    fn batched(&self) -> bool {
        self.weight.dtype() == GgmlDType::Q8_0
    }

    /// `x` is `[1, t, k]`; `xq` the same rows quantized when `t > 1` (shared by the
    /// projections that read the same input).
    fn forward(&self, x: &Tensor, xq: Option<&QuantizedRows>, scratch: &mut Vec<f32>) -> Result<Tensor> {
        match xq {
            Some(xq) if self.batched() => {
                let data = self.weight.data()?;
                let w = Q8Matrix::new(&data, self.n, self.k)?;
                let mut out = vec![0f32; xq.rows() * self.n];
                qgemm::matmul(&w, xq, &mut out, scratch)?;
                Ok(Tensor::from_vec(out, (1, xq.rows(), self.n), &Device::Cpu)?)
            }
            _ => Ok(self.mm.forward(x)?),
        }
    }
}

/// Scratch reused by every prefill: the quantized input of the projections, and the
/// weight scales of the one running.
#[derive(Default)]
struct Scratch {
    xq: QuantizedRows,
    scales: Vec<f32>,
}

/// Quantize `x` (`[1, t, k]`) into `xq` for the batched projections when `t > 1`; then
/// `Some(xq)`.
fn quantize_rows<'a>(xq: &'a mut QuantizedRows, x: &Tensor) -> Result<Option<&'a QuantizedRows>> {
    let (_, t, k) = x.dims3()?;
    if t == 1 {
        return Ok(None);
    }
    let v: Vec<f32> = x.flatten_all()?.to_vec1()?;
    xq.quantize(&v, t, k)?;
    Ok(Some(xq))
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    /// Keys and values `[1, kv_heads, cached, head_dim]`, after RoPE.
    cache: Option<(Tensor, Tensor)>,
}

/// The whole decoder.
pub(crate) struct Llama {
    dims: Dims,
    /// Token embeddings (also the output projection when tied).
    embed: QMatMul,
    output: QMatMul,
    norm: RmsNorm,
    layers: Vec<Layer>,
    /// RoPE tables `[context, head_dim / 2]`.
    cos: Tensor,
    sin: Tensor,
    /// Positions processed since the last prefill.
    len: usize,
    scratch: Scratch,
}

/// cos and sin of `position · base^(-2i / d)`, computed in f32 exactly as the reference does.
fn rope_tables(head_dim: usize, base: f32, positions: usize) -> candle_core::Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1f32 / base.powf(i as f32 / head_dim as f32)).collect();
    let half = inv.len();
    let (mut cos, mut sin) = (Vec::with_capacity(positions * half), Vec::with_capacity(positions * half));
    for p in 0..positions {
        for f in &inv {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (positions, half), &Device::Cpu)?,
        Tensor::from_vec(sin, (positions, half), &Device::Cpu)?,
    ))
}

/// `-∞` above the diagonal of a `[t, t]` causal mask, 0 elsewhere.
fn causal_mask(t: usize) -> Result<Tensor> {
    let m: Vec<f32> = (0..t).flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Ok(Tensor::from_vec(m, (t, t), &Device::Cpu)?)
}

fn repeat_kv(x: Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x);
    }
    let (b, kv, s, d) = x.dims4()?;
    // Each kv head serves `n` consecutive query heads.
    Ok(x.unsqueeze(2)?.expand((b, kv, n, s, d))?.reshape((b, kv * n, s, d))?)
}

impl Layer {
    fn attention(
        &mut self,
        x: &Tensor,
        dims: &Dims,
        rope: (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        scratch: &mut Scratch,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, kv, d) = (dims.heads, dims.kv_heads, dims.head_dim);
        let split =
            |y: Tensor, n: usize| -> Result<Tensor> { Ok(y.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous()?) };
        let Scratch { xq, scales } = scratch;
        let xs = quantize_rows(xq, x)?;
        let q = split(self.q.forward(x, xs, scales)?, h)?;
        let k = split(self.k.forward(x, xs, scales)?, kv)?;
        let v = split(self.v.forward(x, xs, scales)?, kv)?;
        let q = candle_nn::rotary_emb::rope_i(&q, rope.0, rope.1)?;
        let k = candle_nn::rotary_emb::rope_i(&k, rope.0, rope.1)?;
        let (k, v) = match self.cache.take() {
            Some((ck, cv)) => (Tensor::cat(&[&ck, &k], 2)?, Tensor::cat(&[&cv, &v], 2)?),
            None => (k, v),
        };
        self.cache = Some((k.clone(), v.clone()));
        let k = repeat_kv(k, h / kv)?.contiguous()?;
        let v = repeat_kv(v, h / kv)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let p = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = p.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h * d))?;
        let ys = quantize_rows(xq, &y)?;
        self.o.forward(&y, ys, scales)
    }

    fn mlp(&self, x: &Tensor, scratch: &mut Scratch) -> Result<Tensor> {
        let Scratch { xq, scales } = scratch;
        let xs = quantize_rows(xq, x)?;
        let g = candle_nn::ops::silu(&self.gate.forward(x, xs, scales)?)?;
        let y = (g * self.up.forward(x, xs, scales)?)?;
        let ys = quantize_rows(xq, &y)?;
        self.down.forward(&y, ys, scales)
    }
}

impl Llama {
    fn from_gguf<R: std::io::Read + std::io::Seek>(
        dims: Dims,
        content: &Content,
        reader: &mut R,
    ) -> candle_core::Result<Self> {
        let dev = Device::Cpu;
        let mut tensor = |name: &str| content.tensor(reader, name, &dev);
        let embed = Arc::new(tensor("token_embd.weight")?);
        let output = if content.tensor_infos.contains_key("output.weight") {
            QMatMul::from_qtensor(tensor("output.weight")?)?
        } else {
            QMatMul::from_arc(embed.clone())?
        };
        let embed = QMatMul::from_arc(embed)?;
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight")?, dims.eps)?;
        let mut layers = Vec::with_capacity(dims.blocks);
        for i in 0..dims.blocks {
            let mut lin = |n: &str| Linear::new(tensor(&format!("blk.{i}.{n}.weight"))?);
            let (q, k, v, o) = (lin("attn_q")?, lin("attn_k")?, lin("attn_v")?, lin("attn_output")?);
            let (gate, up, down) = (lin("ffn_gate")?, lin("ffn_up")?, lin("ffn_down")?);
            let mut rms = |n: &str| RmsNorm::from_qtensor(tensor(&format!("blk.{i}.{n}.weight"))?, dims.eps);
            let (attn_norm, ffn_norm) = (rms("attn_norm")?, rms("ffn_norm")?);
            layers.push(Layer { q, k, v, o, gate, up, down, attn_norm, ffn_norm, cache: None });
        }
        let (cos, sin) = rope_tables(dims.head_dim, dims.rope_base, dims.context)?;
        Ok(Self { dims, embed, output, norm, layers, cos, sin, len: 0, scratch: Scratch::default() })
    }

    fn clear_cache(&mut self) {
        for l in &mut self.layers {
            l.cache = None;
        }
        self.len = 0;
    }

    /// Run `tokens` at positions `self.len ..`; a multi-token call must start at 0.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let t = tokens.len();
        let pos = self.len;
        if t == 0 || (t > 1 && pos != 0) {
            return Err(Error::WrongState(format!("llama: {t} tokens at position {pos}")));
        }
        let context = self.cos.dim(0)?;
        if pos + t > context {
            return Err(Error::ContextOverflow { tokens: pos + t, context });
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        let mut x = self.embed.embedding(&ids)?;
        let mask = if t > 1 { Some(causal_mask(t)?) } else { None };
        let (cos, sin) = (self.cos.narrow(0, pos, t)?, self.sin.narrow(0, pos, t)?);
        for layer in &mut self.layers {
            let h = layer.attn_norm.forward(&x)?;
            let a = layer.attention(&h, &self.dims, (&cos, &sin), mask.as_ref(), &mut self.scratch)?;
            x = (&x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            x = (&x + layer.mlp(&h, &mut self.scratch)?)?;
        }
        self.len = pos + t;
        let last = x.i((.., t - 1, ..))?;
        let logits = self.output.forward(&self.norm.forward(&last)?)?;
        Ok(logits.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
    }
}

impl super::CachedDecoder for Llama {
    const NAME: &'static str = "llama";
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        Llama::forward(self, tokens)
    }
    fn clear_cache(&mut self) {
        Llama::clear_cache(self)
    }
    fn cached_len(&self) -> usize {
        self.len
    }
}

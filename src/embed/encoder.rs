//! Sotto's own BERT encoder forward pass (f32 or int8 weights) on the kernels of
//! [`super::kernels`]; what [`super::bert::BertEmbedder`] runs by default.
//!
//! Decisions:
//! - **No padding.** The tokens of every sequence in a batch are concatenated into one
//!   `[total_tokens × hidden]` matrix, so each linear layer is one GEMM over all of them
//!   and no work is spent on pad positions; only attention runs per sequence (and needs
//!   no mask). candle's path pads a batch to its longest member and masks.
//! - **Fused Q/K/V.** The three projections are concatenated at load into one
//!   `[3·hidden × hidden]` weight: one GEMM instead of three.
//! - **Weights packed once**, f32 or int8 per [`Quantize`]; embedding tables and layer-norm
//!   parameters stay f32. GELU is fused into the FFN GEMM; residual adds into layer norm.
//! - **Scratch reused.** Activation buffers live in a small pool behind a mutex (the
//!   embedder is shared across threads by the CLI); a call takes one, grows it if its batch
//!   is bigger than any before, and returns it; attention's score rows are per thread
//!   (thread-local). In the steady state a layer allocates only the list of its sequences'
//!   row ranges that [`crate::par`] hands to the threads.
//! - **Threads.** The GEMMs split their rows and attention its sequences over
//!   [`crate::par`] (rayon where the build has it: the CLI, the browser's threaded build);
//!   the result does not depend on the thread count.
//!
//! Measured 2026-12-07 on the project's 2-core AMD EPYC (2.6 GHz, AVX2+FMA), 1 thread,
//! 100 ~30-word sentences (34.6 word pieces on average) in batches of 16, one run each
//! (`examples/embed_speed.rs`; under Node, the release wasm of main vs this one):
//!
//! | | native sent/s | Node (wasm SIMD128) sent/s | min cosine vs PyTorch |
//! |---|---|---|---|
//! | candle `BertModel` (before) | 73.9 | 25.9 | 0.9999996 |
//! | packed f32 | 100.3 (1.36×) | 35.4 (1.37×) | 0.9999996 |
//! | packed int8 | 120.3 (1.63×) | 52.9 (2.04×) | 0.99929 |
//!
//! candle's time natively (perf): GEMM 58 %, erf GELU 12 %, exp 6 %, element-wise ops
//! (layer norm, residual adds, mask) ≈ 10 %, copies ≈ 3 %. The GEMM alone (640 rows,
//! MiniLM's shapes) reaches 96–113 GFLOP/s with AVX2+FMA — the 32 flop/cycle peak is 83
//! GFLOP/s at the nominal 2.6 GHz, so the core boosts and this is near peak — and 38–40
//! GFLOP/s with SIMD128 under Node (16 flop/cycle without FMA: 42 GFLOP/s at 2.6 GHz);
//! int8 118–140 (native) and 50–64 GOP/s (Node). In wasm the GEMM is then about two
//! thirds of the f32 forward pass: attention, GELU, layer norm and tokenization are the rest.

use std::sync::Mutex;

use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};
use serde::{Deserialize, Serialize};

use super::kernels::{self, Epilogue, I8Scratch, Isa, PackedF32, PackedI8};
use crate::error::{Error, Result};

/// Weight precision of the linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantize {
    /// f32 weights and activations (the default).
    #[default]
    None,
    /// int8 weights (per output channel, at load) and integer activations (per row, at
    /// each layer, on the widest grid i32 sums allow: see `kernels::activation_levels`)
    /// with i32 sums; layer norm, softmax and GELU stay f32. Vectors stay within 0.995
    /// cosine of PyTorch's f32 on all-MiniLM-L6-v2 (`tests/embed_parity.rs`).
    Int8,
}

impl Quantize {
    /// `"none"` or `"int8"`, as the JS option and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantize::None => "none",
            Quantize::Int8 => "int8",
        }
    }

    /// Parse `"none"` / `"int8"`; anything else is [`Error::InvalidOption`].
    pub fn parse(s: &str) -> Result<Quantize> {
        match s {
            "none" => Ok(Quantize::None),
            "int8" => Ok(Quantize::Int8),
            other => Err(Error::InvalidOption {
                name: "quantize",
                detail: format!("{other:?} is not one of \"none\", \"int8\""),
            }),
        }
    }
}

enum Linear {
    F32(PackedF32),
    I8(PackedI8),
}

impl Linear {
    fn new(w: &[f32], b: &[f32], n: usize, k: usize, q: Quantize, what: &str) -> Result<Linear> {
        Ok(match q {
            Quantize::None => Linear::F32(PackedF32::new(w, b, n, k)),
            Quantize::Int8 => Linear::I8(PackedI8::new(w, b, n, k).ok_or_else(|| {
                Error::model(
                    "safetensors",
                    format!(
                        "{what}: cannot quantize to int8 (non-finite weight, or input width {k} over {})",
                        kernels::MAX_I8_K
                    ),
                )
            })?),
        })
    }

    fn apply(&self, isa: Isa, a: &[f32], m: usize, out: &mut [f32], epi: Epilogue, s: &mut I8Scratch) {
        match self {
            Linear::F32(w) => kernels::gemm_f32(isa, a, m, w, out, epi),
            Linear::I8(w) => kernels::gemm_i8(isa, a, m, w, out, epi, s),
        }
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    norm1: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
    norm2: Norm,
}

/// Activation buffers of one forward pass.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ffn: Vec<f32>,
    offsets: Vec<usize>,
    i8: I8Scratch,
}

/// A loaded BERT encoder.
pub(crate) struct Encoder {
    isa: Isa,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    vocab: usize,
    positions: usize,
    types: usize,
    norm0: Norm,
    layers: Vec<Layer>,
    pool: Mutex<Vec<Scratch>>,
}

/// A tensor's values as f32, shape-checked against `dims`.
fn get(vb: &VarBuilder, dims: &[usize], name: &str) -> Result<Vec<f32>> {
    const WHAT: &str = "safetensors";
    let t = vb.get(dims, name).map_err(|e| {
        Error::model(WHAT, format!("{}.{name}: {e} (do these weights match config.json?)", vb.prefix()))
    })?;
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| Error::model(WHAT, e))
}

fn norm(vb: &VarBuilder, size: usize) -> Result<Norm> {
    // Older checkpoints name layer-norm parameters gamma/beta.
    let (g, b) = if vb.contains_tensor("weight") { ("weight", "bias") } else { ("gamma", "beta") };
    Ok(Norm { gamma: get(vb, &[size], g)?, beta: get(vb, &[size], b)? })
}

fn linear(vb: &VarBuilder, n: usize, k: usize, q: Quantize) -> Result<Linear> {
    let (w, b) = (get(vb, &[n, k], "weight")?, get(vb, &[n], "bias")?);
    Linear::new(&w, &b, n, k, q, &vb.prefix())
}

impl Encoder {
    /// Read and pack the weights under `vb` (already at the model's prefix).
    pub(crate) fn load(vb: &VarBuilder, config: &Config, quantize: Quantize) -> Result<Encoder> {
        if config.hidden_act != HiddenAct::Gelu {
            return Err(Error::model(
                "config.json",
                format!("hidden_act {:?}: the packed encoder implements erf GELU only", config.hidden_act),
            ));
        }
        let (h, inter) = (config.hidden_size, config.intermediate_size);
        let emb = vb.pp("embeddings");
        let word = get(&emb.pp("word_embeddings"), &[config.vocab_size, h], "weight")?;
        let position = get(&emb.pp("position_embeddings"), &[config.max_position_embeddings, h], "weight")?;
        let token_type = get(&emb.pp("token_type_embeddings"), &[config.type_vocab_size, h], "weight")?;
        let norm0 = norm(&emb.pp("LayerNorm"), h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention");
            let sa = att.pp("self");
            let mut w = Vec::with_capacity(3 * h * h);
            let mut b = Vec::with_capacity(3 * h);
            for p in ["query", "key", "value"] {
                w.extend(get(&sa.pp(p), &[h, h], "weight")?);
                b.extend(get(&sa.pp(p), &[h], "bias")?);
            }
            layers.push(Layer {
                qkv: Linear::new(&w, &b, 3 * h, h, quantize, &sa.prefix())?,
                attn_out: linear(&att.pp("output").pp("dense"), h, h, quantize)?,
                norm1: norm(&att.pp("output").pp("LayerNorm"), h)?,
                ffn_in: linear(&l.pp("intermediate").pp("dense"), inter, h, quantize)?,
                ffn_out: linear(&l.pp("output").pp("dense"), h, inter, quantize)?,
                norm2: norm(&l.pp("output").pp("LayerNorm"), h)?,
            });
        }
        Ok(Encoder {
            isa: Isa::detect(),
            hidden: h,
            heads: config.num_attention_heads,
            intermediate: inter,
            eps: config.layer_norm_eps as f32,
            word,
            position,
            token_type,
            vocab: config.vocab_size,
            positions: config.max_position_embeddings,
            types: config.type_vocab_size,
            norm0,
            layers,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The kernel in use.
    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    /// Run `seqs` (word-piece ids and segment ids of each sequence) through the encoder and
    /// hand `f` the last hidden states (`[total_tokens × hidden]`, sequences one after
    /// another) with each sequence's first row (`offsets`, one more than `seqs`).
    pub(crate) fn forward<R>(&self, seqs: &[(&[u32], &[u32])], f: impl FnOnce(&[f32], &[usize]) -> R) -> Result<R> {
        // A poisoned pool only means another call panicked; its buffers are still buffers.
        let taken = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut s = taken.unwrap_or_default();
        let result = self.run(seqs, &mut s).map(|()| f(&s.x, &s.offsets));
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        result
    }

    fn run(&self, seqs: &[(&[u32], &[u32])], s: &mut Scratch) -> Result<()> {
        let h = self.hidden;
        s.offsets.clear();
        s.offsets.push(0);
        for (ids, types) in seqs {
            if ids.len() > self.positions {
                return Err(Error::LimitExceeded { what: "bert positions", limit: self.positions, got: ids.len() });
            }
            if types.len() != ids.len() {
                return Err(Error::DimensionMismatch { expected: ids.len(), got: types.len() });
            }
            s.offsets.push(s.offsets.last().copied().unwrap_or(0) + ids.len());
        }
        let t = s.offsets.last().copied().unwrap_or(0);
        s.x.resize(t * h, 0.0);
        // Embeddings: word + position + segment, then layer norm.
        let mut row = 0;
        for (ids, types) in seqs {
            for (p, (&id, &ty)) in ids.iter().zip(types.iter()).enumerate() {
                let (id, ty) = (id as usize, ty as usize);
                if id >= self.vocab {
                    return Err(Error::LimitExceeded { what: "bert token id", limit: self.vocab - 1, got: id });
                }
                if ty >= self.types {
                    return Err(Error::LimitExceeded { what: "bert token type", limit: self.types - 1, got: ty });
                }
                let out = &mut s.x[row * h..(row + 1) * h];
                let (w, pe, te) = (
                    &self.word[id * h..(id + 1) * h],
                    &self.position[p * h..(p + 1) * h],
                    &self.token_type[ty * h..(ty + 1) * h],
                );
                for d in 0..h {
                    out[d] = w[d] + pe[d] + te[d];
                }
                row += 1;
            }
        }
        kernels::add_layer_norm(&mut s.x, &[], &self.norm0.gamma, &self.norm0.beta, self.eps);
        s.qkv.resize(t * 3 * h, 0.0);
        s.ctx.resize(t * h, 0.0);
        s.tmp.resize(t * h, 0.0);
        s.ffn.resize(t * self.intermediate, 0.0);
        for layer in &self.layers {
            layer.qkv.apply(self.isa, &s.x, t, &mut s.qkv, Epilogue::None, &mut s.i8);
            self.attention(s);
            layer.attn_out.apply(self.isa, &s.ctx, t, &mut s.tmp, Epilogue::None, &mut s.i8);
            kernels::add_layer_norm(&mut s.tmp, &s.x, &layer.norm1.gamma, &layer.norm1.beta, self.eps);
            std::mem::swap(&mut s.x, &mut s.tmp);
            layer.ffn_in.apply(self.isa, &s.x, t, &mut s.ffn, Epilogue::Gelu, &mut s.i8);
            layer.ffn_out.apply(self.isa, &s.ffn, t, &mut s.tmp, Epilogue::None, &mut s.i8);
            kernels::add_layer_norm(&mut s.tmp, &s.x, &layer.norm2.gamma, &layer.norm2.beta, self.eps);
            std::mem::swap(&mut s.x, &mut s.tmp);
        }
        Ok(())
    }

    /// Scaled dot-product attention of every head of every sequence: `s.qkv` → `s.ctx`.
    /// Sequences go to [`crate::par`]'s threads (each writes its own rows of `ctx`), each
    /// thread with its own score buffer.
    fn attention(&self, s: &mut Scratch) {
        thread_local! {
            static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let h = self.hidden;
        let dh = h / self.heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let stride = 3 * h;
        let (qkv, offsets) = (&s.qkv, &s.offsets);
        crate::par::for_each_piece(&mut s.ctx, offsets, h, |seq, ctx| {
            let (o, len) = (offsets[seq], offsets[seq + 1] - offsets[seq]);
            SCORES.with_borrow_mut(|scores| {
                scores.resize(len * len, 0.0);
                for head in 0..self.heads {
                    let (qo, ko, vo) = (head * dh, h + head * dh, 2 * h + head * dh);
                    for i in 0..len {
                        let q = &qkv[(o + i) * stride + qo..][..dh];
                        let srow = &mut scores[i * len..(i + 1) * len];
                        for (j, sc) in srow.iter_mut().enumerate() {
                            let k = &qkv[(o + j) * stride + ko..][..dh];
                            *sc = dot(q, k) * scale;
                        }
                        kernels::softmax_in_place(srow);
                        let c = &mut ctx[i * h + qo..][..dh];
                        c.fill(0.0);
                        for (j, &p) in srow.iter().enumerate() {
                            let v = &qkv[(o + j) * stride + vo..][..dh];
                            for (cd, vd) in c.iter_mut().zip(v) {
                                *cd += p * vd;
                            }
                        }
                    }
                }
            });
        });
    }
}

/// Dot product in 8 independent partial sums, which the compiler vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

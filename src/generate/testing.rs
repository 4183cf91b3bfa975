//! Tiny GGUF files for tests (the crate's own, `tests/`, and the fuzz harness), so the
//! generator's loaders are exercised without real weights. Not part of the supported API.

use std::io::Cursor;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// One tensor of a test GGUF: name, shape and storage type. Its values are a small
/// deterministic ramp in [-0.2, 0.2], different per tensor.
pub struct TestTensor<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub dtype: GgmlDType,
}

impl<'a> TestTensor<'a> {
    pub fn new(name: &'a str, shape: &[usize], dtype: GgmlDType) -> Self {
        TestTensor { name, shape: shape.to_vec(), dtype }
    }

    /// An F32 tensor.
    pub fn f32(name: &'a str, shape: &[usize]) -> Self {
        Self::new(name, shape, GgmlDType::F32)
    }
}

/// Write a GGUF (version 3, candle's writer) with `metadata` and `tensors`.
pub fn write_gguf(metadata: &[(&str, Value)], tensors: &[TestTensor<'_>]) -> Result<Vec<u8>> {
    let err = |e: candle_core::Error| Error::model("test gguf", e);
    let qs = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let count: usize = t.shape.iter().product();
            let vals: Vec<f32> = (0..count).map(|j| (((j * 7 + i * 13) % 17) as f32 - 8.0) / 40.0).collect();
            let v = Tensor::from_vec(vals, t.shape.as_slice(), &Device::Cpu).map_err(err)?;
            Ok((t.name, QTensor::quantize(&v, t.dtype).map_err(err)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = qs.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &ts).map_err(err)?;
    Ok(out.into_inner())
}

/// A `llama`-architecture GGUF loaded through candle-transformers' `quantized_llama`, the
/// implementation this crate's own Llama forward pass replaced: the reference of its parity
/// tests and speed measurements.
pub fn candle_llama(bytes: &[u8], opts: &super::LoadOptions) -> Result<Box<dyn super::Generator>> {
    super::arch::load_llama_reference(bytes, opts)
}

/// The next-token logits of a `llama`-architecture GGUF after prefilling `prompt`, then
/// after each token of `forced` fed one at a time; through this crate's forward pass, or
/// with `reference` through candle-transformers' `quantized_llama`.
pub fn llama_logits(
    bytes: &[u8],
    opts: &super::LoadOptions,
    reference: bool,
    prompt: &[u32],
    forced: &[u32],
) -> Result<Vec<Vec<f32>>> {
    super::arch::llama_logits(bytes, opts, reference, prompt, forced)
}

/// The batched prefill kernel alone on random data (`[n, k]` Q8_0 weights times `m` tokens),
/// for micro-benchmarks: the caller times [`Q8Gemm::run`] with its own clock (wasm has no
/// `Instant`).
pub struct Q8Gemm {
    weights: Vec<u8>,
    candle: candle_core::quantized::QMatMul,
    x: Vec<f32>,
    xq: super::qgemm::QuantizedRows,
    out: Vec<f32>,
    scratch: Vec<f32>,
    n: usize,
    k: usize,
    m: usize,
}

impl Q8Gemm {
    /// Random weights and activations of the given shape (`k` a multiple of 32).
    pub fn new(n: usize, k: usize, m: usize, seed: u64) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        let err = |e: candle_core::Error| Error::model("q8_0 benchmark", e);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let qtensor = QTensor::quantize(&Tensor::from_vec(w, (n, k), &Device::Cpu).map_err(err)?, GgmlDType::Q8_0)
            .map_err(err)?;
        let weights = qtensor.data().map_err(err)?.into_owned();
        let x = (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let xq = super::qgemm::QuantizedRows::default();
        let candle = candle_core::quantized::QMatMul::from_qtensor(qtensor).map_err(err)?;
        Ok(Self { weights, candle, x, xq, out: vec![0.0; m * n], scratch: Vec::new(), n, k, m })
    }

    /// Which kernel [`run`](Self::run) uses on this machine (`avx2`, `simd128` or `scalar`).
    pub fn kernel(&self) -> &'static str {
        super::qgemm::kernel_name()
    }

    /// Multiply-accumulates of one product (`n · k · m`).
    pub fn macs(&self) -> usize {
        self.n * self.k * self.m
    }

    /// The `[m, n]` result of the last product.
    pub fn output(&self) -> &[f32] {
        &self.out
    }

    /// Quantize the activations and multiply with the fastest kernel.
    pub fn run(&mut self) -> Result<()> {
        self.xq.quantize(&self.x, self.m, self.k)?;
        let w = super::qgemm::Q8Matrix::new(&self.weights, self.n, self.k)?;
        super::qgemm::matmul(&w, &self.xq, &mut self.out, &mut self.scratch)
    }

    /// The same product with the scalar reference kernel.
    pub fn run_scalar(&mut self) -> Result<()> {
        self.xq.quantize(&self.x, self.m, self.k)?;
        let w = super::qgemm::Q8Matrix::new(&self.weights, self.n, self.k)?;
        super::qgemm::matmul_scalar(&w, &self.xq, &mut self.out)
    }

    /// The same product through candle's `QMatMul` (one `vec_dot` per token and weight row).
    pub fn run_candle(&mut self) -> Result<()> {
        let x = Tensor::from_slice(&self.x, (self.m, self.k), &Device::Cpu)?;
        let y = candle_core::Module::forward(&self.candle, &x)?;
        self.out = y.flatten_all()?.to_vec1()?;
        Ok(())
    }
}

/// A generator that writes a fixed text, one word per token, whatever the prompt: the
/// engine's answer pipeline (packing, streaming, attribution, self-check, fallback)
/// tested without weights. `start` records the prompt it was given.
#[cfg(test)]
pub(crate) struct ScriptedGenerator {
    info: super::GeneratorInfo,
    tokenizer: super::GgufTokenizer,
    pieces: Vec<String>,
    pos: usize,
    text: String,
    stats: super::GenerationStats,
    /// Every prompt `start` was given, rendered.
    pub prompts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

#[cfg(test)]
impl ScriptedGenerator {
    /// A generator that writes `script`.
    pub(crate) fn new(script: &str) -> Self {
        let m = super::tokenizer::tests_support::tiny_gpt2_metadata();
        let tokenizer = super::GgufTokenizer::from_metadata(&super::gguf::Meta(&m), "llama")
            .unwrap_or_else(|e| panic!("test tokenizer: {e}"));
        let info = super::GeneratorInfo {
            architecture: "scripted".into(),
            name: Some("scripted".into()),
            context_len: 4096,
            vocab_size: tokenizer.vocab_size(),
            embedding_length: 0,
            block_count: 0,
            tokenizer_model: super::TokenizerModel::ByteLevelBpe,
            chat_template: super::TemplateSource::BuiltinChatml,
            tensor_types: vec![],
            requantized_tensors: 0,
            warnings: vec![],
        };
        ScriptedGenerator {
            info,
            tokenizer,
            pieces: script.split_inclusive(' ').map(str::to_owned).collect(),
            pos: 0,
            text: String::new(),
            stats: super::GenerationStats::default(),
            prompts: Default::default(),
        }
    }
}

#[cfg(test)]
impl super::Generator for ScriptedGenerator {
    fn info(&self) -> &super::GeneratorInfo {
        &self.info
    }
    fn tokenizer(&self) -> &super::GgufTokenizer {
        &self.tokenizer
    }
    fn context_len(&self) -> usize {
        self.info.context_len
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
    fn render_chat(&self, messages: &[super::ChatMessage]) -> Result<String> {
        Ok(messages.iter().map(|m| format!("{}: {}", m.role, m.content)).collect::<Vec<_>>().join("\n"))
    }
    fn start(&mut self, prompt: super::Prompt<'_>, _opts: &super::GenerationOptions) -> Result<()> {
        let rendered = match prompt {
            super::Prompt::Text(t) => t.to_owned(),
            super::Prompt::Chat(m) => self.render_chat(m)?,
            super::Prompt::Tokens(t) => format!("{} tokens", t.len()),
        };
        self.stats = super::GenerationStats {
            prefill_tokens: rendered.split_whitespace().count(),
            ..super::GenerationStats::default()
        };
        self.prompts.lock().map_err(|_| Error::WrongState("poisoned".into()))?.push(rendered);
        self.pos = 0;
        self.text.clear();
        Ok(())
    }
    fn start_constrained(
        &mut self,
        prompt: super::Prompt<'_>,
        opts: &super::GenerationOptions,
        _constraint: Box<dyn super::constrain::Constraint>,
    ) -> Result<()> {
        self.start(prompt, opts)
    }
    fn next_token(&mut self) -> Result<Option<super::TokenOut>> {
        let Some(piece) = self.pieces.get(self.pos) else {
            self.stats.finish_reason = Some(super::FinishReason::Eos);
            return Ok(None);
        };
        let out = super::TokenOut { id: 3, text: piece.clone(), index: self.pos, special: false };
        self.text.push_str(piece);
        self.pos += 1;
        self.stats.generated_tokens += 1;
        self.stats.decode_tokens += 1;
        Ok(Some(out))
    }
    fn finish_reason(&self) -> Option<super::FinishReason> {
        self.stats.finish_reason
    }
    fn stats(&self) -> super::GenerationStats {
        self.stats
    }
    fn text(&self) -> &str {
        &self.text
    }
    fn reset(&mut self) {
        self.pos = 0;
    }
}

//! One module per `general.architecture`, each turning a validated GGUF into a
//! [`Backend`](super::session::Backend) over candle's quantized implementation. (`gemma3`
//! has its own forward pass over candle's quantized matrix products, tested against an
//! independent reference: candle's `quantized_gemma3` is not Gemma 3 — see that module.)
//!
//! Every loader first checks the hyper-parameters and the shape of every tensor the
//! constructor will read, so inconsistent files fail with [`Error::ModelFormat`] instead of a
//! division by zero or an out-of-range slice deep inside candle (a panic aborts a wasm
//! instance). Natively, construction is additionally wrapped in `catch_unwind` as a last
//! resort.

mod gemma3;
mod llama;
mod phi;
mod t5;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};

use super::gguf::{self, Meta};
use super::template::{ChatTemplate, TemplateSource};
use super::tokenizer::GgufTokenizer;
use super::{Generator, GeneratorInfo, LoadOptions};
use crate::error::{Error, Result};

/// Architectures this build implements.
pub const SUPPORTED: [&str; 5] = ["llama", "phi2", "phi3", "gemma3", "t5"];

/// Everything an architecture loader needs besides the weights.
pub(crate) struct Common {
    pub architecture: String,
    pub name: Option<String>,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
}

pub(crate) fn load(bytes: &[u8], opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    let (content, common) = parse(bytes, opts)?;
    match common.architecture.as_str() {
        "llama" => llama::load(bytes, content, common, opts, llama::Implementation::Own),
        "phi2" => phi::load_phi2(bytes, content, common, opts),
        "phi3" => phi::load_phi3(bytes, content, common, opts),
        "gemma3" => gemma3::load(bytes, content, common, opts),
        "t5" => t5::load(bytes, content, common, opts),
        other => Err(Error::UnsupportedArchitecture(other.to_string())),
    }
}

/// A `llama` file through candle's `quantized_llama` instead of this crate's forward pass.
pub(crate) fn load_llama_reference(bytes: &[u8], opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    let (content, common) = parse_llama(bytes, opts)?;
    llama::load(bytes, content, common, opts, llama::Implementation::Candle)
}

/// Logits of a `llama` file after prefilling `prompt` and after each of `forced`, through
/// this crate's forward pass or (`reference`) candle's `quantized_llama`.
pub(crate) fn llama_logits(
    bytes: &[u8],
    opts: &LoadOptions,
    reference: bool,
    prompt: &[u32],
    forced: &[u32],
) -> Result<Vec<Vec<f32>>> {
    let (content, common) = parse_llama(bytes, opts)?;
    let which = if reference { llama::Implementation::Candle } else { llama::Implementation::Own };
    llama::logits_trace(bytes, content, &common, opts, which, prompt, forced)
}

fn parse_llama(bytes: &[u8], opts: &LoadOptions) -> Result<(Content, Common)> {
    let (content, common) = parse(bytes, opts)?;
    if common.architecture != "llama" {
        return Err(Error::UnsupportedArchitecture(common.architecture));
    }
    Ok((content, common))
}

/// Header, tokenizer and chat template of a supported file.
fn parse(bytes: &[u8], opts: &LoadOptions) -> Result<(Content, Common)> {
    if opts.max_context == 0 {
        return Err(Error::InvalidOption { name: "max_context", detail: "must be at least 1".into() });
    }
    let content = gguf::read_content(bytes)?;
    let architecture = gguf::architecture(&content)?;
    if !SUPPORTED.contains(&architecture.as_str()) {
        return Err(Error::UnsupportedArchitecture(architecture));
    }
    let meta = Meta(&content.metadata);
    let tokenizer = GgufTokenizer::from_metadata(&meta, &architecture)?;
    let token = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or("").to_string();
    let (bos, eos) = (token(tokenizer.bos_id()), token(tokenizer.eos_id()));
    let template = match (&opts.chat_template, meta.opt_str("tokenizer.chat_template")?) {
        (Some(t), _) => ChatTemplate::new(Some(t), TemplateSource::Override, &bos, &eos)?,
        (None, Some(t)) => ChatTemplate::new(Some(t), TemplateSource::Model, &bos, &eos)?,
        (None, None) if architecture == "t5" => ChatTemplate::plain(&bos, &eos)?,
        (None, None) => ChatTemplate::new(None, TemplateSource::Model, &bos, &eos)?,
    };
    let name = meta.opt_str("general.name")?.map(str::to_owned);
    Ok((content, Common { architecture, name, tokenizer, template }))
}

/// Shared checks of attention hyper-parameters; returns the head dimension.
pub(crate) fn check_heads(embedding: usize, heads: usize, kv_heads: usize) -> Result<usize> {
    if embedding == 0 || heads == 0 || kv_heads == 0 {
        return Err(gguf::format_err(format!(
            "embedding length {embedding}, heads {heads} and kv heads {kv_heads} must all be positive"
        )));
    }
    if heads % kv_heads != 0 {
        return Err(gguf::format_err(format!("{heads} heads are not a multiple of {kv_heads} kv heads")));
    }
    if embedding % heads != 0 {
        return Err(gguf::format_err(format!("embedding length {embedding} is not a multiple of {heads} heads")));
    }
    Ok(embedding / heads)
}

/// Block count must be positive and every block must have tensors (no huge allocations
/// from a forged count).
pub(crate) fn check_blocks(content: &Content, blocks: usize, probe: impl Fn(usize) -> String) -> Result<()> {
    if blocks == 0 || blocks > content.tensor_infos.len() {
        return Err(gguf::format_err(format!(
            "block count {blocks} does not match the {} tensors in the file",
            content.tensor_infos.len()
        )));
    }
    gguf::shape_of(content, &probe(blocks - 1)).map(|_| ())
}

/// Rows of the token embedding, checked against the hidden size and the tokenizer.
pub(crate) fn check_embeddings(
    content: &Content,
    name: &str,
    embedding: usize,
    tokenizer: &GgufTokenizer,
) -> Result<usize> {
    let dims = gguf::shape_of(content, name)?;
    match dims {
        [rows, cols] if *cols == embedding && *rows >= tokenizer.vocab_size() => Ok(*rows),
        _ => Err(gguf::format_err(format!(
            "tensor {name} has shape {dims:?}, expected [>= {} tokens, {embedding}]",
            tokenizer.vocab_size()
        ))),
    }
}

/// Info common to all loaders.
pub(crate) fn info(
    common: &Common,
    content: &Content,
    context_len: usize,
    embedding_length: usize,
    block_count: usize,
    requantized: usize,
    warnings: Vec<String>,
) -> GeneratorInfo {
    GeneratorInfo {
        architecture: common.architecture.clone(),
        name: common.name.clone(),
        context_len,
        vocab_size: common.tokenizer.vocab_size(),
        embedding_length,
        block_count,
        tokenizer_model: common.tokenizer.model(),
        chat_template: common.template.source(),
        tensor_types: gguf::dtype_histogram(content),
        requantized_tensors: requantized,
        warnings,
    }
}

/// Run a candle constructor, mapping its errors (and, natively, panics) to
/// [`Error::ModelFormat`].
pub(crate) fn guarded<T>(f: impl FnOnce() -> candle_core::Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(gguf::format_err(format!("building the model: {e}"))),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(gguf::format_err(format!("building the model failed: {msg}")))
        }
    }
}

/// `[1, n]` tensor of token ids.
/// A decoder running its own forward pass over a KV cache (llama, gemma3): what it needs
/// to be a [`Backend`](super::session::Backend), which the blanket impl below provides —
/// a fresh cache per prompt, steps only at the cached length, the cache dropped on error.
pub(crate) trait CachedDecoder: Send {
    /// The architecture's name, for errors.
    const NAME: &'static str;
    /// Run `tokens` at positions `cached_len() ..`; return the last position's logits.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    /// Drop the KV cache (the cached length becomes 0).
    fn clear_cache(&mut self);
    /// Positions in the KV cache.
    fn cached_len(&self) -> usize;
}

impl<T: CachedDecoder> super::session::Backend for T {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.clear_cache();
        let r = self.forward(tokens);
        if r.is_err() {
            self.clear_cache();
        }
        r
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        if pos != self.cached_len() {
            return Err(Error::WrongState(format!(
                "{}: step at position {pos}, expected {}",
                T::NAME,
                self.cached_len()
            )));
        }
        let r = self.forward(&[token]);
        if r.is_err() {
            self.clear_cache();
        }
        r
    }

    fn clear(&mut self) {
        self.clear_cache();
    }
}

pub(crate) fn input(tokens: &[u32]) -> Result<Tensor> {
    Ok(Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?)
}

/// Logits `[1, vocab]` → `Vec<f32>`.
pub(crate) fn logits(t: Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
}

#[cfg(test)]
mod tests {
    //! Every architecture on tiny GGUF files written with candle's writer: load (with
    //! requantization), one prefill and a few decode steps; and malformed variants that must
    //! be typed errors, not panics.
    use super::*;
    use crate::generate::gguf::tests::write_gguf;
    use crate::generate::tokenizer::tests_support::tiny_gpt2_metadata;
    use crate::generate::{load_gguf, GenerationOptions, Prompt};
    use candle_core::quantized::gguf_file::Value;
    use candle_core::quantized::GgmlDType;

    /// Metadata and tensor shapes of a tiny model.
    type Spec = (Vec<(String, Value)>, Vec<(String, Vec<usize>)>);

    const V: usize = 264; // tiny_gpt2_metadata's vocabulary
    const E: usize = 32;
    const FF: usize = 64;

    fn u(v: usize) -> Value {
        Value::U32(v as u32)
    }

    /// Matrices whose rows are whole Q4_1 blocks are stored as Q4_1 (so loading requantizes
    /// them), everything else as F32.
    fn tensors(list: Vec<(String, Vec<usize>)>) -> Vec<(String, Vec<usize>, GgmlDType)> {
        list.into_iter()
            .map(|(n, s)| {
                let dt = if s.len() == 2 && s[1] % 32 == 0 { GgmlDType::Q4_1 } else { GgmlDType::F32 };
                (n, s, dt)
            })
            .collect()
    }

    fn build(
        arch: &str,
        mut md: Vec<(String, Value)>,
        ts: Vec<(String, Vec<usize>)>,
        tokenizer: Vec<(String, Value)>,
    ) -> Vec<u8> {
        md.push(("general.architecture".into(), Value::String(arch.into())));
        md.extend(tokenizer);
        let md_refs: Vec<(&str, Value)> = md.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let ts = tensors(ts);
        let t_refs: Vec<(&str, Vec<usize>, GgmlDType)> =
            ts.iter().map(|(n, s, d)| (n.as_str(), s.clone(), *d)).collect();
        write_gguf(&md_refs, &t_refs)
    }

    fn gpt2_tok() -> Vec<(String, Value)> {
        tiny_gpt2_metadata().into_iter().collect()
    }

    fn md(entries: &[(&str, Value)]) -> Vec<(String, Value)> {
        entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn t(name: &str, shape: &[usize]) -> (String, Vec<usize>) {
        (name.to_string(), shape.to_vec())
    }

    fn llama(blocks: usize, heads: usize) -> Spec {
        let kv = 2;
        let hd = E / heads.max(1);
        let m = md(&[
            ("llama.embedding_length", u(E)),
            ("llama.attention.head_count", u(heads)),
            ("llama.attention.head_count_kv", u(kv)),
            ("llama.block_count", u(blocks)),
            ("llama.rope.dimension_count", u(hd)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.context_length", u(64)),
        ]);
        let mut ts = vec![t("token_embd.weight", &[V, E]), t("output_norm.weight", &[E])];
        for i in 0..blocks {
            let p = format!("blk.{i}");
            ts.extend([
                t(&format!("{p}.attn_q.weight"), &[E, E]),
                t(&format!("{p}.attn_k.weight"), &[kv * hd, E]),
                t(&format!("{p}.attn_v.weight"), &[kv * hd, E]),
                t(&format!("{p}.attn_output.weight"), &[E, E]),
                t(&format!("{p}.ffn_gate.weight"), &[FF, E]),
                t(&format!("{p}.ffn_up.weight"), &[FF, E]),
                t(&format!("{p}.ffn_down.weight"), &[E, FF]),
                t(&format!("{p}.attn_norm.weight"), &[E]),
                t(&format!("{p}.ffn_norm.weight"), &[E]),
            ]);
        }
        (m, ts)
    }

    fn phi2() -> Spec {
        let m = md(&[
            ("phi2.embedding_length", u(E)),
            ("phi2.attention.head_count", u(4)),
            ("phi2.attention.head_count_kv", u(4)),
            ("phi2.block_count", u(2)),
            ("phi2.rope.dimension_count", u(4)),
            ("phi2.attention.layer_norm_epsilon", Value::F32(1e-5)),
            ("phi2.context_length", u(64)),
        ]);
        let mut ts = vec![
            t("token_embd.weight", &[V, E]),
            t("output_norm.weight", &[E]),
            t("output_norm.bias", &[E]),
            t("output.weight", &[V, E]),
            t("output.bias", &[V]),
        ];
        for i in 0..2 {
            let p = format!("blk.{i}");
            ts.extend([
                t(&format!("{p}.attn_norm.weight"), &[E]),
                t(&format!("{p}.attn_norm.bias"), &[E]),
                t(&format!("{p}.attn_qkv.weight"), &[3 * E, E]),
                t(&format!("{p}.attn_qkv.bias"), &[3 * E]),
                t(&format!("{p}.attn_output.weight"), &[E, E]),
                t(&format!("{p}.attn_output.bias"), &[E]),
                t(&format!("{p}.ffn_up.weight"), &[FF, E]),
                t(&format!("{p}.ffn_up.bias"), &[FF]),
                t(&format!("{p}.ffn_down.weight"), &[E, FF]),
                t(&format!("{p}.ffn_down.bias"), &[E]),
            ]);
        }
        (m, ts)
    }

    fn phi3() -> Spec {
        let (h, kv, hd) = (4, 2, 8);
        let m = md(&[
            ("phi3.embedding_length", u(E)),
            ("phi3.attention.head_count", u(h)),
            ("phi3.attention.head_count_kv", u(kv)),
            ("phi3.block_count", u(2)),
            ("phi3.rope.dimension_count", u(hd)),
            ("phi3.feed_forward_length", u(FF)),
            ("phi3.context_length", u(4096)),
            ("phi3.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ]);
        let mut ts = vec![t("token_embd.weight", &[V, E]), t("output_norm.weight", &[E]), t("output.weight", &[V, E])];
        for i in 0..2 {
            let p = format!("blk.{i}");
            ts.extend([
                t(&format!("{p}.attn_norm.weight"), &[E]),
                t(&format!("{p}.ffn_norm.weight"), &[E]),
                t(&format!("{p}.attn_qkv.weight"), &[(h + 2 * kv) * hd, E]),
                t(&format!("{p}.attn_output.weight"), &[E, h * hd]),
                t(&format!("{p}.ffn_up.weight"), &[2 * FF, E]),
                t(&format!("{p}.ffn_down.weight"), &[E, FF]),
            ]);
        }
        (m, ts)
    }

    fn gemma3(window_type: Option<usize>) -> Spec {
        let (h, kv, kl) = (2, 1, 8);
        let mut m = md(&[
            ("gemma3.embedding_length", u(E)),
            ("gemma3.attention.head_count", u(h)),
            ("gemma3.attention.head_count_kv", u(kv)),
            ("gemma3.block_count", u(2)),
            ("gemma3.attention.key_length", u(kl)),
            ("gemma3.attention.value_length", u(kl)),
            ("gemma3.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("gemma3.attention.sliding_window", u(4)),
            ("gemma3.context_length", u(256)),
        ]);
        if let Some(w) = window_type {
            m.push(("gemma3.attention.sliding_window_type".into(), u(w)));
        }
        let mut ts = vec![t("token_embd.weight", &[V, E]), t("output_norm.weight", &[E])];
        for i in 0..2 {
            let p = format!("blk.{i}");
            ts.extend([
                t(&format!("{p}.attn_q.weight"), &[h * kl, E]),
                t(&format!("{p}.attn_k.weight"), &[kv * kl, E]),
                t(&format!("{p}.attn_v.weight"), &[kv * kl, E]),
                t(&format!("{p}.attn_output.weight"), &[E, h * kl]),
                t(&format!("{p}.attn_q_norm.weight"), &[kl]),
                t(&format!("{p}.attn_k_norm.weight"), &[kl]),
                t(&format!("{p}.attn_norm.weight"), &[E]),
                t(&format!("{p}.post_attention_norm.weight"), &[E]),
                t(&format!("{p}.ffn_norm.weight"), &[E]),
                t(&format!("{p}.post_ffw_norm.weight"), &[E]),
                t(&format!("{p}.ffn_gate.weight"), &[FF, E]),
                t(&format!("{p}.ffn_up.weight"), &[FF, E]),
                t(&format!("{p}.ffn_down.weight"), &[E, FF]),
            ]);
        }
        (m, ts)
    }

    /// Unigram vocabulary for T5: pad, eos, unk, then pieces.
    fn t5_tok() -> Vec<(String, Value)> {
        let mut tokens: Vec<String> = vec!["<pad>".into(), "</s>".into(), "<unk>".into(), "▁".into()];
        tokens.extend(('a'..='z').map(|c| c.to_string()));
        tokens.extend(["▁the", "▁cat", "▁hi", "at", "he"].map(String::from));
        let n = tokens.len();
        let mut types = vec![Value::I32(3), Value::I32(3), Value::I32(2)];
        types.extend(std::iter::repeat_n(Value::I32(1), n - 3));
        let scores: Vec<Value> = (0..n).map(|i| Value::F32(if i < 3 { 0.0 } else { -(i as f32) / 10.0 })).collect();
        md(&[
            ("tokenizer.ggml.model", Value::String("t5".into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            ("tokenizer.ggml.scores", Value::Array(scores)),
            ("tokenizer.ggml.eos_token_id", u(1)),
            ("tokenizer.ggml.unknown_token_id", u(2)),
            ("tokenizer.ggml.padding_token_id", u(0)),
            ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        ])
    }

    fn t5() -> Spec {
        let (h, dkv, buckets) = (2, 16, 8);
        let vocab = 36; // t5_tok's vocabulary
        let m = md(&[
            ("t5.embedding_length", u(E)),
            ("t5.attention.head_count", u(h)),
            ("t5.attention.key_length", u(dkv)),
            ("t5.feed_forward_length", u(FF)),
            ("t5.block_count", u(2)),
            ("t5.attention.relative_buckets_count", u(buckets)),
            ("t5.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("t5.context_length", u(128)),
            ("t5.decoder_start_token_id", u(0)),
        ]);
        let inner = h * dkv;
        let mut ts = vec![
            t("token_embd.weight", &[vocab, E]),
            t("output.weight", &[vocab, E]),
            t("enc.output_norm.weight", &[E]),
            t("dec.output_norm.weight", &[E]),
        ];
        for i in 0..2 {
            for stack in ["enc", "dec"] {
                let p = format!("{stack}.blk.{i}");
                ts.extend([
                    t(&format!("{p}.attn_q.weight"), &[inner, E]),
                    t(&format!("{p}.attn_k.weight"), &[inner, E]),
                    t(&format!("{p}.attn_v.weight"), &[inner, E]),
                    t(&format!("{p}.attn_o.weight"), &[E, inner]),
                    t(&format!("{p}.attn_norm.weight"), &[E]),
                    t(&format!("{p}.ffn_gate.weight"), &[FF, E]),
                    t(&format!("{p}.ffn_up.weight"), &[FF, E]),
                    t(&format!("{p}.ffn_down.weight"), &[E, FF]),
                    t(&format!("{p}.ffn_norm.weight"), &[E]),
                ]);
                if i == 0 {
                    ts.push(t(&format!("{p}.attn_rel_b.weight"), &[buckets, h]));
                }
                if stack == "dec" {
                    ts.extend([
                        t(&format!("{p}.cross_attn_q.weight"), &[inner, E]),
                        t(&format!("{p}.cross_attn_k.weight"), &[inner, E]),
                        t(&format!("{p}.cross_attn_v.weight"), &[inner, E]),
                        t(&format!("{p}.cross_attn_o.weight"), &[E, inner]),
                        t(&format!("{p}.cross_attn_norm.weight"), &[E]),
                    ]);
                }
            }
        }
        (m, ts)
    }

    /// Load, check the info, prefill and decode a few tokens.
    fn run(arch: &str, bytes: &[u8]) {
        let mut g = load_gguf(bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let info = g.info().clone();
        assert_eq!(info.architecture, arch);
        assert!(info.requantized_tensors > 0, "{arch}: {info:?}");
        assert!(info.tensor_types.iter().all(|(t, _)| t != "Q4_1"), "{arch}: {:?}", info.tensor_types);
        let opts = GenerationOptions { max_new_tokens: 3, loop_guard_ngram: 0, ..Default::default() };
        g.start(Prompt::Text("the cat"), &opts).unwrap_or_else(|e| panic!("{arch} prefill: {e}"));
        let mut n = 0;
        while let Some(_t) = g.next_token().unwrap_or_else(|e| panic!("{arch} decode: {e}")) {
            n += 1;
        }
        assert!(n <= 3);
        assert!(g.stats().prefill_tokens > 0);
        // Not-requantized load works too.
        let raw = LoadOptions { requantize_to_q8_0: false, ..Default::default() };
        let g = load_gguf(bytes, &raw).unwrap();
        assert_eq!(g.info().requantized_tensors, 0);
    }

    fn expect_format_error(label: &str, bytes: &[u8]) {
        match load_gguf(bytes, &LoadOptions::default()) {
            Err(Error::ModelFormat { .. }) => {}
            Err(e) => panic!("{label}: expected ModelFormat, got {e:?}"),
            Ok(_) => panic!("{label}: loaded"),
        }
    }

    #[test]
    fn tiny_llama_loads_and_steps() {
        let (m, ts) = llama(2, 4);
        let bytes = build("llama", m, ts, gpt2_tok());
        run("llama", &bytes);
        let g = load_gguf(&bytes, &LoadOptions { max_context: 16, ..Default::default() }).unwrap();
        assert_eq!(g.context_len(), 16);
    }

    #[test]
    fn tiny_llama_inconsistencies_are_format_errors() {
        let (m, ts) = llama(2, 0);
        expect_format_error("zero heads", &build("llama", m, ts, gpt2_tok()));
        let (m, mut ts) = llama(2, 4);
        ts[3].1 = vec![E, E + 32]; // blk.0.attn_q
        expect_format_error("bad attn_q shape", &build("llama", m, ts, gpt2_tok()));
        let (mut m, ts) = llama(2, 4);
        m.retain(|(k, _)| k != "llama.block_count");
        m.push(("llama.block_count".into(), u(1_000_000)));
        expect_format_error("huge block count", &build("llama", m, ts, gpt2_tok()));
        let (m, mut ts) = llama(2, 4);
        ts[0].1 = vec![V - 1, E]; // fewer embeddings than tokens
        expect_format_error("short embeddings", &build("llama", m, ts, gpt2_tok()));
        let (m, mut ts) = llama(2, 4);
        ts.retain(|(n, _)| n != "blk.1.ffn_down.weight");
        expect_format_error("missing tensor", &build("llama", m, ts, gpt2_tok()));
    }

    #[test]
    fn tiny_phi2_loads_and_steps() {
        let (m, ts) = phi2();
        run("phi2", &build("phi2", m, ts, gpt2_tok()));
    }

    #[test]
    fn tiny_phi3_loads_and_steps_with_a_capped_context() {
        let (m, ts) = phi3();
        let bytes = build("phi3", m, ts, gpt2_tok());
        run("phi3", &bytes);
        let g = load_gguf(&bytes, &LoadOptions { max_context: 128, ..Default::default() }).unwrap();
        assert_eq!(g.context_len(), 128);
    }

    #[test]
    fn tiny_gemma3_loads_and_steps() {
        let (m, ts) = gemma3(None);
        let bytes = build("gemma3", m, ts, gpt2_tok());
        run("gemma3", &bytes);
        let g = load_gguf(&bytes, &LoadOptions::default()).unwrap();
        assert!(g.info().warnings.is_empty(), "{:?}", g.info().warnings);
        // The trained context (256) caps the context used.
        let g = load_gguf(&bytes, &LoadOptions { max_context: 1024, ..Default::default() }).unwrap();
        assert_eq!(g.context_len(), 256);
        let (m, ts) = gemma3(Some(0));
        expect_format_error("sliding_window_type 0", &build("gemma3", m, ts, gpt2_tok()));
    }

    #[test]
    fn tiny_t5_loads_and_steps() {
        let (m, ts) = t5();
        let bytes = build("t5", m, ts, t5_tok());
        run("t5", &bytes);
        let g = load_gguf(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(g.info().chat_template, TemplateSource::BuiltinPlain);
        let (m, mut ts) = t5();
        ts.retain(|(n, _)| n != "dec.blk.0.attn_rel_b.weight");
        expect_format_error("t5 without relative bias", &build("t5", m, ts, t5_tok()));
    }
}

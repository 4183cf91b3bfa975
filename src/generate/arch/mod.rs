//! One module per `general.architecture`, each turning a validated GGUF into a
//! [`Backend`](super::session::Backend) over candle's quantized implementation.
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
    let common = Common { architecture: architecture.clone(), name, tokenizer, template };
    match architecture.as_str() {
        "llama" => llama::load(bytes, content, common, opts),
        "phi2" => phi::load_phi2(bytes, content, common, opts),
        "phi3" => phi::load_phi3(bytes, content, common, opts),
        "gemma3" => gemma3::load(bytes, content, common, opts),
        "t5" => t5::load(bytes, content, common, opts),
        other => Err(Error::UnsupportedArchitecture(other.to_string())),
    }
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
pub(crate) fn input(tokens: &[u32]) -> Result<Tensor> {
    Ok(Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?)
}

/// Logits `[1, vocab]` → `Vec<f32>`.
pub(crate) fn logits(t: Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
}

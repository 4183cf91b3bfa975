//! BERT-family sentence encoders (Devlin et al. 2018; Sentence-BERT, Reimers &
//! Gurevych 2019) through `candle-transformers`, loaded from bytes.
//!
//! Any checkpoint with the Hugging Face file layout loads the same way —
//! `model.safetensors`, `tokenizer.json`, `config.json` — all-MiniLM-L6-v2, bge-small,
//! e5-small, multilingual MiniLM. Bytes rather than paths because in the browser the
//! weights arrive as a JS `ArrayBuffer`; the safetensors buffer is read in place
//! (no extra copy of the 90 MB) and only the tensors are materialised.
//!
//! Decisions:
//! - **Tokenizer settings are overridden.** all-MiniLM-L6-v2's `tokenizer.json` pads every
//!   input to a fixed 128 and truncates at 128. Padding to 128 makes a one-sentence query
//!   pay for 128 positions, and truncating at 128 cuts long chunks where
//!   sentence-transformers would not (its `max_seq_length` is 256). So the shipped padding
//!   is removed (batches are padded here to their longest member) and truncation is set to
//!   [`BertOptions::max_tokens`] (default 256) or the model's `max_position_embeddings`,
//!   whichever is smaller — word pieces *including* `[CLS]`/`[SEP]`, as sentence-transformers
//!   counts them.
//! - **Sorted sub-batches.** [`Embedder::embed_batch`] tokenizes everything, sorts by length
//!   and runs sub-batches of [`BertOptions::batch_size`], so a batch mixing a 10-token
//!   heading and a 250-token paragraph does not pad the heading to 250; the output order
//!   is restored. Padding never changes a vector: attention masks the padded keys and
//!   pooling skips padded positions.
//! - **Weight prefixes.** Some checkpoints store `bert.embeddings…`, others `embeddings…`
//!   (or `model.…`); the prefix is found by looking for the word-embedding tensor.
//! - **Errors, not panics.** Every malformed file is an [`Error::ModelFormat`] naming the
//!   file (`"safetensors"`, `"tokenizer.json"`, `"config.json"`); a config whose
//!   `model_type` is not BERT is [`Error::UnsupportedArchitecture`].

use std::cmp::Reverse;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, HiddenAct};
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};
use tokenizers::{PostProcessor, Tokenizer};

use super::encoder::Encoder;
pub use super::encoder::Quantize;
use super::pooling::{l2_normalize, Pooling};
use super::{sha256_hex, Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::text::TokenCounter;

/// Texts tokenized per call to the tokenizer inside `embed_batch`; bounds the memory held
/// by full `Encoding`s (token strings, offsets) when a caller passes thousands of texts.
const TOKENIZE_SLICE: usize = 256;

/// Which implementation runs the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Sotto's packed encoder (`embed/encoder.rs`): no padding, packed weights, SIMD GEMM.
    /// The default.
    #[default]
    Packed,
    /// candle's `BertModel`: the reference the packed encoder is checked against
    /// (`tests/embed_parity.rs`) and the "before" of `examples/embed_speed.rs`. f32 only.
    Candle,
}

/// Loading options for [`BertEmbedder::from_bytes_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BertOptions {
    /// How token states become the sentence vector (default [`Pooling::Mean`]).
    /// Use [`Pooling::from_sentence_transformers_config`] on a model's
    /// `1_Pooling/config.json` to pick the mode it was trained with.
    pub pooling: Pooling,
    /// Scale vectors to unit length (default `true`). The [`Embedder`] contract and every
    /// index in Sotto assume unit vectors; turn this off only to inspect raw pooled states.
    pub normalize: bool,
    /// Longest input in word pieces including special tokens (default 256, all-MiniLM-L6-v2's
    /// sentence-transformers `max_seq_length`); capped at the config's
    /// `max_position_embeddings`. Longer inputs are truncated at the end.
    pub max_tokens: usize,
    /// Texts per forward pass inside `embed_batch` (default 16).
    pub batch_size: usize,
    /// Largest `hidden_size` (vector dimension) accepted from `config.json` (default 4096;
    /// BERT-family sentence encoders use 384 to 1024). Larger is [`Error::LimitExceeded`].
    pub max_hidden_size: usize,
    /// Most `num_hidden_layers` accepted (default 96; BERT-large has 24).
    pub max_layers: usize,
    /// Largest `vocab_size` accepted (default 1 048 576 = 2^20).
    pub max_vocab_size: usize,
    /// Weight precision (default [`Quantize::None`], f32). [`Quantize::Int8`] needs
    /// [`Kernels::Packed`].
    pub quantize: Quantize,
    /// Forward-pass implementation (default [`Kernels::Packed`]).
    pub kernels: Kernels,
}

impl Default for BertOptions {
    fn default() -> Self {
        BertOptions {
            pooling: Pooling::Mean,
            normalize: true,
            max_tokens: 256,
            batch_size: 16,
            max_hidden_size: 4096,
            max_layers: 96,
            max_vocab_size: 1 << 20,
            quantize: Quantize::None,
            kernels: Kernels::Packed,
        }
    }
}

/// The loaded forward pass.
enum Model {
    Packed(Encoder),
    Candle(BertModel),
}

/// A BERT-family sentence encoder loaded from bytes.
pub struct BertEmbedder {
    info: EmbedderInfo,
    options: BertOptions,
    model: Model,
    /// Truncates at `info.max_tokens`, no padding: what the model sees.
    tokenizer: Tokenizer,
    /// No truncation, no padding: for [`TokenCounter`], which must see the whole text.
    counter: Tokenizer,
    pad_id: u32,
    special_tokens: usize,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("info", &self.info)
            .field("options", &self.options)
            .field("special_tokens", &self.special_tokens)
            .finish_non_exhaustive()
    }
}

impl BertEmbedder {
    /// Load from `model.safetensors`, `tokenizer.json` and `config.json` bytes with the
    /// default [`BertOptions`] (mean pooling, normalised, 256 tokens, sub-batches of 16).
    /// `name` is recorded in index manifests.
    pub fn from_bytes(name: &str, weights: &[u8], tokenizer_json: &[u8], config_json: &[u8]) -> Result<Self> {
        Self::from_bytes_with(name, weights, tokenizer_json, config_json, BertOptions::default())
    }

    /// Load with explicit [`BertOptions`] (e.g. [`Pooling::Cls`] for bge models).
    pub fn from_bytes_with(
        name: &str,
        weights: &[u8],
        tokenizer_json: &[u8],
        config_json: &[u8],
        options: BertOptions,
    ) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(Error::InvalidOption { name: "batch_size", detail: "must be at least 1".into() });
        }
        if options.max_tokens == 0 {
            return Err(Error::InvalidOption { name: "max_tokens", detail: "must be at least 1".into() });
        }
        if options.quantize != Quantize::None && options.kernels == Kernels::Candle {
            return Err(Error::InvalidOption {
                name: "quantize",
                detail: "int8 runs on the packed kernels only (kernels: Candle is f32)".into(),
            });
        }
        // Cheapest checks first: the config, then the tokenizer, then 90 MB of weights.
        let config = parse_config(config_json)?;
        check_sizes(&config, &options, weights.len())?;
        let max_tokens = options.max_tokens.min(config.max_position_embeddings);
        let loaded = load_tokenizer(tokenizer_json, &config, max_tokens)?;
        let model = load_weights(weights, &config, &options)?;
        Ok(BertEmbedder {
            info: EmbedderInfo {
                name: name.to_string(),
                dim: config.hidden_size,
                max_tokens,
                weights_sha256: sha256_hex(weights),
                tokenizer_sha256: sha256_hex(tokenizer_json),
            },
            options,
            model,
            tokenizer: loaded.truncating,
            counter: loaded.counting,
            pad_id: loaded.pad_id,
            special_tokens: loaded.special_tokens,
        })
    }

    /// Name of the kernel running the forward pass (`"candle"`, or the packed encoder's
    /// instruction set: `"avx2+fma"`, `"simd128"`, `"portable"`).
    pub fn kernel_name(&self) -> &'static str {
        match &self.model {
            Model::Packed(e) => e.isa().name(),
            Model::Candle(_) => "candle",
        }
    }

    /// The options this embedder was loaded with.
    pub fn options(&self) -> &BertOptions {
        &self.options
    }

    /// Special tokens the tokenizer adds to every input (`[CLS]` and `[SEP]`: 2).
    /// A text of at most `info().max_tokens - special_tokens()` tokens, as counted by
    /// [`TokenCounter::count_tokens`], is embedded without truncation.
    pub fn special_tokens(&self) -> usize {
        self.special_tokens
    }

    /// The word-piece ids the model sees for `text`: special tokens added, truncated at
    /// `info().max_tokens`.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode_fast(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// One forward pass over texts already tokenized; rows in the order given,
    /// L2-normalised if `normalize`.
    fn forward(&self, seqs: &[&Tokenized], normalize: bool) -> Result<Vec<Vec<f32>>> {
        let mut rows = match &self.model {
            Model::Packed(encoder) => {
                let input: Vec<(&[u32], &[u32])> = seqs.iter().map(|s| (&s.ids[..], &s.type_ids[..])).collect();
                let dim = self.info.dim;
                encoder.forward(&input, |states, offsets| {
                    offsets
                        .windows(2)
                        .map(|w| self.options.pooling.pool_rows(&states[w[0] * dim..w[1] * dim], dim))
                        .collect::<Vec<_>>()
                })?
            }
            Model::Candle(model) => self.forward_candle(model, seqs)?,
        };
        for row in rows.iter_mut() {
            if row.len() != self.info.dim {
                return Err(Error::DimensionMismatch { expected: self.info.dim, got: row.len() });
            }
            if normalize {
                l2_normalize(row);
            }
        }
        Ok(rows)
    }

    /// candle's padded batch: pooled rows, not normalised.
    fn forward_candle(&self, model: &BertModel, seqs: &[&Tokenized]) -> Result<Vec<Vec<f32>>> {
        let batch = seqs.len();
        // At least one position so a tokenizer without special tokens cannot produce an
        // empty tensor from an empty text; that row is all padding and pools to zero.
        let len = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id; batch * len];
        let mut type_ids = vec![0u32; batch * len];
        let mut mask = vec![0u32; batch * len];
        for (row, s) in seqs.iter().enumerate() {
            let at = row * len;
            ids[at..at + s.ids.len()].copy_from_slice(&s.ids);
            type_ids[at..at + s.type_ids.len()].copy_from_slice(&s.type_ids);
            mask[at..at + s.ids.len()].iter_mut().for_each(|m| *m = 1);
        }
        let device = &model.device;
        let ids = Tensor::from_vec(ids, (batch, len), device)?;
        let type_ids = Tensor::from_vec(type_ids, (batch, len), device)?;
        let mask = Tensor::from_vec(mask, (batch, len), device)?;
        let hidden = model.forward(&ids, &type_ids, Some(&mask))?;
        Ok(self.options.pooling.pool(&hidden, &mask)?.to_vec2::<f32>()?)
    }
}

/// Word-piece ids and segment ids of one text.
struct Tokenized {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
}

impl TokenCounter for BertEmbedder {
    /// A word WordPiece keeps whole (one token, no `##` pieces) is in the vocabulary.
    fn is_known_word(&self, word: &str) -> Option<bool> {
        Some(self.count_tokens(word) == 1)
    }

    /// Word pieces without special tokens and without truncation (the chunker must see
    /// the full length to split long text).
    fn count_tokens(&self, text: &str) -> usize {
        match self.counter.encode_fast(text, false) {
            Ok(enc) => enc.len(),
            // Tokenizing plain text does not fail with the supported models; if it ever
            // does, over-count (one token per char) so chunks err on the short side.
            Err(_) => text.chars().count(),
        }
    }

    /// WordPiece splits words independently, so the count of a concatenation never
    /// exceeds the sum of the parts' counts (checked on the Cargo Book by
    /// `tests/ingest_cargo_book.rs`); the chunker can skip its whole-chunk recount.
    fn counts_are_subadditive(&self) -> bool {
        true
    }
}

impl Embedder for BertEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_with(texts, self.options.normalize)
    }

    fn embed_batch_pooled(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_with(texts, false)
    }

    fn quantize(&self) -> Quantize {
        self.options.quantize
    }
}

impl BertEmbedder {
    /// The last hidden state of every real token of `text` (special tokens included,
    /// padding excluded), each L2-normalised: the per-token vectors of ColBERT-style
    /// late interaction (Khattab & Zaharia 2020). MiniLM was not trained for it; the
    /// `token_maxsim` example measures whether they help (docs/answers.md).
    pub fn token_states(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let mut rows = self.hidden_states(text)?;
        for row in rows.iter_mut() {
            l2_normalize(row);
        }
        Ok(rows)
    }

    /// The last hidden state of every real token of `text`, as the model computes it.
    fn hidden_states(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let enc = self.tokenizer.encode_fast(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let n = enc.get_ids().len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let model = match &self.model {
            Model::Packed(encoder) => {
                let dim = self.info.dim;
                return encoder.forward(&[(enc.get_ids(), enc.get_type_ids())], |states, _| {
                    states.chunks_exact(dim).map(<[f32]>::to_vec).collect()
                });
            }
            Model::Candle(model) => model,
        };
        let device = &model.device;
        let ids = Tensor::from_vec(enc.get_ids().to_vec(), (1, n), device)?;
        let type_ids = Tensor::from_vec(enc.get_type_ids().to_vec(), (1, n), device)?;
        let mask = Tensor::from_vec(vec![1u32; n], (1, n), device)?;
        let hidden = model.forward(&ids, &type_ids, Some(&mask))?;
        Ok(hidden.squeeze(0)?.to_vec2::<f32>()?)
    }

    fn embed_batch_with(&self, texts: &[&str], normalize: bool) -> Result<Vec<Vec<f32>>> {
        let mut seqs: Vec<Tokenized> = Vec::with_capacity(texts.len());
        for part in texts.chunks(TOKENIZE_SLICE) {
            let encodings =
                self.tokenizer.encode_batch_fast(part.to_vec(), true).map_err(|e| Error::Tokenizer(e.to_string()))?;
            seqs.extend(
                encodings
                    .into_iter()
                    .map(|e| Tokenized { ids: e.get_ids().to_vec(), type_ids: e.get_type_ids().to_vec() }),
            );
        }
        // Longest first, stable, so similar lengths share a sub-batch.
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| Reverse(seqs[i].ids.len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); seqs.len()];
        for group in order.chunks(self.options.batch_size) {
            let batch: Vec<&Tokenized> = group.iter().map(|&i| &seqs[i]).collect();
            let rows = self.forward(&batch, normalize)?;
            for (&i, row) in group.iter().zip(rows) {
                out[i] = row;
            }
        }
        Ok(out)
    }
}

/// Parse and sanity-check `config.json`.
fn parse_config(config_json: &[u8]) -> Result<Config> {
    const WHAT: &str = "config.json";
    let config: Config = serde_json::from_slice(config_json).map_err(|e| Error::model(WHAT, e))?;
    if let Some(t) = &config.model_type {
        if t != "bert" {
            return Err(Error::UnsupportedArchitecture(t.clone()));
        }
    }
    let positive = [
        ("hidden_size", config.hidden_size),
        ("num_attention_heads", config.num_attention_heads),
        ("intermediate_size", config.intermediate_size),
        ("vocab_size", config.vocab_size),
        ("type_vocab_size", config.type_vocab_size),
        ("max_position_embeddings", config.max_position_embeddings),
    ];
    if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(Error::model(WHAT, format!("{field} must be positive")));
    }
    if config.hidden_size % config.num_attention_heads != 0 {
        return Err(Error::model(
            WHAT,
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        ));
    }
    Ok(config)
}

/// Check the sizes `config.json` declares against the limits of `options` and against the
/// weights file: the parameters the config implies must fit in the file (at half a byte
/// each, the smallest safetensors element type), so a config cannot make the loader build
/// a model larger than what it was given.
fn check_sizes(config: &Config, options: &BertOptions, weights_len: usize) -> Result<()> {
    for (what, limit, got) in [
        ("bert hidden size", options.max_hidden_size, config.hidden_size),
        ("bert layers", options.max_layers, config.num_hidden_layers),
        ("bert vocabulary size", options.max_vocab_size, config.vocab_size),
    ] {
        if got > limit {
            return Err(Error::LimitExceeded { what, limit, got });
        }
    }
    let h = config.hidden_size as u128;
    let per_layer = 4 * h * h + 2 * h * config.intermediate_size as u128;
    let params = h * (config.vocab_size as u128 + config.max_position_embeddings as u128)
        + config.num_hidden_layers as u128 * per_layer;
    if params > 2 * weights_len as u128 {
        return Err(Error::model(
            "safetensors",
            format!(
                "{weights_len} bytes cannot hold the {params} or more parameters config.json describes \
                 (do these weights match config.json?)"
            ),
        ));
    }
    Ok(())
}

struct LoadedTokenizer {
    truncating: Tokenizer,
    counting: Tokenizer,
    pad_id: u32,
    special_tokens: usize,
}

/// Prepare an untrusted `tokenizer.json` for `tokenizers`, whose deserializers panic (an
/// abort in wasm) on some malformed inputs instead of returning an error:
/// - the `decoder` section is dropped: an embedder never decodes, and a decoder object
///   of an unexpected shape panics (`expect("Helper")`);
/// - every `Precompiled` normalizer is parsed here first, since a bad charsmap panics —
///   recognised by its `precompiled_charsmap` field as well as by its `type`, because
///   `tokenizers` also reads untagged (legacy) normalizers by their shape.
///
/// Templates are checked after parsing ([`check_post_processor`]), on the parsed form.
/// Found by the `embedder_load` fuzz target (`fuzz/regressions/embedder_load/`).
fn sanitize_tokenizer_json(bytes: &[u8]) -> Result<Vec<u8>> {
    const WHAT: &str = "tokenizer.json";
    let mut root: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::model(WHAT, e))?;
    let Some(obj) = root.as_object_mut() else {
        return Err(Error::model(WHAT, "not a JSON object"));
    };
    obj.insert("decoder".into(), serde_json::Value::Null);
    // Walk the whole document iteratively (no recursion on attacker-chosen depth; serde_json
    // already refuses nesting deeper than 128).
    let mut stack: Vec<&serde_json::Value> = vec![&root];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("type").and_then(|t| t.as_str()) == Some("Precompiled")
                    || m.contains_key("precompiled_charsmap")
                {
                    serde_json::from_value::<tokenizers::normalizers::precompiled::Precompiled>(v.clone())
                        .map_err(|e| Error::model(WHAT, format!("Precompiled normalizer: {e}")))?;
                }
                stack.extend(m.values());
            }
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    serde_json::to_vec(&root).map_err(|e| Error::model(WHAT, e))
}

/// Every `TemplateProcessing` post-processor (also inside a `Sequence`) must define each
/// special token its templates use: an undefined one panics at the first encoding. Checked
/// on the *parsed* post-processor, serialized back to its canonical JSON: `tokenizers`
/// reads post-processors by shape (untagged), so a template with a mangled `type` is
/// still a template (found by the fuzzer:
/// `fuzz/regressions/embedder_load/template-without-type-undefined-special-token`).
fn check_post_processor(tokenizer: &Tokenizer) -> Result<()> {
    let Some(p) = tokenizer.get_post_processor() else { return Ok(()) };
    let v = serde_json::to_value(p).map_err(|e| Error::model("tokenizer.json", e))?;
    let mut stack: Vec<&serde_json::Value> = vec![&v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("type").and_then(|t| t.as_str()) == Some("TemplateProcessing") {
                    check_template(m)?;
                }
                stack.extend(m.values());
            }
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    Ok(())
}

/// Each `{"SpecialToken": {"id": ..}}` piece of a template must name a key of `special_tokens`.
fn check_template(m: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let defined = m.get("special_tokens").and_then(|s| s.as_object());
    for key in ["single", "pair"] {
        let Some(pieces) = m.get(key).and_then(|p| p.as_array()) else { continue };
        for piece in pieces {
            let Some(id) = piece.get("SpecialToken").and_then(|t| t.get("id")) else { continue };
            let known = id.as_str().is_some_and(|id| defined.is_some_and(|d| d.contains_key(id)));
            if !known {
                return Err(Error::model(
                    "tokenizer.json",
                    format!("post-processor template uses special token {id}, which it does not define"),
                ));
            }
        }
    }
    Ok(())
}

/// Parse `tokenizer.json`, check it fits the model, and replace its padding/truncation.
fn load_tokenizer(tokenizer_json: &[u8], config: &Config, max_tokens: usize) -> Result<LoadedTokenizer> {
    const WHAT: &str = "tokenizer.json";
    let json = sanitize_tokenizer_json(tokenizer_json)?;
    let mut tokenizer = Tokenizer::from_bytes(&json).map_err(|e| Error::model(WHAT, e))?;
    check_post_processor(&tokenizer)?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > config.vocab_size {
        return Err(Error::model(
            WHAT,
            format!(
                "{vocab} tokens, more than the model's vocab_size {} (tokenizer of another model?)",
                config.vocab_size
            ),
        ));
    }
    let special_tokens = tokenizer.get_post_processor().map(|p| p.added_tokens(false)).unwrap_or(0);
    if config.max_position_embeddings <= special_tokens {
        return Err(Error::model(
            "config.json",
            format!(
                "max_position_embeddings {} leaves no room beyond {special_tokens} special tokens",
                config.max_position_embeddings
            ),
        ));
    }
    if max_tokens <= special_tokens {
        return Err(Error::InvalidOption {
            name: "max_tokens",
            detail: format!("{max_tokens} leaves no room beyond {special_tokens} special tokens"),
        });
    }
    // The padded positions are masked, so the pad id only has to be a valid row of the
    // embedding table; prefer the tokenizer's own.
    let pad_id = tokenizer
        .get_padding()
        .map(|p| p.pad_id)
        .or_else(|| tokenizer.token_to_id("[PAD]"))
        .filter(|&id| (id as usize) < config.vocab_size)
        .unwrap_or(0);
    tokenizer.with_padding(None);
    let mut counting = tokenizer.clone();
    counting.with_truncation(None).map_err(|e| Error::model(WHAT, e))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| Error::model(WHAT, e))?;
    Ok(LoadedTokenizer { truncating: tokenizer, counting, pad_id, special_tokens })
}

/// Build the model from safetensors bytes, finding the weight-name prefix: the packed
/// encoder, or candle's when asked for (or, for f32, when the config's activation is one
/// the packed encoder does not implement — only erf GELU, what BERT checkpoints use).
fn load_weights(weights: &[u8], config: &Config, options: &BertOptions) -> Result<Model> {
    const WHAT: &str = "safetensors";
    const PROBE: &str = "embeddings.word_embeddings.weight";
    let vb =
        VarBuilder::from_slice_safetensors(weights, DType::F32, &Device::Cpu).map_err(|e| Error::model(WHAT, e))?;
    let mut prefixes = vec!["bert", "model"];
    if let Some(t) = config.model_type.as_deref() {
        prefixes.push(t);
    }
    let vb = if vb.contains_tensor(PROBE) {
        vb
    } else {
        match prefixes.iter().find(|p| vb.pp(**p).contains_tensor(PROBE)) {
            Some(p) => vb.pp(*p),
            None => {
                return Err(Error::model(
                    WHAT,
                    format!("no BERT weights: tensor {PROBE} not found (also under bert./model.)"),
                ))
            }
        }
    };
    let candle = options.kernels == Kernels::Candle
        || (config.hidden_act != HiddenAct::Gelu && options.quantize == Quantize::None);
    if candle {
        let model = BertModel::load(vb, config)
            .map_err(|e| Error::model(WHAT, format!("{e} (do these weights match config.json?)")))?;
        return Ok(Model::Candle(model));
    }
    Ok(Model::Packed(Encoder::load(&vb, config, options.quantize)?))
}

#[cfg(test)]
mod tests {
    //! Shape and error tests on a tiny random BERT built here; parity with
    //! sentence-transformers on the real model is in `tests/embed_parity.rs`.
    use super::*;

    const WORDS: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "a", "##s", ".", ",",
        "le", "chat", "est", "ici", "é", "##é", "rust", "code", "fn",
    ];

    const TINY: crate::embed::testing::TinyBert<'static> = crate::embed::testing::TinyBert {
        words: WORDS,
        hidden: HIDDEN,
        layers: LAYERS,
        heads: 4,
        intermediate: INTERMEDIATE,
        max_positions: MAX_POS,
    };

    /// The tiny tokenizer, shipping MiniLM's fixed padding and truncation (which the loader must override).
    fn tiny_tokenizer_json() -> Vec<u8> {
        TINY.tokenizer_json(true)
    }

    /// `tokenizers` panics on these (an abort in wasm); the loader must answer with a typed
    /// error or ignore the section an embedder does not use (found by fuzzing).
    #[test]
    fn malformed_tokenizer_sections_do_not_panic() {
        let base: serde_json::Value = serde_json::from_slice(&tiny_tokenizer_json()).unwrap();
        let load = |t: &serde_json::Value| {
            BertEmbedder::from_bytes(
                "t",
                &tiny_weights("", 7),
                &serde_json::to_vec(t).unwrap(),
                &tiny_config_json(None),
            )
        };
        // A decoder of an unexpected shape: dropped (embedding never decodes).
        let mut t = base.clone();
        t["decoder"] = serde_json::json!({"type": 7});
        let e = load(&t).expect("the decoder is not used");
        assert_eq!(e.embed_batch(&["the cat"]).unwrap().len(), 1);
        // A template naming a special token it does not define.
        let mut t = base.clone();
        t["post_processor"]["single"][0]["SpecialToken"]["id"] = serde_json::json!("[NOPE]");
        assert!(matches!(load(&t), Err(Error::ModelFormat { .. })), "undefined template token");
        // The same without its `type` (read by shape).
        let mut t = base.clone();
        t["post_processor"]["single"][0]["SpecialToken"]["id"] = serde_json::json!("[NOPE]");
        t["post_processor"].as_object_mut().unwrap().remove("type");
        assert!(matches!(load(&t), Err(Error::ModelFormat { .. })), "untagged template");
        // A broken Precompiled normalizer.
        let mut t = base.clone();
        t["normalizer"] = serde_json::json!({"type": "Precompiled", "precompiled_charsmap": "!!not base64"});
        assert!(matches!(load(&t), Err(Error::ModelFormat { .. })), "bad charsmap");
        t["normalizer"] = serde_json::json!({"precompiled_charsmap": "!!not base64"});
        assert!(matches!(load(&t), Err(Error::ModelFormat { .. })), "bad charsmap, untagged");
    }

    const HIDDEN: usize = 32;
    const LAYERS: usize = 2;
    const INTERMEDIATE: usize = 64;
    const MAX_POS: usize = 64;

    fn tiny_config_json(model_type: Option<&str>) -> Vec<u8> {
        TINY.config_json(model_type)
    }

    /// Random BERT weights in safetensors format, names prefixed by `prefix`.
    fn tiny_weights(prefix: &str, seed: u64) -> Vec<u8> {
        TINY.weights(prefix, seed)
    }

    fn tiny(prefix: &str, options: BertOptions) -> Result<BertEmbedder> {
        BertEmbedder::from_bytes_with(
            "tiny-bert",
            &tiny_weights(prefix, 7),
            &tiny_tokenizer_json(),
            &tiny_config_json(Some("bert")),
            options,
        )
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (na * nb)
    }

    fn expect_model_format<T: std::fmt::Debug>(r: Result<T>, expected_what: &str) {
        match r {
            Err(Error::ModelFormat { what, detail }) => {
                assert_eq!(what, expected_what, "wrong `what` (detail: {detail})")
            }
            other => panic!("expected ModelFormat {{ what: {expected_what:?} }}, got {other:?}"),
        }
    }

    const TEXTS: &[&str] = &[
        "The cat sat on the mat.",
        "a dog",
        "Le chat est ici, é",
        "",
        "rust code fn fn fn the cats sat on a mat, the dogs sat on a mat.",
    ];

    #[test]
    fn tiny_bert_loads_with_and_without_bert_prefix() {
        let plain = tiny("", BertOptions::default()).unwrap();
        let prefixed = tiny("bert.", BertOptions::default()).unwrap();
        let model_prefixed = tiny("model.", BertOptions::default()).unwrap();
        assert_eq!(plain.info().dim, HIDDEN);
        assert_eq!(plain.info().name, "tiny-bert");
        assert_eq!(plain.special_tokens(), 2);
        // Same weights under another prefix give the same vectors.
        let a = plain.embed_batch(TEXTS).unwrap();
        let b = prefixed.embed_batch(TEXTS).unwrap();
        let c = model_prefixed.embed_batch(TEXTS).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        // Without model_type in config.json too.
        BertEmbedder::from_bytes("t", &tiny_weights("bert.", 7), &tiny_tokenizer_json(), &tiny_config_json(None))
            .unwrap();
    }

    #[test]
    fn vectors_are_unit_norm_and_ordered() {
        let e = tiny("", BertOptions::default()).unwrap();
        let vs = e.embed_batch(TEXTS).unwrap();
        assert_eq!(vs.len(), TEXTS.len());
        for v in &vs {
            assert_eq!(v.len(), HIDDEN);
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        }
        // Order is restored after the length sort: each vector equals the text embedded alone.
        for (t, v) in TEXTS.iter().zip(&vs) {
            let alone = e.embed(t).unwrap();
            assert!(cosine(&alone, v) > 0.9999, "{t:?}: batch and single differ");
        }
        assert!(e.embed_batch(&[]).unwrap().is_empty());
    }

    #[test]
    fn sub_batch_size_does_not_change_vectors() {
        let one = tiny("", BertOptions { batch_size: 1, ..Default::default() }).unwrap();
        let two = tiny("", BertOptions { batch_size: 2, ..Default::default() }).unwrap();
        let big = tiny("", BertOptions::default()).unwrap();
        let (a, b, c) =
            (one.embed_batch(TEXTS).unwrap(), two.embed_batch(TEXTS).unwrap(), big.embed_batch(TEXTS).unwrap());
        for i in 0..TEXTS.len() {
            assert!(cosine(&a[i], &b[i]) > 0.9999 && cosine(&a[i], &c[i]) > 0.9999, "text {i}");
        }
    }

    #[test]
    fn token_states_are_one_unit_vector_per_token_and_pool_to_the_embedding() {
        let plain = BertOptions { normalize: false, ..BertOptions::default() };
        let e = tiny("", plain).unwrap();
        let text = "the cat sat on the mat";
        let states = e.token_states(text).unwrap();
        assert_eq!(states.len(), e.token_ids(text).unwrap().len());
        for s in &states {
            assert_eq!(s.len(), HIDDEN);
            assert!((s.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-4);
        }
        // Mean pooling of the (unnormalised) states is the sentence vector: the normalised
        // states point the same way as the rows pooled by `embed`.
        let pooled = e.embed(text).unwrap();
        let hidden = e.hidden_states(text).unwrap();
        assert!(hidden.iter().zip(&states).all(|(h, s)| cosine(h, s) > 0.9999));
        let mean: Vec<f32> =
            (0..HIDDEN).map(|d| hidden.iter().map(|r| r[d]).sum::<f32>() / hidden.len() as f32).collect();
        assert!(cosine(&mean, &pooled) > 0.9999);
        assert!(e.token_states("").unwrap().len() >= 2, "special tokens only");
    }

    #[test]
    fn cls_pooling_and_unnormalised_options() {
        let mean = tiny("", BertOptions::default()).unwrap();
        let cls = tiny("", BertOptions { pooling: Pooling::Cls, ..Default::default() }).unwrap();
        let raw = tiny("", BertOptions { normalize: false, ..Default::default() }).unwrap();
        let t = "the cat sat on the mat";
        let (m, c, r) = (mean.embed(t).unwrap(), cls.embed(t).unwrap(), raw.embed(t).unwrap());
        assert!(cosine(&m, &c) < 0.9999, "CLS pooling should differ from mean pooling");
        assert!(cosine(&m, &r) > 0.9999, "unnormalised vector points the same way");
        let rn: f32 = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((rn - 1.0).abs() > 1e-3, "raw pooled state should not be unit norm by accident ({rn})");
    }

    #[test]
    fn shipped_padding_and_truncation_are_overridden() {
        let e = tiny("", BertOptions { max_tokens: 10, ..Default::default() }).unwrap();
        assert_eq!(e.info().max_tokens, 10);
        // No fixed-128 padding: [CLS] the cat [SEP].
        assert_eq!(e.token_ids("the cat").unwrap(), vec![2, 5, 6, 3]);
        // Truncated at 10 including [CLS]/[SEP], the last id still [SEP].
        let long = "the cat sat on the mat ".repeat(10);
        let ids = e.token_ids(&long).unwrap();
        assert_eq!(ids.len(), 10);
        assert_eq!(ids.last(), Some(&3));
        // count_tokens sees everything, no special tokens.
        assert_eq!(e.count_tokens(&long), 60);
        assert_eq!(e.count_tokens("the cats."), 4); // the, cat, ##s, .
        assert_eq!(e.count_tokens(""), 0);
        // Inputs past max_tokens embed fine (truncated) rather than overflowing positions.
        let big = tiny("", BertOptions { max_tokens: 10_000, ..Default::default() }).unwrap();
        assert_eq!(big.info().max_tokens, MAX_POS);
        let v = big.embed(&"the cat ".repeat(200)).unwrap();
        assert_eq!(v.len(), HIDDEN);
    }

    #[test]
    fn invalid_options_are_rejected() {
        for opts in
            [BertOptions { batch_size: 0, ..Default::default() }, BertOptions { max_tokens: 0, ..Default::default() }]
        {
            assert!(matches!(tiny("", opts), Err(Error::InvalidOption { .. })));
        }
        // Room for [CLS]/[SEP] only: the option, or the model's position table.
        assert!(matches!(
            tiny("", BertOptions { max_tokens: 2, ..Default::default() }),
            Err(Error::InvalidOption { name: "max_tokens", .. })
        ));
        let mut short: serde_json::Value = serde_json::from_slice(&tiny_config_json(None)).unwrap();
        short["max_position_embeddings"] = serde_json::json!(2);
        let short = serde_json::to_vec(&short).unwrap();
        expect_model_format(
            BertEmbedder::from_bytes("t", &tiny_weights("", 7), &tiny_tokenizer_json(), &short),
            "config.json",
        );
    }

    #[test]
    fn broken_safetensors_are_model_format_errors() {
        let w = tiny_weights("", 7);
        let tok = tiny_tokenizer_json();
        let cfg = tiny_config_json(Some("bert"));
        let load = |w: &[u8]| BertEmbedder::from_bytes("t", w, &tok, &cfg);
        for cut in [0, 4, 8, 20, w.len() / 2, w.len() - 1] {
            expect_model_format(load(&w[..cut]), "safetensors");
        }
        expect_model_format(load(b"garbage garbage garbage garbage"), "safetensors");
        let mut huge_header = (u64::MAX / 2).to_le_bytes().to_vec();
        huge_header.extend_from_slice(b"{}");
        expect_model_format(load(&huge_header), "safetensors");
        // Swapped files: the tokenizer or config where the weights should be.
        expect_model_format(load(&tok), "safetensors");
        expect_model_format(load(&cfg), "safetensors");
        // Valid safetensors with no BERT inside.
        let not_bert = crate::embed::testing::safetensors_f32(&[("lm_head.weight".into(), vec![2, 2], vec![0.0; 4])]);
        expect_model_format(load(&not_bert), "safetensors");
        // Weights of another shape than config.json says.
        let mut bigger: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
        bigger["hidden_size"] = serde_json::json!(64);
        let bigger = serde_json::to_vec(&bigger).unwrap();
        expect_model_format(BertEmbedder::from_bytes("t", &w, &tok, &bigger), "safetensors");
        let mut deeper: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
        deeper["num_hidden_layers"] = serde_json::json!(3);
        let deeper = serde_json::to_vec(&deeper).unwrap();
        expect_model_format(BertEmbedder::from_bytes("t", &w, &tok, &deeper), "safetensors");
    }

    #[test]
    fn config_sizes_are_checked_against_limits_and_the_weights() {
        let w = tiny_weights("", 7);
        let tok = tiny_tokenizer_json();
        let with = |field: &str, v: u64| {
            let mut c: serde_json::Value = serde_json::from_slice(&tiny_config_json(None)).unwrap();
            c[field] = serde_json::json!(v);
            serde_json::to_vec(&c).unwrap()
        };
        let load = |cfg: &[u8], o: BertOptions| BertEmbedder::from_bytes_with("t", &w, &tok, cfg, o);
        let d = BertOptions::default;
        for (field, v, what) in [
            ("hidden_size", 8192, "bert hidden size"),
            ("num_hidden_layers", 1000, "bert layers"),
            ("vocab_size", 1 << 21, "bert vocabulary size"),
        ] {
            match load(&with(field, v), d()) {
                Err(Error::LimitExceeded { what: w, got, .. }) => assert!(w == what && got == v as usize, "{w} {got}"),
                other => panic!("{field}: expected LimitExceeded, got {other:?}"),
            }
        }
        let small = BertOptions { max_hidden_size: HIDDEN - 1, ..d() };
        assert!(matches!(load(&tiny_config_json(None), small), Err(Error::LimitExceeded { .. })));
        // Within the limits but far more parameters than the file holds: refused before
        // the weights are read (a 2^40-wide position table would not even parse).
        expect_model_format(load(&with("max_position_embeddings", 1 << 40), d()), "safetensors");
        expect_model_format(load(&with("intermediate_size", 1 << 30), d()), "safetensors");
        expect_model_format(load(&with("num_hidden_layers", 90), d()), "safetensors");
        assert!(load(&tiny_config_json(None), d()).is_ok());
    }

    #[test]
    fn broken_tokenizer_is_a_model_format_error() {
        let w = tiny_weights("", 7);
        let tok = tiny_tokenizer_json();
        let cfg = tiny_config_json(Some("bert"));
        let load = |t: &[u8]| BertEmbedder::from_bytes("t", &w, t, &cfg);
        for cut in [0, 1, tok.len() / 2, tok.len() - 1] {
            expect_model_format(load(&tok[..cut]), "tokenizer.json");
        }
        expect_model_format(load(&cfg), "tokenizer.json");
        expect_model_format(load(&w[..200]), "tokenizer.json");
        expect_model_format(load(b"\xff\xfe\x00garbage"), "tokenizer.json");
        expect_model_format(load(b"{\"model\": 3}"), "tokenizer.json");
        // A tokenizer with a bigger vocabulary than the model's embedding table.
        let mut smaller: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
        smaller["vocab_size"] = serde_json::json!(10);
        let smaller = serde_json::to_vec(&smaller).unwrap();
        expect_model_format(BertEmbedder::from_bytes("t", &w, &tok, &smaller), "tokenizer.json");
    }

    #[test]
    fn broken_config_is_a_model_format_error() {
        let w = tiny_weights("", 7);
        let tok = tiny_tokenizer_json();
        let cfg = tiny_config_json(Some("bert"));
        let load = |c: &[u8]| BertEmbedder::from_bytes("t", &w, &tok, c);
        for cut in [0, 1, cfg.len() / 2, cfg.len() - 1] {
            expect_model_format(load(&cfg[..cut]), "config.json");
        }
        expect_model_format(load(&tok), "config.json");
        expect_model_format(load(&w[..100]), "config.json");
        expect_model_format(load(b"not json at all"), "config.json");
        let edit = |field: &str, value: serde_json::Value| {
            let mut c: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
            c[field] = value;
            serde_json::to_vec(&c).unwrap()
        };
        expect_model_format(load(&edit("hidden_size", serde_json::json!(-1))), "config.json");
        expect_model_format(load(&edit("hidden_size", serde_json::json!("big"))), "config.json");
        expect_model_format(load(&edit("num_attention_heads", serde_json::json!(0))), "config.json");
        expect_model_format(load(&edit("num_attention_heads", serde_json::json!(5))), "config.json");
        expect_model_format(load(&edit("hidden_act", serde_json::json!("swish"))), "config.json");
        expect_model_format(load(&edit("max_position_embeddings", serde_json::json!(0))), "config.json");
        assert!(matches!(
            load(&edit("model_type", serde_json::json!("roberta"))),
            Err(Error::UnsupportedArchitecture(t)) if t == "roberta"
        ));
    }

    #[test]
    fn packed_encoder_matches_candle_on_every_option() {
        for options in [
            BertOptions::default(),
            BertOptions { pooling: Pooling::Cls, ..Default::default() },
            BertOptions { normalize: false, ..Default::default() },
            BertOptions { batch_size: 2, max_tokens: 5, ..Default::default() },
        ] {
            let packed = tiny("", options.clone()).unwrap();
            let candle = tiny("bert.", BertOptions { kernels: Kernels::Candle, ..options.clone() }).unwrap();
            assert_ne!(packed.kernel_name(), "candle");
            assert_eq!(candle.kernel_name(), "candle");
            let (a, b) = (packed.embed_batch(TEXTS).unwrap(), candle.embed_batch(TEXTS).unwrap());
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                let c = cosine(x, y);
                assert!(c >= 0.9999, "{options:?}: text {i}: cosine {c}");
                if !options.normalize {
                    let (nx, ny) = (x.iter().map(|v| v * v).sum::<f32>(), y.iter().map(|v| v * v).sum::<f32>());
                    assert!((nx - ny).abs() <= 1e-3 * ny, "{options:?}: unnormalised lengths {nx} vs {ny}");
                }
            }
            let (sa, sb) = (packed.token_states(TEXTS[4]).unwrap(), candle.token_states(TEXTS[4]).unwrap());
            assert_eq!(sa.len(), sb.len());
            assert!(sa.iter().zip(&sb).all(|(x, y)| cosine(x, y) >= 0.9999));
        }
    }

    #[test]
    fn int8_is_opt_in_close_to_f32_and_packed_only() {
        let f32e = tiny("", BertOptions::default()).unwrap();
        let int8 = tiny("", BertOptions { quantize: Quantize::Int8, ..Default::default() }).unwrap();
        assert_eq!(f32e.quantize(), Quantize::None);
        assert_eq!(int8.quantize(), Quantize::Int8);
        assert_eq!(f32e.info(), int8.info(), "the identity does not depend on the precision");
        let (a, b) = (f32e.embed_batch(TEXTS).unwrap(), int8.embed_batch(TEXTS).unwrap());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let c = cosine(x, y);
            assert!(c >= 0.99 && c < 1.0 - 1e-7 || x.iter().all(|v| *v == 0.0), "text {i}: cosine {c}");
        }
        let err = tiny("", BertOptions { quantize: Quantize::Int8, kernels: Kernels::Candle, ..Default::default() });
        assert!(matches!(err, Err(Error::InvalidOption { name: "quantize", .. })));
        assert_eq!(Quantize::parse("int8").unwrap(), Quantize::Int8);
        assert_eq!(Quantize::parse("none").unwrap(), Quantize::None);
        assert!(matches!(Quantize::parse("int4"), Err(Error::InvalidOption { name: "quantize", .. })));
        // An activation the packed encoder lacks: f32 falls back to candle, int8 is an error.
        let mut relu: serde_json::Value = serde_json::from_slice(&tiny_config_json(None)).unwrap();
        relu["hidden_act"] = serde_json::json!("relu");
        let relu = serde_json::to_vec(&relu).unwrap();
        let load = |q| {
            BertEmbedder::from_bytes_with(
                "t",
                &tiny_weights("", 7),
                &tiny_tokenizer_json(),
                &relu,
                BertOptions { quantize: q, ..Default::default() },
            )
        };
        assert_eq!(load(Quantize::None).unwrap().kernel_name(), "candle");
        expect_model_format(load(Quantize::Int8), "config.json");
    }

    #[test]
    fn embedder_can_be_shared_across_threads() {
        // The CLI embeds batches on all cores from one loaded model.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<BertEmbedder>();
    }

    #[test]
    fn hashes_identify_weights_and_tokenizer() {
        let a = tiny("", BertOptions::default()).unwrap();
        let b = BertEmbedder::from_bytes("t", &tiny_weights("", 8), &tiny_tokenizer_json(), &tiny_config_json(None))
            .unwrap();
        assert_eq!(a.info().weights_sha256.len(), 64);
        assert_ne!(a.info().weights_sha256, b.info().weights_sha256);
        assert_eq!(a.info().tokenizer_sha256, b.info().tokenizer_sha256);
        assert_eq!(a.info().tokenizer_sha256, sha256_hex(&tiny_tokenizer_json()));
    }
}

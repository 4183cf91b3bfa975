//! Stage 5 — local generation with quantized GGUF models.
//!
//! The engine decides what is supported and what is cited; the generator only *phrases*
//! (small models measured here neither ground nor cite — see `shared/notes/generation.md`).
//! This module loads a GGUF from bytes and generates text step by step, natively and in
//! wasm with the same code:
//!
//! * [`load_gguf`] reads the file ([`gguf`]), picks the implementation from
//!   `general.architecture` — `llama` (SmolLM2, Llama, Mistral-style), `phi2`, `phi3`,
//!   `gemma3` and `t5` (candle's quantized models; gemma3 is Sotto's own forward pass over
//!   candle's quantized products) — and returns a
//!   `Box<dyn Generator>`. Anything else is [`Error::UnsupportedArchitecture`]. Q4_1/Q5_0/Q5_1
//!   tensors are requantized to Q8_0 on load by default ([`LoadOptions::requantize_to_q8_0`];
//!   [`requantize`] does it to a file for `sotto requantize`).
//! * The tokenizer is rebuilt from the metadata ([`tokenizer`]); the prompt is rendered with
//!   the model's Jinja chat template, never injecting a default system turn ([`template`]).
//! * [`Generator::start`] runs the prompt through the model once (prefill) and
//!   [`Generator::next_token`] produces one token per call (decode, reusing the KV cache), so a
//!   caller can stream, time and cancel between steps. Sampling, stop strings and the loop
//!   guard are in [`sampler`].
//!
//! Core code has no clocks: callers time `start` (prefill, time to first token) and the
//! `next_token` calls (decode); [`GenerationStats`] gives the token counts to divide by.
//!
//! ```ignore
//! use sotto::generate::{load_gguf, ChatMessage, GenerationOptions, LoadOptions, Prompt};
//! let bytes = std::fs::read("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! let mut g = load_gguf(&bytes, &LoadOptions::default())?;
//! let msgs = [ChatMessage::user("What is the capital of France?")];
//! g.start(Prompt::Chat(&msgs), &GenerationOptions::default())?;
//! while let Some(t) = g.next_token()? {
//!     print!("{}", t.text);
//! }
//! assert_eq!(g.text(), "The capital of France is Paris.");
//! ```

mod arch;
pub mod constrain;
pub mod gguf;
mod qgemm;
pub mod sampler;
mod session;
pub mod stream;
pub mod template;
#[doc(hidden)]
pub mod testing;
pub mod tokenizer;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use gguf::requantize;
pub use stream::{stream, stream_constrained, tokens_per_second, StreamedGeneration};
pub use template::{ChatMessage, TemplateSource};
pub use tokenizer::{GgufTokenizer, TokenizerModel, Utf8Stream};

/// How to load a GGUF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    /// Requantize Q4_1, Q5_0 and Q5_1 tensors to Q8_0 while loading (default `true`): candle
    /// has SIMD kernels for Q8_0 but not for those, and the output was measured identical.
    pub requantize_to_q8_0: bool,
    /// Upper bound on the context window, prompt plus generated tokens (default 4096). Also
    /// bounds what models that preallocate their KV cache for the whole context (phi3)
    /// allocate.
    pub max_context: usize,
    /// A Jinja chat template to use instead of the model's `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { requantize_to_q8_0: true, max_context: 4096, chat_template: None }
    }
}

/// Most new tokens one generation may ask for (the context window bounds it further).
pub const MAX_NEW_TOKENS: usize = 1 << 16;
/// Most stop strings of one generation.
pub const MAX_STOP_STRINGS: usize = 64;
/// Longest stop string, in bytes.
pub const MAX_STOP_BYTES: usize = 256;

/// Sampling and stopping parameters for one generation.
///
/// Deserializing refuses unknown fields, and accepts the camelCase spelling JavaScript
/// callers use (`maxNewTokens`, `topK`, …) beside the snake_case one, so a mis-cased
/// option is never silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationOptions {
    /// Maximum number of tokens to generate (default 100). 0 ends at once, after checking
    /// that the prompt fits.
    #[serde(alias = "maxNewTokens")]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 (default) is greedy decoding.
    pub temperature: f64,
    /// Sample only among the `top_k` most likely tokens; 0 (default) disables the cut.
    #[serde(alias = "topK")]
    pub top_k: usize,
    /// Nucleus sampling (Holtzman et al. 2020): smallest set of tokens whose probability
    /// reaches `top_p`; 1.0 (default) disables it.
    #[serde(alias = "topP")]
    pub top_p: f64,
    /// CTRL repetition penalty (Keskar et al. 2019) on tokens seen in the last
    /// `repeat_last_n` positions; 1.0 (default) disables it.
    #[serde(alias = "repetitionPenalty")]
    pub repetition_penalty: f32,
    /// Window of the repetition penalty, in tokens (default 64).
    #[serde(alias = "repeatLastN")]
    pub repeat_last_n: usize,
    /// Stop when the output ends in one n-gram of at most this many tokens repeated
    /// [`sampler::LOOP_REPEATS`] times, or in one block of up to
    /// [`sampler::LOOP_BLOCK_FACTOR`] times as many said twice (default 8; 0 disables the guard).
    #[serde(alias = "loopGuardNgram")]
    pub loop_guard_ngram: usize,
    /// Seed of the sampling RNG (default 42); the same seed gives the same output.
    pub seed: u64,
    /// Generation stops before any of these strings; the string itself is not returned.
    #[serde(alias = "stopStrings")]
    pub stop_strings: Vec<String>,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 100,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            loop_guard_ngram: 8,
            seed: 42,
            stop_strings: Vec::new(),
        }
    }
}

impl GenerationOptions {
    /// Check every parameter's range.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::InvalidOption {
                name: "temperature",
                detail: format!("must be a finite number >= 0, got {}", self.temperature),
            });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidOption {
                name: "top_p",
                detail: format!("must be in (0, 1], got {}", self.top_p),
            });
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(Error::InvalidOption {
                name: "repetition_penalty",
                detail: format!("must be a finite number > 0, got {}", self.repetition_penalty),
            });
        }
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(Error::InvalidOption { name: "stop_strings", detail: "a stop string is empty".into() });
        }
        if self.max_new_tokens > MAX_NEW_TOKENS {
            return Err(Error::InvalidOption {
                name: "max_new_tokens",
                detail: format!("{} is more than the limit of {MAX_NEW_TOKENS}", self.max_new_tokens),
            });
        }
        if self.stop_strings.len() > MAX_STOP_STRINGS || self.stop_strings.iter().any(|s| s.len() > MAX_STOP_BYTES) {
            return Err(Error::InvalidOption {
                name: "stop_strings",
                detail: format!("at most {MAX_STOP_STRINGS} stop strings of at most {MAX_STOP_BYTES} bytes each"),
            });
        }
        Ok(())
    }
}

/// What to generate from.
#[derive(Debug, Clone, Copy)]
pub enum Prompt<'a> {
    /// Text used as is (chat markup included); BOS is added when the model asks for it.
    Text(&'a str),
    /// A conversation, rendered with the chat template and an assistant turn opened.
    Chat(&'a [ChatMessage]),
    /// Token ids used as they are (no BOS added), e.g. a prompt extended with chosen tokens.
    Tokens(&'a [u32]),
}

/// One generated token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenOut {
    /// Token id.
    pub id: u32,
    /// Text that became final with this token: complete UTF-8 characters only, with text
    /// that could start a stop string held back until it is decided. May be empty.
    pub text: String,
    /// 0-based position among the generated tokens.
    pub index: usize,
    /// True for a control token (for instance the end-of-sequence token returned only to
    /// deliver held-back text); such tokens are not counted as generated.
    pub special: bool,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-sequence or end-of-turn token.
    Eos,
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// A stop string appeared.
    StopString,
    /// The loop guard found a repeated n-gram.
    LoopGuard,
    /// The decoding constraint allowed no further token, or reported the output complete
    /// ([`constrain::Constraint`]).
    Constraint,
}

/// Token counts of the current or last generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GenerationStats {
    /// Tokens in the prompt, all processed by the prefill pass in [`Generator::start`].
    pub prefill_tokens: usize,
    /// Tokens fed to the model one at a time by [`Generator::next_token`] (decode passes).
    pub decode_tokens: usize,
    /// Tokens generated and returned (control tokens excluded).
    pub generated_tokens: usize,
    /// Set once the generation has ended.
    pub finish_reason: Option<FinishReason>,
}

/// What was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorInfo {
    /// `general.architecture`.
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Usable context window (prompt + generated tokens).
    pub context_len: usize,
    /// Vocabulary size of the tokenizer.
    pub vocab_size: usize,
    /// Hidden size.
    pub embedding_length: usize,
    /// Number of transformer blocks.
    pub block_count: usize,
    /// Tokenization algorithm.
    pub tokenizer_model: TokenizerModel,
    /// Where the chat template came from.
    pub chat_template: TemplateSource,
    /// Tensor count per quantization type, after requantization.
    pub tensor_types: Vec<(String, usize)>,
    /// Tensors converted to Q8_0 while loading.
    pub requantized_tensors: usize,
    /// Known limitations of the implementation for this architecture.
    pub warnings: Vec<String>,
}

/// A loaded generative model with a step-wise decoding API.
///
/// Object safe; [`load_gguf`] returns `Box<dyn Generator>`. Call order: [`start`](Self::start),
/// then [`next_token`](Self::next_token) until it returns `None`; calling `next_token` before
/// `start`, or again after `None`, is [`Error::WrongState`]. `start` may be called at any
/// time to begin a new generation (the previous one is dropped). After an error inside a
/// step the generation is over; `start` again.
pub trait Generator: Send {
    /// What was loaded.
    fn info(&self) -> &GeneratorInfo;
    /// The tokenizer (for counting and budgeting prompt text).
    fn tokenizer(&self) -> &GgufTokenizer;
    /// Usable context window in tokens (prompt + generated).
    fn context_len(&self) -> usize;
    /// Number of tokens `text` encodes to (no BOS).
    fn count_tokens(&self, text: &str) -> Result<usize>;
    /// The prompt text a conversation renders to (assistant turn opened, no injected system
    /// turn).
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String>;
    /// Encode the prompt, check it fits ([`Error::ContextOverflow`] when prompt +
    /// `max_new_tokens` exceeds the context), and run prefill.
    fn start(&mut self, prompt: Prompt<'_>, opts: &GenerationOptions) -> Result<()>;
    /// [`start`](Self::start) with a decoding constraint: before each token is sampled,
    /// `constraint` masks the logits ([`constrain::Constraint`]); the generation ends with
    /// [`FinishReason::Constraint`] when it allows nothing more.
    fn start_constrained(
        &mut self,
        prompt: Prompt<'_>,
        opts: &GenerationOptions,
        constraint: Box<dyn constrain::Constraint>,
    ) -> Result<()>;
    /// Generate one token; `None` once the generation has ended (see [`finish_reason`](Self::finish_reason)).
    fn next_token(&mut self) -> Result<Option<TokenOut>>;
    /// Why the current generation ended, once it has.
    fn finish_reason(&self) -> Option<FinishReason>;
    /// Token counts of the current or last generation.
    fn stats(&self) -> GenerationStats;
    /// All text returned so far by the current or last generation.
    fn text(&self) -> &str;
    /// Drop the current generation and free its KV cache.
    fn reset(&mut self);
}

/// The result of [`generate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// Generated token ids (control tokens excluded).
    pub ids: Vec<u32>,
    /// Counts and finish reason.
    pub stats: GenerationStats,
}

/// Run a whole generation: `start`, then `next_token` until the end.
pub fn generate(g: &mut dyn Generator, prompt: Prompt<'_>, opts: &GenerationOptions) -> Result<Generation> {
    g.start(prompt, opts)?;
    let mut ids = Vec::new();
    while let Some(t) = g.next_token()? {
        if !t.special {
            ids.push(t.id);
        }
    }
    Ok(Generation { text: g.text().to_string(), ids, stats: g.stats() })
}

/// Load a GGUF held in memory. The architecture comes from `general.architecture`:
/// `llama`, `phi2`, `phi3`, `gemma3` and `t5` are implemented; anything else is
/// [`Error::UnsupportedArchitecture`]. A truncated or inconsistent file, or missing tokenizer
/// metadata, is [`Error::ModelFormat`].
pub fn load_gguf(bytes: &[u8], opts: &LoadOptions) -> Result<Box<dyn Generator>> {
    arch::load(bytes, opts)
}

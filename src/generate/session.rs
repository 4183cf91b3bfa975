//! The decoding state machine shared by every architecture.
//!
//! An architecture only implements [`Backend`]: run a prompt (prefill) and feed one token
//! (decode step), each returning the logits of the next token. [`Session`] does the rest —
//! tokenizing and rendering, context checks, sampling, stop strings, the loop guard, UTF-8
//! reassembly — and implements [`Generator`].

use super::constrain::Constraint;
use super::sampler::{loop_period, Sampler, StopMatcher};
use super::template::ChatTemplate;
use super::tokenizer::{GgufTokenizer, Utf8Stream};
use super::{
    ChatMessage, FinishReason, GenerationOptions, GenerationStats, Generator, GeneratorInfo, Prompt, TokenOut,
};
use crate::error::{Error, Result};

/// One model's forward passes.
pub(crate) trait Backend: Send {
    /// Process the prompt from position 0, replacing any cached state; return the logits
    /// for the token after it.
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    /// Feed `token` at position `pos` (the number of tokens already processed); return the
    /// logits for the next one.
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>>;
    /// Free cached state.
    fn clear(&mut self);
    /// Positions a generation needs for a prompt of `prompt_len` tokens and
    /// `max_new_tokens` new ones (decoder-only: their sum).
    fn positions_needed(&self, prompt_len: usize, max_new_tokens: usize) -> usize {
        prompt_len + max_new_tokens
    }
}

/// A backend chosen at run time.
impl Backend for Box<dyn Backend> {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        (**self).prefill(tokens)
    }
    fn step(&mut self, token: u32, pos: usize) -> Result<Vec<f32>> {
        (**self).step(token, pos)
    }
    fn clear(&mut self) {
        (**self).clear()
    }
    fn positions_needed(&self, prompt_len: usize, max_new_tokens: usize) -> usize {
        (**self).positions_needed(prompt_len, max_new_tokens)
    }
}

struct Run {
    opts: GenerationOptions,
    sampler: Sampler,
    history: Vec<u32>,
    generated: Vec<u32>,
    logits: Vec<f32>,
    utf8: Utf8Stream,
    stops: StopMatcher,
    /// Control tokens that were given as stop strings.
    stop_token_ids: Vec<u32>,
    /// The decoding constraint, if any.
    constraint: Option<Box<dyn Constraint>>,
}

enum State {
    Idle,
    Running(Box<Run>),
    /// The last token was returned; the next call returns `None`.
    Ending,
    Finished,
    Failed,
}

pub(crate) struct Session<B: Backend> {
    pub info: GeneratorInfo,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
    pub backend: B,
    pub context_len: usize,
    state: State,
    stats: GenerationStats,
    text: String,
}

impl<B: Backend> Session<B> {
    pub fn new(info: GeneratorInfo, tokenizer: GgufTokenizer, template: ChatTemplate, backend: B) -> Self {
        let context_len = info.context_len;
        Self {
            info,
            tokenizer,
            template,
            backend,
            context_len,
            state: State::Idle,
            stats: GenerationStats::default(),
            text: String::new(),
        }
    }

    fn end(&mut self, reason: FinishReason) {
        self.stats.finish_reason = Some(reason);
        self.state = State::Ending;
        self.backend.clear();
    }

    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed;
        self.backend.clear();
        e
    }

    fn step_running(&mut self) -> Result<Option<TokenOut>> {
        let State::Running(run) = &mut self.state else {
            return Err(Error::WrongState("internal: not running".into()));
        };
        let blocked = match run.constraint.as_mut() {
            Some(c) => c.is_exhausted() || c.mask(&mut run.logits) == 0,
            None => false,
        };
        if blocked {
            // End as at EOS: deliver text held back for a possible stop string.
            let (mut flush, hit) = run.stops.push(&run.utf8.finish());
            if !hit {
                flush.push_str(&run.stops.take_pending());
            }
            let index = run.generated.len();
            self.end(if hit { FinishReason::StopString } else { FinishReason::Constraint });
            if flush.is_empty() {
                self.state = State::Finished;
                return Ok(None);
            }
            self.text.push_str(&flush);
            let id = self.tokenizer.eos_id().unwrap_or(0);
            return Ok(Some(TokenOut { id, text: flush, index, special: true }));
        }
        let id = run.sampler.sample(&mut run.logits, &run.history)?;
        if let Some(c) = run.constraint.as_mut() {
            c.advance(id);
        }
        let index = run.generated.len();

        let is_eos = self.tokenizer.stop_ids().contains(&id);
        if is_eos || run.stop_token_ids.contains(&id) {
            // Deliver text held back for a possible stop string, if any.
            let mut flush = String::new();
            let mut reason = FinishReason::StopString;
            if is_eos {
                reason = FinishReason::Eos;
                let (t, hit) = run.stops.push(&run.utf8.finish());
                flush.push_str(&t);
                if hit {
                    reason = FinishReason::StopString;
                } else {
                    flush.push_str(&run.stops.take_pending());
                }
            }
            self.end(reason);
            if flush.is_empty() {
                self.state = State::Finished;
                return Ok(None);
            }
            self.text.push_str(&flush);
            return Ok(Some(TokenOut { id, text: flush, index, special: true }));
        }

        run.history.push(id);
        run.generated.push(id);
        let piece = run.utf8.push(self.tokenizer.piece_bytes(id));
        let (mut out, mut hit) = run.stops.push(&piece);
        let mut reason = None;
        if hit {
            reason = Some(FinishReason::StopString);
        } else if run.opts.loop_guard_ngram > 0 && loop_period(&run.generated, run.opts.loop_guard_ngram).is_some() {
            reason = Some(FinishReason::LoopGuard);
        } else if run.generated.len() >= run.opts.max_new_tokens {
            let (t, h) = run.stops.push(&run.utf8.finish());
            out.push_str(&t);
            hit = h;
            if !hit {
                out.push_str(&run.stops.take_pending());
            }
            reason = Some(if hit { FinishReason::StopString } else { FinishReason::MaxTokens });
        }
        self.stats.generated_tokens += 1;
        self.text.push_str(&out);
        let token = TokenOut { id, text: out, index, special: self.tokenizer.is_control(id) };
        match reason {
            Some(r) => self.end(r),
            None => {
                let pos = run.history.len() - 1;
                match self.backend.step(id, pos) {
                    Ok(l) => run.logits = l,
                    Err(e) => return Err(self.fail(e)),
                }
                self.stats.decode_tokens += 1;
            }
        }
        Ok(Some(token))
    }
}

impl<B: Backend> Session<B> {
    fn start_with(
        &mut self,
        prompt: Prompt<'_>,
        opts: &GenerationOptions,
        constraint: Option<Box<dyn Constraint>>,
    ) -> Result<()> {
        opts.validate()?;
        let ids = match prompt {
            Prompt::Text(t) => self.tokenizer.encode(t, true)?,
            Prompt::Chat(m) => {
                let text = self.render_chat(m)?;
                self.tokenizer.encode(&text, true)?
            }
            Prompt::Tokens(ids) => {
                let vocab = self.tokenizer.vocab_size();
                if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
                    return Err(Error::InvalidQuery(format!("token id {bad} is outside the vocabulary of {vocab}")));
                }
                ids.to_vec()
            }
        };
        if ids.is_empty() {
            return Err(Error::InvalidQuery("the prompt encodes to no tokens".into()));
        }
        let needed = self.backend.positions_needed(ids.len(), opts.max_new_tokens);
        if needed > self.context_len {
            return Err(Error::ContextOverflow { tokens: needed, context: self.context_len });
        }
        let stop_token_ids: Vec<u32> = opts
            .stop_strings
            .iter()
            .filter_map(|s| self.tokenizer.token_id(s))
            .filter(|&id| self.tokenizer.is_control(id))
            .collect();
        // Validated: from here on the previous generation is dropped.
        self.state = State::Idle;
        self.text.clear();
        self.stats = GenerationStats { prefill_tokens: ids.len(), ..Default::default() };
        if opts.max_new_tokens == 0 {
            self.backend.clear();
            self.stats.finish_reason = Some(FinishReason::MaxTokens);
            self.state = State::Ending;
            return Ok(());
        }
        let logits = match self.backend.prefill(&ids) {
            Ok(l) => l,
            Err(e) => {
                self.backend.clear();
                return Err(e);
            }
        };
        let sampler = Sampler::new(
            opts.temperature,
            opts.top_k,
            opts.top_p,
            opts.repetition_penalty,
            opts.repeat_last_n,
            opts.seed,
        );
        self.state = State::Running(Box::new(Run {
            opts: opts.clone(),
            sampler,
            history: ids,
            generated: Vec::new(),
            logits,
            utf8: Utf8Stream::new(),
            stops: StopMatcher::new(&opts.stop_strings),
            stop_token_ids,
            constraint,
        }));
        Ok(())
    }
}

impl<B: Backend> Generator for Session<B> {
    fn info(&self) -> &GeneratorInfo {
        &self.info
    }

    fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    fn context_len(&self) -> usize {
        self.context_len
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode(text, false)?.len())
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        self.template.render(messages, true)
    }

    fn start(&mut self, prompt: Prompt<'_>, opts: &GenerationOptions) -> Result<()> {
        self.start_with(prompt, opts, None)
    }

    fn start_constrained(
        &mut self,
        prompt: Prompt<'_>,
        opts: &GenerationOptions,
        constraint: Box<dyn Constraint>,
    ) -> Result<()> {
        self.start_with(prompt, opts, Some(constraint))
    }

    fn next_token(&mut self) -> Result<Option<TokenOut>> {
        match &self.state {
            State::Idle => Err(Error::WrongState("next_token called before start".into())),
            State::Finished => Err(Error::WrongState("next_token called after the generation ended".into())),
            State::Failed => Err(Error::WrongState("the generation failed; call start again".into())),
            State::Ending => {
                self.state = State::Finished;
                Ok(None)
            }
            State::Running(_) => match self.step_running() {
                Ok(t) => Ok(t),
                Err(e) => {
                    if !matches!(self.state, State::Failed) {
                        self.state = State::Failed;
                        self.backend.clear();
                    }
                    Err(e)
                }
            },
        }
    }

    fn finish_reason(&self) -> Option<FinishReason> {
        self.stats.finish_reason
    }

    fn stats(&self) -> GenerationStats {
        self.stats
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn reset(&mut self) {
        self.state = State::Idle;
        self.backend.clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The state machine on a scripted backend: no model weights needed.
    use super::*;
    use crate::generate::gguf::Meta;
    use crate::generate::template::TemplateSource;
    use crate::generate::TokenizerModel;
    use candle_core::quantized::gguf_file::Value;
    use std::collections::HashMap;

    /// Emits a fixed script of tokens (one-hot logits), then EOS forever.
    pub(crate) struct Scripted {
        pub script: Vec<u32>,
        pub vocab: usize,
        pub eos: u32,
        pub fed: usize,
        pub prefills: usize,
    }

    impl Scripted {
        fn logits_for(&self, i: usize) -> Vec<f32> {
            let mut l = vec![0.0; self.vocab];
            let id = self.script.get(i).copied().unwrap_or(self.eos) as usize;
            l[id] = 10.0;
            l
        }
    }

    impl Backend for Scripted {
        fn prefill(&mut self, _tokens: &[u32]) -> Result<Vec<f32>> {
            self.fed = 0;
            self.prefills += 1;
            Ok(self.logits_for(0))
        }
        fn step(&mut self, _token: u32, _pos: usize) -> Result<Vec<f32>> {
            self.fed += 1;
            Ok(self.logits_for(self.fed))
        }
        fn clear(&mut self) {}
    }

    pub(crate) fn tokenizer() -> GgufTokenizer {
        // Byte-level vocabulary: control tokens 0..3, then the 256 byte characters.
        let m: HashMap<String, Value> = crate::generate::tokenizer::tests_support::tiny_gpt2_metadata();
        GgufTokenizer::from_metadata(&Meta(&m), "llama").unwrap()
    }

    pub(crate) fn session(script: &str, context: usize) -> Session<Scripted> {
        let tk = tokenizer();
        let mut ids: Vec<u32> = tk.encode(script, false).unwrap();
        // Replace "|" by EOS (id 2) so scripts can end early.
        let bar = tk.encode("|", false).unwrap()[0];
        ids.iter_mut().for_each(|i| {
            if *i == bar {
                *i = 2
            }
        });
        let info = GeneratorInfo {
            architecture: "test".into(),
            name: None,
            context_len: context,
            vocab_size: tk.vocab_size(),
            embedding_length: 0,
            block_count: 0,
            tokenizer_model: TokenizerModel::ByteLevelBpe,
            chat_template: TemplateSource::BuiltinChatml,
            tensor_types: vec![],
            requantized_tensors: 0,
            warnings: vec![],
        };
        let template = ChatTemplate::new(None, TemplateSource::Model, "", "").unwrap();
        let backend = Scripted { script: ids, vocab: tk.vocab_size(), eos: 2, fed: 0, prefills: 0 };
        Session::new(info, tk, template, backend)
    }

    pub(crate) fn drain(s: &mut Session<Scripted>) -> Vec<TokenOut> {
        let mut v = Vec::new();
        while let Some(t) = s.next_token().unwrap() {
            v.push(t);
        }
        v
    }

    #[test]
    fn call_order_is_enforced() {
        let mut s = session("ab|", 256);
        assert!(matches!(s.next_token(), Err(Error::WrongState(_))));
        s.start(Prompt::Text("hi"), &GenerationOptions::default()).unwrap();
        let toks = drain(&mut s);
        assert_eq!(toks.len(), 2);
        assert_eq!(s.text(), "ab");
        assert_eq!(s.finish_reason(), Some(FinishReason::Eos));
        assert!(matches!(s.next_token(), Err(Error::WrongState(_))));
        // A new start works after the end, and after reset.
        s.start(Prompt::Text("hi"), &GenerationOptions::default()).unwrap();
        assert_eq!(drain(&mut s).len(), 2);
        s.start(Prompt::Text("hi"), &GenerationOptions::default()).unwrap();
        s.reset();
        assert!(matches!(s.next_token(), Err(Error::WrongState(_))));
    }

    #[test]
    fn max_new_tokens_zero_and_limits() {
        let mut s = session("abcdef|", 256);
        let opts = GenerationOptions { max_new_tokens: 0, ..Default::default() };
        s.start(Prompt::Text("hi"), &opts).unwrap();
        assert_eq!(s.next_token().unwrap(), None);
        assert_eq!(s.finish_reason(), Some(FinishReason::MaxTokens));
        assert_eq!(s.backend.prefills, 0, "no prefill is needed for zero tokens");
        let opts = GenerationOptions { max_new_tokens: 3, ..Default::default() };
        s.start(Prompt::Text("hi"), &opts).unwrap();
        assert_eq!(drain(&mut s).len(), 3);
        assert_eq!(s.text(), "abc");
        assert_eq!(s.finish_reason(), Some(FinishReason::MaxTokens));
        let st = s.stats();
        assert_eq!((st.prefill_tokens, st.decode_tokens, st.generated_tokens), (2, 2, 3));
    }

    #[test]
    fn context_overflow_and_bad_options_leave_the_session_usable() {
        let mut s = session("ab|", 8);
        let opts = GenerationOptions { max_new_tokens: 7, ..Default::default() };
        match s.start(Prompt::Text("hi"), &opts) {
            Err(Error::ContextOverflow { tokens: 9, context: 8 }) => {}
            other => panic!("{other:?}"),
        }
        let bad = GenerationOptions { top_p: 0.0, ..Default::default() };
        assert!(matches!(s.start(Prompt::Text("hi"), &bad), Err(Error::InvalidOption { name: "top_p", .. })));
        let bad = GenerationOptions { stop_strings: vec![String::new()], ..Default::default() };
        assert!(matches!(s.start(Prompt::Text("hi"), &bad), Err(Error::InvalidOption { .. })));
        assert!(matches!(s.start(Prompt::Text(""), &GenerationOptions::default()), Err(Error::InvalidQuery(_))));
        let ok = GenerationOptions { max_new_tokens: 6, ..Default::default() };
        s.start(Prompt::Text("hi"), &ok).unwrap();
        assert_eq!(drain(&mut s).len(), 2);
    }

    #[test]
    fn stop_string_spanning_tokens_is_cut_and_never_streamed() {
        let mut s = session("Paris.\n\nUser: more|", 256);
        let opts = GenerationOptions { stop_strings: vec!["\n\nUser:".into()], ..Default::default() };
        s.start(Prompt::Text("q"), &opts).unwrap();
        let toks = drain(&mut s);
        let streamed: String = toks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(streamed, "Paris.");
        assert_eq!(s.text(), "Paris.");
        assert_eq!(s.finish_reason(), Some(FinishReason::StopString));
    }

    #[test]
    fn a_stop_string_that_never_appears_changes_nothing() {
        let mut s = session("ab\nc|", 256);
        let opts = GenerationOptions { stop_strings: vec!["\nZZZ".into()], ..Default::default() };
        s.start(Prompt::Text("q"), &opts).unwrap();
        let toks = drain(&mut s);
        let streamed: String = toks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(streamed, "ab\nc");
        assert_eq!(s.finish_reason(), Some(FinishReason::Eos));
        // The held-back "\n" was delivered by the EOS token, which is marked special.
        let held = "ab\nZ|";
        let mut s = session(held, 256);
        s.start(Prompt::Text("q"), &opts).unwrap();
        let toks = drain(&mut s);
        assert_eq!(toks.last().map(|t| (t.special, t.text.as_str())), Some((true, "\nZ")));
        assert_eq!(s.text(), "ab\nZ");
        assert_eq!(s.stats().generated_tokens, 4);
    }

    #[test]
    fn loop_guard_stops_repetition() {
        let script = format!("{}|", "[1] ".repeat(30));
        let mut s = session(&script, 512);
        let opts = GenerationOptions { max_new_tokens: 200, loop_guard_ngram: 8, ..Default::default() };
        s.start(Prompt::Text("q"), &opts).unwrap();
        let n = drain(&mut s).len();
        assert_eq!(s.finish_reason(), Some(FinishReason::LoopGuard));
        assert!(n <= 16, "stopped after {n} tokens");
        let off = GenerationOptions { loop_guard_ngram: 0, ..opts };
        s.start(Prompt::Text("q"), &off).unwrap();
        drain(&mut s);
        assert_eq!(s.finish_reason(), Some(FinishReason::Eos));
    }

    #[test]
    fn multibyte_characters_split_across_tokens_stream_whole() {
        // With byte-level pieces, "é" and "🦀" are several tokens each.
        let mut s = session("é🦀!|", 256);
        s.start(Prompt::Text("q"), &GenerationOptions::default()).unwrap();
        let toks = drain(&mut s);
        assert!(toks.len() > 3);
        for t in &toks {
            assert!(!t.text.contains('\u{fffd}'));
        }
        assert_eq!(s.text(), "é🦀!");
    }

    #[test]
    fn chat_prompts_use_the_template() {
        let s = session("|", 256);
        let out = s.render_chat(&[ChatMessage::user("Hi")]).unwrap();
        assert_eq!(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }
}

//! Chat templates: `tokenizer.chat_template` rendered with a real Jinja engine (minijinja).
//!
//! Models expect their conversation in the markup they were fine-tuned on; the GGUF carries
//! it as a Jinja template, the same one transformers' `apply_chat_template` renders. The
//! environment mirrors transformers': `trim_blocks` and `lstrip_blocks` on, lenient undefined
//! values, `raise_exception(msg)`, `tojson`, and the Python string/dict methods templates use
//! (`strip`, `startswith`, `split`, `items`, `get` …). A fuel limit bounds the work a template
//! from an untrusted file can do.
//!
//! ## No injected default system turn
//! Several templates (SmolLM2, Qwen2.5 …) add a default system turn when the conversation has
//! none — SmolLM2's "You are a helpful AI assistant named SmolLM, trained by Hugging Face".
//! With it, SmolLM2-135M failed even "What is the capital of France?"; without it, it answers
//! correctly. [`ChatTemplate::render`] therefore renders only the messages given: when the
//! first message is not a system message it locates the template's system-turn wrapper by
//! rendering a system turn holding a sentinel, and if the rendered conversation opens with
//! such a turn that the caller did not ask for, that turn is cut out. Templates that fold a
//! system message into the first user turn (Llama 2, Gemma) never start with a bare system
//! wrapper and are left untouched.
//!
//! Models without a template get ChatML (`<|im_start|>role\n…<|im_end|>\n`), also without a
//! default system turn.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error as MjError, ErrorKind, State, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: content.into() }
    }
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Where the template came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TemplateSource {
    /// `tokenizer.chat_template` in the GGUF.
    Model,
    /// Supplied by the caller ([`LoadOptions::chat_template`](super::LoadOptions::chat_template)).
    Override,
    /// The built-in ChatML fallback.
    BuiltinChatml,
    /// The built-in plain fallback of encoder-decoder models: message contents separated
    /// by blank lines, no markup.
    BuiltinPlain,
}

const TEMPLATE_NAME: &str = "chat";
const PLAIN: &str =
    "{% for message in messages %}{{ message['content'] }}{% if not loop.last %}{{ '\n\n' }}{% endif %}{% endfor %}";
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
/// Instructions a template may execute per render; generous for any real chat template.
const FUEL: u64 = 2_000_000;
/// Marks the content of the probing system turn; private-use characters no model emits.
const SENTINEL: &str = "\u{E000}sotto-system-probe\u{E001}";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: TemplateSource,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("source", &self.source).finish()
    }
}

#[derive(Serialize)]
struct Ctx<'a> {
    messages: &'a [ChatMessage],
    add_generation_prompt: bool,
    bos_token: &'a str,
    eos_token: &'a str,
}

fn template_err(e: MjError) -> Error {
    Error::model("chat template", format!("{e:#}"))
}

impl ChatTemplate {
    /// Compile `template` (or the ChatML fallback when `None`). A template that does not
    /// parse is an [`Error::ModelFormat`].
    pub fn new(template: Option<&str>, source: TemplateSource, bos_token: &str, eos_token: &str) -> Result<Self> {
        let (text, source) = match template {
            Some(t) => (t.to_string(), source),
            None => (CHATML.to_string(), TemplateSource::BuiltinChatml),
        };
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(FUEL));
        env.add_function("raise_exception", |msg: String| -> std::result::Result<Value, MjError> {
            Err(MjError::new(ErrorKind::InvalidOperation, msg))
        });
        env.set_unknown_method_callback(python_methods);
        env.add_template_owned(TEMPLATE_NAME, text).map_err(template_err)?;
        Ok(Self { env, source, bos_token: bos_token.to_string(), eos_token: eos_token.to_string() })
    }

    /// The plain fallback for models that are not chat models (T5).
    pub fn plain(bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut t = Self::new(Some(PLAIN), TemplateSource::BuiltinPlain, bos_token, eos_token)?;
        t.source = TemplateSource::BuiltinPlain;
        Ok(t)
    }

    /// Where the template came from.
    pub fn source(&self) -> TemplateSource {
        self.source
    }

    fn raw(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let tpl = self.env.get_template(TEMPLATE_NAME).map_err(template_err)?;
        tpl.render(Ctx { messages, add_generation_prompt, bos_token: &self.bos_token, eos_token: &self.eos_token })
            .map_err(template_err)
    }

    /// Render `messages`, with the assistant prompt appended when `add_generation_prompt`,
    /// and without any system turn the caller did not give (see the module docs).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let full = self.raw(messages, add_generation_prompt)?;
        if messages.first().is_some_and(|m| m.role == "system") {
            return Ok(full);
        }
        Ok(self.strip_injected_system(&full).unwrap_or(full))
    }

    fn strip_injected_system(&self, full: &str) -> Option<String> {
        let empty = self.raw(&[], false).ok()?;
        let sys_only = self.raw(&[ChatMessage::system(SENTINEL)], false).ok()?;
        let at = sys_only.find(SENTINEL)?;
        let open = sys_only[..at].strip_prefix(empty.as_str())?;
        let close = &sys_only[at + SENTINEL.len()..];
        if open.is_empty() || close.is_empty() {
            return None;
        }
        let after_open = full.strip_prefix(empty.as_str())?.strip_prefix(open)?;
        let end = after_open.find(close)?;
        Some(format!("{empty}{}", &after_open[end + close.len()..]))
    }
}

fn str_arg(args: &[Value], i: usize) -> Option<&str> {
    args.get(i).and_then(|v| v.as_str())
}

/// The Python `str` and `dict` methods chat templates call.
fn python_methods(_state: &State, value: &Value, method: &str, args: &[Value]) -> std::result::Result<Value, MjError> {
    if let Some(s) = value.as_str() {
        let chars: Option<Vec<char>> = str_arg(args, 0).map(|c| c.chars().collect());
        let strip_set = |c: char| match &chars {
            Some(set) => set.contains(&c),
            None => c.is_whitespace(),
        };
        let affix = |f: &dyn Fn(&str) -> bool| -> std::result::Result<Value, MjError> {
            match args.first() {
                Some(v) if v.kind() == ValueKind::Seq => {
                    let mut any = false;
                    for item in v.try_iter()? {
                        any |= item.as_str().is_some_and(f);
                    }
                    Ok(Value::from(any))
                }
                Some(v) => Ok(Value::from(v.as_str().is_some_and(f))),
                None => Err(MjError::new(ErrorKind::MissingArgument, "missing prefix")),
            }
        };
        return match method {
            "strip" => Ok(Value::from(s.trim_matches(strip_set))),
            "lstrip" => Ok(Value::from(s.trim_start_matches(strip_set))),
            "rstrip" => Ok(Value::from(s.trim_end_matches(strip_set))),
            "startswith" => affix(&|p| s.starts_with(p)),
            "endswith" => affix(&|p| s.ends_with(p)),
            "upper" => Ok(Value::from(s.to_uppercase())),
            "lower" => Ok(Value::from(s.to_lowercase())),
            "replace" => match (str_arg(args, 0), str_arg(args, 1)) {
                (Some(a), Some(b)) => Ok(Value::from(s.replace(a, b))),
                _ => Err(MjError::new(ErrorKind::MissingArgument, "replace(old, new)")),
            },
            "split" => {
                let parts: Vec<Value> = match str_arg(args, 0) {
                    Some(sep) if !sep.is_empty() => s.split(sep).map(Value::from).collect(),
                    _ => s.split_whitespace().map(Value::from).collect(),
                };
                Ok(Value::from(parts))
            }
            "find" => match str_arg(args, 0) {
                Some(sub) => Ok(Value::from(s.find(sub).map(|i| s[..i].chars().count() as i64).unwrap_or(-1))),
                None => Err(MjError::new(ErrorKind::MissingArgument, "find(sub)")),
            },
            _ => Err(MjError::from(ErrorKind::UnknownMethod)),
        };
    }
    if value.kind() == ValueKind::Map {
        return match method {
            "items" => {
                let mut out = Vec::new();
                for k in value.try_iter()? {
                    let v = value.get_item(&k)?;
                    out.push(Value::from(vec![k, v]));
                }
                Ok(Value::from(out))
            }
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => {
                let mut out = Vec::new();
                for k in value.try_iter()? {
                    out.push(value.get_item(&k)?);
                }
                Ok(Value::from(out))
            }
            "get" => {
                let key = args.first().cloned().unwrap_or(Value::UNDEFINED);
                let v = value.get_item(&key)?;
                Ok(if v.is_undefined() { args.get(1).cloned().unwrap_or(Value::from(())) } else { v })
            }
            _ => Err(MjError::from(ErrorKind::UnknownMethod)),
        };
    }
    Err(MjError::from(ErrorKind::UnknownMethod))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn smollm2() -> ChatTemplate {
        ChatTemplate::new(Some(SMOLLM2), TemplateSource::Model, "<|im_start|>", "<|im_end|>").unwrap()
    }

    #[test]
    fn smollm2_default_system_line_is_not_injected() {
        let t = smollm2();
        let out = t.render(&[ChatMessage::user("What is the capital of France?")], true).unwrap();
        assert_eq!(out, "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
        assert!(!out.contains("SmolLM"));
        // The raw template does inject it.
        assert!(t.raw(&[ChatMessage::user("x")], true).unwrap().contains("named SmolLM"));
    }

    #[test]
    fn explicit_system_message_is_kept() {
        let t = smollm2();
        let out = t
            .render(
                &[ChatMessage::system("Be brief."), ChatMessage::user("Hi"), ChatMessage::assistant("Hello")],
                false,
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
        );
    }

    #[test]
    fn plain_fallback_joins_contents() {
        let t = ChatTemplate::plain("", "</s>").unwrap();
        let out = t.render(&[ChatMessage::system("Summarize:"), ChatMessage::user("a b")], true).unwrap();
        assert_eq!(out, "Summarize:\n\na b");
    }

    #[test]
    fn fallback_is_chatml() {
        let t = ChatTemplate::new(None, TemplateSource::Model, "", "").unwrap();
        assert_eq!(t.source(), TemplateSource::BuiltinChatml);
        assert_eq!(
            t.render(&[ChatMessage::user("Hi")], true).unwrap(),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn folding_templates_are_untouched_and_bos_is_available() {
        // Gemma-like: system text folded into the first user turn, BOS written by the template.
        let gemma = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\n\n' %}{% set msgs = messages[1:] %}{% else %}{% set first = '' %}{% set msgs = messages %}{% endif %}{% for m in msgs %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ (first if loop.first else '') + m['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";
        let t = ChatTemplate::new(Some(gemma), TemplateSource::Model, "<bos>", "<eos>").unwrap();
        let out = t.render(&[ChatMessage::user(" Hi ")], true).unwrap();
        assert_eq!(out, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
    }

    #[test]
    fn python_methods_and_raise_exception() {
        let tpl = "{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}{{ m['content'].strip().upper() }}|{{ m.get('role') }}|{{ m['content'].startswith((' a', 'z')) }}{% endfor %}";
        let t = ChatTemplate::new(Some(tpl), TemplateSource::Override, "", "").unwrap();
        assert_eq!(t.render(&[ChatMessage::user(" ab ")], false).unwrap(), "AB|user|True");
        let err = t.render(&[ChatMessage::new("tool", "x")], false).unwrap_err();
        assert!(matches!(err, Error::ModelFormat { .. }), "{err:?}");
    }

    #[test]
    fn broken_or_runaway_templates_are_errors() {
        assert!(matches!(
            ChatTemplate::new(Some("{% for %}"), TemplateSource::Model, "", ""),
            Err(Error::ModelFormat { .. })
        ));
        let t = ChatTemplate::new(
            Some("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
            TemplateSource::Model,
            "",
            "",
        )
        .unwrap();
        assert!(matches!(t.render(&[], false), Err(Error::ModelFormat { .. })));
    }
}

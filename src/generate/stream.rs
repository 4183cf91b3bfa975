//! One generation loop for every caller — the engine's generative answers, the wasm
//! `chat` export, the CLI and benchmarks: prefill, then one token per step, each piece of
//! text offered to a callback that may cancel, with prefill and decode timed by the
//! caller's clock (core code has none).

use serde::Serialize;

use super::constrain::Constraint;
use super::{GenerationOptions, GenerationStats, Generator, Prompt};
use crate::error::Result;

/// Tokens per second from a count and milliseconds (0 when no time passed).
pub fn tokens_per_second(tokens: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        tokens as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// A finished (or cancelled) streamed generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamedGeneration {
    /// The text generated (up to the cancellation, if any).
    pub text: String,
    /// Token counts and finish reason.
    pub stats: GenerationStats,
    /// Time of the prefill pass (`start`): the time to the first token's logits.
    pub prefill_ms: f64,
    /// Time of all decode steps.
    pub decode_ms: f64,
    /// Prompt tokens per second of prefill.
    pub prefill_tokens_per_s: f64,
    /// Decode passes per second.
    pub decode_tokens_per_s: f64,
    /// Whether `on_text` stopped the generation.
    pub cancelled: bool,
}

/// Run `prompt` through `g`, streaming non-empty text pieces to `on_text` (which returns
/// `false` to stop). `clock` returns milliseconds. The generator keeps its state (call
/// [`Generator::reset`] to free the KV cache).
pub fn stream(
    g: &mut dyn Generator,
    prompt: Prompt<'_>,
    opts: &GenerationOptions,
    clock: &dyn Fn() -> f64,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<StreamedGeneration> {
    stream_constrained(g, prompt, opts, None, clock, on_text)
}

/// [`stream`] under a decoding constraint (none with `None`).
pub fn stream_constrained(
    g: &mut dyn Generator,
    prompt: Prompt<'_>,
    opts: &GenerationOptions,
    constraint: Option<Box<dyn Constraint>>,
    clock: &dyn Fn() -> f64,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<StreamedGeneration> {
    let t0 = clock();
    match constraint {
        Some(c) => g.start_constrained(prompt, opts, c)?,
        None => g.start(prompt, opts)?,
    }
    let t1 = clock();
    let mut cancelled = false;
    while let Some(tok) = g.next_token()? {
        if !tok.text.is_empty() && !on_text(&tok.text) {
            cancelled = true;
            break;
        }
    }
    let t2 = clock();
    let stats = g.stats();
    Ok(StreamedGeneration {
        text: g.text().to_owned(),
        stats,
        prefill_ms: t1 - t0,
        decode_ms: t2 - t1,
        prefill_tokens_per_s: tokens_per_second(stats.prefill_tokens, t1 - t0),
        decode_tokens_per_s: tokens_per_second(stats.decode_tokens, t2 - t1),
        cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_zero_without_elapsed_time() {
        assert_eq!(tokens_per_second(10, 0.0), 0.0);
        assert_eq!(tokens_per_second(10, 500.0), 20.0);
    }
}

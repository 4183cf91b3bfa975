//! Choosing the next token, and deciding when to stop.
//!
//! * [`Sampler`]: greedy (argmax) when `temperature == 0`, otherwise temperature-scaled
//!   softmax sampling restricted by top-k and nucleus top-p (Holtzman et al. 2020), from a
//!   seeded RNG so runs are reproducible. Before either, the CTRL repetition penalty
//!   (Keskar et al. 2019) divides positive logits (multiplies negative ones) of tokens seen in
//!   the last `repeat_last_n` positions.
//! * [`loop_period`]: small models fall into loops (`[1] [2] [1] [2] …`, or a whole sentence
//!   said again and again); generation stops when the tail of the output is one short n-gram
//!   repeated, or one longer block (a sentence) twice in a row — with greedy decoding the
//!   same context then repeats it until the token limit.
//! * [`StopMatcher`]: stop strings, found in the decoded text even when they span several
//!   tokens. Text that might be the start of a stop string is held back until it is known not
//!   to be, so a caller never receives a partial stop string.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// How many times an n-gram must repeat back to back to count as a loop.
pub const LOOP_REPEATS: usize = 3;
/// A loop must also span at least this many tokens (so "000" in a number is not one).
pub const LOOP_MIN_SPAN: usize = 12;

/// Blocks longer than the n-gram bound, up to this many times it, count as a loop when
/// they appear twice back to back (a repeated sentence).
pub const LOOP_BLOCK_FACTOR: usize = 8;

/// Picks tokens from logits according to [`super::GenerationOptions`].
#[derive(Debug, Clone)]
pub struct Sampler {
    temperature: f64,
    top_k: usize,
    top_p: f64,
    repetition_penalty: f32,
    repeat_last_n: usize,
    rng: StdRng,
}

impl Sampler {
    /// A sampler; parameters must already be validated.
    pub fn new(
        temperature: f64,
        top_k: usize,
        top_p: f64,
        repetition_penalty: f32,
        repeat_last_n: usize,
        seed: u64,
    ) -> Self {
        Self { temperature, top_k, top_p, repetition_penalty, repeat_last_n, rng: StdRng::seed_from_u64(seed) }
    }

    /// Choose the next token given the logits and all tokens so far (prompt + generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::Candle("the model returned no logits".into()));
        }
        if self.repetition_penalty != 1.0 && self.repeat_last_n > 0 {
            let start = history.len().saturating_sub(self.repeat_last_n);
            let mut seen: Vec<u32> = history[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l >= 0.0 { *l / self.repetition_penalty } else { *l * self.repetition_penalty };
                }
            }
        }
        if logits.iter().any(|l| l.is_nan()) {
            return Err(Error::Candle("the model returned NaN logits".into()));
        }
        if self.temperature <= 0.0 {
            return Ok(argmax(logits));
        }
        // Candidates sorted by logit, best first; ties keep the lower id first.
        let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
        idx.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        if self.top_k > 0 && self.top_k < idx.len() {
            idx.truncate(self.top_k);
        }
        let max = logits[idx[0] as usize] as f64;
        let mut probs: Vec<f64> =
            idx.iter().map(|&i| ((logits[i as usize] as f64 - max) / self.temperature).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if self.top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                cum += p;
                if cum >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            idx.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut r = self.rng.gen::<f64>() * total;
        for (p, id) in probs.iter().zip(&idx) {
            if r < *p {
                return Ok(*id);
            }
            r -= p;
        }
        Ok(*idx.last().unwrap_or(&0))
    }
}

/// Index of the largest logit (the first one on ties, like `torch.argmax`).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// If the end of `generated` is one n-gram (n ≤ `max_ngram`) repeated [`LOOP_REPEATS`] times
/// back to back over at least [`LOOP_MIN_SPAN`] tokens, or one block of up to
/// `max_ngram × LOOP_BLOCK_FACTOR` tokens (and at least [`LOOP_MIN_SPAN`]) twice back to back,
/// return its length. `max_ngram == 0` disables the guard.
pub fn loop_period(generated: &[u32], max_ngram: usize) -> Option<usize> {
    for p in 1..=max_ngram {
        let span = (p * LOOP_REPEATS).max(LOOP_MIN_SPAN);
        if generated.len() < span {
            continue;
        }
        let tail = &generated[generated.len() - span..];
        if (p..span).all(|i| tail[i] == tail[i - p]) {
            return Some(p);
        }
    }
    let first_block = (max_ngram + 1).max(LOOP_MIN_SPAN);
    for p in first_block..=max_ngram * LOOP_BLOCK_FACTOR {
        if generated.len() < 2 * p {
            break;
        }
        let tail = &generated[generated.len() - 2 * p..];
        if tail[..p] == tail[p..] {
            return Some(p);
        }
    }
    None
}

/// Finds stop strings in streamed text and holds back what could be the start of one.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

impl StopMatcher {
    /// A matcher for the given (non-empty) stop strings.
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.to_vec(), pending: String::new() }
    }

    /// Add decoded text. Returns the text that is safe to emit, and whether a stop string
    /// was found (the returned text then ends just before it and the rest is discarded).
    pub fn push(&mut self, text: &str) -> (String, bool) {
        self.pending.push_str(text);
        if self.stops.is_empty() {
            return (std::mem::take(&mut self.pending), false);
        }
        let first_hit = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min();
        if let Some(at) = first_hit {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return (out, true);
        }
        // Longest suffix of pending that is a proper prefix of some stop string.
        let mut hold = 0;
        for (start, _) in self.pending.char_indices() {
            let suffix = &self.pending[start..];
            if self.stops.iter().any(|s| s.starts_with(suffix)) {
                hold = self.pending.len() - start;
                break;
            }
        }
        let cut = self.pending.len() - hold;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        (out, false)
    }

    /// Text held back so far (emitted when generation ends without a stop string).
    pub fn take_pending(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn greedy_takes_first_max() {
        let mut s = Sampler::new(0.0, 0, 1.0, 1.0, 64, 1);
        assert_eq!(s.sample(&mut [0.1, 0.9, 0.9, -1.0], &[]).unwrap(), 1);
    }

    #[test]
    fn repetition_penalty_can_change_the_argmax() {
        let mut s = Sampler::new(0.0, 0, 1.0, 2.0, 64, 1);
        assert_eq!(s.sample(&mut [1.0, 1.5, -3.0], &[1]).unwrap(), 0);
        // Outside the window the penalty does not apply.
        let mut s = Sampler::new(0.0, 0, 1.0, 2.0, 1, 1);
        assert_eq!(s.sample(&mut [1.0, 1.5, -3.0], &[1, 2]).unwrap(), 1);
    }

    #[test]
    fn nan_logits_are_an_error() {
        let mut s = Sampler::new(0.7, 0, 1.0, 1.0, 64, 1);
        assert!(s.sample(&mut [f32::NAN, 1.0], &[]).is_err());
        assert!(s.sample(&mut [], &[]).is_err());
    }

    #[test]
    fn top_k_one_is_greedy_and_seed_reproduces() {
        let logits = [0.3f32, 2.0, 1.9, 0.0, -1.0];
        let mut s = Sampler::new(1.0, 1, 1.0, 1.0, 64, 7);
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits.clone(), &[]).unwrap(), 1);
        }
        let draw = |seed| {
            let mut s = Sampler::new(1.5, 0, 1.0, 1.0, 64, seed);
            (0..50).map(|_| s.sample(&mut logits.clone(), &[]).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().any(|&t| t != 1), "temperature 1.5 should explore");
    }

    #[test]
    fn top_p_restricts_to_the_nucleus() {
        // p(0) ≈ 0.88: with top_p 0.5 only token 0 may be drawn.
        let logits = [4.0f32, 2.0, 1.0, 0.0];
        let mut s = Sampler::new(1.0, 0, 0.5, 1.0, 64, 11);
        for _ in 0..50 {
            assert_eq!(s.sample(&mut logits.clone(), &[]).unwrap(), 0);
        }
    }

    #[test]
    fn loop_guard_detects_repeated_ngrams_only() {
        let mut seq: Vec<u32> = vec![5, 6, 7];
        for _ in 0..3 {
            seq.extend([1, 2, 3, 4]);
        }
        assert_eq!(loop_period(&seq, 8), Some(4));
        assert_eq!(loop_period(&seq, 3), None);
        assert_eq!(loop_period(&[9; 11], 4), None, "shorter than the minimum span");
        assert_eq!(loop_period(&[9; 12], 4), Some(1));
        let varied: Vec<u32> = (0..40).collect();
        assert_eq!(loop_period(&varied, 16), None);
        assert_eq!(loop_period(&seq, 0), None);
    }

    #[test]
    fn loop_guard_detects_a_sentence_said_twice() {
        let sentence: Vec<u32> = (100..120).collect();
        let mut out: Vec<u32> = vec![1, 2, 3];
        out.extend(&sentence);
        assert_eq!(loop_period(&out, 8), None, "once is not a loop");
        out.extend(&sentence[..19]);
        assert_eq!(loop_period(&out, 8), None, "not yet complete");
        out.push(sentence[19]);
        assert_eq!(loop_period(&out, 8), Some(20));
        assert_eq!(loop_period(&out, 2), None, "longer than 2 × 8 tokens");
        assert_eq!(loop_period(&out, 0), None);
        // The same sentence with one token changed is not a loop.
        let mut near = sentence.clone();
        near[7] = 7;
        let mut out: Vec<u32> = sentence.clone();
        out.extend(&near);
        assert_eq!(loop_period(&out, 8), None);
        // Blocks shorter than the minimum span need the three repeats of the n-gram rule.
        let short: Vec<u32> = (50..60).collect();
        assert_eq!(loop_period(&[short.clone(), short].concat(), 8), None);
    }

    #[test]
    fn stop_strings_across_pushes() {
        let mut m = StopMatcher::new(&["\n\nUser:".to_string()]);
        assert_eq!(m.push("Paris"), ("Paris".to_string(), false));
        assert_eq!(m.push(".\n"), (".".to_string(), false));
        assert_eq!(m.push("\nUs"), (String::new(), false));
        assert_eq!(m.push("er: next"), (String::new(), true));
        let mut m = StopMatcher::new(&["END".to_string()]);
        assert_eq!(m.push("the E"), ("the ".to_string(), false));
        assert_eq!(m.push("xit"), ("Exit".to_string(), false));
        assert_eq!(m.push("EN"), (String::new(), false));
        assert_eq!(m.take_pending(), "EN");
    }

    proptest! {
        /// Whatever the chunking, emitted text + held text is the input cut at the first stop.
        #[test]
        fn stop_matcher_is_chunking_invariant(text in "[abAB \n]{0,60}", cuts in proptest::collection::vec(0usize..61, 0..6)) {
            let stops = vec!["ab\n".to_string(), "BA".to_string()];
            let expected = match stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                Some(i) => (text[..i].to_string(), true),
                None => (text.clone(), false),
            };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut m = StopMatcher::new(&stops);
            let mut out = String::new();
            let mut prev = 0;
            let mut stopped = false;
            for c in cuts.into_iter().chain([text.len()]) {
                let (t, s) = m.push(&text[prev..c]);
                out.push_str(&t);
                prev = c;
                if s { stopped = true; break; }
            }
            if !stopped { out.push_str(&m.take_pending()); }
            prop_assert_eq!((out, stopped), expected);
        }
    }
}

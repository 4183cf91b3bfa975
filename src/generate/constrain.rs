//! Constrained decoding: a per-step mask over the vocabulary, so the generator can only
//! write outputs of an allowed shape.
//!
//! A [`Constraint`] sees the logits before sampling and sets every token it forbids to
//! `-inf`; after sampling it is told the chosen token. A mask that leaves nothing allowed
//! ends the generation cleanly ([`super::FinishReason::Constraint`]), as does a constraint
//! that reports itself exhausted. The mechanism is the one used by grammar-constrained
//! decoding in llama.cpp (GBNF) and Outlines (Willard & Louf 2023, "Efficient Guided
//! Generation for Large Language Models"): the allowed set is computed from an automaton
//! over the bytes each token adds, not from the model.
//!
//! [`CopyConstraint`] is the copy constraint of grounded answers: every word the model
//! writes must be a word of the packed source sentences, a word of a small closed list
//! (function words, given by the caller), or a citation number, and punctuation is
//! limited to ordinary sentence punctuation. A content word can therefore only come from
//! a source — the output is attributable by construction — while the model still chooses
//! the order and the function words. A word matches as written, or with its first
//! letter's case switched (a sentence may start with a source word). Words are runs of
//! non-space bytes with leading and trailing punctuation stripped, so `Cargo.lock`,
//! `--locked` and `CARGO_HOME` are single words, as in the sources; a `-` may open a word
//! but not end one.
//!
//! Cost: per step, a walk of the vocabulary's byte trie ([`PieceTrie`], built once per
//! tokenizer) together with the automaton, leaving every subtree whose prefix is refused;
//! the allowed list of a state is cached (the between-words state always), so most steps
//! reuse one. Measured by `examples/constrain_cost.rs`.

use std::collections::HashMap;

use super::tokenizer::{GgufTokenizer, PieceTrie};

/// A per-step restriction of the next token.
pub trait Constraint: Send {
    /// Forbid tokens by setting their logits to `f32::NEG_INFINITY`. Returns how many
    /// tokens remain allowed; 0 ends the generation.
    fn mask(&mut self, logits: &mut [f32]) -> usize;
    /// The token that was chosen (always one `mask` allowed).
    fn advance(&mut self, token: u32);
    /// Whether the output is complete: the generation ends before the next token.
    fn is_exhausted(&self) -> bool {
        false
    }
}

/// Punctuation a copy-constrained answer may use before a word.
const PUNCT: &[u8] = b".,;:!?()\"'`[]-";
/// Punctuation it may use after a word: not `-`, which would let the model glue words
/// into new ones (`file-and-file-`, measured).
const TRAIL_PUNCT: &[u8] = b".,;:!?()\"'`[]";

/// A byte trie of allowed words (case-sensitive: see [`Trie::insert_word`]).
#[derive(Debug, Default)]
struct Trie {
    /// Children per node, sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    terminal: Vec<bool>,
}

impl Trie {
    fn new() -> Self {
        Trie { children: vec![Vec::new()], terminal: vec![false] }
    }

    fn child(&self, node: u32, b: u8) -> Option<u32> {
        let c = &self.children[node as usize];
        c.binary_search_by_key(&b, |&(k, _)| k).ok().map(|i| c[i].1)
    }

    /// A word as written, and with its first letter's case switched (a sentence may start
    /// with a source word, or quote a capitalised one mid-sentence) — but no other case
    /// change, so `shouLd` is not `should` (measured: case-insensitive matching let the
    /// model write it).
    fn insert_word(&mut self, word: &[u8]) {
        self.insert(word);
        if let Some(&first) = word.first() {
            if first.is_ascii_alphabetic() {
                let mut other = word.to_vec();
                other[0] =
                    if first.is_ascii_uppercase() { first.to_ascii_lowercase() } else { first.to_ascii_uppercase() };
                self.insert(&other);
            }
        }
    }

    fn insert(&mut self, word: &[u8]) {
        let mut node = 0u32;
        for &b in word {
            node = match self.child(node, b) {
                Some(n) => n,
                None => {
                    let n = self.children.len() as u32;
                    self.children.push(Vec::new());
                    self.terminal.push(false);
                    let c = &mut self.children[node as usize];
                    let at = c.partition_point(|&(k, _)| k < b);
                    c.insert(at, (b, n));
                    n
                }
            };
        }
        self.terminal[node as usize] = true;
    }
}

/// Where the automaton is inside the current run of non-space bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum At {
    /// Between words (after whitespace, or at the start).
    Boundary,
    /// Only leading punctuation so far.
    Lead,
    /// Inside a word, at this trie node.
    Word(u32),
    /// After a complete word: trailing punctuation only.
    Trail,
}

/// The automaton's state: every reading of the bytes so far that is still possible
/// (a `-` may open `--locked` or be a dash, so there can be several; at most one of each
/// kind, since the word trie is deterministic). Kept inline and sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct States {
    at: [At; 4],
    len: u8,
}

impl States {
    const BOUNDARY: States = States { at: [At::Boundary; 4], len: 1 };
    const EMPTY: States = States { at: [At::Boundary; 4], len: 0 };

    fn as_slice(&self) -> &[At] {
        &self.at[..self.len as usize]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, a: At) {
        let n = self.len as usize;
        if self.at[..n].contains(&a) || n == self.at.len() {
            return;
        }
        self.at[n] = a;
        self.len += 1;
        self.at[..=n].sort_unstable();
    }
}

/// The copy constraint: see the module documentation.
pub struct CopyConstraint {
    trie: Trie,
    /// The vocabulary as a byte trie (shared with the tokenizer), walked with the automaton.
    pieces: std::sync::Arc<PieceTrie>,
    /// End of sequence / end of turn: allowed between words and after a whole word.
    stops: Vec<u32>,
    states: States,
    /// Allowed tokens per automaton state, for states seen before.
    cache: HashMap<States, std::sync::Arc<Vec<u32>>>,
    /// Most states cached (the between-words state is always among them).
    cache_limit: usize,
}

impl std::fmt::Debug for CopyConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyConstraint").field("words", &self.trie.terminal.iter().filter(|t| **t).count()).finish()
    }
}

impl CopyConstraint {
    /// Allow the words of `sources`, the words in `free_words`, and the citation numbers
    /// `1..=citations`, with `tokenizer`'s vocabulary.
    pub fn new<'a>(
        tokenizer: &GgufTokenizer,
        sources: impl IntoIterator<Item = &'a str>,
        free_words: impl IntoIterator<Item = &'a str>,
        citations: usize,
    ) -> Self {
        let mut trie = Trie::new();
        let add_text = |trie: &mut Trie, text: &str| {
            for run in text.split_whitespace() {
                let core = run
                    .trim_start_matches(|c: char| c.is_ascii() && PUNCT.contains(&(c as u8)))
                    .trim_end_matches(|c: char| c.is_ascii() && TRAIL_PUNCT.contains(&(c as u8)));
                if !core.is_empty() {
                    trie.insert_word(core.as_bytes());
                }
            }
        };
        for s in sources {
            add_text(&mut trie, s);
        }
        for w in free_words {
            add_text(&mut trie, w);
        }
        for n in 1..=citations {
            trie.insert_word(n.to_string().as_bytes());
        }
        CopyConstraint {
            trie,
            pieces: tokenizer.piece_trie(),
            stops: tokenizer.stop_ids().to_vec(),
            states: States::BOUNDARY,
            cache: HashMap::new(),
            cache_limit: 64,
        }
    }

    /// One byte from one reading; adds the readings it leads to.
    fn step(&self, at: At, b: u8, out: &mut States) {
        let space = b.is_ascii_whitespace();
        let punct = PUNCT.contains(&b);
        let trail = TRAIL_PUNCT.contains(&b);
        match at {
            At::Boundary | At::Lead => {
                if space {
                    out.push(At::Boundary);
                    return;
                }
                if let Some(n) = self.trie.child(0, b) {
                    out.push(At::Word(n));
                }
                if punct {
                    out.push(At::Lead);
                }
            }
            At::Word(n) => {
                let terminal = self.trie.terminal[n as usize];
                if space {
                    if terminal {
                        out.push(At::Boundary);
                    }
                    return;
                }
                if let Some(c) = self.trie.child(n, b) {
                    out.push(At::Word(c));
                }
                if trail && terminal {
                    out.push(At::Trail);
                }
            }
            At::Trail => {
                if space {
                    out.push(At::Boundary);
                } else if trail {
                    out.push(At::Trail);
                }
            }
        }
    }

    /// The readings after one byte from every reading in `from`.
    fn step_all(&self, from: States, b: u8) -> States {
        let mut next = States::EMPTY;
        for &at in from.as_slice() {
            self.step(at, b, &mut next);
        }
        next
    }

    /// The readings after `bytes`, from `from`; empty when `bytes` are not allowed.
    fn run(&self, from: States, bytes: &[u8]) -> States {
        let mut cur = from;
        for &b in bytes {
            cur = self.step_all(cur, b);
            if cur.is_empty() {
                break;
            }
        }
        cur
    }

    /// Every token whose bytes the automaton accepts from the current state: a walk of the
    /// vocabulary trie that leaves a subtree as soon as its prefix is refused.
    fn allowed_now(&mut self) -> std::sync::Arc<Vec<u32>> {
        if let Some(a) = self.cache.get(&self.states) {
            return a.clone();
        }
        let mut allowed = Vec::new();
        let mut stack: Vec<(u32, States)> = vec![(0, self.states)];
        while let Some((node, states)) = stack.pop() {
            allowed.extend_from_slice(&self.pieces.tokens[node as usize]);
            for &(b, child) in &self.pieces.children[node as usize] {
                let next = self.step_all(states, b);
                if !next.is_empty() {
                    stack.push((child, next));
                }
            }
        }
        // The output may end only between words or after a whole one.
        if self.states.as_slice().iter().any(|&at| self.finished(at)) {
            allowed.extend(self.stops.iter().copied());
        }
        allowed.sort_unstable();
        allowed.dedup();
        let allowed = std::sync::Arc::new(allowed);
        if self.cache.len() < self.cache_limit || self.states == States::BOUNDARY {
            self.cache.insert(self.states, allowed.clone());
        }
        allowed
    }

    /// Whether an output may end in this reading.
    fn finished(&self, at: At) -> bool {
        match at {
            At::Word(n) => self.trie.terminal[n as usize],
            At::Boundary | At::Lead | At::Trail => true,
        }
    }

    /// Whether `text` could be written under this constraint from the start (for tests
    /// and for checking an output afterwards).
    pub fn accepts(&self, text: &str) -> bool {
        !self.run(States::BOUNDARY, text.as_bytes()).is_empty()
    }
}

impl Constraint for CopyConstraint {
    fn mask(&mut self, logits: &mut [f32]) -> usize {
        let allowed = self.allowed_now();
        let mut keep = vec![false; logits.len()];
        let mut n = 0;
        for &id in allowed.iter() {
            if let Some(k) = keep.get_mut(id as usize) {
                *k = true;
                n += 1;
            }
        }
        for (l, k) in logits.iter_mut().zip(keep) {
            if !k {
                *l = f32::NEG_INFINITY;
            }
        }
        n
    }

    fn advance(&mut self, token: u32) {
        if self.stops.contains(&token) {
            return;
        }
        let pieces = self.pieces.clone();
        let bytes = pieces.bytes.get(token as usize).map(Vec::as_slice).unwrap_or_default();
        let next = self.run(self.states, bytes);
        // A token `mask` did not allow (a caller bypassing the mask) resets to a word boundary.
        self.states = if next.is_empty() { States::BOUNDARY } else { next };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::session::tests::{drain, session, tokenizer};
    use crate::generate::{FinishReason, GenerationOptions, Generator, Prompt};
    use proptest::prelude::*;

    const FREE: &[&str] = &["the", "a", "is", "of", "and", "not"];

    fn copy(sources: &[&str], citations: usize) -> CopyConstraint {
        CopyConstraint::new(&tokenizer(), sources.iter().copied(), FREE.iter().copied(), citations)
    }

    #[test]
    fn only_source_words_free_words_and_citations_are_accepted() {
        let c = copy(&["Cargo.lock records the exact version of every dependency.", "Use --locked in CI."], 2);
        for ok in [
            "Cargo.lock records every dependency.",
            "cargo.lock is the exact version [1].",
            "Use --locked [2]. ",
            "(Cargo.lock) records: version, dependency!",
            "Records the dependency of cargo.lock",
            "Every Use --locked.",
            "",
        ] {
            assert!(c.accepts(ok), "{ok:?} should be accepted");
        }
        for bad in
            ["Cargo.toml records", "the lock file", "version [3]", "records the version\u{e9}", "a %", "dependencies"]
        {
            let bad_end = format!("{bad} ");
            assert!(!c.accepts(&bad_end), "{bad:?} should be refused");
        }
        // A prefix of an allowed word is a viable partial output, but not a finished word.
        assert!(c.accepts("depend"));
        assert!(!c.accepts("depend "));
    }

    /// The trie walk allows exactly the tokens a token-by-token check allows, in every
    /// state met while writing a text.
    #[test]
    fn the_trie_walk_equals_checking_every_token() {
        let tk = tokenizer();
        let mut c = copy(&["Use --locked: Cargo.lock records (exact) versions.", "Zebras' stripes, 2 kinds"], 3);
        let text = "Use --locked [1]. Cargo.lock records (exact) versions, zebras' stripes 2 [3]";
        for id in tk.encode(text, false).unwrap() {
            let walked: Vec<u32> = c.allowed_now().iter().copied().filter(|t| !c.stops.contains(t)).collect();
            let checked: Vec<u32> = (0..tk.vocab_size() as u32)
                .filter(|&t| {
                    let b = tk.piece_bytes(t);
                    !b.is_empty() && !tk.is_control(t) && !c.run(c.states, b).is_empty()
                })
                .collect();
            assert_eq!(walked, checked, "state {:?}", c.states);
            assert!(walked.contains(&id), "the text's own token {id} is refused in {:?}", c.states);
            c.advance(id);
        }
    }

    fn constrained(script: &str, sources: &[&str], max_new_tokens: usize) -> (String, Option<FinishReason>) {
        let mut s = session(script, 512);
        let opts = GenerationOptions { max_new_tokens, ..Default::default() };
        s.start_constrained(Prompt::Text("q"), &opts, Box::new(copy(sources, 1))).unwrap();
        drain(&mut s);
        (s.text().to_string(), s.finish_reason())
    }

    #[test]
    fn a_model_wanting_another_word_is_kept_to_the_sources() {
        // The scripted model wants "the dog sat"; "dog" is in no source.
        let (text, reason) = constrained("the dog sat.|", &["The cat sat on the mat."], 40);
        let c = copy(&["The cat sat on the mat."], 1);
        assert!(c.accepts(&text), "{text:?}");
        assert!(!text.contains("dog"), "{text:?}");
        assert!(text.starts_with("the "), "{text:?}");
        assert!(reason.is_some());
        // Unconstrained, the same model writes the invented word.
        let mut s = session("the dog sat.|", 512);
        s.start(Prompt::Text("q"), &GenerationOptions::default()).unwrap();
        drain(&mut s);
        assert_eq!(s.text(), "the dog sat.");
    }

    #[test]
    fn a_faithful_model_is_unchanged() {
        let (text, reason) = constrained("the cat sat on the mat [1].|", &["The cat sat on the mat."], 60);
        assert_eq!(text, "the cat sat on the mat [1].");
        assert_eq!(reason, Some(FinishReason::Eos));
    }

    /// A constraint that allows nothing: the generation ends at once, cleanly, and the
    /// session starts again afterwards.
    struct Nothing;
    impl Constraint for Nothing {
        fn mask(&mut self, logits: &mut [f32]) -> usize {
            logits.iter_mut().for_each(|l| *l = f32::NEG_INFINITY);
            0
        }
        fn advance(&mut self, _: u32) {}
    }

    #[test]
    fn a_mask_that_allows_nothing_ends_the_generation_cleanly() {
        let mut s = session("abc|", 512);
        s.start_constrained(Prompt::Text("q"), &GenerationOptions::default(), Box::new(Nothing)).unwrap();
        assert!(drain(&mut s).is_empty());
        assert_eq!(s.finish_reason(), Some(FinishReason::Constraint));
        assert_eq!(s.text(), "");
        s.start(Prompt::Text("q"), &GenerationOptions::default()).unwrap();
        drain(&mut s);
        assert_eq!(s.text(), "abc");
    }

    /// Ends after `n` tokens by reporting itself exhausted.
    struct Budget(usize);
    impl Constraint for Budget {
        fn mask(&mut self, _: &mut [f32]) -> usize {
            1
        }
        fn advance(&mut self, _: u32) {
            self.0 = self.0.saturating_sub(1);
        }
        fn is_exhausted(&self) -> bool {
            self.0 == 0
        }
    }

    #[test]
    fn an_exhausted_constraint_ends_the_generation() {
        let mut s = session("abcdef|", 512);
        s.start_constrained(Prompt::Text("q"), &GenerationOptions::default(), Box::new(Budget(3))).unwrap();
        drain(&mut s);
        assert_eq!(s.text(), "abc");
        assert_eq!(s.finish_reason(), Some(FinishReason::Constraint));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the model wants to write, every finished word of a constrained output is
        /// a source word, a free word or a citation number, and the generation terminates.
        #[test]
        fn every_finished_word_comes_from_an_allowed_list(
            source in "[a-z]{1,6}( [a-z]{1,6}){0,8}\\.",
            script in "[a-z .,\\[\\]1-3]{0,40}",
        ) {
            let (text, reason) = constrained(&format!("{script}|"), &[&source], 80);
            prop_assert!(reason.is_some());
            let allowed: std::collections::HashSet<String> = source
                .split_whitespace()
                .chain(FREE.iter().copied())
                .map(|w| w.trim_matches(|c: char| PUNCT.contains(&(c as u8))).to_ascii_lowercase())
                .chain(["1".to_string()])
                .collect();
            // Drop the last (possibly unfinished) word when the generation was cut.
            let words: Vec<&str> = text.split_whitespace().collect();
            let finished = if text.ends_with(char::is_whitespace) || matches!(reason, Some(FinishReason::Eos | FinishReason::Constraint)) {
                &words[..]
            } else {
                &words[..words.len().saturating_sub(1)]
            };
            for w in finished {
                let core = w.trim_matches(|c: char| PUNCT.contains(&(c as u8))).to_ascii_lowercase();
                prop_assert!(core.is_empty() || allowed.contains(&core), "{core:?} in {text:?} (source {source:?})");
            }
        }
    }
}

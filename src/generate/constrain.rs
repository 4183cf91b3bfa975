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
//! With [`CopyUnit::Bigrams`] the constraint is on phrases, not only on words: within a
//! sentence, each content word (a source word that is not a free word or a citation)
//! must follow the previous content word as it does in some source sentence — the pair
//! is a bigram of the sources' content words, function words between them not counted.
//! A sentence may open with any source word, and `.`, `!`, `?` or a citation number end
//! the run, so the model can still order what it copies; what it can no longer do is
//! join a subject from one source to a claim from another ("Cargo.lock records
//! profiles" when no source says so).
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

/// The words of `text` as the constraint sees them: runs of non-space characters with
/// leading and trailing punctuation stripped (empty cores dropped), each with whether its
/// trailing punctuation ends a sentence.
fn words(text: &str) -> impl Iterator<Item = (&str, bool)> {
    text.split_whitespace().filter_map(|run| {
        let lead = run.trim_start_matches(|c: char| c.is_ascii() && PUNCT.contains(&(c as u8)));
        let core = lead.trim_end_matches(|c: char| c.is_ascii() && TRAIL_PUNCT.contains(&(c as u8)));
        let ends = lead[core.len()..].bytes().any(ends_sentence);
        (!core.is_empty()).then_some((core, ends))
    })
}

/// Punctuation after which a new sentence starts (bigram mode forgets the previous word).
fn ends_sentence(b: u8) -> bool {
    matches!(b, b'.' | b'!' | b'?')
}

/// A word with its first letter lowercased: the key its case twin shares.
fn canonical(word: &[u8]) -> Vec<u8> {
    let mut w = word.to_vec();
    if let Some(f) = w.first_mut() {
        f.make_ascii_lowercase();
    }
    w
}

/// A word as written and with its first letter's case switched (see
/// [`Trie::insert_word`]).
fn case_twins(word: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![word.to_vec()];
    if let Some(&first) = word.first() {
        if first.is_ascii_alphabetic() {
            let mut other = word.to_vec();
            other[0] = if first.is_ascii_uppercase() { first.to_ascii_lowercase() } else { first.to_ascii_uppercase() };
            out.push(other);
        }
    }
    out
}

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
        for spelling in case_twins(word) {
            self.insert(&spelling);
        }
    }

    /// The nodes along `word` (root excluded), as far as the trie has them.
    fn path(&self, word: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(word.len());
        let mut node = 0u32;
        for &b in word {
            match self.child(node, b) {
                Some(n) => {
                    out.push(n);
                    node = n;
                }
                None => break,
            }
        }
        out
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

/// No previous content word in the sentence (word mode always; bigram mode at the start
/// of a sentence).
const NO_WORD: u32 = u32::MAX;

/// One reading of the bytes so far: where the automaton is, and (bigram mode) the last
/// content word of the current sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Reading {
    at: At,
    prev: u32,
}

/// The automaton's state: every reading of the bytes so far that is still possible
/// (a `-` may open `--locked` or be a dash, so there can be several; few, since the word
/// trie is deterministic). Kept inline and sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct States {
    at: [Reading; 6],
    len: u8,
}

impl States {
    const START: Reading = Reading { at: At::Boundary, prev: NO_WORD };
    const BOUNDARY: States = States { at: [Self::START; 6], len: 1 };
    const EMPTY: States = States { at: [Self::START; 6], len: 0 };

    fn as_slice(&self) -> &[Reading] {
        &self.at[..self.len as usize]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the only reading is "between words" (whatever the previous word).
    fn is_boundary(&self) -> bool {
        self.len == 1 && self.at[0].at == At::Boundary
    }

    /// Adds a reading; a reading past the capacity is dropped, which can only refuse
    /// more (never allow a text no reading accepts).
    fn push(&mut self, r: Reading) {
        let n = self.len as usize;
        if self.at[..n].contains(&r) || n == self.at.len() {
            return;
        }
        self.at[n] = r;
        self.len += 1;
        self.at[..=n].sort_unstable();
    }
}

/// What a copy-constrained answer copies: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyUnit {
    /// Every word is a source word, a free word or a citation number.
    #[default]
    Words,
    /// Also, within a sentence, every content word follows the previous one as in a
    /// source sentence.
    Bigrams,
}

/// Bigram mode's tables, over the word trie's nodes.
#[derive(Debug, Default)]
struct Bigrams {
    /// The content word a terminal node ends (`NO_WORD` for free words, citations and
    /// inner nodes). A word and its first-letter-case twin share an id.
    word_of: Vec<u32>,
    /// Terminal nodes of free words and citation numbers: allowed anywhere.
    free_end: Vec<bool>,
    /// Nodes on the path of a free word or a citation number.
    free_path: Vec<bool>,
    /// Citation numbers: they end the sentence's run like a full stop.
    citation_end: Vec<bool>,
    /// Per content word: the trie nodes on the paths of the words that may follow it,
    /// sorted.
    next_nodes: Vec<Vec<u32>>,
    /// Per content word: the terminal nodes of the words that may follow it, sorted.
    next_ends: Vec<Vec<u32>>,
}

impl Bigrams {
    /// Whether node `n` may be entered after content word `prev`.
    fn enter(&self, prev: u32, n: u32) -> bool {
        prev == NO_WORD || self.free_path[n as usize] || self.next_nodes[prev as usize].binary_search(&n).is_ok()
    }

    /// Builds the tables for `trie`, which holds every word of `sources`, `free` and the
    /// citation numbers `1..=citations`.
    fn build(trie: &Trie, sources: &[&str], free: &[&str], citations: usize) -> Bigrams {
        let nodes = trie.terminal.len();
        let mut b = Bigrams {
            word_of: vec![NO_WORD; nodes],
            free_end: vec![false; nodes],
            free_path: vec![false; nodes],
            citation_end: vec![false; nodes],
            next_nodes: Vec::new(),
            next_ends: Vec::new(),
        };
        let mark = |word: &[u8], citation: bool, b: &mut Bigrams| {
            for spelling in case_twins(word) {
                let path = trie.path(&spelling);
                for &n in &path {
                    b.free_path[n as usize] = true;
                }
                if let Some(&end) = path.last() {
                    if path.len() == spelling.len() {
                        b.free_end[end as usize] = true;
                        b.citation_end[end as usize] |= citation;
                    }
                }
            }
        };
        let mut free_canon = std::collections::HashSet::new();
        for text in free {
            for (core, _) in words(text) {
                mark(core.as_bytes(), false, &mut b);
                free_canon.insert(canonical(core.as_bytes()));
            }
        }
        let citation_words: Vec<String> = (1..=citations).map(|n| n.to_string()).collect();
        for c in &citation_words {
            mark(c.as_bytes(), true, &mut b);
            free_canon.insert(c.as_bytes().to_vec());
        }
        // Content words get ids; consecutive ones in a source sentence make a bigram.
        let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut spellings: Vec<Vec<u8>> = Vec::new();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for text in sources {
            let mut prev = NO_WORD;
            for (core, ends) in words(text) {
                let canon = canonical(core.as_bytes());
                if !free_canon.contains(&canon) {
                    let id = *ids.entry(canon).or_insert_with(|| {
                        spellings.push(core.as_bytes().to_vec());
                        (spellings.len() - 1) as u32
                    });
                    if prev != NO_WORD {
                        pairs.push((prev, id));
                    }
                    prev = id;
                }
                if ends {
                    prev = NO_WORD;
                }
            }
        }
        for (id, word) in spellings.iter().enumerate() {
            for spelling in case_twins(word) {
                let path = trie.path(&spelling);
                if path.len() == spelling.len() {
                    if let Some(&end) = path.last() {
                        if !b.free_end[end as usize] {
                            b.word_of[end as usize] = id as u32;
                        }
                    }
                }
            }
        }
        b.next_nodes = vec![Vec::new(); spellings.len()];
        b.next_ends = vec![Vec::new(); spellings.len()];
        pairs.sort_unstable();
        pairs.dedup();
        for (a, next) in pairs {
            for spelling in case_twins(&spellings[next as usize]) {
                let path = trie.path(&spelling);
                if path.len() == spelling.len() {
                    b.next_nodes[a as usize].extend_from_slice(&path);
                    b.next_ends[a as usize].extend(path.last().copied());
                }
            }
        }
        for v in b.next_nodes.iter_mut().chain(b.next_ends.iter_mut()) {
            v.sort_unstable();
            v.dedup();
        }
        b
    }

    /// Whether the word ending at terminal node `n` may be completed after `prev`, and
    /// the previous content word after it.
    fn complete(&self, prev: u32, n: u32) -> Option<u32> {
        let i = n as usize;
        if self.citation_end[i] {
            return Some(NO_WORD);
        }
        if self.free_end[i] {
            return Some(prev);
        }
        let w = self.word_of[i];
        if prev == NO_WORD || self.next_ends[prev as usize].binary_search(&n).is_ok() {
            Some(w)
        } else {
            None
        }
    }
}

/// The copy constraint: see the module documentation.
pub struct CopyConstraint {
    trie: Trie,
    /// Bigram mode's tables (`None`: word mode).
    bigrams: Option<Bigrams>,
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
    /// `1..=citations`, with `tokenizer`'s vocabulary ([`CopyUnit::Words`]).
    pub fn new<'a>(
        tokenizer: &GgufTokenizer,
        sources: impl IntoIterator<Item = &'a str>,
        free_words: impl IntoIterator<Item = &'a str>,
        citations: usize,
    ) -> Self {
        Self::with_unit(tokenizer, sources, free_words, citations, CopyUnit::Words)
    }

    /// As [`CopyConstraint::new`], copying `unit`s of the sources.
    pub fn with_unit<'a>(
        tokenizer: &GgufTokenizer,
        sources: impl IntoIterator<Item = &'a str>,
        free_words: impl IntoIterator<Item = &'a str>,
        citations: usize,
        unit: CopyUnit,
    ) -> Self {
        let sources: Vec<&str> = sources.into_iter().collect();
        let free: Vec<&str> = free_words.into_iter().collect();
        let mut trie = Trie::new();
        for text in sources.iter().chain(&free) {
            for (core, _) in words(text) {
                trie.insert_word(core.as_bytes());
            }
        }
        for n in 1..=citations {
            trie.insert_word(n.to_string().as_bytes());
        }
        let bigrams = (unit == CopyUnit::Bigrams).then(|| Bigrams::build(&trie, &sources, &free, citations));
        CopyConstraint {
            trie,
            bigrams,
            pieces: tokenizer.piece_trie(),
            stops: tokenizer.stop_ids().to_vec(),
            states: States::BOUNDARY,
            cache: HashMap::new(),
            cache_limit: 64,
        }
    }

    /// Whether node `n` may be entered after content word `prev`.
    fn may_enter(&self, prev: u32, n: u32) -> bool {
        self.bigrams.as_ref().is_none_or(|b| b.enter(prev, n))
    }

    /// Whether the word ending at node `n` may be completed after `prev` (`None`: not a
    /// whole word, or not allowed here), and the previous content word after it.
    fn complete(&self, prev: u32, n: u32) -> Option<u32> {
        if !self.trie.terminal[n as usize] {
            return None;
        }
        match &self.bigrams {
            None => Some(NO_WORD),
            Some(b) => b.complete(prev, n),
        }
    }

    /// One byte from one reading; adds the readings it leads to.
    fn step(&self, r: Reading, b: u8, out: &mut States) {
        let space = b.is_ascii_whitespace();
        let punct = PUNCT.contains(&b);
        let trail = TRAIL_PUNCT.contains(&b);
        let prev = r.prev;
        let after = |prev: u32| if ends_sentence(b) { NO_WORD } else { prev };
        match r.at {
            At::Boundary | At::Lead => {
                if space {
                    out.push(Reading { at: At::Boundary, prev });
                    return;
                }
                if let Some(n) = self.trie.child(0, b) {
                    if self.may_enter(prev, n) {
                        out.push(Reading { at: At::Word(n), prev });
                    }
                }
                if punct {
                    out.push(Reading { at: At::Lead, prev });
                }
            }
            At::Word(n) => {
                let done = self.complete(prev, n);
                if space {
                    if let Some(p) = done {
                        out.push(Reading { at: At::Boundary, prev: p });
                    }
                    return;
                }
                if let Some(c) = self.trie.child(n, b) {
                    if self.may_enter(prev, c) {
                        out.push(Reading { at: At::Word(c), prev });
                    }
                }
                if trail {
                    if let Some(p) = done {
                        out.push(Reading { at: At::Trail, prev: after(p) });
                    }
                }
            }
            At::Trail => {
                if space {
                    out.push(Reading { at: At::Boundary, prev });
                } else if trail {
                    out.push(Reading { at: At::Trail, prev: after(prev) });
                }
            }
        }
    }

    /// The readings after one byte from every reading in `from`.
    fn step_all(&self, from: States, b: u8) -> States {
        let mut next = States::EMPTY;
        for &r in from.as_slice() {
            self.step(r, b, &mut next);
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
        if self.states.as_slice().iter().any(|&r| self.finished(r)) {
            allowed.extend(self.stops.iter().copied());
        }
        allowed.sort_unstable();
        allowed.dedup();
        let allowed = std::sync::Arc::new(allowed);
        if self.cache.len() < self.cache_limit || self.states.is_boundary() {
            self.cache.insert(self.states, allowed.clone());
        }
        allowed
    }

    /// Whether an output may end in this reading.
    fn finished(&self, r: Reading) -> bool {
        match r.at {
            At::Word(n) => self.complete(r.prev, n).is_some(),
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

    fn bigram(sources: &[&str], citations: usize) -> CopyConstraint {
        CopyConstraint::with_unit(
            &tokenizer(),
            sources.iter().copied(),
            FREE.iter().copied(),
            citations,
            CopyUnit::Bigrams,
        )
    }

    #[test]
    fn bigram_mode_copies_phrases_not_only_words() {
        let sources =
            ["Cargo.lock records the exact version of every dependency.", "Profiles change compiler settings."];
        let c = bigram(&sources, 2);
        for ok in [
            "Cargo.lock records the exact version [1].",
            // Free words between content words do not count; a sentence may open anywhere.
            "Exact version of every dependency. Profiles change compiler settings [2].",
            "cargo.lock records the exact version",
            "Records the exact version. Profiles change compiler settings",
            // A full stop or a citation ends the run: the next word starts afresh.
            "Cargo.lock records [1] profiles change compiler settings.",
            "dependency. Cargo.lock records",
            "",
        ] {
            assert!(c.accepts(ok), "{ok:?} should be accepted");
        }
        for bad in [
            // Words of two sources joined into a claim neither makes.
            "Cargo.lock records profiles ",
            "Profiles change the exact version ",
            // A bigram read backwards.
            "version exact ",
            "Records cargo.lock ",
            // A comma does not end the run.
            "Cargo.lock records, profiles ",
            // A word skipped inside a phrase.
            "Cargo.lock records the version ",
            "Profiles change settings ",
        ] {
            assert!(!c.accepts(bad), "{bad:?} should be refused");
        }
        // The word mode allows all of these.
        let w = copy(&sources, 2);
        assert!(w.accepts("Cargo.lock records profiles ") && w.accepts("version exact "));
    }

    #[test]
    fn bigram_mode_walk_equals_checking_every_token() {
        let c = bigram(&["Use --locked: Cargo.lock records (exact) versions.", "Zebras' stripes, 2 kinds"], 3);
        walk_equals_token_check(c, "Use --locked [1]. Cargo.lock records (exact) versions. zebras' stripes 2 [3]");
    }

    /// Writes `text` token by token under `c`, checking in every state met that the trie
    /// walk allows exactly the tokens a token-by-token check allows, the text's own included.
    fn walk_equals_token_check(mut c: CopyConstraint, text: &str) {
        let tk = tokenizer();
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
        let c = copy(&["Use --locked: Cargo.lock records (exact) versions.", "Zebras' stripes, 2 kinds"], 3);
        walk_equals_token_check(c, "Use --locked [1]. Cargo.lock records (exact) versions, zebras' stripes 2 [3]");
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

        /// In bigram mode, every two consecutive content words of a sentence of the output
        /// are consecutive content words of the source, whatever the model wants.
        #[test]
        fn bigram_outputs_only_join_source_bigrams(
            source_words in prop::collection::vec("[a-z]{2,4}", 2..10),
            picks in prop::collection::vec((0usize..16, 0usize..5), 0..14),
        ) {
            // The model wants to write source words in another order: most of its pairs
            // are no bigram of the source.
            let source = format!("{}.", source_words.join(" "));
            let script: String = picks
                .iter()
                .map(|&(i, sep)| format!("{}{}", source_words[i % source_words.len()], [" ", " ", ". ", ", ", " [1] "][sep]))
                .collect();
            let mut s = session(&format!("{script}|"), 512);
            let opts = GenerationOptions { max_new_tokens: 80, ..Default::default() };
            s.start_constrained(Prompt::Text("q"), &opts, Box::new(bigram(&[&source], 1))).unwrap();
            drain(&mut s);
            let text = s.text().to_string();
            prop_assert!(s.finish_reason().is_some());
            let content = |w: &str| !FREE.contains(&w) && w != "1";
            let mut pairs = std::collections::HashSet::new();
            let mut prev: Option<String> = None;
            for (w, ends) in words(&source) {
                if content(w) {
                    if let Some(p) = prev.take() {
                        pairs.insert((p, w.to_string()));
                    }
                    prev = Some(w.to_string());
                }
                if ends {
                    prev = None;
                }
            }
            // Only words followed by a space or the end of a finished output are whole.
            let complete = text.ends_with(char::is_whitespace)
                || matches!(s.finish_reason(), Some(FinishReason::Eos | FinishReason::Constraint));
            let out: Vec<(&str, bool)> = words(&text).collect();
            let whole = if complete { out.len() } else { out.len().saturating_sub(1) };
            let mut prev: Option<String> = None;
            for &(w, ends) in &out[..whole] {
                let w = String::from_utf8(canonical(w.as_bytes())).unwrap();
                if w == "1" {
                    prev = None;
                } else if content(&w) {
                    if let Some(p) = prev.take() {
                        prop_assert!(pairs.contains(&(p.clone(), w.clone())), "{p:?} {w:?} in {text:?} (source {source:?})");
                    }
                    prev = Some(w);
                }
                if ends {
                    prev = None;
                }
            }
        }
    }
}

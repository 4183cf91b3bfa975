//! BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and
//! Beyond").
//!
//! `score(D, Q) = Σ_{t ∈ Q} idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))`
//! with `idf(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))` — the Lucene form of the
//! Robertson–Spärck Jones weight, which stays positive for terms in more than half the
//! documents. `N` is the number of live chunks, `n(t)` how many contain `t`, `|D|` the
//! chunk's length in analyzed terms and `avgdl` the mean length. Defaults `k1` = 1.2,
//! `b` = 0.75 are the textbook values.
//!
//! Layout: chunks get dense internal slots; each term has a postings list of
//! `(slot, tf)`. A query is scored term-at-a-time into an accumulator array indexed by
//! slot, so the cost is the total length of the query terms' postings. Removal marks
//! the slot dead and updates `n(t)`, `N` and the total length at once (scores are
//! exact immediately); dead postings are skipped and purged by a compaction once they
//! outnumber the live chunks.
//!
//! Query terms are the union, without repeats, of the query analyzed in every
//! language present among indexed chunks, so an English query stemmed the English
//! way still matches, and a French query matches French chunks.
//!
//! **Typo tolerance** (as Orama and MiniSearch offer it, by bounded edit distance). A
//! query word that matches no indexed term at all ("duplcates") is compared with the
//! words as written in the indexed text (the *lexicon*, kept beside the postings and
//! rebuilt with them): the [`MAX_TYPO_EXPANSIONS`] closest within
//! [`typo_budget`] edits — 1 for words of 4–7 letters, 2 from 8 letters, none below 4 —
//! counting a swap of two adjacent letters as one edit (optimal string alignment), stand
//! in for it, each scored at [`TYPO_WEIGHT`]`^edits` of its BM25 weight. A correctly
//! spelled query is never touched: only words with no match are expanded, so exact
//! retrieval quality is unchanged. Nor is a real word the corpus lacks: the caller may
//! pass a `known` predicate (the engine asks its embedder's tokenizer whether the word
//! is in its vocabulary whole), because on the Cargo Book's paraphrased questions
//! "shipped" corrected to "skipped" and "plane" to "plan" cost hybrid R@5 0.833 → 0.778. Cost: one scan of the lexicon words of nearby lengths
//! per unmatched word, at most [`MAX_TYPO_WORDS`] words per query.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::fusion::sort_scored;
use super::text::{analyze, analyze_both, analyze_words, Language};
use super::{ChunkId, Scored};

/// One posting as exported: `(chunk, tf, chunk length in analyzed terms)`.
pub type Posting = (ChunkId, u32, u32);
/// A term with its postings.
pub type TermList = (String, Vec<Posting>);

/// Dead slots tolerated before [`SparseIndex::remove`] compacts (and more than live ones).
const COMPACT_MIN_DEAD: usize = 1024;

/// Shortest query word (in letters) that typo tolerance corrects; shorter words have too
/// many neighbours one edit away to guess from.
pub const TYPO_MIN_CHARS: usize = 4;
/// Most indexed words that stand in for one unmatched query word.
pub const MAX_TYPO_EXPANSIONS: usize = 3;
/// Most unmatched words of one query that are looked up in the lexicon, found or not
/// (bounds the cost of a long query of gibberish).
pub const MAX_TYPO_WORDS: usize = 8;
/// Score factor per edit of a corrected term: a word one edit away counts 0.8 of an exact
/// match, two edits 0.64.
pub const TYPO_WEIGHT: f32 = 0.8;

/// Edits allowed for a query word of `chars` letters: 0 below [`TYPO_MIN_CHARS`], 1 up to
/// 7 letters, 2 from 8.
pub fn typo_budget(chars: usize) -> usize {
    match chars {
        c if c < TYPO_MIN_CHARS => 0,
        c if c < 8 => 1,
        _ => 2,
    }
}

/// Optimal-string-alignment distance between `a` and `b` if it is at most `max`, else
/// `None`; stops as soon as a whole row exceeds `max`.
fn osa_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    // Three rows: i-2, i-1, i.
    let mut rows = vec![0usize; 3 * w];
    for (j, cell) in rows[2 * w..].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows.copy_within(w.., 0);
        let (prev2, rest) = rows.split_at_mut(w);
        let (prev, cur) = rest.split_at_mut(w);
        cur[0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
    }
    let d = rows[3 * w - 1];
    (d <= max).then_some(d)
}

/// The indexed words as written (lower-case, [`TYPO_MIN_CHARS`]+ letters), each with the
/// terms it was analyzed into, grouped by length in letters: what typo tolerance searches.
/// Derived like the postings; never shrinks on removal (a word whose terms have no live
/// chunk left is skipped at query time) and is rebuilt by [`SparseIndex::compact`].
#[derive(Debug, Clone, Default)]
struct Lexicon {
    id_of: HashMap<String, u32>,
    /// `(word as chars, term ids)`.
    words: Vec<(Vec<char>, Vec<u32>)>,
    /// Word ids by length in chars.
    by_len: Vec<Vec<u32>>,
}

impl Lexicon {
    fn add(&mut self, word: &str, tid: u32) {
        if let Some(&id) = self.id_of.get(word) {
            if let Some((_, tids)) = self.words.get_mut(id as usize) {
                if !tids.contains(&tid) {
                    tids.push(tid);
                }
            }
            return;
        }
        let chars: Vec<char> = word.chars().collect();
        if chars.len() < TYPO_MIN_CHARS {
            return;
        }
        let Ok(id) = u32::try_from(self.words.len()) else {
            return;
        };
        if self.by_len.len() <= chars.len() {
            self.by_len.resize(chars.len() + 1, Vec::new());
        }
        self.by_len[chars.len()].push(id);
        self.words.push((chars, vec![tid]));
        self.id_of.insert(word.to_owned(), id);
    }
}

/// BM25 parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Config {
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalisation (default 0.75).
    pub b: f32,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config { k1: 1.2, b: 0.75 }
    }
}

#[derive(Debug, Clone, Default)]
struct Postings {
    /// Live chunks containing the term (`n(t)`).
    df: u32,
    /// `(slot, tf)`, including dead slots until the next compaction.
    list: Vec<(u32, u32)>,
}

#[derive(Debug, Clone)]
struct Slot {
    chunk: ChunkId,
    /// Length in analyzed terms.
    len: u32,
    lang: Language,
    /// Distinct term ids (emptied when the slot dies).
    terms: Vec<u32>,
    alive: bool,
}

/// Inverted index with BM25 scoring. Not serialized: rebuilt from chunk texts on load.
#[derive(Debug, Clone, Default)]
pub struct SparseIndex {
    config: Bm25Config,
    vocab: HashMap<String, u32>,
    terms: Vec<String>,
    postings: Vec<Postings>,
    slots: Vec<Slot>,
    slot_of: HashMap<ChunkId, u32>,
    /// Sum of live chunk lengths.
    total_len: u64,
    /// Live chunks per language.
    langs: BTreeMap<Language, usize>,
    /// Surface words for typo tolerance.
    lexicon: Lexicon,
    /// The last prefix [`SparseIndex::add_with_prefix`] analysed, with its terms and words:
    /// the chunks of one section share their title and heading path.
    prefix_memo: Option<PrefixMemo>,
}

#[derive(Debug, Clone)]
struct PrefixMemo {
    lang: Language,
    prefix: String,
    terms: Vec<String>,
    words: Vec<(String, String)>,
}

/// A query word that matched nothing, and the indexed words that stood in for it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TypoCorrection {
    /// The query's word, lower-cased.
    pub word: String,
    /// Indexed words within the edit budget, closest first, with their distance.
    pub replacements: Vec<(String, usize)>,
}

impl SparseIndex {
    /// Empty index.
    pub fn new(config: Bm25Config) -> Self {
        SparseIndex { config, ..SparseIndex::default() }
    }

    /// Parameters.
    pub fn config(&self) -> &Bm25Config {
        &self.config
    }

    /// Index a chunk's text in `lang`. An id already present is replaced.
    pub fn add(&mut self, id: ChunkId, text: &str, lang: Language) {
        let (tokens, surfaces) = analyze_both(text, lang);
        self.add_analyzed(id, tokens, surfaces, lang);
    }

    /// Index `prefix` followed by `text` (the same terms as [`add`](Self::add) of the two
    /// concatenated, when `prefix` is empty or ends a line). The prefix — a chunk's title
    /// and heading path — is analysed once for a run of chunks that share it, so its cost
    /// is paid per section, not per chunk (a 1 KiB heading over thousands of tiny chunks
    /// was a fuzzer's 5-second input).
    pub fn add_with_prefix(&mut self, id: ChunkId, prefix: &str, text: &str, lang: Language) {
        let memo = match self.prefix_memo.take() {
            Some(m) if m.lang == lang && m.prefix == prefix => m,
            _ => {
                let (terms, words) = analyze_both(prefix, lang);
                PrefixMemo { lang, prefix: prefix.to_owned(), terms, words }
            }
        };
        let (mut tokens, mut surfaces) = (memo.terms.clone(), memo.words.clone());
        let (t, w) = analyze_both(text, lang);
        tokens.extend(t);
        surfaces.extend(w);
        self.prefix_memo = Some(memo);
        self.add_analyzed(id, tokens, surfaces, lang);
    }

    fn add_analyzed(&mut self, id: ChunkId, tokens: Vec<String>, surfaces: Vec<(String, String)>, lang: Language) {
        self.remove(id);
        let mut tf: HashMap<String, u32> = HashMap::new();
        for t in &tokens {
            // Avoid allocating a key for repeats.
            if let Some(n) = tf.get_mut(t.as_str()) {
                *n = n.saturating_add(1);
            } else {
                tf.insert(t.clone(), 1);
            }
        }
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            // 4 billion slots: compact first; a live index never gets here.
            return;
        };
        let mut term_ids = Vec::with_capacity(tf.len());
        for (term, n) in tf {
            let tid = match self.vocab.get(&term) {
                Some(&tid) => tid,
                None => {
                    let tid = self.terms.len() as u32;
                    self.vocab.insert(term.clone(), tid);
                    self.terms.push(term);
                    self.postings.push(Postings::default());
                    tid
                }
            };
            if let Some(p) = self.postings.get_mut(tid as usize) {
                p.df += 1;
                p.list.push((slot, n));
            }
            term_ids.push(tid);
        }
        for (word, term) in &surfaces {
            if let Some(&tid) = self.vocab.get(term) {
                self.lexicon.add(word, tid);
            }
        }
        let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        self.total_len += u64::from(len);
        *self.langs.entry(lang).or_insert(0) += 1;
        self.slots.push(Slot { chunk: id, len, lang, terms: term_ids, alive: true });
        self.slot_of.insert(id, slot);
    }

    /// Remove a chunk; returns whether it was present.
    pub fn remove(&mut self, id: ChunkId) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return false;
        };
        s.alive = false;
        for tid in std::mem::take(&mut s.terms) {
            if let Some(p) = self.postings.get_mut(tid as usize) {
                p.df = p.df.saturating_sub(1);
            }
        }
        self.total_len = self.total_len.saturating_sub(u64::from(s.len));
        if let Some(n) = self.langs.get_mut(&s.lang) {
            *n -= 1;
            if *n == 0 {
                self.langs.remove(&s.lang);
            }
        }
        let dead = self.slots.len() - self.slot_of.len();
        if dead >= COMPACT_MIN_DEAD && dead > self.slot_of.len() {
            self.compact();
        }
        true
    }

    /// Purge dead slots and unused terms (done automatically by [`SparseIndex::remove`]).
    pub fn compact(&mut self) {
        let mut new_slot = vec![u32::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(self.slot_of.len());
        for (old, s) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if s.alive {
                new_slot[old] = slots.len() as u32;
                slots.push(s);
            }
        }
        let mut new_tid = vec![u32::MAX; self.terms.len()];
        let mut vocab = HashMap::new();
        let mut terms = Vec::new();
        let mut postings = Vec::new();
        for (old, (term, p)) in
            std::mem::take(&mut self.terms).into_iter().zip(std::mem::take(&mut self.postings)).enumerate()
        {
            if p.df == 0 {
                continue;
            }
            let list: Vec<(u32, u32)> = p
                .list
                .into_iter()
                .filter_map(|(s, tf)| new_slot.get(s as usize).filter(|&&n| n != u32::MAX).map(|&n| (n, tf)))
                .collect();
            new_tid[old] = terms.len() as u32;
            vocab.insert(term.clone(), terms.len() as u32);
            terms.push(term);
            postings.push(Postings { df: p.df, list });
        }
        for s in &mut slots {
            for t in &mut s.terms {
                *t = new_tid.get(*t as usize).copied().unwrap_or(u32::MAX);
            }
        }
        let old_lexicon = std::mem::take(&mut self.lexicon);
        for (chars, tids) in old_lexicon.words {
            let word: String = chars.into_iter().collect();
            for tid in tids {
                if let Some(&new) = new_tid.get(tid as usize).filter(|&&t| t != u32::MAX) {
                    self.lexicon.add(&word, new);
                }
            }
        }
        self.slot_of = slots.iter().enumerate().map(|(i, s)| (s.chunk, i as u32)).collect();
        self.slots = slots;
        self.vocab = vocab;
        self.terms = terms;
        self.postings = postings;
    }

    /// Number of indexed chunks.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct terms in live chunks.
    pub fn num_terms(&self) -> usize {
        self.postings.iter().filter(|p| p.df > 0).count()
    }

    /// Languages of the indexed chunks (those a query is analyzed with).
    pub fn languages(&self) -> Vec<Language> {
        self.langs.keys().copied().collect()
    }

    /// The distinct query terms: `query` analyzed in every language present.
    pub fn query_terms(&self, query: &str) -> Vec<String> {
        query_terms_in(query, self.langs.keys().copied())
    }

    /// Every live term with its postings `(chunk, tf, chunk length)`, terms sorted, and the
    /// sum of the live chunks' lengths: what a sharded index stores (`rag::shards`).
    pub fn export(&self) -> (Vec<TermList>, u64) {
        let mut out: Vec<TermList> = self
            .terms
            .iter()
            .zip(&self.postings)
            .filter(|(_, p)| p.df > 0)
            .map(|(t, p)| {
                let list = p
                    .list
                    .iter()
                    .filter_map(|&(slot, tf)| {
                        self.slots.get(slot as usize).filter(|s| s.alive).map(|s| (s.chunk, tf, s.len))
                    })
                    .collect();
                (t.clone(), list)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (out, self.total_len)
    }

    /// `idf(t)` for an analyzed term (0 when no live chunk contains it).
    pub fn idf(&self, term: &str) -> f32 {
        let df = self.vocab.get(term).and_then(|&t| self.postings.get(t as usize)).map_or(0, |p| p.df);
        if df == 0 {
            return 0.0;
        }
        idf(self.len(), df)
    }

    /// Whether term id `tid` has a live chunk.
    fn live(&self, tid: u32) -> bool {
        self.postings.get(tid as usize).is_some_and(|p| p.df > 0)
    }

    /// The query's term ids with their weights: every exact term at 1, then, for each word
    /// that matches no live term in any language, the terms of its typo corrections at
    /// [`TYPO_WEIGHT`]`^edits` (a term keeps its highest weight).
    fn weighted_terms(&self, query: &str, known: Option<&dyn Fn(&str) -> bool>) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        let mut at: HashMap<u32, usize> = HashMap::new();
        let mut push = |tid: u32, w: f32, out: &mut Vec<(u32, f32)>| match at.get(&tid) {
            Some(&i) => out[i].1 = out[i].1.max(w),
            None => {
                at.insert(tid, out.len());
                out.push((tid, w));
            }
        };
        for term in self.query_terms(query) {
            if let Some(&tid) = self.vocab.get(&term) {
                push(tid, 1.0, &mut out);
            }
        }
        for c in self.typo_corrections_with(query, known) {
            for (word, edits) in &c.replacements {
                let Some(&id) = self.lexicon.id_of.get(word) else { continue };
                let Some((_, tids)) = self.lexicon.words.get(id as usize) else { continue };
                for &tid in tids.iter().filter(|&&t| self.live(t)) {
                    push(tid, TYPO_WEIGHT.powi(*edits as i32), &mut out);
                }
            }
        }
        out
    }

    /// The query's words that match no indexed term, each with the indexed words (as
    /// written) that typo tolerance puts in its place — closest first, ties to the word
    /// in more chunks, at most [`MAX_TYPO_EXPANSIONS`]. Words of fewer than
    /// [`TYPO_MIN_CHARS`] letters and stop words are never corrected; at most
    /// [`MAX_TYPO_WORDS`] words per query. Empty for a query whose words all match.
    pub fn typo_corrections(&self, query: &str) -> Vec<TypoCorrection> {
        self.typo_corrections_with(query, None)
    }

    /// [`SparseIndex::typo_corrections`], leaving alone the words `known` accepts (real
    /// words the corpus lacks).
    pub fn typo_corrections_with(&self, query: &str, known: Option<&dyn Fn(&str) -> bool>) -> Vec<TypoCorrection> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        // Lexicon scans done: the bound is on words looked up, found or not, so a 1 MB
        // query of gibberish costs MAX_TYPO_WORDS scans, not one per word.
        let mut scans = 0;
        for &lang in self.langs.keys() {
            for (word, _) in analyze_words(query, lang) {
                if scans >= MAX_TYPO_WORDS || !seen.insert(word.clone()) {
                    continue;
                }
                // Unmatched: its term misses in every language present.
                let matched = self.langs.keys().any(|&l| {
                    analyze_words(&word, l).iter().any(|(_, t)| self.vocab.get(t).is_some_and(|&tid| self.live(tid)))
                });
                let stop = self.langs.keys().any(|&l| l.is_stop_word(&word));
                let chars: Vec<char> = word.chars().collect();
                let budget = typo_budget(chars.len());
                if matched || stop || budget == 0 || known.is_some_and(|f| f(&word)) {
                    continue;
                }
                scans += 1;
                let mut near: Vec<(usize, u32, u32)> = Vec::new(); // (edits, -df proxy, word id)
                let lo = chars.len().saturating_sub(budget);
                let hi = chars.len() + budget;
                for len in lo..=hi {
                    for &id in self.lexicon.by_len.get(len).map_or(&[][..], Vec::as_slice) {
                        let Some((w, tids)) = self.lexicon.words.get(id as usize) else { continue };
                        let df: u32 =
                            tids.iter().filter_map(|&t| self.postings.get(t as usize)).map(|p| p.df).max().unwrap_or(0);
                        if df == 0 {
                            continue;
                        }
                        if let Some(d) = osa_within(&chars, w, budget) {
                            near.push((d, u32::MAX - df, id));
                        }
                    }
                }
                near.sort_unstable();
                near.truncate(MAX_TYPO_EXPANSIONS);
                if near.is_empty() {
                    continue;
                }
                let replacements = near
                    .into_iter()
                    .filter_map(|(d, _, id)| self.lexicon.words.get(id as usize).map(|(w, _)| (w.iter().collect(), d)))
                    .collect();
                out.push(TypoCorrection { word, replacements });
            }
        }
        out
    }

    /// The `k` best chunks for `query` among those `allow` accepts, best first.
    /// The query is analyzed with every language present in the index.
    pub fn search(&self, query: &str, k: usize, allow: Option<&dyn Fn(ChunkId) -> bool>) -> Vec<Scored> {
        self.search_with(query, k, allow, None)
    }

    /// [`SparseIndex::search`] whose typo tolerance leaves alone the words `known` accepts.
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        allow: Option<&dyn Fn(ChunkId) -> bool>,
        known: Option<&dyn Fn(&str) -> bool>,
    ) -> Vec<Scored> {
        let n = self.len();
        if k == 0 || n == 0 {
            return Vec::new();
        }
        let Bm25Config { k1, b } = self.config;
        let avgdl = self.total_len as f32 / n as f32;
        let postings: Vec<(&Postings, f32)> = self
            .weighted_terms(query, known)
            .into_iter()
            .filter_map(|(tid, w)| self.postings.get(tid as usize).map(|p| (p, w)))
            .filter(|(p, _)| p.df > 0)
            .collect();
        // The accumulator holds only the slots the query's postings reach, so a query costs
        // the length of its postings, not the number of slots (live or dead) in the index:
        // a hash map for short postings, an array for postings that cover many slots.
        let reach: usize = postings.iter().map(|(p, _)| p.list.len()).sum();
        let mut acc = Accumulator::new(self.slots.len(), reach);
        for (p, weight) in postings {
            let idf = weight * idf(n, p.df);
            for &(slot, tf) in &p.list {
                let Some(s) = self.slots.get(slot as usize) else {
                    continue;
                };
                if !s.alive {
                    continue;
                }
                acc.add(slot, term_score(k1, b, avgdl, idf, tf, s.len));
            }
        }
        let mut hits: Vec<Scored> = acc
            .into_scores()
            .filter_map(|(slot, score)| self.slots.get(slot as usize).map(|s| (s, score)))
            .filter(|(s, score)| *score > 0.0 && s.alive && allow.is_none_or(|f| f(s.chunk)))
            .map(|(s, score)| (s.chunk, score))
            .collect();
        top_k(&mut hits, k);
        hits
    }
}

/// Per-query scores by slot, touching only slots that postings reach.
enum Accumulator {
    /// Few postings: a map from slot to score.
    Map(HashMap<u32, f32>),
    /// Postings reaching a good part of the slots: scores by slot plus the slots touched.
    Dense { scores: Vec<f32>, touched: Vec<u32> },
}

impl Accumulator {
    fn new(slots: usize, reach: usize) -> Self {
        if reach.saturating_mul(8) >= slots {
            Accumulator::Dense { scores: vec![0.0; slots], touched: Vec::with_capacity(reach.min(slots)) }
        } else {
            Accumulator::Map(HashMap::with_capacity(reach))
        }
    }

    fn add(&mut self, slot: u32, score: f32) {
        match self {
            Accumulator::Map(m) => *m.entry(slot).or_insert(0.0) += score,
            Accumulator::Dense { scores, touched } => {
                if let Some(a) = scores.get_mut(slot as usize) {
                    if *a == 0.0 {
                        touched.push(slot);
                    }
                    *a += score;
                }
            }
        }
    }

    /// `(slot, score)` of every slot touched, once each, in no particular order.
    fn into_scores(self) -> Box<dyn Iterator<Item = (u32, f32)>> {
        match self {
            Accumulator::Map(m) => Box::new(m.into_iter()),
            Accumulator::Dense { scores, mut touched } => {
                // A slot whose partial sum was exactly 0 may be listed twice.
                touched.sort_unstable();
                touched.dedup();
                Box::new(touched.into_iter().map(move |s| (s, scores.get(s as usize).copied().unwrap_or(0.0))))
            }
        }
    }
}

/// The distinct terms of `query` analyzed in each of `langs`, in that order (a query is
/// analyzed in every language present among the indexed chunks).
pub fn query_terms_in(query: &str, langs: impl IntoIterator<Item = Language>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for lang in langs {
        for t in analyze(query, lang) {
            if seen.insert(t.clone()) {
                out.push(t);
            }
        }
    }
    out
}

/// One term's BM25 contribution to one chunk: `idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avgdl))`
/// (shared with the sharded reader, so both compute the same floats).
#[inline]
pub fn term_score(k1: f32, b: f32, avgdl: f32, idf: f32, tf: u32, len: u32) -> f32 {
    let tf = tf as f32;
    let norm = if avgdl > 0.0 { k1 * (1.0 - b + b * len as f32 / avgdl) } else { k1 };
    idf * tf * (k1 + 1.0) / (tf + norm)
}

/// `ln(1 + (N − n + 0.5) / (n + 0.5))`.
pub fn idf(n_docs: usize, df: u32) -> f32 {
    let (n, df) = (n_docs as f32, df as f32);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// Keep the best `k` of `hits`, sorted best first.
fn top_k(hits: &mut Vec<Scored>, k: usize) {
    let cmp = |a: &Scored, b: &Scored| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, cmp);
        hits.truncate(k);
    }
    sort_scored(hits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    fn small() -> SparseIndex {
        let mut ix = SparseIndex::default();
        ix.add(1, "a b c", Language::Other);
        ix.add(2, "a a d", Language::Other);
        ix.add(3, "b e f g h i", Language::Other);
        ix
    }

    #[test]
    fn bm25_hand_computed() {
        let ix = small();
        // N = 3, avgdl = 4. idf(a) = ln(1 + 1.5/2.5) = ln 1.6 = 0.4700036.
        // d1: tf 1, |D| 3: 0.4700036 · 2.2 / (1 + 1.2 · (0.25 + 0.75 · 3/4)) = 0.4700036 · 2.2 / 1.975
        // d2: tf 2: 0.4700036 · 4.4 / 2.975
        let hits = ix.search("a", 10, None);
        assert_eq!(hits.len(), 2);
        assert_eq!((hits[0].0, hits[1].0), (2, 1));
        assert!(close(hits[0].1, 0.695_131_5), "{hits:?}");
        assert!(close(hits[1].1, 0.523_548_4), "{hits:?}");
        // idf(e) = ln(1 + 2.5/1.5) = 0.9808293; d3 (|D| 6): 0.9808293 · 2.2 / (1 + 1.2 · 1.375) = 0.8142733.
        let hits = ix.search("a e", 10, None);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 2, 1]);
        assert!(close(hits[0].1, 0.814_273_3), "{hits:?}");
        assert!(close(ix.idf("a"), 0.470_003_6));
    }

    #[test]
    fn removal_updates_statistics_at_once() {
        let mut ix = small();
        assert!(ix.remove(2));
        assert!(!ix.remove(2));
        assert_eq!(ix.len(), 2);
        // N = 2, avgdl = 4.5, idf(a) = ln 2; d1: ln 2 · 2.2 / (1 + 1.2 · (0.25 + 0.75 · 3/4.5)) = ln 2 · 2.2 / 1.9.
        let hits = ix.search("a", 10, None);
        assert_eq!(hits.len(), 1);
        assert!(close(hits[0].1, std::f32::consts::LN_2 * 2.2 / 1.9), "{hits:?}");
        ix.compact();
        let again = ix.search("a", 10, None);
        assert_eq!(hits, again);
        assert_eq!(ix.num_terms(), 8);
    }

    #[test]
    fn upsert_replaces() {
        let mut ix = small();
        ix.add(1, "zzz", Language::Other);
        assert_eq!(ix.len(), 3);
        assert!(ix.search("c", 10, None).is_empty());
        assert_eq!(ix.search("zzz", 10, None)[0].0, 1);
    }

    #[test]
    fn filter_k_and_empty_query() {
        let ix = small();
        let only1 = |id: ChunkId| id == 1;
        assert_eq!(ix.search("a", 10, Some(&only1)).iter().map(|h| h.0).collect::<Vec<_>>(), [1]);
        assert_eq!(ix.search("a e", 1, None).len(), 1);
        assert!(ix.search("a", 0, None).is_empty());
        assert!(ix.search("", 5, None).is_empty());
        assert!(ix.search("unknown words", 5, None).is_empty());
        assert!(SparseIndex::default().search("a", 5, None).is_empty());
    }

    #[test]
    fn query_is_analyzed_in_every_language_present() {
        let mut ix = SparseIndex::default();
        ix.add(1, "Cargo is running the tests", Language::English);
        ix.add(2, "Elle mange des pommes", Language::French);
        assert_eq!(ix.languages(), [Language::English, Language::French]);
        let ids: HashSet<_> = ix.search("runs mangeait", 10, None).iter().map(|h| h.0).collect();
        assert_eq!(ids, HashSet::from([1, 2]));
        let terms = ix.query_terms("runs runs");
        assert_eq!(terms.iter().filter(|t| *t == "run").count(), 1);
    }

    #[test]
    fn many_removals_compact_automatically() {
        let mut ix = SparseIndex::default();
        for i in 0..3000 {
            ix.add(i, &format!("common word{}", i % 7), Language::English);
        }
        for i in 0..2500 {
            assert!(ix.remove(i));
        }
        assert!(ix.slots.len() < 3000, "compaction ran");
        assert_eq!(ix.len(), 500);
        let hits = ix.search("common", 1000, None);
        assert_eq!(hits.len(), 500);
        assert!(hits.iter().all(|h| h.0 >= 2500));
    }

    #[test]
    fn dead_slots_do_not_change_scores_on_either_accumulator() {
        // 1000 chunks, 600 removed (below the compaction threshold: the slots stay, dead).
        let text = |i: u32| {
            let rare = if i % 97 == 0 { " rare" } else { "" };
            format!("common word{} more{}{rare}", i % 7, i % 13)
        };
        let mut ix = SparseIndex::default();
        for i in 0..1000 {
            ix.add(i, &text(i), Language::English);
        }
        for i in (0..1000).filter(|i| i % 5 != 0 && i % 3 != 0).take(600) {
            assert!(ix.remove(i));
        }
        assert_eq!(ix.slots.len(), 1000, "not compacted");
        let mut fresh = SparseIndex::default();
        for i in (0..1000).filter(|&i| ix.slot_of.contains_key(&i)) {
            fresh.add(i, &text(i), Language::English);
        }
        // "rare": a few postings (map accumulator); "common": every slot (array).
        for q in ["rare", "common", "common rare word3", "more5 word2"] {
            let got = ix.search(q, 50, None);
            assert!(!got.is_empty(), "{q}");
            assert_eq!(got, fresh.search(q, 50, None), "{q}");
        }
    }

    /// Straightforward BM25 over the live documents, for comparison.
    fn typo_index() -> SparseIndex {
        let mut ix = SparseIndex::default();
        ix.add(1, "Near duplicates are detected with MinHash signatures", Language::English);
        ix.add(2, "Cargo builds packages and their dependencies", Language::English);
        ix.add(3, "Publishing a crate uploads the package to the registry", Language::English);
        ix
    }

    #[test]
    fn osa_distance_is_bounded_and_counts_a_swap_as_one_edit() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(osa_within(&c("duplcates"), &c("duplicates"), 2), Some(1));
        assert_eq!(osa_within(&c("detecton"), &c("detected"), 2), Some(2));
        assert_eq!(osa_within(&c("cargo"), &c("carog"), 1), Some(1), "a swap is one edit");
        assert_eq!(osa_within(&c("cargo"), &c("cargo"), 0), Some(0));
        assert_eq!(osa_within(&c("kitten"), &c("sitting"), 2), None, "3 edits");
        assert_eq!(osa_within(&c("kitten"), &c("sitting"), 3), Some(3));
        assert_eq!(osa_within(&c("ab"), &c("abcdef"), 2), None, "length difference alone exceeds");
        assert_eq!(osa_within(&c(""), &c("ab"), 2), Some(2));
        assert_eq!(osa_within(&c("é"), &c("e"), 1), Some(1), "chars, not bytes");
    }

    #[test]
    fn budget_grows_with_word_length() {
        assert_eq!((typo_budget(3), typo_budget(4), typo_budget(7), typo_budget(8), typo_budget(20)), (0, 1, 1, 2, 2));
    }

    #[test]
    fn misspelled_words_find_their_chunk() {
        let ix = typo_index();
        // Nothing matches exactly: "duplcates" and "detecton" are not indexed terms.
        assert!(ix.query_terms("duplcates detecton").iter().all(|t| ix.idf(t) == 0.0));
        let hits = ix.search("duplcates detecton", 3, None);
        assert_eq!(hits.first().map(|h| h.0), Some(1), "{hits:?}");
        let fixes = ix.typo_corrections("duplcates detecton");
        assert_eq!(fixes.len(), 2, "{fixes:?}");
        assert_eq!(fixes[0].word, "duplcates");
        assert_eq!(fixes[0].replacements[0], ("duplicates".to_owned(), 1));
        assert_eq!(fixes[1].replacements[0], ("detected".to_owned(), 2));
        // A swap of two letters is one edit.
        assert_eq!(ix.search("pubilshing", 3, None).first().map(|h| h.0), Some(3));
    }

    #[test]
    fn correct_queries_are_untouched_and_corrections_score_less() {
        let ix = typo_index();
        assert!(ix.typo_corrections("cargo builds packages").is_empty());
        // A matched word is not expanded even if an indexed word is one edit away.
        assert!(ix.typo_corrections("package").is_empty(), "'package' is indexed (stem of packages)");
        let exact = ix.search("registry", 3, None);
        let typo = ix.search("registyr", 3, None);
        assert_eq!(exact[0].0, typo[0].0);
        assert!((typo[0].1 - TYPO_WEIGHT * exact[0].1).abs() < 1e-5, "{typo:?} vs {exact:?}");
        // Short words and stop words are never corrected; nothing close is nothing.
        assert!(ix.typo_corrections("crg the whcih").is_empty());
        assert!(ix.search("zzzzzzzz", 3, None).is_empty());
        // A word the caller knows to be real is not corrected.
        let known = |w: &str| w == "registyr";
        assert!(ix.search_with("registyr", 3, None, Some(&known)).is_empty());
        assert!(ix.typo_corrections_with("registyr duplcates", Some(&known)).iter().all(|c| c.word != "registyr"));
        assert_eq!(ix.typo_corrections_with("registyr duplcates", Some(&known)).len(), 1);
        assert!(ix.typo_corrections("zzzzzzzz").is_empty());
    }

    #[test]
    fn corrections_are_bounded_and_follow_removal_and_compaction() {
        let mut ix = typo_index();
        let long: String = (0..50).map(|i| format!("duplcates{i} ")).collect();
        assert!(ix.typo_corrections(&long).len() <= MAX_TYPO_WORDS);
        // Words with no neighbour count against the bound too: after MAX_TYPO_WORDS
        // fruitless lookups, a correctable word is no longer looked up.
        let gibberish: String = (0..MAX_TYPO_WORDS).map(|i| format!("qxzvwk{} ", "q".repeat(i))).collect();
        assert!(ix.typo_corrections(&format!("{gibberish} duplcates")).is_empty());
        assert_eq!(ix.typo_corrections(&format!("duplcates {gibberish}")).len(), 1);
        for c in ix.typo_corrections("regisrty packges") {
            assert!(c.replacements.len() <= MAX_TYPO_EXPANSIONS);
        }
        // Once the only chunk with "registry" is gone, nothing stands in for "registyr".
        assert!(ix.remove(3));
        assert!(ix.search("registyr", 3, None).is_empty());
        assert!(ix.typo_corrections("registyr").is_empty());
        ix.compact();
        assert!(ix.typo_corrections("registyr").is_empty());
        assert_eq!(ix.search("duplcates", 3, None).first().map(|h| h.0), Some(1), "lexicon remapped by compaction");
    }

    fn reference(docs: &BTreeMap<ChunkId, Vec<String>>, query: &[String]) -> Vec<Scored> {
        let n = docs.len() as f32;
        let avgdl = docs.values().map(|d| d.len()).sum::<usize>() as f32 / n;
        let mut out = Vec::new();
        for (&id, d) in docs {
            let mut score = 0.0;
            for t in query {
                let df = docs.values().filter(|d| d.contains(t)).count() as f32;
                let tf = d.iter().filter(|x| *x == t).count() as f32;
                if tf > 0.0 {
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * d.len() as f32 / avgdl));
                }
            }
            if score > 0.0 {
                out.push((id, score));
            }
        }
        sort_scored(&mut out);
        out
    }

    proptest! {
        #[test]
        fn matches_reference_bm25(
            docs in prop::collection::vec(prop::collection::vec(0u8..12, 0..12), 1..25),
            removed in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            query in prop::collection::vec(0u8..14, 1..4),
        ) {
            let word = |w: u8| format!("w{w}");
            let mut ix = SparseIndex::default();
            let mut live = BTreeMap::new();
            for (i, d) in docs.iter().enumerate() {
                let words: Vec<String> = d.iter().map(|&w| word(w)).collect();
                ix.add(i as ChunkId, &words.join(" "), Language::Other);
                live.insert(i as ChunkId, words);
            }
            for r in removed {
                let id = r.index(docs.len()) as ChunkId;
                prop_assert_eq!(ix.remove(id), live.remove(&id).is_some());
            }
            let q: Vec<String> = query.iter().map(|&w| word(w)).collect();
            let mut qd = q.clone();
            qd.sort();
            qd.dedup();
            let got = ix.search(&q.join(" "), 100, None);
            if live.is_empty() {
                prop_assert!(got.is_empty());
            } else {
                let want = reference(&live, &qd);
                prop_assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g.1 - w.1).abs() < 1e-4, "{:?} vs {:?}", got, want);
                }
                let gs: HashSet<_> = got.iter().map(|h| h.0).collect();
                let ws: HashSet<_> = want.iter().map(|h| h.0).collect();
                prop_assert_eq!(gs, ws);
            }
        }
    }

    /// A prefix added once per run of chunks gives the same index as the concatenated text.
    #[test]
    fn add_with_prefix_equals_adding_the_concatenation() {
        let prefix = "Cargo Guide\nDependencies > Specifying dependencies\n";
        let texts = ["Use a git repository.", "Path dependencies point at a folder.", "Cargo.lock pins versions."];
        let mut a = SparseIndex::new(Bm25Config::default());
        let mut b = SparseIndex::new(Bm25Config::default());
        for (i, t) in texts.iter().enumerate() {
            a.add(i as u32, &format!("{prefix}{t}"), Language::English);
            b.add_with_prefix(i as u32, prefix, t, Language::English);
        }
        // And a chunk under another heading, then the first again (the memo is replaced).
        a.add(9, "Other\nProfiles tune builds.", Language::English);
        b.add_with_prefix(9, "Other\n", "Profiles tune builds.", Language::English);
        a.add(10, &format!("{prefix}git again"), Language::English);
        b.add_with_prefix(10, prefix, "git again", Language::English);
        for q in ["git", "dependencies", "specifying folder", "profiles", "cargo guide", "pins"] {
            assert_eq!(a.search(q, 10, None), b.search(q, 10, None), "{q}");
        }
        let sorted = |i: &SparseIndex| {
            let mut t = i.terms.clone();
            t.sort();
            t
        };
        assert_eq!(sorted(&a), sorted(&b));
        assert_eq!(a.total_len, b.total_len);
    }
}

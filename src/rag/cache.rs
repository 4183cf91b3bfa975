//! The query-time cache of answer-sentence vectors (see [`SentenceCache`]).

use std::collections::HashMap;

/// Sentences whose vectors an engine keeps (4 096 × 384 floats ≈ 6 MB for MiniLM).
pub(crate) const SENTENCE_CACHE_CAPACITY: usize = 4096;

/// Vectors of candidate answer sentences, keyed by the sentence text.
///
/// Selecting an answer embeds every candidate sentence of the retrieved chunks (about
/// 40 per question, ~40 ms each in wasm): most of an answer's cost. The same chunks come
/// back for related questions, for a question asked again, and for every configuration
/// of an evaluation run, so their sentences are kept here. The key is the text itself,
/// which the engine's one embedder maps to one vector, so entries never go stale when
/// documents change; the oldest are evicted first past the capacity.
#[derive(Debug, Default)]
pub(crate) struct SentenceCache {
    capacity: usize,
    vectors: HashMap<String, Vec<f32>>,
    order: std::collections::VecDeque<String>,
    hits: u64,
    misses: u64,
}

impl SentenceCache {
    pub(crate) fn new(capacity: usize) -> Self {
        SentenceCache { capacity, ..SentenceCache::default() }
    }

    pub(crate) fn get(&mut self, text: &str) -> Option<Vec<f32>> {
        let v = self.vectors.get(text).cloned();
        if v.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        v
    }

    pub(crate) fn insert(&mut self, text: &str, vector: &[f32]) {
        if self.capacity == 0 || self.vectors.contains_key(text) {
            return;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.vectors.remove(&old);
            }
        }
        self.vectors.insert(text.to_owned(), vector.to_vec());
        self.order.push_back(text.to_owned());
    }

    pub(crate) fn clear(&mut self) {
        self.vectors.clear();
        self.order.clear();
    }

    /// (hits, misses) since the engine was made.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentence_cache_evicts_oldest_first() {
        let mut c = SentenceCache::new(2);
        c.insert("a", &[1.0]);
        c.insert("b", &[2.0]);
        c.insert("a", &[9.0]);
        assert_eq!(c.get("a"), Some(vec![1.0]), "a second insert does not replace");
        c.insert("c", &[3.0]);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), Some(vec![2.0]));
        assert_eq!(c.get("c"), Some(vec![3.0]));
        assert_eq!(c.counts(), (3, 1));
        let mut off = SentenceCache::new(0);
        off.insert("a", &[1.0]);
        assert_eq!(off.get("a"), None);
    }
}

//! Sentence vectors stored with the index: int8 codes with one scale per vector, and
//! their codec (the `sentences` section of an index file, format v2).
//!
//! Answer selection and MaxSim reranking score a question against the sentences of
//! retrieved chunks. Embedding those sentences at query time cost ≈ 0.5 s natively per
//! question; embedding them at index time and keeping them quantized makes the select
//! stage a few thousand int8 dot products.
//!
//! **Quantisation.** A vector `x` is stored as `scale = max|xᵢ| / 127` and
//! `qᵢ = round(xᵢ / scale)` (int8, |qᵢ| ≤ 127): 1 byte per dimension plus 4 bytes, a
//! quarter of f32. Each component is off by at most `scale / 2`, so for a query `y`,
//! `|y·x − scale·(y·q)| ≤ scale/2 · Σ|yᵢ| ≤ scale/2 · ‖y‖₁` ([`error_bound`]); for unit
//! MiniLM vectors (d = 384, max|xᵢ| ≈ 0.15–0.3) that is below 0.01 in cosine, far below
//! the gaps selection and reranking act on.
//!
//! This module knows vectors and spans (byte offsets in a document's cleaned text), not
//! which sentences an engine embeds: that is `rag::select`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::ChunkId;
use crate::error::{Error, Result};

/// One sentence's vector, quantized, with the sentence's byte span in its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceVector {
    /// Byte start in the document's cleaned text.
    pub start: u32,
    /// Byte end.
    pub end: u32,
    /// Scale of the codes (`max|xᵢ| / 127`; > 0 and finite).
    pub scale: f32,
    /// The int8 codes, one per dimension.
    pub codes: Vec<i8>,
}

impl SentenceVector {
    /// Quantize `v` (finite values) for the span `start..end`. A zero vector gets scale 1
    /// and zero codes.
    pub fn quantize(start: u32, end: u32, v: &[f32]) -> SentenceVector {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
        let codes = v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect();
        SentenceVector { start, end, scale, codes }
    }

    /// Dot product with an f32 vector (the query), dequantized: `scale · Σ yᵢ qᵢ`.
    pub fn dot(&self, y: &[f32]) -> f32 {
        let mut acc = 0.0f32;
        for (q, y) in self.codes.iter().zip(y) {
            acc += *q as f32 * y;
        }
        acc * self.scale
    }

    /// Dot product of two quantized vectors (for MMR's redundancy term).
    pub fn dot_q(&self, other: &SentenceVector) -> f32 {
        let mut acc = 0i32;
        for (a, b) in self.codes.iter().zip(&other.codes) {
            acc += *a as i32 * *b as i32;
        }
        acc as f32 * self.scale * other.scale
    }

    /// The dequantized vector.
    pub fn to_f32(&self) -> Vec<f32> {
        self.codes.iter().map(|&q| q as f32 * self.scale).collect()
    }
}

/// Worst-case error of [`SentenceVector::dot`] against the exact dot product of the
/// original vector with `y`: `scale / 2 · ‖y‖₁`.
pub fn error_bound(v: &SentenceVector, y: &[f32]) -> f32 {
    v.scale / 2.0 * y.iter().map(|x| x.abs()).sum::<f32>()
}

/// The sentence vectors of one chunk (in span order).
pub type ChunkSentences = Arc<Vec<SentenceVector>>;

/// The sentence vectors of an index, by chunk. A chunk absent from the store has not
/// been embedded yet (an index written by format v1); a chunk present with no vectors
/// has no sentence long enough to answer with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentenceStore {
    dim: usize,
    chunks: BTreeMap<ChunkId, ChunkSentences>,
}

/// The section's serialized shape.
#[derive(Serialize, Deserialize)]
struct Wire {
    dim: u32,
    chunks: Vec<(ChunkId, Vec<SentenceVector>)>,
}

impl SentenceStore {
    /// An empty store for vectors of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        SentenceStore { dim, chunks: BTreeMap::new() }
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Chunks with an entry.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no chunk has an entry.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Sentence vectors stored, over all chunks.
    pub fn vectors(&self) -> usize {
        self.chunks.values().map(|v| v.len()).sum()
    }

    /// A chunk's vectors, if it has an entry.
    pub fn get(&self, id: ChunkId) -> Option<&ChunkSentences> {
        self.chunks.get(&id)
    }

    /// Whether `id` has an entry.
    pub fn contains(&self, id: ChunkId) -> bool {
        self.chunks.contains_key(&id)
    }

    /// Set a chunk's vectors (each must have the store's dimension).
    pub fn insert(&mut self, id: ChunkId, vectors: Vec<SentenceVector>) -> Result<()> {
        if let Some(v) = vectors.iter().find(|v| v.codes.len() != self.dim) {
            return Err(Error::DimensionMismatch { expected: self.dim, got: v.codes.len() });
        }
        self.chunks.insert(id, Arc::new(vectors));
        Ok(())
    }

    /// Remove a chunk's entry.
    pub fn remove(&mut self, id: ChunkId) {
        self.chunks.remove(&id);
    }

    /// Chunk ids with an entry.
    pub fn ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.chunks.keys().copied()
    }

    /// The section's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = Wire {
            dim: self.dim as u32,
            chunks: self.chunks.iter().map(|(id, v)| (*id, v.as_ref().clone())).collect(),
        };
        super::format::bincode_opts(u64::MAX).serialize(&wire).unwrap_or_default()
    }

    /// Decode a section, checking every vector: the dimension, a finite positive scale,
    /// a non-empty span, spans in order. Anything else is [`Error::Corrupt`] naming the
    /// `sentences` section. (Spans are checked against the chunks by the engine.)
    pub fn from_bytes(bytes: &[u8]) -> Result<SentenceStore> {
        let corrupt = |d: String| Error::corrupt("sentences", d);
        let wire: Wire = super::format::bincode_opts(bytes.len() as u64 * 2 + 1024)
            .deserialize(bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        let dim = wire.dim as usize;
        let mut chunks = BTreeMap::new();
        for (id, vectors) in wire.chunks {
            let mut last_end = 0u32;
            for v in &vectors {
                if v.codes.len() != dim {
                    return Err(corrupt(format!("chunk {id}: a vector of {} values, not {dim}", v.codes.len())));
                }
                if !(v.scale.is_finite() && v.scale > 0.0) {
                    return Err(corrupt(format!("chunk {id}: scale {} is not a finite number > 0", v.scale)));
                }
                if v.start >= v.end || v.start < last_end {
                    return Err(corrupt(format!("chunk {id}: span {}..{} is empty or out of order", v.start, v.end)));
                }
                last_end = v.end;
            }
            if chunks.insert(id, Arc::new(vectors)).is_some() {
                return Err(corrupt(format!("chunk {id} appears twice")));
            }
        }
        Ok(SentenceStore { dim, chunks })
    }
}

/// MaxSim of a chunk (Khattab & Zaharia 2020, at sentence granularity): the best dot
/// product of `query` with one of its sentence vectors; `None` without vectors.
pub fn max_sim(vectors: &[SentenceVector], query: &[f32]) -> Option<f32> {
    vectors.iter().map(|v| v.dot(query)).reduce(f32::max)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn unit(rng: &mut rand::rngs::StdRng, d: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn int8_dot_stays_within_its_error_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut worst = 0.0f32;
        for _ in 0..500 {
            let x = unit(&mut rng, 384);
            let y = unit(&mut rng, 384);
            let q = SentenceVector::quantize(0, 1, &x);
            let exact: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            let err = (q.dot(&y) - exact).abs();
            assert!(err <= error_bound(&q, &y) + 1e-6, "error {err} > bound {}", error_bound(&q, &y));
            worst = worst.max(err);
            // Dequantized components are within scale / 2 of the original.
            for (a, b) in q.to_f32().iter().zip(&x) {
                assert!((a - b).abs() <= q.scale / 2.0 + 1e-7);
            }
        }
        assert!(worst < 0.01, "worst cosine error {worst} on unit vectors of dim 384");
        // Quantized-quantized products agree with the dequantized ones.
        let x = SentenceVector::quantize(0, 1, &unit(&mut rng, 384));
        let y = SentenceVector::quantize(0, 1, &unit(&mut rng, 384));
        let deq: f32 = x.to_f32().iter().zip(y.to_f32()).map(|(a, b)| a * b).sum();
        assert!((x.dot_q(&y) - deq).abs() < 1e-4);
        // A zero vector is representable.
        let z = SentenceVector::quantize(0, 1, &[0.0; 4]);
        assert_eq!((z.scale, z.dot(&[1.0; 4])), (1.0, 0.0));
    }

    #[test]
    fn round_trip_and_corruption_are_typed() {
        let mut s = SentenceStore::new(3);
        s.insert(4, vec![SentenceVector::quantize(0, 5, &[0.1, -0.5, 0.2])]).unwrap();
        s.insert(9, vec![]).unwrap();
        assert!(matches!(
            s.insert(1, vec![SentenceVector::quantize(0, 5, &[0.1])]),
            Err(Error::DimensionMismatch { .. })
        ));
        let back = SentenceStore::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!((back.len(), back.vectors()), (2, 1));
        // Bad scale, wrong dimension, bad spans, garbage: Corrupt("sentences").
        let bad = |v: SentenceVector| {
            let mut t = SentenceStore::new(3);
            t.chunks.insert(1, Arc::new(vec![v]));
            SentenceStore::from_bytes(&t.to_bytes()).unwrap_err()
        };
        let ok = SentenceVector::quantize(0, 5, &[0.1, -0.5, 0.2]);
        for e in [
            bad(SentenceVector { scale: f32::NAN, ..ok.clone() }),
            bad(SentenceVector { scale: 0.0, ..ok.clone() }),
            bad(SentenceVector { codes: vec![1, 2], ..ok.clone() }),
            bad(SentenceVector { start: 5, ..ok.clone() }),
            SentenceStore::from_bytes(&[0xff; 7]).unwrap_err(),
            SentenceStore::from_bytes(&s.to_bytes()[..10]).unwrap_err(),
        ] {
            assert!(matches!(&e, Error::Corrupt { section, .. } if section == "sentences"), "{e:?}");
        }
    }

    #[test]
    fn max_sim_is_the_best_sentence() {
        let a = SentenceVector::quantize(0, 1, &[1.0, 0.0]);
        let b = SentenceVector::quantize(2, 3, &[0.0, 1.0]);
        let m = max_sim(&[a, b], &[0.2, 0.9]).unwrap();
        assert!((m - 0.9).abs() < 0.01, "{m}");
        assert_eq!(max_sim(&[], &[1.0, 0.0]), None);
    }
}

//! Token-level late interaction on MiniLM's token states: does it rerank better than the
//! sentence-level MaxSim Sotto ships (issue 10, item 2)?
//!
//! ```sh
//! cargo run --release --example token_maxsim -- --index target/cargo-book-v2.sotto [--pool 20]
//! ```
//!
//! ColBERT (Khattab & Zaharia 2020) scores a passage by the sum over query tokens of the
//! best cosine with any passage token, with encoders *trained* for it. Sotto's rerank
//! scores a chunk by its best *sentence* vector (mean-pooled MiniLM, which is trained for
//! sentence similarity). This experiment takes the same candidate pool per question (the
//! top `--pool` chunks of hybrid RRF retrieval) and orders it four ways:
//! - `fusion`: as retrieved (no rerank);
//! - `sentence`: the shipped rerank's score, the best sentence cosine
//!   (`Engine::rerank_passages`, which embeds the passages' sentences in f32 at call time;
//!   `rerank: maxsim` reads the same vectors stored in int8, within 0.01 in cosine);
//! - `token`: mean over the question's word-piece states (special tokens left out) of the
//!   best cosine with the chunk's word-piece states, stored int8 with one scale per vector
//!   as the index would store them;
//! - `token+sentence`: the mean of the two scores.
//!
//! Reported per question set: document hit@1, hit@5 and MRR over the pool (the document
//! of a chunk is relevant when the dataset lists it), the cost of the token states (per
//! question: the chunks' forward passes; for the index: bytes if they were stored, from
//! the token count of every chunk) and the time of the token scoring itself.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use sotto::embed::Embedder;
use sotto::eval::parse_jsonl;
use sotto::{Engine, SearchOptions};

#[path = "../tests/common/mod.rs"]
mod common;

/// One token state stored as the index stores sentence vectors: int8 codes and a scale.
struct Quantized {
    codes: Vec<i8>,
    scale: f32,
}

fn quantize(v: &[f32]) -> Quantized {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    Quantized { codes: v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale }
}

fn dot(q: &[f32], d: &Quantized) -> f32 {
    q.iter().zip(&d.codes).map(|(a, &b)| a * b as f32).sum::<f32>() * d.scale
}

/// Mean over query tokens of the best cosine with a passage token.
fn token_maxsim(query: &[Vec<f32>], doc: &[Quantized]) -> f32 {
    if query.is_empty() || doc.is_empty() {
        return 0.0;
    }
    query.iter().map(|q| doc.iter().map(|d| dot(q, d)).fold(f32::MIN, f32::max)).sum::<f32>() / query.len() as f32
}

/// The states without the first and last rows ([CLS] and [SEP]).
fn inner(mut states: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    if states.len() > 2 {
        states.pop();
        states.remove(0);
    }
    states
}

#[derive(Default)]
struct Tally {
    n: usize,
    hit1: usize,
    hit5: usize,
    rr: f64,
}

impl Tally {
    fn add(&mut self, ranked_docs: &[&str], relevant: &HashSet<&str>) {
        self.n += 1;
        if let Some(p) = ranked_docs.iter().position(|d| relevant.contains(d)) {
            self.hit1 += (p == 0) as usize;
            self.hit5 += (p < 5) as usize;
            self.rr += 1.0 / (p + 1) as f64;
        }
    }
    fn row(&self) -> String {
        let n = self.n.max(1) as f64;
        format!("{:.3} | {:.3} | {:.3}", self.hit1 as f64 / n, self.hit5 as f64 / n, self.rr / n)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let index_path = PathBuf::from(arg("--index").ok_or("--index PATH is required")?);
    let pool: usize = arg("--pool").map(|p| p.parse()).transpose()?.unwrap_or(20);
    let bytes = std::fs::read(&index_path)?;
    let engine = Engine::from_bytes(&bytes, Box::new(sotto::native::load_default_embedder()?))?;
    let bert = sotto::native::load_default_embedder()?;
    println!("index: {} ({} chunks); candidate pool {pool}", index_path.display(), engine.stats().chunks);

    // What storing token states would cost: one int8 vector + f32 scale per word piece.
    let dim = bert.info().dim;
    let mut tokens = 0usize;
    for id in engine.document_ids() {
        for &c in engine.document(id).map(|d| d.chunks.as_slice()).unwrap_or_default() {
            if let Some((_, text)) = engine.chunk(c) {
                tokens += bert.token_ids(text)?.len();
            }
        }
    }
    println!(
        "token states for the whole index: {tokens} word pieces, {:.1} MB int8 (the index file is {:.1} MB)",
        (tokens * (dim + 4)) as f64 / 1e6,
        bytes.len() as f64 / 1e6
    );

    let options = SearchOptions { k: pool, ..SearchOptions::default() };
    println!("| set | order | hit@1 | hit@5 | MRR@{pool} |");
    println!("|---|---|---|---|---|");
    let (mut sentence_ms, mut token_ms, mut encode_ms) = (0f64, 0f64, 0f64);
    for file in ["cargo-book-qa.jsonl", "cargo-book-hard.jsonl"] {
        let ds = parse_jsonl(&std::fs::read_to_string(common::data_dir().join(file))?, true)?;
        let mut tallies: [Tally; 4] = Default::default();
        for q in ds.questions.iter().filter(|q| !q.relevant_docs.is_empty()) {
            let relevant: HashSet<&str> = q.relevant_docs.iter().map(String::as_str).collect();
            let hits = engine.search(&q.question, &options)?;
            let texts: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();

            let t = Instant::now();
            let sentence = engine.rerank_passages(&q.question, &texts, &|| false)?;
            sentence_ms += t.elapsed().as_secs_f64() * 1e3;
            let mut s_score = vec![0f32; hits.len()];
            for r in &sentence {
                s_score[r.index] = r.score;
            }

            let t = Instant::now();
            let states: Vec<Vec<Quantized>> = texts
                .iter()
                .map(|t| Ok(bert.token_states(t)?.iter().map(|v| quantize(v)).collect()))
                .collect::<sotto::Result<_>>()?;
            encode_ms += t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let qstates = inner(bert.token_states(&q.question)?);
            let t_score: Vec<f32> = states.iter().map(|d| token_maxsim(&qstates, d)).collect();
            token_ms += t.elapsed().as_secs_f64() * 1e3;

            let order = |score: &dyn Fn(usize) -> f32| -> Vec<&str> {
                let mut idx: Vec<usize> = (0..hits.len()).collect();
                idx.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
                idx.into_iter().map(|i| hits[i].doc_id.as_str()).collect()
            };
            tallies[0].add(&hits.iter().map(|h| h.doc_id.as_str()).collect::<Vec<_>>(), &relevant);
            tallies[1].add(&order(&|i| s_score[i]), &relevant);
            tallies[2].add(&order(&|i| t_score[i]), &relevant);
            tallies[3].add(&order(&|i| (s_score[i] + t_score[i]) / 2.0), &relevant);
        }
        let set = file.trim_end_matches(".jsonl");
        for (name, t) in ["fusion", "sentence", "token", "token+sentence"].iter().zip(&tallies) {
            println!("| {set} ({}) | {name} | {} |", t.n, t.row());
        }
    }
    println!(
        "time over both sets: token scoring {token_ms:.0} ms (query states + MaxSim over stored int8 states); \
         encoding the chunks' token states {encode_ms:.0} ms (an index would store them); the sentence scores, \
         embedded at call time, {sentence_ms:.0} ms"
    );
    Ok(())
}

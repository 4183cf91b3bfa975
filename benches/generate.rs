//! Generation speed of SmolLM2-135M-Instruct through candle: prefill tokens/s (a ~200-token
//! prompt, the engine's default context budget), decode tokens/s, and time to first token
//! (prefill + one decode step), for the shipped Q4_1 weights and for the same weights
//! requantized to Q8_0 on load. Needs the real model (`scripts/fetch-models.sh` or
//! `$SOTTO_MODELS`).
//!
//! `cargo bench --bench generate` (criterion reports elements/s = tokens/s for prefill and
//! decode; the time-to-first-token group reports plain time).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sotto::generate::{load_gguf, ChatMessage, GenerationOptions, Generator, LoadOptions, Prompt};

fn model_bytes() -> Vec<u8> {
    sotto::native::read_model_file(sotto::native::DEFAULT_GENERATOR).unwrap_or_else(|e| panic!("{e}"))
}

fn variants(bytes: &[u8]) -> Vec<(&'static str, Box<dyn Generator>)> {
    let q4 = LoadOptions { requantize_to_q8_0: false, ..Default::default() };
    vec![
        ("Q4_1", load_gguf(bytes, &q4).expect("load Q4_1")),
        ("Q8_0", load_gguf(bytes, &LoadOptions::default()).expect("load Q8_0")),
    ]
}

fn bench(c: &mut Criterion) {
    let bytes = model_bytes();
    let mut models = variants(&bytes);
    let question = "What does a workspace share?";
    let messages =
        [ChatMessage::user(format!("Sources:\n{}\n{}\nQuestion: {question}", common::PASSAGE, common::PASSAGE))];
    let prompt_tokens = models[0].1.count_tokens(&models[0].1.render_chat(&messages).unwrap()).unwrap();
    let decode_steps = 32;

    let mut g = c.benchmark_group("prefill");
    g.sample_size(10);
    g.throughput(Throughput::Elements(prompt_tokens as u64));
    for (name, m) in models.iter_mut() {
        let opts = GenerationOptions { max_new_tokens: 1, ..Default::default() };
        g.bench_with_input(BenchmarkId::new(*name, prompt_tokens), &messages, |b, msgs| {
            b.iter(|| m.start(Prompt::Chat(msgs), &opts).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.sample_size(10);
    g.throughput(Throughput::Elements(decode_steps as u64));
    for (name, m) in models.iter_mut() {
        // The first next_token samples from the prefill logits and runs one decode pass; the
        // timed loop then runs `decode_steps` passes (the last token needs none). A story
        // prompt and no loop guard keep EOS and the guard from ending it early.
        let opts = GenerationOptions { max_new_tokens: decode_steps + 2, loop_guard_ngram: 0, ..Default::default() };
        let short = [ChatMessage::user("Write a long story about a lighthouse keeper.")];
        g.bench_function(BenchmarkId::new(*name, decode_steps), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    m.start(Prompt::Chat(&short), &opts).unwrap();
                    m.next_token().unwrap();
                    let t0 = std::time::Instant::now();
                    while m.next_token().unwrap().is_some() {}
                    total += t0.elapsed();
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("time_to_first_token");
    g.sample_size(10);
    for (name, m) in models.iter_mut() {
        let opts = GenerationOptions { max_new_tokens: 8, ..Default::default() };
        g.bench_with_input(BenchmarkId::new(*name, prompt_tokens), &messages, |b, msgs| {
            b.iter(|| {
                m.start(Prompt::Chat(msgs), &opts).unwrap();
                m.next_token().unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

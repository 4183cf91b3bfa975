//! Prefill and decode speed of SmolLM2-135M (Q8_0 on load) on a ~300-token RAG chat prompt:
//! prefill tokens/s, time to first token (prefill + one decode step) and decode tokens/s,
//! median of a few runs, for each backend this build has.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release --example prefill_speed [runs]`
//!
//! Prints one table; compare rows of the same run only (the machine is shared).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use sotto::generate::{load_gguf, ChatMessage, GenerationOptions, Generator, LoadOptions, Prompt};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bytes = sotto::native::read_model_file(sotto::native::DEFAULT_GENERATOR).unwrap_or_else(|e| panic!("{e}"));
    let mut models: Vec<(&str, Box<dyn Generator>)> =
        vec![("default (load_gguf)", load_gguf(&bytes, &LoadOptions::default()).expect("load"))];
    let reference = sotto::generate::testing::candle_llama(&bytes, &LoadOptions::default()).expect("load reference");
    models.push(("candle quantized_llama", reference));
    let messages = [ChatMessage::user(common::three_source_question())];
    let n = models[0].1.count_tokens(&models[0].1.render_chat(&messages).unwrap()).unwrap();
    println!("prompt: {n} tokens; {runs} runs each, medians");
    println!("| backend | prefill tok/s | time to first token | decode tok/s |");
    println!("|---|---|---|---|");
    let decode_steps = 32;
    for (name, m) in models.iter_mut() {
        let (mut pre, mut ttft, mut dec) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let one = GenerationOptions { max_new_tokens: 1, ..Default::default() };
            let t0 = Instant::now();
            m.start(Prompt::Chat(&messages), &one).unwrap();
            pre.push(t0.elapsed());

            let opts =
                GenerationOptions { max_new_tokens: decode_steps + 2, loop_guard_ngram: 0, ..Default::default() };
            let t0 = Instant::now();
            m.start(Prompt::Chat(&messages), &opts).unwrap();
            m.next_token().unwrap(); // samples the first token and runs one decode pass
            ttft.push(t0.elapsed());
            let t0 = Instant::now();
            let mut steps = 0;
            while m.next_token().unwrap().is_some() {
                steps += 1;
            }
            dec.push(t0.elapsed() / steps.max(1) as u32);
        }
        let (p, t, d) = (median(pre), median(ttft), median(dec));
        println!(
            "| {name} | {:.1} | {:.3} s | {:.1} |",
            n as f64 / p.as_secs_f64(),
            t.as_secs_f64(),
            1.0 / d.as_secs_f64()
        );
    }
}

//! What copy-constrained decoding costs per token (issue 10 item 4), on SmolLM2-135M-Instruct:
//!
//! ```sh
//! SOTTO_MODELS=$HOME/.cache/sotto/models cargo run --release --example constrain_cost -- [--reps 5]
//! ```
//!
//! 1. The mask alone: `CopyConstraint::mask` + `advance` over the tokens of a source-like
//!    answer, per step (the between-words state is cached, the others walk the vocabulary),
//!    for the word and the bigram unit.
//! 2. Whole decode steps, free, word- and bigram-constrained, rotating which goes first, on
//!    the same prompt (a ~200-token RAG prompt, 48 new tokens, greedy): median ms per
//!    generated token and the ratios to free decoding, measured in the same run.

use std::time::Instant;

use sotto::generate::constrain::{Constraint, CopyConstraint, CopyUnit};
use sotto::generate::{load_gguf, stream_constrained, ChatMessage, GenerationOptions, LoadOptions, Prompt};
use sotto::rag::answer::COPY_FREE_WORDS;

const SOURCES: &[&str] = &[
    "Cargo.lock records the exact version of every dependency after resolution.",
    "A workspace is a set of packages that share one Cargo.lock and one output directory.",
    "Profiles change compiler settings such as optimisation level and debug information.",
    "Build scripts run before the package is compiled and can generate code or link native libraries.",
    "Use cargo vendor and the --offline flag to build without a network.",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn copy(tokenizer: &sotto::generate::GgufTokenizer, unit: CopyUnit) -> CopyConstraint {
    let free = sotto::text::Language::English.stop_words().iter().chain(COPY_FREE_WORDS).copied();
    CopyConstraint::with_unit(tokenizer, SOURCES.iter().copied(), free, SOURCES.len(), unit)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize =
        args.iter().position(|a| a == "--reps").and_then(|i| args.get(i + 1)).map_or(Ok(5), |s| s.parse())?;
    let bytes = sotto::native::read_model_file(sotto::native::DEFAULT_GENERATOR)?;
    let mut g = load_gguf(&bytes, &LoadOptions::default())?;
    let vocab = g.tokenizer().vocab_size();

    // 1. The mask alone, stepping through an answer made of source phrases.
    let answer = "Cargo.lock records the exact version of every dependency [1]. Use cargo vendor and --offline [5].";
    let ids = g.tokenizer().encode(answer, false)?;
    for unit in [CopyUnit::Words, CopyUnit::Bigrams] {
        let mut per_step = Vec::new();
        for _ in 0..reps {
            let mut c = copy(g.tokenizer(), unit);
            let mut logits = vec![0.0f32; vocab];
            let t = Instant::now();
            for &id in &ids {
                logits.iter_mut().for_each(|l| *l = 0.0);
                let n = c.mask(&mut logits);
                assert!(n > 0 && logits[id as usize] == 0.0, "the answer's own token {id} was masked ({unit:?})");
                c.advance(id);
            }
            per_step.push(t.elapsed().as_secs_f64() * 1e3 / ids.len() as f64);
        }
        println!(
            "mask + advance, {unit:?}: {:.3} ms per step (median of {reps}, {} steps, vocabulary {vocab})",
            median(per_step),
            ids.len()
        );
    }

    // 2. Whole decode steps: free, words, bigrams, the first of each round rotating.
    let prompt = sotto::rag::prompt::build_prompt("What does Cargo.lock record?", SOURCES.iter().copied());
    let messages = [ChatMessage::user(prompt)];
    let opts = GenerationOptions { max_new_tokens: 48, ..Default::default() };
    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let modes: [Option<CopyUnit>; 3] = [None, Some(CopyUnit::Words), Some(CopyUnit::Bigrams)];
    let mut ms: [Vec<f64>; 3] = Default::default();
    for rep in 0..reps {
        for k in 0..modes.len() {
            let m = (rep + k) % modes.len();
            let c: Option<Box<dyn Constraint>> =
                modes[m].map(|u| Box::new(copy(g.tokenizer(), u)) as Box<dyn Constraint>);
            let run = stream_constrained(g.as_mut(), Prompt::Chat(&messages), &opts, c, &clock, &mut |_| true)?;
            g.reset();
            if rep == 0 {
                println!(
                    "{:?}: {:?} ({} tokens generated, {} decode passes, {:.0} ms decoding, {:?})",
                    modes[m],
                    run.text,
                    run.stats.generated_tokens,
                    run.stats.decode_tokens,
                    run.decode_ms,
                    run.stats.finish_reason
                );
            }
            ms[m].push(run.decode_ms / run.stats.generated_tokens.max(1) as f64);
        }
    }
    let [f, w, b] = ms.map(median);
    println!(
        "decode: free {f:.1} ms/token, words {w:.1} (ratio {:.3}), bigrams {b:.1} (ratio {:.3}) (medians of {reps})",
        w / f,
        b / f
    );
    Ok(())
}

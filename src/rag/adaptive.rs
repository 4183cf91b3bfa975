//! Adaptive RAG (Jeong et al. 2024, "Adaptive-RAG: Learning to Adapt Retrieval-Augmented
//! Large Language Models through Question Complexity"): a classifier picks, per question,
//! how much retrieval it gets. The paper trains a T5 on complexity labels; here the class
//! comes from [`crate::query::classify`] (rules, then prototype embeddings — no network),
//! and picks one of three pipelines:
//!
//! - **No retrieval** for *meta* questions (a greeting, "what can you do?", "what is this
//!   about?"): a canned answer that describes the collection — how many documents and
//!   passages, and a few titles — from the engine's own records, with no citation (nothing
//!   was retrieved, so nothing is cited).
//! - **Multi-step** for *comparison* questions a decomposition rule splits
//!   ([`crate::query::translate::decompose`]): each part is answered by the single-step
//!   pipeline (retrieve, grade, select — or generate and attribute — each with its own
//!   citations), and the parts' answers are composed into one, citations renumbered, a part
//!   the documents do not answer said so.
//! - **Single-step** (today's [`Engine::ask`]) for every other class.
//!
//! The route — class, how it was decided, pipeline, parts, per-stage time — is in
//! [`Answer::route`]. Whether `adaptive` is the default is decided by measurement (see
//! `docs/answers.md`).

use serde::{Deserialize, Serialize};

use super::answer::{Answer, AnswerMode, AnswerSentence, Citation};
use super::ask::{AskOptions, ABSTAIN_TEXT};
use super::Engine;
use crate::embed::EmbedderInfo;
use crate::error::Result;
use crate::query::classify::{classify, Classification, Prototypes, QuestionClass};
use crate::query::translate::{decompose, StageTime, MAX_PARTS};

/// Most parts a multi-step answer has (each is one retrieval and one answer).
pub const MAX_STEPS: usize = 4;

/// Titles named by the canned answer to a meta question.
pub const META_TITLES: usize = 5;

/// The pipeline a question was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pipeline {
    /// A canned description of the collection; nothing retrieved.
    NoRetrieval,
    /// One retrieval, one answer.
    SingleStep,
    /// One retrieval and answer per part, composed.
    MultiStep,
}

/// One part of a multi-step answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartTrace {
    /// The sub-question.
    pub question: String,
    /// Whether the documents answered it (false: the part abstained).
    pub answered: bool,
    /// Sentences it contributed.
    pub sentences: usize,
    /// The answer's citation numbers its sentences use.
    pub citations: Vec<usize>,
    /// The grader's verdict on its retrieval, when one applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<super::grade::Grade>,
}

/// What the adaptive router did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTrace {
    /// The question's class and how it was decided.
    pub classification: Classification,
    /// The pipeline it picked.
    pub pipeline: Pipeline,
    /// The parts of a multi-step answer (empty otherwise).
    pub parts: Vec<PartTrace>,
    /// Anything else worth knowing (a capped decomposition, a fallback to single-step).
    pub notes: Vec<String>,
    /// Per-stage time: `embed`, `classify`, then `answer` (single-step), `part N`
    /// (multi-step) and `compose`, or `describe` (no retrieval).
    pub stages: Vec<StageTime>,
}

/// The prototype floors (any class, meta) of an embedder, when known. Cosines of another
/// model live on another scale, so an embedder without measured floors classifies by
/// rules only.
///
/// all-MiniLM-L6-v2: set on the dev sets (`cargo-book-qa.jsonl`, `cargo-book-hard.jsonl`)
/// — see `docs/answers.md` for the similarities measured.
pub fn prototype_floors(info: &EmbedderInfo) -> Option<(f32, f32)> {
    (info.name == "all-MiniLM-L6-v2").then_some((MINILM_PROTOTYPE_FLOOR, MINILM_META_FLOOR))
}

/// Prototype floor of all-MiniLM-L6-v2 for every class but meta: no dev question comes
/// near it (highest 0.362), so on the dev sets every class but meta comes from rules.
pub const MINILM_PROTOTYPE_FLOOR: f32 = 0.6;
/// Prototype floor of all-MiniLM-L6-v2 for meta: above the highest nearest-prototype
/// cosine of the 56 dev questions (0.362, any class; 0.125 for meta) with a margin, and
/// below held-out meta phrasings (0.48 for "what sort of things do you know about?",
/// which the first floor, 0.70, missed). See `tests/question_classes.rs`.
pub const MINILM_META_FLOOR: f32 = 0.45;

fn stage(name: impl Into<String>, ms: f64) -> StageTime {
    StageTime { stage: name.into(), ms }
}

impl Engine {
    /// The class prototypes for this engine's embedder, embedded on first use and cached
    /// (`None`: the embedder has no prototype floors, so rules only).
    pub(crate) fn prototypes(&self) -> Result<Option<&Prototypes>> {
        if let Some(p) = self.prototypes.get() {
            return Ok(p.as_ref());
        }
        let built = match prototype_floors(self.embedder.info()) {
            None => None,
            Some((floor, meta_floor)) => {
                let (classes, texts): (Vec<QuestionClass>, Vec<String>) =
                    Prototypes::texts().map(|(c, t)| (c, format!("{}{}", self.config.query_prefix, t))).unzip();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let vectors = self.embed_batch_checked(&refs)?;
                Some(Prototypes::new(classes.into_iter().zip(vectors).collect(), floor, meta_floor))
            }
        };
        // A concurrent caller may have set it first: either value is the same.
        let _ = self.prototypes.set(built);
        Ok(self.prototypes.get().and_then(Option::as_ref))
    }

    /// The class of `question` (see [`crate::query::classify`]): rules, then the nearest
    /// prototype of its embedding when this embedder has prototype floors.
    pub fn classify(&self, question: &str) -> Result<Classification> {
        let v = self.embed_query(
            question,
            &crate::query::SearchOptions { mode: crate::query::Mode::Dense, ..Default::default() },
        )?;
        self.classify_question(question, Some(&v))
    }

    /// The class of `question` whose vector is `qvec` (see [`crate::query::classify`]).
    /// The prototypes are embedded only when a question reaches them (no rule fired):
    /// that first time costs one batch of ~30 short texts (measured ~0.5 s natively with
    /// MiniLM on a loaded 2-core machine).
    pub fn classify_question(&self, question: &str, qvec: Option<&[f32]>) -> Result<Classification> {
        if qvec.is_none() || crate::query::classify::classify_by_rules(question).is_some() {
            return Ok(classify(question, None, qvec));
        }
        Ok(classify(question, self.prototypes()?, qvec))
    }

    /// [`Engine::ask`] with `adaptive` on (options already validated).
    pub(crate) fn ask_adaptive(
        &self,
        question: &str,
        options: &AskOptions,
        clock: &dyn Fn() -> f64,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Answer> {
        let t0 = clock();
        let qvec = self.question_vector(question, options)?;
        let t1 = clock();
        let classification = self.classify_question(question, Some(&qvec))?;
        let t2 = clock();
        let mut route = RouteTrace {
            classification,
            pipeline: Pipeline::SingleStep,
            parts: Vec::new(),
            notes: Vec::new(),
            stages: vec![stage("embed", t1 - t0), stage("classify", t2 - t1)],
        };
        let single = AskOptions { adaptive: false, ..options.clone() };
        let mut answer = match route.classification.class {
            QuestionClass::Meta => {
                route.pipeline = Pipeline::NoRetrieval;
                let mut a = Answer { question: question.to_owned(), ..Answer::default() };
                a.answer = self.describe_collection();
                route.stages.push(stage("describe", clock() - t2));
                on_text(&a.answer);
                a
            }
            QuestionClass::Comparison => match decompose(question, MAX_PARTS) {
                Some(d) => {
                    if d.found > MAX_STEPS {
                        route.notes.push(format!("{} parts found, the first {MAX_STEPS} answered", d.found));
                    }
                    let parts: Vec<String> = d.parts.into_iter().take(MAX_STEPS).collect();
                    route.pipeline = Pipeline::MultiStep;
                    self.multi_step(question, &parts, &single, &mut route, clock, on_text)?
                }
                None => {
                    route.notes.push("no decomposition rule splits it: answered in one step".into());
                    let a = self.ask_with_vector(question, &qvec, t0, &single, clock, on_text)?;
                    route.stages.push(stage("answer", clock() - t2));
                    a
                }
            },
            _ => {
                let a = self.ask_with_vector(question, &qvec, t0, &single, clock, on_text)?;
                route.stages.push(stage("answer", clock() - t2));
                a
            }
        };
        answer.timings.total_ms = clock() - t0;
        answer.route = Some(route);
        Ok(answer)
    }

    /// Answer each part with the single-step pipeline, then compose.
    fn multi_step(
        &self,
        question: &str,
        parts: &[String],
        options: &AskOptions,
        route: &mut RouteTrace,
        clock: &dyn Fn() -> f64,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Answer> {
        // Each part gets its share of the sentence budget (at least one).
        let per_part = options.max_sentences.div_ceil(parts.len()).max(1);
        let part_options = AskOptions { max_sentences: per_part, ..options.clone() };
        let streaming = options.mode.uses_generator();
        let mut answers = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let t = clock();
            let tp = clock();
            let qvec = self.question_vector(part, &part_options)?;
            let a = if streaming {
                self.ask_with_vector(part, &qvec, tp, &part_options, clock, on_text)?
            } else {
                self.ask_with_vector(part, &qvec, tp, &part_options, clock, &mut |_| true)?
            };
            route.stages.push(stage(format!("part {}", i + 1), clock() - t));
            answers.push(a);
        }
        let t = clock();
        let answer = compose(question, parts, answers, route);
        route.stages.push(stage("compose", clock() - t));
        if !streaming {
            on_text(&answer.answer);
        }
        Ok(answer)
    }

    /// The canned answer to a meta question: what the collection holds, from the
    /// engine's records. Titles are document text: callers must show it as text.
    pub fn describe_collection(&self) -> String {
        let stats = self.stats();
        if self.docs.is_empty() {
            return "I answer questions from the indexed documents, citing them, but the index is empty: \
                    add documents first."
                .to_owned();
        }
        let mut docs: Vec<(&String, &super::DocRecord)> = self.docs.iter().collect();
        docs.sort_by(|a, b| b.1.chunks.len().cmp(&a.1.chunks.len()).then_with(|| a.0.cmp(b.0)));
        let titles: Vec<String> = docs
            .iter()
            .take(META_TITLES)
            .map(|(id, d)| {
                let t = d.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or(id.as_str());
                format!("“{}”", t.chars().take(80).collect::<String>())
            })
            .collect();
        let (n, c) = (stats.documents, stats.chunks);
        format!(
            "I answer questions from the indexed documents only, quoting and citing the passages I use. \
             They are {n} document{} ({c} passage{}), among them {}. Ask me about what they cover.",
            if n == 1 { "" } else { "s" },
            if c == 1 { "" } else { "s" },
            titles.join(", ")
        )
    }
}

/// One answer from the parts' answers: sentences in part order (a sentence two parts
/// chose is kept once), citations renumbered in order of first use, a note for each part
/// the documents do not answer; abstained when no part is answered.
fn compose(question: &str, parts: &[String], answers: Vec<Answer>, route: &mut RouteTrace) -> Answer {
    let mut out = Answer { question: question.to_owned(), ..Answer::default() };
    let mut citations: Vec<Citation> = Vec::new();
    let mut sentences: Vec<AnswerSentence> = Vec::new();
    let mut unanswered: Vec<&str> = Vec::new();
    let mut generated: Option<AnswerMode> = None;
    for (part, a) in parts.iter().zip(answers) {
        let t = &a.timings;
        out.timings.retrieve_ms += t.retrieve_ms;
        out.timings.select_ms += t.select_ms;
        out.timings.prefill_ms += t.prefill_ms;
        out.timings.decode_ms += t.decode_ms;
        out.timings.attribute_ms += t.attribute_ms;
        out.timings.prompt_tokens += t.prompt_tokens;
        out.timings.generated_tokens += t.generated_tokens;
        out.retrieval_score = out.retrieval_score.max(a.retrieval_score);
        out.fell_back |= a.fell_back;
        out.dropped.extend(a.dropped.iter().cloned());
        if let Some(g) = &a.generated_text {
            let text = out.generated_text.get_or_insert_with(String::new);
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(g);
        }
        let mut trace = PartTrace {
            question: part.clone(),
            answered: !a.abstained && !a.sentences.is_empty(),
            sentences: 0,
            citations: Vec::new(),
            grade: a.grade.as_ref().map(|g| g.grade),
        };
        if !trace.answered {
            unanswered.push(part);
            route.parts.push(trace);
            continue;
        }
        if a.mode.uses_generator() {
            // Every part asks in the same mode, so a generated part says which mode it was.
            generated = Some(a.mode);
        }
        let renumber = |n: usize, citations: &mut Vec<Citation>| -> Option<usize> {
            let c = a.citations.iter().find(|c| c.n == n)?;
            let same = citations.iter().find(|o| o.doc_id == c.doc_id && o.start == c.start && o.end == c.end);
            Some(match same {
                Some(o) => o.n,
                None => {
                    let n = citations.len() + 1;
                    citations.push(Citation { n, ..c.clone() });
                    n
                }
            })
        };
        for s in &a.sentences {
            let mut cited: Vec<usize> = s.citations.iter().filter_map(|&n| renumber(n, &mut citations)).collect();
            cited.dedup();
            for &n in &cited {
                if !trace.citations.contains(&n) {
                    trace.citations.push(n);
                }
            }
            match sentences.iter_mut().find(|o| o.text == s.text) {
                Some(o) => {
                    for n in cited {
                        if !o.citations.contains(&n) {
                            o.citations.push(n);
                        }
                    }
                }
                None => {
                    trace.sentences += 1;
                    sentences.push(AnswerSentence { citations: cited, ..s.clone() });
                }
            }
        }
        route.parts.push(trace);
    }
    out.mode = generated.unwrap_or(AnswerMode::Extractive);
    if sentences.is_empty() {
        out.abstained = true;
        out.answer = ABSTAIN_TEXT.to_owned();
        return out;
    }
    out.support = sentences.iter().map(|s| s.support).sum::<f32>() / sentences.len() as f32;
    out.answer = Answer::render(&sentences);
    for part in unanswered {
        out.answer.push_str(&format!(" The documents do not seem to answer the part about “{part}”."));
    }
    out.sentences = sentences;
    out.citations = citations;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::query::classify::ClassSource;
    use crate::query::Translate;
    use crate::{Document, EngineConfig};

    fn engine(docs: &[(&str, &str)]) -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        if !docs.is_empty() {
            e.add_documents(docs.iter().map(|(id, t)| Document::new(*id, *t)).collect()).unwrap();
        }
        e
    }

    const LOCK: &str = "# Lock file\n\nCargo.lock records the exact versions of every dependency. It is written by \
                        cargo when the dependencies are resolved. Commit it for binaries so builds are reproducible.";
    const PROFILES: &str = "# Profiles\n\nRelease profiles enable optimisation level three for faster programs. The \
                            dev profile keeps debug assertions and compiles quickly.";

    fn adaptive() -> AskOptions {
        AskOptions { adaptive: true, abstain_below: 0.0, ..AskOptions::default() }
    }

    #[test]
    fn a_meta_question_gets_the_collection_described_without_retrieval_or_citations() {
        let e = engine(&[("lock.md", LOCK), ("profiles.md", PROFILES)]);
        let mut streamed = String::new();
        let a = e
            .ask("Hello! What can you do?", &adaptive(), &|| 0.0, &mut |t| {
                streamed.push_str(t);
                true
            })
            .unwrap();
        let r = a.route.as_ref().unwrap();
        assert_eq!((r.classification.class, r.pipeline), (QuestionClass::Meta, Pipeline::NoRetrieval));
        assert!(a.answer.contains("2 documents") && a.answer.contains("“Lock file”"), "{}", a.answer);
        assert!(a.citations.is_empty() && a.sentences.is_empty() && !a.abstained);
        assert_eq!(streamed, a.answer);
        assert!(r.stages.iter().any(|s| s.stage == "classify") && r.stages.iter().any(|s| s.stage == "describe"));
        // Not adaptive: the same question is retrieved and answered (or abstained on) as before.
        let plain = e.ask("Hello! What can you do?", &AskOptions::default(), &|| 0.0, &mut |_| true).unwrap();
        assert!(plain.route.is_none());
    }

    #[test]
    fn a_comparison_is_answered_part_by_part_with_citations_for_each() {
        let e = engine(&[("lock.md", LOCK), ("profiles.md", PROFILES)]);
        let q = "Cargo.lock exact versions vs release profiles optimisation";
        let a = e.ask(q, &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        let r = a.route.as_ref().unwrap();
        assert_eq!((r.classification.class, r.pipeline), (QuestionClass::Comparison, Pipeline::MultiStep));
        assert_eq!(r.parts.len(), 2, "{r:?}");
        assert!(r.parts.iter().all(|p| p.answered && !p.citations.is_empty()), "{r:?}");
        let cited: Vec<&str> = a.citations.iter().map(|c| c.doc_id.as_str()).collect();
        assert!(cited.contains(&"lock.md") && cited.contains(&"profiles.md"), "{cited:?}");
        // Citations are numbered 1..=n and every sentence marker points at one.
        for (i, c) in a.citations.iter().enumerate() {
            assert_eq!(c.n, i + 1);
        }
        assert!(a.sentences.iter().flat_map(|s| &s.citations).all(|n| *n >= 1 && *n <= a.citations.len()));
        assert!(r.stages.iter().any(|s| s.stage == "part 2") && r.stages.iter().any(|s| s.stage == "compose"));
        // Asked plainly, the same question is one retrieval and carries no route.
        let plain = e.ask(q, &AskOptions { abstain_below: 0.0, ..AskOptions::default() }, &|| 0.0, &mut |_| true);
        assert!(plain.unwrap().route.is_none());
    }

    #[test]
    fn a_part_the_documents_do_not_answer_is_said_so() {
        let e = engine(&[("lock.md", LOCK)]);
        // The floor keeps the lock part (cosine well above) and drops the unrelated one.
        let options = AskOptions { abstain_below: 0.3, ..adaptive() };
        let a = e
            .ask(
                "Cargo.lock exact versions of every dependency vs zebra migration patterns",
                &options,
                &|| 0.0,
                &mut |_| true,
            )
            .unwrap();
        let r = a.route.as_ref().unwrap();
        assert_eq!(r.pipeline, Pipeline::MultiStep);
        assert_eq!(r.parts.iter().map(|p| p.answered).collect::<Vec<_>>(), [true, false], "{r:?}");
        assert!(!a.abstained && a.answer.contains("do not seem to answer the part about “zebra migration patterns”"));
        // No part answered: the whole answer abstains.
        let a = e.ask("zebra migration vs penguin husbandry", &options, &|| 0.0, &mut |_| true).unwrap();
        assert!(a.abstained && a.citations.is_empty(), "{a:?}");
    }

    #[test]
    fn other_classes_take_the_single_step_pipeline_and_the_hashing_embedder_uses_rules_only() {
        let e = engine(&[("lock.md", LOCK)]);
        let a = e.ask("Should binaries commit the lock file?", &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        let r = a.route.unwrap();
        assert_eq!((r.classification.class, r.classification.source), (QuestionClass::YesNo, ClassSource::Rule));
        assert_eq!(r.pipeline, Pipeline::SingleStep);
        let a = e.ask("Which file records the exact versions?", &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        let r = a.route.unwrap();
        assert_eq!((r.classification.class, r.classification.source), (QuestionClass::Factoid, ClassSource::Default));
        assert!(r.classification.rule.contains("no prototypes"), "{:?}", r.classification);
        assert!(!a.citations.is_empty());
        assert!(e.prototypes().unwrap().is_none());
    }

    #[test]
    fn an_empty_index_with_adaptive_on_answers_meta_questions_and_abstains_on_the_rest() {
        let e = engine(&[]);
        let a = e.ask("What is this about?", &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        assert!(a.answer.contains("index is empty") && !a.abstained, "{}", a.answer);
        let a = e.ask("Which file records the exact versions?", &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        assert!(a.abstained && a.citations.is_empty());
        let a = e.ask("Cargo.lock vs profiles", &adaptive(), &|| 0.0, &mut |_| true).unwrap();
        assert!(a.abstained && a.citations.is_empty());
    }

    #[test]
    fn a_question_in_a_language_the_corpus_lacks_is_not_meta_and_does_not_fail() {
        let e = engine(&[("lock.md", LOCK)]);
        for q in ["Cargo.lock とは何ですか？", "¿Qué registra el archivo de bloqueo?", "Что это такое?"]
        {
            let a = e.ask(q, &AskOptions { abstain_below: 0.3, ..adaptive() }, &|| 0.0, &mut |_| true).unwrap();
            let r = a.route.unwrap();
            assert_ne!(r.classification.class, QuestionClass::Meta, "{q}");
            assert_eq!(r.pipeline, Pipeline::SingleStep, "{q}");
        }
    }

    #[test]
    fn adaptive_with_a_translation_is_an_invalid_option() {
        let e = engine(&[("lock.md", LOCK)]);
        let mut o = adaptive();
        o.search.translate = Translate::Decompose;
        let err = e.ask("Which file?", &o, &|| 0.0, &mut |_| true).unwrap_err();
        assert_eq!(err.kind(), "InvalidOption");
        assert!(err.to_string().contains("adaptive"), "{err}");
    }

    #[test]
    fn prototypes_are_embedded_once_per_engine_for_an_embedder_with_floors() {
        /// A hashing embedder that calls itself MiniLM, counting its batches.
        struct Named(HashEmbedder, EmbedderInfo, std::sync::atomic::AtomicUsize);
        impl crate::text::TokenCounter for Named {
            fn count_tokens(&self, text: &str) -> usize {
                self.0.count_tokens(text)
            }
        }
        impl crate::embed::Embedder for Named {
            fn info(&self) -> &EmbedderInfo {
                &self.1
            }
            fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
                self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                self.0.embed_batch(texts)
            }
        }
        let inner = HashEmbedder::new(64);
        let info = EmbedderInfo { name: "all-MiniLM-L6-v2".into(), ..crate::embed::Embedder::info(&inner).clone() };
        let counter = std::sync::Arc::new(Named(inner, info, Default::default()));
        struct Shared(std::sync::Arc<Named>);
        impl crate::text::TokenCounter for Shared {
            fn count_tokens(&self, text: &str) -> usize {
                self.0.count_tokens(text)
            }
        }
        impl crate::embed::Embedder for Shared {
            fn info(&self) -> &EmbedderInfo {
                crate::embed::Embedder::info(&*self.0)
            }
            fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
                self.0.embed_batch(texts)
            }
        }
        let mut e = Engine::new(EngineConfig::default(), Box::new(Shared(counter.clone())));
        e.add_documents(vec![Document::new("lock.md", LOCK)]).unwrap();
        let batches = || counter.2.load(std::sync::atomic::Ordering::SeqCst);
        // A question a rule classifies does not need the prototypes: none are embedded.
        let v = e.question_vector("How do I publish?", &adaptive()).unwrap();
        let before = batches();
        assert_eq!(e.classify_question("How do I publish?", Some(&v)).unwrap().class, QuestionClass::HowTo);
        assert_eq!(batches(), before);
        assert!(e.prototypes.get().is_none());
        let p1 = e.prototypes().unwrap().unwrap() as *const Prototypes;
        let p2 = e.prototypes().unwrap().unwrap() as *const Prototypes;
        assert_eq!(p1, p2);
        assert_eq!(batches(), before + 1, "one batch of prototypes, embedded once");
        // A prototype verbatim is its own nearest prototype (cosine 1 ≥ any floor).
        let v = e.question_vector("what kind of questions can I ask you?", &adaptive()).unwrap();
        let c = e.classify_question("zzqx kind of questions can I ask you", Some(&v)).unwrap();
        assert_eq!((c.class, c.source), (QuestionClass::Meta, ClassSource::Prototype), "{c:?}");
    }
}

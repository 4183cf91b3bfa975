//! Semantic routing: what kind of question is this? (Adaptive RAG, Jeong et al. 2024,
//! classifies a question's complexity to pick a pipeline; here without a trained T5: rules
//! and prototype embeddings, no network.)
//!
//! A question gets one [`QuestionClass`]:
//!
//! 1. **Rules first** ([`classify_by_rules`]): the shapes a reader would name at a glance —
//!    a greeting or a question about the assistant or the collection itself (*meta*), a
//!    comparison or a question a decomposition rule splits ([`super::translate::decompose`],
//!    *comparison*), "overall" / "overview" / "summarize" (*overview*), a short "what is X"
//!    (*definition*), "how do I" (*how-to*), a leading auxiliary verb (*yes/no*), "which
//!    ones" / "list" (*list*). Rules are cheap, exact and work with any embedder (the
//!    hashing test embedder included).
//! 2. **Prototypes next** ([`Prototypes`]): when no rule fires, the question's own vector
//!    (already computed for retrieval, so this costs a few dot products) is compared
//!    with a few example questions per class ([`PROTOTYPES`]), embedded once per engine.
//!    The nearest class is taken only above a similarity floor set per embedder (cosines of
//!    different models live on different scales; an embedder without a known floor gets
//!    rules only, and the classification says so). *Meta* needs a higher floor and a short
//!    question: sending a real question to the no-retrieval pipeline would fail to answer it.
//! 3. Otherwise the question is *factoid* (answered by the single-step pipeline).
//!
//! The rules are English with a few French greetings; a question in another language falls
//! through to the prototypes or to *factoid*, never to *meta*.

use serde::{Deserialize, Serialize};

use super::translate::{decompose, MAX_PARTS};

/// The kind of a question; it picks the answering pipeline (see `rag::adaptive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuestionClass {
    /// A greeting, or a question about the assistant or the collection ("what can you do?").
    Meta,
    /// "What is X?", "What does X mean?".
    Definition,
    /// "How do I X?".
    HowTo,
    /// A comparison or another multi-part question a decomposition rule splits.
    Comparison,
    /// A question answered by yes or no ("Should a library commit Cargo.lock?").
    YesNo,
    /// "Which X are there?", "List the X".
    List,
    /// A broad question: "What does the guide say about X overall?".
    Overview,
    /// Anything else: a specific fact ("Which file records the exact versions?").
    Factoid,
}

impl QuestionClass {
    /// Every class, in declaration order.
    pub const ALL: [QuestionClass; 8] = [
        QuestionClass::Meta,
        QuestionClass::Definition,
        QuestionClass::HowTo,
        QuestionClass::Comparison,
        QuestionClass::YesNo,
        QuestionClass::List,
        QuestionClass::Overview,
        QuestionClass::Factoid,
    ];

    /// The name used in JSON and traces (`meta`, `how-to`, `yes-no` …).
    pub fn name(self) -> &'static str {
        match self {
            QuestionClass::Meta => "meta",
            QuestionClass::Definition => "definition",
            QuestionClass::HowTo => "how-to",
            QuestionClass::Comparison => "comparison",
            QuestionClass::YesNo => "yes-no",
            QuestionClass::List => "list",
            QuestionClass::Overview => "overview",
            QuestionClass::Factoid => "factoid",
        }
    }
}

/// How a class was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassSource {
    /// A rule matched (its name is in [`Classification::rule`]).
    Rule,
    /// The nearest prototype, above the embedder's floor.
    Prototype,
    /// Neither: the default class.
    Default,
}

/// A question's class and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The class.
    pub class: QuestionClass,
    /// Rule, prototype or default.
    pub source: ClassSource,
    /// The rule's name (`greeting`, `about-the-assistant`, `decompose:versus`, `how-do-i`, …),
    /// or `nearest prototype`, or why neither applied.
    pub rule: String,
    /// Cosine with the nearest prototype, when prototypes were consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

/// Example questions per class, embedded once per engine. Worded without any corpus's
/// vocabulary, so that they attract a question by its form rather than its topic.
pub const PROTOTYPES: &[(QuestionClass, &[&str])] = &[
    (
        QuestionClass::Meta,
        &[
            "hello",
            "hi there, how are you?",
            "what can you do?",
            "what is this about?",
            "who are you?",
            "what kind of questions can I ask you?",
            "thank you!",
        ],
    ),
    (
        QuestionClass::Definition,
        &[
            "what is a workspace?",
            "what does the term registry mean?",
            "define a package",
            "what is meant by a feature?",
        ],
    ),
    (
        QuestionClass::HowTo,
        &[
            "how do I add a new entry?",
            "how can I run the checks?",
            "how to publish my work?",
            "what are the steps to set up a new project?",
        ],
    ),
    (
        QuestionClass::Comparison,
        &[
            "what is the difference between the first and the second?",
            "this versus that: which one should I use?",
            "how does one option differ from the other?",
            "compare the two settings",
        ],
    ),
    (
        QuestionClass::YesNo,
        &[
            "is it possible to use two versions at once?",
            "can I skip this step?",
            "does it support plugins?",
            "should I keep this file?",
        ],
    ),
    (
        QuestionClass::List,
        &[
            "which commands are available?",
            "list the options",
            "what are all the supported fields?",
            "what kinds of targets exist?",
        ],
    ),
    (
        QuestionClass::Overview,
        &[
            "what does the guide say about this topic overall?",
            "give me an overview of the configuration",
            "summarize the section on testing",
            "what is covered about publishing in general?",
        ],
    ),
];

/// Meta by prototype also needs a question of at most this many words.
pub const META_PROTOTYPE_MAX_WORDS: usize = 8;

/// The prototype vectors of one embedder, with the floors that make a match count.
#[derive(Debug, Clone)]
pub struct Prototypes {
    vectors: Vec<(QuestionClass, Vec<f32>)>,
    floor: f32,
    meta_floor: f32,
}

impl Prototypes {
    /// Prototypes from `(class, vector)` pairs (unit vectors, as the embedders return),
    /// taken when the best cosine is at least `floor` (`meta_floor` for *meta*).
    pub fn new(vectors: Vec<(QuestionClass, Vec<f32>)>, floor: f32, meta_floor: f32) -> Self {
        Prototypes { vectors, floor, meta_floor }
    }

    /// The texts to embed, with their classes, in the order [`Prototypes::new`] expects.
    pub fn texts() -> impl Iterator<Item = (QuestionClass, &'static str)> {
        PROTOTYPES.iter().flat_map(|(c, qs)| qs.iter().map(move |q| (*c, *q)))
    }

    /// The nearest prototype's class and cosine (`None` without prototypes or when a
    /// dimension differs).
    pub fn nearest(&self, q: &[f32]) -> Option<(QuestionClass, f32)> {
        let mut best: Option<(QuestionClass, f32)> = None;
        for (class, v) in &self.vectors {
            if v.len() != q.len() {
                return None;
            }
            let cos: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            if best.is_none_or(|(_, b)| cos > b) {
                best = Some((*class, cos));
            }
        }
        best
    }
}

/// Lower-case words of `s` (letters, digits, `'`, `-`), in order.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect()
}

const GREETING_WORDS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "greetings",
    "good",
    "morning",
    "afternoon",
    "evening",
    "there",
    "thanks",
    "thank",
    "you",
    "cheers",
    "bye",
    "goodbye",
    "ok",
    "okay",
    "please",
    "bonjour",
    "salut",
    "merci",
    "bonsoir",
];

/// Phrases that ask about the assistant or the collection, matched at the start of the
/// question (after any greeting words) with at most [`META_TAIL_WORDS`] words after.
const META_PHRASES: &[&str] = &[
    "what can you do",
    "what can you help with",
    "what can you help me with",
    "how can you help",
    "what are you",
    "who are you",
    "what do you do",
    "what do you know",
    "what can i ask",
    "what should i ask",
    "what is this about",
    "what's this about",
    "what is this",
    "what are these documents",
    "what are these documents about",
    "what documents do you have",
    "what is in this collection",
    "what topics do you cover",
    "what topics can you answer",
    "what does this cover",
    "what are you able to do",
    "help",
];

/// Most words after a meta phrase ("what can you do *for me here*").
pub const META_TAIL_WORDS: usize = 3;

const AUXILIARIES: &[&str] = &[
    "is",
    "are",
    "can",
    "does",
    "do",
    "should",
    "will",
    "would",
    "could",
    "must",
    "has",
    "have",
    "was",
    "were",
    "did",
    "may",
    "shall",
    "isn't",
    "aren't",
    "doesn't",
    "don't",
    "can't",
    "won't",
    "shouldn't",
];

fn starts_with(ws: &[String], phrase: &[&str]) -> bool {
    ws.len() >= phrase.len() && ws.iter().zip(phrase).all(|(a, b)| a == b)
}

fn has_phrase(ws: &[String], phrase: &[&str]) -> bool {
    ws.windows(phrase.len()).any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

/// The class a rule gives `question`, with the rule's name; `None` when no rule fires.
pub fn classify_by_rules(question: &str) -> Option<(QuestionClass, String)> {
    let ws = words(question);
    if ws.is_empty() {
        return None;
    }
    let rule = |c: QuestionClass, name: &str| Some((c, name.to_owned()));
    // Meta: only greetings, or a meta phrase (after greetings) with a short tail.
    if ws.iter().all(|w| GREETING_WORDS.contains(&w.as_str())) {
        return rule(QuestionClass::Meta, "greeting");
    }
    let lead = ws.iter().take_while(|w| GREETING_WORDS.contains(&w.as_str()) && w.as_str() != "you").count();
    let rest = &ws[lead..];
    for phrase in META_PHRASES {
        let p: Vec<&str> = phrase.split(' ').collect();
        if starts_with(rest, &p) && rest.len() <= p.len() + META_TAIL_WORDS {
            // "what is this X" names a thing of the documents, not the collection.
            let tail_ok = *phrase != "what is this" || rest.len() == p.len();
            let help_ok = *phrase != "help" || rest.len() <= 2;
            if tail_ok && help_ok {
                return rule(QuestionClass::Meta, "about-the-assistant");
            }
        }
    }
    // Comparison and other multi-part shapes: the decomposition rules.
    if let Some(d) = decompose(question, MAX_PARTS) {
        return Some((QuestionClass::Comparison, format!("decompose:{}", d.rule)));
    }
    if ["compare", "contrast"].contains(&ws[0].as_str()) || has_phrase(&ws, &["difference", "between"]) {
        return rule(QuestionClass::Comparison, "compare");
    }
    // Overview: a broad question about a topic.
    if ws.iter().any(|w| ["overall", "overview", "summarize", "summarise", "summary"].contains(&w.as_str()))
        || has_phrase(&ws, &["in", "general"])
        || has_phrase(&ws, &["big", "picture"])
        || (starts_with(&ws, &["what", "does", "the"])
            && ws.get(3).is_some_and(|w| ["guide", "book", "documentation", "docs", "manual"].contains(&w.as_str()))
            && ws.get(4).is_some_and(|w| w == "say"))
        || starts_with(&ws, &["tell", "me", "about"])
    {
        return rule(QuestionClass::Overview, "overview");
    }
    // Definition: a short "what is X", "what does X mean", "define X".
    let what_is = [&["what", "is"][..], &["what's"], &["what", "are"], &["whats"]];
    if let Some(p) = what_is.iter().find(|p| starts_with(&ws, p)) {
        let rest = &ws[p.len()..];
        let rest =
            if rest.first().is_some_and(|w| ["a", "an", "the"].contains(&w.as_str())) { &rest[1..] } else { rest };
        if !rest.is_empty() && rest.len() <= 3 {
            return rule(QuestionClass::Definition, "what-is");
        }
    }
    if (ws[0] == "what" && ws.last().is_some_and(|w| w == "mean" || w == "means"))
        || ws[0] == "define"
        || has_phrase(&ws, &["meaning", "of"])
        || has_phrase(&ws, &["definition", "of"])
    {
        return rule(QuestionClass::Definition, "meaning");
    }
    // How-to.
    if ws[0] == "how"
        && ws.get(1).is_some_and(|w| ["do", "can", "should", "would", "to", "does"].contains(&w.as_str()))
        && (ws.get(1).is_some_and(|w| w == "to")
            || ws.get(2).is_some_and(|w| ["i", "you", "we", "one"].contains(&w.as_str())))
    {
        return rule(QuestionClass::HowTo, "how-do-i");
    }
    if starts_with(&ws, &["steps", "to"]) || has_phrase(&ws, &["what", "is", "the", "way", "to"]) {
        return rule(QuestionClass::HowTo, "steps");
    }
    // Yes/no: a leading auxiliary verb.
    if AUXILIARIES.contains(&ws[0].as_str()) {
        return rule(QuestionClass::YesNo, "auxiliary-first");
    }
    // List.
    if ["list", "enumerate", "name"].contains(&ws[0].as_str())
        || starts_with(&ws, &["what", "are", "the"])
        || starts_with(&ws, &["what", "kinds", "of"])
        || starts_with(&ws, &["what", "types", "of"])
        || (ws[0] == "which" && ws.iter().take(4).any(|w| w == "are"))
    {
        return rule(QuestionClass::List, "which-ones");
    }
    None
}

/// Classify `question`: rules first, then the nearest prototype of its vector `qvec`
/// (when both prototypes and the vector are given), else *factoid*.
pub fn classify(question: &str, prototypes: Option<&Prototypes>, qvec: Option<&[f32]>) -> Classification {
    if let Some((class, rule)) = classify_by_rules(question) {
        return Classification { class, source: ClassSource::Rule, rule, similarity: None };
    }
    let (Some(p), Some(q)) = (prototypes, qvec) else {
        return Classification {
            class: QuestionClass::Factoid,
            source: ClassSource::Default,
            rule: "no rule matched; no prototypes for this embedder".into(),
            similarity: None,
        };
    };
    match p.nearest(q) {
        Some((class, sim)) => {
            let short = words(question).len() <= META_PROTOTYPE_MAX_WORDS;
            let floor = if class == QuestionClass::Meta { p.meta_floor } else { p.floor };
            if sim >= floor && (class != QuestionClass::Meta || short) {
                Classification {
                    class,
                    source: ClassSource::Prototype,
                    rule: "nearest prototype".into(),
                    similarity: Some(sim),
                }
            } else {
                Classification {
                    class: QuestionClass::Factoid,
                    source: ClassSource::Default,
                    rule: format!("no rule matched; nearest prototype ({}) below its floor", class.name()),
                    similarity: Some(sim),
                }
            }
        }
        None => Classification {
            class: QuestionClass::Factoid,
            source: ClassSource::Default,
            rule: "no rule matched; prototypes of another dimension".into(),
            similarity: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(q: &str) -> Option<QuestionClass> {
        classify_by_rules(q).map(|(c, _)| c)
    }

    #[test]
    fn rules_name_the_common_shapes() {
        use QuestionClass::*;
        for (q, want) in [
            ("Hello!", Some(Meta)),
            ("hi there", Some(Meta)),
            ("Thanks!", Some(Meta)),
            ("What can you do?", Some(Meta)),
            ("Hello, what is this about?", Some(Meta)),
            ("Who are you?", Some(Meta)),
            ("What is this?", Some(Meta)),
            ("What is a workspace?", Some(Definition)),
            ("What does yanking mean?", Some(Definition)),
            ("How do I publish a crate?", Some(HowTo)),
            ("How to override a dependency?", Some(HowTo)),
            ("What is the difference between dev-dependencies and build-dependencies?", Some(Comparison)),
            ("cargo check versus cargo build", Some(Comparison)),
            ("Should a library commit its Cargo.lock file to version control?", Some(YesNo)),
            ("Can I use two versions of a crate?", Some(YesNo)),
            ("Which targets are built by default?", Some(List)),
            ("What are the fields of the package section?", Some(List)),
            ("What does the guide say about dependencies overall?", Some(Overview)),
            ("Give me an overview of profiles", Some(Overview)),
            ("Which file records the exact versions?", None),
        ] {
            assert_eq!(class(q), want, "{q}");
        }
    }

    #[test]
    fn real_questions_that_start_like_meta_ones_are_not_meta() {
        for q in [
            "What is this [patch] section used for in a workspace manifest?",
            "Hello world example: how do I run it?",
            "Help me understand how features are unified across a workspace with many members",
            "What do you need to publish a crate on crates.io?",
            "Thank you, and how do I yank a version?",
            "Qu'est-ce que Cargo.lock ?",
            "Cargo.lock とは何ですか",
        ] {
            assert_ne!(class(q), Some(QuestionClass::Meta), "{q}");
        }
        assert_eq!(class(""), None);
        assert_eq!(class("?!"), None);
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn prototypes_decide_only_above_their_floor_and_meta_only_when_short() {
        let p = Prototypes::new(
            vec![(QuestionClass::HowTo, unit(&[1.0, 0.0, 0.0])), (QuestionClass::Meta, unit(&[0.0, 1.0, 0.0]))],
            0.6,
            0.8,
        );
        let c = classify("frobnicate the widget quickly", Some(&p), Some(&unit(&[0.9, 0.1, 0.0])));
        assert_eq!((c.class, c.source), (QuestionClass::HowTo, ClassSource::Prototype));
        // Below the floor: the default class, the similarity still traced.
        let c = classify("frobnicate the widget quickly", Some(&p), Some(&unit(&[0.5, 0.0, 0.9])));
        assert_eq!((c.class, c.source), (QuestionClass::Factoid, ClassSource::Default));
        assert!(c.similarity.is_some_and(|s| s < 0.6));
        // Meta needs its own, higher floor …
        let c = classify("yo whatever now", Some(&p), Some(&unit(&[0.0, 0.7, 0.7])));
        assert_eq!(c.class, QuestionClass::Factoid, "{c:?}");
        let c = classify("anything to say", Some(&p), Some(&unit(&[0.0, 1.0, 0.1])));
        assert_eq!(c.class, QuestionClass::Meta);
        // … and a short question.
        let long = "one two three four five six seven eight nine ten";
        assert_eq!(classify(long, Some(&p), Some(&unit(&[0.0, 1.0, 0.1]))).class, QuestionClass::Factoid);
        // A vector of another dimension, or no prototypes: rules only.
        assert_eq!(classify("frobnicate", Some(&p), Some(&[1.0, 0.0])).source, ClassSource::Default);
        assert_eq!(classify("frobnicate", None, None).class, QuestionClass::Factoid);
        // Rules win over prototypes.
        assert_eq!(classify("Hello", Some(&p), Some(&unit(&[1.0, 0.0, 0.0]))).class, QuestionClass::Meta);
    }

    #[test]
    fn every_class_has_prototypes_but_factoid() {
        for c in QuestionClass::ALL {
            let n = Prototypes::texts().filter(|(k, _)| *k == c).count();
            assert_eq!(n > 0, c != QuestionClass::Factoid, "{c:?}");
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
        }
    }
}

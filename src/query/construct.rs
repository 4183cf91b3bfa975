//! Query construction, model-free: a question that names a constraint ("in the command
//! reference", "in the French documents", "only the pages about publishing") becomes a
//! metadata [`Filter`] over the index's own schema.
//!
//! The course this project grew from turns questions into structured queries with an LLM
//! and a schema description (LangChain's self-query retriever). A 135M generator cannot
//! write a filter reliably, and the index already knows every value a filter could name,
//! so this matcher works the other way round: it lists what the index can be filtered on
//! (a [`Schema`]: categorical metadata values, the directories of document ids, document
//! file names, the documents' languages and collections), and looks for one of those
//! labels in the question **right after a scope cue** (`in`, `from`, `within`, `only`,
//! `under`, `about`, …, optionally followed by `the`) or **right before a scope noun**
//! (`documents`, `pages`, `section`, `chapter`, …). A label elsewhere in the question is
//! a topic, not a constraint, and is left to retrieval: "how do I publish a crate" has no
//! constraint; "in the publishing pages, how do I …" has one.
//!
//! The result is a [`Construction`]: the filters, what matched and why, or why nothing
//! did (two labels of equal strength for the same phrase are ambiguous: no filter). The
//! caller decides whether to apply it ([`Construct::Apply`]) or only see it in the trace
//! ([`Construct::Suggest`]) — a constructed filter narrows retrieval, so it is never
//! applied silently.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::filter::Filter;
use crate::error::{Error, Result};

/// Metadata keys never used as categories: per-document identifiers and free text.
pub const NON_CATEGORICAL_KEYS: [&str; 7] = ["title", "filename", "url", "source", "path", "description", "author"];
/// A key with more distinct values than this is an identifier, not a category.
pub const MAX_VALUES_PER_KEY: usize = 256;
/// Most labels a schema keeps (the most frequent first); bounds the cost per question.
pub const MAX_LABELS: usize = 4096;
/// Longest label, in words.
pub const MAX_LABEL_WORDS: usize = 6;
/// Directory depth of document ids turned into `id` prefixes.
pub const MAX_ID_DEPTH: usize = 2;

/// Words that open a scope: "in the reference", "from the guide", "only commands".
const CUES: [&str; 10] = ["in", "from", "within", "inside", "under", "among", "across", "only", "dans", "parmi"];
/// Words that close a scope ("the French documents", "the commands section"), in the
/// form [`normalize`] gives them. After one of them, `about`/`on`/`covering`/`for` open
/// a scope too: "pages about publishing".
const SCOPE_NOUNS: [&str; 9] =
    ["document", "doc", "page", "section", "chapter", "file", "part", "collection", "article"];
/// Words between a scope noun and a label: "pages about publishing".
const NOUN_LINKS: [&str; 4] = ["about", "on", "covering", "for"];
/// Words that, after a label, make it a scope's name rather than a topic's modifier:
/// "the command reference", "the French manual".
const GENERIC_SCOPES: [&str; 7] = ["reference", "guide", "manual", "documentation", "book", "handbook", "tutorial"];
/// Words a scope may put between the cue and the label.
const FILLERS: [&str; 6] = ["the", "a", "an", "our", "my", "les"];

/// Whether and how a search turns the question's named constraint into a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Construct {
    /// Do not look (default).
    #[default]
    Off,
    /// Construct the filter and report it in the trace, without applying it.
    Suggest,
    /// Construct the filter and apply it (with the caller's own filters).
    Apply,
}

impl std::str::FromStr for Construct {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "false" => Ok(Construct::Off),
            "suggest" => Ok(Construct::Suggest),
            "apply" | "on" | "true" => Ok(Construct::Apply),
            other => Err(Error::InvalidOption {
                name: "construct",
                detail: format!("unknown value {other:?} (off, suggest, apply)"),
            }),
        }
    }
}

impl Construct {
    /// The option's name as the CLI and JS spell it.
    pub fn name(self) -> &'static str {
        match self {
            Construct::Off => "off",
            Construct::Suggest => "suggest",
            Construct::Apply => "apply",
        }
    }
}

/// One thing the index can be filtered on, and the words that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The filter it stands for.
    pub filter: Filter,
    /// The label's normalised words ([`normalize`]), 1 ..= [`MAX_LABEL_WORDS`].
    pub words: Vec<String>,
    /// Documents it selects.
    pub docs: usize,
    /// Whether it names one document by its file name (stricter matching, see [`construct`]).
    pub file: bool,
    /// An order-independent hash of the ids of the documents it selects: two labels with
    /// the same documents and fingerprint select the same set (`collection=guide` and
    /// `id^=guide/` when the collections follow the directories) and are not rivals.
    pub fingerprint: u64,
}

/// A label's identity while a schema is built: key, value, whether a prefix, its words.
type LabelKey = (String, String, bool, Vec<String>);

/// What one document contributes to a [`Schema`].
pub struct DocFacts<'a> {
    /// Document id.
    pub id: &'a str,
    /// Metadata as given.
    pub metadata: &'a BTreeMap<String, String>,
    /// Language code (`en`, `fr`; empty when unknown).
    pub language: &'a str,
    /// Collection name (`default` when the document names none).
    pub collection: &'a str,
}

/// The labels of an index (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// Every label, the most frequent first.
    pub labels: Vec<Label>,
}

/// Lowercase, accents of French kept, a plural `s` (not `ss`) dropped, `ies` → `y`: enough
/// to match "commands" with "command" and "dependencies" with "dependency".
pub fn normalize(word: &str) -> String {
    let w = word.to_lowercase();
    if w.chars().count() > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if w.chars().count() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        return w[..w.len() - 1].to_owned();
    }
    w
}

/// [`words`], and for each whether punctuation (`,` `:` `;` `.` `?` `!` `(` `)`) or the end
/// of the text follows it.
pub fn words_and_breaks(text: &str) -> (Vec<String>, Vec<bool>) {
    let mut words_out = Vec::new();
    let mut breaks = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words_out: &mut Vec<String>, breaks: &mut Vec<bool>| {
        if !current.is_empty() {
            words_out.push(normalize(current));
            breaks.push(false);
            current.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            current.push(c);
            continue;
        }
        flush(&mut current, &mut words_out, &mut breaks);
        if matches!(c, ',' | ':' | ';' | '.' | '?' | '!' | '(' | ')') {
            if let Some(b) = breaks.last_mut() {
                *b = true;
            }
        }
    }
    flush(&mut current, &mut words_out, &mut breaks);
    if let Some(b) = breaks.last_mut() {
        *b = true;
    }
    (words_out, breaks)
}

/// The words of `text` (letters and digits; `-`, `_`, `.` and `/` separate), normalised.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(normalize).collect()
}

/// Names of the languages a `lang` label answers to, by code.
fn language_names(code: &str) -> &'static [&'static str] {
    match code {
        "en" => &["english", "anglais", "en"],
        "fr" => &["french", "français", "francais", "fr"],
        _ => &[],
    }
}

impl Schema {
    /// The labels of these documents.
    pub fn from_docs<'a>(docs: impl IntoIterator<Item = DocFacts<'a>>) -> Schema {
        // (filter, label words) → documents selected.
        // (key, value, prefix?, label words) → (documents, fingerprint).
        let mut counts: BTreeMap<LabelKey, (usize, u64)> = BTreeMap::new();
        let mut values_per_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut n_docs = 0usize;
        let mut bump = |h: u64, key: &str, value: &str, prefix: bool, label: &str| {
            let w = words(label);
            let meaningful = w.iter().any(|w| {
                w.chars().count() > 1
                    && ![&FILLERS[..], &CUES, &SCOPE_NOUNS, &NOUN_LINKS].iter().any(|l| l.contains(&w.as_str()))
            });
            if !meaningful || w.len() > MAX_LABEL_WORDS {
                return;
            }
            let e = counts.entry((key.to_owned(), value.to_owned(), prefix, w)).or_insert((0, 0));
            e.0 += 1;
            e.1 ^= h;
        };
        let docs: Vec<DocFacts<'a>> = docs.into_iter().collect();
        for d in &docs {
            for (k, v) in d.metadata {
                values_per_key.entry(k.as_str()).or_default().insert(v.as_str());
            }
        }
        for d in &docs {
            n_docs += 1;
            let h = fnv1a(d.id.as_bytes());
            for (k, v) in d.metadata {
                let categorical = !NON_CATEGORICAL_KEYS.contains(&k.as_str())
                    && k != "lang"
                    && k != "language"
                    && k != "collection"
                    && values_per_key.get(k.as_str()).is_some_and(|s| s.len() <= MAX_VALUES_PER_KEY);
                if categorical {
                    bump(h, k, v, false, v);
                }
            }
            // Directories of the id: `reference/profiles.html` → `reference/`.
            let mut end = 0;
            for (depth, part) in d.id.split('/').enumerate() {
                end += part.len() + 1;
                if depth >= MAX_ID_DEPTH || end > d.id.len() {
                    break;
                }
                bump(h, "id", &d.id[..end], true, part);
            }
            // The file's stem: `reference/publishing.html` → "publishing".
            let file = d.id.rsplit('/').next().unwrap_or(d.id);
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            if stem != "index" && !stem.is_empty() {
                bump(h, "id", d.id, false, stem);
            }
            for name in language_names(d.language) {
                bump(h, "lang", d.language, false, name);
            }
            bump(h, "collection", d.collection, false, d.collection);
        }
        let mut labels: Vec<Label> = counts
            .into_iter()
            // A label selecting every document constrains nothing.
            .filter(|(_, (n, _))| *n < n_docs)
            .map(|((key, value, prefix, words), (docs, fingerprint))| Label {
                file: key == "id" && !prefix,
                filter: if prefix { Filter::Prefix { key, prefix: value } } else { Filter::Equals { key, value } },
                words,
                docs,
                fingerprint,
            })
            .collect();
        labels.sort_by(|a, b| b.docs.cmp(&a.docs).then(b.words.len().cmp(&a.words.len())));
        labels.truncate(MAX_LABELS);
        Schema { labels }
    }
}

/// The filters constructed from a question, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Construction {
    /// The filters (at most one per key).
    pub filters: Vec<Filter>,
    /// For each filter, the question's words that named it.
    pub phrases: Vec<String>,
    /// Whether they were applied ([`Construct::Apply`]) or only suggested.
    pub applied: bool,
    /// What else happened: an ambiguous phrase, a key already filtered by the caller.
    pub notes: Vec<String>,
}

/// A label matched in the question: its index in the schema, its word span, its strength.
struct Hit {
    label: usize,
    start: usize,
    end: usize,
    /// 2: cue before and scope noun after; 1: one of them.
    anchored: u8,
}

/// Look for the schema's labels in `question` (see the module docs); `taken` are the keys
/// the caller already filters on (a constructed filter never overrides them).
pub fn construct(question: &str, schema: &Schema, taken: &[&str]) -> Construction {
    let (q, breaks) = words_and_breaks(question);
    let mut out = Construction::default();
    let mut hits: Vec<Hit> = Vec::new();
    for (li, label) in schema.labels.iter().enumerate() {
        let n = label.words.len();
        if n > q.len() {
            continue;
        }
        for start in 0..=q.len() - n {
            if q[start..start + n] != label.words[..] {
                continue;
            }
            let mut before = start;
            while before > 0 && FILLERS.contains(&q[before - 1].as_str()) {
                before -= 1;
            }
            let linked = before > 1
                && NOUN_LINKS.contains(&q[before - 1].as_str())
                && SCOPE_NOUNS.contains(&q[before - 2].as_str());
            let cue = linked || (before > 0 && CUES.contains(&q[before - 1].as_str()));
            let next = q.get(start + n).map(String::as_str);
            let noun = next.is_some_and(|w| SCOPE_NOUNS.contains(&w));
            // After a bare cue the label must end the phrase ("in the guide, …", "in the
            // command reference"): "in the dependency graph", "from the command line" name
            // a topic, not a scope.
            let closed = breaks[start + n - 1] || next.is_some_and(|w| GENERIC_SCOPES.contains(&w));
            // One document's file name is a scope only when the question says it is a page:
            // "the publishing page", "pages about publishing" ("breaking under semver" is not).
            let accepted = if label.file { noun || linked } else { noun || (cue && closed) };
            if accepted {
                hits.push(Hit { label: li, start, end: start + n, anchored: u8::from(cue) + u8::from(noun) });
            }
        }
    }
    // Longest, then best-anchored, then most selective phrase first; a phrase overlapping
    // one already taken is skipped.
    hits.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(b.anchored.cmp(&a.anchored))
            .then(schema.labels[a.label].docs.cmp(&schema.labels[b.label].docs))
    });
    let mut used: Vec<(usize, usize)> = Vec::new();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut i = 0;
    while i < hits.len() {
        let h = &hits[i];
        // Every hit on the same span with the same strength competes.
        let mut j = i + 1;
        while j < hits.len() && hits[j].start == h.start && hits[j].end == h.end && hits[j].anchored == h.anchored {
            j += 1;
        }
        let phrase = q[h.start..h.end].join(" ");
        if used.iter().any(|&(s, e)| h.start < e && s < h.end) {
            i = j;
            continue;
        }
        let mut rivals: Vec<&Label> = hits[i..j].iter().map(|h| &schema.labels[h.label]).collect();
        // Labels selecting the same documents are one choice: keep the first by key
        // preference (collection, metadata, lang, id).
        rivals.sort_by_key(|l| key_rank(filter_key(&l.filter)));
        let mut seen: Vec<(usize, u64)> = Vec::new();
        rivals.retain(|l| {
            let fresh = !seen.contains(&(l.docs, l.fingerprint));
            seen.push((l.docs, l.fingerprint));
            fresh
        });
        let key = filter_key(&rivals[0].filter).to_owned();
        let same_key = rivals.iter().all(|l| filter_key(&l.filter) == key);
        if rivals.len() > 1 && !same_key {
            out.notes.push(format!(
                "\"{phrase}\" names {} different things ({}): no filter",
                rivals.len(),
                rivals.iter().map(|l| describe(&l.filter)).collect::<Vec<_>>().join(", ")
            ));
        } else if taken.contains(&key.as_str()) {
            out.notes.push(format!("\"{phrase}\" would filter {key}, which the search already filters"));
        } else if keys.contains(&key) {
            out.notes.push(format!("\"{phrase}\" would filter {key} a second time: kept the first"));
        } else {
            let filter = if rivals.len() == 1 { rivals[0].filter.clone() } else { one_of(&key, &rivals) };
            keys.insert(key);
            out.filters.push(filter);
            out.phrases.push(phrase);
            used.push((h.start, h.end));
        }
        i = j;
    }
    out
}

fn key_rank(key: &str) -> u8 {
    match key {
        "collection" => 0,
        "lang" => 2,
        "id" => 3,
        _ => 1,
    }
}

/// FNV-1a, 64 bits: the document fingerprint's hash (stable across runs and targets).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The key of a filter.
pub fn filter_key(f: &Filter) -> &str {
    match f {
        Filter::Equals { key, .. } | Filter::OneOf { key, .. } | Filter::Prefix { key, .. } => key,
    }
}

/// A filter in the CLI's compact spelling.
pub fn describe(f: &Filter) -> String {
    match f {
        Filter::Equals { key, value } => format!("{key}={value}"),
        Filter::OneOf { key, values } => format!("{key}={}", values.join("|")),
        Filter::Prefix { key, prefix } => format!("{key}^={prefix}"),
    }
}

/// Several labels of one key for the same words: any of them (prefixes cannot be
/// combined into one filter, so the first — most frequent — prefix wins).
fn one_of(key: &str, rivals: &[&Label]) -> Filter {
    let values: Vec<String> = rivals
        .iter()
        .filter_map(|l| match &l.filter {
            Filter::Equals { value, .. } => Some(value.clone()),
            _ => None,
        })
        .collect();
    if values.len() == rivals.len() {
        Filter::OneOf { key: key.to_owned(), values }
    } else {
        rivals[0].filter.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(docs: &[(&str, &[(&str, &str)], &str, &str)]) -> Schema {
        let metas: Vec<BTreeMap<String, String>> =
            docs.iter().map(|(_, m, _, _)| m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).collect();
        Schema::from_docs(docs.iter().zip(&metas).map(|((id, _, lang, coll), metadata)| DocFacts {
            id,
            metadata,
            language: lang,
            collection: coll,
        }))
    }

    fn book() -> Schema {
        schema(&[
            ("commands/cargo-build.html", &[], "en", "default"),
            ("commands/cargo-test.html", &[], "en", "default"),
            ("reference/profiles.html", &[], "en", "default"),
            ("reference/publishing.html", &[], "en", "default"),
            ("guide/dependencies.html", &[], "en", "default"),
            ("cours/rag.md", &[("kind", "lecture")], "fr", "default"),
        ])
    }

    fn filters(q: &str, s: &Schema) -> Vec<String> {
        construct(q, s, &[]).filters.iter().map(describe).collect()
    }

    #[test]
    fn a_scoped_directory_becomes_a_prefix() {
        let s = book();
        assert_eq!(filters("How are profiles set in the command reference?", &s), ["id^=commands/"]);
        assert_eq!(filters("What does the reference section say about profiles?", &s), ["id^=reference/"]);
        assert_eq!(filters("From the guide: how do I add a dependency?", &s), ["id^=guide/"]);
    }

    #[test]
    fn languages_files_and_categories_are_labels() {
        let s = book();
        assert_eq!(filters("What is RAG in the French documents?", &s), ["lang=fr"]);
        assert_eq!(filters("only the publishing page: what is a token?", &s), ["id=reference/publishing.html"]);
        assert_eq!(filters("In the pages about publishing, what is a token?", &s), ["id=reference/publishing.html"]);
        assert_eq!(filters("Which lecture documents mention chunking?", &s), ["kind=lecture"]);
    }

    #[test]
    fn a_label_without_a_scope_is_a_topic() {
        let s = book();
        for q in [
            "How do I publish a crate?",
            "What are profiles?",
            "Explain guide dependencies",
            "french",
            "What does the book say about profiles?",
            // Plain questions of the Cargo Book dev set that the first version filtered.
            "Which changes to a public API count as breaking under publishing?",
            "How do I see which packages depend on a crate in the dependency graph?",
            "How do I run only the tests whose names match?",
            "How do I add a dependency from the command line?",
            "How do I configure lints in the profiles?",
        ] {
            assert!(filters(q, &s).is_empty(), "{q}: {:?}", filters(q, &s));
        }
    }

    #[test]
    fn ambiguity_and_taken_keys_are_noted_not_guessed() {
        // A directory and a category both named "notes", selecting different documents.
        let s = schema(&[
            ("a/notes/x.md", &[], "en", "default"),
            ("b/y.md", &[("team", "core")], "en", "default"),
            ("a/z.md", &[("team", "notes")], "en", "default"),
        ]);
        // The same words for the same documents are one choice, not an ambiguity.
        let same = schema(&[
            ("a/notes/x.md", &[("team", "notes")], "en", "default"),
            ("b/y.md", &[("team", "core")], "en", "default"),
        ]);
        assert_eq!(filters("what is in the notes documents", &same), ["team=notes"]);
        let c = construct("what is in the notes documents", &s, &[]);
        assert!(c.filters.is_empty(), "{c:?}");
        assert!(c.notes[0].contains("different things"), "{c:?}");
        let book = book();
        let c = construct("in the guide, what is a dependency?", &book, &["id"]);
        assert!(c.filters.is_empty());
        assert!(c.notes[0].contains("already filters"), "{c:?}");
    }

    #[test]
    fn a_label_of_every_document_and_identifiers_are_not_labels() {
        let many: Vec<(String, BTreeMap<String, String>)> =
            (0..300).map(|i| (format!("d{i}"), [("sha".to_string(), format!("v{i}"))].into_iter().collect())).collect();
        let s = Schema::from_docs(many.iter().map(|(id, m)| DocFacts {
            id,
            metadata: m,
            language: "en",
            collection: "default",
        }));
        assert!(s.labels.iter().all(|l| filter_key(&l.filter) != "sha"), "identifiers are not categories");
        assert!(s.labels.iter().all(|l| filter_key(&l.filter) != "lang"), "one language for all constrains nothing");
        assert!(s.labels.len() <= MAX_LABELS);
    }

    #[test]
    fn options_parse_and_refuse() {
        assert_eq!("apply".parse::<Construct>().unwrap(), Construct::Apply);
        assert_eq!(" Suggest ".parse::<Construct>().unwrap(), Construct::Suggest);
        assert!(matches!("maybe".parse::<Construct>(), Err(Error::InvalidOption { name: "construct", .. })));
    }

    #[test]
    fn normalize_handles_plurals() {
        assert_eq!(normalize("Commands"), "command");
        assert_eq!(normalize("dependencies"), "dependency");
        assert_eq!(normalize("class"), "class");
        assert_eq!(normalize("bus"), "bus");
    }
}

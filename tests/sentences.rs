//! Sentence vectors at index time (format v2), MaxSim reranking and the bad input of
//! issue 10, with the model-free hashing embedder. The committed v2 fixture (real
//! MiniLM vectors) is checked in `tests/cargo_book.rs`.

use sotto::embed::hashing::HashEmbedder;
use sotto::index::format::{read_sections, write_section, FORMAT_VERSION, MAGIC};
use sotto::index::sentences::{SentenceStore, SentenceVector};
use sotto::query::Rerank;
use sotto::rag::ask::AskOptions;
use sotto::{Document, Engine, EngineConfig, Error, Mode, SearchOptions};

fn emb() -> Box<HashEmbedder> {
    Box::new(HashEmbedder::new(128))
}

fn engine(config: EngineConfig, docs: Vec<Document>) -> Engine {
    let mut e = Engine::new(config, emb());
    e.add_documents(docs).expect("indexes");
    e
}

fn corpus() -> Vec<Document> {
    vec![
        Document::new(
            "lock.md",
            "# Lock\n\nThe lock file records the exact versions of every dependency. It is written by cargo when \
             dependencies resolve. Commit it for binaries so that builds are reproducible.",
        ),
        Document::new(
            "profiles.md",
            "# Profiles\n\nProfiles change compiler settings such as the optimization level. The release profile \
             turns on optimizations. Link-time optimization is enabled with lto = true.",
        ),
    ]
}

/// Rebuild a file from `(name, payload)` sections with a given header version.
fn container(version: u32, sections: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, payload) in sections {
        write_section(&mut out, name, payload);
    }
    out
}

fn sections_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let s = read_sections(bytes).unwrap();
    ["manifest", "docs", "chunks", "dense", "sentences"]
        .iter()
        .filter_map(|n| s.get(*n).map(|p| (n.to_string(), p.to_vec())))
        .collect()
}

/// The same engine written as a format-v1 file (no sentence section).
fn as_v1(bytes: &[u8]) -> Vec<u8> {
    let mut secs = sections_of(bytes);
    secs.retain(|(n, _)| n != "sentences");
    let manifest: serde_json::Value = serde_json::from_slice(&secs[0].1).unwrap();
    let mut manifest = manifest;
    manifest["format_version"] = 1.into();
    secs[0].1 = serde_json::to_vec(&manifest).unwrap();
    let refs: Vec<(&str, Vec<u8>)> = secs.iter().map(|(n, p)| (n.as_str(), p.clone())).collect();
    container(1, &refs)
}

fn ask(e: &Engine, q: &str) -> sotto::rag::answer::Answer {
    let options = AskOptions { abstain_below: 0.0, ..AskOptions::default() };
    e.ask(q, &options, &|| 0.0, &mut |_| true).unwrap()
}

#[test]
fn format_v2_round_trips_with_its_sentence_vectors() {
    let e = engine(EngineConfig::default(), corpus());
    assert_eq!(FORMAT_VERSION, 2);
    assert_eq!(e.chunks_without_sentence_vectors(), 0);
    let bytes = e.to_bytes().unwrap();
    let store = SentenceStore::from_bytes(read_sections(&bytes).unwrap()["sentences"]).unwrap();
    assert!(store.vectors() >= 6, "every sentence of four words or more has a vector: {}", store.vectors());
    let back = Engine::from_bytes(&bytes, emb()).unwrap();
    assert_eq!(back.chunks_without_sentence_vectors(), 0);
    assert_eq!(back.to_bytes().unwrap(), bytes, "re-serialization is identical");
    let q = "Which file records the exact versions?";
    assert_eq!(ask(&back, q).answer, ask(&e, q).answer);
}

#[test]
fn a_v1_file_loads_and_gets_its_sentence_vectors_lazily_or_by_upgrade() {
    let e = engine(EngineConfig::default(), corpus());
    let v2 = e.to_bytes().unwrap();
    let v1 = as_v1(&v2);
    let old = Engine::from_bytes(&v1, emb()).expect("a v1 file loads");
    let n = old.stats().chunks;
    assert_eq!(old.chunks_without_sentence_vectors(), n);
    let q = "Which file records the exact versions?";
    assert_eq!(ask(&old, q).answer, ask(&e, q).answer, "lazy vectors give the same answer");
    assert!(old.chunks_without_sentence_vectors() < n, "answering embedded the retrieved chunks");
    let mut old = Engine::from_bytes(&v1, emb()).unwrap();
    let mut seen = Vec::new();
    old.upgrade_sentences(&mut |done, total| seen.push((done, total)), &|| false).unwrap();
    assert_eq!(old.chunks_without_sentence_vectors(), 0);
    assert_eq!(seen.last().map(|p| p.0 == p.1), Some(true), "{seen:?}");
    assert_eq!(old.to_bytes().unwrap(), v2, "an upgraded v1 index is the v2 index");
    // Upgrading can be cancelled; nothing is lost.
    let mut again = Engine::from_bytes(&v1, emb()).unwrap();
    assert!(matches!(again.upgrade_sentences(&mut |_, _| {}, &|| true), Err(Error::Cancelled)));
    assert!(again.search("lock file", &SearchOptions::default()).is_ok());
}

#[test]
fn a_corrupted_sentence_section_is_a_typed_error() {
    let e = engine(EngineConfig::default(), corpus());
    let bytes = e.to_bytes().unwrap();
    let secs = sections_of(&bytes);
    let rebuild = |sentences: Option<Vec<u8>>| {
        let mut v: Vec<(&str, Vec<u8>)> =
            secs.iter().filter(|(n, _)| n != "sentences").map(|(n, p)| (n.as_str(), p.clone())).collect();
        if let Some(s) = sentences {
            v.push(("sentences", s));
        }
        container(2, &v)
    };
    let is_sentences = |r: Result<Engine, Error>| match r {
        Err(Error::Corrupt { section, .. }) => section == "sentences",
        other => panic!("{:?}", other.err()),
    };
    let good = &secs.iter().find(|(n, _)| n == "sentences").unwrap().1;
    // A flipped bit in the payload: checksum.
    let mut flipped = bytes.clone();
    let at = bytes.len() - good.len() / 2;
    flipped[at] ^= 0x04;
    assert!(is_sentences(Engine::from_bytes(&flipped, emb())));
    // A valid checksum over bad content: garbage, truncation, missing, a span outside its
    // chunk, an unknown chunk, a wrong dimension.
    assert!(is_sentences(Engine::from_bytes(&rebuild(Some(vec![0xff; 9])), emb())));
    assert!(is_sentences(Engine::from_bytes(&rebuild(Some(good[..good.len() - 3].to_vec())), emb())));
    assert!(is_sentences(Engine::from_bytes(&rebuild(None), emb())));
    let id = e.document("lock.md").unwrap().chunks[0];
    let mut outside = SentenceStore::new(128);
    outside.insert(id, vec![SentenceVector::quantize(1_000_000, 1_000_010, &[0.1; 128])]).unwrap();
    assert!(is_sentences(Engine::from_bytes(&rebuild(Some(outside.to_bytes())), emb())));
    let mut unknown = SentenceStore::new(128);
    unknown.insert(9_999, vec![]).unwrap();
    assert!(is_sentences(Engine::from_bytes(&rebuild(Some(unknown.to_bytes())), emb())));
    let mut dim = SentenceStore::new(3);
    dim.insert(id, vec![SentenceVector::quantize(0, 1, &[0.1; 3])]).unwrap();
    assert!(is_sentences(Engine::from_bytes(&rebuild(Some(dim.to_bytes())), emb())));
    // The intact file still loads.
    assert!(Engine::from_bytes(&rebuild(Some(good.clone())), emb()).is_ok());
}

#[test]
fn maxsim_rerank_puts_the_chunk_with_the_matching_sentence_first() {
    // a.md: one sentence sharing some of the query's words among others. b.md: one
    // sentence that is the query, diluted by unrelated sentences.
    let noise = "Registries host packages for download. Workspaces share one lock file between members. \
                 Build scripts run before compilation starts. Features toggle optional code paths. \
                 Targets describe binaries and libraries. Vendoring copies sources into the tree. \
                 Rustdoc renders documentation comments. Benchmarks measure performance over time.";
    let docs = vec![
        Document::new("a.md", "Tilde requirements allow patch level updates."),
        Document::new("b.md", format!("{noise} Tilde requirements only allow patch level updates.")),
    ];
    let e = engine(EngineConfig::default(), docs);
    let q = "tilde requirements only allow patch level updates";
    let rank = |rerank| {
        let o = SearchOptions { k: 2, mode: Mode::Dense, rerank, ..SearchOptions::default() };
        e.search(q, &o).unwrap().into_iter().map(|h| h.doc_id).collect::<Vec<_>>()
    };
    assert_eq!(rank(Rerank::None), ["a.md", "b.md"], "the diluted chunk ranks second on its chunk vector");
    assert_eq!(rank(Rerank::MaxSim), ["b.md", "a.md"], "its best sentence wins under MaxSim");
    // The option through its one parser and serde.
    assert_eq!("maxsim".parse::<Rerank>().unwrap(), Rerank::MaxSim);
    assert_eq!("bogus".parse::<Rerank>().unwrap_err().kind(), "InvalidOption");
    let o: SearchOptions = serde_json::from_str(r#"{"rerank": "maxsim"}"#).unwrap();
    assert_eq!(o.rerank, Rerank::MaxSim);
    assert!(serde_json::from_str::<SearchOptions>(r#"{"rerank": "colbert"}"#).is_err());
}

#[test]
fn one_ten_thousand_word_sentence_is_split_and_bounded() {
    let words: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
    let e = engine(EngineConfig::default(), vec![Document::new("long.txt", words.join(" "))]);
    let bytes = e.to_bytes().unwrap();
    let store = SentenceStore::from_bytes(read_sections(&bytes).unwrap()["sentences"]).unwrap();
    let text = &e.document("long.txt").unwrap().text;
    assert!(store.vectors() >= 10_000 / sotto::rag::answer::MAX_SENTENCE_WORDS);
    for id in store.ids() {
        for v in store.get(id).unwrap().iter() {
            let n = text[v.start as usize..v.end as usize].split_whitespace().count();
            assert!(n <= sotto::rag::answer::MAX_SENTENCE_WORDS, "a stored sentence of {n} words");
        }
    }
    let a = ask(&e, "w5 w6 w7 w8");
    for s in &a.sentences {
        assert!(s.text.split_whitespace().count() <= 2 * sotto::rag::answer::MAX_SENTENCE_WORDS, "{}", s.text);
    }
}

#[test]
fn many_tiny_sentences_do_not_grow_the_index_and_too_many_sentences_are_refused() {
    // 100 000 one-word sentences. Where they end in "." before a lower-case word, UAX #29
    // sees one long sentence, cut every MAX_SENTENCE_WORDS words: at most one vector per
    // 64 words (plus one per chunk edge); capitalised, each is a sentence too short to
    // answer with, and gets none.
    let cap = sotto::rag::answer::MAX_SENTENCE_WORDS;
    for (upper, name) in [(false, "lower.txt"), (true, "upper.txt")] {
        let tiny: String = (0..100_000).map(|i| if upper { format!("W{i}. ") } else { format!("w{i}. ") }).collect();
        let e = engine(EngineConfig::default(), vec![Document::new(name, tiny)]);
        let bytes = e.to_bytes().unwrap();
        let store = SentenceStore::from_bytes(read_sections(&bytes).unwrap()["sentences"]).unwrap();
        let chunks = e.stats().chunks;
        let bound = if upper { 0 } else { 100_000 / cap + chunks };
        assert!(store.vectors() <= bound, "{name}: {} vectors for {chunks} chunks", store.vectors());
    }
    // Past the per-document limit: LimitExceeded, and the engine is unchanged.
    let mut e = engine(
        EngineConfig {
            sentences: sotto::rag::config::SentenceLimits { max_per_document: 50, ..Default::default() },
            ..Default::default()
        },
        corpus(),
    );
    let before = e.to_bytes().unwrap();
    let many: String = (0..60).map(|i| format!("Sentence number {i} is here. ")).collect();
    let r = e.add_documents(vec![Document::new("many.txt", many.clone())]);
    assert!(
        matches!(r, Err(Error::LimitExceeded { what: "sentence vectors per document", limit: 50, got }) if got >= 60),
        "{r:?}"
    );
    assert_eq!(e.to_bytes().unwrap(), before);
    // Past the per-chunk limit.
    let mut e = engine(
        EngineConfig {
            sentences: sotto::rag::config::SentenceLimits { max_per_chunk: 2, ..Default::default() },
            ..Default::default()
        },
        vec![],
    );
    let r = e.add_documents(vec![Document::new(
        "three.txt",
        "One two three four. Five six seven eight. Nine ten eleven twelve.",
    )]);
    assert!(matches!(r, Err(Error::LimitExceeded { what: "sentence vectors per chunk", .. })), "{r:?}");
    assert_eq!(e.stats().documents, 0);
    // A bad limit is an invalid option.
    let bad = EngineConfig {
        sentences: sotto::rag::config::SentenceLimits { max_per_chunk: 0, ..Default::default() },
        ..Default::default()
    };
    assert_eq!(bad.validate().unwrap_err().kind(), "InvalidOption");
}

#[test]
fn without_index_time_vectors_the_first_answer_embeds_the_retrieved_chunks() {
    let mut config = EngineConfig::default();
    config.sentences.at_index_time = false;
    let lazy = engine(config, corpus());
    let n = lazy.stats().chunks;
    assert_eq!(lazy.chunks_without_sentence_vectors(), n, "nothing embedded at index time");
    let eager = engine(EngineConfig::default(), corpus());
    let q = "Which file records the exact versions?";
    assert_eq!(ask(&lazy, q).answer, ask(&eager, q).answer, "the same answer either way");
    assert!(lazy.chunks_without_sentence_vectors() < n, "answering embedded the retrieved chunks");
    // What was embedded is saved and loads back.
    let back = Engine::from_bytes(&lazy.to_bytes().unwrap(), emb()).unwrap();
    assert_eq!(back.chunks_without_sentence_vectors(), lazy.chunks_without_sentence_vectors());
}

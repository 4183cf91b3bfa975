//! The exported JS API (`sotto::wasm::SottoEngine`) under Node with wasm-bindgen-test:
//!
//! ```sh
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!     cargo test --target wasm32-unknown-unknown --test wasm
//! ```
//!
//! Uses the model-free hashing embedder, so it needs no weights. Every bad input must come
//! back as a JS error with the core's `kind` — never a panic, which would poison the
//! instance — and leave the engine usable and unchanged.
#![cfg(target_arch = "wasm32")]

use serde::Serialize;
use serde_json::json;
use sotto::wasm::SottoEngine;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

fn js(v: serde_json::Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).expect("json → JsValue")
}

fn rs(v: &JsValue) -> serde_json::Value {
    serde_wasm_bindgen::from_value(v.clone()).expect("JsValue → json")
}

/// The `kind` of a rejected call, checking it is a JS `Error` named `SottoError`.
#[track_caller]
fn kind<T>(r: Result<T, JsValue>) -> String {
    let Err(e) = r else { panic!("expected an error, the call succeeded") };
    assert!(e.is_instance_of::<js_sys::Error>(), "not a JS Error: {e:?}");
    let err: &js_sys::Error = e.unchecked_ref();
    assert_eq!(String::from(err.name()), "SottoError");
    assert!(!String::from(err.message()).is_empty());
    js_sys::Reflect::get(&e, &"kind".into()).ok().and_then(|k| k.as_string()).expect("error without kind")
}

fn corpus() -> JsValue {
    js(json!([
        {"id": "cargo.md", "body": "# Cargo\n\nCargo is the Rust package manager. It downloads dependencies and builds packages.\n\n## Lock file\n\nCargo.lock records the exact version of every dependency resolved at build time."},
        {"id": "france.txt", "body": "Paris is the capital of France. The Seine flows through Paris.", "metadata": {"lang": "en", "topic": "geo"}},
        {"id": "page.html", "format": "html", "body": "<html><head><title>Rivers</title><script>alert(1)</script></head><body><p>The Loire is the longest river in France.</p><img src=x onerror=alert(2)></body></html>", "metadata": {"topic": "geo"}}
    ]))
}

fn engine() -> SottoEngine {
    let mut e = SottoEngine::new(JsValue::UNDEFINED).expect("engine");
    e.load_hashing_embedder(256).expect("hashing embedder");
    let report = rs(&e.add_documents(corpus(), None, None).expect("add"));
    assert_eq!(report["documents"], 3);
    e
}

fn top_doc(e: &SottoEngine, query: &str, opts: serde_json::Value) -> String {
    let hits = rs(&e.search(query, js(opts)).expect("search"));
    hits[0]["doc_id"].as_str().expect("doc_id").to_owned()
}

#[wasm_bindgen_test]
fn index_search_and_spans() {
    let e = engine();
    let stats = rs(&e.stats().unwrap());
    assert_eq!(stats["documents"], 3);
    assert_eq!(stats["embedder"], "hashing-256");
    for mode in ["dense", "sparse", "hybrid"] {
        assert_eq!(top_doc(&e, "Rust package manager", json!({"mode": mode, "k": 2})), "cargo.md", "mode {mode}");
    }
    assert_eq!(top_doc(&e, "capital of France", json!({"fusion": "weighted", "alpha": 0.3})), "france.txt");
    assert_eq!(top_doc(&e, "capital of France", json!({"mode": "hybrid-weighted:0.3"})), "france.txt");
    assert_eq!(top_doc(&e, "capital of France", json!({"mode": "weighted"})), "france.txt");
    // Filters apply before ranking.
    let hits = rs(&e
        .search("France", js(json!({"filters": [{"op": "equals", "key": "topic", "value": "geo"}], "k": 10})))
        .unwrap());
    assert!(hits.as_array().unwrap().iter().all(|h| h["doc_id"] != "cargo.md"));
    // Spans are UTF-8 byte offsets into the stored cleaned text.
    let hits = rs(&e.search("Seine", JsValue::UNDEFINED).unwrap());
    let hit = &hits[0];
    let doc = rs(&e.document(hit["doc_id"].as_str().unwrap()).unwrap());
    let text = doc["text"].as_str().unwrap();
    let (s, t) = (hit["start"].as_u64().unwrap() as usize, hit["end"].as_u64().unwrap() as usize);
    assert_eq!(&text[s..t], hit["text"].as_str().unwrap());
    assert!(doc["chunks"].as_array().unwrap().iter().any(|c| c["chunk_id"] == hit["chunk_id"]));
    assert_eq!(doc["metadata"]["topic"], "geo");
    let ids = rs(&e.document_ids().unwrap());
    assert_eq!(ids, json!(["cargo.md", "france.txt", "page.html"]));
}

#[wasm_bindgen_test]
fn hostile_html_is_reduced_to_text() {
    let e = engine();
    let doc = rs(&e.document("page.html").unwrap());
    let text = doc["text"].as_str().unwrap();
    assert!(text.contains("The Loire is the longest river in France."));
    assert!(!text.contains("alert"), "script or attribute text leaked: {text:?}");
    assert!(!text.contains('<'), "markup leaked: {text:?}");
}

#[wasm_bindgen_test]
fn ask_streams_and_cites() {
    let mut e = engine();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let sink = seen.clone();
    let cb = Closure::<dyn FnMut(String) -> bool>::new(move |t: String| {
        sink.borrow_mut().push_str(&t);
        true
    });
    let f: &js_sys::Function = cb.as_ref().unchecked_ref();
    let a = rs(&e.ask("What is the capital of France?", js(json!({"search": {"k": 3}})), Some(f.clone())).unwrap());
    assert_eq!(a["abstained"], false, "{a:#}");
    assert_eq!(a["mode"], "extractive");
    assert!(a["answer"].as_str().unwrap().contains("Paris is the capital of France."), "{a:#}");
    assert_eq!(*seen.borrow(), a["answer"].as_str().unwrap());
    let cites = a["citations"].as_array().unwrap();
    assert!(!cites.is_empty());
    for c in cites {
        let doc = rs(&e.document(c["doc_id"].as_str().unwrap()).unwrap());
        let text = doc["text"].as_str().unwrap();
        let (s, t) = (c["start"].as_u64().unwrap() as usize, c["end"].as_u64().unwrap() as usize);
        assert_eq!(&text[s..t], c["text"].as_str().unwrap());
    }
    assert!(a["timings"]["total_ms"].as_f64().unwrap() >= 0.0);
    // No generator in this build of the engine: a typed error, and the engine lives on.
    assert_eq!(
        kind(e.ask("What is the capital of France?", js(json!({"mode": "generative"})), None)),
        "ModelNotLoaded"
    );
    assert_eq!(kind(e.ask("capital?", js(json!({"maxSentence": 2})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("capital?", js(json!({"search": {"kk": 2}})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("capital?", js(json!({"mode": "poetic"})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("What is the capital of France?", js(json!({"mode": "compose"})), None)), "ModelNotLoaded");
    assert_eq!(kind(e.ask("  ", JsValue::UNDEFINED, None)), "InvalidQuery");
    assert_eq!(kind(e.chat(JsValue::from_str("hi"), JsValue::UNDEFINED, None)), "ModelNotLoaded");
    assert_eq!(kind(e.chat(js(json!([{"role": "user"}])), JsValue::UNDEFINED, None)), "InvalidOption");
    assert_eq!(kind(e.chat(JsValue::from_str("hi"), js(json!({"temperature": -1.0})), None)), "InvalidOption");
    assert_eq!(kind(e.load_generator(b"GGUF garbage", JsValue::UNDEFINED)), "ModelFormat");
    assert!(e.generator_info().unwrap().is_null());
    assert!(!e.unload_generator());
    assert_eq!(top_doc(&e, "Seine", json!({})), "france.txt");
}

#[wasm_bindgen_test]
fn export_import_round_trip() {
    let e = engine();
    let bytes = e.export_index().unwrap();
    assert_eq!(&bytes[..8], b"SOTTOIDX");
    let manifest = rs(&SottoEngine::read_manifest(&bytes).unwrap());
    assert_eq!(manifest["documents"], 3);
    assert_eq!(manifest["embedder"]["name"], "hashing-256");

    let mut f = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    assert_eq!(kind(f.import_index(&bytes)), "ModelNotLoaded");
    f.load_hashing_embedder(256).unwrap();
    let stats = rs(&f.import_index(&bytes).unwrap());
    assert_eq!(stats, rs(&e.stats().unwrap()));
    for q in ["Rust package manager", "Seine", "longest river"] {
        assert_eq!(rs(&f.search(q, JsValue::UNDEFINED).unwrap()), rs(&e.search(q, JsValue::UNDEFINED).unwrap()), "{q}");
    }
    assert_eq!(f.export_index().unwrap(), bytes);
}

/// A format-v1 index (no sentence vectors, as written before them) imports in the browser
/// and answers as its v2 export does: the sentence vectors are computed on first use.
#[wasm_bindgen_test]
fn a_v1_index_imports_and_answers_like_its_v2_export() {
    use sotto::index::format::{read_sections, write_section, MAGIC};
    let mut e = engine();
    let v2 = e.export_index().unwrap();
    let sections = read_sections(&v2).unwrap();
    assert!(sections.contains_key("sentences"), "the export is v2");
    let mut v1 = MAGIC.to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    let names = ["manifest", "docs", "chunks", "dense"];
    v1.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for name in names {
        let mut payload = sections[name].to_vec();
        if name == "manifest" {
            let mut m: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            m["format_version"] = 1.into();
            payload = serde_json::to_vec(&m).unwrap();
        }
        write_section(&mut v1, name, &payload);
    }
    let mut f = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    f.load_hashing_embedder(256).unwrap();
    assert_eq!(rs(&SottoEngine::read_manifest(&v1).unwrap())["format_version"], 1);
    f.import_index(&v1).unwrap();
    for q in ["What is the capital of France?", "Which river is the longest?"] {
        let (a, b) =
            (rs(&e.ask(q, JsValue::UNDEFINED, None).unwrap()), rs(&f.ask(q, JsValue::UNDEFINED, None).unwrap()));
        assert_eq!((&a["answer"], &a["citations"]), (&b["answer"], &b["citations"]), "{q}");
    }
}

#[wasm_bindgen_test]
fn damaged_or_foreign_indexes_are_refused_and_the_index_survives() {
    let mut e = engine();
    let bytes = e.export_index().unwrap();
    let before = rs(&e.stats().unwrap());

    assert_eq!(kind(e.import_index(b"not an index at all")), "BadMagic");
    assert_eq!(kind(e.import_index(&[])), "BadMagic");
    assert_eq!(kind(e.import_index(&bytes[..bytes.len() / 2])), "Corrupt");
    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&(sotto::index::format::FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(kind(e.import_index(&future)), "IndexFormat");
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert_eq!(kind(e.import_index(&flipped)), "Corrupt");
    assert_eq!(kind(SottoEngine::read_manifest(b"SOTTOIDX")), "Corrupt");

    let mut other = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    other.load_hashing_embedder(64).unwrap();
    other.add_documents(js(json!([{"id": "x.txt", "body": "something else entirely"}])), None, None).unwrap();
    assert_eq!(kind(e.import_index(&other.export_index().unwrap())), "EmbedderMismatch");

    assert_eq!(rs(&e.stats().unwrap()), before);
    assert_eq!(e.export_index().unwrap(), bytes);
    assert_eq!(top_doc(&e, "Rust package manager", json!({})), "cargo.md");
}

#[wasm_bindgen_test]
fn bad_documents_are_errors_and_change_nothing() {
    let mut e = engine();
    let before = e.export_index().unwrap();
    let add = |e: &mut SottoEngine, v: serde_json::Value| kind(e.add_documents(js(v), None, None));
    assert_eq!(add(&mut e, json!({"id": "a", "body": "not an array"})), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a", "body": 42}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a"}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a", "body": "x", "metadata": {"n": 1}}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a", "body": "x", "format": "pdf"}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "", "body": "text"}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a", "body": "   \n "}])), "InvalidDocument");
    assert_eq!(add(&mut e, json!([{"id": "a", "body": "one"}, {"id": "a", "body": "two"}])), "DuplicateId");
    assert_eq!(
        add(&mut e, json!([{"id": "ok.txt", "body": "fine text"}, {"id": "bin", "body": "a\u{0}b\u{0}c\u{0}"}])),
        "InvalidDocument"
    );
    assert_eq!(kind(e.add_documents(JsValue::NULL, None, None)), "InvalidDocument");
    assert_eq!(kind(e.remove_documents(js(json!(["cargo.md", "nope"])))), "UnknownDocument");
    assert_eq!(kind(e.remove_documents(js(json!([1, 2])))), "InvalidOption");
    assert_eq!(kind(e.document("nope")), "UnknownDocument");
    assert_eq!(e.export_index().unwrap(), before, "a failed call changed the index");

    assert_eq!(e.remove_documents(js(json!(["cargo.md"]))).unwrap(), 1);
    assert_eq!(rs(&e.stats().unwrap())["documents"], 2);
    e.clear().unwrap();
    assert_eq!(rs(&e.stats().unwrap())["documents"], 0);
}

#[wasm_bindgen_test]
fn bad_options_are_errors() {
    let mut e = engine();
    let search = |q: &str, v: serde_json::Value| match e.search(q, js(v.clone())) {
        Ok(hits) => panic!("search({q:?}, {v}) succeeded: {}", rs(&hits)),
        Err(err) => kind::<()>(Err(err)),
    };
    assert_eq!(search("x", json!({"mode": "fuzzy"})), "InvalidOption");
    assert_eq!(search("x", json!({"k": 0})), "InvalidOption");
    assert_eq!(search("x", json!({"k": -1})), "InvalidOption");
    assert_eq!(search("x", json!({"kk": 3})), "InvalidOption");
    assert_eq!(search("x", json!({"fusion": "max"})), "InvalidOption");
    assert_eq!(search("x", json!({"fusion": "rrf", "alpha": 0.5})), "InvalidOption");
    assert_eq!(search("x", json!({"alpha": 1.5})), "InvalidOption");
    assert_eq!(search("x", json!({"rrfK": -1})), "InvalidOption");
    // Retrieval names that carry their fusion, as the grid spells them; not with fusion keys.
    assert_eq!(search("x", json!({"mode": "hybrid-weighted:2"})), "InvalidOption");
    assert_eq!(search("x", json!({"mode": "weighted", "alpha": 0.3})), "InvalidOption");
    assert_eq!(search("x", json!({"mode": "hybrid-rrf:0"})), "InvalidOption");
    // The same values the CLI and the grid refuse (tests/options.rs), refused here too.
    assert_eq!(search("x", json!({"rrfK": 0})), "InvalidOption");
    assert_eq!(kind(SottoEngine::new(js(json!({"chunk": {"max_tokens": 1, "overlap_tokens": 0}})))), "InvalidOption");
    assert_eq!(search("x", json!({"filters": [{"op": "like", "key": "a"}]})), "InvalidOption");
    assert_eq!(search("   ", json!({})), "InvalidQuery");
    assert_eq!(search(&"long ".repeat(5000), json!({})), "InvalidQuery");
    assert_eq!(kind(e.search("x", JsValue::from_str("k=3"))), "InvalidOption");
    assert_eq!(kind(SottoEngine::new(js(json!({"embed_batch": "many"})))), "InvalidOption");
    assert_eq!(kind(e.ask("x", js(json!({"search": {"k": 0}})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("x", js(json!({"constrain": "poetic"})), None)), "InvalidOption");
    assert_eq!(kind(e.search("x", js(json!({"route": "sometimes"})))), "InvalidOption");
    assert_eq!(kind(e.search("x", js(json!({"construct": "maybe"})))), "InvalidOption");
    assert_eq!(kind(e.ask("x", js(json!({"adaptive": "yes"})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("x", js(json!({"selfCheck": 1})), None)), "InvalidOption");
    assert_eq!(kind(e.ask("x", js(json!({"adaptive": true, "search": {"translate": "hyde"}})), None)), "InvalidOption");
    // Adaptive on: a meta question is described, not retrieved, and the route says so.
    let a = rs(&e.ask("Hello! What can you do?", js(json!({"adaptive": true})), None).unwrap());
    assert_eq!(a["route"]["classification"]["class"], "meta", "{a}");
    assert_eq!(a["route"]["pipeline"], "no-retrieval");
    assert_eq!(a["citations"], json!([]));
    // Sparse search of an unknown word is an empty list, not an error.
    assert_eq!(rs(&e.search("zzzzqqq", js(json!({"mode": "sparse"}))).unwrap()), json!([]));
}

#[wasm_bindgen_test]
fn no_embedder_no_work_and_bad_models_are_errors() {
    let mut e = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    assert_eq!(kind(e.search("x", JsValue::UNDEFINED)), "ModelNotLoaded");
    assert_eq!(kind(e.add_documents(corpus(), None, None)), "ModelNotLoaded");
    assert_eq!(kind(e.stats()), "ModelNotLoaded");
    assert_eq!(kind(e.export_index()), "ModelNotLoaded");
    assert!(e.embedder_info().unwrap().is_null());
    assert_eq!(kind(e.load_hashing_embedder(0)), "InvalidOption");
    // Garbage and truncated model files: typed errors, the engine stays empty and usable.
    assert_eq!(kind(e.load_embedder(b"garbage", b"{}", b"{}", "m", JsValue::UNDEFINED)), "ModelFormat");
    let config = br#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"gelu","max_position_embeddings":16,"type_vocab_size":2,"layer_norm_eps":1e-12,"pad_token_id":0}"#;
    assert_eq!(
        kind(e.load_embedder(b"\x08\x00\x00\x00\x00\x00\x00\x00{}", b"{", config, "m", JsValue::UNDEFINED)),
        "ModelFormat"
    );
    let gpt = br#"{"model_type":"gpt2"}"#;
    assert!(matches!(
        kind(e.load_embedder(b"", b"{}", gpt, "m", JsValue::UNDEFINED)).as_str(),
        "UnsupportedArchitecture" | "ModelFormat"
    ));
    e.load_hashing_embedder(32).unwrap();
    e.add_documents(corpus(), None, None).unwrap();
    // A different model cannot take over an index built with another one.
    assert_eq!(kind(e.load_hashing_embedder(64)), "EmbedderMismatch");
    assert_eq!(rs(&e.stats().unwrap())["dim"], 32);
    // The same model again keeps the documents.
    e.load_hashing_embedder(32).unwrap();
    assert_eq!(rs(&e.stats().unwrap())["documents"], 3);
}

#[wasm_bindgen_test]
fn progress_and_cancellation() {
    let mut e = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    e.load_hashing_embedder(64).unwrap();
    let events = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = events.clone();
    let progress = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| sink.borrow_mut().push(rs(&p)));
    let docs: Vec<serde_json::Value> =
        (0..40).map(|i| json!({"id": format!("d{i}.txt"), "body": format!("Document number {i} talks about topic {i} in detail.")})).collect();
    let report = rs(&e
        .add_documents(js(json!(docs)), Some(progress.as_ref().unchecked_ref::<js_sys::Function>().clone()), None)
        .unwrap());
    assert_eq!(report["documents"], 40);
    let ev = events.borrow();
    assert_eq!(ev.first().unwrap()["stage"], "chunking");
    // Embedding counts the chunks and then their sentences (format v2 stores both).
    let last = ev.last().unwrap();
    assert_eq!(last["stage"], "embedding");
    assert_eq!(last["done"], last["total"], "{last}");
    assert!(last["total"].as_u64().unwrap() > report["chunks"].as_u64().unwrap(), "{last}");
    drop(ev);

    // Cancelled between embedding batches: an error, and nothing was added.
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = calls.clone();
    let cancel = Closure::<dyn FnMut() -> bool>::new(move || {
        c.set(c.get() + 1);
        c.get() > 1
    });
    let more: Vec<serde_json::Value> = (0..40)
        .map(|i| json!({"id": format!("e{i}.txt"), "body": format!("Another text {i} about subject {i}.")}))
        .collect();
    assert_eq!(
        kind(e.add_documents(js(json!(more)), None, Some(cancel.as_ref().unchecked_ref::<js_sys::Function>().clone()))),
        "Cancelled"
    );
    assert!(calls.get() >= 2);
    assert_eq!(rs(&e.stats().unwrap())["documents"], 40);
    // A throwing progress callback does not break indexing; a throwing cancel check cancels.
    let throwing = js_sys::Function::new_no_args("throw new Error('boom')");
    e.add_documents(js(json!([{"id": "z.txt", "body": "zebra crossing"}])), Some(throwing.clone()), None).unwrap();
    assert_eq!(kind(e.add_documents(js(json!([{"id": "y.txt", "body": "yak"}])), None, Some(throwing))), "Cancelled");
    assert_eq!(rs(&e.stats().unwrap())["documents"], 41);
}

#[wasm_bindgen_test]
fn hnsw_is_built_by_segments_with_progress_and_a_cancel_that_keeps_what_was_built() {
    let mut e = SottoEngine::new(js(json!({"dense": {"hnsw_threshold": 4}}))).unwrap();
    e.load_hashing_embedder(64).unwrap();
    let docs: Vec<serde_json::Value> =
        (0..12).map(|i| json!({"id": format!("d{i}.txt"), "body": format!("Document {i} is about subject {i} and nothing else.")})).collect();
    e.add_documents(js(json!(docs)), None, None).unwrap();
    let chunks = rs(&e.stats().unwrap())["chunks"].as_u64().unwrap();
    assert!(chunks >= 8, "{chunks} chunks");
    // Cancelled before the second segment: one segment of 4 stays, the rest is scanned.
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = calls.clone();
    let cancel = Closure::<dyn FnMut() -> bool>::new(move || {
        c.set(c.get() + 1);
        c.get() > 1
    });
    let report = rs(&e
        .build_hnsw(
            js(json!({"segmentVectors": 4})),
            None,
            Some(cancel.as_ref().unchecked_ref::<js_sys::Function>().clone()),
        )
        .unwrap());
    assert_eq!(
        (report["cancelled"].as_bool(), report["steps"].as_u64(), report["hnsw_vectors"].as_u64()),
        (Some(true), Some(1), Some(4)),
        "{report}"
    );
    assert_eq!(rs(&e.stats().unwrap())["hnsw_vectors"], 4);
    assert_eq!(top_doc(&e, "subject 7", json!({"mode": "dense", "k": 3})), "d7.txt");
    // Then to the end, with progress after each segment.
    let events = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = events.clone();
    let progress = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| sink.borrow_mut().push(rs(&p)));
    let report = rs(&e
        .build_hnsw(
            js(json!({"segmentVectors": 4})),
            Some(progress.as_ref().unchecked_ref::<js_sys::Function>().clone()),
            None,
        )
        .unwrap());
    assert_eq!(report["cancelled"], false);
    assert!(report["flat_vectors"].as_u64().unwrap() < 4, "{report}");
    assert_eq!(report["hnsw_vectors"].as_u64().unwrap() + report["flat_vectors"].as_u64().unwrap(), chunks);
    let ev = events.borrow();
    assert_eq!(ev.len() as u64, report["steps"].as_u64().unwrap());
    assert!(ev.iter().all(|p| p["stage"] == "hnsw" && p["total"] == chunks), "{ev:?}");
    drop(ev);
    assert_eq!(top_doc(&e, "subject 7", json!({"mode": "dense", "k": 3})), "d7.txt");
    // The graphs survive export and import.
    let bytes = e.export_index().unwrap();
    let mut f = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    f.load_hashing_embedder(64).unwrap();
    f.import_index(&bytes).unwrap();
    assert_eq!(rs(&f.stats().unwrap())["hnsw_vectors"], report["hnsw_vectors"]);
    // Bad options: typed errors, nothing changed.
    for bad in [json!({"segmentVectors": 0}), json!({"segmentVectors": 2.5}), json!({"segments": 3})] {
        assert_eq!(kind(e.build_hnsw(js(bad), None, None)), "InvalidOption");
    }
    assert_eq!(rs(&e.stats().unwrap())["hnsw_vectors"], report["hnsw_vectors"]);
}

#[wasm_bindgen_test]
fn evaluate_builds_the_report_and_bad_datasets_are_typed_errors() {
    let e = engine();
    let before = e.export_index().unwrap();
    let dataset = concat!(
        r#"{"id":"q1","question":"Which file records the exact version of every dependency?","relevant_docs":["cargo.md"],"answers":["Cargo.lock"]}"#,
        "\n",
        r#"{"id":"q2","question":"What is the capital of France?","relevant_docs":["france.txt","not-indexed.md"]}"#,
        "\n"
    );
    let events = js_sys::Array::new();
    let sink = events.clone();
    let on_progress = Closure::<dyn FnMut(JsValue) -> bool>::new(move |p: JsValue| {
        sink.push(&p);
        true
    });
    let f: &js_sys::Function = on_progress.as_ref().unchecked_ref();
    let r = rs(&e
        .evaluate(
            dataset.as_bytes(),
            None,
            js(json!({"name": "mini", "modes": ["sparse", "hybrid"], "answers": "extractive"})),
            Some(f.clone()),
        )
        .expect("evaluate"));
    let html = r["html"].as_str().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Sotto evaluation — mini"));
    let report: serde_json::Value = serde_json::from_str(r["json"].as_str().unwrap()).unwrap();
    let runs = report["grid"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["report"]["config"], "sparse");
    assert_eq!(runs[0]["report"]["doc"]["hit"]["1"], 1.0, "{}", runs[0]["report"]["per_question"]);
    assert!(runs[0]["report"]["answers"]["asked"].as_u64().unwrap() == 2);
    assert_eq!(report["missing_relevant"], json!(["not-indexed.md"]));
    assert_eq!(r["csp"]["script_src"].as_array().unwrap().len(), 2);
    // One indexing event, then one per question and configuration.
    assert_eq!(events.length(), 1 + 2 * 2);
    assert_eq!(rs(&events.get(0))["stage"], "indexing");
    assert_eq!(
        rs(&events.get(4)),
        json!({"stage": "evaluating", "config": "hybrid-rrf", "run": 2, "runs": 2, "done": 2, "total": 2})
    );

    // BEIR layout: queries.jsonl + qrels.
    let queries = br#"{"_id":"1","text":"capital of France"}"#;
    let qrels = b"query-id\tcorpus-id\tscore\n1\tfrance.txt\t1\n".to_vec();
    let r = rs(&e.evaluate(queries, Some(qrels), js(json!({"modes": ["dense"]})), None).expect("beir"));
    let report: serde_json::Value = serde_json::from_str(r["json"].as_str().unwrap()).unwrap();
    assert_eq!(report["dataset"]["questions"], 1);

    // Bad input: typed errors, the index unchanged.
    let dup = format!("{}\n{}\n", dataset.lines().next().unwrap(), dataset.lines().next().unwrap());
    assert_eq!(kind(e.evaluate(dup.as_bytes(), None, JsValue::UNDEFINED, None)), "Dataset");
    assert_eq!(kind(e.evaluate(b"", None, JsValue::UNDEFINED, None)), "Dataset");
    assert_eq!(
        kind(e.evaluate(
            b"{\"id\":\"a\",\"question\":\"caf\xe9\",\"relevant_docs\":[\"x\"]}\n",
            None,
            JsValue::UNDEFINED,
            None
        )),
        "Dataset"
    );
    assert_eq!(kind(e.evaluate(dataset.as_bytes(), None, js(json!({"modes": ["colbert"]})), None)), "InvalidOption");
    assert_eq!(kind(e.evaluate(dataset.as_bytes(), None, js(json!({"mode": "dense"})), None)), "InvalidOption");
    assert_eq!(kind(e.evaluate(dataset.as_bytes(), None, js(json!({"maxDatasetBytes": 10})), None)), "Dataset");
    assert_eq!(
        kind(e.evaluate(dataset.as_bytes(), None, js(json!({"answers": "generative"})), None)),
        "ModelNotLoaded"
    );
    let grid = r#"{"chunking": [{"max_tokens": 64, "overlap": 8}]}"#;
    assert_eq!(kind(e.evaluate(dataset.as_bytes(), None, js(json!({"grid": grid})), None)), "InvalidOption");
    // Cancelled from the progress callback.
    let stop = Closure::<dyn FnMut(JsValue) -> bool>::new(|_: JsValue| false);
    assert_eq!(
        kind(e.evaluate(
            dataset.as_bytes(),
            None,
            JsValue::UNDEFINED,
            Some(stop.as_ref().unchecked_ref::<js_sys::Function>().clone())
        )),
        "Cancelled"
    );
    assert_eq!(e.export_index().unwrap(), before);
    // Wrong order: no embedder yet.
    let fresh = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    assert_eq!(kind(fresh.evaluate(dataset.as_bytes(), None, JsValue::UNDEFINED, None)), "ModelNotLoaded");
}

#[wasm_bindgen_test]
fn building_blocks_embed_rerank_chunk() {
    let e = engine();
    let before = rs(&e.stats().unwrap());

    // embed: one Float32Array per text, normalised, batched with progress; [] for [].
    let progress = std::rc::Rc::new(std::cell::RefCell::new(Vec::<serde_json::Value>::new()));
    let sink = progress.clone();
    let on_progress = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| sink.borrow_mut().push(rs(&p)));
    let texts: Vec<String> = (0..20).map(|i| format!("text number {i} about cargo")).collect();
    let out = e
        .embed(
            js(json!(texts)),
            JsValue::UNDEFINED,
            Some(on_progress.as_ref().unchecked_ref::<js_sys::Function>().clone()),
            None,
        )
        .unwrap();
    assert_eq!(out.length(), 20);
    for v in out.iter() {
        let v: js_sys::Float32Array = v.dyn_into().expect("a Float32Array");
        assert_eq!(v.length(), 256);
        let norm: f32 = v.to_vec().iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let p = progress.borrow().clone();
    assert_eq!(p.last().unwrap(), &json!({"done": 20, "total": 20}));
    assert_eq!(p.len(), 2, "embed_batch 16: two batches, {p:?}");
    assert_eq!(e.embed(js(json!([])), JsValue::UNDEFINED, None, None).unwrap().length(), 0);
    let cancel = Closure::<dyn FnMut() -> bool>::new(|| true);
    assert_eq!(
        kind(e.embed(
            js(json!(["a"])),
            JsValue::UNDEFINED,
            None,
            Some(cancel.as_ref().unchecked_ref::<js_sys::Function>().clone())
        )),
        "Cancelled"
    );
    assert_eq!(kind(e.embed(js(json!("not an array")), JsValue::UNDEFINED, None, None)), "InvalidOption");
    assert_eq!(kind(e.embed(js(json!([1, 2])), JsValue::UNDEFINED, None, None)), "InvalidOption");
    assert_eq!(kind(e.embed(js(json!(["a"])), js(json!({"normalise": true})), None, None)), "InvalidOption");

    // rerank: the passage that shares the question's words wins, with its sentence's span.
    let passages = json!([
        "Bananas are yellow fruit from the tropics.",
        "The Seine flows through Paris. The Loire is the longest river in France.",
        ""
    ]);
    let ranked = rs(&e.rerank("longest river in France", js(passages.clone())).unwrap());
    assert_eq!(ranked[0]["index"], 1, "{ranked}");
    let (s, t) = (ranked[0]["start"].as_u64().unwrap() as usize, ranked[0]["end"].as_u64().unwrap() as usize);
    assert_eq!(&passages[1].as_str().unwrap()[s..t], "The Loire is the longest river in France.");
    assert_eq!(ranked[2]["index"], 2);
    assert_eq!(kind(e.rerank("", js(passages))), "InvalidQuery");

    // chunk: the chunks addDocuments would make, nothing indexed.
    let c = rs(&e
        .chunk(js(json!({"id": "book.pdf", "format": "pages", "body": "Page one.\u{c}Page two is about rivers."})))
        .unwrap());
    assert_eq!(c["format"], "pages");
    let paths: Vec<&serde_json::Value> = c["chunks"].as_array().unwrap().iter().map(|x| &x["heading_path"]).collect();
    assert_eq!(paths, [&json!(["p. 1"]), &json!(["p. 2"])]);
    let dup = rs(&e
        .chunk(js(json!({"id": "copy.txt", "body": "Paris is the capital of France. The Seine flows through Paris."})))
        .unwrap());
    assert_eq!(dup["chunks"][0]["duplicate"], "exact", "{dup}");
    assert_eq!(kind(e.chunk(js(json!({"id": "", "body": "x"})))), "InvalidDocument");
    assert_eq!(kind(e.chunk(js(json!("no")))), "InvalidDocument");

    assert_eq!(rs(&e.stats().unwrap()), before, "the building blocks index nothing");
}

#[wasm_bindgen_test]
fn routing_and_query_construction() {
    let mut e = SottoEngine::new(JsValue::UNDEFINED).expect("engine");
    e.load_hashing_embedder(256).expect("hashing embedder");
    let docs = js(json!([
        {"id": "cooking/bread.md", "body": "Knead the dough, let the bread rise, bake the loaf in a hot oven.", "metadata": {"collection": "cooking"}},
        {"id": "cooking/soup.md", "body": "Simmer the onions and the leeks; season the soup with salt.", "metadata": {"collection": "cooking"}},
        {"id": "cars/engine.md", "body": "The engine burns fuel; change the oil and the spark plugs.", "metadata": {"collection": "cars"}},
        {"id": "cars/tyres.md", "body": "Check the tyre pressure and the brakes of the car.", "metadata": {"collection": "cars"}}
    ]));
    e.add_documents(docs, None, None).expect("add");
    e.set_collection_description("cars", "Vehicle maintenance: fuel, oil, tyres, brakes").expect("describe");
    assert_eq!(kind(e.set_collection_description("", "x")), "InvalidOption");
    assert_eq!(kind(e.set_collection_description("cars", &"x".repeat(5000))), "InvalidOption");
    let c = rs(&e.collections().unwrap());
    assert_eq!(c[0]["name"], "cars");
    assert_eq!(c[0]["documents"], 2);
    assert_eq!(c[1]["description"], serde_json::Value::Null);
    // Routed: only the cars collection is searched, and the trace says so.
    let r = rs(&e.search_traced("change the oil and the spark plugs", js(json!({"route": "auto", "k": 4}))).unwrap());
    assert_eq!(r["trace"]["route"]["chosen"], json!(["cars"]));
    assert!(r["hits"].as_array().unwrap().iter().all(|h| h["doc_id"].as_str().unwrap().starts_with("cars/")));
    // Constructed: suggested (nothing filtered) or applied.
    let q = "in the cooking documents, what goes in the oven?";
    let s = rs(&e.search_traced(q, js(json!({"construct": "suggest", "k": 4}))).unwrap());
    assert_eq!(
        s["trace"]["construction"]["filters"],
        json!([{"op": "equals", "key": "collection", "value": "cooking"}])
    );
    assert_eq!(s["trace"]["construction"]["applied"], false);
    let a = rs(&e.search_traced(q, js(json!({"construct": "apply", "k": 4}))).unwrap());
    assert_eq!(a["trace"]["construction"]["applied"], true);
    assert!(a["hits"].as_array().unwrap().iter().all(|h| h["doc_id"].as_str().unwrap().starts_with("cooking/")));
    // The description is saved with the index.
    let bytes = e.export_index().expect("export");
    let mut f = SottoEngine::new(JsValue::UNDEFINED).expect("engine");
    f.load_hashing_embedder(256).expect("hashing embedder");
    f.import_index(&bytes).expect("import");
    assert_eq!(rs(&f.collections().unwrap()), c);
}

#[wasm_bindgen_test]
fn summary_tree_builds_with_progress_cancels_cleanly_and_serves_the_collapsed_tree() {
    let mut e = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    e.load_hashing_embedder(64).unwrap();
    let docs: Vec<serde_json::Value> = (0..24)
        .map(|i| {
            let topic = ["ships sail the harbour", "apples grow in orchards", "violins play music"][i % 3];
            json!({"id": format!("d{i}.txt"), "body": format!("Page {i} says the {topic} every day. Many people know the {topic} well.")})
        })
        .collect();
    e.add_documents(js(json!(docs)), None, None).unwrap();
    let q = "apples grow in orchards";
    // No tree yet, an unknown tree retrieval, the tree in sparse mode: typed errors.
    assert_eq!(kind(e.search(q, js(json!({"tree": "collapsed"})))), "InvalidOption");
    assert_eq!(kind(e.search(q, js(json!({"tree": "upside-down"})))), "InvalidOption");
    assert_eq!(kind(e.build_tree(js(json!({"cluster_size": 0})), None, None)), "InvalidOption");
    // Abstractive summaries need a generator; their options are checked like the others.
    assert_eq!(kind(e.build_tree(js(json!({"abstractive": true})), None, None)), "ModelNotLoaded");
    assert_eq!(kind(e.build_tree(js(json!({"abstractive": "yes"})), None, None)), "InvalidOption");
    assert_eq!(kind(e.build_tree(js(json!({"summary_max_new_tokens": 0})), None, None)), "InvalidOption");
    assert_eq!(kind(e.build_tree(js(json!({"summary_length": 2, "colour": 1})), None, None)), "InvalidOption");
    // Cancelled: an error, and the exported index is byte-identical.
    let before = e.export_index().unwrap();
    let params = js(json!({"cluster_size": 3, "max_cluster_size": 4, "top_nodes": 2}));
    let yes = js_sys::Function::new_no_args("return true");
    assert_eq!(kind(e.build_tree(params.clone(), None, Some(yes))), "Cancelled");
    assert_eq!(e.export_index().unwrap(), before);
    // Built with progress events of stage "tree".
    let events = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = events.clone();
    let progress = Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| sink.borrow_mut().push(rs(&p)));
    let report =
        rs(&e.build_tree(params, Some(progress.as_ref().unchecked_ref::<js_sys::Function>().clone()), None).unwrap());
    assert!(report["nodes"].as_u64().unwrap() >= 2, "{report}");
    assert!(!events.borrow().is_empty() && events.borrow().iter().all(|p| p["stage"] == "tree"));
    let levels = rs(&e.tree_levels().unwrap());
    assert!(levels.as_array().is_some_and(|l| l.len() >= 2), "{levels}");
    let stats = rs(&e.stats().unwrap());
    assert_eq!(stats["tree"]["abstractive"], false, "{stats}");
    assert_eq!(stats["tree"]["nodes"], report["nodes"], "{stats}");
    // The collapsed tree: real chunks, the nodes in the trace; sparse refused.
    let r = rs(&e.search_traced(q, js(json!({"tree": "collapsed", "k": 3}))).unwrap());
    let body = rs(&e.document(r["hits"][0]["doc_id"].as_str().unwrap()).unwrap());
    assert!(body["text"].as_str().unwrap().contains("apples"), "{r}");
    assert!(r["trace"]["tree"].as_array().is_some_and(|t| !t.is_empty()), "{r}");
    assert_eq!(kind(e.search(q, js(json!({"tree": "collapsed", "mode": "sparse"})))), "InvalidOption");
    // The tree travels with the exported index; clearTree removes it.
    let with_tree = e.export_index().unwrap();
    assert!(with_tree.len() > before.len());
    assert!(e.clear_tree().unwrap());
    assert_eq!(kind(e.search(q, js(json!({"tree": "collapsed"})))), "InvalidOption");
}

/// An index written natively with `hnsw_threshold = usize::MAX` ("never", as `sotto` and
/// `examples/hashing_index.rs` write it) loads in wasm, where usize is 32 bits: the
/// manifest's JSON and the dense section's u64 both saturate to `usize::MAX`.
#[wasm_bindgen_test]
fn a_native_never_hnsw_threshold_loads_in_wasm() {
    use sotto::index::dense::{DenseConfig, DenseIndex};
    let config: DenseConfig = serde_json::from_value(json!({
        "hnsw_threshold": u64::MAX, "ef_construction": 100, "ef_search": 100, "seed": 7
    }))
    .expect("a native u64::MAX threshold deserializes");
    assert_eq!(config.hnsw_threshold, usize::MAX);
    // The dense section: header, config as u64s, one empty flat segment.
    let mut bytes = b"SDNS".to_vec();
    bytes.extend(1u32.to_le_bytes());
    bytes.extend(4u32.to_le_bytes());
    for v in [u64::MAX, 100, 100, 7] {
        bytes.extend(v.to_le_bytes());
    }
    bytes.extend(1u32.to_le_bytes());
    bytes.push(0);
    bytes.extend(0u64.to_le_bytes());
    let ix = DenseIndex::from_bytes(&bytes).expect("the dense section loads");
    assert_eq!(ix.config().hnsw_threshold, usize::MAX);
    assert!(ix.is_empty());
}

/// `exact: true` is accepted from JS and gives the exact scan's hits (on this small index
/// the same as the default); a non-boolean is an InvalidOption.
#[wasm_bindgen_test]
fn exact_search_option() {
    let e = engine();
    let exact = rs(&e.search("capital of France", js(json!({"mode": "dense", "exact": true}))).expect("exact"));
    let plain = rs(&e.search("capital of France", js(json!({"mode": "dense"}))).expect("default"));
    assert_eq!(exact, plain);
    assert_eq!(kind(e.search("capital of France", js(json!({"exact": "yes"})))), "InvalidOption");
}

#[wasm_bindgen_test]
fn int8_embedder_loads_embeds_and_reports_its_precision() {
    const WORDS: &[&str] =
        &["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "a", "rust", "code"];
    let tiny = sotto::embed::testing::TinyBert {
        words: WORDS,
        hidden: 32,
        layers: 2,
        heads: 4,
        intermediate: 64,
        max_positions: 64,
    };
    let (w, t, c) = (tiny.weights("", 7), tiny.tokenizer_json(false), tiny.config_json(Some("bert")));
    let mut f32_engine = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    let info = rs(&f32_engine.load_embedder(&w, &t, &c, "tiny", JsValue::UNDEFINED).unwrap());
    assert_eq!(info["quantize"], "none");
    let mut e = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    // Bad values and unknown keys are typed errors; the engine stays empty.
    assert_eq!(kind(e.load_embedder(&w, &t, &c, "tiny", js(json!({"quantize": "int4"})))), "InvalidOption");
    assert_eq!(kind(e.load_embedder(&w, &t, &c, "tiny", js(json!({"quantise": "int8"})))), "InvalidOption");
    assert!(e.embedder_info().unwrap().is_null());
    let info = rs(&e.load_embedder(&w, &t, &c, "tiny", js(json!({"quantize": "int8"}))).unwrap());
    assert_eq!(info["quantize"], "int8");
    assert_eq!(info["dim"], 32);
    // The identity is the f32 model's: an index built with one answers the other.
    let f32_info = rs(&f32_engine.embedder_info().unwrap());
    assert_eq!(info["weights_sha256"], f32_info["weights_sha256"]);
    let texts = js(json!(["the cat sat on the mat", "rust code", "a dog"]));
    let a = e.embed(texts.clone(), JsValue::UNDEFINED, None, None).unwrap();
    let b = f32_engine.embed(texts, JsValue::UNDEFINED, None, None).unwrap();
    assert_eq!(a.length(), 3);
    for i in 0..3 {
        let (x, y) = (js_sys::Float32Array::from(a.get(i)).to_vec(), js_sys::Float32Array::from(b.get(i)).to_vec());
        assert_eq!(x.len(), 32);
        let cos: f32 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
        assert!(cos > 0.99, "int8 vs f32 cosine {cos} for text {i}");
        assert_ne!(x, y, "int8 must not silently run f32");
    }
    e.add_documents(corpus(), None, None).unwrap();
    assert_eq!(rs(&e.stats().unwrap())["quantize"], "int8");
}

/// Issue 12: the SIMD128 prefill kernel agrees with the scalar reference on random shapes,
/// including token and row counts that are not multiples of its 2 × 2 tiles.
#[wasm_bindgen_test]
fn q8_0_prefill_kernel_matches_the_scalar_reference() {
    use sotto::generate::testing::Q8Gemm;
    for (i, (n, k, m)) in [(1, 32, 1), (3, 64, 5), (7, 96, 9), (33, 576, 17), (64, 1536, 4)].into_iter().enumerate() {
        let mut g = Q8Gemm::new(n, k, m, 40 + i as u64).unwrap();
        assert_eq!(g.kernel(), "simd128");
        g.run_scalar().unwrap();
        let want = g.output().to_vec();
        g.run().unwrap();
        for (j, (a, b)) in want.iter().zip(g.output()).enumerate() {
            let tol = 1e-5 * (1.0 + a.abs()) * (k as f32 / 32.0).sqrt();
            assert!((a - b).abs() <= tol, "[{m}x{k}]·[{n}x{k}]ᵀ at {j}: scalar {a}, simd128 {b}");
        }
    }
}

/// Drive a query on the open sharded index to its end, providing what each step needs from
/// `shards`: the hits and the number of rounds.
fn run_sharded(
    e: &SottoEngine,
    shards: &std::collections::HashMap<String, Vec<u8>>,
    query: &str,
    opts: serde_json::Value,
) -> (Vec<serde_json::Value>, usize) {
    let q = e.sharded_query(query, None, js(opts)).expect("sharded query");
    let mut rounds = 0;
    loop {
        let step = rs(&e.sharded_step(&q).expect("step"));
        if let Some(need) = step.get("need") {
            rounds += 1;
            assert!(rounds <= 3, "more than three rounds");
            for n in need.as_array().expect("need is a list") {
                let n = n.as_str().expect("a shard name");
                e.provide_shard(n, &shards[n]).expect("provide");
            }
            continue;
        }
        return (step["hits"].as_array().expect("hits").clone(), rounds);
    }
}

#[wasm_bindgen_test]
fn a_sharded_index_is_stepped_provided_and_checked() {
    use sotto::embed::hashing::HashEmbedder;
    use sotto::rag::shards::ShardParams;
    let mut local = engine();
    let core = sotto::Engine::from_bytes(&local.export_index().unwrap(), Box::new(HashEmbedder::new(256))).unwrap();
    let set = core.to_shards(&ShardParams::default()).unwrap();
    let shards: std::collections::HashMap<String, Vec<u8>> = set.shards.iter().cloned().collect();

    let mut e = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    e.load_hashing_embedder(256).unwrap();
    assert_eq!(kind(e.sharded_query("cargo", None, JsValue::UNDEFINED)), "WrongState");
    let info = rs(&e.open_sharded(&set.manifest_bytes, JsValue::UNDEFINED).unwrap());
    assert_eq!(info["chunks"], set.manifest.chunks);
    assert_eq!(info["shards"], set.shards.len());

    // BM25 on the shards is the single-file index's to the bit; hybrid finds the same page.
    let (hits, rounds) = run_sharded(&e, &shards, "lock file version", json!({"k": 3, "mode": "sparse"}));
    assert!((2..=3).contains(&rounds), "{rounds} rounds");
    let want = rs(&local.search("lock file version", js(json!({"k": 3, "mode": "sparse"}))).unwrap());
    let ids =
        |hs: &[serde_json::Value]| hs.iter().map(|h| (h["chunk_id"].clone(), h["score"].clone())).collect::<Vec<_>>();
    assert_eq!(ids(&hits), ids(want.as_array().unwrap()));
    let (hits, _) = run_sharded(&e, &shards, "Which river is the longest in France?", json!({"k": 2}));
    assert_eq!(hits[0]["doc_id"], "page.html");
    // Everything is in memory now: the same query needs no round.
    let (_, rounds) = run_sharded(&e, &shards, "Which river is the longest in France?", json!({"k": 2}));
    assert_eq!(rounds, 0);

    // An answer, stepped the same way: the single-file index's answer and citations (with
    // BM25 the hits are identical to the bit; the sentence vectors are the stored ones).
    let opts = json!({"abstainBelow": 0.0, "search": {"mode": "sparse", "k": 3}});
    let question = "Which river is the longest in France?";
    let begun = e.sharded_ask_query(question, None, js(opts.clone())).unwrap();
    let mut needs = 0;
    let answer = loop {
        let step = rs(&e.sharded_ask_step(&begun).expect("ask step"));
        match step.get("need") {
            Some(need) => {
                needs += 1;
                assert!(needs <= 4, "more than four rounds");
                for n in need.as_array().unwrap() {
                    let n = n.as_str().unwrap();
                    e.provide_shard(n, &shards[n]).unwrap();
                }
            }
            None => break step["answer"].clone(),
        }
    };
    let want = rs(&local.ask(question, js(opts), None).unwrap());
    assert_eq!(answer["answer"], want["answer"]);
    assert_eq!(answer["citations"], want["citations"]);
    assert!(!answer["citations"].as_array().unwrap().is_empty());
    assert_eq!(kind(e.sharded_ask_query(question, None, js(json!({"mode": "generative"})))), "InvalidOption");

    // Bad input: typed errors, the index keeps answering.
    let name = &set.shards[0].0;
    let mut damaged = shards[name].clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    assert_eq!(kind(e.provide_shard(name, &damaged)), "Corrupt");
    assert_eq!(kind(e.provide_shard("post-0000.bin", b"not a shard")), "ShardUnavailable");
    assert_eq!(kind(e.sharded_query("cargo", None, js(json!({"translate": "multi"})))), "InvalidOption");
    assert_eq!(kind(e.sharded_query("cargo", Some(0), JsValue::UNDEFINED)), "InvalidOption");
    assert_eq!(kind(e.sharded_query("  ", None, JsValue::UNDEFINED)), "InvalidQuery");
    assert_eq!(kind(e.open_sharded(b"{\"format\": \"nope\"}", JsValue::UNDEFINED)), "BadMagic");
    assert_eq!(kind(e.open_sharded(&set.manifest_bytes, js(json!({"cacheByte": 1})))), "InvalidOption");
    assert_eq!(
        run_sharded(&e, &shards, "Which river is the longest in France?", json!({"k": 2})).0[0]["doc_id"],
        "page.html"
    );

    // A query begun on an index that was replaced since is refused, not answered from the new one.
    let stale = e.sharded_query("cargo", None, JsValue::UNDEFINED).unwrap();
    e.open_sharded(&set.manifest_bytes, JsValue::UNDEFINED).unwrap();
    assert_eq!(kind(e.sharded_step(&stale)), "WrongState");

    // Another embedder: refused, the open index stays.
    let mut other = SottoEngine::new(JsValue::UNDEFINED).unwrap();
    other.load_hashing_embedder(128).unwrap();
    assert_eq!(kind(other.open_sharded(&set.manifest_bytes, JsValue::UNDEFINED)), "EmbedderMismatch");
    assert!(other.sharded_info().unwrap().is_null());

    assert!(e.close_sharded());
    assert!(!e.close_sharded());
    assert!(e.sharded_info().unwrap().is_null());
    assert_eq!(kind(e.sharded_query("cargo", None, JsValue::UNDEFINED)), "WrongState");
}

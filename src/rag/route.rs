//! Routing and query construction on the engine (the pure parts are
//! [`crate::query::route`] and [`crate::query::construct`]): the collections an engine
//! holds and their descriptions, the centroids routing compares a question with, the
//! schema construction matches a question against, and the filters both add to a search.
//!
//! Two keys are *virtual* in filters: `collection` is `default` for a document whose
//! metadata names none, and `lang` is the detected language code (`en`, `fr`) for one
//! whose metadata has no `lang`. So a routed or constructed filter can be given back by
//! the caller as it was traced.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::DocRecord;
use super::Engine;
use crate::error::{Error, Result};
use crate::index::dense::dot;
use crate::index::ChunkId;
use crate::query::construct::{self, Construct, DocFacts, Schema};
use crate::query::route::{self, CollectionScore, Route, DEFAULT_COLLECTION, MAX_DESCRIBED_COLLECTIONS};
use crate::query::{Filter, QueryTrace, SearchOptions};
use crate::text::Language;

/// One collection of an engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Name.
    pub name: String,
    /// Documents in it.
    pub documents: usize,
    /// Chunks in it.
    pub chunks: usize,
    /// Its description, if one was set.
    pub description: Option<String>,
}

/// Routing's vectors, valid for one state of the corpus and the descriptions.
pub(crate) struct RouteCache {
    /// `(next chunk id, live chunks, descriptions)` when built: any add, removal or
    /// description change makes it stale.
    key: (ChunkId, usize, BTreeMap<String, String>),
    /// Per collection with chunks.
    entries: Vec<RouteEntry>,
}

/// A collection's name, its normalised centroid and its description's vector.
type RouteEntry = (String, Vec<f32>, Option<Vec<f32>>);

/// A document's collection.
pub fn doc_collection(d: &DocRecord) -> &str {
    d.metadata.get("collection").map_or(DEFAULT_COLLECTION, String::as_str)
}

/// A language's code (empty for one without).
pub fn language_code(l: Language) -> &'static str {
    match l {
        Language::English => "en",
        Language::French => "fr",
        Language::Other => "",
    }
}

/// Whether `d` passes `f`, with the virtual keys of the module docs.
pub fn doc_matches(f: &Filter, d: &DocRecord) -> bool {
    meta_matches(f, &d.id, &d.metadata, d.language)
}

/// [`doc_matches`] from a document's id, metadata and language (what a sharded index's
/// chunk shards carry).
pub fn meta_matches(
    f: &Filter,
    id: &str,
    metadata: &std::collections::BTreeMap<String, String>,
    language: crate::text::Language,
) -> bool {
    let key = construct::filter_key(f);
    let fill = match key {
        "collection" if !metadata.contains_key(key) => Some(DEFAULT_COLLECTION),
        "lang" if !metadata.contains_key(key) => Some(language_code(language)).filter(|c| !c.is_empty()),
        _ => None,
    };
    let metadata = match fill {
        Some(v) => {
            let mut m = metadata.clone();
            m.insert(key.to_owned(), v.to_owned());
            Cow::Owned(m)
        }
        None => Cow::Borrowed(metadata),
    };
    f.matches(id, &metadata)
}

impl Engine {
    /// Describe a collection (routing compares questions with descriptions as well as with
    /// the collection's documents); an empty description removes it. The collection need
    /// not have documents yet. Limits: [`route::MAX_DESCRIPTION_BYTES`],
    /// [`MAX_DESCRIBED_COLLECTIONS`].
    pub fn set_collection_description(&mut self, name: &str, description: &str) -> Result<()> {
        route::validate_collection(name, description)?;
        if description.trim().is_empty() {
            self.collections.remove(name);
            return Ok(());
        }
        if !self.collections.contains_key(name) && self.collections.len() >= MAX_DESCRIBED_COLLECTIONS {
            return Err(Error::InvalidOption {
                name: "collection",
                detail: format!("more than {MAX_DESCRIBED_COLLECTIONS} described collections"),
            });
        }
        self.collections.insert(name.to_owned(), description.trim().to_owned());
        Ok(())
    }

    /// The collections: every one with documents, and every described one, by name.
    pub fn collections(&self) -> Vec<CollectionInfo> {
        let mut out: BTreeMap<&str, CollectionInfo> = BTreeMap::new();
        for d in self.docs.values() {
            let name = doc_collection(d);
            let e = out.entry(name).or_insert_with(|| CollectionInfo {
                name: name.to_owned(),
                documents: 0,
                chunks: 0,
                description: None,
            });
            e.documents += 1;
            e.chunks += d.chunks.len();
        }
        for (name, desc) in &self.collections {
            out.entry(name)
                .or_insert_with(|| CollectionInfo { name: name.clone(), documents: 0, chunks: 0, description: None })
                .description = Some(desc.clone());
        }
        out.into_values().collect()
    }

    /// The labels query construction can match (see [`crate::query::construct`]).
    pub fn schema(&self) -> Schema {
        Schema::from_docs(self.docs.values().map(|d| DocFacts {
            id: &d.id,
            metadata: &d.metadata,
            language: language_code(d.language),
            collection: doc_collection(d),
        }))
    }

    /// Routing's vectors for the corpus as it is (rebuilt when stale).
    fn route_entries(&self) -> Result<Vec<RouteEntry>> {
        let key = (self.next_chunk_id, self.chunks.len(), self.collections.clone());
        let mut cache = self.route_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| c.key == key) {
            return Ok(c.entries.clone());
        }
        let dim = self.dense.dim();
        let mut sums: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
        for d in self.docs.values() {
            let sum = sums.entry(doc_collection(d)).or_insert_with(|| vec![0.0; dim]);
            for id in &d.chunks {
                if let Some(v) = self.dense.vector(*id) {
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                }
            }
        }
        let described: Vec<(&String, &String)> =
            self.collections.iter().filter(|(name, _)| sums.contains_key(name.as_str())).collect();
        let texts: Vec<String> = described.iter().map(|(_, d)| format!("{}{}", self.config.query_prefix, d)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = if refs.is_empty() { Vec::new() } else { self.embed_batch_checked(&refs)? };
        let by_name: BTreeMap<&str, Vec<f32>> =
            described.iter().map(|(n, _)| n.as_str()).zip(vectors.into_iter().map(normalized)).collect();
        let entries: Vec<RouteEntry> = sums
            .into_iter()
            .map(|(name, sum)| (name.to_owned(), normalized(sum), by_name.get(name).cloned()))
            .collect();
        *cache = Some(RouteCache { key, entries: entries.clone() });
        Ok(entries)
    }

    /// Add routing's and construction's filters to `options`, as they ask, recording what
    /// was done in `trace`. `query_vec` is the question's vector when the caller has it.
    pub(crate) fn plan_filters(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        options: &SearchOptions,
        trace: &mut QueryTrace,
    ) -> Result<SearchOptions> {
        let mut out = options.clone();
        if options.construct != Construct::Off {
            let taken: Vec<&str> = options.filters.iter().map(construct::filter_key).collect();
            let mut c = construct::construct(query, &self.schema(), &taken);
            c.applied = options.construct == Construct::Apply && !c.filters.is_empty();
            if c.applied {
                out.filters.extend(c.filters.iter().cloned());
            }
            trace.construction = Some(c);
        }
        if options.route == Route::Auto {
            let taken = out.filters.iter().any(|f| construct::filter_key(f) == "collection");
            let t = if taken {
                route::RouteTrace {
                    note: "the search already filters collection: not routed".into(),
                    ..Default::default()
                }
            } else {
                let owned;
                let v = match query_vec {
                    Some(v) => v,
                    None => {
                        owned = self.embed_query(query, options)?;
                        &owned
                    }
                };
                let scores: Vec<CollectionScore> = self
                    .route_entries()?
                    .into_iter()
                    .map(|(name, centroid, desc)| {
                        let c = dot(v, &centroid);
                        let d = desc.map(|d| dot(v, &d));
                        CollectionScore { name, centroid: c, description: d, score: d.map_or(c, |d| d.max(c)) }
                    })
                    .collect();
                route::choose(scores)
            };
            if !t.chosen.is_empty() {
                out.filters.push(Filter::OneOf { key: "collection".into(), values: t.chosen.clone() });
            }
            trace.route = Some(t);
        }
        Ok(out)
    }
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::HashEmbedder;
    use crate::{Document, EngineConfig, Mode};

    fn doc(id: &str, text: &str, collection: Option<&str>) -> Document {
        let mut d = Document::new(id, text);
        if let Some(c) = collection {
            d.metadata.insert("collection".into(), c.into());
        }
        d
    }

    fn engine() -> Engine {
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(256)));
        e.add_documents(vec![
            doc(
                "cooking/bread.md",
                "Knead the dough, let the bread rise, bake the loaf in a hot oven.",
                Some("cooking"),
            ),
            doc("cooking/soup.md", "Simmer the onions and the leeks; season the soup with salt.", Some("cooking")),
            doc("cars/engine.md", "The engine burns fuel; change the oil and the spark plugs.", Some("cars")),
            doc("cars/tyres.md", "Check the tyre pressure and the brakes of the car.", Some("cars")),
            doc("misc/notes.md", "Loose notes about the garden and the bread oven.", None),
        ])
        .unwrap();
        e
    }

    fn ids(hits: &[crate::SearchHit]) -> Vec<&str> {
        hits.iter().map(|h| h.doc_id.as_str()).collect()
    }

    #[test]
    fn routing_searches_the_matching_collection_only() {
        let e = engine();
        let o = SearchOptions { k: 5, route: Route::Auto, ..Default::default() };
        let (hits, trace) = e.search_traced("change the oil of the engine and the spark plugs", &o, &|| 0.0).unwrap();
        let r = trace.route.expect("traced");
        assert_eq!(r.scores.len(), 3, "cooking, cars, default: {r:?}");
        assert_eq!(r.chosen, ["cars"], "{r:?}");
        assert!(!hits.is_empty() && ids(&hits).iter().all(|d| d.starts_with("cars/")), "{:?}", ids(&hits));
        // Unrouted, the same search reaches the other collections.
        let (all, t) = e
            .search_traced(
                "change the oil of the engine and the spark plugs",
                &SearchOptions { k: 5, route: Route::None, ..o.clone() },
                &|| 0.0,
            )
            .unwrap();
        assert!(t.route.is_none());
        assert!(ids(&all).iter().any(|d| !d.starts_with("cars/")));
        // Plain `search` routes too, also in sparse mode (the question is embedded for it).
        let sparse = e.search("oil engine spark plugs", &SearchOptions { mode: Mode::Sparse, ..o }).unwrap();
        assert!(ids(&sparse).iter().all(|d| d.starts_with("cars/")), "{:?}", ids(&sparse));
    }

    #[test]
    fn a_description_routes_and_is_saved_with_the_index() {
        let mut e = engine();
        e.set_collection_description("cars", "Vehicle maintenance: fuel, oil, tyres, brakes").unwrap();
        let info = e.collections();
        assert_eq!(info.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["cars", "cooking", "default"]);
        assert_eq!(info[0].documents, 2);
        assert!(info[0].description.as_deref().unwrap().starts_with("Vehicle"));
        let bytes = e.to_bytes().unwrap();
        let loaded = Engine::from_bytes(&bytes, Box::new(HashEmbedder::new(256))).unwrap();
        assert_eq!(loaded.collections(), info);
        // A description changes the route cache's key: scores now include it.
        let o = SearchOptions { route: Route::Auto, ..Default::default() };
        let (_, t) = loaded.search_traced("vehicle maintenance tyres brakes", &o, &|| 0.0).unwrap();
        let r = t.route.unwrap();
        assert!(r.scores.iter().find(|s| s.name == "cars").unwrap().description.is_some());
        assert_eq!(r.chosen, ["cars"]);
        // Removing and bad input.
        e.set_collection_description("cars", "").unwrap();
        assert!(e.collections()[0].description.is_none());
        assert!(matches!(e.set_collection_description("a\u{0}", "x"), Err(Error::InvalidOption { .. })));
    }

    #[test]
    fn routing_never_empties_a_search() {
        // One collection: nothing to choose.
        let mut e = Engine::new(EngineConfig::default(), Box::new(HashEmbedder::new(64)));
        e.add_documents(vec![doc("a.md", "alpha beta gamma", None), doc("b.md", "delta epsilon", None)]).unwrap();
        let o = SearchOptions { route: Route::Auto, ..Default::default() };
        let (hits, t) = e.search_traced("alpha", &o, &|| 0.0).unwrap();
        assert_eq!(hits.len(), 2);
        assert!(t.route.unwrap().note.contains("1 collection"));
        // A described collection without documents is not a destination.
        e.set_collection_description("empty", "alpha beta gamma").unwrap();
        let (hits, t) = e.search_traced("alpha", &o, &|| 0.0).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(t.route.unwrap().scores.len(), 1);
        // The caller's own collection filter wins.
        let e = engine();
        let o = SearchOptions { filters: vec![Filter::parse("collection=cooking").unwrap()], ..o };
        let (hits, t) = e.search_traced("engine oil", &o, &|| 0.0).unwrap();
        assert!(ids(&hits).iter().all(|d| d.starts_with("cooking/")));
        assert!(t.route.unwrap().note.contains("already filters"));
    }

    #[test]
    fn virtual_keys_filter_documents_without_the_metadata() {
        let e = engine();
        let o =
            SearchOptions { k: 10, filters: vec![Filter::parse("collection=default").unwrap()], ..Default::default() };
        assert_eq!(ids(&e.search("bread oven", &o).unwrap()), ["misc/notes.md"]);
        let o = SearchOptions { k: 10, filters: vec![Filter::parse("lang=en").unwrap()], ..Default::default() };
        let en = e.search("bread oven", &o).unwrap();
        assert!(!en.is_empty());
        assert!(en.iter().all(|h| e.docs[&h.doc_id].language == Language::English));
        let o = SearchOptions { k: 10, filters: vec![Filter::parse("lang=fr").unwrap()], ..Default::default() };
        assert!(e.search("bread oven", &o).unwrap().is_empty());
    }

    #[test]
    fn construction_is_suggested_or_applied_and_traced() {
        let e = engine();
        let q = "in the cooking documents, what goes in the oven?";
        let suggest = SearchOptions { k: 10, construct: Construct::Suggest, ..Default::default() };
        let (all, t) = e.search_traced(q, &suggest, &|| 0.0).unwrap();
        let c = t.construction.unwrap();
        assert!(!c.applied);
        assert_eq!(c.filters.iter().map(construct::describe).collect::<Vec<_>>(), ["collection=cooking"], "{c:?}");
        assert!(ids(&all).iter().any(|d| !d.starts_with("cooking/")), "suggest filters nothing");
        let apply = SearchOptions { construct: Construct::Apply, ..suggest };
        let (hits, t) = e.search_traced(q, &apply, &|| 0.0).unwrap();
        assert!(t.construction.unwrap().applied);
        assert!(!hits.is_empty() && ids(&hits).iter().all(|d| d.starts_with("cooking/")), "{:?}", ids(&hits));
        // `search` (no trace) applies it too; a question naming nothing is searched as is.
        assert!(ids(&e.search(q, &apply).unwrap()).iter().all(|d| d.starts_with("cooking/")));
        assert_eq!(
            e.search("oven", &apply).unwrap().len(),
            e.search("oven", &SearchOptions { k: 10, ..Default::default() }).unwrap().len()
        );
    }
}

//! The committed partial-index fixtures (format v2 with the manifest's `partition` field):
//! `tests/fixtures/index_v2_partial_{0,1}of2.sotto` are `sotto index tests/fixtures/corpus
//! --partition i/2` (all-MiniLM-L6-v2). They must keep loading and merging; a file written
//! before the field existed reads as a complete index, which a merge refuses.

mod common;

use sotto::rag::partition::merge_partitions;
use sotto::rag::persist::read_manifest;
use sotto::{Engine, Error, Mode, SearchOptions};

#[test]
fn committed_partial_fixtures_load_and_merge() {
    let parts: Vec<Vec<u8>> = (0..2)
        .map(|i| std::fs::read(common::fixture(&format!("index_v2_partial_{i}of2.sotto"))).expect("committed"))
        .collect();
    for (i, bytes) in parts.iter().enumerate() {
        let p = read_manifest(bytes).unwrap().partition.expect("the manifest names the partition");
        assert_eq!((p.index, p.count, p.documents, p.chunks), (i as u32, 2, 3, 7));
        let e = Engine::from_bytes(bytes, Box::new(common::minilm())).expect("a partial index loads");
        assert_eq!(e.partition(), Some(&p));
        assert!(e.stats().documents < 3);
    }
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let merged = merge_partitions(&slices, Box::new(common::minilm())).expect("the fixtures merge");
    assert_eq!((merged.stats().documents, merged.stats().chunks), (3, 7));
    assert!(merged.partition().is_none());
    let bytes = merged.to_bytes().unwrap();
    assert!(read_manifest(&bytes).unwrap().partition.is_none(), "a merged index is complete");
    let hits = merged
        .search("magic number and checksums", &SearchOptions { k: 3, mode: Mode::Sparse, ..SearchOptions::default() })
        .unwrap();
    assert_eq!(hits[0].doc_id, "index-format.md");
    let hits = merged.search("How are near-duplicate chunks detected?", &SearchOptions::default()).unwrap();
    assert_eq!(hits[0].doc_id, "ingest.md");

    // index_v2.sotto predates the field: a complete index, not a partition.
    let old = std::fs::read(common::fixture("index_v2.sotto")).unwrap();
    assert!(read_manifest(&old).unwrap().partition.is_none());
    let r = merge_partitions(&[slices[0], &old], Box::new(common::minilm()));
    assert!(matches!(r, Err(Error::NotPartial { position: 1 })), "{:?}", r.err());
}

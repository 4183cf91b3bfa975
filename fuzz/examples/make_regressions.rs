//! Writes hand-made, readable counterparts of fuzzer findings under `fuzz/regressions/`
//! (the minimised fuzzer inputs are committed next to them):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example make_regressions
//! ```
//!
//! - `index_load/crafted-vector-under-foreign-id`: a valid two-document index whose last
//!   chunk's vector is stored under id 999 instead (same number of vectors as chunks).
//! - `index_load/crafted-chunk-listed-twice`: a valid index where the first document lists
//!   its first chunk twice instead of its last one, which is left to no document (the
//!   counts still agree).
//!
//! Both are well-formed files with correct checksums; `Engine::from_bytes` accepts them
//! today although the engine it returns is inconsistent.

use std::path::{Path, PathBuf};

use bincode::Options;
use sotto::embed::hashing::HashEmbedder;
use sotto::index::dense::DenseIndex;
use sotto::ingest::chunk::ChunkConfig;
use sotto::rag::{ChunkRecord, DocRecord};
use sotto::{Engine, EngineConfig};
use sotto_fuzz::harness::{crc32, two_documents};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `(name, payload)` sections of an index file (trusting its lengths).
fn sections(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    let count = u32::from_le_bytes(file[12..16].try_into().expect("4 bytes"));
    let mut pos = 16;
    let mut out = Vec::new();
    for _ in 0..count {
        let n = file[pos] as usize;
        let name = String::from_utf8(file[pos + 1..pos + 1 + n].to_vec()).expect("ASCII name");
        pos += 1 + n;
        let len = u64::from_le_bytes(file[pos..pos + 8].try_into().expect("8 bytes")) as usize;
        pos += 12;
        out.push((name, file[pos..pos + len].to_vec()));
        pos += len;
    }
    out
}

fn assemble(header: &[u8], sections: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = header[..12].to_vec();
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (name, payload) in sections {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32(payload).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

fn get<'a>(sections: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &sections.iter().find(|(n, _)| n == name).expect("section present").1
}

fn set(sections: &mut [(String, Vec<u8>)], name: &str, payload: Vec<u8>) {
    sections.iter_mut().find(|(n, _)| n == name).expect("section present").1 = payload;
}

fn write(name: &str, file: &[u8]) {
    let dir = root().join("regressions/index_load");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut input = vec![0u8]; // index_load mode 0: the file as is
    input.extend_from_slice(file);
    std::fs::write(dir.join(name), input).expect("write");
    println!("index_load/{name}: {} bytes", file.len() + 1);
}

fn main() {
    let opts = bincode::DefaultOptions::new();
    let config = EngineConfig { chunk: ChunkConfig { max_tokens: 16, overlap_tokens: 0 }, ..EngineConfig::default() };
    let mut engine = Engine::new(config, Box::new(HashEmbedder::new(16)));
    engine.add_documents(two_documents()).expect("documents index");
    let file = engine.to_bytes().expect("export");
    let original = sections(&file);
    let chunks: Vec<(u32, ChunkRecord)> = opts.deserialize(get(&original, "chunks")).expect("chunks");
    let docs: Vec<DocRecord> = opts.deserialize(get(&original, "docs")).expect("docs");
    assert!(chunks.len() >= 3 && docs.iter().all(|d| d.chunks.len() >= 2), "a few chunks per document");

    // The last chunk's vector under a foreign id.
    let dense = DenseIndex::from_bytes(get(&original, "dense")).expect("dense");
    let mut moved = DenseIndex::new(dense.dim(), dense.config().clone());
    let last = chunks.last().expect("chunks").0;
    for (id, _) in &chunks {
        let v = dense.vector(*id).expect("every chunk has a vector");
        moved.add(if *id == last { 999 } else { *id }, v).expect("add");
    }
    let mut s = original.clone();
    set(&mut s, "dense", moved.to_bytes());
    write("crafted-vector-under-foreign-id", &assemble(&file, &s));

    // The first document lists its first chunk twice instead of its last one.
    let mut docs2 = docs.clone();
    let d = &mut docs2[0];
    let first = d.chunks[0];
    *d.chunks.last_mut().expect("chunks") = first;
    let mut s = original.clone();
    set(&mut s, "docs", opts.serialize(&docs2).expect("docs"));
    write("crafted-chunk-listed-twice", &assemble(&file, &s));
}

//! Native adapter: where model files live and how they are read from disk.
//! Not compiled for wasm (the browser hands bytes to the engine instead).

use std::path::{Path, PathBuf};

use crate::embed::bert::{BertEmbedder, BertOptions, Quantize};
use crate::embed::pooling::Pooling;
use crate::error::{Error, Result};

/// Name of the default embedder (directory under the models dir).
pub const DEFAULT_EMBEDDER: &str = "all-MiniLM-L6-v2";
/// Default generator file, relative to the models dir.
pub const DEFAULT_GENERATOR: &str = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The models directory: `$SOTTO_MODELS`, else `$HOME/.cache/sotto/models`
/// (where `scripts/fetch-models.sh` puts them).
pub fn models_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SOTTO_MODELS") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sotto").join("models")
}

/// Where an embedder named `name` lives: `name` itself when it is a directory, else
/// `models/name`. (An embedder's name in an index manifest is its directory name, with
/// a ` (cls)` suffix for CLS pooling.)
pub fn embedder_dir(models: &Path, name: &str) -> PathBuf {
    let name = name.trim_end_matches(" (cls)");
    if Path::new(name).is_dir() {
        PathBuf::from(name)
    } else {
        models.join(name)
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::model(
            what,
            format!("cannot read {}: {e} (run scripts/fetch-models.sh or set SOTTO_MODELS)", path.display()),
        )
    })
}

/// Load a BERT-family embedder from a directory holding `model.safetensors`,
/// `tokenizer.json` and `config.json`. The directory name becomes the embedder name.
pub fn load_bert_dir(dir: &Path) -> Result<BertEmbedder> {
    load_bert_dir_with(dir, Quantize::None)
}

/// [`load_bert_dir`] with a weight precision ([`Quantize::Int8`]: faster, vectors within
/// ≈ 0.995 cosine of f32; the embedder's identity is the same).
pub fn load_bert_dir_with(dir: &Path, quantize: Quantize) -> Result<BertEmbedder> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("bert").to_owned();
    let weights = read(&dir.join("model.safetensors"), "safetensors")?;
    let tokenizer = read(&dir.join("tokenizer.json"), "tokenizer.json")?;
    let config = read(&dir.join("config.json"), "config.json")?;
    // sentence-transformers layout: the pooling mode lives in 1_Pooling/config.json (bge uses CLS).
    let pooling_file = dir.join("1_Pooling").join("config.json");
    let mut options = BertOptions { quantize, ..BertOptions::default() };
    if pooling_file.is_file() {
        options.pooling = Pooling::from_sentence_transformers_config(&read(&pooling_file, "1_Pooling/config.json")?)?;
    }
    // The pooling is part of the embedder's identity: vectors pooled differently are not comparable.
    let name = match options.pooling {
        Pooling::Mean => name,
        Pooling::Cls => format!("{name} (cls)"),
    };
    BertEmbedder::from_bytes_with(&name, &weights, &tokenizer, &config, options)
}

/// The bytes of a model file given relative to [`models_dir`] (e.g. [`DEFAULT_GENERATOR`]),
/// or a `ModelFormat` error that says how to fetch it.
pub fn read_model_file(relative: &str) -> Result<Vec<u8>> {
    read(&models_dir().join(relative), relative)
}

/// Load the default embedder from [`models_dir`].
pub fn load_default_embedder() -> Result<BertEmbedder> {
    load_bert_dir(&models_dir().join(DEFAULT_EMBEDDER))
}

/// Shards read from a directory (`sotto shard`'s output): the native [`ShardSource`] of a
/// sharded index. A file larger than `max_bytes` is refused before it is read.
///
/// [`ShardSource`]: crate::index::shards::ShardSource
pub struct DirSource {
    dir: PathBuf,
    max_bytes: u64,
}

impl DirSource {
    /// Shards in `dir`, each at most `max_bytes` (see `ShardLimits::max_shard_bytes`).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: usize) -> Self {
        DirSource { dir: dir.into(), max_bytes: max_bytes as u64 }
    }
}

impl crate::index::shards::ShardSource for DirSource {
    fn fetch(&self, name: &str) -> Result<Vec<u8>> {
        let unavailable = |detail: String| Error::ShardUnavailable { name: name.to_owned(), detail };
        // Names come from the manifest: only plain file names are looked up.
        if !crate::index::shards::is_plain_name(name) {
            return Err(unavailable("not a shard file name".into()));
        }
        let path = self.dir.join(name);
        let meta = std::fs::metadata(&path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
        if meta.len() > self.max_bytes {
            return Err(Error::LimitExceeded {
                what: "shard bytes",
                limit: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
                got: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            });
        }
        std::fs::read(&path).map_err(|e| unavailable(format!("{}: {e}", path.display())))
    }
}

/// Open the sharded index whose manifest is `manifest` (a `manifest.json`, or the
/// directory holding it) with `embedder`; shards are read from the manifest's directory.
pub fn open_sharded(
    manifest: &Path,
    embedder: Box<dyn crate::embed::Embedder>,
    limits: crate::rag::shards::ShardLimits,
) -> Result<crate::rag::shards::ShardedIndex> {
    let path =
        if manifest.is_dir() { manifest.join(crate::rag::shards::MANIFEST_NAME) } else { manifest.to_path_buf() };
    let bytes = read_manifest_file(&path, limits.max_manifest_bytes)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    crate::rag::shards::ShardedIndex::open(
        &bytes,
        embedder,
        Box::new(DirSource::new(dir, limits.max_shard_bytes)),
        limits,
    )
}

/// The bytes of a sharded manifest, refused past `max_bytes` before reading.
pub fn read_manifest_file(path: &Path, max_bytes: usize) -> Result<Vec<u8>> {
    let unavailable = |e: std::io::Error| Error::ShardUnavailable {
        name: crate::rag::shards::MANIFEST_NAME.into(),
        detail: format!("{}: {e}", path.display()),
    };
    let len = std::fs::metadata(path).map_err(unavailable)?.len();
    if len > max_bytes as u64 {
        return Err(Error::LimitExceeded {
            what: "manifest bytes",
            limit: max_bytes,
            got: usize::try_from(len).unwrap_or(usize::MAX),
        });
    }
    std::fs::read(path).map_err(unavailable)
}

/// Write a shard set into `dir` (created if needed): every shard not already there (names
/// are content hashes, so an existing file of the same name and size is the same shard),
/// the pack if the set has one, then `manifest.json` last, through a temporary file and a
/// rename, so a reader never sees a manifest whose shards are not all written. Returns the
/// files written (shards and pack).
pub fn write_shards(dir: &Path, set: &crate::rag::shards::ShardSet) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    let pack = set.pack.as_deref().zip(set.manifest.pack.as_ref()).map(|(b, p)| (p.name.as_str(), b));
    for (name, bytes) in set.shards.iter().map(|(n, b)| (n.as_str(), b.as_slice())).chain(pack) {
        let path = dir.join(name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            continue;
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        written += 1;
    }
    let tmp = dir.join(format!(".{}.tmp", crate::rag::shards::MANIFEST_NAME));
    std::fs::write(&tmp, &set.manifest_bytes)?;
    std::fs::rename(&tmp, dir.join(crate::rag::shards::MANIFEST_NAME))?;
    Ok(written)
}

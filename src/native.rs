//! Native adapter: where model files live and how they are read from disk.
//! Not compiled for wasm (the browser hands bytes to the engine instead).

use std::path::{Path, PathBuf};

use crate::embed::bert::{BertEmbedder, BertOptions};
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
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("bert").to_owned();
    let weights = read(&dir.join("model.safetensors"), "safetensors")?;
    let tokenizer = read(&dir.join("tokenizer.json"), "tokenizer.json")?;
    let config = read(&dir.join("config.json"), "config.json")?;
    // sentence-transformers layout: the pooling mode lives in 1_Pooling/config.json (bge uses CLS).
    let pooling_file = dir.join("1_Pooling").join("config.json");
    let mut options = BertOptions::default();
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

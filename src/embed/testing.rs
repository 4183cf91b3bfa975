//! Tiny BERT models for tests (the crate's own, `tests/`, and the fuzz seeds), so the
//! embedder's loader is exercised without real weights. Not part of the supported API.
//!
//! [`TinyBert`] writes the three files a [`super::bert::BertEmbedder`] loads: a WordPiece
//! `tokenizer.json`, a `config.json` and random safetensors weights, all in memory.

use std::collections::BTreeMap;

/// Shape of a tiny random BERT.
#[derive(Debug, Clone)]
pub struct TinyBert<'a> {
    /// The WordPiece vocabulary; its first five entries are `[PAD] [UNK] [CLS] [SEP] [MASK]`.
    pub words: &'a [&'a str],
    /// Hidden size.
    pub hidden: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Attention heads (dividing `hidden`).
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Position embeddings (the longest input).
    pub max_positions: usize,
}

impl TinyBert<'_> {
    /// A minimal WordPiece `tokenizer.json`: lower-casing BERT normaliser, BERT
    /// pre-tokenizer, `[CLS] … [SEP]` template. With `shipped_padding`, it also carries a
    /// fixed-128 padding and 128 truncation like all-MiniLM-L6-v2's (which the loader must
    /// override).
    pub fn tokenizer_json(&self, shipped_padding: bool) -> Vec<u8> {
        let vocab: serde_json::Map<String, serde_json::Value> =
            self.words.iter().enumerate().map(|(i, w)| (w.to_string(), serde_json::json!(i))).collect();
        let added: Vec<serde_json::Value> = self.words[..5]
            .iter()
            .enumerate()
            .map(|(i, w)| {
                serde_json::json!({"id": i, "content": w, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": true})
            })
            .collect();
        let special = |name: &str, id: usize| serde_json::json!({"id": name, "ids": [id], "tokens": [name]});
        let token = |id: &str, type_id: u32| serde_json::json!({"SpecialToken": {"id": id, "type_id": type_id}});
        let seq = |id: &str, type_id: u32| serde_json::json!({"Sequence": {"id": id, "type_id": type_id}});
        let (truncation, padding) = if shipped_padding {
            (
                serde_json::json!({"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0}),
                serde_json::json!({"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
                                   "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}),
            )
        } else {
            (serde_json::Value::Null, serde_json::Value::Null)
        };
        serde_json::to_vec(&serde_json::json!({
            "version": "1.0",
            "truncation": truncation,
            "padding": padding,
            "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [token("[CLS]", 0), seq("A", 0), token("[SEP]", 0)],
                "pair": [token("[CLS]", 0), seq("A", 0), token("[SEP]", 0), seq("B", 1), token("[SEP]", 1)],
                "special_tokens": {"[CLS]": special("[CLS]", 2), "[SEP]": special("[SEP]", 3)}},
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}
        }))
        .expect("a JSON value serializes")
    }

    /// `config.json`, with `model_type` when given.
    pub fn config_json(&self, model_type: Option<&str>) -> Vec<u8> {
        let mut c = serde_json::json!({
            "vocab_size": self.words.len(), "hidden_size": self.hidden, "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads, "intermediate_size": self.intermediate, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": self.max_positions, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "architectures": ["BertModel"]
        });
        if let Some(t) = model_type {
            c["model_type"] = serde_json::json!(t);
        }
        serde_json::to_vec(&c).expect("a JSON value serializes")
    }

    /// Random weights (uniform in [-0.2, 0.2], layer-norm scales 1) in safetensors format,
    /// every name prefixed by `prefix` (`""`, `"bert."`, `"model."`), from `seed`.
    pub fn weights(&self, prefix: &str, seed: u64) -> Vec<u8> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (h, i) = (self.hidden, self.intermediate);
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        let mut add = |name: String, shape: &[usize], ones: bool| {
            let n: usize = shape.iter().product();
            let data = (0..n).map(|_| if ones { 1.0 } else { rng.gen_range(-0.2f32..0.2) }).collect();
            tensors.push((format!("{prefix}{name}"), shape.to_vec(), data));
        };
        let layer_norm = |add: &mut dyn FnMut(String, &[usize], bool), at: &str| {
            add(format!("{at}.LayerNorm.weight"), &[h], true);
            add(format!("{at}.LayerNorm.bias"), &[h], false);
        };
        add("embeddings.word_embeddings.weight".into(), &[self.words.len(), h], false);
        add("embeddings.position_embeddings.weight".into(), &[self.max_positions, h], false);
        add("embeddings.token_type_embeddings.weight".into(), &[2, h], false);
        layer_norm(&mut add, "embeddings");
        for l in 0..self.layers {
            let at = format!("encoder.layer.{l}");
            for m in ["query", "key", "value"] {
                add(format!("{at}.attention.self.{m}.weight"), &[h, h], false);
                add(format!("{at}.attention.self.{m}.bias"), &[h], false);
            }
            add(format!("{at}.attention.output.dense.weight"), &[h, h], false);
            add(format!("{at}.attention.output.dense.bias"), &[h], false);
            layer_norm(&mut add, &format!("{at}.attention.output"));
            add(format!("{at}.intermediate.dense.weight"), &[i, h], false);
            add(format!("{at}.intermediate.dense.bias"), &[i], false);
            add(format!("{at}.output.dense.weight"), &[h, i], false);
            add(format!("{at}.output.dense.bias"), &[h], false);
            layer_norm(&mut add, &format!("{at}.output"));
        }
        safetensors_f32(&tensors)
    }
}

/// Serialize F32 tensors `(name, shape, values)` in the safetensors layout: an 8-byte
/// little-endian header length, a JSON header of dtypes, shapes and byte offsets, then
/// the little-endian data in header order.
pub fn safetensors_f32(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = BTreeMap::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&header).expect("a JSON map serializes");
    // The data must start 8-byte aligned.
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

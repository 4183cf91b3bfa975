//! Tokenizers rebuilt from GGUF metadata.
//!
//! A GGUF carries no `tokenizer.json`; llama.cpp stores the vocabulary
//! (`tokenizer.ggml.tokens`), per-token types (`token_type`: 1 normal, 2 unknown, 3 control,
//! 4 user-defined, 5 unused, 6 byte), merges or scores, and the special ids. This module turns
//! that into a Hugging Face [`tokenizers::Tokenizer`], following the same conventions as
//! llama.cpp and transformers' GGUF loader:
//!
//! * `tokenizer.ggml.model = "gpt2"`: byte-level BPE (Radford et al. 2019; Sennrich et al.
//!   2016). Every byte is spelled as one printable character, so tokens and merges are used as
//!   stored. The pre-tokenizer (how text is cut before merging) comes from `tokenizer.ggml.pre`:
//!   `smollm`, `starcoder`, `refact` … isolate each digit and then apply GPT-2's split; the
//!   `llama3`/`qwen2` families use their own split regex; anything else GPT-2's.
//! * `tokenizer.ggml.model = "llama"` (SentencePiece BPE, Kudo & Richardson 2018): `▁` marks a
//!   space, unknown bytes fall back to `<0xNN>` tokens. Merges come from the file or, when it
//!   has none (Gemma), are rebuilt from the vocabulary: every split of a token into two known
//!   tokens, best first — by score, or for Gemma by position in the file.
//! * `tokenizer.ggml.model = "t5"`: a Unigram model (Kudo 2018) from tokens and scores, with the
//!   precompiled normalizer charsmap when present.
//!
//! Control tokens (`<|im_start|>` …) and user-defined tokens are registered as added tokens so
//! that chat markup in a rendered template becomes one id each and is never cut into pieces.
//!
//! Decoding for streaming does not go through the library's decoder: every id maps to the exact
//! bytes it contributes ([`GgufTokenizer::piece_bytes`]; empty for control tokens), and
//! [`Utf8Stream`] reassembles characters that span several byte-level tokens.

use std::collections::{HashMap, HashSet};

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Prepend, Replace, Sequence as NormSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, NormalizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::gguf::Meta;
use crate::error::{Error, Result};

const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;
const TYPE_BYTE: i64 = 6;

/// Control tokens that end a turn in common chat formats; generation stops on them too.
const END_OF_TURN_TOKENS: [&str; 7] =
    ["<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|end|>", "<|eot_id|>", "<|eom_id|>", "</s>"];

/// `tokenizer.ggml.pre` values whose split is "each digit alone, then GPT-2's regex".
const DIGITS_THEN_GPT2: [&str; 7] = ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"];

const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_FAMILY: [&str; 8] = ["llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx", "pixtral", "lfm2"];
const QWEN2_FAMILY: [&str; 3] = ["qwen2", "deepseek-r1-qwen", "megrez"];

/// Which tokenization algorithm the GGUF describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenizerModel {
    /// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`).
    ByteLevelBpe,
    /// SentencePiece-style BPE with byte fallback (`"llama"`).
    SentencePieceBpe,
    /// SentencePiece Unigram (`"t5"`).
    Unigram,
}

/// A tokenizer built from GGUF metadata, with the special ids generation needs.
#[derive(Clone)]
pub struct GgufTokenizer {
    inner: Tokenizer,
    model: TokenizerModel,
    pieces: Vec<Vec<u8>>,
    control: Vec<bool>,
    tokens: Vec<String>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    stop_ids: Vec<u32>,
    add_bos: bool,
    /// The pieces as a byte trie, built on first use by constrained decoding.
    piece_trie: std::sync::OnceLock<std::sync::Arc<PieceTrie>>,
}

/// The vocabulary's text pieces as a byte trie: constrained decoding walks it together
/// with its own automaton and skips every subtree the automaton refuses, instead of
/// trying each of the vocabulary's tokens ([`super::constrain`]).
#[derive(Debug, Default)]
pub struct PieceTrie {
    /// Children per node, sorted by byte. Node 0 is the root (the empty prefix).
    pub children: Vec<Vec<(u8, u32)>>,
    /// Tokens whose piece ends at each node.
    pub tokens: Vec<Vec<u32>>,
    /// Each token's piece (empty for control tokens), by id.
    pub bytes: Vec<Vec<u8>>,
}

impl PieceTrie {
    fn build(pieces: &[Vec<u8>], control: &[bool]) -> Self {
        let mut t = PieceTrie { children: vec![Vec::new()], tokens: vec![Vec::new()], bytes: Vec::new() };
        for (id, piece) in pieces.iter().enumerate() {
            let usable = !piece.is_empty() && !control.get(id).copied().unwrap_or(false);
            t.bytes.push(if usable { piece.clone() } else { Vec::new() });
            if !usable {
                continue;
            }
            let mut node = 0usize;
            for &b in piece {
                let c = &t.children[node];
                node = match c.binary_search_by_key(&b, |&(k, _)| k) {
                    Ok(i) => c[i].1 as usize,
                    Err(at) => {
                        let n = t.children.len();
                        t.children.push(Vec::new());
                        t.tokens.push(Vec::new());
                        t.children[node].insert(at, (b, n as u32));
                        n
                    }
                };
            }
            t.tokens[node].push(id as u32);
        }
        t
    }
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("model", &self.model)
            .field("vocab_size", &self.pieces.len())
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

fn tok_err(detail: impl std::fmt::Display) -> Error {
    Error::model("gguf tokenizer", detail)
}

/// GPT-2's reversible byte → printable character table.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            extra += 1;
            255 + extra
        };
        table[b as usize] = char::from_u32(c).unwrap_or('\u{fffd}');
    }
    table
}

/// Parse a SentencePiece byte token `<0xAB>`.
fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Resource limits on the tokenizer metadata of a GGUF, checked before anything is built
/// (see `docs/limits.md`). A file past a limit is [`Error::LimitExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizerLimits {
    /// Most tokens in `tokenizer.ggml.tokens` (default 1 048 576 = 2^20; the largest
    /// vocabularies in use have 262 144).
    pub max_vocab_size: usize,
    /// Longest token, in bytes of its stored spelling (default 1024; SmolLM2's longest has
    /// 162). Deriving merges costs up to a token's length per merge it yields.
    pub max_token_bytes: usize,
    /// Most merges, read from `tokenizer.ggml.merges` or derived from the vocabulary when
    /// the file has none (default 4 194 304 = 2^22; SmolLM2 has 48 900, a 262 144-token
    /// vocabulary derives about a million). Each merge holds at most one token's bytes.
    pub max_merges: usize,
}

impl Default for TokenizerLimits {
    fn default() -> Self {
        TokenizerLimits { max_vocab_size: 1 << 20, max_token_bytes: 1024, max_merges: 1 << 22 }
    }
}

/// Polynomial hashes of byte strings modulo the Mersenne prime 2^61 − 1, so that the hash
/// of any substring comes from two prefix hashes in O(1).
struct RollingHash {
    base: u64,
}

impl RollingHash {
    const MOD: u64 = (1 << 61) - 1;

    fn mul(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        let folded = (p & u128::from(Self::MOD)) + (p >> 61);
        let x = folded as u64;
        if x >= Self::MOD {
            x - Self::MOD
        } else {
            x
        }
    }

    fn add(a: u64, b: u64) -> u64 {
        let x = a + b;
        if x >= Self::MOD {
            x - Self::MOD
        } else {
            x
        }
    }

    /// Hash of `s` (as prefix hashes would compute it).
    fn hash(&self, s: &[u8]) -> u64 {
        s.iter().fold(0, |h, &c| Self::add(Self::mul(h, self.base), u64::from(c) + 1))
    }

    /// `prefix[i]` = hash of `s[..i]`, `power[i]` = base^i.
    fn prefixes(&self, s: &[u8], prefix: &mut Vec<u64>, power: &mut Vec<u64>) {
        prefix.clear();
        power.clear();
        prefix.push(0);
        power.push(1);
        for &c in s {
            let (h, p) = (prefix[prefix.len() - 1], power[power.len() - 1]);
            prefix.push(Self::add(Self::mul(h, self.base), u64::from(c) + 1));
            power.push(Self::mul(p, self.base));
        }
    }

    /// Hash of `s[a..b]` from the prefix hashes of `s`.
    fn range(prefix: &[u64], power: &[u64], a: usize, b: usize) -> u64 {
        Self::add(prefix[b], Self::MOD - Self::mul(prefix[a], power[b - a]))
    }
}

/// Merges implied by a vocabulary without a merge list: for every token, each split into two
/// known tokens, ordered best first by `score` (higher first), then by longer left and right
/// pieces, then by file order.
///
/// Linear in the vocabulary's bytes plus the merges found: every cut of a token is looked up
/// by the rolling hashes of its two pieces (O(1) each) and only a hit is compared byte by
/// byte. The hash base is derived from the whole vocabulary (SHA-256), so a crafted file
/// cannot be built to collide on purpose. More than `max_merges` is
/// [`Error::LimitExceeded`].
fn merges_from_scores(
    tokens: &[String],
    scores: &[f32],
    skip: &HashSet<usize>,
    max_merges: usize,
) -> Result<Vec<(String, String)>> {
    use sha2::{Digest, Sha256};
    let mut sha = Sha256::new();
    for t in tokens {
        sha.update((t.len() as u64).to_le_bytes());
        sha.update(t.as_bytes());
    }
    let digest = sha.finalize();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    let rh = RollingHash { base: (u64::from_le_bytes(seed) % (RollingHash::MOD - 512)) + 256 };

    // Spelling → the last id with that spelling (as a map from strings would hold), keyed
    // by (byte length, hash); `None` when two different spellings share a key, then the
    // exact map decides.
    let index: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut by_hash: HashMap<(usize, u64), Option<usize>> = HashMap::with_capacity(index.len());
    for (&t, &i) in &index {
        by_hash.entry((t.len(), rh.hash(t.as_bytes()))).and_modify(|e| *e = None).or_insert(Some(i));
    }
    // Both pieces are looked up by hash first; only when both hit are they compared (so the
    // comparisons cost no more than the merges they find).
    let candidate = |len: usize, hash: u64| by_hash.get(&(len, hash)).copied();
    let resolve = |piece: &str, c: Option<usize>| match c {
        Some(i) => (tokens[i] == piece).then_some(i),
        None => index.get(piece).copied(),
    };

    let mut merges: Vec<(f32, usize, usize, usize, usize)> = Vec::new(); // score, len_l, len_r, id_l, id_r
    let (mut prefix, mut power) = (Vec::new(), Vec::new());
    let mut local = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        rh.prefixes(tok.as_bytes(), &mut prefix, &mut power);
        let n = tok.len();
        let chars = tok.chars().count();
        local.clear();
        for (k, (cut, _)) in tok.char_indices().enumerate().skip(1) {
            let (Some(cl), Some(cr)) =
                (candidate(cut, prefix[cut]), candidate(n - cut, RollingHash::range(&prefix, &power, cut, n)))
            else {
                continue;
            };
            let (l, r) = tok.split_at(cut);
            let (Some(il), Some(ir)) = (resolve(l, cl), resolve(r, cr)) else {
                continue;
            };
            if skip.contains(&il) || skip.contains(&ir) {
                continue;
            }
            local.push((scores[i], k, chars - k, il, ir));
        }
        local.sort_by_key(|m| (m.3, m.4));
        merges.extend_from_slice(&local);
        if merges.len() > max_merges {
            return Err(Error::LimitExceeded { what: "gguf merges", limit: max_merges, got: merges.len() });
        }
    }
    // Stable sort, best first.
    merges.sort_by(|a, b| {
        b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2))
    });
    Ok(merges.into_iter().map(|m| (tokens[m.3].clone(), tokens[m.4].clone())).collect())
}

fn parse_merges(merges: &[&str]) -> Result<Vec<(String, String)>> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| tok_err(format!("merge {i} {m:?} is not two tokens separated by a space")))
        })
        .collect()
}

impl GgufTokenizer {
    /// Build the tokenizer described by the `tokenizer.*` metadata of a GGUF whose
    /// `general.architecture` is `architecture`.
    ///
    /// Missing or inconsistent tokenizer metadata is an [`Error::ModelFormat`].
    pub(crate) fn from_metadata(meta: &Meta<'_>, architecture: &str) -> Result<Self> {
        Self::from_metadata_with(meta, architecture, &TokenizerLimits::default())
    }

    /// [`from_metadata`](Self::from_metadata) with explicit limits.
    pub(crate) fn from_metadata_with(meta: &Meta<'_>, architecture: &str, limits: &TokenizerLimits) -> Result<Self> {
        let kind = meta
            .opt_str("tokenizer.ggml.model")?
            .ok_or_else(|| tok_err("metadata key tokenizer.ggml.model is missing"))?;
        let stored = meta
            .opt_array("tokenizer.ggml.tokens")?
            .ok_or_else(|| tok_err("metadata key tokenizer.ggml.tokens is missing"))?;
        // Limits first, before anything is copied or built.
        if stored.len() > limits.max_vocab_size {
            return Err(Error::LimitExceeded {
                what: "gguf vocabulary size",
                limit: limits.max_vocab_size,
                got: stored.len(),
            });
        }
        let tokens: Vec<String> = meta
            .str_array("tokenizer.ggml.tokens")?
            .ok_or_else(|| tok_err("metadata key tokenizer.ggml.tokens is missing"))?
            .into_iter()
            .map(|t| {
                if t.len() > limits.max_token_bytes {
                    return Err(Error::LimitExceeded {
                        what: "gguf token bytes",
                        limit: limits.max_token_bytes,
                        got: t.len(),
                    });
                }
                Ok(t.to_owned())
            })
            .collect::<Result<_>>()?;
        if tokens.is_empty() {
            return Err(tok_err("tokenizer.ggml.tokens is empty"));
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(tok_err("vocabulary too large"));
        }
        let check_merges = |n: usize| -> Result<()> {
            if n > limits.max_merges {
                return Err(Error::LimitExceeded { what: "gguf merges", limit: limits.max_merges, got: n });
            }
            Ok(())
        };
        let types: Vec<i64> = match meta.int_array("tokenizer.ggml.token_type")? {
            Some(t) if t.len() == tokens.len() => t,
            Some(t) => {
                return Err(tok_err(format!(
                    "tokenizer.ggml.token_type has {} entries for {} tokens",
                    t.len(),
                    tokens.len()
                )))
            }
            None => vec![1; tokens.len()],
        };
        let id_of = |key: &str| -> Result<Option<u32>> {
            match meta.opt_usize(key)? {
                None => Ok(None),
                Some(i) if i < tokens.len() => Ok(Some(i as u32)),
                Some(i) => Err(tok_err(format!("{key} = {i} is outside the vocabulary of {}", tokens.len()))),
            }
        };
        let bos_id = id_of("tokenizer.ggml.bos_token_id")?;
        let eos_id = id_of("tokenizer.ggml.eos_token_id")?;
        let unk_id = id_of("tokenizer.ggml.unknown_token_id")?;
        let eot_id = id_of("tokenizer.ggml.eot_token_id")?;
        let eom_id = id_of("tokenizer.ggml.eom_token_id")?;

        let (model, inner, pieces) = match kind {
            "gpt2" => {
                let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
                let merges = meta
                    .str_array("tokenizer.ggml.merges")?
                    .ok_or_else(|| tok_err("metadata key tokenizer.ggml.merges is missing"))?;
                check_merges(merges.len())?;
                let (inner, pieces) = build_byte_level(&tokens, &types, &parse_merges(&merges)?, pre)?;
                (TokenizerModel::ByteLevelBpe, inner, pieces)
            }
            "llama" => {
                let add_space_prefix = meta.opt_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
                let merges = match meta.str_array("tokenizer.ggml.merges")? {
                    Some(m) => {
                        check_merges(m.len())?;
                        parse_merges(&m)?
                    }
                    None => {
                        let scores: Vec<f32> = if architecture.starts_with("gemma") {
                            // Gemma's scores do not follow its merge order; file order does.
                            (0..tokens.len()).map(|i| -(i as f32)).collect()
                        } else {
                            meta.f32_array("tokenizer.ggml.scores")?.ok_or_else(|| {
                                tok_err("neither tokenizer.ggml.merges nor tokenizer.ggml.scores is present")
                            })?
                        };
                        if scores.len() != tokens.len() {
                            return Err(tok_err("tokenizer.ggml.scores length differs from tokens"));
                        }
                        let skip: HashSet<usize> = types
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| matches!(**t, TYPE_CONTROL | TYPE_BYTE | TYPE_UNKNOWN))
                            .map(|(i, _)| i)
                            .collect();
                        let spelled = sp_spelling(&tokens, architecture);
                        merges_from_scores(&spelled, &scores, &skip, limits.max_merges)?
                    }
                };
                let (inner, pieces) =
                    build_sentencepiece(&tokens, &types, merges, unk_id, architecture, add_space_prefix)?;
                (TokenizerModel::SentencePieceBpe, inner, pieces)
            }
            "t5" => {
                let scores = meta
                    .f32_array("tokenizer.ggml.scores")?
                    .ok_or_else(|| tok_err("metadata key tokenizer.ggml.scores is missing"))?;
                if scores.len() != tokens.len() {
                    return Err(tok_err("tokenizer.ggml.scores length differs from tokens"));
                }
                let charsmap = meta.u8_array("tokenizer.ggml.precompiled_charsmap")?;
                let (inner, pieces) = build_unigram(&tokens, &types, &scores, unk_id, charsmap)?;
                (TokenizerModel::Unigram, inner, pieces)
            }
            other => return Err(tok_err(format!("tokenizer.ggml.model {other:?} is not supported"))),
        };

        let control: Vec<bool> = types.iter().map(|t| *t == TYPE_CONTROL).collect();
        let mut stop_ids: Vec<u32> = [eos_id, eot_id, eom_id].into_iter().flatten().collect();
        for (i, t) in tokens.iter().enumerate() {
            if control[i] && END_OF_TURN_TOKENS.contains(&t.as_str()) {
                stop_ids.push(i as u32);
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(kind == "llama");
        Ok(Self {
            inner,
            model,
            pieces,
            control,
            tokens,
            bos_id,
            eos_id,
            stop_ids,
            add_bos,
            piece_trie: std::sync::OnceLock::new(),
        })
    }

    /// The tokenization algorithm.
    pub fn model(&self) -> TokenizerModel {
        self.model
    }

    /// The underlying Hugging Face tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// The text pieces of every non-control token as a byte trie (built once, shared).
    pub fn piece_trie(&self) -> std::sync::Arc<PieceTrie> {
        self.piece_trie.get_or_init(|| std::sync::Arc::new(PieceTrie::build(&self.pieces, &self.control))).clone()
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// Beginning-of-sequence id, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// End-of-sequence id, if the model has one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Ids that end generation: EOS, end-of-turn and end-of-message tokens.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Whether [`encode`](Self::encode) with `add_special` prepends BOS
    /// (`tokenizer.ggml.add_bos_token`; SentencePiece models default to yes).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The text of a token as stored in the vocabulary (`<|im_start|>`, `Ġthe`, `▁the`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Id of a token given its stored spelling.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether `id` is a control token (chat markup, BOS/EOS): it contributes no text.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// Encode text. Control-token spellings inside `text` (e.g. `<|im_start|>`) become their
    /// ids. With `add_special`, BOS is prepended when the model asks for it and the text does
    /// not already start with it.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if add_special && self.add_bos {
            if let Some(bos) = self.bos_id {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// The bytes token `id` contributes to decoded text (empty for control tokens and ids
    /// outside the vocabulary).
    pub fn piece_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Decode ids to text, skipping control tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&i| self.piece_bytes(i).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn added_tokens(tokens: &[String], types: &[i64]) -> (Vec<AddedToken>, Vec<AddedToken>) {
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (t, ty) in tokens.iter().zip(types) {
        if *ty == TYPE_CONTROL && !t.is_empty() {
            special.push(AddedToken::from(t.clone(), true).normalized(false));
        } else if *ty == TYPE_USER_DEFINED && !t.is_empty() {
            user.push(AddedToken::from(t.clone(), false).normalized(false));
        }
    }
    (special, user)
}

fn finish(mut tk: Tokenizer, tokens: &[String], types: &[i64]) -> Result<Tokenizer> {
    let (special, user) = added_tokens(tokens, types);
    tk.add_special_tokens(special).map_err(tok_err)?;
    tk.add_tokens(user).map_err(tok_err)?;
    let size = tk.get_vocab_size(true);
    if size > tokens.len() {
        return Err(tok_err(format!("added tokens grew the vocabulary from {} to {size}", tokens.len())));
    }
    Ok(tk)
}

/// Every merge must join two tokens of the vocabulary into a third one. `tokenizers` checks
/// the membership itself but first copies the pair into a buffer as long as the longest
/// token, and panics (slice out of range) when the pair is longer than every token — a
/// panic aborts the wasm instance, so the check is made here, with a typed error.
fn check_merges_in_vocab(vocab: &Vocab, merges: &[(String, String)]) -> Result<()> {
    let mut joined = String::new();
    for (i, (a, b)) in merges.iter().enumerate() {
        joined.clear();
        joined.push_str(a);
        joined.push_str(b);
        if !vocab.contains_key(a) || !vocab.contains_key(b) || !vocab.contains_key(joined.as_str()) {
            return Err(tok_err(format!(
                "merge {i} ({a:?} + {b:?}) does not join two tokens of the vocabulary into a third"
            )));
        }
    }
    Ok(())
}

fn build_byte_level(
    tokens: &[String],
    types: &[i64],
    merges: &[(String, String)],
    pre: &str,
) -> Result<(Tokenizer, Vec<Vec<u8>>)> {
    let to_char = bytes_to_unicode();
    let from_char: HashMap<char, u8> = to_char.iter().enumerate().map(|(b, c)| (*c, b as u8)).collect();
    let mut vocab = Vocab::with_capacity(tokens.len());
    let mut pieces = Vec::with_capacity(tokens.len());
    for (i, (t, ty)) in tokens.iter().zip(types).enumerate() {
        let spelled_ok = t.chars().all(|c| from_char.contains_key(&c));
        let key = if spelled_ok || *ty == TYPE_CONTROL || *ty == TYPE_USER_DEFINED {
            t.clone()
        } else {
            t.bytes().map(|b| to_char[b as usize]).collect()
        };
        vocab.entry(key).or_insert(i as u32);
        let piece = match *ty {
            TYPE_CONTROL => Vec::new(),
            TYPE_USER_DEFINED => t.as_bytes().to_vec(),
            _ if spelled_ok => t.chars().filter_map(|c| from_char.get(&c).copied()).collect(),
            _ => t.as_bytes().to_vec(),
        };
        pieces.push(piece);
    }
    check_merges_in_vocab(&vocab, merges)?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges.to_vec())
        .build()
        .map_err(|e| tok_err(format!("byte-level BPE: {e}")))?;
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tok: PreTokenizerWrapper = if DIGITS_THEN_GPT2.contains(&pre) {
        PreSequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
    } else if LLAMA3_FAMILY.contains(&pre) || QWEN2_FAMILY.contains(&pre) {
        let re = if QWEN2_FAMILY.contains(&pre) { QWEN2_SPLIT } else { LLAMA3_SPLIT };
        let split = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| tok_err(format!("pre-tokenizer regex: {e}")))?;
        PreSequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into()
    } else {
        byte_level.into()
    };
    let mut tk = Tokenizer::new(bpe);
    tk.with_pre_tokenizer(Some(pre_tok));
    tk.with_decoder(Some(ByteLevelDecoder::default()));
    Ok((finish(tk, tokens, types)?, pieces))
}

/// SentencePiece spelling used for merges and vocabulary: Gemma stores runs of spaces as real
/// spaces where its pieces use `▁`.
fn sp_spelling(tokens: &[String], architecture: &str) -> Vec<String> {
    if !architecture.starts_with("gemma") {
        return tokens.to_vec();
    }
    tokens
        .iter()
        .map(|t| if !t.is_empty() && t.chars().all(|c| c == ' ') { "▁".repeat(t.chars().count()) } else { t.clone() })
        .collect()
}

fn sp_pieces(tokens: &[String], types: &[i64]) -> Vec<Vec<u8>> {
    tokens
        .iter()
        .zip(types)
        .map(|(t, ty)| match *ty {
            TYPE_CONTROL | TYPE_UNKNOWN => Vec::new(),
            TYPE_BYTE => parse_byte_token(t).map(|b| vec![b]).unwrap_or_default(),
            _ => t.replace('▁', " ").into_bytes(),
        })
        .collect()
}

fn build_sentencepiece(
    tokens: &[String],
    types: &[i64],
    merges: Vec<(String, String)>,
    unk_id: Option<u32>,
    architecture: &str,
    add_space_prefix: bool,
) -> Result<(Tokenizer, Vec<Vec<u8>>)> {
    let spelled = sp_spelling(tokens, architecture);
    let mut vocab = Vocab::with_capacity(tokens.len());
    for (i, t) in spelled.iter().enumerate() {
        vocab.entry(t.clone()).or_insert(i as u32);
    }
    check_merges_in_vocab(&vocab, &merges)?;
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).fuse_unk(true).byte_fallback(true);
    if let Some(unk) = unk_id.and_then(|u| spelled.get(u as usize)) {
        builder = builder.unk_token(unk.clone());
    }
    let bpe = builder.build().map_err(|e| tok_err(format!("SentencePiece BPE: {e}")))?;
    let mut tk = Tokenizer::new(bpe);
    if architecture.starts_with("gemma") {
        tk.with_normalizer(Some(NormalizerWrapper::Replace(Replace::new(" ", "▁").map_err(tok_err)?)))
            .map_err(tok_err)?;
    } else if architecture == "phi3" {
        let seq = NormSequence::new(vec![
            Prepend::new("▁".to_string()).into(),
            Replace::new(" ", "▁").map_err(tok_err)?.into(),
        ]);
        tk.with_normalizer(Some(NormalizerWrapper::Sequence(seq))).map_err(tok_err)?;
    } else {
        let scheme = if add_space_prefix { PrependScheme::First } else { PrependScheme::Never };
        tk.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
    }
    Ok((finish(tk, &spelled, types)?, sp_pieces(tokens, types)))
}

fn build_unigram(
    tokens: &[String],
    types: &[i64],
    scores: &[f32],
    unk_id: Option<u32>,
    charsmap: Option<Vec<u8>>,
) -> Result<(Tokenizer, Vec<Vec<u8>>)> {
    let vocab: Vec<(String, f64)> = tokens.iter().cloned().zip(scores.iter().map(|s| *s as f64)).collect();
    let unigram =
        Unigram::from(vocab, unk_id.map(|u| u as usize), false).map_err(|e| tok_err(format!("Unigram: {e}")))?;
    let mut tk = Tokenizer::new(unigram);
    if let Some(map) = charsmap.filter(|m| !m.is_empty()) {
        let pre = Precompiled::from(&map).map_err(|e| tok_err(format!("precompiled charsmap: {e}")))?;
        tk.with_normalizer(Some(NormalizerWrapper::Precompiled(pre))).map_err(tok_err)?;
    }
    let pre = PreSequence::new(vec![WhitespaceSplit.into(), Metaspace::new('▁', PrependScheme::Always, true).into()]);
    tk.with_pre_tokenizer(Some(pre));
    Ok((finish(tk, tokens, types)?, sp_pieces(tokens, types)))
}

/// Reassembles UTF-8 text from byte pieces that may split a character.
///
/// [`push`](Self::push) returns every complete character so far; up to three bytes of an
/// unfinished character wait for the next piece. Bytes that can never become valid UTF-8 are
/// replaced by U+FFFD, as is an unfinished tail at [`finish`](Self::finish).
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    buf: Vec<u8>,
}

impl Utf8Stream {
    /// A stream with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add bytes; return the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.buf.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.buf) {
                Ok(s) => {
                    out.push_str(s);
                    self.buf.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: the prefix was just validated.
                    out.push_str(std::str::from_utf8(&self.buf[..valid]).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            // Incomplete character at the end: keep it for later.
                            self.buf.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{fffd}');
                            self.buf.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whether bytes of an unfinished character are waiting.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Flush: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        s
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use candle_core::quantized::gguf_file::Value;

    fn strs(v: &[&str]) -> Value {
        Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
    }

    /// A tiny byte-level vocabulary: all 256 byte characters, a few merges, two control tokens.
    pub(crate) fn tiny_gpt2_metadata() -> HashMap<String, Value> {
        let chars = bytes_to_unicode();
        let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into(), "<|im_end|>".into()];
        tokens.extend(chars.iter().map(|c| c.to_string()));
        tokens.extend(["Ġt", "he", "Ġthe", "Ġc", "at"].map(String::from));
        let mut types = vec![Value::I32(3); 3];
        types.extend(std::iter::repeat_n(Value::I32(1), tokens.len() - 3));
        let entries: Vec<(&str, Value)> = vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("smollm".into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            ("tokenizer.ggml.merges", strs(&["Ġ t", "h e", "Ġt he", "Ġ c", "a t"])),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ];
        entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file::Value;
    use proptest::prelude::*;

    fn md(entries: Vec<(&str, Value)>) -> HashMap<String, Value> {
        entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn byte_level_encodes_merges_and_control_tokens() {
        let m = tests_support::tiny_gpt2_metadata();
        let tk = GgufTokenizer::from_metadata(&Meta(&m), "llama").unwrap();
        assert_eq!(tk.model(), TokenizerModel::ByteLevelBpe);
        let ids = tk.encode("<|im_start|>a the cat<|im_end|>", true).unwrap();
        let texts: Vec<&str> = ids.iter().map(|i| tk.token_text(*i).unwrap()).collect();
        assert_eq!(texts, ["<|im_start|>", "a", "Ġthe", "Ġc", "at", "<|im_end|>"]);
        assert_eq!(tk.decode(&ids), "a the cat");
        assert!(tk.stop_ids().contains(&2) && tk.stop_ids().contains(&0));
        // Digits are split one by one.
        let ids = tk.encode("x 123", false).unwrap();
        assert_eq!(ids.len(), 5);
        assert_eq!(tk.decode(&ids), "x 123");
        // Non-ASCII text round-trips through byte pieces.
        let s = "Élève 🦀 日本";
        assert_eq!(tk.decode(&tk.encode(s, false).unwrap()), s);
    }

    #[test]
    fn missing_tokenizer_metadata_is_a_format_error() {
        let mut m = tests_support::tiny_gpt2_metadata();
        m.remove("tokenizer.ggml.tokens");
        assert!(matches!(GgufTokenizer::from_metadata(&Meta(&m), "llama"), Err(Error::ModelFormat { .. })));
        let mut m = tests_support::tiny_gpt2_metadata();
        m.remove("tokenizer.ggml.merges");
        assert!(matches!(GgufTokenizer::from_metadata(&Meta(&m), "llama"), Err(Error::ModelFormat { .. })));
        let mut m = tests_support::tiny_gpt2_metadata();
        m.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(99_999));
        assert!(matches!(GgufTokenizer::from_metadata(&Meta(&m), "llama"), Err(Error::ModelFormat { .. })));
        let mut m = tests_support::tiny_gpt2_metadata();
        m.insert("tokenizer.ggml.model".into(), Value::String("wordpiece".into()));
        assert!(matches!(GgufTokenizer::from_metadata(&Meta(&m), "llama"), Err(Error::ModelFormat { .. })));
    }

    fn tiny_sp_metadata() -> HashMap<String, Value> {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![Value::I32(2), Value::I32(3), Value::I32(3)];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(Value::I32(6));
        }
        for t in
            ["▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "▁he", "▁hell", "▁hello", "hell", "lo", "wor", "ld"]
        {
            tokens.push(t.into());
            types.push(Value::I32(1));
        }
        let n = tokens.len();
        let scores: Vec<Value> = (0..n).map(|i| Value::F32(-(i as f32))).collect();
        md(vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            ("tokenizer.ggml.scores", Value::Array(scores)),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        ])
    }

    #[test]
    fn sentencepiece_from_scores_adds_bos_and_falls_back_to_bytes() {
        let m = tiny_sp_metadata();
        let tk = GgufTokenizer::from_metadata(&Meta(&m), "llama").unwrap();
        assert_eq!(tk.model(), TokenizerModel::SentencePieceBpe);
        assert!(tk.add_bos());
        let ids = tk.encode("hello", true).unwrap();
        assert_eq!(ids[0], 1);
        let texts: Vec<&str> = ids[1..].iter().map(|i| tk.token_text(*i).unwrap()).collect();
        assert_eq!(texts, ["▁hello"]);
        // "é" is not in the vocabulary: two byte tokens.
        let ids = tk.encode("é", false).unwrap();
        assert_eq!(tk.decode(&ids), " é");
        assert!(ids.iter().any(|&i| tk.token_text(i) == Some("<0xC3>")));
    }

    /// Ids from transformers' `AutoTokenizer` on a GGUF holding this same vocabulary
    /// (merges derived from the scores), recorded by `scripts/make_generation_reference.py`.
    #[test]
    fn sentencepiece_matches_transformers_on_a_tiny_vocabulary() {
        let fx: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/gguf_tokenizer_ids.json")).unwrap();
        let cases = fx["sentencepiece_tiny"]["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 6);
        let m = tiny_sp_metadata();
        let tk = GgufTokenizer::from_metadata(&Meta(&m), "llama").unwrap();
        for c in cases {
            let text = c["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(c["ids"].clone()).unwrap();
            assert_eq!(tk.encode(text, true).unwrap(), want, "{text:?}");
        }
    }

    /// The merge derivation as it was before (quadratic in token length): the reference.
    fn merges_from_scores_naive(tokens: &[String], scores: &[f32], skip: &HashSet<usize>) -> Vec<(String, String)> {
        let index: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let mut merges: Vec<(f32, usize, usize, usize, usize)> = Vec::new();
        for (i, tok) in tokens.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let mut local = Vec::new();
            for (cut, _) in tok.char_indices().skip(1) {
                let (l, r) = tok.split_at(cut);
                if let (Some(&il), Some(&ir)) = (index.get(l), index.get(r)) {
                    if skip.contains(&il) || skip.contains(&ir) {
                        continue;
                    }
                    local.push((scores[i], l.chars().count(), r.chars().count(), il, ir));
                }
            }
            local.sort_by_key(|m| (m.3, m.4));
            merges.extend(local);
        }
        merges.sort_by(|a, b| {
            b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2))
        });
        merges.into_iter().map(|m| (tokens[m.3].clone(), tokens[m.4].clone())).collect()
    }

    fn sp_parts(m: &HashMap<String, Value>) -> (Vec<String>, Vec<f32>) {
        let meta = Meta(m);
        let tokens = meta.str_array("tokenizer.ggml.tokens").unwrap().unwrap().into_iter().map(String::from).collect();
        (tokens, meta.f32_array("tokenizer.ggml.scores").unwrap().unwrap())
    }

    #[test]
    fn derived_merges_equal_the_reference() {
        let (tokens, scores) = sp_parts(&tiny_sp_metadata());
        let skip: HashSet<usize> = (0..259).collect();
        let want = merges_from_scores_naive(&tokens, &scores, &skip);
        assert!(want.len() >= 8, "{want:?}");
        assert_eq!(merges_from_scores(&tokens, &scores, &skip, usize::MAX).unwrap(), want);
        match merges_from_scores(&tokens, &scores, &skip, 3) {
            Err(Error::LimitExceeded { what: "gguf merges", limit: 3, .. }) => {}
            other => panic!("expected LimitExceeded, got {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn derived_merges_equal_the_reference_on_random_vocabularies(
            tokens in proptest::collection::vec("[ab▁é]{1,6}", 1..60),
            skip in proptest::collection::hash_set(0usize..60, 0..10),
            scores in proptest::collection::vec(-4i8..4, 60),
        ) {
            // Duplicate spellings, skipped ids and equal scores all occur.
            let scores: Vec<f32> = scores.iter().take(tokens.len()).map(|&x| f32::from(x)).collect();
            let want = merges_from_scores_naive(&tokens, &scores, &skip);
            prop_assert_eq!(merges_from_scores(&tokens, &scores, &skip, usize::MAX).unwrap(), want);
        }
    }

    #[test]
    fn vocabulary_limits_are_checked_before_building() {
        let m = tiny_sp_metadata();
        let limits = |max_vocab_size, max_token_bytes, max_merges| TokenizerLimits {
            max_vocab_size,
            max_token_bytes,
            max_merges,
        };
        let d = TokenizerLimits::default();
        assert!(GgufTokenizer::from_metadata_with(&Meta(&m), "llama", &d).is_ok());
        let e = GgufTokenizer::from_metadata_with(&Meta(&m), "llama", &limits(100, 1024, 1 << 22)).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { what: "gguf vocabulary size", limit: 100, got: 276 }), "{e:?}");
        let e = GgufTokenizer::from_metadata_with(&Meta(&m), "llama", &limits(1 << 20, 5, 1 << 22)).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { what: "gguf token bytes", limit: 5, got: 6 }), "{e:?}");
        let e = GgufTokenizer::from_metadata_with(&Meta(&m), "llama", &limits(1 << 20, 1024, 4)).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { what: "gguf merges", limit: 4, .. }), "{e:?}");
        // Merges stored in the file count too.
        let g = tests_support::tiny_gpt2_metadata();
        let e = GgufTokenizer::from_metadata_with(&Meta(&g), "llama", &limits(1 << 20, 1024, 4)).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { what: "gguf merges", limit: 4, got: 5 }), "{e:?}");
    }

    #[test]
    fn a_multi_megabyte_token_is_refused() {
        // Issue 14: a GGUF without merges and a 4 MB token hung the merge derivation.
        let mut m = tiny_sp_metadata();
        let Some(Value::Array(tokens)) = m.get_mut("tokenizer.ggml.tokens") else { unreachable!() };
        tokens.push(Value::String("▁".repeat(4 << 20)));
        let Some(Value::Array(types)) = m.get_mut("tokenizer.ggml.token_type") else { unreachable!() };
        types.push(Value::I32(1));
        let Some(Value::Array(scores)) = m.get_mut("tokenizer.ggml.scores") else { unreachable!() };
        scores.push(Value::F32(-1000.0));
        match GgufTokenizer::from_metadata(&Meta(&m), "llama") {
            Err(Error::LimitExceeded { what: "gguf token bytes", limit: 1024, got }) => assert_eq!(got, 3 * (4 << 20)),
            other => panic!("expected LimitExceeded, got {other:?}"),
        }
    }

    #[test]
    fn utf8_stream_reassembles_split_characters() {
        let mut s = Utf8Stream::new();
        let crab = "🦀".as_bytes();
        assert_eq!(s.push(&crab[..1]), "");
        assert_eq!(s.push(&crab[1..3]), "");
        assert!(s.has_pending());
        assert_eq!(s.push(&[crab[3], b'!']), "🦀!");
        assert_eq!(s.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(s.push(&crab[..2]), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }

    proptest! {
        #[test]
        fn utf8_stream_matches_lossy_decoding_of_whole(text in "\\PC{0,40}", cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut s = Utf8Stream::new();
            let mut out = String::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                out.push_str(&s.push(&bytes[prev..c]));
                prev = c;
            }
            out.push_str(&s.finish());
            prop_assert_eq!(out, text);
        }
    }
}

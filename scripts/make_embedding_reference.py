#!/usr/bin/env python3
"""Write tests/fixtures/embedding_reference.json: all-MiniLM-L6-v2 sentence vectors
computed by sentence-transformers (PyTorch), the reference `tests/embed_parity.rs`
compares Sotto's candle implementation against (cosine >= 0.999 per sentence).

Run once by hand; CI never installs PyTorch, it only reads the committed JSON.

    HF_HUB_OFFLINE=1 /path/to/venv/bin/python scripts/make_embedding_reference.py \
        [--model-dir ~/.cache/sotto/models/all-MiniLM-L6-v2] [--out tests/fixtures/embedding_reference.json]

The venv needs `torch` and `sentence-transformers`. Nothing is downloaded: the model is
read from the directory the fetch script fills (`$SOTTO_MODELS` or ~/.cache/sotto/models).

The PyPI copy of the model has `modules.json` but not `1_Pooling/config.json`, so the
pipeline is assembled explicitly exactly as the upstream model card defines it:
Transformer (max_seq_length from `sentence_bert_config.json`, i.e. 256 word pieces
including [CLS]/[SEP]) -> mean pooling over the attention mask -> L2 normalisation.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LONG_200 = (
    "Retrieval-augmented generation combines a retriever with a generator. "
    "The retriever finds passages that are relevant to a question, usually by "
    "comparing dense sentence embeddings with cosine similarity, sometimes fused "
    "with a lexical score such as BM25. The generator then reads the question and "
    "the retrieved passages and writes an answer that cites them. Running the whole "
    "pipeline in a web browser means the documents never leave the user's machine: "
    "the embedding model, the index and the language model are all downloaded once "
    "and executed locally through WebAssembly. The price is speed and memory, so "
    "the models must be small, the index compact and the code careful about copies. "
    "Chunking matters as much as the model: passages that are too long dilute the "
    "embedding, passages that are too short lose their context."
)

LONG_300 = " ".join(
    [
        "Cargo is the Rust package manager. Cargo downloads your Rust package's "
        "dependencies, compiles your packages, makes distributable packages, and "
        "uploads them to crates.io, the Rust community's package registry.",
        "A workspace is a collection of one or more packages, called workspace "
        "members, that are managed together. The key points of workspaces are: "
        "common commands can run across all workspace members, like cargo check "
        "--workspace; all packages share a common Cargo.lock file which resides in "
        "the workspace root; all packages share a common output directory, which "
        "defaults to a directory named target in the workspace root; sharing package "
        "metadata, like with workspace.package; the [patch], [replace] and [profile.*] "
        "sections in Cargo.toml are only recognized in the root manifest, and ignored "
        "in member crates' manifests.",
        "Profiles provide a way to alter the compiler settings, influencing things "
        "like optimizations and debugging symbols. Cargo has four built-in profiles: "
        "dev, release, test, and bench. The profile is automatically chosen based on "
        "which command is being run if a profile is not specified on the command line. "
        "In addition to the built-in profiles, custom user-defined profiles can also "
        "be specified. Profile settings can be changed in Cargo.toml with the "
        "[profile] table. Within each named profile, individual settings can be "
        "changed with key/value pairs like opt-level = 3 or debug = true, and the "
        "final sentence of this paragraph should be cut off by truncation.",
    ]
)

SENTENCES = [
    # English, short and plain
    "The quick brown fox jumps over the lazy dog.",
    "How do I add a dependency to my Rust project?",
    "Paris is the capital of France.",
    "Embeddings map text to vectors so that similar meanings are close together.",
    "A",
    "What's the difference between `cargo build` and `cargo check`?",
    # French with accents and apostrophes
    "Le cœur a ses raisons que la raison ne connaît point.",
    "L'été dernier, nous sommes allés à Genève en vélo électrique.",
    "Où se trouve la bibliothèque la plus proche ? Ça dépend du quartier.",
    "Les élèves ont révisé leurs leçons d'histoire et de géographie.",
    # other languages and scripts
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "東京は日本の首都です。",
    # code snippets
    "fn main() { println!(\"Hello, world!\"); }",
    "let v: Vec<f32> = xs.iter().map(|x| x * 2.0).collect();",
    "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0",
    "SELECT id, title FROM documents WHERE lang = 'fr' ORDER BY score DESC LIMIT 10;",
    # Markdown
    "# Installation\n\nRun `cargo install sotto` and then:\n\n- index your files\n- ask a question",
    "| Model | Dim |\n|---|---|\n| MiniLM | 384 |\n| bge-small | 384 |",
    "**Bold**, _italic_ and [a link](https://example.com/docs?page=2#top).",
    # digits, dates, units
    "The invoice #20931 dated 2024-03-15 totals 1,234.56 EUR (VAT 20%).",
    "3.14159 26535 89793 23846 26433 83279 50288 41971",
    # emoji and symbols
    "I love this library 😍🚀🔥 — works great! 👍",
    "Temperature: −5 °C → 23 °F ± 0.5; α·β ≤ γ²",
    # whitespace and casing oddities
    "   LEADING and trailing   spaces\tand\ttabs   ",
    "ALL CAPS SHOUTING ABOUT VECTOR DATABASES",
    # long texts: > 128 word pieces, and > 256 word pieces (truncated at 256)
    LONG_200,
    LONG_300,
]


def default_model_dir() -> Path:
    base = os.environ.get("SOTTO_MODELS") or os.path.join(Path.home(), ".cache", "sotto", "models")
    return Path(base) / "all-MiniLM-L6-v2"


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=default_model_dir())
    ap.add_argument("--out", type=Path, default=root / "tests" / "fixtures" / "embedding_reference.json")
    args = ap.parse_args()

    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models

    model_dir = args.model_dir.expanduser()
    if not (model_dir / "model.safetensors").is_file():
        print(f"model not found in {model_dir}; run scripts/fetch-models.sh first", file=sys.stderr)
        return 1
    st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    max_seq_length = int(st_config["max_seq_length"])

    transformer = models.Transformer(str(model_dir), max_seq_length=max_seq_length)
    dim = transformer.auto_model.config.hidden_size
    model = SentenceTransformer(
        modules=[transformer, models.Pooling(dim, pooling_mode="mean"), models.Normalize()],
        device="cpu",
    )
    model.eval()
    assert model.max_seq_length == max_seq_length, (model.max_seq_length, max_seq_length)

    # Word pieces per sentence as the model sees them (incl. [CLS]/[SEP], after truncation).
    tok = transformer.tokenizer
    token_counts = [
        len(tok(s, truncation=True, max_length=max_seq_length)["input_ids"]) for s in SENTENCES
    ]
    assert any(n > 128 and n < max_seq_length for n in token_counts), token_counts
    assert any(n == max_seq_length for n in token_counts), token_counts

    with torch.no_grad():
        vectors = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)

    out = {
        "model": "all-MiniLM-L6-v2",
        "generator": (
            f"scripts/make_embedding_reference.py with sentence-transformers "
            f"{sentence_transformers.__version__}, torch {torch.__version__}"
        ),
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": max_seq_length,
        "dim": int(vectors.shape[1]),
        "sentences": SENTENCES,
        "token_counts": token_counts,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One line per vector keeps the file diffable.
    vectors_json = ",\n  ".join(json.dumps(v) for v in out.pop("vectors"))
    head = json.dumps(out, ensure_ascii=False, indent=1)
    args.out.write_text(head[:-2] + ',\n "vectors": [\n  ' + vectors_json + "\n ]\n}\n")
    print(f"wrote {len(SENTENCES)} vectors of dim {out['dim']} to {args.out}; token counts {token_counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

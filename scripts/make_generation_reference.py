#!/usr/bin/env python3
"""Write the two fixtures `tests/generate_smollm2.rs` checks Sotto's GGUF generator against:

* tests/fixtures/gguf_tokenizer_ids.json: token ids of varied strings (English, French
  accents, code, emoji, digits, chat markup, whitespace runs) as Hugging Face transformers
  builds the tokenizer from the GGUF metadata (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`).
* tests/fixtures/greedy_reference.json: greedy decoding (32 new tokens) of three fixed chat
  prompts by transformers' PyTorch Llama on the GGUF weights dequantized to float32, with the
  two best token ids and their logit margin at every step (a divergence at a step with a tiny
  margin is rounding, not a bug: candle multiplies Q4_1 weights by activations quantized to
  Q8_1, transformers by float32 activations).

Run once by hand; CI never installs PyTorch, it only reads the committed JSON.

    HF_HUB_OFFLINE=1 /path/to/venv/bin/python scripts/make_generation_reference.py \
        [--gguf ~/.cache/sotto/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf] \
        [--out-dir tests/fixtures]

The venv needs `torch`, `transformers`, `accelerate` and `gguf`. Nothing is downloaded.

The chat prompts are written out by hand in ChatML *without* a system turn: SmolLM2's own
template would inject "You are a helpful AI assistant named SmolLM…", which Sotto deliberately
does not do (see the notes on generation). The Rust test renders the same messages with the
model's template and must obtain exactly these strings.
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

STRINGS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Cargo is the Rust package manager. It downloads your package's dependencies.",
    "Où est la bibliothèque ? Élève, garçon, naïve, Noël, déjà-vu, cœur.",
    "L'été dernier, nous sommes allés à Besançon.",
    "Straße, Zürich, Ærøskøbing, São Paulo, Kraków",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}",
    "def add(a, b):\n\treturn a + b  # sum\n",
    "[dependencies]\nserde = { version = \"1.0\", features = [\"derive\"] }",
    "<div class=\"note\">x &lt; y</div>",
    "I love Rust 🦀🚀! Thumbs up 👍🏽 and a family 👨‍👩‍👧.",
    "1234567890",
    "Version 12.5 costs $3,000.99 (or 2.5e-3 %).",
    "Phone: +1 (555) 010-9999, year 2024, pi ≈ 3.14159",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    "<|endoftext|>after the end",
    "   leading spaces and trailing   ",
    "tabs\tand\nnew\n\nlines\r\n",
    "日本語のテキストと中文文本。",
    "Привет, мир! Γειά σου κόσμε.",
    "snake_case, camelCase, SCREAMING_CASE, kebab-case",
    "https://example.com/path?query=1&x=y#frag",
    "",
    " ",
    "don't can't won't it's I'm you're",
]

PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write one sentence about the Rust package manager Cargo."}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "List three colours of the rainbow."},
    ],
]

MAX_NEW_TOKENS = 32

# A tiny SentencePiece-style vocabulary (tokenizer.ggml.model = "llama", no merges: they are
# derived from the scores), the same one `src/generate/tokenizer.rs` builds in its unit tests.
SP_PIECES = ["▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "▁he", "▁hell", "▁hello", "hell", "lo", "wor", "ld"]
SP_STRINGS = ["hello", "hello world", "é", "he ll", "  hello", "world hello"]


def sentencepiece_tiny_ids(tmp_dir):
    """Ids transformers gives on a GGUF holding only the tiny SentencePiece vocabulary."""
    import numpy as np
    import gguf as gguf_py
    from transformers import AutoTokenizer

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + SP_PIECES
    types = [2, 3, 3] + [6] * 256 + [1] * len(SP_PIECES)
    path = Path(tmp_dir) / "tiny_sp.gguf"
    w = gguf_py.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tok = AutoTokenizer.from_pretrained(str(tmp_dir), gguf_file=path.name)
    return [{"text": s, "ids": tok.encode(s)} for s in SP_STRINGS]


def chatml(messages):
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + "<|im_start|>assistant\n"


def main():
    default_gguf = Path(os.environ.get("SOTTO_MODELS", Path.home() / ".cache/sotto/models")) / (
        "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=str(default_gguf))
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "tests/fixtures"))
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(args.gguf).expanduser()
    out_dir = Path(args.out_dir)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)

    cases = []
    for s in STRINGS:
        ids = tok.encode(s, add_special_tokens=False)
        cases.append({"text": s, "ids": ids})
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sp_cases = sentencepiece_tiny_ids(tmp)
    (out_dir / "gguf_tokenizer_ids.json").write_text(
        json.dumps(
            {
                "source": f"transformers {transformers.__version__} AutoTokenizer(gguf_file={gguf.name}), "
                "encode(add_special_tokens=False)",
                "model": gguf.name,
                "cases": cases,
                "sentencepiece_tiny": {
                    "source": "AutoTokenizer on a GGUF holding the tiny vocabulary of SP_PIECES, encode() with BOS",
                    "cases": sp_cases,
                },
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    refs = []
    for messages in PROMPTS:
        prompt = chatml(messages)
        ids = tok.encode(prompt, add_special_tokens=False)
        seq = list(ids)
        generated, margins, top2 = [], [], []
        with torch.no_grad():
            past = None
            inp = torch.tensor([seq])
            for _ in range(MAX_NEW_TOKENS):
                out = model(input_ids=inp, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float()
                top = torch.topk(logits, 2)
                nxt = int(top.indices[0])
                margins.append(round(float(top.values[0] - top.values[1]), 4))
                top2.append([int(top.indices[0]), int(top.indices[1])])
                if nxt == eos:
                    break
                generated.append(nxt)
                inp = torch.tensor([[nxt]])
        refs.append(
            {
                "messages": messages,
                "prompt": prompt,
                "prompt_ids": ids,
                "generated_ids": generated,
                "ended_with_eos": len(generated) < MAX_NEW_TOKENS,
                "text": tok.decode(generated, skip_special_tokens=True),
                "top2_margins": margins,
                "top2_ids": top2,
            }
        )
        print(repr(refs[-1]["text"]))
    (out_dir / "greedy_reference.json").write_text(
        json.dumps(
            {
                "source": f"transformers {transformers.__version__} / torch {torch.__version__}, "
                "LlamaForCausalLM on the GGUF weights dequantized to float32, greedy (argmax), "
                "stopping at <|im_end|>",
                "model": gguf.name,
                "max_new_tokens": MAX_NEW_TOKENS,
                "prompts": refs,
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

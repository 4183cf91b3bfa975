#!/usr/bin/env python3
"""Inputs, ONNX files and PyTorch reference vectors for the peer benchmark (scripts/bench-peers.sh).

Run once, in the benchmark's own venv (torch CPU + onnx + onnxruntime + transformers from
PyPI); every output is cached and rebuilt only when missing. Nothing is fetched from a model
hub: the model is read from the SAME directory Sotto loads (scripts/fetch-models.sh).

    peers-export.py --model DIR --data CARGO_BOOK_DIR --out CACHE [--inputs-only]

Writes, under CACHE:
  inputs.json        the benchmark's inputs: 100 deterministic ~30-word sentences drawn from the
                     Cargo Book (one window per page, pages in sorted order), a short chat prompt
                     and a ~300-token RAG prompt (Cargo Book passages), both already in the
                     SmolLM2 chat template (no system turn, as Sotto's template renders it), and
                     32 chunks of ~256 tokens of Cargo Book text for the indexing comparison.
  reference.json     PyTorch fp32 sentence vectors of those sentences (BertModel, mean pooling
                     over the attention mask, at most 256 tokens, L2 norm: sentence-transformers'
                     all-MiniLM-L6-v2 recipe), plus the ONNX Runtime (CPU) min cosine of both exports.
  models/all-MiniLM-L6-v2/  a transformers.js-style local model directory:
                     config.json, tokenizer.json, tokenizer_config.json (copied) and
                     onnx/model.onnx (fp32 export of BertModel: input_ids, attention_mask,
                     token_type_ids -> last_hidden_state) and onnx/model_quantized.onnx (what
                     transformers.js calls `q8`: ONNX Runtime dynamic quantization, IntegerOps,
                     int8 weights per output channel with reduced range, uint8 activations,
                     constant-B MatMuls only). Per channel is how the transformers.js q8
                     MiniLM files users download were made (2023 converter defaults); per
                     tensor drops the min cosine from ~0.984 to ~0.916 here (ONNX Runtime CPU).
"""
import argparse
import hashlib
import html
import json
import os
import re
import shutil
import sys

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length for all-MiniLM-L6-v2
N_SENTENCES = 100
WORDS = 30
N_CHUNKS = 32
INPUTS_VERSION = 2  # bump when make_inputs changes: cached inputs are rebuilt


def page_text(path):
    """The visible text of an mdBook page's <main> element, whitespace collapsed."""
    with open(path, encoding='utf-8') as f:
        t = f.read()
    m = re.search(r'<main>(.*?)</main>', t, re.S)
    body = m.group(1) if m else t
    body = re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', body, flags=re.S)
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', ' ', body))).strip()


def book_pages(data):
    pages = []
    for root, _dirs, files in os.walk(data):
        for f in files:
            if f.endswith('.html') and f not in ('print.html', 'toc.html', '404.html'):
                pages.append(os.path.join(root, f))
    pages.sort()
    return pages


def make_inputs(data):
    pages = [(os.path.relpath(p, data), page_text(p).split(' ')) for p in book_pages(data)]
    pages = [(p, w) for p, w in pages if len(w) >= 3 * WORDS]
    if not pages:
        sys.exit(f'no Cargo Book pages under {data}')
    # One 30-word window per page, skipping the page title; a second pass takes the next
    # window of each page when there are fewer than 100 pages.
    sentences, rnd = [], 0
    while len(sentences) < N_SENTENCES:
        for _p, w in pages:
            start = 5 + rnd * WORDS
            if start + WORDS <= len(w) and len(sentences) < N_SENTENCES:
                sentences.append(' '.join(w[start:start + WORDS]))
        rnd += 1
    by_name = dict(pages)

    def passage(name, start, n):
        return ' '.join(by_name[name][start:start + n])

    # 60 + 60 + 52 words: 300 SmolLM2 tokens with the template and the question.
    sources = [passage('guide/dependencies.html', 1, 60), passage('reference/specifying-dependencies.html', 1, 60),
               passage('guide/cargo-toml-vs-cargo-lock.html', 1, 52)]
    question = 'How do I add a dependency on a crate from crates.io to my package, and what does the version string mean?'
    user = ('Answer the question from the numbered sources below, citing them like [1].\n\n'
            + '\n'.join(f'[{i + 1}] {s}' for i, s in enumerate(sources)) + f'\n\nQuestion: {question}')
    template = '<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n'
    # Chunks of about 256 BERT tokens (180 words of this text) for the indexing comparison:
    # consecutive windows of the longest pages (the changelog excluded), longest page first.
    chunks, chunk_words = [], 180
    for name, w in sorted(pages, key=lambda pw: (-len(pw[1]), pw[0])):
        if 'CHANGELOG' in name:
            continue
        for i in range(5, len(w) - chunk_words, chunk_words):
            if len(chunks) < N_CHUNKS:
                chunks.append(' '.join(w[i:i + chunk_words]))
    return {
        'version': INPUTS_VERSION,
        'source': 'Cargo Book (shared/data/cargo-book), one 30-word window per page in sorted page order',
        'sentences': sentences,
        'prompts': {
            'short': {'user': 'Explain what Cargo does in Rust.', 'text': template.format('Explain what Cargo does in Rust.')},
            'rag': {'user': user, 'text': template.format(user)},
        },
        'chunks': {'source': 'longest Cargo Book pages, consecutive 180-word windows', 'words_per_chunk': chunk_words, 'texts': chunks},
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def export(model_dir, out_dir):
    import torch
    from transformers import BertModel

    onnx_dir = os.path.join(out_dir, 'onnx')
    os.makedirs(onnx_dir, exist_ok=True)
    for f in ('config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'):
        if os.path.exists(os.path.join(model_dir, f)):
            shutil.copyfile(os.path.join(model_dir, f), os.path.join(out_dir, f))
    fp32 = os.path.join(onnx_dir, 'model.onnx')
    q8 = os.path.join(onnx_dir, 'model_quantized.onnx')
    if not os.path.exists(fp32):
        model = BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation='eager').eval()

        class LastHidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

        ids = torch.ones(2, 12, dtype=torch.int64)
        args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
        names = ['input_ids', 'attention_mask', 'token_type_ids']
        axes = {n: {0: 'batch_size', 1: 'sequence_length'} for n in names}
        axes['last_hidden_state'] = {0: 'batch_size', 1: 'sequence_length'}
        tmp = fp32 + '.tmp'
        with torch.no_grad():
            try:  # the TorchScript exporter: one self-contained file, dynamic axes by name
                torch.onnx.export(LastHidden(model), args, tmp, input_names=names, output_names=['last_hidden_state'],
                                  dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)
            except TypeError:
                torch.onnx.export(LastHidden(model), args, tmp, input_names=names, output_names=['last_hidden_state'],
                                  dynamic_axes=axes, opset_version=17, do_constant_folding=True)
        import onnx
        m = onnx.load(tmp, load_external_data=True)
        onnx.save(m, fp32)  # one file (transformers.js loads model.onnx without external data)
        os.remove(tmp)
        if os.path.exists(tmp + '.data'):
            os.remove(tmp + '.data')
        print(f'exported {fp32} ({os.path.getsize(fp32) / 2**20:.1f} MB)', file=sys.stderr)
    settings = {'weight_type': 'QInt8', 'activation_type': 'QUInt8', 'per_channel': True, 'reduce_range': True,
                'MatMulConstBOnly': True, 'EnableSubgraph': True}
    stamp = q8.replace('.onnx', '.json')
    old = json.load(open(stamp)) if os.path.exists(stamp) else None
    if not os.path.exists(q8) or old != settings:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantize_dynamic(fp32, q8 + '.tmp', weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         extra_options={'MatMulConstBOnly': True, 'EnableSubgraph': True})
        os.replace(q8 + '.tmp', q8)
        with open(stamp, 'w') as f:
            json.dump(settings, f)
        print(f'quantized {q8} ({os.path.getsize(q8) / 2**20:.1f} MB)', file=sys.stderr)
    return fp32, q8


def references(model_dir, sentences, chunk_texts, fp32, q8):
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    enc = tok(sentences, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors='pt')
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    mask = enc['attention_mask'].unsqueeze(-1).float()
    v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    v = torch.nn.functional.normalize(v, p=2, dim=1).numpy()
    feeds = {k: enc[k].numpy() for k in ('input_ids', 'attention_mask', 'token_type_ids')}
    check = {}
    for name, path in (('onnx_fp32', fp32), ('onnx_q8', q8)):
        s = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        o = s.run(None, feeds)[0]
        m = feeds['attention_mask'][..., None].astype(np.float32)
        e = (o * m).sum(1) / m.sum(1)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        check[name] = float((e * v).sum(1).min())
    tokens = enc['attention_mask'].sum(1).tolist()
    chunk_tokens = [len(tok(c, truncation=False)['input_ids']) for c in chunk_texts]
    return {
        'recipe': 'transformers BertModel fp32 (PyTorch CPU), mean pooling over the attention mask, max 256 tokens, L2 norm',
        'torch': torch.__version__,
        'tokens_per_sentence': {'min': min(tokens), 'max': max(tokens), 'mean': sum(tokens) / len(tokens)},
        'onnxruntime_cpu_min_cosine': check,
        'tokens_per_chunk': {'min': min(chunk_tokens), 'max': max(chunk_tokens), 'mean': sum(chunk_tokens) / len(chunk_tokens)},
        'vectors': [[round(float(x), 7) for x in row] for row in v],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True, help='the all-MiniLM-L6-v2 directory Sotto loads (safetensors)')
    ap.add_argument('--data', required=True, help='the Cargo Book HTML directory')
    ap.add_argument('--out', required=True, help='the cache directory')
    ap.add_argument('--inputs-only', action='store_true')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    inputs_path = os.path.join(a.out, 'inputs.json')
    stale = True
    if os.path.exists(inputs_path):
        with open(inputs_path) as f:
            stale = json.load(f).get('version') != INPUTS_VERSION
    if stale:
        with open(inputs_path + '.tmp', 'w') as f:
            json.dump(make_inputs(a.data), f, indent=1)
        os.replace(inputs_path + '.tmp', inputs_path)
    if a.inputs_only:
        return
    with open(inputs_path) as f:
        inputs = json.load(f)
    if 'max_tokens' not in inputs['chunks']:
        # Trim each chunk (by words, from its end) to at most 256 tokens with [CLS] and [SEP],
        # so that each is one chunk of `sotto index --max-tokens 256` and no embedder truncates.
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(a.model)
        trimmed = []
        for c in inputs['chunks']['texts']:
            words = c.split(' ')
            while len(tok(' '.join(words))['input_ids']) > 256:
                words = words[:-max(1, (len(tok(' '.join(words))['input_ids']) - 256) // 3)]
            trimmed.append(' '.join(words))
        inputs['chunks'].update(texts=trimmed, max_tokens=256)
        with open(inputs_path + '.tmp', 'w') as f:
            json.dump(inputs, f, indent=1)
        os.replace(inputs_path + '.tmp', inputs_path)
    out_model = os.path.join(a.out, 'models', 'all-MiniLM-L6-v2')
    fp32, q8 = export(a.model, out_model)
    ref_path = os.path.join(a.out, 'reference.json')
    weights_sha = sha256(os.path.join(a.model, 'model.safetensors'))
    fresh = False
    if os.path.exists(ref_path):
        with open(ref_path) as f:
            old = json.load(f)
        fresh = old.get('q8_sha256') == sha256(q8) and old.get('weights_sha256') == weights_sha and old.get('sentences_sha256') == hashlib.sha256(
            json.dumps(inputs).encode()).hexdigest()
    if not fresh:
        ref = references(a.model, inputs['sentences'], inputs['chunks']['texts'], fp32, q8)
        ref['weights_sha256'] = weights_sha
        ref['q8_sha256'] = sha256(q8)
        ref['sentences_sha256'] = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()
        with open(ref_path + '.tmp', 'w') as f:
            json.dump(ref, f)
        os.replace(ref_path + '.tmp', ref_path)
        print(f'reference vectors: {ref_path}; ONNX Runtime CPU min cosine {ref["onnxruntime_cpu_min_cosine"]}', file=sys.stderr)


if __name__ == '__main__':
    main()

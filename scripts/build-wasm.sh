#!/usr/bin/env bash
# Build the browser package: pkg/ (npm package "sotto": ESM, TypeScript types) and the
# files the demo page serves from www/ (www/pkg/, www/sample/).
#
#   cargo build --target wasm32-unknown-unknown --lib --release   (+simd128, .cargo/config.toml)
#   wasm-bindgen --target web      → pkg/sotto.js, pkg/sotto_bg.wasm, pkg/sotto.d.ts
#   wasm-bindgen --target bundler  → pkg/bundler/ (webpack/vite consumers)
#   www/worker.js, www/client.js   → pkg/ (the Worker wrapper and its promise client;
#   www/monitor.js                   the worker's local query log and feedback)
#   www/langchain.js               → pkg/ (sotto/langchain; @langchain/core is an optional peer)
#   (scripts/build-wasm-threads.sh, run after this one, adds pkg/threads/ and www/pkg-threads/:
#    the threaded build the worker loads in cross-origin-isolated pages; this script
#    removes an older pkg/threads/ and www/pkg-threads/)
#   PDF.js (scripts/vendor-pdfjs.sh, cache-first) → www/vendor/pdfjs/ and pkg/vendor/pdfjs/
#                                    (the worker imports it when a PDF arrives)
#
# wasm-opt is not run: Debian's binaryen 108 produces a module that fails to instantiate
# (see Cargo.toml [package.metadata.wasm-pack...]). Set SOTTO_WASM_PROFILE=dev for a
# quick unoptimised build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SOTTO_SKIP_CHROMIUM=1 SOTTO_SKIP_NPM=1 SOTTO_SKIP_WASM_PACK=1 ./scripts/install-wasm-tools.sh
./scripts/vendor-pdfjs.sh

PROFILE="${SOTTO_WASM_PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --target wasm32-unknown-unknown --lib --release
  WASM=target/wasm32-unknown-unknown/release/sotto.wasm
else
  cargo build --target wasm32-unknown-unknown --lib
  WASM=target/wasm32-unknown-unknown/debug/sotto.wasm
fi

# The name section (function names for stack traces) is 0.8 MB of the 2.9 MB gzip download;
# release packages drop it. A panic still reports its message and file:line (the panic
# hook). SOTTO_WASM_NAMES=1 keeps it, for profiling or reading a trap's stack.
BINDGEN_FLAGS=()
if [ "$PROFILE" = release ] && [ "${SOTTO_WASM_NAMES:-0}" != 1 ]; then
  BINDGEN_FLAGS+=(--remove-name-section --remove-producers-section)
fi
rm -rf pkg
mkdir -p pkg/bundler
wasm-bindgen --target web --out-dir pkg --out-name sotto "${BINDGEN_FLAGS[@]}" "$WASM"
wasm-bindgen --target bundler --out-dir pkg/bundler --out-name sotto "${BINDGEN_FLAGS[@]}" "$WASM"
sed -e 's#\./pkg/sotto\.js#./sotto.js#' -e 's#\./pkg-threads/sotto\.js#./threads/sotto.js#' \
    -e 's#^const AUTO_THREADS = true;#const AUTO_THREADS = false;#' www/worker.js > pkg/worker.js
grep -q '^const AUTO_THREADS = false;' pkg/worker.js
cp www/client.js www/client.d.ts www/monitor.js www/langchain.js www/langchain.d.ts pkg/
mkdir -p pkg/vendor
cp -r www/vendor/pdfjs pkg/vendor/
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
cat > pkg/package.json <<JSON
{
  "name": "sotto",
  "version": "$VERSION",
  "description": "Retrieval-augmented generation that runs entirely in the browser (Rust → WebAssembly)",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./sotto.js",
  "module": "./sotto.js",
  "types": "./sotto.d.ts",
  "exports": {
    ".": { "types": "./sotto.d.ts", "default": "./sotto.js" },
    "./client": { "types": "./client.d.ts", "default": "./client.js" },
    "./worker": "./worker.js",
    "./langchain": { "types": "./langchain.d.ts", "default": "./langchain.js" },
    "./bundler": { "types": "./bundler/sotto.d.ts", "default": "./bundler/sotto.js" },
    "./sotto_bg.wasm": "./sotto_bg.wasm"
  },
  "files": ["sotto.js", "sotto.d.ts", "sotto_bg.wasm", "sotto_bg.wasm.d.ts", "client.js", "client.d.ts", "worker.js", "monitor.js", "langchain.js", "langchain.d.ts", "vendor/pdfjs/", "bundler/", "threads/"],
  "sideEffects": ["./bundler/sotto.js", "./worker.js"],
  "peerDependencies": { "@langchain/core": ">=0.3 <2" },
  "peerDependenciesMeta": { "@langchain/core": { "optional": true } }
}
JSON
cp README.md pkg/ 2>/dev/null || true

# The demo page's copy of the web build and the bundled sample corpus (Sotto's own docs)
# with its evaluation questions.
# An older threaded build would no longer match this one: it goes too (build-wasm-threads.sh
# makes it again).
rm -rf www/pkg www/pkg-threads www/sample
mkdir -p www/pkg www/sample/docs
cp pkg/sotto.js pkg/sotto_bg.wasm pkg/sotto.d.ts www/pkg/
cp docs/*.md www/sample/docs/
cp README.md ARCHITECTURE.md www/sample/
cp docs/sample-qa.jsonl www/sample/questions.jsonl   # ground truth for the Evaluate panel
python3 - <<'PY'
import json, os
root = 'www/sample'
docs = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs if f.endswith('.md'))
with open(os.path.join(root, 'index.json'), 'w') as out:
    json.dump({'documents': [{'id': p, 'path': p} for p in docs]}, out, indent=1)
PY

raw=$(stat -c %s pkg/sotto_bg.wasm)
gz=$(gzip -9 -c pkg/sotto_bg.wasm | wc -c)
echo "pkg/sotto_bg.wasm: $raw bytes raw, $gz bytes gzip -9 ($PROFILE)"

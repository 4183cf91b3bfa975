#!/usr/bin/env bash
# Browser-side tests (installs what they need first; cached, so re-runs are quick):
#   1. wasm-bindgen-test of the exported JS API under Node (tests/wasm.rs)
#   2. the demo page end to end in headless Chromium with the real model (tests/browser/e2e.mjs),
#      screenshot in target/e2e-answer.png
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-wasm-tools.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== wasm-bindgen-test of the JS API (Node)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --test wasm

echo "== build the wasm package and the demo page"
./scripts/build-wasm.sh
MODELS="$(./scripts/fetch-models.sh)"
ln -sfn "$MODELS" www/models

echo "== end to end in headless Chromium"
node tests/browser/e2e.mjs

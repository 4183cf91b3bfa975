#!/usr/bin/env bash
# Browser-side tests (installs what they need first; cached, so re-runs are quick):
#   1. wasm-bindgen-test of the exported JS API under Node (tests/wasm.rs)
#   2. a smoke test of the npm package in pkg/ under Node; sotto/langchain installed from
#      the packed package next to @langchain/core (tests/browser/langchain.mjs)
#      the monitoring/feedback logic (tests/browser/monitor.mjs); the API reference and the
#      cookbook's samples checked against the package's types (scripts/api-docs.sh --check)
#   3. the demo page end to end in headless Chromium with the real models (tests/browser/e2e.mjs),
#      including an index written by the native CLI; screenshots in target/e2e-answer*.png
#   4. fault injection in headless Chromium (tests/browser/faults.mjs): worker crashes and
#      restarts, queued file picks, two tabs, interrupted saves, a corrupted saved index,
#      truncated models in the Cache API
#   5. PDF in headless Chromium (tests/browser/pdf.mjs): PDFs printed by Chromium, one
#      section per page, typed per-file errors, a cancelled 500-page PDF, the demo's pick
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

echo "== the npm package (pkg/) under Node"
node tests/browser/package-smoke.mjs

echo "== sotto/langchain with @langchain/core from npm (the packed package, Node, real MiniLM)"
node tests/browser/langchain.mjs

echo "== local feedback and monitoring logic (www/monitor.js, Node)"
node tests/browser/monitor.mjs

echo "== API reference (docs/api/) up to date and the cookbook's samples type-check (TypeDoc, tsc)"
./scripts/api-docs.sh --check

echo "== an index of the sample corpus built natively by the CLI (the browser must load it)"
cargo build --features cli --bin sotto
mkdir -p target/e2e
SOTTO_MODELS="$MODELS" ./target/debug/sotto index www/sample -o target/e2e/sample-cli.sotto

echo "== end to end in headless Chromium"
SOTTO_E2E_CLI_INDEX=target/e2e/sample-cli.sotto node tests/browser/e2e.mjs

echo "== fault injection in headless Chromium"
node tests/browser/faults.mjs

echo "== PDF in headless Chromium (text per page, bad PDFs, 500 pages, the demo's pick)"
node tests/browser/pdf.mjs

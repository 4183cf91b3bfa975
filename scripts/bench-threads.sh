#!/usr/bin/env bash
# Threads in the browser, measured (not a test, not a CI step): the single-thread and the
# threaded release builds side by side in headless Chromium (tests/browser/bench-threads.mjs):
# MiniLM embedding throughput (100 sentences, batch 16) and SmolLM2 prefill tok/s (~300-token
# prompt), 1 vs SOTTO_BENCH_THREADS (default 2) threads, alternating rounds. Writes
# target/bench-threads.json. SOTTO_BENCH_SKIP_BUILD=1 reuses www/pkg and www/pkg-threads.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
./scripts/install-wasm-tools.sh
if [ "${SOTTO_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  SOTTO_WASM_PROFILE=release ./scripts/build-wasm.sh
  SOTTO_WASM_PROFILE=release ./scripts/build-wasm-threads.sh
fi
MODELS="$(./scripts/fetch-models.sh)"
ln -sfn "$MODELS" www/models
# The bench's worker is served from www/ for the run only.
ln -sfn ../tests/browser/threads www/bench-threads
trap 'rm -f www/bench-threads' EXIT
node tests/browser/bench-threads.mjs

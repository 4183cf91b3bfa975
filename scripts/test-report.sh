#!/usr/bin/env bash
# The evaluation report end to end: `sotto eval` over a configuration grid (2 chunkings ×
# 5 modes = 10 configurations, extractive answers) on the committed BEIR-layout fixture
# with the real all-MiniLM-L6-v2, then the HTML checked in headless Chromium
# (tests/browser/report.mjs): no request, no console error, charts drawn, one table row
# per configuration. Screenshot: target/report.png. Needs the models
# (scripts/fetch-models.sh) and chromium + playwright-core (scripts/install-wasm-tools.sh,
# run here with its wasm parts cached).
set -euo pipefail
cd "$(dirname "$0")/.."
SOTTO_SKIP_CHROMIUM="${SOTTO_SKIP_CHROMIUM:-0}" ./scripts/install-wasm-tools.sh
MODELS="$(./scripts/fetch-models.sh)"
OUT=target/eval-report
mkdir -p "$OUT"

echo "== sotto eval --beir tests/fixtures/beir-mini --config tests/fixtures/eval-grid.json --answers"
cargo build --features cli --bin sotto
./target/debug/sotto --models "$MODELS" eval --beir tests/fixtures/beir-mini --config tests/fixtures/eval-grid.json \
  --answers --report "$OUT/report.html" --json > "$OUT/report.json"

echo "== the report in headless Chromium"
node tests/browser/report.mjs "$OUT/report.html" --json "$OUT/report.json" --configs 10 --screenshot target/report.png

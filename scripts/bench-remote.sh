#!/usr/bin/env bash
# A sharded index read by the piece in headless Chromium (a benchmark, not a test): the
# Cargo Book (../shared/data/cargo-book) indexed by the release CLI as shards, served by
# scripts/serve.py from www/bench/remote-cargo-book/, queried with the 30 questions of
# cargo-book-qa.jsonl through client.openRemote / searchRemote. Reports the manifest's
# size, the first query of a fresh browser profile, per-query requests, bytes and latency
# (p50/p95) with every shard fetched (cold) and with the caches warm, the same for an
# extractive answer (askRemote) per question, recall@5 and MRR of
# the browser's hits, and how many of the 30 hit lists equal `sotto search MANIFEST --json`;
# then, with the index's packed file (--pack): the 30 questions cold from the shard files,
# from the pack with one Range request per shard, and coalesced, and a session on a server
# without Range support (serve.py --no-range).
# Writes target/bench-remote.json.
#   ./scripts/bench-remote.sh
#   SOTTO_BENCH_SKIP_BUILD=1 ./scripts/bench-remote.sh     (reuse pkg/ and the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-wasm-tools.sh
export PATH="$HOME/.cargo/bin:$PATH"
MODELS="$(./scripts/fetch-models.sh)"
export SOTTO_MODELS="$MODELS"
if [ "${SOTTO_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  ./scripts/build-wasm.sh
  cargo build --release --features cli --bin sotto
fi
ln -sfn "$MODELS" www/models
DATA="${SOTTO_SHARED:-../shared}/data"
OUT=www/bench/remote-cargo-book
if [ ! -s "$OUT/manifest.json" ] || ! grep -q '"pack"' "$OUT/manifest.json"; then
  rm -rf "$OUT"
  mkdir -p "$(dirname "$OUT")"
  ./target/release/sotto index "$DATA/cargo-book" --shards "$OUT" --pack
fi
SOTTO_REMOTE_DIR="$OUT" SOTTO_CLI=target/release/sotto SOTTO_QUESTIONS="$DATA/cargo-book-qa.jsonl" \
  node tests/browser/bench-remote.mjs

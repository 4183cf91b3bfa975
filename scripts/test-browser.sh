#!/usr/bin/env bash
# Browser-side tests (installs what they need first; cached, so re-runs are quick):
#   1. wasm-bindgen-test of the exported JS API under Node (tests/wasm.rs)
#   2. the npm package: a smoke test of pkg/ under Node; sotto/langchain installed from the
#      packed package next to @langchain/core (tests/browser/langchain.mjs); the
#      monitoring/feedback logic (tests/browser/monitor.mjs); the API reference and the
#      cookbook's samples checked against the package's types (scripts/api-docs.sh --check);
#      the packages `wasm-pack build --target web` and `--target bundler` make (offline,
#      reusing the release build) work under Node and equal pkg/; tsc --noEmit over
#      examples/types (every export typed); examples/vite built with Vite, and with webpack
#      (examples/webpack), and driven in headless Chromium (tests/browser/vite.mjs)
#   3. the demo page end to end in headless Chromium with the real models (tests/browser/e2e.mjs),
#      including an index written by the native CLI; screenshots in target/e2e-answer*.png
#   3b. a sharded index read by the piece in headless Chromium (tests/browser/remote.mjs):
#      parity with the CLI on the same shard files, bytes fetched, the Cache API, damaged,
#      missing and stalled shards, refused manifests, an index updated on the host
#   3c. the same index with a packed file (tests/browser/remote-pack.mjs): Range reads, the
#      fallback to shard files (416, wrong Content-Range, serve.py --no-range), a damaged
#      pack, the CLI over http:// with and without Range
#   4. fault injection in headless Chromium (tests/browser/faults.mjs): worker crashes and
#      restarts, queued file picks, two tabs, interrupted saves, a corrupted saved index,
#      truncated models in the Cache API
#   5. PDF in headless Chromium (tests/browser/pdf.mjs): PDFs printed by Chromium, one
#      section per page, typed per-file errors, a cancelled 500-page PDF, the demo's pick
#   6. the threaded build (scripts/build-wasm-threads.sh, nightly) in headless Chromium
#      (tests/browser/threads.mjs): 2 threads when cross-origin isolated, vectors and greedy
#      text equal to the single-thread build's, and the fallbacks
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
# wasm-pack reuses the wasm build-wasm.sh made (same profile, target and flags: no
# recompilation). --mode no-install: it uses the wasm-bindgen in PATH and downloads no tool
# (wasm-opt is off in Cargo.toml). Where a network namespace can be made (root), the build
# runs without a network, so a download attempt would fail the test.
echo "== wasm-pack build --target web / --target bundler (offline), the packages under Node"
NO_NET=()
if unshare -n true 2>/dev/null; then NO_NET=(unshare -n); fi
WP_PROFILE=--release
if [ "${SOTTO_WASM_PROFILE:-release}" = dev ]; then WP_PROFILE=--dev; fi
for t in web bundler; do
  "${NO_NET[@]}" wasm-pack --quiet build --target "$t" --out-dir target/wasm-pack-"$t" --out-name sotto --mode no-install "$WP_PROFILE"
done
node --experimental-wasm-modules --no-warnings tests/browser/wasm-pack.mjs target/wasm-pack-web target/wasm-pack-bundler

echo "== TypeScript: tsc --noEmit over examples/types/usage.ts (client.d.ts, sotto.d.ts)"
(cd examples/types && ./node_modules/.bin/tsc --noEmit -p .)

echo "== the Vite example (examples/vite): vite build, then in headless Chromium"
(cd examples/vite && ./node_modules/.bin/vite build --logLevel warn)
SOTTO_MODELS="$MODELS" node tests/browser/vite.mjs

echo "== the same app built with webpack (examples/webpack), in headless Chromium"
(cd examples/webpack && node build.mjs >/dev/null)
SOTTO_MODELS="$MODELS" node tests/browser/vite.mjs webpack

echo "== an index of the sample corpus built natively by the CLI (the browser must load it)"
cargo build --features cli --bin sotto
mkdir -p target/e2e
SOTTO_MODELS="$MODELS" ./target/debug/sotto index www/sample -o target/e2e/sample-cli.sotto

echo "== end to end in headless Chromium"
SOTTO_E2E_CLI_INDEX=target/e2e/sample-cli.sotto node tests/browser/e2e.mjs

echo "== a sharded index read by the piece in headless Chromium (openRemote), against the CLI"
# v1 (the page's "old" version, manifest kept aside as manifest-v1.json): a small index of
# one doc page and a fixture page, also written as a single file with HNSW segments (a low
# threshold), which the browser must load and search as the CLI does; v2 (the current
# one): the CLI's sample index as shards, written into the same directory as a host would
# publish an update (v1's shards stay: they are content-addressed). No embedding twice.
rm -rf www/remote-sample target/e2e/remote-extra
mkdir -p target/e2e/remote-extra
cat > target/e2e/remote-extra/remote-update.md <<'MD'
# Remote update fixture

The zanzibarite lighthouse is a fixture of Sotto's remote index test. It exists only in the
first version of the sharded index: a page that still reads that version finds this page
first, and a page that opened the new manifest no longer finds it.
MD
SOTTO_MODELS="$MODELS" ./target/debug/sotto index www/sample/docs/limits.md target/e2e/remote-extra \
  --shards www/remote-sample -o www/remote-sample/sample-hnsw.sotto --hnsw-threshold 16
cp www/remote-sample/manifest.json www/remote-sample/manifest-v1.json
./target/debug/sotto shard target/e2e/sample-cli.sotto www/remote-sample
SOTTO_MODELS="$MODELS" SOTTO_REMOTE_DIR=www/remote-sample SOTTO_CLI=target/debug/sotto node tests/browser/remote.mjs

echo "== the same index with a packed file, read with HTTP Range requests (and without: serve.py --no-range)"
rm -rf www/remote-pack
./target/debug/sotto shard target/e2e/sample-cli.sotto www/remote-pack --pack
SOTTO_MODELS="$MODELS" SOTTO_PACK_DIR=www/remote-pack SOTTO_CLI=target/debug/sotto node tests/browser/remote-pack.mjs

echo "== fault injection in headless Chromium"
node tests/browser/faults.mjs

echo "== PDF in headless Chromium (text per page, bad PDFs, 500 pages, the demo's pick)"
node tests/browser/pdf.mjs

# Last, so the steps above run on the single-thread build as before: once www/pkg-threads/
# exists, the demo's worker uses it in cross-origin-isolated pages. SOTTO_THREADS_PROFILE
# (default dev: see docs/performance.md for the build times) picks its profile; the test
# checks behaviour and parity, not speed.
echo "== build the threaded wasm package (nightly, -Z build-std, atomics)"
SOTTO_WASM_PROFILE="${SOTTO_THREADS_PROFILE:-dev}" ./scripts/build-wasm-threads.sh
echo "== the threaded build in headless Chromium (2 threads, parity with the single-thread build; the fallbacks)"
node tests/browser/threads.mjs

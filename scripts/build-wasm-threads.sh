#!/usr/bin/env bash
# Build the threaded browser package beside the single-thread one: pkg/threads/ (and the
# demo's copy, www/pkg-threads/). The worker (www/worker.js) loads it when the page is
# cross-origin isolated and falls back to pkg/ otherwise.
#
#   cargo +nightly rustc --target wasm32-unknown-unknown --lib --features threads
#         -Z build-std=panic_abort,std     (std rebuilt with atomics)
#   RUSTFLAGS: +atomics,+bulk-memory,+mutable-globals,+simd128; the module linked with a
#   shared, imported memory of at most 4 GiB
#   wasm-bindgen --target web → pkg/threads/sotto.js, sotto_bg.wasm, snippets/ (the pool's
#                               worker script from wasm-bindgen-rayon)
#
# Nightly is needed only here (`-Z build-std`; the stable std for wasm32 is built without
# atomics). It is installed, with rust-src, if missing; the default toolchain stays stable
# and the single-thread build (scripts/build-wasm.sh) does not change. Its own target
# directory (target/wasm-threads) keeps the two builds from evicting each other.
#
# SOTTO_WASM_PROFILE=dev builds unoptimised (dependencies still at opt-level 3: see
# Cargo.toml), which is what CI uses (scripts/test-browser.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SOTTO_SKIP_CHROMIUM=1 SOTTO_SKIP_NPM=1 SOTTO_SKIP_WASM_PACK=1 ./scripts/install-wasm-tools.sh

./scripts/install-nightly.sh

PROFILE="${SOTTO_WASM_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}/wasm-threads"
# The environment's rustflags replace .cargo/config.toml's for this target, so simd128 is
# repeated. They apply to every crate, std included. A shared memory needs a declared
# maximum: 4 GiB, wasm32's whole address space, as the single-thread build's memory may
# grow to.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 -C link-arg=--max-memory=4294967296"
# The link of the module itself (given to the final crate only, so changing them rebuilds
# nothing else). Since rust-lang/rust#147225 atomics no longer imply a shared memory, and
# since #156174 `__heap_base` is no longer exported: wasm-bindgen's thread support needs
# both, plus the TLS symbols.
LINK=()
for a in --shared-memory --import-memory --export=__heap_base \
         --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base; do
  LINK+=(-C "link-arg=$a")
done
ARGS=(+nightly rustc --target wasm32-unknown-unknown --lib --crate-type cdylib --features threads
      -Z build-std=panic_abort,std --target-dir "$TARGET_DIR")
start=$SECONDS
if [ "$PROFILE" = release ]; then
  cargo "${ARGS[@]}" --release -- "${LINK[@]}"
  WASM="$TARGET_DIR/wasm32-unknown-unknown/release/sotto.wasm"
else
  cargo "${ARGS[@]}" -- "${LINK[@]}"
  WASM="$TARGET_DIR/wasm32-unknown-unknown/debug/sotto.wasm"
fi
echo "cargo build (threads, $PROFILE): $((SECONDS - start)) s"

BINDGEN_FLAGS=()
if [ "$PROFILE" = release ] && [ "${SOTTO_WASM_NAMES:-0}" != 1 ]; then
  BINDGEN_FLAGS+=(--remove-name-section --remove-producers-section)
fi
rm -rf pkg/threads www/pkg-threads
mkdir -p pkg/threads
wasm-bindgen --target web --out-dir pkg/threads --out-name sotto "${BINDGEN_FLAGS[@]}" "$WASM"
mkdir -p www/pkg-threads
cp -r pkg/threads/. www/pkg-threads/

raw=$(stat -c %s pkg/threads/sotto_bg.wasm)
gz=$(gzip -9 -c pkg/threads/sotto_bg.wasm | wc -c)
echo "pkg/threads/sotto_bg.wasm: $raw bytes raw, $gz bytes gzip -9 ($PROFILE, threads)"

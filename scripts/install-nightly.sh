#!/usr/bin/env bash
# Install the nightly toolchain (minimal profile) and its rust-src, if missing. Used only
# where nightly is needed: cargo-fuzz (scripts/install-fuzz.sh) and the threaded wasm build
# with -Z build-std (scripts/build-wasm-threads.sh). Never the default toolchain.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== rustup toolchain install nightly --profile minimal" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  echo "== rustup component add rust-src --toolchain nightly" >&2
  rustup component add rust-src --toolchain nightly
fi

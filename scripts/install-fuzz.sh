#!/usr/bin/env bash
# Install what the fuzz targets (fuzz/) need. Idempotent and cache-first, so a re-run on a
# prepared machine takes about a second; on a fresh machine only crates.io and the rustup
# distribution server are used:
#   - the nightly toolchain (minimal profile) with rust-src: libFuzzer's sanitizer coverage
#     needs `-Z` flags. Nightly is never made the default: targets run with `cargo +nightly`.
#   - cargo-fuzz from crates.io (`--locked`), into ~/.cargo/bin
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

./scripts/install-nightly.sh

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz --locked (about 2 minutes on 2 cores)" >&2
  cargo install cargo-fuzz --locked
fi

#!/usr/bin/env bash
# Install what a fresh machine lacks for building and testing Sotto. Idempotent; checks caches first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
./scripts/fetch-models.sh >/dev/null

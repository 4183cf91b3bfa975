#!/usr/bin/env bash
# Smoke test of the Ray recipe: a local Ray cluster (`ray.init()`) runs `sotto index
# --partition i/3` as three tasks, then `sotto merge`; the merged index must be
# byte-identical to one `sotto index` over the same documents (seven Cargo Book pages, one
# copied and one edited so that duplicates cross partitions, as tests/cli_partition.rs).
# Installs ray from the cache (scripts/install-ray.sh) first.
#
#   scripts/test-ray.sh          (SOTTO_BIN: the binary, default target/debug/sotto, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
BIN="${SOTTO_BIN:-${CARGO_TARGET_DIR:-target}/debug/sotto}"
[ -x "$BIN" ] || cargo build --features cli
PY=$(scripts/install-ray.sh)
BOOK="${SOTTO_DATA:-../shared/data}/cargo-book"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/docs/getting-started" "$W/docs/guide" "$W/docs/copy" "$W/docs/edited"
for p in getting-started/index.html getting-started/installation.html guide/index.html guide/why-cargo-exists.html guide/dependencies.html; do
  cp "$BOOK/$p" "$W/docs/$p"
done
cp "$BOOK/guide/index.html" "$W/docs/copy/index.html"
sed '0,/add a dependency on the /s//add one dependency on the /' "$BOOK/guide/dependencies.html" >"$W/docs/edited/deps.html"
"$BIN" index "$W/docs" -o "$W/single.sotto" --shards "$W/single-shards" >/dev/null
"$PY" scripts/ray-index.py "$W/docs" -n 3 --sotto "$BIN" -o "$W/ray.sotto" --shards "$W/ray-shards" --json
cmp "$W/single.sotto" "$W/ray.sotto"
diff -r "$W/single-shards" "$W/ray-shards"
echo "ray recipe: merged index and shards identical to the single build ($(($(date +%s) - started)) s)"

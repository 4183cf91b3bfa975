#!/usr/bin/env bash
# Vendor PDF.js (pdfjs-dist, Apache-2.0) into www/vendor/pdfjs/: the minified ES module
# builds of its API (pdf.min.mjs) and of its parser (pdf.worker.min.mjs), plus LICENSE.
# The worker (www/worker.js) imports both lazily, the first time a PDF arrives, and runs
# the parser in its own thread (no nested worker). 1.7 MB: not committed (.gitignore);
# scripts/build-wasm.sh runs this script, which is cache-first: the npm tarball is kept
# under ${SOTTO_CACHE:-~/.cache/sotto}/npm and nothing is done when the files are current.
#   PDFJS_VERSION=6.5.438 scripts/vendor-pdfjs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${PDFJS_VERSION:-6.5.438}"
OUT=www/vendor/pdfjs
FILES=(pdf.min.mjs pdf.worker.min.mjs)
if [ "$(cat "$OUT/VERSION" 2>/dev/null)" = "$VERSION" ] && [ -f "$OUT/LICENSE" ] \
  && [ -f "$OUT/${FILES[0]}" ] && [ -f "$OUT/${FILES[1]}" ]; then
  exit 0
fi
CACHE="${SOTTO_CACHE:-$HOME/.cache/sotto}/npm"
mkdir -p "$CACHE"
TARBALL="$CACHE/pdfjs-dist-$VERSION.tgz"
if [ ! -f "$TARBALL" ]; then
  echo "== npm pack pdfjs-dist@$VERSION" >&2
  (cd "$CACHE" && npm pack --silent "pdfjs-dist@$VERSION" >/dev/null)
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$TARBALL" -C "$WORK"
PKG="$WORK/package"
LICENSE=$(node -e "console.log(require('$PKG/package.json').license)")
if [ "$LICENSE" != "Apache-2.0" ]; then
  echo "pdfjs-dist@$VERSION is licensed $LICENSE, not Apache-2.0: refusing to vendor" >&2
  exit 1
fi
mkdir -p "$OUT"
for f in "${FILES[@]}"; do
  SRC="$PKG/build/$f"
  [ -f "$SRC" ] || { echo "pdfjs-dist@$VERSION has no build/$f" >&2; exit 1; }
  head -c 600 "$SRC" | grep -q 'Licensed under the Apache License, Version 2.0' || {
    echo "$SRC lost its licence header" >&2
    exit 1
  }
  # The maps are not vendored: the page must not ask for files that are not there.
  grep -v '^//# sourceMappingURL=' "$SRC" > "$OUT/$f"
done
cp "$PKG/LICENSE" "$OUT/LICENSE"
echo "$VERSION" > "$OUT/VERSION"
echo "vendored pdfjs-dist@$VERSION ($(cat "${FILES[@]/#/$OUT/}" | wc -c) bytes) → $OUT/" >&2

#!/usr/bin/env bash
# Vendor Chart.js (MIT) into assets/chart.umd.min.js, which the evaluation report
# (src/eval/report.rs) embeds with include_str! so report.html works offline.
# The file is committed; re-run this script only to upgrade. Cache-first: the npm
# tarball is kept under ${SOTTO_CACHE:-~/.cache/sotto}/npm.
#   CHARTJS_VERSION=4.5.1 scripts/vendor-chartjs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${CHARTJS_VERSION:-4.5.1}"
CACHE="${SOTTO_CACHE:-$HOME/.cache/sotto}/npm"
mkdir -p "$CACHE"
TARBALL="$CACHE/chart.js-$VERSION.tgz"
if [ ! -f "$TARBALL" ]; then
  echo "== npm pack chart.js@$VERSION" >&2
  (cd "$CACHE" && npm pack --silent "chart.js@$VERSION" >/dev/null)
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$TARBALL" -C "$WORK"
PKG="$WORK/package"
LICENSE=$(node -e "console.log(require('$PKG/package.json').license)")
if [ "$LICENSE" != "MIT" ]; then
  echo "chart.js@$VERSION is licensed $LICENSE, not MIT: refusing to vendor" >&2
  exit 1
fi
SRC="$PKG/dist/chart.umd.min.js"
[ -f "$SRC" ] || SRC="$PKG/dist/chart.umd.js"
# The report inlines the file in a <script> element: it must never close it.
if grep -qi '</script' "$SRC"; then
  echo "$SRC contains '</script': cannot be inlined" >&2
  exit 1
fi
head -c 300 "$SRC" | grep -q 'Released under the MIT License' || {
  echo "$SRC lost its licence header" >&2
  exit 1
}
# Drop the source-map comment: the map is not vendored and the report must not ask for files.
grep -v '^//# sourceMappingURL=' "$SRC" > assets/chart.umd.min.js
cp "$PKG/LICENSE.md" assets/chart.js.LICENSE.md
echo "vendored chart.js@$VERSION ($(wc -c < assets/chart.umd.min.js) bytes) → assets/chart.umd.min.js" >&2

#!/usr/bin/env bash
# The API reference (docs/api/, Markdown) from the npm package's TypeScript declarations,
# and a type check of the cookbook's samples (docs/cookbook.md) against them.
#
#   ./scripts/api-docs.sh           regenerate docs/api/ from pkg/ (commit the result)
#   ./scripts/api-docs.sh --check   change nothing; fail when docs/api/ differs from what pkg/
#                                   gives, when an exported declaration has no doc comment
#                                   (beyond the shrinking list tools/typedoc/undocumented.txt),
#                                   or when a cookbook sample does not type-check
#
# Reads pkg/sotto.d.ts, pkg/client.d.ts and pkg/langchain.d.ts (build them first with
# ./scripts/build-wasm.sh; SOTTO_PKG=DIR reads another build). Tools from npm, pinned in
# tools/typedoc/package-lock.json and installed cache-first: TypeDoc with
# typedoc-plugin-markdown, TypeScript, and @langchain/core (the types sotto/langchain
# extends). See tools/typedoc/ for how the declarations are staged.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

cd tools/typedoc
# Reinstall only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.sotto-installed-lock 2>/dev/null; then
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.sotto-installed-lock
fi

node stage.mjs
rm -rf .stage/api
# Fails (exit 4) on a TypeScript error in the declarations, a broken link, a type used but
# not exported, or an undocumented declaration (validation warnings are errors here).
if ! npx --no-install typedoc --logLevel Warn; then
  echo "api-docs: TypeDoc failed (above). An undocumented declaration: give it a doc comment in" >&2
  echo "  src/wasm/mod.rs (sotto), www/client.d.ts or www/langchain.d.ts, rebuild pkg/ and rerun;" >&2
  echo "  a name listed in tools/typedoc/undocumented.txt that has a comment now: delete its line." >&2
  exit 1
fi
cp intro.md .stage/api/README.md

node cookbook.mjs
npx --no-install tsc -p tsconfig.cookbook.json

if [ "$CHECK" = 1 ]; then
  if ! diff -ru "$ROOT/docs/api" .stage/api; then
    echo "docs/api/ is stale: run ./scripts/api-docs.sh and commit docs/api/" >&2
    exit 1
  fi
  echo "api-docs: docs/api/ is current, every declaration is documented, the cookbook type-checks"
else
  rm -rf "$ROOT/docs/api"
  cp -r .stage/api "$ROOT/docs/api"
  echo "api-docs: wrote docs/api/ ($(find "$ROOT/docs/api" -name '*.md' | wc -l) pages)"
fi

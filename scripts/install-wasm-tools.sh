#!/usr/bin/env bash
# Install what the browser build and its tests need. Idempotent and cache-first, so a
# re-run on a prepared machine takes about a second:
#   - rustup target wasm32-unknown-unknown
#   - wasm-bindgen-cli at exactly the version pinned in Cargo.lock (also provides
#     wasm-bindgen-test-runner); installed into ~/.cargo/bin. No `--locked`: the
#     crate's own lock file names a webpki-roots version the registry may not serve.
#   - wasm-pack at WP_VERSION (cargo install --locked), for `wasm-pack build`; it is run with
#     `--mode no-install` and uses the wasm-bindgen above, so it never downloads a tool
#   - the sources of every crate in Cargo.lock, for every platform (`cargo fetch`): wasm-pack
#     runs `cargo metadata`, which needs them all, where `cargo build` needs only this host's
#   - Debian's chromium (/usr/bin/chromium), used by playwright-core; no browser download
#   - npm packages from their package-lock.json files, through the npm cache (~/.npm):
#     tests/browser (playwright-core), examples/vite (vite), examples/webpack (webpack),
#     examples/types (typescript)
# Set SOTTO_SKIP_CHROMIUM=1 / SOTTO_SKIP_NPM=1 to skip the browser parts, SOTTO_SKIP_WASM_PACK=1
# to skip wasm-pack (scripts/build-wasm.sh does not use it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The wasm-bindgen version must equal the one in Cargo.lock (the CLI refuses a mismatch).
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock 2>/dev/null || true)
WB_VERSION="${WB_VERSION:-0.2.130}"

if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  echo "== rustup target add wasm32-unknown-unknown" >&2
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WB_VERSION\$" \
   || ! command -v wasm-bindgen-test-runner >/dev/null; then
  echo "== cargo install wasm-bindgen-cli $WB_VERSION (about 4 minutes on 2 cores)" >&2
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

WP_VERSION=0.15.1
if [ "${SOTTO_SKIP_WASM_PACK:-0}" != 1 ]; then
  if ! wasm-pack --version 2>/dev/null | grep -q " $WP_VERSION\$"; then
    echo "== cargo install wasm-pack $WP_VERSION (about 5 minutes on 2 cores)" >&2
    cargo install wasm-pack --version "$WP_VERSION" --locked
  fi
  cargo fetch --quiet
fi

if [ "${SOTTO_SKIP_CHROMIUM:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "== apt-get install chromium" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if [ "${SOTTO_SKIP_NPM:-0}" != 1 ]; then
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "== npm ci (tests/browser: playwright-core)" >&2
    if [ -f tests/browser/package-lock.json ]; then
      (cd tests/browser && npm ci --no-audit --no-fund --prefer-offline)
    else
      (cd tests/browser && npm install --no-audit --no-fund --prefer-offline)
    fi
  fi
  # The examples depend on the package with `file:../../pkg` (a link; pkg/ may not be
  # built yet). Reinstalled when the installed tool is not the version package.json pins.
  for ex in vite:vite webpack:webpack types:typescript; do
    dir="examples/${ex%%:*}" tool="${ex#*:}"
    want=$(node -p "require('./$dir/package.json').devDependencies['$tool']")
    have=$(node -p "require('./$dir/node_modules/$tool/package.json').version" 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
      echo "== npm ci ($dir: $tool $want)" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline)
    fi
  done
fi

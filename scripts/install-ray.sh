#!/usr/bin/env bash
# Install PyPI `ray` into a cached virtual environment, for the partitioned-build recipe
# (scripts/ray-index.py). Cache-first: wheels are downloaded once into $SOTTO_WHEELS/ray
# and installed from there; an existing venv with ray importable is reused as it is.
#
#   SOTTO_RAY_VENV   the venv       (default: ~/.cache/sotto/ray-venv)
#   SOTTO_WHEELS     wheel cache    (default: ~/.cache/sotto/wheels; ray's go in ray/)
#   RAY_VERSION      pin a version  (default: the newest for this Python)
#
# Prints the venv's python on stdout.
set -euo pipefail
VENV="${SOTTO_RAY_VENV:-$HOME/.cache/sotto/ray-venv}"
WHEELS="${SOTTO_WHEELS:-$HOME/.cache/sotto/wheels}/ray"
SPEC="ray${RAY_VERSION:+==$RAY_VERSION}"
PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" -c 'import ray' 2>/dev/null; then
  echo "$PY"
  exit 0
fi
mkdir -p "$WHEELS"
python3 -m venv "$VENV" >&2
# Offline first (every wheel already cached), else download into the cache and install.
if ! "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "$SPEC" >&2 2>/dev/null; then
  echo "downloading $SPEC and its dependencies into $WHEELS ..." >&2
  "$PY" -m pip download --quiet -d "$WHEELS" "$SPEC" >&2
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "$SPEC" >&2
fi
"$PY" -c 'import ray; print("ray", ray.__version__)' >&2
echo "$PY"

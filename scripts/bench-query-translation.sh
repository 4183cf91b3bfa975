#!/usr/bin/env bash
# Query translation on the Cargo Book (issue 9): every technique against `none`, in one run,
# on cargo-book-hard.jsonl and cargo-book-qa.jsonl; prints the table of docs/retrieval.md.
# Builds the index once (release, no sentence vectors; ~12-20 min on 2 cores) into
# target/bench/cargo-book.sotto. A benchmark you run and report, not a CI step.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${SOTTO_DATA:-../shared/data}"
OUT=target/bench
mkdir -p "$OUT"
cargo build --release --features cli --bin sotto
MODELS="$(./scripts/fetch-models.sh)"
export SOTTO_MODELS="$MODELS"
if [ ! -f "$OUT/cargo-book.sotto" ]; then
  (cd "$DATA" && "$OLDPWD/target/release/sotto" index --no-sentence-vectors -o "$OLDPWD/$OUT/cargo-book.sotto" cargo-book)
fi
T=none,multi-query,fusion,decompose,step-back,hyde,auto
for s in hard qa; do
  ./target/release/sotto eval "$OUT/cargo-book.sotto" "$DATA/cargo-book-$s.jsonl" --modes hybrid --translate "$T" --json > "$OUT/translate-$s.json"
done
python3 scripts/query-translation-table.py "$OUT/translate-hard.json" "$OUT/translate-qa.json"

#!/usr/bin/env bash
# RAPTOR summaries, extractive against abstractive (issue 11 item 5), on the Cargo Book:
#   - index a subset (default: the pages of guide/, ids kept as `guide/…`) with MiniLM;
#   - build the tree twice from that index, extractive and `--abstractive` (SmolLM2-135M,
#     copy-constrained, 64 new tokens a summary), and print the build time per node;
#   - evaluate both on tests/fixtures/cargo-book-overview.jsonl, `--tree none,collapsed`,
#     hybrid and dense.
# SUBSET=all uses the whole book (1655 chunks, ~345 nodes: expect minutes of generation).
# A benchmark you run and report, not a CI step. (Not yet run end to end: written with the
# option; the first figures in docs/retrieval.md come from the fixture build.)
#
#   scripts/bench-raptor-abstractive.sh            (SUBSET=guide)
#   SUBSET=all JOBS=2 scripts/bench-raptor-abstractive.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
nice -n 5 cargo build --release --features cli --bin sotto -j "${JOBS:-1}"
SOTTO=./target/release/sotto
DATA="${SOTTO_DATA:-../shared/data}"
SUBSET="${SUBSET:-guide}"
TOKENS="${TOKENS:-64}"
OUT=target/bench-raptor-abstractive/$SUBSET
mkdir -p "$OUT"
if [ "$SUBSET" = all ]; then
  DOCS="$DATA/cargo-book"
else
  # Ids are paths relative to the directory given: keep the `guide/` prefix the questions use.
  DOCS="$OUT/docs"
  rm -rf "$DOCS" && mkdir -p "$DOCS" && cp -r "$DATA/cargo-book/$SUBSET" "$DOCS/"
fi
"$SOTTO" index "$DOCS" -o "$OUT/base.sotto" 2>&1 | tail -1
"$SOTTO" raptor "$OUT/base.sotto" -o "$OUT/extractive.sotto" | tee "$OUT/extractive.txt"
"$SOTTO" raptor "$OUT/base.sotto" -o "$OUT/abstractive.sotto" --abstractive --summary-tokens "$TOKENS" \
  | tee "$OUT/abstractive.txt"
python3 - "$OUT" <<'EOF'
import json, re, subprocess, sys
out = sys.argv[1]
for kind in ["extractive", "abstractive"]:
    text = open(f"{out}/{kind}.txt").read()
    m = re.search(r"over (\d+) chunks: (\d+) nodes .*?; ([0-9.]+) s;", text)
    chunks, nodes, secs = int(m[1]), int(m[2]), float(m[3])
    print(f"{kind}: {chunks} chunks, {nodes} nodes, {secs:.1f} s, {secs / max(nodes, 1):.3f} s per node")
EOF
"$SOTTO" info "$OUT/abstractive.sotto" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tree"]; print("abstractive section:", t["abstractive"])'
# The CLI's own table per index (both tree settings in one run, as docs/retrieval.md).
for kind in extractive abstractive; do
  echo "== $kind"
  "$SOTTO" eval "$OUT/$kind.sotto" tests/fixtures/cargo-book-overview.jsonl --modes hybrid,dense \
    --tree none,collapsed | tee "$OUT/$kind-overview.txt"
done

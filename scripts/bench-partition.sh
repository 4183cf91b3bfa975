#!/usr/bin/env bash
# Build time of one corpus (default: the Cargo Book) with 1 thread, 2 threads, the Ray
# recipe with N partitions (default 2, one CPU and RAYON_NUM_THREADS=1 each), and the map
# step's fixed cost (a partition that owns no document of the Cargo Book: load the model, clean and chunk everything).
# Runs one after another in one invocation, so the ratios come from the same machine state.
# Checks that the Ray build's index is byte-identical to the single build's.
#
#   scripts/bench-partition.sh [DOCS] [N]     (SOTTO_BIN: the binary, default target/debug/sotto)
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute: ray-index.py passes absolute paths, and a document's `source` metadata is the
# path as given, so the builds compare byte for byte only from the same path.
DOCS="$(realpath "${1:-../shared/data/cargo-book}")"
N="${2:-2}"
BIN="${SOTTO_BIN:-target/debug/sotto}"
OUT="${BENCH_OUT:-/tmp/sotto-bench-partition}"
mkdir -p "$OUT"
PY=$(scripts/install-ray.sh)
secs() { local t0=$(date +%s.%N); "$@" >"$OUT/last.log" 2>&1; echo "$(date +%s.%N) - $t0" | bc; }
t1=$(RAYON_NUM_THREADS=1 secs "$BIN" index "$DOCS" -o "$OUT/t1.sotto"); tail -1 "$OUT/last.log"
t2=$(RAYON_NUM_THREADS=2 secs "$BIN" index "$DOCS" -o "$OUT/t2.sotto"); tail -1 "$OUT/last.log"
tr=$(secs "$PY" scripts/ray-index.py "$DOCS" -n "$N" --sotto "$BIN" -o "$OUT/ray.sotto" --work "$OUT/parts" --json); cat "$OUT/last.log"
ray_json=$(tail -1 "$OUT/last.log")
# The map step's fixed cost: partition 0/1000 owns none of the Cargo Book's pages.
tp=$(RAYON_NUM_THREADS=1 secs "$BIN" index "$DOCS" --partition 0/1000 -o "$OUT/empty-part.sotto"); tail -2 "$OUT/last.log"
same=$(cmp -s "$OUT/t2.sotto" "$OUT/ray.sotto" && echo "byte-identical" || echo "DIFFERENT")
echo
echo "| build of $(basename "$DOCS") | wall s | vs 1 thread |"
echo "|---|---:|---:|"
printf "| sotto index, RAYON_NUM_THREADS=1 | %.1f | 1.00 |\n" "$t1"
printf "| sotto index, RAYON_NUM_THREADS=2 | %.1f | %.2f |\n" "$t2" "$(echo "$t1 / $t2" | bc -l)"
printf "| Ray recipe, N=%s (1 CPU each), total | %.1f | %.2f |\n" "$N" "$tr" "$(echo "$t1 / $tr" | bc -l)"
echo "| — of which (ray-index.py timings) | $ray_json | |"
printf "| map step's fixed cost (partition owning nothing, 1 thread) | %.1f | |\n" "$tp"
echo "Ray index vs single build: $same"

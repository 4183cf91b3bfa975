#!/usr/bin/env bash
# What sentence vectors at index time cost (issue 10): `sotto index` of the same documents
# with them (the default) and without (`--no-sentence-vectors`), alternating which goes
# first, REPS times each, in one run; prints the median build times, their ratio, and the
# two index sizes. A benchmark, not a CI step: the ratio is the figure (the machines are
# shared), the absolute times are for context.
#
#   scripts/bench-sentence-vectors.sh [DOCS] [REPS]
#   (default: ../shared/data/cargo-book, 3 repetitions; SOTTO_BENCH_NO_BUILD=1 uses the
#   release binary as it is)
# Writes target/bench-sentence-vectors.json.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
if [ "${SOTTO_BENCH_NO_BUILD:-0}" != 1 ]; then cargo build --release --features cli --bin sotto; fi
DOCS="${1:-${SOTTO_DATA:-../shared/data}/cargo-book}"
REPS="${2:-3}"
OUT=target/bench-sentence-vectors
mkdir -p "$OUT"
: >"$OUT/times.tsv"
for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) = 1 ]; then order="with without"; else order="without with"; fi
  for v in $order; do
    flags=()
    if [ "$v" = without ]; then flags=(--no-sentence-vectors); fi
    start=$(date +%s.%N)
    ./target/release/sotto index "$DOCS" -o "$OUT/$v.sotto" "${flags[@]}" >/dev/null 2>"$OUT/$v.log"
    end=$(date +%s.%N)
    echo -e "$v\t$(awk "BEGIN{print $end - $start}")" >>"$OUT/times.tsv"
    echo "rep $rep $v: $(tail -1 "$OUT/times.tsv" | cut -f2) s" >&2
  done
done
python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
times = {'with': [], 'without': []}
for line in open(os.path.join(out, 'times.tsv')):
    v, t = line.split('\t')
    times[v].append(float(t))
med = {v: statistics.median(ts) for v, ts in times.items()}
size = {v: os.path.getsize(os.path.join(out, f'{v}.sotto')) for v in times}
result = {
    'seconds': times,
    'median_s': med,
    'build_ratio_with_vs_without': med['with'] / med['without'],
    'bytes': size,
    'size_ratio_with_vs_without': size['with'] / size['without'],
}
json.dump(result, open('target/bench-sentence-vectors.json', 'w'), indent=2)
print('| index | median build s | size MB |')
print('|---|---|---|')
for v in ['without', 'with']:
    print(f"| {v} sentence vectors | {med[v]:.1f} | {size[v] / 1e6:.2f} |")
print(f"ratio with/without: build {result['build_ratio_with_vs_without']:.2f}x, size {result['size_ratio_with_vs_without']:.2f}x")
PY

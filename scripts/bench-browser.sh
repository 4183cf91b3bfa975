#!/usr/bin/env bash
# Browser benchmarks (a script, not a test): model load, embedding throughput, search
# latency at 10k chunks, the dense scan alone at 10k and 100k vectors (default path vs exact), the answer's select stage at 10k chunks (stored sentence vectors
# against query-time embedding, same run), generation speed and memory in headless Chromium, with the
# native numbers of the same machine beside them. Writes target/bench-browser.json.
#
# The 10k-chunk index is built natively by `sotto index` (debug CLI, optimised
# dependencies) from a synthetic corpus and cached in target/bench/; the browser imports it,
# which also exercises "an index built by the CLI loads in the browser".
#   SOTTO_BENCH_CHUNKS=10000 ./scripts/bench-browser.sh
#   SOTTO_BENCH_SECTIONS=scan SOTTO_BENCH_OUT=target/bench-scan.json ./scripts/bench-browser.sh   (one section)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-wasm-tools.sh
export PATH="$HOME/.cargo/bin:$PATH"
./scripts/build-wasm.sh
MODELS="$(./scripts/fetch-models.sh)"
export SOTTO_MODELS="$MODELS"
ln -sfn "$MODELS" www/models

N="${SOTTO_BENCH_CHUNKS:-10000}"
BENCH=target/bench
CORPUS="$BENCH/corpus-$N"
INDEX="$BENCH/index-$N.sotto"
mkdir -p "$BENCH"
if [ ! -s "$INDEX" ]; then
  cargo build --features cli --bin sotto
  rm -rf "$CORPUS"
  python3 - "$CORPUS" "$N" <<'PY'
import os, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1234)
function = "the a of to and in is that for on with as by it this from at be are was an which or can".split()
content = ("river stone cloud lantern copper meadow signal harbor violet engine orbit candle willow marble "
           "thunder glacier pepper canyon falcon saddle ember quartz tunnel beacon velvet mosaic anchor basalt "
           "cobalt fern library protocol compiler garden market theory window kernel planet museum bridge "
           "forest island desert valley ocean summit castle village station factory").split()
os.makedirs(out, exist_ok=True)
for i in range(n):
    # One short paragraph per file: one chunk each, distinct enough to survive de-duplication,
    # of eight 8-word sentences (each gets a sentence vector, as a real chunk's sentences do).
    sentences = []
    for _ in range(8):
        words = [rng.choice(function) if j % 3 == 1 else rng.choice(content) for j in range(8)]
        sentences.append(" ".join(words).capitalize() + ".")
    with open(os.path.join(out, f"doc{i:05d}.txt"), "w") as f:
        f.write(f"Document {i}. " + " ".join(sentences) + "\n")
PY
  echo "== native: sotto index of $N one-chunk documents (debug CLI, optimised dependencies)"
  start=$(date +%s.%N)
  ./target/debug/sotto index "$CORPUS" -o "$INDEX"
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'native indexing: {s:.1f} s, {int(sys.argv[3])/s:.1f} docs/s (all cores)')" "$start" "$end" "$N" | tee "$BENCH/native-index.txt"
fi
cat "$BENCH/native-index.txt" 2>/dev/null || true
# The same index as format v1, without its sentence vectors: answers embed their candidate
# sentences at query time, as every index did before format v2 (the select-stage baseline).
# Same chunks and chunk vectors; only the `sentences` (and any `tree`) section is dropped.
INDEX_QT="$BENCH/index-$N-v1.sotto"
if [ ! -s "$INDEX_QT" ] || [ "$INDEX" -nt "$INDEX_QT" ]; then
  python3 - "$INDEX" "$INDEX_QT" <<'PY'
import json, struct, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
assert b[:8] == b'SOTTOIDX'
_version, count = struct.unpack_from('<II', b, 8)
pos, sections = 16, []
for _ in range(count):
    n = b[pos]; name = b[pos + 1:pos + 1 + n].decode(); pos += 1 + n
    length, _crc = struct.unpack_from('<QI', b, pos); pos += 12
    sections.append((name, b[pos:pos + length])); pos += length
sections = [(n, p) for n, p in sections if n not in ('sentences', 'tree')]
out = bytearray(b'SOTTOIDX' + struct.pack('<II', 1, len(sections)))
for name, payload in sections:
    if name == 'manifest':
        m = json.loads(payload); m['format_version'] = 1; payload = json.dumps(m).encode()
    out += bytes([len(name)]) + name.encode() + struct.pack('<QI', len(payload), zlib.crc32(payload)) + payload
open(dst, 'wb').write(out)
PY
fi

# The dense scan alone at 10k and 100k × 384: feature-hashing vectors (no model, seconds).
for n in 10000 100000; do
  if [ ! -s "$BENCH/hashing-$n.sotto" ]; then
    cargo run --release --example hashing_index -- "$n" "$BENCH/hashing-$n.sotto"
  fi
done

SOTTO_BENCH_INDEX="$INDEX" SOTTO_BENCH_INDEX_QT="$INDEX_QT" SOTTO_BENCH_SCAN="$BENCH" node tests/browser/bench.mjs

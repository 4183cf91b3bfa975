#!/usr/bin/env bash
# Generative answers on the Cargo Book, free vs copy-constrained decoding (issue 10), with
# the extractive answer as the reference, in one run on one index:
#   - gold key term contained in the answer text (the 18 answerable hard questions carry
#     `answers`; the 30 plain ones get theirs from tests/fixtures/cargo-book-qa-answers.jsonl,
#     written by reading the pages);
#   - generated answers kept (the others fell back to extractive) and generated sentences
#     supported by the engine's own attribution;
#   - abstention on the 8 out-of-scope questions; citation precision; generate-stage latency.
# Writes target/bench-generative/<set>-<config>.json and prints a table.
#
#   scripts/bench-generative.sh [INDEX]   (default: builds target/bench-generative/cargo-book.sotto)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export SOTTO_MODELS="${SOTTO_MODELS:-$HOME/.cache/sotto/models}"
cargo build --release --features cli --bin sotto
SOTTO=./target/release/sotto
OUT=target/bench-generative
mkdir -p "$OUT"
DATA="${SOTTO_DATA:-../shared/data}"
INDEX="${1:-$OUT/cargo-book.sotto}"
if [ ! -f "$INDEX" ]; then
  /usr/bin/time -f "index built in %e s, peak %M KB" "$SOTTO" index "$DATA/cargo-book" -o "$INDEX" --no-sentence-vectors
fi
for set in qa hard; do
  case $set in
    qa) file=tests/fixtures/cargo-book-qa-answers.jsonl ;;
    hard) file="$DATA/cargo-book-hard.jsonl" ;;
  esac
  "$SOTTO" eval "$INDEX" "$file" --modes hybrid --answers extractive --json > "$OUT/$set-extractive.json"
  for c in none copy; do
    "$SOTTO" eval "$INDEX" "$file" --modes hybrid --answers generative --constrain "$c" --json > "$OUT/$set-generative-$c.json"
  done
done
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def fmt(x, d=3):
    return '–' if x is None else f'{x:.{d}f}'
print('| set | answers | gold in answer | kept | sentences supported | citation precision | abstained out-of-scope | false abstentions | generate p50 ms | decode ms/token |')
print('|---|---|---|---|---|---|---|---|---|---|')
for s in ['qa', 'hard']:
    for c in ['extractive', 'generative-none', 'generative-copy']:
        r = json.load(open(os.path.join(out, f'{s}-{c}.json')))['grid']['runs'][0]['report']
        a = r['answers']
        g = a.get('generated')
        ab = a.get('abstention') or {}
        gen = r['stages'].get('answer.generate')
        gens = [q['answer']['generation'] for q in r['per_question'] if q.get('answer') and q['answer'].get('generation')]
        toks = sum(g['tokens'] for g in gens)
        per_token = sum(g['decode_ms'] for g in gens) / toks if toks else None
        print(f"| {s} | {c} | {fmt(a.get('answer_containment'))} | "
              f"{'–' if not g else str(g['kept']) + '/' + str(g['answers'])} | "
              f"{'–' if not g else str(g['supported']) + '/' + str(g['sentences']) + ' (' + fmt(g['support_rate'], 2) + ')'} | "
              f"{fmt(a.get('citation_precision'))} | "
              f"{ab.get('correct', '–')}/{ab.get('unanswerable', '–')} | {ab.get('false_abstentions', '–')}/{ab.get('answerable', '–')} | "
              f"{fmt(gen['p50'] if gen else None, 0)} | {fmt(per_token, 1)} |")
PY

#!/usr/bin/env bash
# Answers on the Cargo Book (issue 10), every answer mode crossed with the reranking, in one
# run on one index: extractive; generative with free, copy-constrained (words) and
# bigram-constrained (phrases) decoding;
# compose (the generator fuses the extractive sentences, copy-constrained) — each with
# `--rerank none,maxsim` in the same `sotto eval` call:
#   - gold key term contained in the answer text (the 18 answerable hard questions carry
#     `answers`; the 30 plain ones get theirs from tests/fixtures/cargo-book-qa-answers.jsonl,
#     written by reading the pages);
#   - generated answers kept (the others fell back to extractive) and generated sentences
#     supported by the engine's own attribution;
#   - abstention on the 8 out-of-scope questions; citation precision; select and
#     generate-stage latency; sentences per answer.
# Writes target/bench-generative/<set>-<config>.json and prints a table.
#
#   scripts/bench-generative.sh [INDEX]   (default: builds target/bench-generative/cargo-book.sotto)
#   SOTTO_BENCH_CONFIGS="extractive compose"   only these configurations
#   (extractive generative-none generative-copy generative-bigram compose; default all)
#   SOTTO_BENCH_RERANK=none            only this reranking (default none,maxsim)
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
CONFIGS="${SOTTO_BENCH_CONFIGS:-extractive generative-none generative-copy generative-bigram compose}"
RERANK="${SOTTO_BENCH_RERANK:-none,maxsim}"
for set in qa hard; do
  case $set in
    qa) file=tests/fixtures/cargo-book-qa-answers.jsonl ;;
    hard) file="$DATA/cargo-book-hard.jsonl" ;;
  esac
  for c in $CONFIGS; do
    case $c in
      extractive) flags=(--answers extractive) ;;
      compose) flags=(--answers compose) ;;
      generative-*) flags=(--answers generative --constrain "${c#generative-}") ;;
      *) echo "unknown configuration $c" >&2; exit 2 ;;
    esac
    "$SOTTO" eval "$INDEX" "$file" --modes hybrid --rerank "$RERANK" "${flags[@]}" --json > "$OUT/$set-$c.json"
  done
done
python3 - "$OUT" $CONFIGS <<'PY'
import json, sys, os
out, configs = sys.argv[1], sys.argv[2:]
def fmt(x, d=3):
    return '–' if x is None else f'{x:.{d}f}'
print('| set | answers | rerank | gold in answer | kept | sentences supported | citation precision | sentences/answer | abstained out-of-scope | false abstentions | select p50 ms | generate p50 ms |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|')
for s in ['qa', 'hard']:
    for c in configs:
        path = os.path.join(out, f'{s}-{c}.json')
        if not os.path.exists(path):
            continue
        for run in json.load(open(path))['grid']['runs']:
            r = run['report']
            rerank = run['config'].get('rerank', 'none')
            a = r['answers']
            g = a.get('generated')
            ab = a.get('abstention') or {}
            gen = r['stages'].get('answer.generate')
            sel = r['stages'].get('answer.select')
            answered = [q['answer'] for q in r['per_question'] if q.get('answer') and not q['answer'].get('abstained')]
            per_answer = (sum(q.get('sentences', 0) for q in answered) / len(answered)) if answered else None
            print(f"| {s} | {c} | {rerank} | {fmt(a.get('answer_containment'))} | "
                  f"{'–' if not g else str(g['kept']) + '/' + str(g['answers'])} | "
                  f"{'–' if not g else str(g['supported']) + '/' + str(g['sentences']) + ' (' + fmt(g['support_rate'], 2) + ')'} | "
                  f"{fmt(a.get('citation_precision'))} | {fmt(per_answer, 2)} | "
                  f"{ab.get('correct', '–')}/{ab.get('unanswerable', '–')} | {ab.get('false_abstentions', '–')}/{ab.get('answerable', '–')} | "
                  f"{fmt(sel['p50'] if sel else None, 1)} | {fmt(gen['p50'] if gen else None, 0)} |")
PY

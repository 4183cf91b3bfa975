#!/usr/bin/env python3
"""The table of docs/answers.md from scripts/bench-adaptive.sh's JSON reports."""
import json
import os
import sys
from collections import Counter

out = sys.argv[1]


def fmt(x, d=3):
    return '–' if x is None else f'{x:.{d}f}'


def runs(path):
    return json.load(open(path))['grid']['runs']


print('| set | answers | abstained out-of-scope | false abstentions | gold in answer | citation precision | R@5 | MRR | select p50 ms | total p50 ms | classify p50 ms | self-check p50 ms |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|')
classes = {}
for s in ['qa', 'hard']:
    files = [('extractive', f'{s}-extractive.json'), ('generative', f'{s}-generative-plain.json'),
             ('generative + self-check', f'{s}-generative-self-check.json')]
    for label, f in files:
        p = os.path.join(out, f)
        if not os.path.exists(p):
            continue
        for run in runs(p):
            r = run['report']
            a = r['answers']
            ab = a.get('abstention') or {}
            st = r['stages']
            d = r.get('doc') or r.get('document') or {}
            recall = (d.get('recall') or {}).get('5')
            name = label + (' · adaptive' if run['config'].get('adaptive') else '')
            lat = lambda k: fmt(st[k]['p50'], 1) if k in st else '–'
            print(f"| {s} | {name} | {ab.get('correct', '–')}/{ab.get('unanswerable', '–')} | "
                  f"{ab.get('false_abstentions', '–')}/{ab.get('answerable', '–')} | {fmt(a.get('answer_containment'))} | "
                  f"{fmt(a.get('citation_precision'))} | {fmt(recall)} | {fmt(d.get('mrr'))} | "
                  f"{lat('answer.select')} | {lat('answer.total')} | {lat('answer.classify')} | {lat('answer.self_check')} |")
            if run['config'].get('adaptive'):
                for q in r['per_question']:
                    rt = (q.get('answer') or {}).get('route')
                    if rt:
                        c = rt['classification']
                        classes.setdefault(s, []).append((q['id'], c['class'], c['source'], c.get('similarity'), rt['pipeline'], q.get('answerable', True)))
            for q in r['per_question']:
                sc = (q.get('answer') or {}).get('self_check')
                if sc:
                    print(f"|   | self-check {q['id']}: {len(sc['claims'])} claims, +{sc['added_sources']} sources, supported {sc['supported_before']}→{sc['supported_after']}{' (kept)' if sc['rescued'] else ''} | | | | | | | | | | |")
print()
for s, rows in classes.items():
    print(f"{s}: classes {dict(Counter(r[1] for r in rows))}; pipelines {dict(Counter(r[4] for r in rows))}; "
          f"sources {dict(Counter(r[2] for r in rows))}")
    sims = [r for r in rows if r[3] is not None]
    if sims:
        top = max(sims, key=lambda r: r[3])
        print(f"  nearest-prototype cosine: max {top[3]:.3f} ({top[0]}, {top[1]} prototype)")
    for r in rows:
        print(f"  {r[0]}: {r[1]} ({r[2]}{'' if r[3] is None else f', {r[3]:.3f}'}) → {r[4]}{'' if r[5] else ' [out of scope]'}")

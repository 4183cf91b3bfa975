import json, sys
# usage: table.py hard.json qa.json
hard = json.load(open(sys.argv[1])); qa = json.load(open(sys.argv[2]))
def runs(r): return {x['report']['config']: x['report'] for x in r['grid']['runs']}
H, Q = runs(hard), runs(qa)
base = next(k for k in H if '·' not in k)
hb, qb = H[base], Q[base]
print(f"| config | para hit@5 | multi all-docs@10 | hard MRR | plain R@5 | plain MRR | search p50 ms | p95 ms | added p50 (hard) | p50 ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
for k in H:
    h, q = H[k], Q.get(k)
    para = h['kinds'].get('paraphrase', {}); multi = h['kinds'].get('multi', {})
    d = q['doc']
    r5 = d.get('recall_at_k', d.get('recall', {}))
    def at(m, kk):
        if isinstance(m, dict): return m.get(str(kk))
        if isinstance(m, list):
            for e in m:
                if isinstance(e, (list, tuple)) and e[0] == kk: return e[1]
        return None
    rec = at(r5, 5)
    lat = q['latency_ms']; hl = h['latency_ms']
    print(f"| {k} | {para.get('hit_at_5'):.3f} | {multi.get('all_docs_at_10'):.3f} | {h['doc']['mrr']:.3f} | {rec if rec is None else round(rec,3)} | {d['mrr']:.3f} | {hl['p50']:.1f} / {lat['p50']:.1f} | {hl['p95']:.1f} / {lat['p95']:.1f} | {hl['p50']-hb['latency_ms']['p50']:+.1f} | {hl['p50']/max(hb['latency_ms']['p50'],1e-9):.2f} |")

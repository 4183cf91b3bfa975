#!/usr/bin/env python3
"""Query construction on the Cargo Book: hit@5 and filters constructed, construct off vs apply.

  scripts/bench-construct.py SOTTO_BIN INDEX [SETS...]

Each question is searched twice by the CLI (`sotto search IDX q -k 10 --json`), with
`--construct off` and `--construct apply`, alternating which goes first; documents are
ranked by first appearance in the hits. Prints a Markdown table per set: hit@5 (any
relevant document in the first five distinct documents), MRR over the distinct documents of
the 10 hits, questions that got a filter,
and the construction stage's median time (the trace's `route` stage).
"""
import json, subprocess, sys, statistics

def run(bin_, idx, q, construct):
    out = subprocess.run([bin_, "search", idx, q, "-k", "10", "--construct", construct, "--json"],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    docs = []
    for h in r["hits"]:
        if h["doc_id"] not in docs:
            docs.append(h["doc_id"])
    trace = r.get("trace") or {}
    c = trace.get("construction") or {}
    ms = next((s["ms"] for s in trace.get("stages", []) if s["stage"] == "route"), None)
    return docs, c.get("filters", []), ms

def main():
    bin_, idx, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
    print("| set | questions | hit@5 off | hit@5 apply | MRR off | MRR apply | filters constructed | construct p50 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sets:
        qs = [json.loads(l) for l in open(path) if l.strip()]
        qs = [q for q in qs if q.get("relevant_docs")]
        hit = {"off": 0, "apply": 0}
        rr = {"off": 0.0, "apply": 0.0}
        filtered, times = [], []
        for i, q in enumerate(qs):
            order = ["off", "apply"] if i % 2 == 0 else ["apply", "off"]
            for c in order:
                docs, filters, ms = run(bin_, idx, q["question"], c)
                if set(docs[:5]) & set(q["relevant_docs"]):
                    hit[c] += 1
                rank = next((i + 1 for i, d in enumerate(docs) if d in q["relevant_docs"]), None)
                rr[c] += 1.0 / rank if rank else 0.0
                if c == "apply":
                    if filters:
                        filtered.append((q["id"], filters))
                    if ms is not None:
                        times.append(ms)
        n = len(qs)
        p50 = statistics.median(times) if times else float("nan")
        print(f"| {path.split('/')[-1]} | {n} | {hit['off']/n:.3f} | {hit['apply']/n:.3f} | {rr['off']/n:.3f} | {rr['apply']/n:.3f} | {len(filtered)}/{n} | {p50:.2f} |")
        for qid, f in filtered:
            print(f"<!-- {qid}: {json.dumps(f)} -->")

main()

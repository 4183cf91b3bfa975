#!/usr/bin/env python3
"""Print the query-translation table of docs/retrieval.md from two `sotto eval --json` reports.

usage: query-translation-table.py HARD.json QA.json
HARD.json: cargo-book-hard.jsonl crossed with --translate; QA.json: cargo-book-qa.jsonl, same grid.
"""
import json
import sys


def runs(path):
    return {x["report"]["config"]: x["report"] for x in json.load(open(path))["grid"]["runs"]}


def all_docs_at(rep, kind, k):
    qs = [q for q in rep["per_question"] if q.get("kind") == kind]
    return sum(all(d in q["retrieved_docs"][:k] for d in q["relevant_docs"]) for q in qs) / len(qs)


hard, qa = runs(sys.argv[1]), runs(sys.argv[2])
base = next(k for k in hard if k.endswith("· none") or "·" not in k)
b50 = hard[base]["latency_ms"]["p50"]
print("| technique | paraphrase hit@5 | two-part all-docs@5 | two-part all-docs@10 | plain R@5 | plain MRR | search p50 / p95 ms (hard) | p50 ratio to none |")
print("|---|---|---|---|---|---|---|---|")
for name, h in hard.items():
    q = qa[name]
    lat = h["latency_ms"]
    print(
        f"| {name.split('· ')[-1]} | {h['kinds']['paraphrase']['hit_at_5']:.2f} | {all_docs_at(h, 'multi', 5):.3f} "
        f"| {h['kinds']['multi']['all_docs_at_10']:.3f} | {q['doc']['recall']['5']:.3f} | {q['doc']['mrr']:.3f} "
        f"| {lat['p50']:.1f} / {lat['p95']:.1f} | {lat['p50'] / b50:.2f} |"
    )

// HNSW built in wasm (buildHnsw) against the exact-scan segment, under Node on the release
// package (pkg/, ./scripts/build-wasm.sh): for each size, index N one-paragraph documents
// with the hashing embedder (384 dimensions: the vectors' shape is MiniLM's, their
// neighbourhoods are not), time 200 dense queries on the flat segment (int8 codes, past 32k
// rows the 1-bit prefilter), build HNSW segment by segment, time the same queries again, and
// measure recall@10 of both against `exact: true`. A benchmark you run and report, not a test.
//
//   node tests/browser/bench-hnsw.mjs [10000,30000]
//
// Writes target/bench-hnsw.json. Timings are medians of the 200 queries in one process, both
// paths in the same run (ratios, not absolute times: the machines are shared).

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = join(ROOT, 'pkg');
const sizes = (process.argv[2] || '10000,30000').split(',').map(Number);
const { initSync, SottoEngine } = await import(join(PKG, 'sotto.js'));
initSync({ module: readFileSync(join(PKG, 'sotto_bg.wasm')) });

// A vocabulary from the project's own docs, so the texts read like documentation.
const words = [...new Set(readFileSync(join(ROOT, 'docs', 'retrieval.md'), 'utf8').toLowerCase().match(/[a-z]{3,}/g))];
// mulberry32: a small seeded generator (exact in 32-bit integer arithmetic).
let seed = 0x5077;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const text = (n) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows = [];
for (const n of sizes) {
  const e = new SottoEngine({ sentences: { at_index_time: false }, dense: { hnsw_threshold: 5000 } });
  e.loadHashingEmbedder(384);
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const docs = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ id: `d${i + j}.txt`, body: `${text(40)}.` }));
    e.addDocuments(docs);
  }
  const indexMs = performance.now() - t0;
  const queries = Array.from({ length: 200 }, () => text(6));
  const run = (opts) => {
    const ms = [];
    const ids = [];
    for (const q of queries) {
      const t = performance.now();
      const hits = e.search(q, { mode: 'dense', k: 10, ...opts });
      ms.push(performance.now() - t);
      ids.push(hits.map((h) => h.chunk_id));
    }
    return { ms: median(ms), ids };
  };
  const recall = (got, want) => got.reduce((s, g, i) => s + g.filter((id) => want[i].includes(id)).length, 0) / (10 * got.length);
  const exact = run({ exact: true });
  const flat = run({});
  const t1 = performance.now();
  const built = e.buildHnsw({ segmentVectors: 10000 });
  const buildMs = performance.now() - t1;
  const hnsw = run({});
  const row = {
    chunks: e.stats().chunks,
    index_ms: Math.round(indexMs),
    hnsw_build_ms: Math.round(buildMs),
    hnsw_build_ms_per_10k: built.sealed ? Math.round((buildMs * 10000) / built.sealed) : null,
    segments: built.steps,
    query_ms_exact_f32: +exact.ms.toFixed(3),
    query_ms_flat: +flat.ms.toFixed(3),
    query_ms_hnsw: +hnsw.ms.toFixed(3),
    flat_over_hnsw: +(flat.ms / hnsw.ms).toFixed(2),
    recall10_flat: +recall(flat.ids, exact.ids).toFixed(3),
    recall10_hnsw: +recall(hnsw.ids, exact.ids).toFixed(3),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
  e.free();
}
mkdirSync(join(ROOT, 'target'), { recursive: true });
writeFileSync(join(ROOT, 'target', 'bench-hnsw.json'), JSON.stringify({ rows }, null, 1));
console.log('| chunks | flat query ms | HNSW query ms | flat / HNSW | recall@10 flat | recall@10 HNSW | build ms per 10k | segments |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.chunks} | ${r.query_ms_flat} | ${r.query_ms_hnsw} | ${r.flat_over_hnsw} | ${r.recall10_flat} | ${r.recall10_hnsw} | ${r.hnsw_build_ms_per_10k} | ${r.segments} |`);
}

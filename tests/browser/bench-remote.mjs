// Benchmark (not a test; run by scripts/bench-remote.sh): a sharded index read by the piece
// in headless Chromium. See the script for what it reports. Timings are of a shared,
// noisy machine and a local server: they show the shape (rounds, bytes), not a network.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, openDemo } from './e2e.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = process.env.SOTTO_REMOTE_DIR;
const CLI = process.env.SOTTO_CLI;
const QUESTIONS = process.env.SOTTO_QUESTIONS;
if (!DIR || !CLI || !QUESTIONS) throw new Error('run through scripts/bench-remote.sh');
const questions = readFileSync(QUESTIONS, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const manifestFile = join(DIR, 'manifest.json');
const manifestPath = '/' + relative(join(ROOT, 'www'), join(ROOT, DIR)) + '/manifest.json';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
};
const stat = (xs) => ({ p50: pct(xs, 0.5), p95: pct(xs, 0.95), max: Math.max(...xs) });
const relevant = (q, hits) => hits.map((h) => q.relevant_docs.some((d) => h.doc_id === d || h.doc_id.endsWith('/' + d)));

function quality(results) {
  let r5 = 0;
  let mrr = 0;
  for (const { q, hits } of results) {
    const rel = relevant(q, hits.slice(0, 5));
    r5 += rel.some(Boolean) ? 1 : 0;
    const first = rel.indexOf(true);
    mrr += first < 0 ? 0 : 1 / (first + 1);
  }
  return { hit_at_5: r5 / results.length, mrr_at_5: mrr / results.length };
}

const { origin, stop } = await serve();
const out = { questions: questions.length };
try {
  // 1. a fresh profile: page ready (model from the network), open, the first query
  let browser = await launch(origin);
  let page = await openDemo(browser.context, origin, '/', 300_000);
  const url = origin + manifestPath;
  const opened = await page.evaluate((u) => window.sotto.openRemote(u), url);
  out.index = opened.info;
  out.manifest_bytes = opened.manifest_bytes;
  out.open_ms = opened.timings.open_ms;
  const first = await page.evaluate((q) => window.sotto.searchRemote(q), questions[0].question);
  out.first_query = { ms: first.timings.search_ms, embed_ms: first.timings.embed_ms, fetch_ms: first.timings.fetch_ms, requests: first.trace.requests, bytes: first.trace.bytes, rounds: first.trace.rounds };

  // 2. every question cold: no Cache API, a fresh memory cache per question
  const cold = [];
  for (const q of questions) {
    await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), url);
    const r = await page.evaluate((x) => window.sotto.searchRemote(x), q.question);
    cold.push({ q, hits: r.hits, trace: r.trace, timings: r.timings });
  }
  out.cold = {
    requests: stat(cold.map((r) => r.trace.requests)),
    bytes: stat(cold.map((r) => r.trace.bytes)),
    ms: stat(cold.map((r) => r.timings.search_ms)),
    fetch_ms: stat(cold.map((r) => r.timings.fetch_ms)),
    embed_ms: stat(cold.map((r) => r.timings.embed_ms)),
  };
  // 2b. every question answered cold (extractive, with citations): one more round, the hits' chunk and sentence shards
  const asked = [];
  for (const q of questions) {
    await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), url);
    const r = await page.evaluate((x) => window.sotto.askRemote(x), q.question);
    asked.push(r);
  }
  out.ask_cold = {
    requests: stat(asked.map((r) => r.trace.requests)),
    bytes: stat(asked.map((r) => r.trace.bytes)),
    ms: stat(asked.map((r) => r.timings.total_ms)),
    abstained: asked.filter((r) => r.answer.abstained).length,
    cites_relevant: asked.filter((r, i) => r.answer.citations.some((c) => questions[i].relevant_docs.some((d) => c.doc_id === d || c.doc_id.endsWith('/' + d)))).length,
  };
  // 3. the same questions in one session (memory cache on): shards shared between questions are fetched once
  await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), url);
  const session = [];
  for (const q of questions) session.push(await page.evaluate((x) => window.sotto.searchRemote(x), q.question));
  out.session = {
    requests: stat(session.map((r) => r.trace.requests)),
    bytes: stat(session.map((r) => r.trace.bytes)),
    total_bytes: session.reduce((a, r) => a + r.trace.bytes, 0),
    ms: stat(session.map((r) => r.timings.search_ms)),
  };
  await browser.close();

  // 4. a second visit: a new page of the same profile (Cache API warm) — the first query again
  // (the persistent profile is gone with close(); so: fill the Cache API, reload, query)
  browser = await launch(origin);
  page = await openDemo(browser.context, origin, '/', 300_000);
  await page.evaluate((u) => window.sotto.openRemote(u), url);
  await page.evaluate((q) => window.sotto.searchRemote(q), questions[0].question);
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: 300_000 });
  await page.evaluate((u) => window.sotto.openRemote(u), url);
  const again = await page.evaluate((q) => window.sotto.searchRemote(q), questions[0].question);
  out.first_query_second_visit = { ms: again.timings.search_ms, requests: again.trace.requests, cache_api_hits: again.trace.cache_api_hits };
  await browser.close();

  // 5. quality and parity with the CLI on the same shard files
  out.quality = quality(cold);
  let same = 0;
  for (const r of cold) {
    const native = JSON.parse(execFileSync(CLI, ['search', manifestFile, r.q.question, '--json'], { encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 }));
    const a = r.hits.map((h) => h.chunk_id).join(',');
    const b = native.hits.map((h) => h.chunk_id).join(',');
    same += a === b ? 1 : 0;
  }
  out.identical_to_cli = same;

  // 6. with a packed file (the manifest lists one): the 30 questions cold (search, then
  // answer) from the shard files, from the pack one Range request per shard, and from the
  // pack with a round's adjacent shards coalesced; then a server without Range support
  if (out.index && JSON.parse(readFileSync(manifestFile, 'utf8')).pack) {
    out.pack = {};
    browser = await launch(origin);
    page = await openDemo(browser.context, origin, '/', 300_000);
    const variants = { files: { pack: 'never' }, range: { coalesce: false }, range_coalesced: {} };
    for (const [name, opts] of Object.entries(variants)) {
      const rows = { search: [], ask: [] };
      for (const q of questions) {
        for (const op of ['search', 'ask']) {
          await page.evaluate(({ u, o }) => window.sotto.openRemote(u, { ...o, cache: false }), { u: url, o: opts });
          const r = await page.evaluate(({ op, x }) => (op === 'search' ? window.sotto.searchRemote(x) : window.sotto.askRemote(x)), { op, x: q.question });
          rows[op].push(r);
        }
      }
      const summary = (rs, ms) => ({ requests: stat(rs.map((r) => r.trace.requests)), bytes: stat(rs.map((r) => r.trace.bytes)), ms: stat(rs.map(ms)), fallback: rs.filter((r) => r.trace.pack_fallback).length });
      out.pack[name] = {
        search: summary(rows.search, (r) => r.timings.search_ms),
        ask: summary(rows.ask, (r) => r.timings.total_ms),
        same_hits_as_cold: rows.search.filter((r, i) => r.hits.map((h) => h.chunk_id).join() === cold[i].hits.map((h) => h.chunk_id).join()).length,
      };
    }
    await browser.close();
    // a host without Range: the first request to the pack is refused unread, then the files
    const noRange = await serve(['--no-range']);
    try {
      browser = await launch(noRange.origin);
      page = await openDemo(browser.context, noRange.origin, '/', 300_000);
      const u2 = noRange.origin + manifestPath;
      const rows = [];
      await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), u2);
      for (const q of questions) {
        rows.push(await page.evaluate((x) => window.sotto.searchRemote(x), q.question));
      }
      out.pack.no_range_session = { fallback: rows[0].trace.pack_fallback, first_requests: rows[0].trace.requests, total_bytes: rows.reduce((a, r) => a + r.trace.bytes, 0) };
      await browser.close();
    } finally {
      noRange.stop();
    }
  }
} finally {
  stop();
}
mkdirSync(join(ROOT, 'target'), { recursive: true });
writeFileSync(join(ROOT, 'target', 'bench-remote.json'), JSON.stringify(out, null, 1));
const kb = (b) => (b / 1000).toFixed(0) + ' kB';
console.log(`index: ${out.index.documents} documents, ${out.index.chunks} chunks, ${out.index.shards} shards, ${kb(out.index.shard_bytes)} in all; manifest ${kb(out.manifest_bytes)}`);
console.log(`first query, fresh profile: ${out.first_query.ms.toFixed(0)} ms (embed ${out.first_query.embed_ms.toFixed(0)}, fetch ${out.first_query.fetch_ms.toFixed(0)}), ${out.first_query.requests} requests, ${kb(out.first_query.bytes)}`);
console.log(`cold per question: requests p50 ${out.cold.requests.p50} p95 ${out.cold.requests.p95}; bytes p50 ${kb(out.cold.bytes.p50)} p95 ${kb(out.cold.bytes.p95)}; ms p50 ${out.cold.ms.p50.toFixed(0)} p95 ${out.cold.ms.p95.toFixed(0)}`);
console.log(`answers, cold per question: requests p50 ${out.ask_cold.requests.p50} p95 ${out.ask_cold.requests.p95}; bytes p50 ${kb(out.ask_cold.bytes.p50)} p95 ${kb(out.ask_cold.bytes.p95)}; ms p50 ${out.ask_cold.ms.p50.toFixed(0)} p95 ${out.ask_cold.ms.p95.toFixed(0)}; ${out.ask_cold.abstained} abstained, ${out.ask_cold.cites_relevant} cite a relevant page`);
console.log(`one session of ${questions.length}: ${kb(out.session.total_bytes)} in all; bytes p50 ${kb(out.session.bytes.p50)}; ms p50 ${out.session.ms.p50.toFixed(0)}`);
console.log(`second visit, first query: ${out.first_query_second_visit.ms.toFixed(0)} ms, ${out.first_query_second_visit.requests} requests, ${out.first_query_second_visit.cache_api_hits} from the Cache API`);
console.log(`hit@5 ${out.quality.hit_at_5.toFixed(3)}, MRR@5 ${out.quality.mrr_at_5.toFixed(3)}; ${out.identical_to_cli}/${questions.length} hit lists identical to the CLI's`);
if (out.pack) {
  console.log('cold, 30 questions:            search requests p50/p95 | bytes p50/p95 | ms p50/p95 || answer requests p50/p95 | bytes p50/p95 | ms p50/p95');
  for (const [name, v] of Object.entries(out.pack).filter(([n]) => n !== 'no_range_session')) {
    const row = (x, ms) => `${x.requests.p50}/${x.requests.p95} | ${kb(x.bytes.p50)}/${kb(x.bytes.p95)} | ${x.ms.p50.toFixed(0)}/${x.ms.p95.toFixed(0)}`;
    console.log(`  ${name.padEnd(28)} ${row(v.search)} || ${row(v.ask)}; ${v.same_hits_as_cold}/${questions.length} same hits; ${v.search.fallback + v.ask.fallback} fell back`);
  }
  const n = out.pack.no_range_session;
  console.log(`no Range on the host: ${n.fallback}; first query ${n.first_requests} requests; the session read ${kb(n.total_bytes)}`);
}

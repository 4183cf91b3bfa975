// A sharded index read by the piece in headless Chromium (client.openRemote /
// searchRemote), against the real static server (scripts/serve.py), the real
// all-MiniLM-L6-v2 and the native CLI on the same shard files:
//
//  parity    the browser's hits equal `sotto search MANIFEST --json` (hybrid, sparse,
//            dense, a filter, another nprobe): same chunks in the same order, same scores;
//            the CLI reading the same files over http:// from the same server agrees
//  answers   askRemote's extractive answer and its cited spans equal `sotto ask MANIFEST --json`;
//            a generative answer is refused (InvalidOption)
//  bytes     a cold query fetches only some of the shards (requests and bytes counted);
//            the same query again fetches nothing (memory cache); after a reload the
//            shards come from the Cache API (no request)
//  faults    a shard that arrives damaged once is fetched again and the query succeeds; a body
//            longer than the table's entry is cut off by the worker ("Corrupt"); damaged
//            every time → "Corrupt"; HTTP 404 → "ShardUnavailable"; a stalled request →
//            "Timeout"; after each, the same engine answers the next query; a manifest of
//            another embedder → "EmbedderMismatch", of a future version → "IndexFormat";
//            an option a sharded index lacks → "InvalidOption"; searchRemote before
//            openRemote → "WrongState"
//  update    the host replaced the index (a new manifest, a page removed; the old shards are
//            still there, by hash): the old manifest keeps working; refreshRemote opens the new
//            one; a page whose old shards are gone (404) re-reads the manifest and answers
//            from the new index
//  hnsw      an index the CLI built with HNSW segments (low threshold) loads in wasm and
//            searches as the CLI does (same chunks, same scores), close to the exact scan
//  restart   the worker crashes (an injected panic): the restarted worker reopens the remote index
//
// Environment (scripts/test-browser.sh sets them): SOTTO_REMOTE_DIR (served as /remote-sample/:
// manifest.json the current index, manifest-v1.json the previous one, sample-hnsw.sotto),
// SOTTO_CLI, SOTTO_MODELS.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, openDemo } from './e2e.mjs';
import { CLI, cli, sameHits, search, fails } from './remote-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = process.env.SOTTO_REMOTE_DIR || join(ROOT, 'www', 'remote-sample');
const V1 = join(DIR, 'manifest-v1.json');
const MANIFEST_PATH = '/remote-sample/manifest.json';
// The single-file index written by the same CLI run as the previous shards, with HNSW segments.
const HNSW_FILE = join(DIR, 'sample-hnsw.sotto');
const HNSW_PATH = '/remote-sample/sample-hnsw.sotto';
const T = { ready: 240_000 };

const v2 = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
const v1Bytes = readFileSync(V1);
const v1 = JSON.parse(v1Bytes);


const { origin, stop } = await serve();
const browser = await launch(origin);
const t0 = Date.now();
try {
  const page = await openDemo(browser.context, origin, '/', T.ready);
  const url = origin + MANIFEST_PATH;

  // Before opening: a typed error, not a crash.
  let err = await fails(page, 'searchRemote', 'cargo');
  assert.equal(err?.kind, 'WrongState', JSON.stringify(err));

  // ---- the current index: parity with the CLI ----
  const opened = await page.evaluate((u) => window.sotto.openRemote(u), url);
  assert.equal(opened.info.chunks, v2.chunks);
  assert.equal(opened.info.shards, v2.shards.length);
  assert.equal(opened.info.grader, 'shipped_default', 'a MiniLM index without calibration grades with the shipped default');
  console.log(`  opened: ${opened.info.documents} documents, ${opened.info.chunks} chunks, ${opened.info.shards} shards (${opened.info.shard_bytes} bytes), manifest ${opened.manifest_bytes} bytes`);
  const manifestFile = join(DIR, 'manifest.json');
  const cases = [
    ['How does Sotto detect near-duplicate chunks?', {}, []],
    ['BM25 parameters k1 and b', { mode: 'sparse', k: 8 }, ['--mode', 'sparse', '-k', '8']],
    ['where are model files cached in the browser', { mode: 'dense' }, ['--mode', 'dense']],
    ['index format version', { nprobe: 1 }, ['--nprobe', '1']],
  ];
  for (const [q, opts, args] of cases) {
    const r = await search(page, q, opts);
    sameHits(r.hits, cli(manifestFile, q, args), `${q} ${JSON.stringify(opts)}`);
    assert.ok(r.hits.length > 0, `${q}: no hits`);
  }
  // The CLI reads the same files over HTTP from the same server: the same hits, and what it fetched.
  const overHttp = cli(url, cases[0][0]);
  sameHits(overHttp.hits, cli(manifestFile, cases[0][0]), 'the CLI over http://');
  assert.ok(overHttp.shards.requests > 0 && overHttp.shards.bytes > 0, JSON.stringify(overHttp.shards));
  assert.throws(() => execFileSync(CLI, ['search', `${origin}/remote-sample/missing/manifest.json`, 'cargo'], { env: process.env, stdio: 'pipe' }), /HTTP 404/);
  // A filter: only the chunks of one document, as the CLI filters.
  const oneDoc = (await search(page, 'retrieval', {})).hits[0].doc_id;
  const filtered = await search(page, 'how are answers cited', { filters: [{ op: 'equals', key: 'id', value: oneDoc }] });
  assert.ok(filtered.hits.length > 0 && filtered.hits.every((h) => h.doc_id === oneDoc), 'the filter let other documents through');
  sameHits(filtered.hits, cli(manifestFile, 'how are answers cited', ['--filter', `id=${oneDoc}`]), 'filter');

  // ---- answers: the browser's extractive answer is the CLI's on the same files ----
  for (const aq of ['How does Sotto detect near-duplicate chunks?', 'How large may a shard be?']) {
    const a = await page.evaluate((x) => window.sotto.askRemote(x), aq);
    const native = JSON.parse(execFileSync(CLI, ['ask', manifestFile, aq, '--json'], { env: process.env, encoding: 'utf8', maxBuffer: 64 << 20 }));
    assert.equal(a.answer.abstained, false, `${aq}: abstained`);
    assert.ok(a.answer.citations.length > 0, `${aq}: no citation`);
    assert.equal(a.answer.answer, native.answer.answer, aq);
    const spans = (cs) => cs.map((c) => [c.doc_id, c.start, c.end]);
    assert.deepEqual(spans(a.answer.citations), spans(native.answer.citations), aq);
    assert.ok(a.trace.shards.some((n) => n.startsWith('sent-')) && a.trace.rounds <= 4, JSON.stringify(a.trace));
    assert.equal(a.answer.grade?.calibration, 'shipped_default', `${aq}: graded`);
    assert.deepEqual([a.answer.grade.grade, a.answer.grade.actions], [native.answer.grade.grade, native.answer.grade.actions], aq);
  }
  // Out of scope: graded in the browser as natively (abstained or not, the same text).
  {
    const aq = 'What is the boiling point of olive oil?';
    const a = await page.evaluate((x) => window.sotto.askRemote(x), aq);
    const native = JSON.parse(execFileSync(CLI, ['ask', manifestFile, aq, '--json'], { env: process.env, encoding: 'utf8', maxBuffer: 64 << 20 }));
    assert.deepEqual([a.answer.abstained, a.answer.answer, a.answer.grade?.grade], [native.answer.abstained, native.answer.answer, native.answer.grade?.grade], aq);
    console.log(`  out of scope: ${a.answer.grade?.grade} (${a.answer.grade?.confidence?.toFixed(3)}), abstained ${a.answer.abstained}`);
  }
  err = await fails(page, 'askRemote', 'How large may a shard be?', { mode: 'generative' });
  assert.equal(err?.kind, 'InvalidOption', JSON.stringify(err));

  // ---- bytes: cold, memory cache, Cache API after a reload ----
  // a fresh in-memory cache (reopened) and an empty Cache API (the parity queries filled it)
  await page.evaluate(async (u) => (await caches.delete('sotto-shards-v1'), await window.sotto.openRemote(u)), url);
  const q = 'What does the wasm build strip from the release package?';
  const cold = await search(page, q);
  assert.ok(cold.trace.requests > 0 && cold.trace.bytes > 0, JSON.stringify(cold.trace));
  assert.ok(cold.trace.bytes < opened.info.shard_bytes, `a query fetched ${cold.trace.bytes} of ${opened.info.shard_bytes} bytes: everything`);
  assert.ok(cold.trace.rounds >= 2 && cold.trace.rounds <= 3 && cold.trace.cache_api_hits === 0 && cold.trace.cache_hits === 0, JSON.stringify(cold.trace));
  assert.equal(cold.trace.shards.length, cold.trace.requests, JSON.stringify(cold.trace));
  const warm = await search(page, q);
  assert.equal(warm.trace.requests, 0, 'the same query again fetched shards');
  assert.equal(warm.trace.rounds, 0);
  assert.equal(warm.trace.cache_hits, cold.trace.shards.length, JSON.stringify(warm.trace));
  assert.deepEqual(warm.hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  console.log(`  cold query: ${cold.trace.requests} requests, ${cold.trace.bytes} bytes, ${cold.timings.search_ms.toFixed(0)} ms (fetch ${cold.trace.fetch_ms.toFixed(0)} ms); again: 0 requests, ${warm.timings.search_ms.toFixed(0)} ms`);
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
  await page.evaluate((u) => window.sotto.openRemote(u), url);
  const cached = await search(page, q);
  assert.equal(cached.trace.requests, 0, `after a reload the shards should come from the Cache API: ${JSON.stringify(cached.trace)}`);
  assert.equal(cached.trace.cache_api_hits, cold.trace.requests);
  assert.deepEqual(cached.hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  console.log(`  after a reload: ${cached.trace.cache_api_hits} shards from the Cache API, ${cached.timings.search_ms.toFixed(0)} ms`);

  // ---- faults (no Cache API, a fresh memory cache each time: every shard comes from the server) ----
  const fresh = () => page.evaluate((u) => window.sotto.openRemote(u, { cache: false, timeoutMs: 2000 }), url);
  const names = cold.trace.shards;
  const victim = names[names.length - 1]; // a chunk shard (the last round)
  const victimUrl = `${origin}/remote-sample/${victim}`;
  const flip = async (route) => {
    const resp = await route.fetch();
    const body = Buffer.from(await resp.body());
    body[body.length >> 1] ^= 0xff;
    await route.fulfill({ response: resp, body });
  };
  // damaged once: fetched again, the query succeeds
  await fresh();
  await browser.context.route(victimUrl, flip, { times: 1 });
  const repaired = await search(page, q);
  assert.equal(repaired.trace.refetched, 1, JSON.stringify(repaired.trace));
  assert.deepEqual(repaired.hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  // a body longer than the table says: the worker stops reading at the listed size (its own
  // error, before the engine sees any byte), fetches once more, then refuses; the engine answers after
  await fresh();
  await browser.context.route(victimUrl, async (route) => {
    const resp = await route.fetch();
    await route.fulfill({ response: resp, body: Buffer.concat([Buffer.from(await resp.body()), Buffer.alloc(1 << 20)]) });
  });
  err = await fails(page, 'searchRemote', q);
  assert.equal(err?.kind, 'Corrupt', JSON.stringify(err));
  assert.match(err.message, /sent more than the \d+ bytes expected/);
  await browser.context.unroute(victimUrl);
  assert.deepEqual((await search(page, q)).hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  // damaged every time: Corrupt, then the engine answers again
  await fresh();
  await browser.context.route(victimUrl, flip);
  err = await fails(page, 'searchRemote', q);
  assert.equal(err?.kind, 'Corrupt', JSON.stringify(err));
  await browser.context.unroute(victimUrl);
  assert.deepEqual((await search(page, q)).hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  // 404
  await fresh();
  await browser.context.route(victimUrl, (route) => route.fulfill({ status: 404, body: 'not found' }));
  err = await fails(page, 'searchRemote', q);
  assert.equal(err?.kind, 'ShardUnavailable', JSON.stringify(err));
  assert.match(err.message, /404/);
  await browser.context.unroute(victimUrl);
  assert.equal((await search(page, q)).hits.length, cold.hits.length);
  // a stalled request: Timeout after timeoutMs
  await fresh();
  const stalled = [];
  await browser.context.route(victimUrl, (route) => stalled.push(route)); // never answered
  const t1 = Date.now();
  err = await fails(page, 'searchRemote', q);
  assert.equal(err?.kind, 'Timeout', JSON.stringify(err));
  assert.ok(Date.now() - t1 < 30_000, 'the timeout did not fire');
  await browser.context.unroute(victimUrl);
  for (const r of stalled) await r.abort().catch(() => {});
  assert.equal((await search(page, q)).hits.length, cold.hits.length);
  // manifests the engine must refuse; the open index stays usable
  const served = (json) => (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(json) });
  const bad = origin + '/remote-sample/bad-manifest.json';
  await browser.context.route(bad, served({ ...v2, embedder: { ...v2.embedder, weights_sha256: '0'.repeat(64) } }));
  err = await fails(page, 'openRemote', bad);
  assert.equal(err?.kind, 'EmbedderMismatch', JSON.stringify(err));
  await browser.context.unroute(bad);
  await browser.context.route(bad, served({ ...v2, format_version: v2.format_version + 1 }));
  err = await fails(page, 'openRemote', bad);
  assert.equal(err?.kind, 'IndexFormat', JSON.stringify(err));
  await browser.context.unroute(bad);
  err = await fails(page, 'searchRemote', q, { translate: 'multi' });
  assert.equal(err?.kind, 'InvalidOption', JSON.stringify(err));
  assert.equal((await search(page, q)).hits.length, cold.hits.length, 'the open index stopped answering after refused manifests');
  console.log('  faults: damaged once (refetched), damaged always, 404, stalled, foreign embedder, future version, unsupported option: typed errors, engine usable');

  // ---- an update on the host: old manifest still works; refresh; a vanished old shard ----
  const manifestUrl = url;
  const asV1 = (route) => route.fulfill({ status: 200, contentType: 'application/json', body: v1Bytes });
  await browser.context.route(manifestUrl, asV1);
  const old = await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), url);
  assert.equal(old.info.chunks, v1.chunks);
  const uq = 'What does the remote update fixture say about the zanzibarite lighthouse?';
  const fixture = (hits) => hits.some((h) => h.doc_id.includes('remote-update'));
  const before = await search(page, uq);
  sameHits(before.hits, cli(V1, uq), 'old manifest');
  assert.ok(before.hits[0]?.doc_id.includes('remote-update'), `the old index does not find its fixture page first: ${JSON.stringify(before.hits.map((h) => h.doc_id))}`);
  let refreshed = await page.evaluate(() => window.sotto.refreshRemote());
  assert.equal(refreshed.updated, false, 'an unchanged manifest counted as an update');
  await browser.context.unroute(manifestUrl);
  refreshed = await page.evaluate(() => window.sotto.refreshRemote());
  assert.equal(refreshed.updated, true);
  assert.equal(refreshed.info.chunks, v2.chunks);
  const after = await search(page, uq);
  assert.ok(after.hits.length > 0 && !fixture(after.hits), `the new index still has the removed page: ${JSON.stringify(after.hits.map((h) => h.doc_id))}`);
  sameHits(after.hits, cli(manifestFile, uq), 'new manifest');
  // the page holds v1; v1's shards (none is v2's) are gone from the host: the query re-reads the manifest
  await browser.context.route(manifestUrl, asV1);
  await page.evaluate((u) => window.sotto.openRemote(u, { cache: false }), url);
  await browser.context.unroute(manifestUrl);
  const v2names = new Set(v2.shards.map((s) => s.name));
  const v1only = before.trace.shards.filter((n) => !v2names.has(n));
  assert.ok(v1only.length > 0, 'the two versions share every shard this query uses: the fixture cannot test a vanished shard');
  for (const n of v1only) await browser.context.route(`${origin}/remote-sample/${n}`, (route) => route.fulfill({ status: 404, body: '' }));
  const healed = await search(page, uq);
  assert.equal(healed.trace.manifest_updated, true, JSON.stringify(healed.trace));
  assert.deepEqual(healed.hits.map((h) => h.chunk_id), after.hits.map((h) => h.chunk_id));
  for (const n of v1only) await browser.context.unroute(`${origin}/remote-sample/${n}`);
  console.log(`  update: old manifest answered, refresh opened the new one, a vanished old shard (${v1only.length}) → re-read and answered`);

  // ---- the Cache API keeps only the current version's shards (prune) ----
  {
    const keys = () => page.evaluate(async () => (await (await caches.open('sotto-shards-v1')).keys()).map((r) => r.url));
    const put = (u) => page.evaluate(async (x) => (await caches.open('sotto-shards-v1')).put(x, new Response('x')), u);
    await page.evaluate(() => caches.delete('sotto-shards-v1'));
    await browser.context.route(manifestUrl, asV1);
    await page.evaluate((u) => window.sotto.openRemote(u), url);
    const v1run = await search(page, uq); // fills the Cache API with v1's shards
    await browser.context.unroute(manifestUrl);
    const base = `${origin}/remote-sample/`;
    const stale = v1run.trace.shards.filter((n) => !v2names.has(n)).map((n) => base + n);
    const cached = new Set(await keys());
    assert.ok(stale.length > 0 && stale.every((u) => cached.has(u)), `v1's own shards are not cached: ${stale.length}`);
    // Not ours to delete: a shard name under another directory, a non-shard file here.
    const others = [`${origin}/another-index/${stale[0].slice(base.length)}`, `${base}manifest-v1.json`];
    for (const u of others) await put(u);
    const v2open = await page.evaluate((u) => window.sotto.openRemote(u), url);
    let left = new Set(await keys());
    assert.ok(v2open.pruned >= stale.length, `pruned ${v2open.pruned}, ${stale.length} stale shards cached`);
    assert.deepEqual(stale.filter((u) => left.has(u)), [], 'stale shards left in the Cache API');
    assert.ok(others.every((u) => left.has(u)), 'prune deleted an entry that is not an old shard of this index');
    assert.ok([...left].filter((u) => u.startsWith(base)).every((u) => v2names.has(u.slice(base.length)) || others.includes(u)), 'a cached shard of this directory is not in the manifest');
    // prune: false keeps them.
    await put(stale[0]);
    const kept = await page.evaluate((u) => window.sotto.openRemote(u, { prune: false }), url);
    left = new Set(await keys());
    assert.equal(kept.pruned, 0);
    assert.ok(left.has(stale[0]), 'prune: false deleted a shard');
    const afterPrune = await search(page, uq);
    sameHits(afterPrune.hits, cli(manifestFile, uq), 'after the prune');
    console.log(`  prune: ${v2open.pruned} old shards deleted from the Cache API in ${v2open.timings.prune_ms.toFixed(1)} ms; other entries kept`);
  }

  // ---- HNSW segments in wasm: an index the CLI built with HNSW (a low threshold), imported
  // into the page, searched as the CLI searches it ----
  const hnsw = await page.evaluate(async (path) => {
    const bytes = new Uint8Array(await (await fetch(path)).arrayBuffer());
    return (await window.sotto.importIndex(bytes)).stats;
  }, HNSW_PATH);
  assert.ok(hnsw.hnsw_vectors > 0 && hnsw.hnsw_vectors <= hnsw.chunks, `the imported index has no HNSW segment: ${JSON.stringify(hnsw)}`);
  for (const hq of ['How large may a shard be?', 'what limits the size of a document', 'zanzibarite lighthouse']) {
    const inPage = await page.evaluate((x) => window.sotto.search(x, { mode: 'dense' }), hq);
    sameHits(inPage.hits, cli(HNSW_FILE, hq, ['--mode', 'dense']), `HNSW, ${hq}`);
    const exact = await page.evaluate((x) => window.sotto.search(x, { mode: 'dense', exact: true }), hq);
    const overlap = inPage.hits.filter((h) => exact.hits.some((e) => e.chunk_id === h.chunk_id)).length;
    assert.ok(overlap >= inPage.hits.length - 1, `HNSW top ${inPage.hits.length} shares only ${overlap} chunks with the exact scan`);
  }
  console.log(`  HNSW: ${hnsw.hnsw_vectors} of ${hnsw.chunks} vectors in HNSW segments, searched in wasm as natively`);

  // ---- the worker builds HNSW itself, segment by segment (the imported index's threshold is 16) ----
  const added = await page.evaluate(async () => {
    const body = await (await fetch('/sample/docs/index-format.md')).text();
    return (await window.sotto.addDocuments([{ id: 'hnsw-extra.md', body }])).stats;
  });
  const flatBefore = added.chunks - added.hnsw_vectors;
  assert.ok(flatBefore >= 16, `only ${flatBefore} new exact-scan vectors: the test needs the threshold's 16`);
  const events = [];
  await page.exposeFunction('hnswProgress', (p) => events.push(p));
  const built = await page.evaluate(() => window.sotto.buildHnsw({ segmentVectors: 8 }, { onProgress: (p) => window.hnswProgress(p) }));
  assert.ok(built.report.steps >= 2 && !built.report.cancelled, JSON.stringify(built.report));
  assert.equal(built.report.hnsw_vectors + built.report.flat_vectors, added.chunks);
  assert.ok(built.report.flat_vectors < 16 && built.stats.hnsw_vectors === built.report.hnsw_vectors, JSON.stringify(built));
  assert.ok(events.filter((p) => p.stage === 'hnsw').length === built.report.steps, JSON.stringify(events));
  for (const hq of ['How large may a shard be?', 'the layout of a sharded index manifest']) {
    const approx = await page.evaluate((x) => window.sotto.search(x, { mode: 'dense' }), hq);
    const exact = await page.evaluate((x) => window.sotto.search(x, { mode: 'dense', exact: true }), hq);
    const overlap = approx.hits.filter((h) => exact.hits.some((e) => e.chunk_id === h.chunk_id)).length;
    assert.ok(overlap >= approx.hits.length - 1, `after buildHnsw, top ${approx.hits.length} shares only ${overlap} chunks with the exact scan`);
  }
  err = await fails(page, 'buildHnsw', { segmentVectors: 0 });
  assert.equal(err?.kind, 'InvalidOption', JSON.stringify(err));
  err = await fails(page, 'buildHnsw', { segments: 4 });
  assert.equal(err?.kind, 'InvalidOption', JSON.stringify(err));
  const nothing = await page.evaluate(() => window.sotto.buildHnsw());
  assert.equal(nothing.report.steps, 0, 'nothing left to build, nothing built');
  console.log(`  buildHnsw: ${built.report.sealed} vectors sealed in ${built.report.steps} segments in ${built.timings.hnsw_ms.toFixed(0)} ms; ${built.report.flat_vectors} left to the exact scan`);

  // ---- a crashed worker reopens the remote index ----
  await page.goto(origin + '/?faults=1');
  await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
  await page.evaluate((u) => window.sotto.openRemote(u), url);
  // The page loads its embedder again after opening the remote index (the client records the
  // embedder after it now): the restart must still reopen the remote index after the embedder.
  await page.evaluate(async () => {
    const s = window.sotto.setup.find((x) => x.op === 'loadEmbedder');
    await window.sotto.request('loadEmbedder', s.args);
  });
  err = await fails(page, 'injectFault', 'panic');
  assert.equal(err?.kind, 'Panic', JSON.stringify(err));
  const again = await search(page, q);
  assert.deepEqual(again.hits.map((h) => h.chunk_id), cold.hits.map((h) => h.chunk_id));
  const info = await page.evaluate(() => window.sotto.remoteInfo());
  assert.equal(info.url, url);

  assert.deepEqual(page.errors, [], 'page errors');
  assert.deepEqual(browser.offOrigin, [], 'requests left the origin');
  console.log(`remote index in Chromium: passed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
} finally {
  await browser.close();
  stop();
}

// A sharded index with a packed file (`sotto shard IDX OUT --pack`), read with HTTP Range
// requests in headless Chromium against scripts/serve.py, and by the CLI over http://:
//
//  range     openRemote (pack: 'auto') reads every shard from the pack (206, Content-Range);
//            no request goes to a shard file; the hits and answers equal the CLI's on the same
//            files and the browser's own with pack: 'never' (which requests only shard files);
//            coalescing a round's adjacent shards into one request changes requests, not hits;
//            the Cache API keeps the shards under their own names (a reload fetches nothing)
//  damage    pack bytes damaged once: the shard is fetched once more and the query succeeds;
//            damaged every time: "Corrupt"; the engine answers the next query
//  fallback  a 416, a wrong Content-Range: the index switches to the shard files for the
//            session (trace.pack_fallback says why), same hits; serve.py --no-range (every
//            Range ignored, 200 with the whole pack): the same, and the pack's body is not read
//  cli       `sotto search http://…/manifest.json --json` with and without Range support on the
//            server, and with --pack-reads never: the same hits; its `pack` report says what it did
//
// Environment (scripts/test-browser.sh sets them): SOTTO_PACK_DIR (served as /remote-pack/:
// manifest.json with a pack, and the shard files), SOTTO_CLI, SOTTO_MODELS.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch, openDemo } from './e2e.mjs';
import { CLI, cli, sameHits, search, fails } from './remote-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = process.env.SOTTO_PACK_DIR || join(ROOT, 'www', 'remote-pack');
const PATH = `/${basename(DIR)}`;
const T = { ready: 240_000 };
const manifestFile = join(DIR, 'manifest.json');
const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
assert.ok(manifest.pack?.name, `${manifestFile} lists no pack (write it with --pack)`);
const PACK = manifest.pack.name;

const open = (page, url, opts = {}) => page.evaluate(({ u, o }) => window.sotto.openRemote(u, o), { u: url, o: opts });
/** The requests made while `fn` ran: to the pack, and to shard files. */
async function counting(browser, origin, fn) {
  const from = browser.requests.length;
  const result = await fn();
  const urls = browser.requests.slice(from).filter((u) => u.startsWith(`${origin}${PATH}/`));
  return { result, pack: urls.filter((u) => u.endsWith(PACK)).length, files: urls.filter((u) => /\/(dict|post|vec|chunk|sent)-[0-9a-f]{32}\.bin$/.test(u)).length };
}

const queries = [
  ['How does Sotto detect near-duplicate chunks?', {}, []],
  ['BM25 parameters k1 and b', { mode: 'sparse', k: 8 }, ['--mode', 'sparse', '-k', '8']],
  ['where are model files cached in the browser', { mode: 'dense' }, ['--mode', 'dense']],
  ['index format version', { nprobe: 1 }, ['--nprobe', '1']],
  ['What does the wasm build strip from the release package?', {}, []],
];
const t0 = Date.now();

// ---- a server with Range support ----
{
  const { origin, stop } = await serve();
  const browser = await launch(origin);
  try {
    const page = await openDemo(browser.context, origin, '/', T.ready);
    const url = `${origin}${PATH}/manifest.json`;

    // range: every shard from the pack, the CLI's hits
    const cold = [];
    for (const [q, opts, args] of queries) {
      await open(page, url, { cache: false });
      const { result: r, pack, files } = await counting(browser, origin, () => search(page, q, opts));
      sameHits(r.hits, cli(manifestFile, q, args), `pack: ${q}`);
      assert.equal(r.trace.pack, PACK, JSON.stringify(r.trace));
      assert.equal(r.trace.pack_fallback, null, JSON.stringify(r.trace));
      assert.equal(files, 0, `${q}: ${files} requests went to shard files`);
      assert.ok(pack > 0 && r.trace.range_requests === pack && r.trace.requests === pack, `${q}: ${pack} pack requests, trace ${JSON.stringify(r.trace)}`);
      assert.ok(r.trace.bytes < manifest.pack.bytes, `${q}: ${r.trace.bytes} bytes: the whole pack`);
      cold.push(r);
    }
    // the same queries from the shard files (pack: 'never'), and without coalescing: same hits
    let [req, reqSingle, reqFiles] = [0, 0, 0];
    for (const [i, [q, opts]] of queries.entries()) {
      await open(page, url, { cache: false, pack: 'never' });
      const { result: f, pack, files } = await counting(browser, origin, () => search(page, q, opts));
      sameHits(f.hits, cold[i].hits, `never: ${q}`);
      assert.equal(pack, 0, `pack: 'never' asked the pack ${pack} times`);
      assert.ok(files > 0 && f.trace.pack === null && f.trace.range_requests === 0, JSON.stringify(f.trace));
      assert.equal(f.trace.bytes, cold[i].trace.bytes, `${q}: the pack and the files differ in bytes`);
      await open(page, url, { cache: false, coalesce: false });
      const single = await search(page, q, opts);
      sameHits(single.hits, cold[i].hits, `coalesce: false: ${q}`);
      assert.equal(single.trace.requests, f.trace.requests, `${q}: one Range request per shard without coalescing`);
      assert.ok(cold[i].trace.requests <= single.trace.requests, `${q}: coalescing added requests`);
      req += cold[i].trace.requests;
      reqSingle += single.trace.requests;
      reqFiles += f.trace.requests;
    }
    console.log(`  ${queries.length} cold queries: ${req} Range requests coalesced, ${reqSingle} one per shard, ${reqFiles} shard files; same hits`);
    const bad = await fails(page, 'openRemote', url, { pack: 'sometimes' });
    assert.equal(bad?.kind, 'InvalidOption', JSON.stringify(bad));

    // answers: the CLI's on the same files
    await open(page, url, { cache: false });
    for (const aq of ['How does Sotto detect near-duplicate chunks?', 'How large may a shard be?']) {
      const a = await page.evaluate((x) => window.sotto.askRemote(x), aq);
      const native = JSON.parse(execFileSync(CLI, ['ask', manifestFile, aq, '--json'], { env: process.env, encoding: 'utf8', maxBuffer: 64 << 20 }));
      assert.equal(a.answer.answer, native.answer.answer, aq);
      assert.deepEqual(a.answer.citations.map((c) => [c.doc_id, c.start, c.end]), native.answer.citations.map((c) => [c.doc_id, c.start, c.end]), aq);
      assert.ok(a.trace.range_requests > 0 || a.trace.cache_hits > 0, JSON.stringify(a.trace));
    }

    // the Cache API keeps shards under their own names: a reload fetches nothing
    const [q] = queries[4];
    await page.evaluate(async (u) => (await caches.delete('sotto-shards-v1'), await window.sotto.openRemote(u)), url);
    const first = await search(page, q);
    assert.ok(first.trace.range_requests > 0, JSON.stringify(first.trace));
    const stored = await page.evaluate(async ({ base, names }) => {
      const c = await caches.open('sotto-shards-v1');
      return Promise.all(names.map(async (n) => !!(await c.match(base + n))));
    }, { base: `${origin}${PATH}/`, names: first.trace.shards });
    assert.ok(stored.every(Boolean), `shards missing from the Cache API under their names: ${JSON.stringify(stored)}`);
    assert.equal(await page.evaluate(async (u) => !!(await (await caches.open('sotto-shards-v1')).match(u)), `${origin}${PATH}/${PACK}`), false, 'the pack itself was cached');
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
    await open(page, url);
    const again = await search(page, q);
    assert.equal(again.trace.requests, 0, JSON.stringify(again.trace));
    assert.equal(again.trace.cache_api_hits, first.trace.shards.length);
    sameHits(again.hits, first.hits, 'from the Cache API');
    console.log(`  range: ${queries.length} searches and 2 answers as the CLI's, ${first.trace.range_requests} Range requests cold, 0 after a reload (Cache API)`);

    // damage: the pack's bytes flipped in the response
    const packUrl = `${origin}${PATH}/${PACK}`;
    const flip = async (route) => {
      const resp = await route.fetch();
      const body = Buffer.from(await resp.body());
      body[body.length >> 1] ^= 0xff;
      await route.fulfill({ response: resp, body });
    };
    await open(page, url, { cache: false });
    await browser.context.route(packUrl, flip, { times: 1 });
    const repaired = await search(page, q);
    assert.ok(repaired.trace.refetched >= 1 && repaired.trace.pack_fallback === null, JSON.stringify(repaired.trace));
    sameHits(repaired.hits, first.hits, 'damaged once');
    await open(page, url, { cache: false });
    await browser.context.route(packUrl, flip);
    let err = await fails(page, 'searchRemote', q);
    assert.equal(err?.kind, 'Corrupt', JSON.stringify(err));
    await browser.context.unroute(packUrl);
    sameHits((await search(page, q)).hits, first.hits, 'after Corrupt');
    console.log(`  damage: refetched once (${repaired.trace.refetched}), damaged always → Corrupt, then answered`);

    // fallback: a 416, a wrong Content-Range
    for (const [what, answer, reason] of [
      ['416', (route) => route.fulfill({ status: 416, headers: { 'content-range': `bytes */${manifest.pack.bytes}` }, body: '' }), /HTTP 416/],
      ['wrong Content-Range', async (route) => {
        const resp = await route.fetch();
        const h = { ...resp.headers(), 'content-range': `bytes 0-9/${manifest.pack.bytes}` };
        await route.fulfill({ status: 206, headers: h, body: await resp.body() });
      }, /Content-Range/],
    ]) {
      await open(page, url, { cache: false });
      await browser.context.route(packUrl, answer);
      const { result: r, files } = await counting(browser, origin, () => search(page, q));
      await browser.context.unroute(packUrl);
      sameHits(r.hits, first.hits, what);
      assert.match(r.trace.pack_fallback ?? '', reason, JSON.stringify(r.trace));
      assert.ok(files > 0, `${what}: no shard file was read`);
      const next = await search(page, queries[0][0]);
      assert.equal(next.trace.range_requests, 0, `${what}: the pack was asked again in the same session`);
      assert.match(next.trace.pack_fallback ?? '', reason);
      sameHits(next.hits, cold[0].hits, `${what}, next query`);
    }
    console.log('  fallback: 416 and a wrong Content-Range → shard files for the session, same hits, the reason in the trace');

    // cli: over http:// with Range, and with --pack-reads never
    for (const [q, , args] of queries.slice(0, 3)) {
      const local = cli(manifestFile, q, args);
      const ranged = cli(url, q, args);
      sameHits(ranged.hits, local, `CLI over http:// (Range): ${q}`);
      assert.ok(ranged.pack?.file === PACK && ranged.pack.range_requests > 0 && ranged.pack.fallback === null, JSON.stringify(ranged.pack));
      const files = cli(url, q, [...args, '--pack-reads', 'never']);
      sameHits(files.hits, local, `CLI over http:// (--pack-reads never): ${q}`);
      assert.equal(files.pack?.file, null, JSON.stringify(files.pack));
    }
    console.log('  cli: the same hits over http:// from the pack and from the shard files');

    assert.deepEqual(page.errors, [], 'page errors');
    assert.deepEqual(browser.offOrigin, [], 'requests left the origin');
  } finally {
    await browser.close();
    stop();
  }
}

// ---- a server that ignores Range (serve.py --no-range) ----
{
  const { origin, stop } = await serve(['--no-range']);
  const browser = await launch(origin);
  try {
    const page = await openDemo(browser.context, origin, '/', T.ready);
    const url = `${origin}${PATH}/manifest.json`;
    await open(page, url, { cache: false });
    const [q, opts, args] = queries[0];
    const { result: r, pack, files } = await counting(browser, origin, () => search(page, q, opts));
    const local = cli(manifestFile, q, args);
    sameHits(r.hits, local, 'no Range support');
    assert.match(r.trace.pack_fallback ?? '', /HTTP 200 .*ignores Range/, JSON.stringify(r.trace));
    assert.ok(pack >= 1 && files > 0, `${pack} pack requests, ${files} shard files`);
    // The refused pack bodies are not counted (nor read): only the shard files' bytes.
    const never = await (async () => {
      await open(page, url, { cache: false, pack: 'never' });
      return search(page, q, opts);
    })();
    assert.equal(r.trace.bytes, never.trace.bytes, `the fallback read ${r.trace.bytes} bytes, the shard files are ${never.trace.bytes}`);
    await open(page, url, { cache: false });
    for (const [q2, o2, a2] of queries.slice(1)) {
      const first = await search(page, q2, o2);
      sameHits(first.hits, cli(manifestFile, q2, a2), `no Range: ${q2}`);
    }
    const later = await search(page, queries[4][0], { nprobe: 2 });
    assert.equal(later.trace.range_requests, 0, 'the pack was asked again after the fallback');
    assert.match(later.trace.pack_fallback ?? '', /ignores Range/);
    // the CLI against the same server: the same hits, its fallback reported
    const overHttp = cli(url, q, args);
    sameHits(overHttp.hits, local, 'CLI, no Range support');
    assert.match(overHttp.pack?.fallback ?? '', /ignores Range/, JSON.stringify(overHttp.pack));
    console.log(`  no Range (serve.py --no-range): ${pack} pack request(s) refused unread, then shard files; same hits in the browser and the CLI`);
    assert.deepEqual(page.errors, [], 'page errors');
  } finally {
    await browser.close();
    stop();
  }
}
console.log(`packed remote index in Chromium: passed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);

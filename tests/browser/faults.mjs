// Fault injection in headless Chromium: real IndexedDB, Cache API, Web Locks and
// BroadcastChannel, the real static server (scripts/serve.py) and the demo page. Most
// scenarios use the model-free hashing embedder (?model=hashing) so they take seconds;
// the model-checksum one loads the real all-MiniLM-L6-v2. Each scenario gets a fresh
// browser profile. Fault points come from the worker's test hooks (?faults=1 →
// createEngine({faults: true}); see worker.js `__fault`), or from killing the worker or
// reloading the page as a user would.
//
//  crash     a panic and a dead worker (closed itself, uncaught error, killed from outside
//            while indexing) → the worker restarts with
//            the last saved index, the page says so, in-flight calls reject with a kind,
//            later calls work; a fourth crash within a minute stops the restarts (typed)
//  hostile   the Markdown of issue 14 (a 64 KiB heading, 100,000 paragraphs; 0.85 MB) that
//            used to kill the engine: indexed, memory bounded, no restart, nothing lost
//  queue     a second file pick while the first waits (another tab holds the save lock)
//            is queued, shown, and indexed; a Latin-1 .txt is read as Windows-1252, said
//  tabs      two tabs adding at once → both documents survive; a tab whose save failed
//            merges its unsaved change into the other tab's save
//  save      the worker dies inside the blob transaction / between blob and head swap →
//            the previous index loads after a reload; reload in the middle of indexing;
//            a v1 (legacy) saved record still loads and is migrated
//  corrupt   a flipped byte in the stored index → a clear error, a Rebuild button,
//            nothing saved over it, the damaged record kept aside
//  checksum  a truncated model in the Cache API is detected, downloaded again and
//            repaired; if the download is bad too → a "Checksum" error
//
// Run through scripts/test-browser.sh (it builds www/ and links the models with their
// manifest). `node tests/browser/faults.mjs [scenario…]` runs some of them.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { serve, launch, openDemo } from './e2e.mjs';

const HASHING = '/?model=hashing&faults=1';
const T = { ready: 120_000, step: 60_000 };

/** Open the demo page in `context`; resolves once it is ready. Collects page errors. */
function open(context, origin, query = HASHING) {
  return openDemo(context, origin, query, T.ready);
}

async function reload(page) {
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
}

const add = (page, docs) =>
  page.evaluate(async (d) => {
    const r = await window.sotto.addDocuments(d);
    return { saved: r.saved, documents: r.stats.documents, merged: r.merged };
  }, docs);
const ids = (page) => page.evaluate(() => window.sotto.documentIds());
const doc = (id, body) => ({ id, body });

/** The saved index's records in IndexedDB, read from the page (same origin). */
const storage = (page) =>
  page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('sotto');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const names = [...db.objectStoreNames];
          if (!names.includes('heads')) return resolve({ stores: names }), db.close();
          const tx = db.transaction(['heads', 'blobs', 'indexes'], 'readonly');
          const out = { stores: names };
          tx.objectStore('heads').getAllKeys().onsuccess = (e) => (out.heads = e.target.result);
          tx.objectStore('blobs').getAllKeys().onsuccess = (e) => (out.blobs = e.target.result.length);
          tx.objectStore('indexes').getAllKeys().onsuccess = (e) => (out.legacy = e.target.result);
          tx.oncomplete = () => (db.close(), resolve(out));
        };
      }),
  );

async function scenario(name, fn, query) {
  const t0 = Date.now();
  const { origin, stop } = await serve();
  const browser = await launch(origin);
  try {
    await fn({ origin, ...browser, open: (q = query) => open(browser.context, origin, q) });
    assert.deepEqual(browser.offOrigin, [], `requests left the origin: ${browser.offOrigin}`);
    for (const p of browser.context.pages()) assert.deepEqual(p.errors || [], [], `page errors in ${name}`);
    console.log(`[faults] ${name}: passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await browser.close();
    stop();
  }
}

// ---- crash: the worker restarts with the last saved index ----

async function crash({ open }) {
  const page = await open();
  const kept = await add(page, [doc('keep.txt', 'Zebras live in Africa and eat grass.')]);
  assert.equal(kept.saved.ok, true);

  // (a) A panic: the request rejects with "Panic"; the one queued behind it, which never
  // ran, with "WorkerCrashed"; a request made afterwards waits for the restart and works.
  const a = await page.evaluate(async () => {
    const s = window.sotto;
    const kind = (p) => p.then(() => 'resolved', (e) => e.kind);
    const events = [];
    s.on('restart', (r) => events.push({ reason: r.reason, ok: r.ok, restored: r.restored?.restored, docs: r.restored?.stats?.documents }));
    const second = s.addDocuments([{ id: 'second.txt', body: 'Indexed and saved just before the engine crashes.' }]);
    const panic = kind(s.injectFault('panic'));
    const behind = kind(s.search('zebras', { mode: 'sparse' }));
    const out = { second: await second.then((r) => r.saved.ok), panic: await panic, behind: await behind };
    const after = await s.search('zebras Africa', { mode: 'sparse' });
    out.after = after.hits.map((h) => h.doc_id);
    out.ids = await s.documentIds();
    out.restarts = s.restarts;
    out.events = events;
    return out;
  });
  console.log(`[faults] crash (panic): ${JSON.stringify(a)}`);
  assert.equal(a.second, true);
  assert.equal(a.panic, 'Panic');
  assert.equal(a.behind, 'WorkerCrashed');
  assert.deepEqual(a.after, ['keep.txt']);
  assert.deepEqual(a.ids, ['keep.txt', 'second.txt'], 'the restarted engine lacks the last saved index');
  assert.equal(a.restarts, 1);
  assert.deepEqual(a.events, [{ reason: 'panic', ok: true, restored: true, docs: 2 }]);
  await page.waitForSelector('body[data-engine="restarted"]', { timeout: T.step });
  const status = await page.textContent('#status');
  assert.match(status, /crashed \(Panic: .*\) and was restarted with the last saved index \(2 documents/);
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'warning');
  assert.equal(await page.textContent('#sum-docs'), '2');

  // (b) The worker dies without a word (it closes itself: as if the browser killed it).
  // Its death is noticed through its life lock; both requests in flight reject.
  await page.evaluate(() => (document.body.dataset.engine = ''));
  const b = await page.evaluate(async () => {
    const s = window.sotto;
    const kind = (p) => p.then(() => 'resolved', (e) => e.kind);
    const exit = kind(s.injectFault('exit'));
    const behind = kind(s.stats());
    const out = { exit: await exit, behind: await behind };
    out.added = (await s.addDocuments([{ id: 'later.txt', body: 'Added after the worker died and came back.' }])).saved.ok;
    out.ids = await s.documentIds();
    out.restarts = s.restarts;
    return out;
  });
  console.log(`[faults] crash (worker exit): ${JSON.stringify(b)}`);
  assert.equal(b.exit, 'WorkerCrashed');
  assert.equal(b.behind, 'WorkerCrashed');
  assert.equal(b.added, true);
  assert.deepEqual(b.ids, ['keep.txt', 'later.txt', 'second.txt']);
  assert.equal(b.restarts, 2);
  await page.waitForSelector('body[data-engine="restarted"]', { timeout: T.step });
  assert.match(await page.textContent('#status'), /crashed \(WorkerCrashed: the engine's worker stopped\) and was restarted with the last saved index \(2 documents/);
  assert.equal(await page.textContent('#sum-docs'), '2', 'the page does not show the restored index');

  // (c) An uncaught error in the worker (its 'error' event): restarted as well.
  await page.evaluate(() => (document.body.dataset.engine = ''));
  await page.evaluate(() => window.sotto.injectFault('throw'));
  await page.waitForSelector('body[data-engine="restarted"]', { timeout: T.step });
  assert.match(await page.textContent('#status'), /crashed \(WorkerError: .*injected.*\) and was restarted with the last saved index \(3 documents/);
  assert.equal(await page.evaluate(async () => (await window.sotto.search('zebras', { mode: 'sparse' })).hits[0].doc_id), 'keep.txt');

  // (d) A fourth crash within a minute: no more restarts, every request fails with a kind.
  const d = await page.evaluate(async () => {
    const s = window.sotto;
    const kind = (p) => p.then(() => 'resolved', (e) => e.kind);
    const panic = await kind(s.injectFault('panic'));
    await new Promise((r) => setTimeout(r, 100));
    return { panic, after: await kind(s.stats()), restarts: s.restarts };
  });
  console.log(`[faults] crash (storm): ${JSON.stringify(d)}`);
  assert.deepEqual(d, { panic: 'Panic', after: 'WorkerCrashed', restarts: 3 });
  await page.waitForSelector('body[data-engine="broken"]', { timeout: T.step });
  assert.match(await page.textContent('#status'), /crashed 4 times within a minute .* reload the page\. The saved index is kept\./);
  // A reload brings everything back.
  await reload(page);
  assert.deepEqual(await ids(page), ['keep.txt', 'later.txt', 'second.txt']);

  // (e) The worker is killed from outside (as the browser does under memory pressure)
  // while a request runs in it: that request rejects, the next one works.
  const e = await page.evaluate(async () => {
    const s = window.sotto;
    const kind = (p) => p.then(() => 'resolved', (err) => err.kind);
    const big = Array.from({ length: 3000 }, (_, i) => ({ id: `k${i}.txt`, body: `Killed ${i} ` + 'lorem ipsum dolor '.repeat(40) + i }));
    let started = false;
    const running = kind(s.addDocuments(big, { onProgress: () => (started = true) }));
    while (!started) await new Promise((r) => setTimeout(r, 10));
    s.worker.terminate();
    return { running: await running, ids: await s.documentIds(), restarts: s.restarts };
  });
  console.log(`[faults] crash (killed from outside): ${JSON.stringify({ ...e, ids: e.ids.length })}`);
  assert.equal(e.running, 'WorkerCrashed');
  assert.deepEqual(e.ids, ['keep.txt', 'later.txt', 'second.txt']);
  assert.equal(e.restarts, 1);
  await page.waitForSelector('body[data-engine="restarted"]', { timeout: T.step });
}

// ---- queue: a second pick is not dropped; Latin-1 text is not silently mangled ----

async function queue({ open }) {
  const holder = await open();
  const page = await open();
  // The other tab stops for good in the middle of a save, holding the save lock: this
  // tab's first pick must wait, so the second pick lands while the first is running.
  await holder.evaluate(() => window.sotto.injectFault('saveBeforeSwap'));
  await holder.evaluate(() => {
    window.__stalled = new Promise((r) => window.sotto.on('fault', r));
    window.sotto.addDocuments([{ id: 'holder.txt', body: 'The tab that holds the lock.' }]);
    return window.__stalled;
  });
  // A change waiting for the lock can be cancelled.
  const waited = await page.evaluate(async () => {
    const s = window.sotto;
    let waiting = false;
    const p = s.addDocuments([{ id: 'never.txt', body: 'Cancelled while waiting for the lock.' }], { onProgress: (e) => (waiting ||= e.stage === 'waiting') });
    while (!waiting) await new Promise((r) => setTimeout(r, 20));
    await s.cancel();
    return { kind: await p.then(() => 'resolved', (e) => e.kind), docs: (await s.stats()).stats.documents };
  });
  assert.deepEqual(waited, { kind: 'Cancelled', docs: 0 });
  const latin1 = Buffer.from('Caf\xe9 cr\xe8me br\xfbl\xe9e: the \xe9l\xe8ve na\xefve orders it.\n', 'latin1');
  await page.setInputFiles('#files', { name: 'first.txt', mimeType: 'text/plain', buffer: Buffer.from('Ocelots hunt at night in the forest.') });
  await page.waitForFunction(() => /Waiting for another tab/.test(document.getElementById('ingest-status').textContent), null, { timeout: T.step });
  await page.setInputFiles('#files', { name: 'latin1.txt', mimeType: 'text/plain', buffer: latin1 });
  await page.waitForSelector('#ingest-queue:not([hidden])');
  const queued = await page.textContent('#ingest-queue');
  console.log(`[faults] queue: while the first pick waits: "${await page.textContent('#ingest-status')}" / "${queued}"`);
  assert.match(queued, /Queued: latin1\.txt/);
  await holder.close(); // the lock is released with the tab
  await page.waitForFunction(() => document.body.dataset.documents === '2' && document.getElementById('ingest-status').dataset.state === 'done', null, { timeout: T.step });
  const status = await page.textContent('#ingest-status');
  console.log(`[faults] queue: after both: "${status}"`);
  assert.match(status, /^Indexed 1 documents .*saved to IndexedDB.*latin1\.txt is not valid UTF-8: read as windows-1252/);
  assert.equal(await page.getAttribute('#ingest-status', 'data-kind'), 'warning');
  assert.equal(await page.isHidden('#ingest-queue'), true);
  assert.deepEqual(await ids(page), ['first.txt', 'latin1.txt']);
  const text = await page.evaluate(async () => (await window.sotto.document('latin1.txt')).text);
  assert.ok(text.includes('Café crème brûlée: the élève naïve'), `decoded as ${JSON.stringify(text)}`);
  assert.ok(!text.includes('\uFFFD'));
  // Valid UTF-8 with accents is read as UTF-8, without a note.
  await page.setInputFiles('#files', { name: 'utf8.txt', mimeType: 'text/plain', buffer: Buffer.from('Crème brûlée, in UTF-8.') });
  await page.waitForFunction(() => document.body.dataset.documents === '3' && document.getElementById('ingest-status').dataset.state === 'done', null, { timeout: T.step });
  assert.doesNotMatch(await page.textContent('#ingest-status'), /UTF-8|windows-1252/);
  assert.ok((await page.evaluate(async () => (await window.sotto.document('utf8.txt')).text)).includes('Crème brûlée'));
  // The stalled tab's save never happened; both of this tab's picks are saved.
  await reload(page);
  assert.deepEqual(await ids(page), ['first.txt', 'latin1.txt', 'utf8.txt']);
}

// ---- tabs: two tabs on one origin, neither write lost ----

async function tabs({ open }) {
  const a = await open();
  const b = await open();
  const batch = (tab, n) => Array.from({ length: n }, (_, i) => doc(`${tab}-${i}.txt`, `Tab ${tab} document ${i} about ${['otters', 'herons', 'lynxes'][i % 3]}.`));
  // At once, in both tabs.
  const [ra, rb] = await Promise.all([add(a, batch('a', 20)), add(b, batch('b', 20))]);
  console.log(`[faults] tabs: a ${JSON.stringify(ra)}, b ${JSON.stringify(rb)}`);
  assert.equal(ra.saved.ok, true);
  assert.equal(rb.saved.ok, true);
  assert.ok(!!ra.merged !== !!rb.merged, 'exactly one tab should have merged the other one\'s save');
  const all = [...batch('a', 20), ...batch('b', 20)].map((d) => d.id).sort();
  // The tab that saved first hears of the second save, loads it and shows it.
  const first = ra.merged ? b : a;
  await first.waitForFunction(() => document.body.dataset.documents === '40', null, { timeout: T.step });
  assert.match(await first.textContent('#sum-source'), /updated from another tab/);
  assert.match(await first.textContent('#ingest-status'), /Another tab saved changes: this tab now has 40 documents/);
  assert.deepEqual(await ids(a), all);
  assert.deepEqual(await ids(b), all);

  // A tab whose save failed keeps its change in memory and merges it into the next save,
  // even though the other tab saved in between.
  await a.evaluate(() => window.sotto.injectFault('saveFails'));
  const failed = await add(a, [doc('a-unsaved.txt', 'Saved only at the next change of tab a.')]);
  assert.equal(failed.saved.ok, false);
  assert.equal(failed.saved.error.kind, 'QuotaExceeded');
  const other = await add(b, [doc('b-more.txt', 'Tab b saves while tab a has an unsaved change.')]);
  assert.equal(other.saved.ok, true);
  const merged = await add(a, [doc('a-more.txt', 'The next change of tab a.')]);
  console.log(`[faults] tabs: merge after a failed save: ${JSON.stringify(merged)}`);
  assert.equal(merged.saved.ok, true);
  assert.equal(merged.merged.replayed, 1, 'the unsaved change was replayed onto the other save');
  const final = [...all, 'a-unsaved.txt', 'b-more.txt', 'a-more.txt'].sort();
  await b.waitForFunction(() => document.body.dataset.documents === '43', null, { timeout: T.step });
  assert.deepEqual(await ids(b), final);
  // A removal in one tab reaches the other, and a third tab loads the union.
  const removed = await b.evaluate(async () => (await window.sotto.removeDocuments(['a-0.txt'])).saved.ok);
  assert.equal(removed, true);
  await a.waitForFunction(() => document.body.dataset.documents === '42', null, { timeout: T.step });
  const c = await open();
  assert.deepEqual(await ids(c), final.filter((x) => x !== 'a-0.txt'));
}

// ---- save: interrupted saves, reload while indexing, the v1 record ----

async function save({ open }) {
  const page = await open();
  assert.equal((await add(page, [doc('keep.txt', 'Zebras live in Africa and eat grass.')])).saved.ok, true);
  for (const at of ['saveInBlob', 'saveBeforeSwap']) {
    await page.evaluate(async (fault) => {
      await window.sotto.injectFault(fault);
      const stalled = new Promise((r) => window.sotto.on('fault', r));
      window.sotto.addDocuments([{ id: 'lost.txt', body: 'Its save never finishes.' }]).catch(() => {});
      const f = await stalled;
      if (f.at !== fault) throw new Error(`stalled at ${f.at}`);
    }, at);
    // The tab goes away with the worker in the middle of the save.
    await reload(page);
    const restored = { flag: await page.getAttribute('body', 'data-restored'), ids: await ids(page), storage: await storage(page) };
    console.log(`[faults] save interrupted (${at}): ${JSON.stringify(restored)}`);
    assert.equal(restored.flag, '1');
    assert.deepEqual(restored.ids, ['keep.txt']);
    assert.ok(restored.storage.blobs <= 2, 'at most the previous index and one orphan');
  }
  // The next save works (the lock was released with the dead worker) and drops the orphan.
  assert.equal((await add(page, [doc('next.txt', 'Saved after the interrupted saves.')])).saved.ok, true);
  assert.deepEqual((await storage(page)).blobs, 1);

  // Reload in the middle of indexing: the saved index is intact.
  const many = Array.from({ length: 6000 }, (_, i) => doc(`bulk-${i}.txt`, `Bulk ${i} ` + Array.from({ length: 120 }, (_, j) => `w${(i * 7919 + j * 104729) % 100003}`).join(' ')));
  await page.evaluate((d) => {
    window.__progress = 0;
    window.__finished = false;
    window.sotto.addDocuments(d, { onProgress: () => window.__progress++ }).finally(() => (window.__finished = true)).catch(() => {});
  }, many);
  await page.waitForFunction(() => window.__progress > 0, null, { timeout: T.step });
  assert.equal(await page.evaluate(() => window.__finished), false, 'indexing finished before the reload: make the batch bigger');
  await reload(page);
  assert.deepEqual(await ids(page), ['keep.txt', 'next.txt'], 'the reload during indexing damaged the saved index');
  assert.equal((await add(page, [doc('after.txt', 'After the reload.')])).saved.ok, true);

  // A record in the v1 layout (store "indexes": {bytes, stats, savedAt}) still loads, and the next save migrates it.
  await page.evaluate(async () => {
    const bytes = await window.sotto.exportIndex();
    const stats = (await window.sotto.stats()).stats;
    await window.sotto.forget();
    await new Promise((resolve, reject) => {
      const req = indexedDB.open('sotto');
      req.onsuccess = () => {
        const tx = req.result.transaction('indexes', 'readwrite');
        tx.objectStore('indexes').put({ bytes, stats, savedAt: Date.now() }, 'index');
        tx.oncomplete = () => (req.result.close(), resolve());
        tx.onerror = () => reject(tx.error);
      };
    });
  });
  await reload(page);
  assert.equal(await page.getAttribute('body', 'data-restored'), '1');
  assert.deepEqual(await ids(page), ['after.txt', 'keep.txt', 'next.txt']);
  assert.equal((await add(page, [doc('migrated.txt', 'Saved in the new layout.')])).saved.ok, true);
  const migrated = await storage(page);
  assert.deepEqual(migrated.legacy, []);
  assert.deepEqual(migrated.heads, ['index']);
  assert.equal(migrated.blobs, 1);
}

// ---- corrupt: a damaged stored index ----

async function corrupt({ open }) {
  const page = await open();
  assert.equal((await add(page, [doc('old.txt', 'The document that is in the damaged index.')])).saved.ok, true);
  // Flip one byte of the stored index, as a disk error would.
  await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('sotto');
        req.onsuccess = () => {
          const tx = req.result.transaction(['heads', 'blobs'], 'readwrite');
          tx.objectStore('heads').get('index').onsuccess = (e) => {
            const head = e.target.result;
            const blobs = tx.objectStore('blobs');
            blobs.get(head.blob).onsuccess = (b) => {
              const rec = b.target.result;
              rec.bytes[Math.floor(rec.bytes.length / 2)] ^= 0x40;
              blobs.put(rec, head.blob);
            };
          };
          tx.oncomplete = () => (req.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
  await reload(page);
  const status = await page.textContent('#ingest-status');
  console.log(`[faults] corrupt: "${status}"`);
  assert.equal(await page.getAttribute('body', 'data-restored'), 'damaged');
  assert.match(status, /The saved index could not be used \(Corrupt: .*SHA-256 is [0-9a-f]{64}, [0-9a-f]{64} was saved\)/);
  assert.equal(await page.getAttribute('#ingest-status', 'data-kind'), 'error');
  assert.equal(await page.isVisible('#rebuild'), true, 'no rebuild offered');
  // The engine works; a change is not saved over the damaged index.
  const added = await add(page, [doc('new.txt', 'Added while the saved index is damaged.')]);
  assert.equal(added.saved.ok, false);
  assert.equal(added.saved.error.kind, 'Corrupt');
  assert.equal(await page.evaluate(async () => (await window.sotto.search('damaged', { mode: 'sparse' })).hits[0].doc_id), 'new.txt');
  // Rebuild: the damaged index is set aside (kept), this tab's documents are saved.
  await page.click('#rebuild');
  await page.waitForFunction(() => document.body.dataset.restored === 'rebuilt');
  const rebuilt = await page.textContent('#ingest-status');
  console.log(`[faults] corrupt, rebuilt: "${rebuilt}"`);
  assert.match(rebuilt, /Started a new saved index with this tab's 1 documents · saved to IndexedDB .*kept in IndexedDB as "index\.damaged"/);
  assert.equal(await page.isHidden('#saved-problem'), true);
  const kept = await storage(page);
  assert.deepEqual(kept.heads.sort(), ['index', 'index.damaged']);
  assert.equal(kept.blobs, 2, 'the damaged index was deleted');
  await reload(page);
  assert.equal(await page.getAttribute('body', 'data-restored'), '1');
  assert.deepEqual(await ids(page), ['new.txt']);
  assert.equal((await storage(page)).blobs, 2, 'a later save deleted the damaged index');
}

// ---- checksum: a truncated model in the Cache API ----

async function checksum({ origin, open, context, requests }) {
  // Fill the Cache API as the worker does (the e2e checks a first visit's download), from a
  // page on the hashing embedder: one real model load is enough here.
  const page = await open(HASHING);
  await page.evaluate(async () => {
    const cache = await caches.open('sotto-models-v1');
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) await cache.add(`models/all-MiniLM-L6-v2/${f}`);
  });
  const weights = 'models/all-MiniLM-L6-v2/model.safetensors';
  const tokenizer = 'models/all-MiniLM-L6-v2/tokenizer.json';
  // Where the worker keeps a model file: OPFS (large files; named by the SHA-256 of the
  // absolute URL) or the Cache API. Installed in the page once, used by the helpers below.
  const installStored = () => page.evaluate(() => {
    window.__stored = async (u) => {
      const abs = new URL(u, location.href).href;
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(abs)));
      const name = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
      try {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('sotto-models-v1');
        const handle = await dir.getFileHandle(name);
        return { where: 'opfs', handle, bytes: new Uint8Array(await (await handle.getFile()).arrayBuffer()) };
      } catch {
        const hit = await (await caches.open('sotto-models-v1')).match(u);
        return hit ? { where: 'cache', bytes: new Uint8Array(await hit.arrayBuffer()) } : null;
      }
    };
  });
  await installStored();
  /** Damage a cached file where it is kept: 'truncate' drops its last 4 kB; 'flip' changes one byte (same size: only the SHA-256 tells). */
  const damage = (url, how) =>
    page.evaluate(
      async ({ url, how }) => {
        const got = await window.__stored(url);
        const bytes = got.bytes;
        const size = bytes.length;
        if (how === 'flip') bytes[Math.floor(size / 3)] ^= 1;
        const damaged = how === 'truncate' ? bytes.slice(0, size - 4096) : bytes;
        if (got.where === 'opfs') {
          const w = await got.handle.createWritable();
          await w.write(damaged);
          await w.close();
        } else {
          await (await caches.open('sotto-models-v1')).put(url, new Response(damaged));
        }
        return { size, where: got.where };
      },
      { url, how },
    );
  const cachedFile = (url) => page.evaluate(async (u) => {
    const got = await window.__stored(u);
    return got ? { size: got.bytes.length, where: got.where } : null;
  }, url);
  const cachedSize = async (url) => (await cachedFile(url))?.size ?? null;
  const { size, where: prefilled } = await damage(weights, 'truncate');
  assert.equal(prefilled, 'cache', 'the test filled the Cache API');
  await damage(tokenizer, 'flip');
  const seen = requests.length;
  await page.goto(origin + '/');
  await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
  const fetched = requests.slice(seen).filter((u) => u.includes('/models/all-MiniLM-L6-v2/'));
  const status = await page.textContent('#status');
  console.log(`[faults] checksum, damaged cache entries: "${status}"`);
  assert.deepEqual(fetched.map((u) => u.slice(u.lastIndexOf('/') + 1)).sort(), ['model.safetensors', 'tokenizer.json'], 'each damaged file is downloaded again, once; the intact one is not');
  assert.equal(await page.getAttribute('body', 'data-model-repaired'), 'tokenizer,weights');
  assert.match(status, /Repaired: tokenizer: the cached copy has SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}, downloaded again; weights: the cached copy is \d+ bytes, the manifest says \d+, downloaded again\./);
  await installStored();
  assert.deepEqual(await cachedFile(weights), { size, where: 'opfs' }, 'the repaired weights are kept in OPFS (a large file)');
  assert.equal((await cachedFile(tokenizer))?.where, 'cache', 'a small file stays in the Cache API');
  // The server's copy is bad too: one download again, then a clear error, and the bad file is not kept.
  await damage(weights, 'truncate');
  let served = 0;
  await context.route('**/' + weights, async (route) => {
    served += 1;
    await route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.alloc(1000, 7) });
  });
  await page.reload();
  await page.waitForSelector('body[data-ready="error"]', { timeout: T.ready });
  const error = await page.textContent('#status');
  console.log(`[faults] checksum, bad download: "${error}"`);
  assert.equal(served, 1);
  assert.match(error, /^Checksum: weights: \S*\/models\/all-MiniLM-L6-v2\/model\.safetensors is 1000 bytes, the manifest says \d+ \(downloaded again because the cached copy is \d+ bytes, the manifest says \d+\); it was not used or cached$/);
  await installStored();
  assert.equal(await cachedSize(weights), null, 'a bad file stayed in the cache');
  await context.unroute('**/' + weights);
}

// ---- hostile: issue 14's engine-killing Markdown, through the worker ----

/** A 64 KiB heading, then 100,000 short paragraphs (0.85 MB here; the had shorter
 * ones, 0.57 MB): before the heading-path fix,
 * cleaning cloned the heading into every block, wasm memory grew to 4 GiB and the worker
 * died with "unreachable", losing the unsaved work. Now it must index with bounded memory,
 * no restart, the earlier document kept, and the engine usable. */
async function hostile({ open }) {
  const page = await open();
  const kept = await add(page, [doc('keep.txt', 'Zebras live in Africa and eat grass.')]);
  assert.equal(kept.saved.ok, true);
  const out = await page.evaluate(async () => {
    const s = window.sotto;
    const heading = '# ' + 'heading '.repeat(8192);
    const body = heading + '\n\n' + Array.from({ length: 100000 }, (_, i) => `p${i}`).join('\n\n') + '\n';
    const before = (await s.memory()).wasm_bytes;
    const t0 = performance.now();
    let added;
    try {
      const r = await s.addDocuments([{ id: 'hostile.md', body }]);
      added = { ok: true, documents: r.stats.documents, chunks: r.stats.chunks, saved: r.saved.ok };
    } catch (e) {
      added = { ok: false, kind: e.kind, message: e.message };
    }
    const ms = performance.now() - t0;
    const after = (await s.memory()).wasm_bytes;
    const found = await s.search('zebras eat grass', { k: 1 });
    return { bytes: body.length, ms, added, before, after, restarts: s.restarts, top: found.hits[0]?.doc_id, ids: await s.documentIds() };
  });
  console.log(`[faults] hostile Markdown: ${JSON.stringify({ ...out, ids: out.ids.length })}`);
  assert.ok(out.bytes > 500_000 && out.bytes < 1_000_000, `the issue's input is 0.5–1 MB, got ${out.bytes}`);
  assert.equal(out.restarts, 0, 'the worker crashed');
  assert.deepEqual(out.added.ok && { documents: out.added.documents, saved: out.added.saved }, { documents: 2, saved: true }, JSON.stringify(out.added));
  assert.ok(out.after < 1024 * 1024 * 1024, `wasm memory grew to ${out.after} bytes (the crash reached 4 GiB)`);
  assert.equal(out.top, 'keep.txt', 'the engine is usable and the earlier document is still found');
  assert.deepEqual([...out.ids].sort(), ['hostile.md', 'keep.txt']);
  // The saved index holds both after a reload.
  await reload(page);
  assert.deepEqual((await ids(page)).sort(), ['hostile.md', 'keep.txt']);
}

const SCENARIOS = { crash, hostile, queue, tabs, save, corrupt, checksum };

export async function runFaults(names = Object.keys(SCENARIOS)) {
  const t0 = Date.now();
  for (const n of names) {
    if (!SCENARIOS[n]) throw new Error(`unknown scenario ${n} (have ${Object.keys(SCENARIOS)})`);
    await scenario(n, SCENARIOS[n], HASHING);
  }
  console.log(`[faults] all passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runFaults(process.argv.slice(2).length ? process.argv.slice(2) : undefined).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

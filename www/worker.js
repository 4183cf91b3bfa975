// Sotto's Web Worker: owns the wasm engine so indexing, embedding and generation never
// block the page. Speaks a small request/response protocol with client.js:
//
//   page → worker  {id, op, args}
//   worker → page  {id, event, data}             progress while the request runs
//                  {id, ok: true, result}        final answer (Uint8Arrays are transferred)
//                  {id, ok: false, error: {kind, message}}
//                  {global: true, event, data}   not tied to a request: "indexChanged"
//                                                (another tab saved), "fault" (test hooks)
//
// Requests run one at a time, in arrival order (the engine is synchronous). Cancellation
// uses a SharedArrayBuffer counter that the page raises while this thread is busy in wasm;
// it exists only in cross-origin-isolated pages (COOP/COEP headers, see scripts/serve.py).
// Without it, client.js cancels by terminating this worker and starting a fresh one.
//
// Liveness: init holds a Web Lock named by the client for as long as this worker lives;
// the client waits for that lock, so it learns when the worker dies (terminated by the
// browser, crashed, closed) and restarts it. A Rust panic poisons the wasm instance: the
// request fails with kind "Panic" and the client replaces this worker too.
//
// Model files are fetched from URLs with byte progress and kept in the Cache API (only
// after they loaded successfully), so a second visit downloads nothing. With a model
// manifest (`{files: {path: {sha256, size}}}`, written by scripts/fetch-models.sh) every
// file, cached or downloaded, is checked against its SHA-256 and size: a damaged cached
// copy is dropped and downloaded again once; a download that still does not match is a
// "Checksum" error.
//
// Saved index (IndexedDB, database `persist.db`, record `persist.key`), shared by every
// tab of the origin:
//   blobs  [key, gen, id] → {bytes, sha256, size}     the index file, written first
//   heads  key → {id, gen, blob, sha256, size, savedAt, documents, chunks}
//                                                      the pointer, swapped in a second transaction
// A save writes a new blob, then swaps the head in one transaction that also deletes
// the blobs it no longer points to. A save interrupted anywhere (worker terminated, tab
// closed, quota) leaves the previous head and its blob intact. Loading checks the size
// and SHA-256 (Web Crypto) before the engine parses anything. Every change runs under a
// Web Lock (`navigator.locks`) over read-modify-write: if another tab saved since this one
// last loaded or saved, its index is loaded first and this tab's unsaved changes (kept in
// a journal) are replayed on top, so neither tab's change is lost; a BroadcastChannel
// tells the other tabs to load a new save. The v1 layout (store `indexes`: key →
// {bytes, stats, savedAt}) is still read and is migrated by the next save.

// Which wasm build runs (see loadWasm): the single-thread build, imported statically (so
// bundlers see it), or the threaded one (scripts/build-wasm-threads.sh), imported by URL
// only when it can run. build-wasm.sh rewrites both paths for the npm package
// (./sotto.js, ./threads/sotto.js).
import initSingle, { SottoEngine as SingleEngine } from './pkg/sotto.js';
const THREADS_BUILD = './pkg-threads/sotto.js';
// Without a `threads` option: try the threaded build (the demo, served as files). The npm
// package's copy says false (build-wasm.sh): a bundler copies only what is imported
// statically, so the threaded build is used there only when `threads` is asked for.
const AUTO_THREADS = true;
import { MonitorStore, askEntry, feedbackEntry, searchEntry, summarize, toDataset } from './monitor.js';

const MODEL_CACHE = 'sotto-models-v1';
const DB_VERSION = 2;
const LEGACY = 'indexes';
const HEADS = 'heads';
const BLOBS = 'blobs';

let engine = null;
let cancelFlag = null; // Int32Array over a SharedArrayBuffer: requests with id ≤ flag[0] are cancelled
let currentId = 0;
let wasmExports = null;
let SottoEngine = null; // the loaded build's engine class
let build = null; // {name: 'threads' | 'single', threads, reason}: what loadWasm chose and why
let persist = null; // {db, key, lock, channel} or null
let embedderSource = null; // what loadEmbedder was given, for stats
let generatorInfo = null;
let synced = null; // id of the saved head the in-memory index matches (null: none)
let journal = []; // changes applied in memory since the last successful save, replayed onto another tab's save
let faultsEnabled = false; // test hooks (init {faults: true})
let monitor = null; // MonitorStore: the local query log and feedback (monitor.js), null when off
const armed = new Set(); // armed fault points: 'saveInBlob', 'saveBeforeSwap', 'saveFails'

class SottoError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'SottoError';
    this.kind = kind;
  }
}

function errorObject(e) {
  if (e && typeof e === 'object') {
    if (typeof e.kind === 'string') return { kind: e.kind, message: String(e.message) };
    // A Rust panic surfaces as RuntimeError: unreachable and poisons the instance.
    if (e instanceof WebAssembly.RuntimeError) {
      engine = null;
      return { kind: 'Panic', message: `the engine crashed and must be restarted: ${e.message}` };
    }
    if (e.name === 'QuotaExceededError') return { kind: 'QuotaExceeded', message: e.message || 'the storage quota of this site is exhausted' };
    if (e.name === 'AbortError') return { kind: 'Cancelled', message: e.message };
    return { kind: e.name || 'Error', message: String(e.message || e) };
  }
  return { kind: 'Error', message: String(e) };
}

const now = () => performance.now();
const cancelled = () => cancelFlag !== null && currentId <= Atomics.load(cancelFlag, 0);
const announce = (event, data) => self.postMessage({ global: true, event, data });
const randomId = () => (self.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

/** Identifies the index content (its statistics), so the drift signal compares queries against the same index. */
function indexSignature() {
  try {
    const st = engine.stats();
    return `${st.documents}/${st.chunks}/${st.text_bytes}`;
  } catch {
    return null;
  }
}

function need() {
  if (!engine) throw new SottoError('NotInitialized', 'the engine is not initialized (call init first)');
  return engine;
}

/** Hex SHA-256 through Web Crypto; null where it is missing (a page that is not a secure context). */
async function sha256hex(bytes) {
  if (!self.crypto?.subtle) return null;
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

// ---- model files: fetch with progress, Cache API, manifest checks ----

async function openCache() {
  try {
    return 'caches' in self ? await caches.open(MODEL_CACHE) : null;
  } catch {
    return null; // e.g. storage disabled: work uncached
  }
}

// Large model files (the weights, the generator) live in the origin private file system
// (OPFS) where the browser has it: written through a swap file that replaces the old one
// only when complete (an interrupted write leaves nothing half-written), read back as one
// File, no Response wrapper. Small files, and every file where OPFS is missing, stay in
// the Cache API. A file is named by the SHA-256 of its absolute URL.
const OPFS_DIR = 'sotto-models-v1';
const OPFS_MIN_BYTES = 8 * 1024 * 1024;

async function opfsDir(create) {
  try {
    if (!self.navigator?.storage?.getDirectory) return null;
    return await (await navigator.storage.getDirectory()).getDirectoryHandle(OPFS_DIR, { create });
  } catch {
    return null; // no OPFS (or not created yet)
  }
}

async function opfsName(url) {
  const abs = new URL(url, self.location.href).href;
  return (await sha256hex(new TextEncoder().encode(abs))) ?? encodeURIComponent(abs).replace(/[^A-Za-z0-9_.-]/g, '_').slice(-200);
}

/** The bytes stored in OPFS for `url`, or null. */
async function opfsRead(url) {
  const dir = await opfsDir(false);
  if (!dir) return null;
  try {
    const file = await (await dir.getFileHandle(await opfsName(url))).getFile();
    return new Uint8Array(await file.arrayBuffer());
  } catch {
    return null;
  }
}

/** Store `bytes` for `url` in OPFS; false where OPFS or its writable streams are missing. */
async function opfsWrite(url, bytes) {
  const dir = await opfsDir(true);
  if (!dir) return false;
  const handle = await dir.getFileHandle(await opfsName(url), { create: true });
  if (typeof handle.createWritable !== 'function') return false;
  const w = await handle.createWritable();
  try {
    await w.write(bytes);
    await w.close();
  } catch (e) {
    await w.abort?.().catch(() => {});
    throw e;
  }
  return true;
}

async function opfsDelete(url) {
  const dir = await opfsDir(false);
  if (dir) await dir.removeEntry(await opfsName(url)).catch(() => {});
}

/** Fetch and check a model manifest: {files: {"dir/file": {sha256, size}}}, paths relative to the manifest. */
async function loadManifest(url) {
  let resp;
  try {
    resp = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    throw new SottoError('Fetch', `model manifest: could not fetch ${url}: ${e.message}`);
  }
  if (!resp.ok) throw new SottoError('Fetch', `model manifest: ${url} answered HTTP ${resp.status}`);
  let json;
  try {
    json = await resp.json();
  } catch {
    throw new SottoError('Checksum', `the model manifest ${url} is not JSON`);
  }
  if (!json || typeof json.files !== 'object' || json.files === null) throw new SottoError('Checksum', `the model manifest ${url} has no "files" object`);
  return { url: new URL(url, self.location.href), files: json.files };
}

/**
 * What `url` must be: the SHA-256 the page passed for it (`sha256`, hex), else what the
 * manifest says ({sha256, size}), else null (nothing to check).
 */
function expectation(manifest, url, file, sha256 = null) {
  if (sha256 !== null && sha256 !== undefined) {
    if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw new SottoError('InvalidOption', `${file}: sha256 must be 64 hexadecimal digits, not ${JSON.stringify(sha256)}`);
    if (!self.crypto?.subtle) throw new SottoError('Checksum', `${file}: a SHA-256 was given but this context has no Web Crypto (not a secure context): the file cannot be checked`);
    const fromManifest = manifest ? expectation(manifest, url, file) : null;
    return { sha256: sha256.toLowerCase(), size: fromManifest?.size ?? null, rel: fromManifest?.rel ?? null, source: 'page' };
  }
  if (!manifest) return null;
  const dir = new URL('./', manifest.url).href;
  const abs = new URL(url, self.location.href);
  abs.search = '';
  abs.hash = '';
  const rel = abs.href.startsWith(dir) ? decodeURIComponent(abs.href.slice(dir.length)) : null;
  const want = rel === null ? null : manifest.files[rel];
  if (!want || typeof want.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(want.sha256) || !Number.isSafeInteger(want.size)) {
    throw new SottoError('Checksum', `${file}: ${url} is not listed (with a sha256 and a size) in the model manifest ${manifest.url.href}`);
  }
  return { sha256: want.sha256.toLowerCase(), size: want.size, rel };
}

/** Why `bytes` are not what the manifest expects, or null when they are (or nothing is expected). */
async function mismatch(bytes, want) {
  if (!want) return null;
  const says = want.source === 'page' ? 'the page expects' : 'the manifest says';
  if (want.size !== null && bytes.length !== want.size) return `is ${bytes.length} bytes, ${says} ${want.size}`;
  const h = await sha256hex(bytes);
  if (h !== null && h !== want.sha256) return `has SHA-256 ${h}, ${says} ${want.sha256}`;
  return null;
}

async function download(url, file, progress, reload) {
  let resp;
  try {
    resp = await fetch(url, reload ? { cache: 'reload' } : undefined);
  } catch (e) {
    throw new SottoError('Fetch', `${file}: could not fetch ${url}: ${e.message}`);
  }
  if (!resp.ok) throw new SottoError('Fetch', `${file}: ${url} answered HTTP ${resp.status}`);
  const total = Number(resp.headers.get('content-length')) || 0;
  const reader = resp.body.getReader();
  const parts = [];
  let received = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (cancelled()) {
      await reader.cancel();
      throw new SottoError('Cancelled', 'cancelled');
    }
    parts.push(value);
    received += value.length;
    if (now() - last > 100) {
      last = now();
      progress({ stage: 'download', file, received, total, cached: false });
    }
  }
  const bytes = joinParts(parts, received);
  progress({ stage: 'download', file, received, total: total || received, cached: false });
  return bytes;
}

/** The chunks a response body was read in, as one array of `size` bytes. */
function joinParts(parts, size) {
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

/**
 * A model file from the Cache API or the network. With `want` (from the manifest) the
 * bytes are checked; a cached copy that fails is deleted and downloaded again, once.
 * Resolves to {bytes, cached, repaired, verify_ms}.
 */
async function fetchBytes(url, file, progress, want = null) {
  const cache = await openCache();
  let repaired = null;
  let verifyMs = 0;
  const check = async (bytes) => {
    const t0 = now();
    const bad = await mismatch(bytes, want);
    verifyMs += now() - t0;
    return bad;
  };
  const stored = await opfsRead(url);
  if (stored) {
    const bad = await check(stored);
    if (!bad) {
      progress({ stage: 'download', file, received: stored.length, total: stored.length, cached: true });
      return { bytes: stored, cached: true, repaired: null, verify_ms: verifyMs, where: 'opfs' };
    }
    repaired = `the cached copy ${bad}`;
    progress({ stage: 'verify', file, ok: false, detail: repaired, refetch: true });
    await opfsDelete(url);
  }
  if (cache && repaired === null) {
    const hit = await cache.match(url);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      const bad = await check(bytes);
      if (!bad) {
        progress({ stage: 'download', file, received: bytes.length, total: bytes.length, cached: true });
        return { bytes, cached: true, repaired: null, verify_ms: verifyMs, where: 'cache' };
      }
      repaired = `the cached copy ${bad}`;
      progress({ stage: 'verify', file, ok: false, detail: repaired, refetch: true });
      await cache.delete(url).catch(() => {});
    }
  }
  const bytes = await download(url, file, progress, repaired !== null);
  const bad = await check(bytes);
  if (bad) {
    throw new SottoError('Checksum', `${file}: ${url} ${bad}${repaired ? ` (downloaded again because ${repaired})` : ''}; it was not used or cached`);
  }
  return { bytes, cached: false, repaired, verify_ms: verifyMs };
}

/** Keep a downloaded model file: OPFS for large files where it exists, else the Cache API. */
async function cacheBytes(url, bytes) {
  if (bytes.length >= OPFS_MIN_BYTES) {
    try {
      if (await opfsWrite(url, bytes)) {
        // An older copy in the Cache API would only take space.
        const old = await openCache();
        await old?.delete(url).catch(() => {});
        return { ok: true, where: 'opfs' };
      }
    } catch (e) {
      await opfsDelete(url);
      // Full disk or no permission: try the Cache API below, which reports its own error.
    }
  }
  const cache = await openCache();
  if (!cache) return { ok: false, error: { kind: 'Storage', message: 'Cache API unavailable' } };
  try {
    await cache.put(url, new Response(bytes, { headers: { 'content-length': String(bytes.length) } }));
    return { ok: true, where: 'cache' };
  } catch (e) {
    return { ok: false, error: errorObject(e) };
  }
}

// ---- IndexedDB ----

function openDb(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const s of [LEGACY, HEADS, BLOBS]) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
    };
    req.onsuccess = () => {
      req.result.onversionchange = () => req.result.close();
      resolve(req.result);
    };
    req.onerror = () => reject(req.error);
  });
}

const idbReq = (r) =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

/**
 * Run `body(stores, tx)` in one transaction of the persistence database; resolves to its
 * value once the transaction has committed. `body` may only await IndexedDB requests
 * (anything else lets the transaction commit early). A throw aborts the transaction.
 */
async function txn(names, mode, body) {
  const db = await openDb(persist.db);
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(names, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
      let value;
      let thrown = null;
      tx.oncomplete = () => resolve(value);
      tx.onabort = () => reject(thrown || tx.error || new SottoError('Storage', 'an IndexedDB transaction was aborted'));
      const stores = Object.fromEntries(names.map((n) => [n, tx.objectStore(n)]));
      (async () => body(stores, tx))().then(
        (v) => (value = v),
        (e) => {
          thrown = e;
          try {
            tx.abort();
          } catch {
            // already finished
          }
        },
      );
    });
  } finally {
    db.close();
  }
}

const blobRange = (key) => IDBKeyRange.bound([key], [key, []]);
const quarantineKey = () => `${persist.key}.damaged`;

/** The head of the saved index in an open transaction (a v1 record shows as head id "legacy"). */
async function headIn(s) {
  const head = await idbReq(s[HEADS].get(persist.key));
  if (head) return head;
  const legacy = await idbReq(s[LEGACY].get(persist.key));
  return legacy && legacy.bytes ? { id: 'legacy', gen: 0, legacy: true, savedAt: legacy.savedAt, documents: legacy.stats?.documents ?? null } : null;
}

/** The head and its bytes, read in one transaction (so a concurrent save cannot delete the blob in between). */
function loadSaved() {
  return txn([HEADS, BLOBS, LEGACY], 'readonly', async (s) => {
    const head = await headIn(s);
    if (!head) return { head: null, bytes: null };
    const rec = head.legacy ? await idbReq(s[LEGACY].get(persist.key)) : await idbReq(s[BLOBS].get(head.blob));
    return { head, bytes: rec && rec.bytes instanceof Uint8Array ? rec.bytes : null };
  });
}

/** Check a saved index's bytes against its head before the engine parses them. */
async function verifySaved(head, bytes) {
  const where = `the index saved in IndexedDB (${persist.db}/${persist.key})`;
  if (!bytes) throw new SottoError('Corrupt', `${where} is damaged: its data is missing`);
  if (head.legacy) return false; // v1 records carry no checksum (the file's own section checksums still apply)
  if (bytes.length !== head.size) throw new SottoError('Corrupt', `${where} is damaged: it is ${bytes.length} bytes, ${head.size} were saved`);
  const h = await sha256hex(bytes);
  if (h === null || !head.sha256) return false;
  if (h !== head.sha256) throw new SottoError('Corrupt', `${where} is damaged: its SHA-256 is ${h}, ${head.sha256} was saved`);
  return true;
}

/**
 * Run `fn` holding this saved index's Web Lock (just `fn` without persistence or Web
 * Locks). A `cancellable` wait for the lock ends with "Cancelled" when cancel() is called.
 */
async function withLock(fn, progress = () => {}, cancellable = false) {
  if (!persist || !self.navigator?.locks) return fn();
  const locks = navigator.locks;
  const got = await locks.request(persist.lock, { ifAvailable: true }, async (lock) => (lock ? { value: await fn() } : null));
  if (got) return got.value;
  progress({ stage: 'waiting', done: 0, total: 0, reason: 'another tab is changing the saved index' });
  // cancel() must work while waiting too: the shared counter is polled, the wait aborted.
  const abort = new AbortController();
  const poll = cancellable && cancelFlag ? setInterval(() => cancelled() && abort.abort(new SottoError('Cancelled', 'cancelled while waiting for another tab')), 50) : null;
  try {
    return await locks.request(persist.lock, { signal: abort.signal }, () => {
      clearInterval(poll);
      return fn();
    });
  } finally {
    clearInterval(poll);
  }
}

/** Apply one journal entry to the engine (replaying this tab's unsaved change onto another save). */
function replay(j) {
  if (j.op === 'add') engine.addDocuments(j.docs);
  else if (j.op === 'remove') {
    const have = new Set(engine.documentIds());
    const ids = j.ids.filter((id) => have.has(id));
    if (ids.length) engine.removeDocuments(ids);
  } else if (j.op === 'describe') engine.setCollectionDescription(j.name, j.description);
  else if (j.op === 'clear') engine.clear();
  else if (j.op === 'import') engine.importIndex(j.bytes);
  else if (j.op === 'tree') engine.buildTree(j.params ?? undefined);
  // 'hnsw' is not replayed: it changes no content, and would cost minutes inside a merge.
}

/**
 * Under the lock: another tab saved `head` since this one last loaded or saved. Load it and
 * replay this tab's unsaved changes on top. All-or-nothing: on failure the engine is as it
 * was (and nothing may be saved over the other tab's index).
 */
async function catchUp(head) {
  if (!head) {
    // The saved index was deleted (forget/rebuild in another tab): this tab's index will be saved as new.
    synced = null;
    return { replayed: 0, from: null };
  }
  const { head: current, bytes } = await loadSaved();
  if ((current?.id ?? null) !== head.id) throw new SottoError('Conflict', 'another tab saved the index at the same moment; this change is kept in memory and merged at the next change');
  await verifySaved(head, bytes);
  const snapshot = journal.length ? engine.exportIndex() : null;
  try {
    engine.importIndex(bytes);
    for (const j of journal) replay(j);
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) throw e;
    if (snapshot) engine.importIndex(snapshot);
    throw e;
  }
  synced = head.id;
  return { replayed: journal.length, from: { gen: head.gen, savedAt: head.savedAt } };
}

/** Keep a transaction open (a chain of reads) until the worker is terminated: a test hook. */
function stallTransaction(store) {
  const spin = () => (store.count().onsuccess = spin);
  spin();
  announce('fault', { at: 'saveInBlob' });
}

/** Save the engine's index as the successor of `expected` (the head read under the lock). Never throws. */
async function save(expected) {
  const t0 = now();
  let blobKey = null;
  let committedBlob = false;
  try {
    if (armed.delete('saveFails')) throw new DOMException('injected by a test: the quota is exhausted', 'QuotaExceededError');
    const bytes = engine.exportIndex();
    const stats = engine.stats();
    const sha256 = await sha256hex(bytes);
    const id = randomId();
    const gen = (expected?.gen ?? 0) + 1;
    blobKey = [persist.key, gen, id];
    const stallInBlob = armed.delete('saveInBlob');
    await txn([BLOBS], 'readwrite', async (s) => {
      s[BLOBS].put({ bytes, sha256, size: bytes.length }, blobKey);
      if (stallInBlob) stallTransaction(s[BLOBS]);
    });
    committedBlob = true;
    if (armed.delete('saveBeforeSwap')) {
      announce('fault', { at: 'saveBeforeSwap' });
      await new Promise(() => {}); // until the test terminates the worker
    }
    const savedAt = Date.now();
    await txn([HEADS, BLOBS, LEGACY], 'readwrite', async (s) => {
      const cur = await headIn(s);
      if ((cur?.id ?? null) !== (expected?.id ?? null)) throw new SottoError('Conflict', 'another tab saved the index at the same moment; this change is kept in memory and merged at the next change');
      s[HEADS].put({ id, gen, blob: blobKey, sha256, size: bytes.length, savedAt, documents: stats.documents, chunks: stats.chunks }, persist.key);
      // Every other blob of this key is garbage now: the previous save, and any left by an
      // interrupted one. A quarantined (damaged) index keeps its blob.
      const kept = await idbReq(s[HEADS].get(quarantineKey()));
      const keys = await idbReq(s[BLOBS].getAllKeys(blobRange(persist.key)));
      for (const k of keys) {
        const same = (a, b) => a && b && a.length === b.length && a.every((x, i) => x === b[i]);
        if (!same(k, blobKey) && !same(k, kept?.blob)) s[BLOBS].delete(k);
      }
      s[LEGACY].delete(persist.key);
    });
    synced = id;
    journal = [];
    persist.channel?.postMessage({ type: 'saved', id, gen });
    return { ok: true, bytes: bytes.length, sha256, ms: now() - t0 };
  } catch (e) {
    if (committedBlob && blobKey) await txn([BLOBS], 'readwrite', async (s) => s[BLOBS].delete(blobKey)).catch(() => {});
    if (e instanceof WebAssembly.RuntimeError) throw e;
    return { ok: false, error: errorObject(e), ms: now() - t0 };
  }
}

/**
 * A change to the index: under the lock, catch up with another tab's save if there is
 * one, apply `apply()` (which may throw: nothing changed), journal it, save. Resolves to
 * {result, saved, merged}; a failed save leaves the change in memory and in the journal.
 */
async function mutate(entry, apply, progress) {
  if (!persist) return { result: apply(), saved: { ok: false, skipped: true }, merged: null };
  return withLock(async () => {
    let head;
    let merged = null;
    let blocked = null;
    try {
      head = await headOnly();
      if ((head?.id ?? null) !== synced) merged = await catchUp(head);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e;
      blocked = errorObject(e); // the other save cannot be read: never overwrite it
    }
    const result = apply();
    journal.push(entry);
    if (blocked) return { result, saved: { ok: false, error: { kind: blocked.kind, message: `${blocked.message}; this change was not saved (the saved index was left as is)` } }, merged };
    return { result, saved: await save(head), merged };
  }, progress, true);
}

function headOnly() {
  return txn([HEADS, LEGACY], 'readonly', (s) => headIn(s));
}

/** Another tab saved: load its index if this tab has no unsaved change (else the next change merges). */
async function followOtherTab(msg) {
  if (!engine || !persist || journal.length || !msg || msg.id === synced) return;
  let info;
  try {
    info = await withLock(async () => {
      const { head, bytes } = await loadSaved();
      if ((head?.id ?? null) === synced) return null;
      if (!head) {
        synced = null;
        return { forgotten: true };
      }
      await verifySaved(head, bytes);
      engine.importIndex(bytes);
      synced = head.id;
      return { savedAt: head.savedAt };
    });
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) errorObject(e);
    info = { error: errorObject(e) };
  }
  if (info && info.error?.kind === 'ModelNotLoaded') return; // the page has not loaded its model yet: restore() will read the save
  if (info) announce('indexChanged', { ...info, by: 'another tab', stats: engine ? engine.stats() : null });
}

// ---- PDF: the text of each page, through PDF.js, in this thread ----
//
// A document {id, format: 'pdf', bytes} (bytes: Uint8Array, ArrayBuffer or Blob) becomes
// a "pages" document: the text of each page, the pages separated by a form feed (U+000C,
// as pdftotext writes them), from which the engine makes one section per page headed
// "p. N", so a citation says "p. 12". PDF.js (pdfjs-dist, www/vendor/pdfjs/, put there by
// scripts/vendor-pdfjs.sh) is imported the first time a PDF arrives: pages without PDFs
// download nothing more. Its parser runs in this worker through PDF.js's in-thread "fake
// worker" (globalThis.pdfjsWorker): no nested worker, no other script origin. Pages are
// read one at a time: a progress event after each, cancel() checked between them, each
// page's parsed resources released, the document destroyed at the end. Limits (the
// defaults, lowered or raised per call by addDocuments' `pdf` option): PDF_LIMITS below;
// the text limit defaults to the engine's limits.max_document_bytes, so an extracted PDF
// is never refused by the engine (which would fail the whole batch). A PDF that cannot be
// read fails alone, with a kind: "PdfPassword" (encrypted, a password is needed),
// "PdfFormat" (not a PDF, damaged), "PdfNoText" (no text layer: a scan), "LimitExceeded".

const PDF_LIMITS = { maxPages: 2000, maxFileBytes: 256 * 1024 * 1024, maxTextBytes: 16 * 1024 * 1024 };
const PAGE_FORMAT = 'pages'; // the engine's multi-page text format (pages separated by "\f")
let pdfjsLoading = null;
let engineConfig = null; // init's config, for limits.max_document_bytes

function loadPdfjs() {
  if (!pdfjsLoading) {
    pdfjsLoading = (async () => {
      try {
        // The parser first: with globalThis.pdfjsWorker set, the API never starts a Worker.
        globalThis.pdfjsWorker = await import('./vendor/pdfjs/pdf.worker.min.mjs');
        return await import('./vendor/pdfjs/pdf.min.mjs');
      } catch (e) {
        pdfjsLoading = null; // try again with the next PDF
        throw new SottoError('Fetch', `PDF.js could not be loaded (vendor/pdfjs/ next to worker.js; scripts/vendor-pdfjs.sh puts it there): ${e.message}`);
      }
    })();
  }
  return pdfjsLoading;
}

const fmtLimit = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${n} bytes`);
const utf8Length = (s) => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
};

/**
 * One page's text from PDF.js text items: items in content order, a line break where
 * PDF.js marks the end of a line (hasEOL) or the baseline moves, a blank line where the
 * gap to the previous line is well over a line's height (a new paragraph, which the
 * chunker respects). Form feeds inside a page would split it: they become spaces.
 */
function pageText(items) {
  let out = '';
  let lastY = null;
  let lastH = 0;
  for (const it of items) {
    if (typeof it.str !== 'string') continue; // marked-content markers
    const y = it.transform ? it.transform[5] : lastY;
    const h = Math.abs(it.height) || lastH;
    if (it.str && lastY !== null && y !== null) {
      const dy = Math.abs(y - lastY);
      // A new line: the baseline moved by half a line of the larger text (not a superscript).
      if (!out.endsWith('\n') && dy > Math.max(lastH, h, 1) * 0.5) out += '\n';
      // A new paragraph: a gap of well over a line of the smaller text (a heading's own
      // line is tall, the body text's gap after it is what tells).
      if (out.endsWith('\n') && !out.endsWith('\n\n') && dy > Math.max(Math.min(lastH, h), 1) * 1.7) out += '\n';
    }
    out += it.str;
    if (it.hasEOL) out += '\n';
    if (it.str) {
      lastY = y;
      lastH = h;
    }
  }
  return out
    .replace(/\f/g, ' ')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** A PDF.js failure as a typed error of the file `id`. */
function pdfError(id, e, page = null) {
  if (e instanceof SottoError || e instanceof WebAssembly.RuntimeError) return e;
  const where = page ? `${id}, page ${page}` : id;
  if (e?.name === 'PasswordException') return new SottoError('PdfPassword', `${where}: the PDF is encrypted and needs a password (not supported: remove the protection first)`);
  return new SottoError('PdfFormat', `${where}: not a readable PDF (${e?.name || 'Error'}: ${e?.message || e})`);
}

/** Extract one PDF document ({id, bytes, name?, metadata?}) into a "pages" document. */
async function extractPdf(doc, limits, progress) {
  const id = doc.id;
  const name = typeof doc.name === 'string' && doc.name ? doc.name : String(id);
  let data = doc.bytes;
  const size = data instanceof Blob ? data.size : data?.byteLength;
  if (!Number.isFinite(size)) throw new SottoError('InvalidDocument', `${id}: a PDF document needs {bytes: Uint8Array | ArrayBuffer | Blob}`);
  if (size > limits.maxFileBytes) throw new SottoError('LimitExceeded', `${id}: the PDF is ${fmtLimit(size)}, over the ${fmtLimit(limits.maxFileBytes)} limit (pdf.maxFileBytes)`);
  if (data instanceof Blob) data = new Uint8Array(await data.arrayBuffer());
  else if (data instanceof ArrayBuffer) data = new Uint8Array(data);
  else if (!(data instanceof Uint8Array)) data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const lib = await loadPdfjs();
  // No password callback: an encrypted PDF rejects with PasswordException. No eval, no
  // font loading, no fetches (fonts, CMaps, image decoders): text only.
  const task = lib.getDocument({ data, isEvalSupported: false, disableFontFace: true, useSystemFonts: false, useWorkerFetch: false, stopAtErrors: false, verbosity: 0 });
  try {
    let pdf;
    try {
      pdf = await task.promise;
    } catch (e) {
      throw pdfError(id, e);
    }
    const pages = pdf.numPages;
    if (pages > limits.maxPages) throw new SottoError('LimitExceeded', `${id}: the PDF has ${pages} pages, over the ${limits.maxPages}-page limit (pdf.maxPages)`);
    let title = null;
    try {
      const meta = await pdf.getMetadata();
      title = [meta?.info?.Title, meta?.metadata?.get?.('dc:title')].find((t) => typeof t === 'string' && t.trim()) ?? null;
    } catch {
      // no readable Info dictionary: the file name is the title
    }
    const texts = [];
    let bytes = 0;
    let withText = 0;
    progress({ stage: 'pdf', file: id, page: 0, pages });
    for (let n = 1; n <= pages; n++) {
      if (cancelled()) throw new SottoError('Cancelled', 'cancelled');
      let text;
      try {
        const page = await pdf.getPage(n);
        text = pageText((await page.getTextContent()).items);
        page.cleanup();
      } catch (e) {
        throw pdfError(id, e, n);
      }
      bytes += utf8Length(text) + 1;
      if (bytes > limits.maxTextBytes) throw new SottoError('LimitExceeded', `${id}: the text of its first ${n} pages is over the ${fmtLimit(limits.maxTextBytes)} limit (pdf.maxTextBytes)`);
      if (text) withText++;
      texts.push(text);
      progress({ stage: 'pdf', file: id, page: n, pages });
    }
    if (!withText) throw new SottoError('PdfNoText', `${id}: none of its ${pages} pages has text (a scanned PDF? text recognition is not supported)`);
    const metadata = { title: title ? title.trim() : name, source: name, ...(doc.metadata || {}), pages: String(pages), format: 'pdf' };
    return { id, body: texts.join('\f'), format: PAGE_FORMAT, metadata };
  } finally {
    await task.destroy().catch(() => {});
  }
}

/**
 * Replace the PDF documents of a batch by their text. A PDF that fails is left out and
 * reported in `failed` ({id, kind, message}); the other documents go on. Cancel and a
 * crash stop the whole batch.
 */
async function preparePdfs(docs, opts, progress) {
  if (!Array.isArray(docs) || !docs.some((d) => d && d.format === 'pdf')) return { docs, failed: [] };
  const limits = { ...PDF_LIMITS, maxTextBytes: engineConfig?.limits?.max_document_bytes ?? PDF_LIMITS.maxTextBytes };
  for (const [k, v] of Object.entries(opts || {})) {
    if (!(k in PDF_LIMITS)) throw new SottoError('InvalidOption', `unknown pdf option ${JSON.stringify(k)} (have ${Object.keys(PDF_LIMITS).join(', ')})`);
    if (!Number.isSafeInteger(v) || v < 1) throw new SottoError('InvalidOption', `pdf.${k} must be a positive integer, not ${JSON.stringify(v)}`);
    limits[k] = v;
  }
  const out = [];
  const failed = [];
  for (const d of docs) {
    if (!d || d.format !== 'pdf') {
      out.push(d);
      continue;
    }
    try {
      out.push(await extractPdf(d, limits, progress));
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError || e?.kind === 'Cancelled') throw e;
      failed.push({ id: d.id, ...errorObject(e) });
    }
  }
  return { docs: out, failed };
}

// ---- the wasm build: threaded when the page allows it ----

/**
 * Load the threaded build and start its pool of `threads` Web Workers when this worker is
 * cross-origin isolated (SharedArrayBuffer, COOP/COEP), more than one thread is wanted and
 * the package has the build; otherwise, or when any step fails (no such file, a browser
 * that refuses the shared memory, a pool that does not start), the single-thread build.
 * Falling back is not an error: `build.reason` says why, and `stats()` reports the build
 * and its thread count. The pool must start before the engine does anything (rayon's
 * global pool is made once).
 */
async function loadWasm(threads) {
  const unset = threads === undefined || threads === null;
  const wanted = unset ? (AUTO_THREADS ? Math.min(Math.max(1, navigator.hardwareConcurrency || 1), 4) : 1) : Math.floor(Number(threads));
  let reason;
  if (!(wanted > 1)) reason = unset ? (AUTO_THREADS ? 'one hardware thread' : 'threads not asked for (the package default)') : `threads: ${threads}`;
  else if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') reason = 'not cross-origin isolated (no SharedArrayBuffer)';
  else {
    try {
      const url = new URL(THREADS_BUILD, import.meta.url);
      const head = await fetch(url, { method: 'HEAD' });
      if (!head.ok) throw new Error(`no threaded build (${url.pathname}: HTTP ${head.status})`);
      const mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ url.href);
      const exports = await mod.default();
      await mod.initThreadPool(wanted);
      const engineClass = mod.SottoEngine;
      return { exports, SottoEngine: engineClass, build: { name: 'threads', threads: wanted, reason: null } };
    } catch (e) {
      reason = `threaded build unavailable: ${e?.message || e}`;
    }
  }
  return { exports: await initSingle(), SottoEngine: SingleEngine, build: { name: 'single', threads: 1, reason } };
}

// ---- operations ----

// ---- a sharded index on a static host, read by the piece (openRemote) ----
//
// The manifest (`manifest.json`, written by `sotto shard` / `sotto index --shards`) is
// fetched once (no-cache: a changed index is seen) and handed to the engine; each query
// then asks the engine which shards it needs (at most three rounds: term dictionary and
// nearest cluster vectors; postings; chunks), fetches them in parallel and hands them
// over. Shards are content-addressed (the name carries the hash), so the Cache API keeps
// them for good (cache `sotto-shards-v1`, keyed by URL) and they are stored only after the
// engine checked their size and SHA-256. A shard that fails the check is fetched once more
// from the network; a shard that is missing (HTTP 404) or still wrong makes the worker
// re-read the manifest: if the index was updated, the new manifest is opened and the
// query runs once more; otherwise the query fails with a typed error and the engine stays
// usable. Every fetch has a timeout and follows cancel().
//
// A manifest with a `pack` (`sotto index --shards OUT --pack`: the shards concatenated in
// one file, each at a listed offset) is read with HTTP Range requests into the pack, unless
// openRemote({pack: 'never'}); a round's shards that lie back to back in the pack are
// asked for in one request (`coalesce`). Only a 206 whose Content-Range is exactly the
// bytes asked for is used, and its bytes go through the engine's hash check like a shard
// file's. Anything else — a 200 (the host ignores Range: the body is aborted unread, the
// pack never downloaded), a 416, a wrong or unreadable Content-Range, an error status for
// the pack — switches the index to the shard files for the rest of its session
// (`trace.pack_fallback` says why); the shard files hold the same bytes, so the results
// are the same. The Cache API keeps each shard under its own file's URL either way.
const SHARD_CACHE = 'sotto-shards-v1';
const REMOTE_TIMEOUT_MS = 30_000;
/** Most bytes one coalesced Range request asks for (adjacent shards beyond it: another request). */
const MAX_RUN_BYTES = 512 << 10;
let remote = null; // {url, base, sha256, cache, timeoutMs, limits, info, sizes, pack, packMode, coalesce, packFallback}

// A shard's file name (index::shards::shard_name): kind, then 32 hex digits of its hash.
const SHARD_NAME = /^(dict|post|vec|chunk|sent)-[0-9a-f]{32}\.bin$/;

/**
 * Delete from the Cache API the shards under this index's directory that its manifest no
 * longer lists: an index updated many times would otherwise keep every old version's
 * shards. Other URLs (another index, the models) are not touched. Resolves to the count.
 */
async function pruneShards() {
  const r = remote;
  if (!r?.prune) return 0;
  const cache = await shardCache();
  if (!cache) return 0;
  let pruned = 0;
  for (const req of await cache.keys()) {
    const name = req.url.startsWith(r.base) ? req.url.slice(r.base.length) : null;
    if (name === null || !SHARD_NAME.test(name) || r.sizes.has(name)) continue;
    if (await cache.delete(req)) pruned++;
  }
  return pruned;
}

async function shardCache() {
  if (!remote?.cache || !('caches' in self)) return null;
  // Opened once per opened index, not per shard (each shard looks it up, then stores into it).
  remote.store ??= caches.open(SHARD_CACHE).catch(() => null); // e.g. storage disabled: uncached
  return remote.store;
}

/**
 * fetch() that gives up after `timeoutMs` ("Timeout") and follows cancel() ("Cancelled").
 * `refuse(resp)`, if given, looks at the response before its body: a reason (a string)
 * aborts the request unread and resolves to `{resp, bytes: null, refused}`.
 */
async function timedFetch(url, init, timeoutMs, what, maxBytes, refuse) {
  const ctl = new AbortController();
  let why = null;
  const timer = setTimeout(() => ((why = 'timeout'), ctl.abort()), timeoutMs);
  const poll = setInterval(() => cancelled() && ((why = 'cancel'), ctl.abort()), 50);
  try {
    const resp = await fetch(url, { ...init, signal: ctl.signal });
    const refused = refuse?.(resp);
    if (refused) {
      why = 'refused';
      ctl.abort();
      return { resp, bytes: null, refused };
    }
    if (!resp.ok) return { resp, bytes: null };
    // Read at most `maxBytes` (what the manifest lists): a host that sends more is stopped
    // there, not buffered whole in this tab.
    const parts = [];
    let size = 0;
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        why = 'size';
        ctl.abort();
        throw new SottoError('Corrupt', `${what}: ${url} sent more than the ${maxBytes} bytes expected`);
      }
      parts.push(value);
    }
    return { resp, bytes: joinParts(parts, size) };
  } catch (e) {
    if (why === 'size') throw e;
    if (why === 'cancel') throw new SottoError('Cancelled', 'cancelled');
    if (why === 'timeout') throw new SottoError('Timeout', `${what}: ${url} did not answer within ${timeoutMs} ms`);
    throw new SottoError('Fetch', `${what}: could not fetch ${url}: ${e.message}`);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
}

const MAX_MANIFEST_BYTES = 16 << 20; // ShardLimits' default

async function fetchRemoteManifest(url, timeoutMs, limits) {
  const max = limits?.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const { resp, bytes } = await timedFetch(url, { cache: 'no-cache' }, timeoutMs, 'sharded index manifest', max);
  if (!resp.ok) throw new SottoError(resp.status === 404 ? 'ShardUnavailable' : 'Fetch', `sharded index manifest: ${url} answered HTTP ${resp.status}`);
  return bytes;
}

function needRemote() {
  const e = need();
  if (!remote) throw new SottoError('WrongState', 'no remote index is open (call openRemote first)');
  return e;
}

const shardUrl = (name) => new URL(name, remote.base).href;

/** Shard `name` from the Cache API, or null. */
async function cachedShard(name, stats) {
  const cache = await shardCache();
  const hit = cache ? await cache.match(shardUrl(name)).catch(() => null) : null;
  if (!hit) return null;
  stats.cache_api_hits += 1;
  return new Uint8Array(await hit.arrayBuffer());
}

/** Shard file `name` from the network (a Corrupt error instead of bytes: the host sent more than the table's size; the caller treats it as a failed check). */
async function fileShard(name, stats, reload) {
  const url = shardUrl(name);
  // The table's size for this shard (the engine refuses other sizes anyway); a name it does not list: the engine's limit.
  const max = remote.sizes.get(name) ?? remote.limits?.maxShardBytes ?? 64 << 20;
  stats.requests += 1;
  let got;
  try {
    got = await timedFetch(url, reload ? { cache: 'reload' } : {}, remote.timeoutMs, `shard ${name}`, max);
  } catch (err) {
    if (err.kind === 'Corrupt') return err;
    throw err;
  }
  const { resp, bytes } = got;
  if (!resp.ok) throw new SottoError(resp.status === 404 ? 'ShardUnavailable' : 'Fetch', `shard ${name}: ${url} answered HTTP ${resp.status}`);
  stats.bytes += bytes.length;
  return bytes;
}

/** Whether `value` (a Content-Range header) says exactly bytes `start..end` of a pack of `total` bytes. */
function contentRangeIs(value, start, end, total) {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((value ?? '').trim());
  return !!m && Number(m[1]) === start && Number(m[2]) === end - 1 && (m[3] === '*' || Number(m[3]) === total);
}

/** Read shard files for the rest of this index's session. */
function packFallBack(reason, stats) {
  remote.packFallback ??= reason;
  stats.pack_fallback = remote.packFallback;
}

const usePack = () => !!remote.pack && !remote.packFallback;

/**
 * Shards `run` (back to back in the pack, in pack order) with one Range request: their
 * bytes in order, or null when the host did not answer as asked (the index falls back to
 * the shard files).
 */
async function packShards(run, stats, reload) {
  const p = remote.pack;
  const start = p.ranges.get(run[0])[0];
  const end = p.ranges.get(run[run.length - 1])[1];
  const range = `bytes=${start}-${end - 1}`;
  const refuse = (resp) => {
    if (resp.status === 206) {
      const got = resp.headers.get('content-range');
      return contentRangeIs(got, start, end, p.bytes) ? null : `${p.url} answered ${range} with Content-Range ${JSON.stringify(got)}`;
    }
    return `${p.url} answered HTTP ${resp.status} to a Range request${resp.status === 200 ? ' (the host ignores Range)' : ''}`;
  };
  const init = { headers: { range }, ...(reload ? { cache: 'reload' } : {}) };
  stats.requests += 1;
  stats.range_requests += 1;
  let got;
  try {
    got = await timedFetch(p.url, init, remote.timeoutMs, `pack ${p.name} (${range})`, end - start, refuse);
  } catch (err) {
    if (err.kind === 'Corrupt') return run.map(() => err); // more than asked for: each fails its check
    throw err;
  }
  if (got.refused) {
    packFallBack(got.refused, stats);
    return null;
  }
  stats.bytes += got.bytes.length;
  return run.map((name) => {
    const [a, b] = p.ranges.get(name);
    return got.bytes.slice(a - start, b - start); // short if the body was: the check fails
  });
}

/** A round's names split into runs that one Range request each reads (adjacent in the pack, up to MAX_RUN_BYTES). */
function packRuns(names) {
  const r = remote.pack.ranges;
  const sorted = [...names].sort((x, y) => r.get(x)[0] - r.get(y)[0]);
  const runs = [];
  for (const name of sorted) {
    const last = runs[runs.length - 1];
    const [a, b] = r.get(name);
    if (remote.coalesce && last && r.get(last[last.length - 1])[1] === a && b - r.get(last[0])[0] <= MAX_RUN_BYTES) last.push(name);
    else runs.push([name]);
  }
  return runs;
}

/** Shards `names` from the network: from the pack (in runs) while it answers Range requests, else their files. */
async function networkShards(names, stats, reload) {
  const out = new Map();
  const files = (list) => Promise.all(list.map(async (n) => out.set(n, await fileShard(n, stats, reload))));
  if (!usePack()) {
    await files(names);
    return out;
  }
  const listed = names.filter((n) => remote.pack.ranges.has(n));
  await Promise.all([
    files(names.filter((n) => !remote.pack.ranges.has(n))),
    ...packRuns(listed).map(async (run) => {
      const parts = await packShards(run, stats, reload);
      if (parts) run.forEach((n, i) => out.set(n, parts[i]));
      else await files(run);
    }),
  ]);
  return out;
}

/**
 * Fetch a round's shards (the Cache API first, then the network, all at once) and hand
 * each to the engine, which checks it; a shard that fails the check is fetched once more
 * from the network, then the round fails with Corrupt. Checked shards from the network
 * are stored in the Cache API under their own names.
 */
async function provideRound(e, names, stats) {
  const cached = await Promise.all(names.map((n) => cachedShard(n, stats)));
  const got = new Map(names.map((n, i) => [n, cached[i] && { bytes: cached[i], from: 'cache' }]));
  const fetched = await networkShards(names.filter((n) => !got.get(n)), stats, false);
  for (const [n, bytes] of fetched) got.set(n, { bytes, from: 'network' });
  const cache = await shardCache();
  await Promise.all(
    names.map(async (name) => {
      let g = got.get(name);
      try {
        if (!(g.bytes instanceof Uint8Array)) throw g.bytes;
        e.provideShard(name, g.bytes);
      } catch (err) {
        if (err.kind !== 'Corrupt') throw err;
        if (g.from === 'cache') await cache?.delete(shardUrl(name)).catch(() => {});
        stats.refetched += 1;
        g = { bytes: (await networkShards([name], stats, true)).get(name), from: 'network' };
        if (!(g.bytes instanceof Uint8Array)) throw g.bytes;
        e.provideShard(name, g.bytes); // still wrong: Corrupt
      }
      if (g.from === 'network') {
        await cache?.put(shardUrl(name), new Response(g.bytes, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => {});
      }
    }),
  );
}

function checkNprobe(nprobe) {
  if (nprobe !== undefined && nprobe !== null && !(Number.isSafeInteger(nprobe) && nprobe >= 1)) {
    throw new SottoError('InvalidOption', `nprobe must be a positive integer, not ${JSON.stringify(nprobe)}`);
  }
}

/**
 * Drive a begun query `q` on the open remote index to its end: step, fetch what the step
 * needs (in parallel), provide, step again (at most `maxRounds` fetches). Resolves to the
 * final step and the worker's counters, merged into its trace.
 */
async function drive(e, q, step, maxRounds) {
  const stats = { requests: 0, bytes: 0, cache_api_hits: 0, refetched: 0, fetch_ms: 0, range_requests: 0 };
  let provided = 0;
  try {
    for (let round = 0; ; round++) {
      const s = step(q);
      if (!s.need) {
        // The engine's own counters are for a source it fetches from itself; here the worker
        // fetched, and each step re-reads the shards provided before it from memory.
        const pack = remote.pack ? { pack: remote.pack.name, pack_fallback: remote.packFallback ?? null } : { pack: null };
        s.trace = { ...s.trace, ...stats, ...pack, rounds: round, cache_hits: s.trace.shards.length - provided, manifest_sha256: remote.sha256 };
        return s;
      }
      if (round >= maxRounds) throw new SottoError('WrongState', `a remote query asked for shards more than ${maxRounds} times`);
      if (cancelled()) throw new SottoError('Cancelled', 'cancelled');
      const t = now();
      await provideRound(e, s.need, stats);
      provided += s.need.length;
      stats.fetch_ms += now() - t;
    }
  } finally {
    q.free();
  }
}

/** A search on the open remote index. */
async function remoteSearch(e, query, opts) {
  const { nprobe, ...search } = opts || {};
  checkNprobe(nprobe);
  const t0 = now();
  const q = e.shardedQuery(query, nprobe ?? undefined, search);
  const embedMs = now() - t0;
  const { hits, trace } = await drive(e, q, (x) => e.shardedStep(x), 3);
  return { hits, trace, timings: { embed_ms: embedMs, fetch_ms: trace.fetch_ms, search_ms: now() - t0 } };
}

/** An extractive answer from the open remote index (the search's rounds, then the hits' chunk and sentence shards). */
async function remoteAsk(e, question, opts) {
  const { nprobe, ...ask } = opts || {};
  checkNprobe(nprobe);
  const t0 = now();
  const q = e.shardedAskQuery(question, nprobe ?? undefined, ask);
  const embedMs = now() - t0;
  const { answer, trace } = await drive(e, q, (x) => e.shardedAskStep(x), 4);
  return { answer, trace, timings: { embed_ms: embedMs, fetch_ms: trace.fetch_ms, total_ms: now() - t0 } };
}

/** Run `fn` on the open remote index; when a shard is missing or wrong, re-read the manifest and, if the index changed, run it once more on the new one. */
async function onRemote(e, fn) {
  try {
    return await fn();
  } catch (err) {
    if (err.kind !== 'ShardUnavailable' && err.kind !== 'Corrupt') throw err;
    let updated = false;
    try {
      updated = await refreshRemote(e);
    } catch {
      // The manifest cannot be read either: report the shard's failure.
    }
    if (!updated) throw err;
    const r = await fn();
    r.trace.manifest_updated = true;
    return r;
  }
}

/**
 * From a manifest the engine has checked: each shard's size as the table lists it, and the
 * pack (its URL and each shard's byte range) unless `packMode` is 'never'.
 */
function shardTable(bytes, base, packMode) {
  const m = JSON.parse(new TextDecoder().decode(bytes));
  const shards = m.shards || [];
  const sizes = new Map(shards.map((x) => [x.name, x.bytes]));
  const p = packMode === 'never' ? null : m.pack;
  const pack = p && {
    name: p.name,
    url: new URL(p.name, base).href,
    bytes: p.bytes,
    ranges: new Map(shards.map((x, i) => [x.name, [p.offsets[i], p.offsets[i] + x.bytes]])),
  };
  return { sizes, pack: pack || null };
}

/** Read the manifest again; open it if the index changed. Resolves to whether it did. */
async function refreshRemote(e) {
  const bytes = await fetchRemoteManifest(remote.url, remote.timeoutMs, remote.limits);
  const sha256 = await sha256hex(bytes);
  if (sha256 !== null && sha256 === remote.sha256) return false;
  const info = e.openSharded(bytes, remote.limits);
  remote = { ...remote, sha256: info.manifest_sha256, info, ...shardTable(bytes, remote.base, remote.packMode) };
  remote.pruned = await pruneShards().catch(() => 0);
  return true;
}

const ops = {
  async init({ cancelBuffer, persist: p, config, faults, lifeLock, monitoring = true, threads } = {}) {
    if (!SottoEngine) {
      const loaded = await loadWasm(threads);
      ({ exports: wasmExports, SottoEngine } = loaded);
      build = loaded.build;
    }
    if (!engine) {
      engine = new SottoEngine(config);
      engineConfig = config && typeof config === 'object' ? config : null;
    }
    cancelFlag = cancelBuffer ? new Int32Array(cancelBuffer) : null;
    faultsEnabled = faults === true;
    persist?.channel?.close();
    persist = null;
    if (p) {
      const db = p.db || 'sotto';
      const key = p.key || 'index';
      const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`sotto-index:${db}/${key}`) : null;
      persist = { db, key, lock: `sotto-index:${db}/${key}`, channel };
      if (channel) channel.onmessage = (ev) => enqueue(() => followOtherTab(ev.data));
    }
    // The local query log and feedback: in memory, and in IndexedDB next to the index when
    // it is persisted (a restarted worker reads them back).
    if (!monitoring) monitor = null;
    else if (!monitor) monitor = await new MonitorStore(p ? `sotto-monitor:${p.db || 'sotto'}/${p.key || 'index'}` : null, !!p).open();
    // Held until this worker dies: the client waits for it to learn that.
    if (lifeLock && self.navigator?.locks) {
      await new Promise((granted) =>
        navigator.locks.request(lifeLock, () => {
          granted();
          return new Promise(() => {});
        }),
      );
    }
    return { version: SottoEngine.version(), crossOriginIsolated: self.crossOriginIsolated === true, locks: !!self.navigator?.locks, webCrypto: !!self.crypto?.subtle, build: build.name, threads: build.threads, buildReason: build.reason };
  },

  async loadEmbedder({ urls, bytes, name, manifest, sha256, quantize }, progress) {
    const e = need();
    const t0 = now();
    let files = bytes;
    let fetched = null;
    if (!files) {
      if (!urls || !urls.weights || !urls.tokenizer || !urls.config) {
        throw new SottoError('InvalidOption', 'loadEmbedder needs {urls: {weights, tokenizer, config}} or {bytes: {...}}');
      }
      const m = manifest ? await loadManifest(manifest) : null;
      fetched = {};
      for (const f of ['config', 'tokenizer', 'weights']) fetched[f] = await fetchBytes(urls[f], f, progress, expectation(m, urls[f], f, sha256?.[f] ?? null));
      files = { weights: fetched.weights.bytes, tokenizer: fetched.tokenizer.bytes, config: fetched.config.bytes };
    }
    const t1 = now();
    progress({ stage: 'load' });
    const info = e.loadEmbedder(files.weights, files.tokenizer, files.config, name || 'embedder', quantize === undefined ? undefined : { quantize });
    const t2 = now();
    let cached = null;
    if (fetched) {
      cached = {};
      for (const f of ['config', 'tokenizer', 'weights']) {
        const r = fetched[f].cached ? { ok: true, hit: true, where: fetched[f].where } : await cacheBytes(urls[f], fetched[f].bytes);
        if (fetched[f].repaired) r.repaired = fetched[f].repaired;
        cached[f] = r;
      }
    }
    embedderSource = urls || 'bytes';
    const verifyMs = fetched ? Object.values(fetched).reduce((a, f) => a + f.verify_ms, 0) : 0;
    return { info, cached, verified: !!(fetched && (manifest || sha256)), timings: { fetch_ms: t1 - t0, verify_ms: verifyMs, load_ms: t2 - t1, total_ms: now() - t0 } };
  },

  /** Load a GGUF generator from a URL (cached like the embedder) or bytes. */
  async loadGenerator({ url, bytes, opts, manifest, sha256 }, progress) {
    const e = need();
    const t0 = now();
    let fetched = null;
    if (!bytes) {
      if (!url) throw new SottoError('InvalidOption', 'loadGenerator needs {url} or {bytes}');
      const m = manifest ? await loadManifest(manifest) : null;
      fetched = await fetchBytes(url, 'generator', progress, expectation(m, url, 'generator', sha256 ?? null));
      bytes = fetched.bytes;
    }
    const t1 = now();
    progress({ stage: 'load' });
    generatorInfo = e.loadGenerator(bytes, opts);
    const t2 = now();
    const cached = fetched ? (fetched.cached ? { ok: true, hit: true, where: fetched.where } : await cacheBytes(url, bytes)) : null;
    if (cached && fetched.repaired) cached.repaired = fetched.repaired;
    return { info: generatorInfo, cached, verified: !!(fetched && (manifest || sha256)), timings: { fetch_ms: t1 - t0, verify_ms: fetched ? fetched.verify_ms : 0, load_ms: t2 - t1, total_ms: now() - t0 } };
  },

  /** Delete every cached model file (the next load downloads them again). */
  async clearModelCache() {
    let deleted = 'caches' in self ? await caches.delete(MODEL_CACHE).catch(() => false) : false;
    if (self.navigator?.storage?.getDirectory) {
      const removed = await (await navigator.storage.getDirectory()).removeEntry(OPFS_DIR, { recursive: true }).then(() => true, () => false);
      deleted = deleted || removed;
    }
    return { deleted };
  },

  async unloadGenerator() {
    generatorInfo = null;
    return { unloaded: need().unloadGenerator() };
  },

  /** Raw generation (no retrieval), streamed as 'text' events. */
  async chat({ prompt, opts }, progress) {
    const t0 = now();
    let first = null;
    const result = need().chat(prompt, opts, (text) => {
      if (first === null) first = now() - t0;
      progress({ stage: 'text', text });
      return !cancelled();
    });
    return { result, timings: { first_text_ms: first } };
  },

  async loadHashingEmbedder({ dim }) {
    return { info: need().loadHashingEmbedder(dim) };
  },

  async addDocuments({ docs: given, pdf }, progress) {
    const e = need();
    // PDFs become text first; one that cannot be read is reported in `failed`, the rest go on.
    const tPdf = now();
    const { docs, failed } = await preparePdfs(given, pdf, progress);
    const pdfMs = now() - tPdf;
    if (failed.length && !docs.length) {
      const report = { documents: 0, replaced: 0, chunks: 0, exact_duplicates: 0, near_duplicates: 0 };
      return { report, failed, stats: e.stats(), saved: { ok: false, skipped: true }, merged: null, timings: { pdf_ms: pdfMs, clean_chunk_ms: 0, embed_ms: 0, index_total_ms: 0, wait_ms: 0, save_ms: 0 } };
    }
    const t0 = now();
    const marks = {};
    let t1 = t0;
    let tApplied = t0;
    const { result: report, saved, merged } = await mutate(
      { op: 'add', docs },
      () => {
        t1 = now();
        const r = e.addDocuments(
          docs,
          (p) => {
            if (!(p.stage in marks)) marks[p.stage] = now();
            progress(p);
          },
          cancelled,
        );
        tApplied = now();
        return r;
      },
      progress,
    );
    const chunkStart = marks.chunking ?? t1;
    const embedStart = marks.embedding ?? tApplied;
    return {
      report,
      failed,
      stats: engine.stats(),
      saved,
      merged,
      timings: { pdf_ms: pdfMs, clean_chunk_ms: embedStart - chunkStart, embed_ms: tApplied - embedStart, index_total_ms: tApplied - t1, wait_ms: t1 - t0, save_ms: saved.ms ?? 0 },
    };
  },

  /** RAPTOR summary tree over the indexed chunks: cancellable between steps, progress per level; then saved. */
  async buildTree({ params }, progress) {
    const e = need();
    const t0 = now();
    const { result: report, saved, merged } = await mutate(
      { op: 'tree', params },
      () => e.buildTree(params ?? undefined, (p) => progress(p), cancelled),
      progress,
    );
    return { report, levels: e.treeLevels(), stats: engine.stats(), saved, merged, timings: { tree_ms: now() - t0 } };
  },

  /** HNSW segments over the exact-scan vectors, segment by segment: cancel keeps what was built; then saved. */
  async buildHnsw({ opts }, progress) {
    const e = need();
    const t0 = now();
    const { result: report, saved, merged } = await mutate(
      { op: 'hnsw' },
      () => e.buildHnsw(opts ?? undefined, (p) => progress(p), cancelled),
      progress,
    );
    return { report, stats: engine.stats(), saved, merged, timings: { hnsw_ms: now() - t0 } };
  },

  async removeDocuments({ ids }) {
    const e = need();
    const { result: removed, saved, merged } = await mutate({ op: 'remove', ids }, () => e.removeDocuments(ids));
    return { removed, stats: engine.stats(), saved, merged };
  },

  /** Routing: the collections, and a collection's description (saved like any change). */
  async collections() {
    return { collections: need().collections() };
  },

  async setCollectionDescription({ name, description }) {
    const e = need();
    const { saved, merged } = await mutate({ op: 'describe', name, description }, () => e.setCollectionDescription(name, description));
    return { collections: engine.collections(), saved, merged };
  },

  async clear() {
    const e = need();
    const { saved, merged } = await mutate({ op: 'clear' }, () => e.clear());
    return { stats: engine.stats(), saved, merged };
  },

  async search({ query, opts }) {
    const t0 = now();
    // The trace says what ran (query translation, typo corrections); the page shows it.
    const { hits, trace } = need().searchTraced(query, opts);
    const search_ms = now() - t0;
    monitor?.add('log', searchEntry({ query, hits, trace, ms: search_ms, indexGen: indexSignature(), mode: typeof opts?.mode === 'string' ? opts.mode : 'hybrid' }));
    // Words BM25 found nowhere and what it searched instead (typo tolerance), as before.
    return { hits, corrections: trace.corrections, trace, timings: { search_ms } };
  },

  /**
   * Open a sharded index served from a static host: `url` is its manifest.json. The loaded
   * embedder must be the index's. Options: `cache` (default true: keep shards in the Cache
   * API), `timeoutMs` per request (default 30 s), `limits` (ShardLimits), `pack` ('auto',
   * the default: Range requests into the manifest's packed file if it lists one, the shard
   * files if the host does not answer them; 'never': the shard files), `coalesce` (default
   * true: a round's shards adjacent in the pack in one Range request), `prune` (default
   * true: the Cache API loses this directory's shards the manifest no longer lists).
   */
  async openRemote({ url, cache = true, timeoutMs = REMOTE_TIMEOUT_MS, limits, prune = true, pack = 'auto', coalesce = true }) {
    const e = need();
    if (typeof url !== 'string' || !url) throw new SottoError('InvalidOption', 'openRemote: url must be the URL of a manifest.json');
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new SottoError('InvalidOption', `openRemote: timeoutMs must be a positive number, not ${JSON.stringify(timeoutMs)}`);
    if (pack !== 'auto' && pack !== 'never') throw new SottoError('InvalidOption', `openRemote: pack must be "auto" or "never", not ${JSON.stringify(pack)}`);
    if (typeof coalesce !== 'boolean') throw new SottoError('InvalidOption', `openRemote: coalesce must be a boolean, not ${JSON.stringify(coalesce)}`);
    const abs = new URL(url, self.location.href);
    const t0 = now();
    const bytes = await fetchRemoteManifest(abs.href, timeoutMs, limits);
    const info = e.openSharded(bytes, limits);
    const base = new URL('./', abs).href;
    remote = { url: abs.href, base, sha256: info.manifest_sha256, cache: cache !== false, timeoutMs, limits, info, packMode: pack, coalesce, packFallback: null, prune: prune !== false, ...shardTable(bytes, base, pack) };
    const t1 = now();
    remote.pruned = await pruneShards().catch(() => 0);
    return { info, manifest_bytes: bytes.length, pruned: remote.pruned, timings: { open_ms: t1 - t0, prune_ms: now() - t1 } };
  },

  /** Search the remote index: `opts` as for search (those a sharded index lacks are refused), plus `nprobe`. */
  async searchRemote({ query, opts }) {
    const e = needRemote();
    return onRemote(e, () => remoteSearch(e, query, opts));
  },

  /** An extractive answer with citations from the remote index: `opts` as for ask, plus `nprobe`. */
  async askRemote({ question, opts }) {
    const e = needRemote();
    return onRemote(e, () => remoteAsk(e, question, opts));
  },

  /** Read the remote manifest again: `{updated, info}` (a changed index is opened). */
  async refreshRemote() {
    const e = needRemote();
    const updated = await refreshRemote(e);
    return { updated, info: e.shardedInfo(), pruned: updated ? remote.pruned : 0 };
  },

  async remoteInfo() {
    return { info: engine?.shardedInfo() ?? null, url: remote?.url ?? null };
  },

  async closeRemote() {
    const closed = engine ? engine.closeSharded() : false;
    remote = null;
    return { closed };
  },

  /** Building blocks: the loaded embedder over any texts (vectors transferred, not copied). */
  async embed({ texts, opts }, progress) {
    const t0 = now();
    const vectors = need().embed(texts, opts, (p) => progress({ stage: 'embedding', ...p }), cancelled);
    return { vectors, timings: { embed_ms: now() - t0 } };
  },

  async rerank({ query, passages }) {
    const t0 = now();
    const ranked = need().rerank(query, passages);
    return { ranked, timings: { rerank_ms: now() - t0 } };
  },

  async chunk({ document }) {
    return { document: need().chunk(document) };
  },

  async ask({ question, opts }, progress) {
    const t0 = now();
    const answer = need().ask(question, opts, (text) => {
      progress({ stage: 'text', text });
      return !cancelled();
    });
    monitor?.add('log', askEntry({ question, answer, ms: now() - t0, indexGen: indexSignature() }));
    return { answer };
  },

  /** Feedback on an answer: {question, helpful?, sources? (confirmed doc ids), noAnswer?}. */
  async feedback(input) {
    if (!monitor) throw new SottoError('InvalidOption', 'monitoring is off (createEngine({monitoring: false}))');
    let entry;
    try {
      entry = feedbackEntry(input);
    } catch (e) {
      throw new SottoError('InvalidOption', e.message);
    }
    monitor.add('feedback', entry);
    return { stored: monitor.feedback.length };
  },

  /** Latency percentiles per stage, abstention and zero-hit shares, feedback rate, drift. */
  async monitoring({ window } = {}) {
    if (!monitor) return { enabled: false };
    return { enabled: true, persisted: !!monitor.db, ...summarize(monitor.log, monitor.feedback, window ? { window } : {}) };
  },

  /** The feedback as an evaluation dataset (JSONL); sources no longer indexed are dropped. */
  async exportFeedback() {
    if (!monitor) return { jsonl: '', questions: 0, skipped: [] };
    const ids = new Set(need().documentIds());
    return toDataset(monitor.feedback, (id) => ids.has(id));
  },

  /** Forget the query log and/or the feedback (default both). */
  async clearMonitoring({ log = true, feedback = true } = {}) {
    await monitor?.clear([...(log ? ['log'] : []), ...(feedback ? ['feedback'] : [])]);
    return { ok: true };
  },

  /**
   * Evaluate the current index against a dataset with ground truth (a File/Blob or bytes:
   * JSONL questions, or BEIR queries.jsonl with `qrels`) and build the HTML report. The
   * size is checked before a File is read, so an oversized upload is refused without
   * being loaded.
   */
  async evaluate({ dataset, qrels, opts = {} }, progress) {
    const e = need();
    const limit = opts.maxDatasetBytes ?? 64 * 1024 * 1024;
    const size = (x) => (x ? (x.size ?? x.byteLength ?? 0) : 0);
    if (!dataset) throw new SottoError('InvalidOption', 'evaluate needs {dataset} (a File, Blob or Uint8Array)');
    if (size(dataset) + size(qrels) > limit) {
      throw new SottoError('Dataset', `the dataset is ${(size(dataset) / 1e6).toFixed(1)} MB, over the ${(limit / 1e6).toFixed(0)} MB this page accepts; evaluate it with \`sotto eval\`, which streams it`);
    }
    const bytes = async (x) => (x instanceof Blob ? new Uint8Array(await x.arrayBuffer()) : x);
    const t0 = now();
    const result = e.evaluate(await bytes(dataset), qrels ? await bytes(qrels) : undefined, opts, (p) => {
      progress(p);
      return !cancelled();
    });
    return { ...result, timings: { evaluate_ms: now() - t0 } };
  },

  async exportIndex() {
    return { bytes: need().exportIndex() };
  },

  async importIndex({ bytes }) {
    const e = need();
    const { result: stats, saved, merged } = await mutate({ op: 'import', bytes }, () => e.importIndex(bytes));
    return { stats, saved, merged };
  },

  async readManifest({ bytes }) {
    return { manifest: SottoEngine.readManifest(bytes) };
  },

  /**
   * Load the index saved in IndexedDB, if any. A damaged (size or SHA-256 mismatch) or
   * unusable record is reported with `damaged: true` and left alone: nothing is saved
   * over it until `rebuild()`.
   */
  async restore() {
    const e = need();
    if (!persist) return { restored: false, reason: 'persistence is off' };
    const t0 = now();
    const { head, bytes } = await loadSaved();
    if (!head) {
      synced = null;
      journal = [];
      return { restored: false, reason: 'nothing saved' };
    }
    let stats;
    let verified;
    try {
      verified = await verifySaved(head, bytes);
      stats = e.importIndex(bytes);
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError) throw err;
      return { restored: false, reason: 'saved index not usable', damaged: true, error: errorObject(err), savedAt: head.savedAt, documents: head.documents ?? null };
    }
    synced = head.id;
    journal = [];
    return { restored: true, stats, savedAt: head.savedAt, bytes: bytes.length, verified, timings: { restore_ms: now() - t0 } };
  },

  /**
   * Set an unusable saved index aside (kept in IndexedDB under `<key>.damaged`, replacing
   * any earlier one) and save the current in-memory index in its place.
   */
  async rebuild() {
    const e = need();
    if (!persist) return { stats: e.stats(), saved: { ok: false, skipped: true }, kept: null };
    return withLock(async () => {
      const q = quarantineKey();
      let kept = null;
      await txn([HEADS, BLOBS, LEGACY], 'readwrite', async (s) => {
        const head = await headIn(s);
        const old = await idbReq(s[HEADS].get(q));
        if (old?.blob) s[BLOBS].delete(old.blob);
        s[HEADS].delete(q);
        s[LEGACY].delete(q);
        if (!head) return;
        kept = q;
        if (head.legacy) {
          s[LEGACY].put(await idbReq(s[LEGACY].get(persist.key)), q);
          s[LEGACY].delete(persist.key);
        } else {
          s[HEADS].put({ ...head, quarantinedAt: Date.now() }, q);
          s[HEADS].delete(persist.key);
        }
      });
      synced = null;
      const saved = await save(null);
      return { stats: e.stats(), saved, kept };
    });
  },

  /** Delete the saved index (the in-memory one is kept). */
  async forget() {
    if (persist) {
      await withLock(async () => {
        await txn([HEADS, BLOBS, LEGACY], 'readwrite', async (s) => {
          const kept = await idbReq(s[HEADS].get(quarantineKey()));
          const keys = await idbReq(s[BLOBS].getAllKeys(blobRange(persist.key)));
          for (const k of keys) if (!(kept?.blob && k.length === kept.blob.length && k.every((x, i) => x === kept.blob[i]))) s[BLOBS].delete(k);
          s[HEADS].delete(persist.key);
          s[LEGACY].delete(persist.key);
        });
        synced = null;
        persist.channel?.postMessage({ type: 'forgotten', id: null });
      });
    }
    return { ok: true };
  },

  async stats() {
    const stats = need().stats();
    return { stats, embedder: need().embedderInfo(), generator: generatorInfo, source: embedderSource, unsaved: journal.length, tree: need().treeLevels(), threads: stats.threads, build: stats.build, buildReason: build?.reason ?? null };
  },

  async document({ id }) {
    return { document: need().document(id) };
  },

  async documentIds() {
    return { ids: need().documentIds() };
  },

  /** Memory figures for benchmarks: wasm linear memory and (Chromium) JS heap. */
  async memory() {
    const m = { wasm_bytes: wasmExports ? wasmExports.memory.buffer.byteLength : null };
    if (performance.memory) {
      m.js_heap_used = performance.memory.usedJSHeapSize;
      m.js_heap_total = performance.memory.totalJSHeapSize;
    }
    return m;
  },

  /**
   * Test hooks (only with init {faults: true}): {what: 'panic'} fails like a Rust panic
   * (the same RuntimeError path, poisoning the engine); 'exit' closes this worker;
   * 'throw' raises an uncaught error; 'saveInBlob' / 'saveBeforeSwap' make the next save
   * stop for good inside the blob transaction / between blob and head; 'saveFails' makes
   * the next save fail with QuotaExceeded.
   */
  async __fault({ what }) {
    if (!faultsEnabled) throw new SottoError('InvalidOption', 'fault injection is off (createEngine({faults: true}))');
    if (what === 'panic') throw new WebAssembly.RuntimeError('unreachable (a panic injected by a test)');
    if (what === 'exit') {
      self.close();
      return new Promise(() => {});
    }
    if (what === 'throw') {
      setTimeout(() => {
        throw new Error('an uncaught error injected by a test');
      });
      return { armed: what };
    }
    if (['saveInBlob', 'saveBeforeSwap', 'saveFails'].includes(what)) {
      armed.add(what);
      return { armed: what };
    }
    throw new SottoError('InvalidOption', `unknown fault ${JSON.stringify(what)}`);
  },
};

const CANCELLABLE = new Set(['openRemote', 'searchRemote', 'askRemote', 'loadEmbedder', 'loadGenerator', 'addDocuments', 'buildTree', 'embed', 'ask', 'chat', 'evaluate']);

// Requests (and the worker's own tasks, such as loading another tab's save) run strictly one after another.
let queue = Promise.resolve();
const enqueue = (task) => (queue = queue.then(task).catch(() => {}));

self.onmessage = (ev) => {
  const { id, op, args } = ev.data || {};
  enqueue(async () => {
    const progress = (data) => self.postMessage({ id, event: 'progress', data });
    try {
      const fn = ops[op];
      if (!fn) throw new SottoError('InvalidOption', `unknown operation ${JSON.stringify(op)}`);
      currentId = id;
      if (CANCELLABLE.has(op) && cancelled()) throw new SottoError('Cancelled', 'cancelled before it started');
      const result = await fn(args || {}, progress);
      const transfer = result && result.bytes instanceof Uint8Array ? [result.bytes.buffer] : Array.isArray(result?.vectors) ? result.vectors.map((v) => v.buffer) : [];
      self.postMessage({ id, ok: true, result }, transfer);
    } catch (e) {
      self.postMessage({ id, ok: false, error: errorObject(e) });
    }
  });
};

// Sotto's Web Worker: owns the wasm engine so indexing, embedding and generation never
// block the page. Speaks a small request/response protocol with client.js:
//
//   page → worker  {id, op, args}
//   worker → page  {id, event, data}             progress while the request runs
//                  {id, ok: true, result}        final answer (Uint8Arrays are transferred)
//                  {id, ok: false, error: {kind, message}}
//
// Requests run one at a time, in arrival order (the engine is synchronous). Cancellation
// uses a SharedArrayBuffer counter that the page raises while this thread is busy in wasm;
// it exists only in cross-origin-isolated pages (COOP/COEP headers, see scripts/serve.py).
// Without it, client.js cancels by terminating this worker and starting a fresh one.
//
// Model files are fetched from URLs with byte progress and kept in the Cache API (only
// after they loaded successfully), so a second visit downloads nothing. The index is saved
// to IndexedDB after every change, in one transaction: an interrupted save leaves the
// previous index intact.

import init, { SottoEngine } from './pkg/sotto.js';

const MODEL_CACHE = 'sotto-models-v1';
const DB_STORE = 'indexes';

let engine = null;
let cancelFlag = null; // Int32Array over a SharedArrayBuffer: requests with id ≤ flag[0] are cancelled
let currentId = 0;
let wasmExports = null;
let persist = null; // {db, key} or null
let embedderSource = null; // what loadEmbedder was given, for stats
let generatorInfo = null;

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

function need() {
  if (!engine) throw new SottoError('NotInitialized', 'the engine is not initialized (call init first)');
  return engine;
}

// ---- model files: fetch with progress, Cache API ----

async function openCache() {
  try {
    return 'caches' in self ? await caches.open(MODEL_CACHE) : null;
  } catch {
    return null; // e.g. storage disabled: work uncached
  }
}

async function fetchBytes(url, file, progress) {
  const cache = await openCache();
  if (cache) {
    const hit = await cache.match(url);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      progress({ stage: 'download', file, received: bytes.length, total: bytes.length, cached: true });
      return { bytes, cached: true };
    }
  }
  let resp;
  try {
    resp = await fetch(url);
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
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  progress({ stage: 'download', file, received, total: total || received, cached: false });
  return { bytes, cached: false };
}

async function cacheBytes(url, bytes) {
  const cache = await openCache();
  if (!cache) return { ok: false, error: { kind: 'Storage', message: 'Cache API unavailable' } };
  try {
    await cache.put(url, new Response(bytes, { headers: { 'content-length': String(bytes.length) } }));
    return { ok: true };
  } catch (e) {
    return { ok: false, error: errorObject(e) };
  }
}

// ---- IndexedDB: one record per key, written in one transaction ----

function openDb(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbGet(name, key) {
  const db = await openDb(name);
  try {
    return await new Promise((resolve, reject) => {
      const req = db.transaction(DB_STORE, 'readonly').objectStore(DB_STORE).get(key);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

async function dbWrite(name, key, value) {
  const db = await openDb(name);
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(DB_STORE, 'readwrite', { durability: 'strict' });
      if (value === undefined) tx.objectStore(DB_STORE).delete(key);
      else tx.objectStore(DB_STORE).put(value, key);
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'));
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Save the current index; failures are reported, never thrown (the engine is fine). */
async function save() {
  if (!persist) return { ok: false, skipped: true };
  const t0 = now();
  try {
    const bytes = engine.exportIndex();
    const stats = engine.stats();
    await dbWrite(persist.db, persist.key, { bytes, stats, savedAt: Date.now() });
    return { ok: true, bytes: bytes.length, ms: now() - t0 };
  } catch (e) {
    return { ok: false, error: errorObject(e), ms: now() - t0 };
  }
}

// ---- operations ----

const ops = {
  async init({ cancelBuffer, persist: p, config } = {}) {
    if (!engine) {
      wasmExports = await init();
      engine = new SottoEngine(config);
    }
    cancelFlag = cancelBuffer ? new Int32Array(cancelBuffer) : null;
    persist = p ? { db: p.db || 'sotto', key: p.key || 'index' } : null;
    return { version: SottoEngine.version(), crossOriginIsolated: self.crossOriginIsolated === true };
  },

  async loadEmbedder({ urls, bytes, name }, progress) {
    const e = need();
    const t0 = now();
    let files = bytes;
    let fetched = null;
    if (!files) {
      if (!urls || !urls.weights || !urls.tokenizer || !urls.config) {
        throw new SottoError('InvalidOption', 'loadEmbedder needs {urls: {weights, tokenizer, config}} or {bytes: {...}}');
      }
      fetched = {};
      for (const f of ['config', 'tokenizer', 'weights']) fetched[f] = await fetchBytes(urls[f], f, progress);
      files = { weights: fetched.weights.bytes, tokenizer: fetched.tokenizer.bytes, config: fetched.config.bytes };
    }
    const t1 = now();
    progress({ stage: 'load' });
    const info = e.loadEmbedder(files.weights, files.tokenizer, files.config, name || 'embedder');
    const t2 = now();
    let cached = null;
    if (fetched) {
      cached = {};
      for (const f of ['config', 'tokenizer', 'weights']) {
        cached[f] = fetched[f].cached ? { ok: true, hit: true } : await cacheBytes(urls[f], fetched[f].bytes);
      }
    }
    embedderSource = urls || 'bytes';
    return { info, cached, timings: { fetch_ms: t1 - t0, load_ms: t2 - t1, total_ms: now() - t0 } };
  },

  /** Load a GGUF generator from a URL (cached like the embedder) or bytes. */
  async loadGenerator({ url, bytes, opts }, progress) {
    const e = need();
    const t0 = now();
    let fetched = null;
    if (!bytes) {
      if (!url) throw new SottoError('InvalidOption', 'loadGenerator needs {url} or {bytes}');
      fetched = await fetchBytes(url, 'generator', progress);
      bytes = fetched.bytes;
    }
    const t1 = now();
    progress({ stage: 'load' });
    generatorInfo = e.loadGenerator(bytes, opts);
    const t2 = now();
    const cached = fetched ? (fetched.cached ? { ok: true, hit: true } : await cacheBytes(url, bytes)) : null;
    return { info: generatorInfo, cached, timings: { fetch_ms: t1 - t0, load_ms: t2 - t1, total_ms: now() - t0 } };
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

  async addDocuments({ docs }, progress) {
    const e = need();
    const t0 = now();
    const marks = {};
    const report = e.addDocuments(
      docs,
      (p) => {
        if (!(p.stage in marks)) marks[p.stage] = now();
        progress(p);
      },
      cancelled,
    );
    const t1 = now();
    const saved = await save();
    const chunkStart = marks.chunking ?? t0;
    const embedStart = marks.embedding ?? t1;
    return {
      report,
      stats: e.stats(),
      saved,
      timings: { clean_chunk_ms: embedStart - chunkStart, embed_ms: t1 - embedStart, index_total_ms: t1 - t0, save_ms: saved.ms ?? 0 },
    };
  },

  async removeDocuments({ ids }) {
    const removed = need().removeDocuments(ids);
    return { removed, stats: engine.stats(), saved: await save() };
  },

  async clear() {
    need().clear();
    return { stats: engine.stats(), saved: await save() };
  },

  async search({ query, opts }) {
    const t0 = now();
    const hits = need().search(query, opts);
    return { hits, timings: { search_ms: now() - t0 } };
  },

  async ask({ question, opts }, progress) {
    const answer = need().ask(question, opts, (text) => {
      progress({ stage: 'text', text });
      return !cancelled();
    });
    return { answer };
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
    const stats = need().importIndex(bytes);
    return { stats, saved: await save() };
  },

  async readManifest({ bytes }) {
    return { manifest: SottoEngine.readManifest(bytes) };
  },

  /** Load the index saved in IndexedDB, if any. A damaged or foreign record is reported and left alone. */
  async restore() {
    const e = need();
    if (!persist) return { restored: false, reason: 'persistence is off' };
    const t0 = now();
    const rec = await dbGet(persist.db, persist.key);
    if (!rec || !rec.bytes) return { restored: false, reason: 'nothing saved' };
    try {
      const stats = e.importIndex(rec.bytes);
      return { restored: true, stats, savedAt: rec.savedAt, bytes: rec.bytes.length, timings: { restore_ms: now() - t0 } };
    } catch (err) {
      return { restored: false, reason: 'saved index not usable', error: errorObject(err) };
    }
  },

  /** Delete the saved index (the in-memory one is kept). */
  async forget() {
    if (persist) await dbWrite(persist.db, persist.key, undefined);
    return { ok: true };
  },

  async stats() {
    return { stats: need().stats(), embedder: need().embedderInfo(), generator: generatorInfo, source: embedderSource };
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
};

const CANCELLABLE = new Set(['loadEmbedder', 'loadGenerator', 'addDocuments', 'ask', 'chat', 'evaluate']);

// Requests run strictly one after another.
let queue = Promise.resolve();

self.onmessage = (ev) => {
  const { id, op, args } = ev.data || {};
  queue = queue.then(async () => {
    const progress = (data) => self.postMessage({ id, event: 'progress', data });
    try {
      const fn = ops[op];
      if (!fn) throw new SottoError('InvalidOption', `unknown operation ${JSON.stringify(op)}`);
      currentId = id;
      if (CANCELLABLE.has(op) && cancelled()) throw new SottoError('Cancelled', 'cancelled before it started');
      const result = await fn(args || {}, progress);
      const transfer = result && result.bytes instanceof Uint8Array ? [result.bytes.buffer] : [];
      self.postMessage({ id, ok: true, result }, transfer);
    } catch (e) {
      self.postMessage({ id, ok: false, error: errorObject(e) });
    }
  });
};

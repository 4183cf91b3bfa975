// Promise-based client of Sotto's Web Worker (worker.js). The page never touches wasm:
//
//   import { createEngine } from './client.js';
//   const engine = await createEngine();                 // persistence in IndexedDB on
//   await engine.loadEmbedder({ urls: { weights, tokenizer, config }, name: 'all-MiniLM-L6-v2' },
//                             { onProgress: (p) => … });  // {stage:'download', file, received, total}
//   await engine.restore();                               // the index saved by a previous visit
//   const { report } = await engine.addDocuments([{ id: 'a.md', body: '# …' }], { onProgress });
//   const { hits } = await engine.search('query', { k: 5, mode: 'hybrid' });
//   const { answer } = await engine.ask('question?', {}, { onText: (t) => … });  // t: unverified draft
//   const { html } = await engine.evaluate(file, { modes: ['dense', 'hybrid'] });  // report
//
// Every method returns a promise; failures reject with a SottoError {kind, message}
// (kinds: the engine's error kinds such as "BadMagic" or "EmbedderMismatch", plus
// "Fetch", "Checksum", "Busy", "Cancelled", "QuotaExceeded", "Conflict", "Panic",
// "WorkerCrashed", "WorkerError", "Terminated", "NotInitialized").
//
// cancel() stops the running request. In a cross-origin-isolated page it raises a shared
// counter the worker checks between embedding batches and generated tokens; otherwise the
// worker is terminated and a new one is started, replaying the model loads and restoring
// the saved index, so the engine survives either way.
//
// Crashes: when the engine panics (kind "Panic") or its worker dies (detected through a
// Web Lock the worker holds while it lives, or an uncaught error in it), the client
// starts a new worker, replays the model loads and restores the last saved index. The
// failing request rejects with "Panic"; the others in flight reject with "WorkerCrashed"
// (they did not run, or their result was lost); requests made during the restart wait
// for it and then run. Events tell the page: engine.on('restarting' | 'restart', fn).
// More than MAX_RESTARTS crashes within a minute stop the restarts: every request then
// rejects with "WorkerCrashed".
//
// Streamed text (ask's and chat's onText, askStream) is the generator's raw output, shown
// before attribution has checked it against the documents: it may contain sentences the
// final answer drops (including text a hostile document injected). Mark it unverified
// and replace it with the final `answer` when that arrives.

export class SottoError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'SottoError';
    this.kind = kind;
  }
}

const SETUP_OPS = new Set(['loadEmbedder', 'loadHashingEmbedder', 'loadGenerator', 'openRemote']);
const MAX_RESTARTS = 3; // automatic restarts allowed within RESTART_WINDOW_MS
const RESTART_WINDOW_MS = 60_000;
const randomName = () => (globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);

/**
 * Model URLs resolved against the page, not the worker: a bundler emits worker.js under
 * its own folder (assets/), where a relative "models/…" would point elsewhere.
 */
function pageRelative(source) {
  const base = globalThis.document?.baseURI;
  if (!base || !source || typeof source !== 'object') return source;
  const abs = (u) => (typeof u === 'string' || u instanceof URL ? new URL(u, base).href : u);
  const out = { ...source };
  if (source.urls && typeof source.urls === 'object') out.urls = Object.fromEntries(Object.entries(source.urls).map(([k, v]) => [k, abs(v)]));
  if ('url' in source) out.url = abs(source.url);
  if ('manifest' in source) out.manifest = abs(source.manifest);
  return out;
}

class SottoClient {
  constructor(options) {
    this.options = options;
    this.nextId = 1;
    this.pending = new Map(); // id → {resolve, reject, onEvent, op}
    this.setup = []; // setup requests replayed after a restart
    this.ingesting = false;
    this.cancelBuffer = typeof SharedArrayBuffer === 'function' && self.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
    this.cancelView = this.cancelBuffer ? new Int32Array(this.cancelBuffer) : null;
    this.restarts = 0;
    this.restartTimes = [];
    this.listeners = new Map();
    this.serial = 0; // which worker is current; messages and deaths of older ones are ignored
    this.ready = null; // a restart in progress: user requests wait for it
    this.restartToken = 0;
    this.broken = null; // set when no worker can be used any more: every request rejects with it
    this.spawn();
  }

  /** Listen to 'restarting' {reason, cause}, 'restart' {reason, ok, cause, restored, error}, 'indexChanged', 'fault'. Returns an unsubscribe function. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, data) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(data);
      } catch (e) {
        console.error(e);
      }
    }
  }

  spawn() {
    const serial = ++this.serial;
    // The literal `new Worker(new URL('./worker.js', import.meta.url), …)` is the form Vite and
    // webpack recognise: they bundle worker.js (and the wasm it loads) as a worker entry.
    const worker = this.options.workerUrl
      ? new Worker(this.options.workerUrl, { type: 'module', name: 'sotto' })
      : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'sotto' });
    this.worker = worker;
    this.started = false; // init has succeeded in this worker
    worker.onmessage = (ev) => serial === this.serial && this.receive(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      if (serial !== this.serial) return;
      const err = new SottoError('WorkerError', ev.message || 'the worker failed to start');
      if (this.started) this.crash('error', err);
      else this.failAll(err);
    };
  }

  /** Start the current worker: init, then watch its life lock. */
  async initWorker() {
    const serial = this.serial;
    const lifeLock = globalThis.navigator?.locks ? `sotto-worker:${randomName()}` : null;
    const info = await this.request('init', { cancelBuffer: this.cancelBuffer, persist: this.persist, config: this.options.config, faults: this.options.faults === true, lifeLock, monitoring: this.options.monitoring !== false, threads: this.options.threads }, null, true);
    if (serial !== this.serial) return info;
    this.started = true;
    if (lifeLock) {
      const watch = new AbortController();
      this.unwatch = () => watch.abort();
      // Granted only once the worker no longer holds it: the worker is gone.
      navigator.locks
        .request(lifeLock, { signal: watch.signal }, () => {
          if (serial === this.serial) this.crash('exit', new SottoError('WorkerCrashed', "the engine's worker stopped"));
        })
        .catch(() => {});
    }
    return info;
  }

  /** Stop the current worker on purpose (its death is not a crash). */
  retire() {
    this.serial += 1;
    this.unwatch?.();
    this.unwatch = null;
    this.worker.terminate();
  }

  receive(msg) {
    if (msg.global) {
      this.emit(msg.event, msg.data);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.event) {
      try {
        p.onEvent?.(msg.data);
      } catch (e) {
        console.error(e);
      }
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else {
      const err = new SottoError(msg.error.kind, msg.error.message);
      p.reject(err);
      // A panic poisons the wasm instance: nothing more can run in this worker.
      if (msg.error.kind === 'Panic') this.crash('panic', err);
    }
  }

  failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * The worker crashed or died: fail what was in flight with "WorkerCrashed", start a new
   * worker with the recorded setup and the saved index (at most MAX_RESTARTS a minute).
   */
  crash(reason, cause) {
    if (this.broken) return;
    this.retire();
    const what = `${cause.kind}: ${cause.message}`;
    this.failAll(new SottoError('WorkerCrashed', `the engine stopped (${what}) before this request completed; it is being restarted with the last saved index`));
    this.ingesting = false;
    const t = Date.now();
    this.restartTimes = this.restartTimes.filter((x) => t - x < RESTART_WINDOW_MS);
    if (this.restartTimes.length >= MAX_RESTARTS) {
      this.ready = null;
      this.broken = new SottoError('WorkerCrashed', `the engine crashed ${MAX_RESTARTS + 1} times within a minute (last: ${what}) and was not restarted again; reload the page`);
      this.emit('restart', { reason, ok: false, cause, error: this.broken });
      return;
    }
    this.restartTimes.push(t);
    this.emit('restarting', { reason, cause });
    this.restart(reason, cause);
  }

  /** Start a fresh worker and bring it to the state of the old one (setup replayed, saved index restored). */
  restart(reason, cause) {
    const token = ++this.restartToken;
    this.restarts += 1;
    this.spawn();
    // A remote index needs its embedder: reopen it last, whatever order the page loaded them in.
    const setup = [...this.setup].sort((a, b) => (a.op === 'openRemote') - (b.op === 'openRemote'));
    this.setup = [];
    const run = (async () => {
      await this.initWorker();
      for (const s of setup) await this.request(s.op, s.args, null, true);
      return this.persist ? await this.request('restore', {}, null, true) : null;
    })();
    this.ready = run.then(
      (restored) => {
        if (token !== this.restartToken) return;
        this.ready = null;
        this.emit('restart', { reason, ok: true, cause, restored });
      },
      (e) => {
        if (token !== this.restartToken) return;
        this.ready = null;
        this.broken = new SottoError('WorkerCrashed', `the engine stopped (${cause ? `${cause.kind}: ${cause.message}` : reason}) and could not be restarted: ${e.kind || 'Error'}: ${e.message}`);
        this.emit('restart', { reason, ok: false, cause, error: this.broken });
      },
    );
    return run;
  }

  request(op, args = {}, onEvent = null, internal = false, transfer = []) {
    if (!internal) {
      if (this.broken) return Promise.reject(this.broken);
      // During a restart, wait for it: the new worker must have its models and index first.
      if (this.ready) return this.ready.then(() => this.request(op, args, onEvent));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Successful setup requests are recorded, to be replayed if the worker is restarted.
      const record = (result) => {
        if (SETUP_OPS.has(op)) {
          const group = (o) => (o === 'loadHashingEmbedder' ? 'loadEmbedder' : o);
          this.setup = this.setup.filter((s) => group(s.op) !== group(op));
          this.setup.push({ op, args });
        } else if (op === 'unloadGenerator') {
          this.setup = this.setup.filter((s) => s.op !== 'loadGenerator');
        } else if (op === 'closeRemote') {
          this.setup = this.setup.filter((s) => s.op !== 'openRemote');
        }
        resolve(result);
      };
      this.pending.set(id, { resolve: record, reject, onEvent, op });
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }

  /** Cancel the running request (and any queued before this call). */
  async cancel() {
    if (this.pending.size === 0) return;
    if (this.cancelView) {
      Atomics.store(this.cancelView, 0, this.nextId - 1);
      return;
    }
    // No shared memory: stop the worker, then rebuild it from the recorded setup.
    this.retire();
    this.failAll(new SottoError('Cancelled', 'cancelled (the worker was restarted)'));
    this.ingesting = false;
    await this.restart('cancel', null);
  }

  terminate() {
    this.retire();
    this.broken = new SottoError('Terminated', 'the engine was terminated');
    this.failAll(new SottoError('Cancelled', 'the engine was terminated'));
  }

  loadEmbedder(source, { onProgress } = {}) {
    return this.request('loadEmbedder', pageRelative(source), onProgress);
  }
  /** Load a GGUF generator: {url} (fetched with progress, cached) or {bytes}; opts: LoadOptions. */
  loadGenerator(source, { onProgress } = {}) {
    return this.request('loadGenerator', pageRelative(source), onProgress);
  }
  unloadGenerator() {
    return this.request('unloadGenerator');
  }
  /** Raw generation without retrieval; onText receives the text as it is produced (unverified: nothing checks it). */
  chat(prompt, opts = {}, { onText } = {}) {
    return this.request('chat', { prompt, opts }, (d) => d && d.stage === 'text' && onText?.(d.text));
  }
  loadHashingEmbedder(dim) {
    return this.request('loadHashingEmbedder', { dim });
  }
  /**
   * Index documents; one batch at a time (a second concurrent call rejects with "Busy").
   * A PDF is `{id, format: 'pdf', bytes}` (Uint8Array, ArrayBuffer or Blob): its text is
   * extracted in the worker, one section per page; an ArrayBuffer, or the buffer of a
   * Uint8Array that spans all of it, is transferred (detached here), anything else copied.
   * A PDF that cannot be read is left out and listed in `failed`; the rest of the batch is
   * indexed. `pdf`: limits (see worker.js).
   */
  async addDocuments(docs, { onProgress, pdf } = {}) {
    if (this.ingesting) throw new SottoError('Busy', 'another addDocuments is still running; wait for it or cancel it');
    this.ingesting = true;
    try {
      const transfer = new Set();
      for (const d of Array.isArray(docs) ? docs : []) {
        const b = d && d.format === 'pdf' ? d.bytes : null;
        const whole = ArrayBuffer.isView(b) && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
        const buf = b instanceof ArrayBuffer ? b : whole ? b.buffer : null;
        if (buf instanceof ArrayBuffer && buf.byteLength) transfer.add(buf);
      }
      return await this.request('addDocuments', { docs, pdf }, onProgress, false, [...transfer]);
    } finally {
      this.ingesting = false;
    }
  }
  /**
   * Build (or rebuild) the RAPTOR summary tree of the index from its stored chunk vectors,
   * then save. `onProgress({stage: 'tree', level, done, total})` (and `stage: 'summaries'` while
   * the loaded generator writes the summaries of `{abstractive: true}`); cancel() stops it and
   * leaves the index (its previous tree included) unchanged. Search with `{tree: 'collapsed'}`.
   */
  buildTree(params = {}, { onProgress } = {}) {
    return this.request('buildTree', { params }, onProgress);
  }
  /**
   * Build HNSW segments over the exactly-scanned vectors past the config's
   * `dense.hnsw_threshold`, `segmentVectors` (default 10 000) at a time, then save;
   * `onProgress({stage: 'hnsw', done, total})` per segment; cancel() stops between segments
   * and keeps (and saves) what was built (`report.cancelled`).
   */
  buildHnsw(opts = {}, { onProgress } = {}) {
    return this.request('buildHnsw', { opts }, onProgress);
  }
  removeDocuments(ids) {
    return this.request('removeDocuments', { ids });
  }
  clear() {
    return this.request('clear');
  }
  search(query, opts = {}) {
    return this.request('search', { query, opts });
  }
  /**
   * A sharded index on a static host (`sotto shard` / `sotto index --shards`), read by the
   * piece: `url` is its manifest.json. Fetches only the manifest; each searchRemote then
   * fetches the shards it needs (in parallel, kept in the Cache API unless `{cache: false}`).
   */
  openRemote(url, opts = {}) {
    const u = typeof url === 'string' ? new URL(url, globalThis.location?.href).href : url;
    return this.request('openRemote', { ...opts, url: u });
  }
  /** Search the remote index (`opts` as for search, plus `nprobe`); the trace says what was fetched. */
  searchRemote(query, opts = {}) {
    return this.request('searchRemote', { query, opts });
  }
  /** An extractive answer with cited spans from the remote index (`opts` as for ask, plus `nprobe`). */
  askRemote(question, opts = {}) {
    return this.request('askRemote', { question, opts });
  }
  /** Read the remote manifest again and open it if the index changed. */
  refreshRemote() {
    return this.request('refreshRemote');
  }
  remoteInfo() {
    return this.request('remoteInfo');
  }
  closeRemote() {
    return this.request('closeRemote');
  }
  /**
   * Building blocks (nothing is indexed). `embed`: one Float32Array per text from the loaded
   * embedder (normalised unless `{normalize: false}`), `embed_batch` at a time with
   * `onProgress({done, total})`, cancellable with cancel().
   */
  async embed(texts, opts = {}, { onProgress } = {}) {
    const r = await this.request('embed', { texts, opts }, (d) => d && d.stage === 'embedding' && onProgress?.({ done: d.done, total: d.total }));
    return r.vectors;
  }
  /** Rerank any passages against `query` by sentence-level MaxSim: best first, `{index, score, start, end}`. */
  async rerank(query, passages) {
    return (await this.request('rerank', { query, passages })).ranked;
  }
  /** What addDocuments would make of `document` (cleaned text, chunks with spans, duplicates marked). */
  async chunk(document) {
    return (await this.request('chunk', { document })).document;
  }
  /** Delete the cached model files (Cache API); the loaded models stay in memory. */
  clearModelCache() {
    return this.request('clearModelCache', {});
  }
  /** Feedback on an answer, kept on this machine: {question, helpful?, sources? (doc ids the user confirmed), noAnswer?}. */
  feedback(entry) {
    return this.request('feedback', entry);
  }
  /** What the local query log says: latency p50/p95 per stage, abstention and zero-hit shares, feedback rate, drift. */
  monitoring(opts = {}) {
    return this.request('monitoring', opts);
  }
  /** The feedback as an evaluation dataset (JSONL for evaluate() and `sotto eval`). */
  exportFeedback() {
    return this.request('exportFeedback', {});
  }
  /** Forget the query log and/or the feedback (default both). */
  clearMonitoring(which = {}) {
    return this.request('clearMonitoring', which);
  }
  /** Answer a question; onText receives the answer text as it is produced, UNVERIFIED (see the top of this file); the result is the attributed answer. */
  ask(question, opts = {}, { onText } = {}) {
    return this.request('ask', { question, opts }, (d) => d && d.stage === 'text' && onText?.(d.text));
  }
  /** The same answer as an async iterator of UNVERIFIED text pieces; `.answer` resolves to the attributed result. */
  askStream(question, opts = {}) {
    const queue = [];
    let wake = null;
    let finished = false;
    const answer = this.ask(question, opts, {
      onText: (t) => {
        queue.push(t);
        wake?.();
      },
    }).finally(() => {
      finished = true;
      wake?.();
    });
    const iter = (async function* () {
      for (;;) {
        if (queue.length) yield queue.shift();
        else if (finished) break;
        else await new Promise((r) => (wake = r));
      }
      await answer;
    })();
    iter.answer = answer;
    return iter;
  }
  /**
   * Evaluate the current index against ground truth and build the HTML report (the same
   * file `sotto eval --report` writes). `dataset`: a File, Blob or Uint8Array of JSONL
   * questions, or of BEIR queries.jsonl when `qrels` (the qrels .tsv) is given.
   * Resolves to {html, json, csp, timings}; onProgress receives EvaluateProgress events.
   */
  evaluate(dataset, { qrels, ...opts } = {}, { onProgress } = {}) {
    return this.request('evaluate', { dataset, qrels, opts }, onProgress);
  }
  exportIndex() {
    return this.request('exportIndex').then((r) => r.bytes);
  }
  importIndex(bytes) {
    return this.request('importIndex', { bytes });
  }
  readManifest(bytes) {
    return this.request('readManifest', { bytes }).then((r) => r.manifest);
  }
  restore() {
    return this.request('restore');
  }
  forget() {
    return this.request('forget');
  }
  stats() {
    return this.request('stats');
  }
  document(id) {
    return this.request('document', { id }).then((r) => r.document);
  }
  documentIds() {
    return this.request('documentIds').then((r) => r.ids);
  }
  /** The collections routing chooses between (a document's `collection` metadata, else "default"). */
  collections() {
    return this.request('collections').then((r) => r.collections);
  }
  /** Describe a collection for `route: "auto"` (empty: remove); saved with the index. */
  setCollectionDescription(name, description) {
    return this.request('setCollectionDescription', { name, description });
  }
  memory() {
    return this.request('memory');
  }
  /** Set an unusable saved index aside (kept under `<key>.damaged`) and save the in-memory index in its place. */
  rebuild() {
    return this.request('rebuild');
  }
  /** Test hook (createEngine({faults: true}) only): see worker.js `__fault`. */
  injectFault(what) {
    return this.request('__fault', { what });
  }
}

/**
 * Start a worker-backed engine.
 * @param {{workerUrl?: URL, persist?: false | {db?: string, key?: string}, config?: object, faults?: boolean, threads?: number}} options
 */
export async function createEngine(options = {}) {
  const client = new SottoClient(options);
  client.persist = options.persist === false ? null : { db: 'sotto', key: 'index', ...(options.persist || {}) };
  const info = await client.initWorker();
  client.version = info.version;
  client.crossOriginIsolated = info.crossOriginIsolated;
  client.webLocks = info.locks;
  client.webCrypto = info.webCrypto;
  client.build = info.build;
  client.threads = info.threads;
  client.buildReason = info.buildReason;
  return client;
}

/** Byte offsets (UTF-8, as the engine reports spans) → the three parts of a JS string. */
export function splitSpan(text, start, end) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  return [dec.decode(bytes.subarray(0, start)), dec.decode(bytes.subarray(start, end)), dec.decode(bytes.subarray(end))];
}

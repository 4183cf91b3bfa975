// Promise-based client of Sotto's Web Worker (worker.js). The page never touches wasm:
//
//   import { createEngine } from './client.js';
//   const engine = await createEngine();                 // persistence in IndexedDB on
//   await engine.loadEmbedder({ urls: { weights, tokenizer, config }, name: 'all-MiniLM-L6-v2' },
//                             { onProgress: (p) => … });  // {stage:'download', file, received, total}
//   await engine.restore();                               // the index saved by a previous visit
//   const { report } = await engine.addDocuments([{ id: 'a.md', body: '# …' }], { onProgress });
//   const { hits } = await engine.search('query', { k: 5, mode: 'hybrid' });
//   const { answer } = await engine.ask('question?', {}, { onText: (t) => … });
//   const { html } = await engine.evaluate(file, { modes: ['dense', 'hybrid'] });  // report
//
// Every method returns a promise; failures reject with a SottoError {kind, message}
// (kinds: the engine's error kinds such as "BadMagic" or "EmbedderMismatch", plus
// "Fetch", "Busy", "Cancelled", "QuotaExceeded", "Panic", "NotInitialized").
//
// cancel() stops the running request. In a cross-origin-isolated page it raises a shared
// counter the worker checks between embedding batches and generated tokens; otherwise the
// worker is terminated and a new one is started, replaying the model loads and restoring
// the saved index, so the engine survives either way.

export class SottoError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'SottoError';
    this.kind = kind;
  }
}

const SETUP_OPS = new Set(['init', 'loadEmbedder', 'loadHashingEmbedder', 'loadGenerator']);

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
    this.spawn();
  }

  spawn() {
    const url = this.options.workerUrl || new URL('./worker.js', import.meta.url);
    this.worker = new Worker(url, { type: 'module', name: 'sotto' });
    this.worker.onmessage = (ev) => this.receive(ev.data);
    this.worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.failAll(new SottoError('WorkerError', ev.message || 'the worker failed to start'));
    };
  }

  receive(msg) {
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
    else p.reject(new SottoError(msg.error.kind, msg.error.message));
  }

  failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request(op, args = {}, onEvent = null) {
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
        }
        resolve(result);
      };
      this.pending.set(id, { resolve: record, reject, onEvent, op });
      this.worker.postMessage({ id, op, args });
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
    this.worker.terminate();
    this.failAll(new SottoError('Cancelled', 'cancelled (the worker was restarted)'));
    this.ingesting = false;
    this.restarts += 1;
    this.spawn();
    const setup = this.setup;
    this.setup = [];
    this.ready = (async () => {
      for (const s of setup) await this.request(s.op, s.args);
      if (this.options.persist !== false) await this.request('restore');
    })();
    await this.ready;
  }

  terminate() {
    this.worker.terminate();
    this.failAll(new SottoError('Cancelled', 'the engine was terminated'));
  }

  loadEmbedder(source, { onProgress } = {}) {
    return this.request('loadEmbedder', source, onProgress);
  }
  /** Load a GGUF generator: {url} (fetched with progress, cached) or {bytes}; opts: LoadOptions. */
  loadGenerator(source, { onProgress } = {}) {
    return this.request('loadGenerator', source, onProgress);
  }
  unloadGenerator() {
    return this.request('unloadGenerator');
  }
  /** Raw generation without retrieval; onText receives the text as it is produced. */
  chat(prompt, opts = {}, { onText } = {}) {
    return this.request('chat', { prompt, opts }, (d) => d && d.stage === 'text' && onText?.(d.text));
  }
  loadHashingEmbedder(dim) {
    return this.request('loadHashingEmbedder', { dim });
  }
  /** Index documents; one batch at a time (a second concurrent call rejects with "Busy"). */
  async addDocuments(docs, { onProgress } = {}) {
    if (this.ingesting) throw new SottoError('Busy', 'another addDocuments is still running; wait for it or cancel it');
    this.ingesting = true;
    try {
      return await this.request('addDocuments', { docs }, onProgress);
    } finally {
      this.ingesting = false;
    }
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
  /** Answer a question; onText receives the answer text as it is produced. */
  ask(question, opts = {}, { onText } = {}) {
    return this.request('ask', { question, opts }, (d) => d && d.stage === 'text' && onText?.(d.text));
  }
  /** The same answer as an async iterator of text pieces; `.answer` resolves to the result. */
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
  memory() {
    return this.request('memory');
  }
}

/**
 * Start a worker-backed engine.
 * @param {{workerUrl?: URL, persist?: false | {db?: string, key?: string}, config?: object}} options
 */
export async function createEngine(options = {}) {
  const client = new SottoClient(options);
  const persist = options.persist === false ? null : { db: 'sotto', key: 'index', ...(options.persist || {}) };
  const info = await client.request('init', { cancelBuffer: client.cancelBuffer, persist, config: options.config });
  client.version = info.version;
  client.crossOriginIsolated = info.crossOriginIsolated;
  return client;
}

/** Byte offsets (UTF-8, as the engine reports spans) → the three parts of a JS string. */
export function splitSpan(text, start, end) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  return [dec.decode(bytes.subarray(0, start)), dec.decode(bytes.subarray(start, end)), dec.decode(bytes.subarray(end))];
}

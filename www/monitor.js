// Local feedback and monitoring (the MLOps loop without a server). Nothing here leaves the
// machine: the worker keeps a log of queries and the user's feedback in memory and, with
// persistence on, in its own IndexedDB database; the page reads summaries and exports the
// feedback as an evaluation dataset (the JSONL that `sotto eval` and the Evaluate panel read).
//
// Pure functions (summarize, toDataset, percentile) are tested under Node
// (tests/browser/monitor.mjs); the store is exercised in Chromium (tests/browser/e2e.mjs).

/** Entries kept in the query log (the oldest are dropped first). */
export const MAX_LOG_ENTRIES = 10_000;
/** Feedback entries kept. */
export const MAX_FEEDBACK_ENTRIES = 10_000;
/** Queries compared by the drift signal: the first N after the index last changed vs the last N. */
export const DRIFT_WINDOW = 50;

/** The p-th percentile (0–100) of numbers, nearest rank; null for none. */
export function percentile(values, p) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length - 1, Math.max(0, rank - 1))];
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * A log entry of one search or answer. `similarity` is the query–top-hit cosine (the best
 * dense score of the hits; an answer's retrieval score, which is the same cosine), null in
 * sparse-only mode. A search is a zero-hit one when nothing was returned or, in a mode with
 * a BM25 side (every mode but "dense"), no returned chunk matched a query word: the hits
 * came from the dense side alone, which for a nonsense query still returns its nearest,
 * unrelated chunks. Answers are not counted (their failure is the abstention share).
 */
export function searchEntry({ query, hits, trace, ms, indexGen, mode = 'hybrid' }) {
  const dense = hits.map((h) => h.dense_score).filter((x) => typeof x === 'number');
  return {
    t: Date.now(),
    op: 'search',
    query,
    indexGen,
    hits: hits.length,
    top_doc: hits[0]?.doc_id ?? null,
    similarity: dense.length ? Math.max(...dense) : null,
    zero_hit: hits.length === 0 || (mode !== 'dense' && hits.every((h) => h.sparse_score === null || h.sparse_score === undefined)),
    abstained: null,
    stages: { ...Object.fromEntries((trace?.stages || []).map((s) => [`${s.stage}_ms`, s.ms])), total_ms: ms },
  };
}

/** A log entry of one answer (see searchEntry). */
export function askEntry({ question, answer, ms, indexGen }) {
  const t = answer.timings || {};
  return {
    t: Date.now(),
    op: 'ask',
    query: question,
    indexGen,
    hits: answer.citations.length,
    top_doc: answer.citations[0]?.doc_id ?? null,
    similarity: Number.isFinite(answer.retrieval_score) ? answer.retrieval_score : null,
    zero_hit: null,
    abstained: answer.abstained === true,
    mode: answer.mode,
    stages: { retrieve_ms: t.retrieve_ms, select_ms: t.select_ms, prefill_ms: t.prefill_ms, decode_ms: t.decode_ms, attribute_ms: t.attribute_ms, total_ms: ms },
  };
}

/**
 * What the monitoring panel shows, from the log and the feedback:
 * latency p50/p95 per stage (ms), the share of abstentions (among answers) and of zero-hit
 * searches (among searches), the feedback rate (answers with feedback / answers) and the drift signal: the
 * mean query–top-hit similarity of the last `window` queries against the first `window`
 * after the index last changed (`delta` < 0: recent questions match the documents less).
 */
export function summarize(log, feedback, { window = DRIFT_WINDOW } = {}) {
  const stages = {};
  for (const e of log) {
    for (const [k, v] of Object.entries(e.stages || {})) {
      if (typeof v === 'number' && Number.isFinite(v)) (stages[k] ||= []).push(v);
    }
  }
  const latency = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, { p50: percentile(v, 50), p95: percentile(v, 95), n: v.length }]));
  const answers = log.filter((e) => e.op === 'ask');
  const share = (xs, f) => (xs.length ? xs.filter(f).length / xs.length : null);
  const lastGen = log.length ? log[log.length - 1].indexGen : null;
  const sims = log.filter((e) => e.indexGen === lastGen && typeof e.similarity === 'number').map((e) => e.similarity);
  let drift = null;
  if (sims.length >= 2) {
    const n = Math.min(window, Math.floor(sims.length / 2));
    const baseline = mean(sims.slice(0, n));
    const recent = mean(sims.slice(-n));
    drift = { window: n, baseline, recent, delta: recent - baseline };
  }
  return {
    queries: log.length,
    answers: answers.length,
    latency,
    abstention_rate: share(answers, (e) => e.abstained === true),
    zero_hit_rate: share(log.filter((e) => typeof e.zero_hit === 'boolean'), (e) => e.zero_hit),
    feedback: feedback.length,
    feedback_rate: answers.length ? Math.min(1, feedback.length / answers.length) : null,
    helpful_rate: share(feedback.filter((f) => typeof f.helpful === 'boolean'), (f) => f.helpful),
    drift,
  };
}

/**
 * The feedback as an evaluation dataset (one JSON object a line: `id`, `question`,
 * `relevant_docs`, `kind: "feedback"`). An entry counts when the user confirmed sources
 * (`relevant_docs` are those still indexed: `exists(docId)`) or said the documents do not
 * answer (`relevant_docs: []`, an abstention case). The latest feedback on a question wins.
 * Entries whose confirmed sources were all deleted since, or with no ground truth (a bare
 * thumbs-down), are returned in `skipped` with the reason.
 */
export function toDataset(feedback, exists) {
  const latest = new Map();
  for (const f of feedback) latest.set(f.question.trim(), f);
  const lines = [];
  const skipped = [];
  let n = 0;
  for (const [question, f] of latest) {
    let relevant;
    if (f.noAnswer === true) {
      relevant = [];
    } else if (Array.isArray(f.sources) && f.sources.length) {
      relevant = [...new Set(f.sources)].filter((d) => exists(d));
      if (!relevant.length) {
        skipped.push({ question, reason: `its sources were deleted since: ${f.sources.join(', ')}` });
        continue;
      }
    } else {
      skipped.push({ question, reason: 'no confirmed source and not marked as unanswerable' });
      continue;
    }
    n += 1;
    lines.push(JSON.stringify({ id: `feedback-${n}`, question, relevant_docs: relevant, kind: 'feedback' }));
  }
  return { jsonl: lines.length ? lines.join('\n') + '\n' : '', questions: lines.length, skipped };
}

/** Check a feedback object from the page; returns the entry to store or throws a message. */
export function feedbackEntry(input) {
  if (!input || typeof input !== 'object') throw new Error('feedback must be an object {question, helpful?, sources?, noAnswer?}');
  const { question, helpful = null, sources = [], noAnswer = false } = input;
  if (typeof question !== 'string' || !question.trim()) throw new Error('feedback needs the question (a non-empty string)');
  if (question.length > 4096) throw new Error('the question is longer than 4096 characters');
  if (helpful !== null && typeof helpful !== 'boolean') throw new Error('helpful must be true, false or null');
  if (!Array.isArray(sources) || !sources.every((s) => typeof s === 'string') || sources.length > 100) throw new Error('sources must be an array of at most 100 document ids');
  if (typeof noAnswer !== 'boolean') throw new Error('noAnswer must be a boolean');
  if (noAnswer && sources.length) throw new Error('noAnswer and confirmed sources contradict each other');
  return { t: Date.now(), question: question.trim(), helpful, sources, noAnswer };
}

/**
 * The log and feedback store: in memory, mirrored to IndexedDB database `name` (stores
 * "log" and "feedback", autoincrement keys) when `persist` is true. Writes are
 * fire-and-forget: monitoring must never fail or slow a query. Old entries are pruned past
 * the MAX_* limits.
 */
export class MonitorStore {
  constructor(name, persist) {
    this.name = name;
    this.persist = persist && typeof indexedDB !== 'undefined';
    this.log = [];
    this.feedback = [];
    this.db = null;
  }

  async open() {
    if (!this.persist) return this;
    this.db = await new Promise((resolve, reject) => {
      const req = indexedDB.open(this.name, 1);
      req.onupgradeneeded = () => {
        for (const s of ['log', 'feedback']) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s, { autoIncrement: true });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }).catch(() => null); // no IndexedDB (private mode): memory only
    if (this.db) {
      for (const s of ['log', 'feedback']) {
        this[s] = await new Promise((resolve) => {
          const req = this.db.transaction(s).objectStore(s).getAll();
          req.onsuccess = () => resolve(req.result || []);
          req.onerror = () => resolve([]);
        });
      }
    }
    return this;
  }

  add(store, entry) {
    const list = this[store];
    list.push(entry);
    const max = store === 'log' ? MAX_LOG_ENTRIES : MAX_FEEDBACK_ENTRIES;
    const excess = list.length - max;
    if (excess > 0) list.splice(0, excess);
    if (!this.db) return;
    try {
      const tx = this.db.transaction(store, 'readwrite');
      const os = tx.objectStore(store);
      os.add(entry);
      if (excess > 0) {
        // Drop the oldest keys beyond the limit.
        const req = os.openKeyCursor();
        let left = excess;
        req.onsuccess = () => {
          const c = req.result;
          if (c && left-- > 0) {
            os.delete(c.primaryKey);
            c.continue();
          }
        };
      }
    } catch {
      // A full disk or a closed database: the entry stays in memory.
    }
  }

  async clear(which = ['log', 'feedback']) {
    for (const s of which) this[s] = [];
    if (!this.db) return;
    await new Promise((resolve) => {
      const tx = this.db.transaction(which, 'readwrite');
      for (const s of which) tx.objectStore(s).clear();
      tx.oncomplete = resolve;
      tx.onerror = resolve;
      tx.onabort = resolve;
    });
  }
}

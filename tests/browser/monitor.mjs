// The monitoring and feedback logic of the worker (www/monitor.js) under Node: percentiles,
// the summary (latency per stage, abstention and zero-hit shares, feedback rate, drift) and
// the export of feedback as an evaluation dataset, with its bad input. The store itself
// (IndexedDB, a restarted worker reading it back) is exercised in Chromium by e2e.mjs.
import assert from 'node:assert/strict';
import { MonitorStore, MAX_LOG_ENTRIES, askEntry, feedbackEntry, percentile, searchEntry, summarize, toDataset } from '../../www/monitor.js';

assert.equal(percentile([], 50), null);
assert.equal(percentile([5], 95), 5);
const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
assert.equal(percentile(hundred, 50), 50);
assert.equal(percentile(hundred, 95), 95);
assert.equal(percentile([1, NaN, 3, null, 2], 50), 2, 'non-numbers are ignored');

const hit = (doc, dense, sparse) => ({ doc_id: doc, dense_score: dense, sparse_score: sparse });
const trace = { stages: [{ stage: 'retrieve', ms: 4 }, { stage: 'fuse', ms: 1 }] };
const s1 = searchEntry({ query: 'cargo cache', hits: [hit('a', 0.6, 3.1), hit('b', 0.4, null)], trace, ms: 6, indexGen: 'g1' });
assert.equal(s1.similarity, 0.6);
assert.equal(s1.zero_hit, false);
assert.deepEqual(s1.stages, { retrieve_ms: 4, fuse_ms: 1, total_ms: 6 });
const nonsense = searchEntry({ query: 'xqzv', hits: [hit('a', 0.17, null), hit('b', 0.15, null)], trace, ms: 5, indexGen: 'g1' });
assert.equal(nonsense.zero_hit, true, 'dense-only hits match no query word');
assert.equal(searchEntry({ query: 'q', hits: [], trace: null, ms: 1, indexGen: 'g1' }).zero_hit, true);
assert.equal(searchEntry({ query: 'q', hits: [hit('a', 0.3, null)], trace, ms: 1, indexGen: 'g1', mode: 'dense' }).zero_hit, false, 'dense mode has no BM25 side to miss');
assert.equal(searchEntry({ query: 'q', hits: [hit('a', null, 2)], trace, ms: 1, indexGen: 'g1' }).similarity, null, 'sparse mode has no cosine');

const answer = (abstained, score, ms) => ({
  abstained, mode: 'extractive', retrieval_score: score, sentences: abstained ? [] : [{ text: 'x' }],
  citations: abstained ? [] : [{ doc_id: 'a' }],
  timings: { retrieve_ms: ms, select_ms: 2 * ms, prefill_ms: 0, decode_ms: 0, attribute_ms: 0 },
});
const log = [s1, nonsense];
for (let i = 0; i < 20; i++) log.push(askEntry({ question: `q${i}`, answer: answer(i % 4 === 0, 0.8 - i * 0.02, i + 1), ms: 10 + i, indexGen: 'g1' }));
const fb = [feedbackEntry({ question: 'q1', helpful: true, sources: ['a'] }), feedbackEntry({ question: 'q2', helpful: false })];
const sum = summarize(log, fb, { window: 5 });
assert.equal(sum.queries, 22);
assert.equal(sum.answers, 20);
assert.equal(sum.abstention_rate, 5 / 20);
assert.equal(sum.zero_hit_rate, 1 / 2, 'among the two searches, the nonsense one; answers are not counted');
assert.equal(sum.feedback_rate, 2 / 20);
assert.equal(sum.helpful_rate, 0.5);
// retrieve_ms: the answers' 1..20 and the two searches' traced 'retrieve' stage (4, 4).
assert.deepEqual(sum.latency.retrieve_ms, { p50: 9, p95: 19, n: 22 });
assert.deepEqual(sum.latency.select_ms, { p50: 20, p95: 38, n: 20 });
assert.equal(sum.latency.total_ms.n, 22);
// Drift: the first 5 similarities of this index (0.6, 0.17, 0.8, 0.78, 0.76) vs the last 5 (0.46 … 0.42).
const first = [0.6, 0.17, 0.8, 0.78, 0.76];
const last = [0.5, 0.48, 0.46, 0.44, 0.42];
const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
assert.ok(Math.abs(sum.drift.baseline - avg(first)) < 1e-9, JSON.stringify(sum.drift));
assert.ok(Math.abs(sum.drift.recent - avg(last)) < 1e-9);
assert.ok(sum.drift.delta < 0);
// A new index starts a new baseline: entries of the old one do not count.
const after = [...log, searchEntry({ query: 'new', hits: [hit('c', 0.9, 1)], trace, ms: 1, indexGen: 'g2' })];
assert.equal(summarize(after, []).drift, null, 'one query on the new index: no drift yet');
assert.equal(summarize([], []).abstention_rate, null);

// Export: confirmed sources still indexed; noAnswer → an abstention case; the latest feedback
// on a question wins; deleted sources and bare thumbs-down are skipped with a reason.
const feedback = [
  feedbackEntry({ question: 'Where is the cache?', helpful: false }),
  feedbackEntry({ question: 'Where is the cache?', helpful: true, sources: ['home.md', 'home.md', 'gone.md'] }),
  feedbackEntry({ question: 'What is the capital of Mars?', helpful: false, noAnswer: true }),
  feedbackEntry({ question: 'Deleted since?', helpful: true, sources: ['gone.md'] }),
  feedbackEntry({ question: 'Just a thumbs down', helpful: false }),
];
const ds = toDataset(feedback, (id) => id !== 'gone.md');
assert.equal(ds.questions, 2);
const lines = ds.jsonl.trim().split('\n').map((l) => JSON.parse(l));
assert.deepEqual(lines, [
  { id: 'feedback-1', question: 'Where is the cache?', relevant_docs: ['home.md'], kind: 'feedback' },
  { id: 'feedback-2', question: 'What is the capital of Mars?', relevant_docs: [], kind: 'feedback' },
]);
assert.deepEqual(ds.skipped.map((s) => s.question), ['Deleted since?', 'Just a thumbs down']);
assert.match(ds.skipped[0].reason, /deleted/);
assert.equal(toDataset([], () => true).jsonl, '');

// Bad feedback is refused with a message.
for (const bad of [null, {}, { question: '  ' }, { question: 'q', helpful: 'yes' }, { question: 'q', sources: 'a.md' }, { question: 'q', sources: [1] },
  { question: 'q', noAnswer: true, sources: ['a'] }, { question: 'x'.repeat(5000) }]) {
  assert.throws(() => feedbackEntry(bad), Error, JSON.stringify(bad));
}

// The in-memory store prunes at its limit.
const store = await new MonitorStore(null, false).open();
for (let i = 0; i < MAX_LOG_ENTRIES + 5; i++) store.add('log', { i });
assert.equal(store.log.length, MAX_LOG_ENTRIES);
assert.equal(store.log[0].i, 5);
await store.clear(['log']);
assert.equal(store.log.length, 0);
console.log('monitor.js passed: percentiles, summary, drift, dataset export, bad feedback, limits');

// Runs inside a consumer project that installed the packed sotto and @langchain/core
// (see ../langchain.mjs): only package names are imported, as a user would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { initSync, SottoEngine } from 'sotto';
import { SottoRetriever } from 'sotto/langchain';
import { BaseRetriever } from '@langchain/core/retrievers';
import { Document } from '@langchain/core/documents';
import { RunnableLambda } from '@langchain/core/runnables';

const require = (await import('node:module')).createRequire(import.meta.url);
initSync({ module: readFileSync(require.resolve('sotto/sotto_bg.wasm')) });
const models = process.env.SOTTO_MINILM;
const engine = new SottoEngine();
engine.loadEmbedder(
  readFileSync(join(models, 'model.safetensors')),
  readFileSync(join(models, 'tokenizer.json')),
  readFileSync(join(models, 'config.json')),
  'all-MiniLM-L6-v2',
);
engine.addDocuments([
  { id: 'cargo/home.md', body: '# Cargo home\n\nThe CARGO_HOME environment variable sets the directory where Cargo keeps its registry cache and installed binaries.' },
  { id: 'cargo/profiles.md', body: '# Profiles\n\nThe release profile turns optimisations on; opt-level 3 is its default.' },
  { id: 'geo/rivers.txt', body: 'The Loire is the longest river in France. It flows into the Atlantic.' },
]);

const retriever = new SottoRetriever({ engine, k: 2 });
assert.ok(retriever instanceof BaseRetriever, 'a LangChain BaseRetriever');
const docs = await retriever.invoke('Which environment variable moves the Cargo cache?');
assert.equal(docs.length, 2);
assert.ok(docs.every((d) => d instanceof Document), 'LangChain Documents');
assert.equal(docs[0].metadata.doc_id, 'cargo/home.md');
assert.equal(docs[0].metadata.source, 'cargo/home.md');
assert.match(docs[0].pageContent, /CARGO_HOME/);
assert.deepEqual(docs[0].metadata.heading_path, ['Cargo home']);
assert.equal(docs[0].id, `cargo/home.md#${docs[0].metadata.chunk_id}`);
assert.ok(docs[0].metadata.score >= docs[1].metadata.score);

// In a chain, batched, with search options passed through (a filter).
const chain = retriever.pipe(RunnableLambda.from((ds) => ds.map((d) => d.metadata.source)));
assert.deepEqual((await chain.invoke('longest river in France'))[0], 'geo/rivers.txt');
const batched = await retriever.batch(['optimisation level of release builds', 'longest river']);
assert.equal(batched[0][0].metadata.doc_id, 'cargo/profiles.md');
assert.equal(batched[1][0].metadata.doc_id, 'geo/rivers.txt');
const filtered = new SottoRetriever({ engine, k: 3, searchOptions: { filters: [{ op: 'prefix', key: 'id', prefix: 'geo/' }] } });
assert.deepEqual((await filtered.invoke('Cargo cache')).map((d) => d.metadata.doc_id), ['geo/rivers.txt']);

// Errors: a typed engine error rejects invoke; a retriever without an engine is refused.
await assert.rejects(retriever.invoke('   '), (e) => e.kind === 'InvalidQuery');
assert.throws(() => new SottoRetriever({}), TypeError);
// A client-shaped engine (async search resolving to {hits}) works the same.
const clientLike = { search: async (q, o) => ({ hits: engine.search(q, o), trace: {} }) };
const viaClient = await new SottoRetriever({ engine: clientLike, k: 1 }).invoke('Loire');
assert.equal(viaClient[0].metadata.doc_id, 'geo/rivers.txt');

// The package's building blocks under Node, on the same weights.
const [a, b] = engine.embed(['Cargo caches crates in CARGO_HOME.', 'Rivers flow into the sea.']);
assert.ok(a instanceof Float32Array && a.length === 384);
const q = engine.embed(['where does cargo cache crates'])[0];
const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0);
assert.ok(dot(q, a) > dot(q, b));
const ranked = engine.rerank('longest river', ['Cargo builds code.', 'The Loire is the longest river in France. It flows west.']);
assert.equal(ranked[0].index, 1);
const preview = engine.chunk({ id: 'x.md', body: '# T\n\nSome text.' });
assert.equal(preview.chunks.length, 1);
console.log(`sotto/langchain passed with @langchain/core: ${docs.length} Documents, chain, batch, filters, errors; embed/rerank/chunk under Node`);

// Smoke test of the npm package in pkg/ (what `npm install sotto` gets): package.json
// exports resolve, the ESM web build instantiates (initSync under Node), the typed API
// works, and errors carry a kind. Run by scripts/test-browser.sh after build-wasm.sh.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const PKG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'pkg');
const meta = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
assert.equal(meta.name, 'sotto');
assert.equal(meta.type, 'module');
for (const [, target] of Object.entries(meta.exports)) {
  for (const file of typeof target === 'string' ? [target] : Object.values(target)) readFileSync(join(PKG, file));
}
// The worker imports PDF.js from vendor/pdfjs/ when a PDF arrives: the package must ship it.
assert.ok(meta.files.includes('vendor/pdfjs/'), 'package.json "files" lacks vendor/pdfjs/');
for (const f of ['pdf.min.mjs', 'pdf.worker.min.mjs', 'LICENSE']) readFileSync(join(PKG, 'vendor', 'pdfjs', f));
assert.match(readFileSync(join(PKG, 'worker.js'), 'utf8'), /import\('\.\/vendor\/pdfjs\/pdf\.min\.mjs'\)/);
const dts = readFileSync(join(PKG, 'sotto.d.ts'), 'utf8');
for (const name of ['addDocuments', 'removeDocuments', 'search', 'ask', 'exportIndex', 'importIndex', 'stats', 'loadEmbedder', 'loadGenerator', 'chat', 'interface SearchHit', 'interface Answer']) {
  assert.ok(dts.includes(name), `sotto.d.ts lacks ${name}`);
}

const { initSync, SottoEngine } = await import(join(PKG, 'sotto.js'));
initSync({ module: readFileSync(join(PKG, 'sotto_bg.wasm')) });
const e = new SottoEngine();
e.loadHashingEmbedder(128);
const report = e.addDocuments([
  { id: 'a.md', body: '# Cargo\n\nCargo is the Rust package manager.' },
  { id: 'b.txt', body: 'Paris is the capital of France.' },
]);
assert.equal(report.documents, 2);
assert.equal(e.search('package manager', { k: 1 })[0].doc_id, 'a.md');
const answer = e.ask('What is the capital of France?', {});
assert.match(answer.answer, /Paris/);
const bytes = e.exportIndex();
assert.ok(bytes instanceof Uint8Array);
try {
  e.importIndex(new Uint8Array([1, 2, 3]));
  assert.fail('importIndex accepted garbage');
} catch (err) {
  assert.equal(err.kind, 'BadMagic');
}
assert.equal(e.stats().documents, 2);
console.log(`package smoke test passed: sotto ${SottoEngine.version()}, ${readFileSync(join(PKG, 'sotto_bg.wasm')).length} bytes of wasm`);

// The packages `wasm-pack build --target web` and `--target bundler` produce (run by
// scripts/test-browser.sh into target/wasm-pack-web and target/wasm-pack-bundler) work:
//
//  - web: the ES module instantiates under Node with initSync, and the engine indexes,
//    searches, answers and exports;
//  - bundler: the module imports its .wasm as an ES module (`import * as wasm from
//    "./sotto_bg.wasm"`, the WebAssembly/ES-module integration bundlers implement), which
//    Node runs with --experimental-wasm-modules; the same checks;
//  - both equal what scripts/build-wasm.sh writes (pkg/, pkg/bundler/) with wasm-bindgen
//    directly: the same JS glue and .d.ts, and the same .wasm once the custom sections
//    "name" and "producers" are dropped (build-wasm.sh strips them from release builds,
//    wasm-pack has no option for it; 0.8 MB of the gzipped download).
//
//   node --experimental-wasm-modules tests/browser/wasm-pack.mjs WEB_DIR BUNDLER_DIR
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [web, bundler] = process.argv.slice(2).map((d) => resolve(d));
if (!web || !bundler) throw new Error('usage: node --experimental-wasm-modules wasm-pack.mjs WEB_DIR BUNDLER_DIR');
if (!process.execArgv.includes('--experimental-wasm-modules')) throw new Error('run with node --experimental-wasm-modules (the bundler target imports its .wasm as a module)');

/** The module's bytes without the custom sections `drop` (the others are kept in order). */
function withoutCustomSections(bytes, drop) {
  assert.deepEqual([...bytes.subarray(0, 8)], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0], 'not a wasm module');
  const leb = (at) => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return [value, at];
    }
  };
  const parts = [bytes.subarray(0, 8)];
  const dropped = [];
  let at = 8;
  while (at < bytes.length) {
    const start = at;
    const [size, body] = leb(at + 1);
    const end = body + size;
    let name = null;
    if (bytes[start] === 0) {
      const [len, s] = leb(body);
      name = new TextDecoder().decode(bytes.subarray(s, s + len));
    }
    if (name !== null && drop.includes(name)) dropped.push(name);
    else parts.push(bytes.subarray(start, end));
    at = end;
  }
  assert.equal(at, bytes.length, 'truncated wasm module');
  return { bytes: Buffer.concat(parts), dropped };
}

/** Index, search, answer, export: the engine of a module works. */
function exercise(mod, label) {
  const e = new mod.SottoEngine(undefined);
  e.loadHashingEmbedder(128);
  const report = e.addDocuments(
    [
      { id: 'a.md', body: '# Cargo\n\nCargo is the Rust package manager.' },
      { id: 'b.txt', body: 'Paris is the capital of France.' },
    ],
    undefined,
    undefined,
  );
  assert.equal(report.documents, 2, `${label}: addDocuments`);
  assert.equal(e.search('package manager', { k: 1 })[0].doc_id, 'a.md', `${label}: search`);
  const answer = e.ask('What is the capital of France?', {}, undefined);
  assert.match(answer.answer, /Paris/, `${label}: ask`);
  assert.equal(answer.citations[0].doc_id, 'b.txt', `${label}: the answer's citation`);
  const bytes = e.exportIndex();
  assert.equal(mod.SottoEngine.readManifest(bytes).documents, 2, `${label}: exportIndex / readManifest`);
  try {
    e.importIndex(new Uint8Array([1, 2, 3]));
    assert.fail(`${label}: importIndex accepted garbage`);
  } catch (err) {
    assert.equal(err.kind, 'BadMagic', `${label}: error kind`);
  }
  e.free();
  return mod.SottoEngine.version();
}

/** wasm-pack's output equals build-wasm.sh's (`pkg` is its directory for the same target). */
function sameAs(dir, pkg, files, label) {
  for (const f of files) {
    assert.equal(readFileSync(join(dir, f), 'utf8'), readFileSync(join(pkg, f), 'utf8'), `${label}: ${f} differs from ${pkg}/${f}`);
  }
  const ours = readFileSync(join(pkg, 'sotto_bg.wasm'));
  const theirs = readFileSync(join(dir, 'sotto_bg.wasm'));
  const stripped = withoutCustomSections(theirs, ['name', 'producers']);
  assert.ok(stripped.bytes.equals(withoutCustomSections(ours, ['name', 'producers']).bytes), `${label}: sotto_bg.wasm differs from ${pkg}'s beyond the name and producers sections`);
  return `${theirs.length} bytes of wasm, ${stripped.bytes.length} without its ${stripped.dropped.join(' and ') || 'no'} section${stripped.dropped.length === 1 ? '' : 's'}, as pkg's ${ours.length}`;
}

const meta = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const pkgVersion = meta(join(ROOT, 'pkg')).version;

// --target web
assert.equal(meta(web).name, 'sotto');
assert.equal(meta(web).version, pkgVersion);
const webMod = await import(pathToFileURL(join(web, 'sotto.js')).href);
webMod.initSync({ module: readFileSync(join(web, 'sotto_bg.wasm')) });
const v1 = exercise(webMod, 'web');
const s1 = sameAs(web, join(ROOT, 'pkg'), ['sotto.js', 'sotto.d.ts', 'sotto_bg.wasm.d.ts'], 'web');
console.log(`wasm-pack --target web: sotto ${v1} works under Node (initSync); same as pkg/ (${s1})`);

// --target bundler
assert.equal(meta(bundler).name, 'sotto');
const bundlerMod = await import(pathToFileURL(join(bundler, meta(bundler).module || meta(bundler).main)).href);
const v2 = exercise(bundlerMod, 'bundler');
const s2 = sameAs(bundler, join(ROOT, 'pkg', 'bundler'), ['sotto.js', 'sotto_bg.js', 'sotto.d.ts', 'sotto_bg.wasm.d.ts'], 'bundler');
console.log(`wasm-pack --target bundler: sotto ${v2} works under Node (the .wasm imported as an ES module); same as pkg/bundler/ (${s2})`);

// Copies the package's declarations (pkg/ by default, or $SOTTO_PKG) into .stage/sotto/, the
// input of TypeDoc and of the cookbook's type check. Three things are added on the way, and
// only to the copies:
//   - a module comment per entry point, naming the import path a user writes
//     (`sotto`, `sotto/client`, `sotto/langchain`) instead of the file name;
//   - short comments on the few declarations wasm-bindgen generates without one (init's
//     input types, free, Symbol.dispose), and @hidden on InitOutput, the module's raw
//     exports, which no caller uses;
//   - comments on SottoRetriever's overrides of LangChain's plumbing, which would otherwise
//     inherit (and copy into docs/api/) @langchain/core's own text.
// Anything else undocumented is the source's to fix (src/wasm/mod.rs, www/*.d.ts).
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(process.env.SOTTO_PKG || join(here, '../../pkg'));
const out = join(here, '.stage/sotto');

const entries = {
  'sotto.d.ts': {
    module: 'sotto',
    about: 'The engine itself, synchronous, as wasm-bindgen exports it: `await init()` once, then\n' +
      '`new SottoEngine()`. Run it in a Web Worker; most pages want `sotto/client` instead, which\n' +
      'does that for them. The data types (SearchHit, Answer, …) are shared by every entry point.',
  },
  'client.d.ts': {
    module: 'sotto/client',
    about: 'The promise client of an engine running in a Web Worker: `createEngine()`, then load an\n' +
      'embedder, add documents, search, ask, evaluate. Every promise rejects with a SottoError.',
  },
  'langchain.d.ts': {
    module: 'sotto/langchain',
    about: 'A LangChain.js retriever over a Sotto engine. Needs the optional peer dependency\n' +
      '`@langchain/core`.',
  },
};

// Comments for declarations that come without one: file → [pattern, comment placed before
// it]. A declaration that has its own comment by now keeps it.
const added = {
  'sotto.d.ts': [
    [/^export type InitInput = /m, 'What `init()` accepts: the URL of `sotto_bg.wasm` (the default is the file next to\n' +
      'sotto.js), a fetch Response, its bytes or a compiled module.'],
    [/^export type SyncInitInput = /m, 'What `initSync()` accepts: the bytes of `sotto_bg.wasm` or a compiled module.'],
    [/^export interface InitOutput /m, "The module's raw exports (what `init()` resolves to); not an API.\n@hidden"],
    [/^([ \t]*)free\(\): void;/m, "Free the object's memory in the wasm heap now (for the engine: the index, the models).\n" +
      'It is unusable afterwards; without it, the memory is freed when it is garbage-collected.'],
    [/^([ \t]*)\[Symbol\.dispose\]\(\): void;/m, 'The same as `free()`, for `using engine = new SottoEngine()`.'],
  ],
  'langchain.d.ts': [
    [/^([ \t]*)static lc_name\(\)/m, "LangChain's serialisation name.\n@hidden"],
    [/^([ \t]*)lc_namespace: /m, "LangChain's serialisation namespace.\n@hidden"],
    [/^([ \t]*)_getRelevantDocuments\(/m, "What `invoke(query)` runs (LangChain's retriever protocol): one search of `k` chunks,\n" +
      'each a Document whose `pageContent` is the chunk text.'],
  ],
};

function comment(text, indent = '') {
  const lines = text.split('\n').map((l) => `${indent} * ${l}`.trimEnd());
  return `${indent}/**\n${lines.join('\n')}\n${indent} */\n`;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [file, { module, about }] of Object.entries(entries)) {
  const src = join(pkg, file);
  if (!existsSync(src)) {
    console.error(`api-docs: ${src} is missing; build the package first (./scripts/build-wasm.sh)`);
    process.exit(2);
  }
  let text = readFileSync(src, 'utf8');
  for (const [re, doc] of added[file] ?? []) {
    // Every occurrence (each exported class has its own free() and Symbol.dispose), last first
    // so the earlier indices stay valid.
    const all = [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))];
    if (!all.length) {
      console.error(`api-docs: expected ${re} in ${src}; update tools/typedoc/stage.mjs`);
      process.exit(2);
    }
    for (const m of all.reverse()) {
      if (text.slice(0, m.index).trimEnd().endsWith('*/')) continue;
      text = text.slice(0, m.index) + comment(doc, m[1] ?? '') + text.slice(m.index);
    }
  }
  writeFileSync(join(out, file), `${comment(`${about}\n\n@module ${module}`)}${text}`);
}
copyFileSync(join(pkg, 'package.json'), join(out, 'package.json'));

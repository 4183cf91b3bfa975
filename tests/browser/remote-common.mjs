// What remote.mjs and remote-pack.mjs share: the CLI's hits as the reference, the
// comparison with the browser's, and calls into the demo page's client (window.sotto).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = process.env.SOTTO_CLI || join(ROOT, 'target', 'debug', 'sotto');

/** The CLI's hits (`sotto search WHERE QUERY --json ARGS`) on a manifest, a directory or a URL. */
export function cli(where, query, args = []) {
  const out = execFileSync(CLI, ['search', where, query, '--json', ...args], { env: process.env, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out);
}

/** The browser's hits are the CLI's: the same chunks in the same order, scores within 1e-4. */
export function sameHits(browser, native, what) {
  const b = browser.map((h) => h.chunk_id);
  const n = (native.hits ?? native).map((h) => h.chunk_id);
  assert.deepEqual(b, n, `${what}: the browser's chunks differ from the CLI's`);
  (native.hits ?? native).forEach((h, i) => assert.ok(Math.abs(h.score - browser[i].score) < 1e-4, `${what}: score of hit ${i + 1}: ${browser[i].score} vs the CLI's ${h.score}`));
}

/** `searchRemote` in the page. */
export const search = (page, query, opts = {}) => page.evaluate(({ q, o }) => window.sotto.searchRemote(q, o), { q: query, o: opts });

/** Call `window.sotto[method](...args)` in the page; resolves to its error `{kind, message}`, or null if it succeeded. */
export const fails = (page, method, ...args) =>
  page.evaluate(
    async ({ m, a }) => {
      try {
        await window.sotto[m](...a);
        return null;
      } catch (e) {
        return { kind: e.kind, message: e.message };
      }
    },
    { m: method, a: args },
  );

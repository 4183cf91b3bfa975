// The Vite example (examples/vite) in headless Chromium: its production build (dist/,
// made by scripts/test-browser.sh with `vite build`) is served by scripts/serve.py with the
// real all-MiniLM-L6-v2 next to it. `node vite.mjs webpack` runs the same app built by
// webpack (examples/webpack/dist). Asserted:
//
//  1. the page indexes its three bundled files in the worker;
//  2. the answer to a question about tides names the Moon and cites tides.md (and only the
//     files that say so: never the sourdough one);
//  3. the worker was started from a script of the build that the bundler made from
//     worker.js and the wasm glue (it names the emitted .wasm and imports nothing), so the
//     client's `new Worker(new URL('./worker.js', import.meta.url))` was detected; the .wasm
//     came from the build; every request was a file of the build or a model file (no pkg/,
//     no node_modules/, no other origin);
//  4. `sotto` itself (the wasm bindings, on the page) read the exported index: 3 documents,
//     the same version as the worker's.
//
// Environment: SOTTO_MODELS (default ~/.cache/sotto/models), SOTTO_CHROMIUM.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, rmSync, lstatSync, mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = process.argv[2] || 'vite';
if (!['vite', 'webpack'].includes(EXAMPLE)) throw new Error(`usage: node vite.mjs [vite|webpack], not ${EXAMPLE}`);
const DIST = join(ROOT, 'examples', EXAMPLE, 'dist');
const MODELS = process.env.SOTTO_MODELS || join(homedir(), '.cache', 'sotto', 'models');
const T = { ready: 240_000, ask: 120_000 };

for (const need of [join(DIST, 'index.html'), join(MODELS, 'all-MiniLM-L6-v2', 'model.safetensors'), join(MODELS, 'manifest.json')]) {
  if (!existsSync(need)) throw new Error(`${need} is missing: run scripts/test-browser.sh (it fetches the models and builds examples/${EXAMPLE})`);
}
// The build's files, as URL paths ("/assets/x.js"); a models link left by a killed run is not one.
const FILES = readdirSync(DIST, { recursive: true })
  .filter((f) => f !== 'models' && !f.startsWith('models/') && statSync(join(DIST, f)).isFile())
  .map((f) => '/' + f.split('\\').join('/'));
const wasmFiles = FILES.filter((f) => f.endsWith('.wasm'));
assert.equal(wasmFiles.length, 1, `the build should hold one .wasm (shared by the page and the worker), has ${JSON.stringify(FILES)}`);
const WASM = wasmFiles[0];
assert.equal(statSync(join(DIST, WASM)).size, statSync(join(ROOT, 'pkg', 'sotto_bg.wasm')).size, `the bundled ${WASM} is not pkg/sotto_bg.wasm`);

/** scripts/serve.py on DIST (its headers: COOP/COEP, a strict CSP) on a free port. */
function serve() {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [join(ROOT, 'scripts', 'serve.py'), '--port', '0', '--quiet', DIST], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('error', reject);
    p.stdout.on('data', (d) => {
      const m = /at (http:\/\/[\d.]+:\d+)\//.exec(String(d));
      if (m) resolve({ origin: m[1], stop: () => p.kill() });
    });
    setTimeout(() => reject(new Error('server did not start')), 10_000);
  });
}

/**
 * Chromium as e2e.mjs starts it (not imported from there: e2e.mjs checks on load that the
 * demo page is built, which this test does not need). Every request, the worker's
 * included, is recorded; one to another origin is aborted and listed in offOrigin.
 */
async function launch(origin) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'sotto-vite-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.SOTTO_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const offOrigin = [];
  const requests = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    if (!url.startsWith(origin + '/')) {
      offOrigin.push(url);
      return route.abort();
    }
    return route.continue();
  });
  return { context, offOrigin, requests, close: async () => { await context.close(); rmSync(userDataDir, { recursive: true, force: true }); } };
}

async function main() {
  const t0 = Date.now();
  const step = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
  // The models sit next to the build, as a deployment would put them; the link is removed after.
  const link = join(DIST, 'models');
  if (lstatSync(link, { throwIfNoEntry: false })) rmSync(link, { force: true });
  symlinkSync(MODELS, link);
  const { origin, stop } = await serve();
  const { context, offOrigin, requests, close } = await launch(origin);
  try {
    const statuses = new Map();
    context.on('response', (r) => statuses.set(r.url(), r.status()));
    const page = context.pages()[0] || (await context.newPage());
    const errors = [];
    const workers = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('worker', (w) => workers.push(w.url()));

    // 1. Index the three files.
    await page.goto(origin + '/');
    await page.waitForFunction(() => /^(Indexed|Error)/.test(document.getElementById('status').textContent), null, { timeout: T.ready });
    assert.equal(await page.textContent('#status'), 'Indexed 3 files. Ask a question.');
    step('the example indexed its three files');

    // 2. Ask; the answer is cited.
    await page.fill('#question', 'What causes the tides?');
    await page.click('#go');
    await page.waitForFunction(() => /^(Answered|Error)/.test(document.getElementById('status').textContent), null, { timeout: T.ask });
    assert.equal(await page.textContent('#status'), 'Answered.');
    const answer = await page.textContent('#answer');
    const cited = await page.$$eval('#citations li', (lis) => lis.map((li) => ({ doc: li.dataset.doc, text: li.textContent })));
    step(`answer: ${answer}\n  citations: ${cited.map((c) => c.doc).join(', ')}`);
    assert.match(answer, /gravitational pull of the Moon/, 'the answer does not give the cause of the tides');
    assert.ok(cited.length >= 1, 'the answer has no citation');
    assert.equal(cited[0].doc, 'tides.md', 'the first citation is not tides.md');
    assert.ok(cited[0].text.includes('Moon'), 'the tides.md citation does not quote the Moon sentence');
    assert.ok(!cited.some((c) => c.doc === 'sourdough.md'), 'the answer cites the sourdough file');

    // 4. The bindings on the page read the worker's index.
    await page.waitForFunction(() => document.getElementById('about').dataset.documents, null, { timeout: 60_000 });
    const about = await page.evaluate(() => ({ ...document.getElementById('about').dataset, engine: document.body.dataset.engineVersion }));
    assert.equal(about.documents, '3', 'readManifest on the page does not see the three documents');
    assert.ok(about.version && about.version === about.engine, `the page's sotto (${about.version}) is not the worker's (${about.engine})`);
    step(`sotto ${about.version} on the page and in the worker`);

    // 3. Where everything came from.
    const path = (u) => new URL(u).pathname;
    assert.deepEqual(offOrigin, [], 'requests left the origin');
    assert.equal(workers.length, 1, `one worker should have started: ${JSON.stringify(workers)}`);
    const worker = path(workers[0]);
    assert.ok(FILES.includes(worker), `the worker ${worker} is not a file of the build`);
    const workerCode = readFileSync(join(DIST, worker), 'utf8');
    assert.ok(workerCode.includes(basename(WASM)), `the worker ${worker} does not load the bundled ${WASM}: not built from worker.js and the wasm glue`);
    assert.doesNotMatch(workerCode, /\bfrom\s*["']\.\/sotto\.js["']|import\s*["']\.\//, `the worker ${worker} still imports a file: worker.js copied, not bundled`);
    const wasmRequests = requests.filter((u) => path(u).endsWith('.wasm'));
    assert.ok(wasmRequests.length >= 1, 'no .wasm was requested');
    for (const u of wasmRequests) assert.equal(path(u), WASM, `a .wasm came from outside the build: ${u}`);
    for (const p of [worker, WASM]) assert.equal(statuses.get(origin + p), 200, `${p} answered ${statuses.get(origin + p)}`);
    const stray = requests.map(path).filter((p) => p !== '/' && !FILES.includes(p) && !p.startsWith('/models/'));
    assert.deepEqual(stray, [], 'files outside the build were requested');
    assert.deepEqual(errors, [], 'the page logged errors');
    step(`worker ${worker} and ${WASM} served from examples/${EXAMPLE}/dist; all requests on ${origin}: ${requests.map(path).join(' ')}`);
  } finally {
    await close();
    stop();
    rmSync(link, { force: true });
  }
}

main()
  .then(() => console.log(`${EXAMPLE} example test passed`))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });

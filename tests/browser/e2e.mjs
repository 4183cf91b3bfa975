// End-to-end test of the demo page in headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core; no browser download). Run through scripts/test-browser.sh, which
// builds www/ first. Steps, each asserted:
//
//  1. the page loads the REAL all-MiniLM-L6-v2 from its own origin (and caches it);
//  2. the bundled sample corpus is indexed in the worker while the page stays responsive;
//  3. search returns the expected top document in every mode;
//  3b. the RAPTOR summary tree built from the page's button (progress, Cancel, report),
//     searched with Tree: collapsed (the trace lists the summary nodes), refused with a
//     typed error in BM25 mode; a cancelled rebuild changes nothing; a reload keeps the tree;
//  3c. routing and query construction: the filter a scoped question names is shown in the
//     trace (suggest) and narrows the results and the answer's citations (apply);
//  4. an extractive answer cites spans that resolve to chunks and open in the viewer;
//     screenshot → target/e2e-answer.png;
//  5. hostile documents (script tags, onerror attributes, javascript: links, markup in
//     file names) are indexed and displayed inert: no dialog, no script, no live markup;
//  5b. the Evaluate panel: an uploaded dataset (the sample questions plus hostile ones) is
//     evaluated in the worker with progress; the summary has one row per mode and the
//     report — the same HTML as `sotto eval --report` — renders in a sandboxed frame
//     under the page's policy: charts drawn, no CSP violation, hostile text inert;
//     a non-UTF-8 dataset is a "Dataset" error; screenshot → target/e2e-evaluate.png;
//  6. bad input (foreign bytes, 404 model URL, non-model URL, concurrent ingest, cancel,
//     generative without generator) rejects with a kind, and the engine survives;
//  7. after a reload the index comes back from IndexedDB without re-embedding and the
//     model from the Cache API without a download;
//  8. an index written by the native CLI loads through the Import button;
//  9. no request ever left the page's origin.
// Streamed answer text is shown only inside the draft marked unverified (steps 4, 4b).
// Fault injection (crashes, two tabs, interrupted saves, checksums) is in faults.mjs.
//
// Environment: SOTTO_CHROMIUM (default /usr/bin/chromium), SOTTO_E2E_HEADFUL=1.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WWW = join(ROOT, 'www');
const CHROMIUM = process.env.SOTTO_CHROMIUM || '/usr/bin/chromium';
const CLI_INDEX = process.env.SOTTO_E2E_CLI_INDEX || join(ROOT, 'target', 'e2e', 'sample-cli.sotto');
export const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--enable-precise-memory-info',
];

for (const need of ['pkg/sotto_bg.wasm', 'sample/index.json', 'models/all-MiniLM-L6-v2/model.safetensors']) {
  if (!existsSync(join(WWW, need))) throw new Error(`www/${need} is missing: run scripts/test-browser.sh (it builds the page and links the models)`);
}
// The bundled sample corpus is Sotto's own docs (scripts/build-wasm.sh copies them): its size
// follows docs/, so the expected counts are read from the list the page itself loads.
const SAMPLE_DOCS = JSON.parse(readFileSync(join(WWW, 'sample', 'index.json'), 'utf8')).documents.length;
assert.ok(SAMPLE_DOCS > 0, 'www/sample/index.json lists no documents');
if (process.argv[1] === fileURLToPath(import.meta.url) && !existsSync(CLI_INDEX)) {
  throw new Error(`${CLI_INDEX} is missing: run scripts/test-browser.sh (it indexes www/sample with the CLI)`);
}

/** Start scripts/serve.py on a free port; resolves to {origin, stop}. */
export function serve(extra = []) {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [join(ROOT, 'scripts', 'serve.py'), '--port', '0', '--quiet', ...extra, WWW], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('error', reject);
    p.stdout.on('data', (d) => {
      const m = /at (http:\/\/[\d.]+:\d+)\//.exec(String(d));
      if (m) resolve({ origin: m[1], stop: () => p.kill() });
    });
    setTimeout(() => reject(new Error('server did not start')), 10_000);
  });
}

export async function launch(origin) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'sotto-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: process.env.SOTTO_E2E_HEADFUL !== '1',
    args: LAUNCH_ARGS,
    viewport: { width: 1200, height: 900 },
  });
  const offOrigin = [];
  const requests = [];
  // Every request of the context, including the worker's, goes through this route.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    if (!url.startsWith(origin + '/') && !url.startsWith('blob:') && !url.startsWith('data:')) {
      offOrigin.push(url);
      return route.abort();
    }
    return route.continue();
  });
  return { context, offOrigin, requests, close: async () => { await context.close(); rmSync(userDataDir, { recursive: true, force: true }); } };
}

/**
 * Open the demo page at `path` in `context` and wait until it is ready (`readyMs`); page
 * errors and dialogs (dismissed) are collected in `page.errors`. Shared by faults.mjs and pdf.mjs.
 */
export async function openDemo(context, origin, path, readyMs) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('dialog', (d) => {
    page.errors.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(origin + path);
  await page.waitForSelector('body[data-ready="1"]', { timeout: readyMs });
  return page;
}

const T = { model: 240_000, ingest: 600_000, ask: 120_000 };

/** Measure the main thread's responsiveness: the longest gap between 20 ms timer ticks. */
function startTicker(page) {
  return page.evaluate(() => {
    window.__maxGap = 0;
    let last = performance.now();
    window.__ticker = setInterval(() => {
      const now = performance.now();
      window.__maxGap = Math.max(window.__maxGap, now - last);
      last = now;
    }, 20);
  });
}

/** Stop the ticker; resolves to the longest gap in ms. */
function stopTicker(page) {
  return page.evaluate(() => (clearInterval(window.__ticker), window.__maxGap));
}

/** Check the page's last answer: every citation's text is its span of the stored document and lies in its chunk. */
async function verifyAnswer(page) {
  const check = await page.evaluate(async () => {
    const answer = window.sottoLastAnswer;
    const out = [];
    for (const c of answer.citations) {
      const d = await window.sotto.document(c.doc_id);
      const bytes = new TextEncoder().encode(d.text);
      const span = new TextDecoder().decode(bytes.subarray(c.start, c.end));
      const chunk = d.chunks.find((k) => k.chunk_id === c.chunk_id);
      out.push({ n: c.n, doc: c.doc_id, spanOk: span === c.text, inChunk: !!chunk && chunk.start <= c.start && c.end <= chunk.end });
    }
    const cited = new Set(answer.sentences.flatMap((s) => s.citations));
    return { mode: answer.mode, fellBack: answer.fell_back, generated: answer.generated_text, out, dangling: [...cited].filter((n) => !out.some((c) => c.n === n)) };
  });
  assert.ok(check.out.length >= 1, 'the answer has no citation');
  assert.deepEqual(check.dangling, [], 'a sentence cites a number with no citation');
  for (const c of check.out) {
    assert.ok(c.spanOk, `citation [${c.n}] text is not its span`);
    assert.ok(c.inChunk, `citation [${c.n}] does not lie in its chunk`);
  }
  return check;
}

/**
 * Watch the answer box while an answer streams: every piece of streamed text must sit in
 * the draft marked unverified (with its label) until the final answer replaces it.
 */
function watchStreaming(page) {
  return page.evaluate(() => {
    const box = document.getElementById('answer');
    window.__stream = { pieces: 0, unmarked: 0, texts: [] };
    window.__streamObserver?.disconnect();
    window.__streamObserver = new MutationObserver((records) => {
      if (box.dataset.state !== 'running') return;
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType !== Node.TEXT_NODE || !n.textContent.trim()) continue;
          const draft = n.parentElement && n.parentElement.closest('.streaming[data-verified="false"]');
          if (draft && draft.querySelector('.draft-label') && /Unverified/.test(draft.querySelector('.draft-label').textContent)) {
            window.__stream.pieces++;
            window.__stream.texts.push(n.textContent);
          } else window.__stream.unmarked++;
        }
      }
    });
    window.__streamObserver.observe(box, { childList: true, subtree: true });
  });
}

/** Record whether the ask progress line and the Cancel beside Ask were shown while an answer ran. */
function watchAskUi(page) {
  return page.evaluate(() => {
    window.__askUi = { status: [], cancelShown: false };
    window.__askObserver?.disconnect();
    const status = document.getElementById('ask-status');
    const cancel = document.getElementById('ask-cancel');
    window.__askObserver = new MutationObserver(() => {
      if (!status.hidden && status.textContent) window.__askUi.status.push(status.textContent);
      if (!cancel.hidden) window.__askUi.cancelShown = true;
    });
    window.__askObserver.observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
    window.__askObserver.observe(cancel, { attributes: true });
  });
}

function askUiReport(page) {
  return page.evaluate(() => (window.__askObserver.disconnect(), window.__askUi));
}

function streamingReport(page) {
  return page.evaluate(() => (window.__streamObserver.disconnect(), window.__stream));
}

/** Click the first [n] of the answer; the viewer must show that document with the quoted span marked. */
async function openCitation(page, doc) {
  await page.evaluate(() => {
    document.getElementById('viewer').dataset.doc = '';
    document.getElementById('viewer-text').replaceChildren();
  });
  await page.click('#answer button.cite >> nth=0');
  await page.waitForFunction((d) => document.getElementById('viewer').dataset.doc === d && document.getElementById('viewer-mark'), doc);
  const marked = await page.textContent('#viewer-mark');
  const n = await page.getAttribute('#answer button.cite >> nth=0', 'data-n');
  const quoted = await page.textContent(`#citations li:has(button[data-n="${n}"]) blockquote`);
  assert.equal(marked, quoted, 'the viewer does not mark the cited span');
  // The viewer opens right below the answer, not at the end of the page.
  assert.equal(await page.evaluate(() => document.getElementById('ask-section').nextElementSibling.id), 'viewer', 'the viewer did not open below the answer');
  return marked;
}

async function main() {
  const t0 = Date.now();
  const step = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
  const { origin, stop } = await serve();
  const { context, offOrigin, requests, close } = await launch(origin);
  try {
    const page = context.pages()[0] || (await context.newPage());
    const dialogs = [];
    const pageErrors = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });

    // 1. Model from the page's origin.
    await page.goto(origin + '/');
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.model });
    assert.equal(await page.getAttribute('body', 'data-model-cached'), '0', 'first visit should download the model');
    assert.ok(requests.some((u) => u.endsWith('/models/all-MiniLM-L6-v2/model.safetensors')), 'the worker\'s model request was not observed');
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'page should be cross-origin isolated (COOP/COEP)');
    step(`model loaded: ${await page.textContent('#status')}`);
    assert.match(await page.textContent('#status'), /checked against the manifest/, 'the model files were not checked (models/manifest.json)');
    // An empty index: Search and Ask are off, and the page says why.
    assert.equal(await page.isDisabled('#search-button'), true, 'Search is enabled on an empty index');
    assert.equal(await page.isDisabled('#ask-button'), true, 'Ask is enabled on an empty index');
    assert.equal(await page.isVisible('#search-empty'), true);
    assert.equal(await page.isVisible('#ask-empty'), true);
    // The page asked the browser to persist its storage (granted or not, it says which).
    await page.waitForFunction(() => ['yes', 'no'].includes(document.body.dataset.persisted));
    step(`storage persisted: ${await page.getAttribute('body', 'data-persisted')}`);
    // The app files are revalidated, not refetched: no-cache with Last-Modified, 304 when unchanged.
    const wasmUrl = origin + '/pkg/sotto_bg.wasm';
    const first = await fetch(wasmUrl, { method: 'HEAD' });
    assert.equal(first.headers.get('cache-control'), 'no-cache', 'the wasm must be revalidated, not no-store');
    const lastModified = first.headers.get('last-modified');
    assert.ok(lastModified, 'no Last-Modified on the wasm');
    assert.equal((await fetch(wasmUrl, { headers: { 'If-Modified-Since': lastModified } })).status, 304, 'an unchanged wasm is not a 304');

    // 2. Sample corpus, indexed in the worker; the main thread keeps ticking.
    await startTicker(page);
    await page.click('#load-sample');
    await page.waitForSelector('#ingest-status[data-kind="done"]', { timeout: T.ingest });
    const maxGap = await stopTicker(page);
    const summary = await page.textContent('#ingest-status');
    step(`sample indexed: ${summary}; longest main-thread gap ${maxGap.toFixed(0)} ms`);
    assert.match(summary, new RegExp(`Indexed ${SAMPLE_DOCS} documents`));
    assert.match(summary, /saved to IndexedDB/);
    assert.equal(await page.textContent('#sum-docs'), String(SAMPLE_DOCS));
    const chunks = Number(await page.textContent('#sum-chunks'));
    assert.ok(chunks >= SAMPLE_DOCS, `chunks ${chunks}`);
    assert.equal(Number(await page.textContent('#sum-embedded')), chunks);
    assert.ok(maxGap < 1000, `the page froze for ${maxGap} ms while indexing`);
    assert.equal(await page.isEnabled('#search-button'), true, 'Search stays disabled after indexing');
    assert.equal(await page.isEnabled('#ask-button'), true, 'Ask stays disabled after indexing');
    assert.equal(await page.isVisible('#search-empty'), false);

    // 3. Search, every mode.
    for (const mode of ['hybrid', 'dense', 'sparse', 'weighted']) {
      await page.fill('#query', 'Which Jaccard similarity threshold drops near-duplicate chunks?');
      await page.selectOption('#mode', mode);
      await page.click('#search-button');
      await page.waitForFunction((m) => document.querySelector('#results li.hit') && document.getElementById('timings').textContent.includes(m), mode);
      const top = await page.getAttribute('#results li.hit >> nth=0', 'data-doc');
      step(`search (${mode}): top ${top}`);
      assert.equal(top, 'docs/ingest.md', `mode ${mode}`);
      if (mode !== 'weighted') await page.evaluate(() => document.getElementById('results').replaceChildren());
    }
    assert.ok((await page.locator('#results li.hit >> nth=0 >> mark').count()) > 0, 'query terms are highlighted');
    const marks = await page.locator('#results li.hit mark').allTextContents();
    assert.ok(!marks.some((m) => /^(which|the|what)$/i.test(m)), `stop words are highlighted: ${marks}`);
    assert.ok(marks.some((m) => /^(jaccard|similarity|threshold|drops|near|duplicate|chunks)$/i.test(m)), `content words are not highlighted: ${marks}`);
    assert.equal(await page.getAttribute('#results', 'data-weak'), '0', 'a real match is flagged as weak');
    const realCos = await page.evaluate(async () => (await window.sotto.search('Which Jaccard similarity threshold drops near-duplicate chunks?', { mode: 'dense', k: 1 })).hits[0].dense_score);

    // A misspelled query (BM25 typo tolerance): "jacard" is found nowhere, "jaccard" is searched instead.
    await page.fill('#query', 'jacard similarity');
    await page.selectOption('#mode', 'sparse');
    await page.click('#search-button');
    await page.waitForSelector('#results[data-state="done"] li.hit');
    assert.equal(await page.getAttribute('#results li.hit >> nth=0', 'data-doc'), 'docs/ingest.md', 'the misspelled query missed its document');
    assert.equal(await page.getAttribute('#results', 'data-corrected'), 'jacard');
    assert.match(await page.textContent('#search-notes p.corrected'), /jaccard \(for “jacard”\)/);
    step(`misspelled query: ${await page.textContent('#search-notes p.corrected')}`);

    // A query that matches nothing: the nearest chunks are shown under a notice, not as matches.
    await page.fill('#query', 'qwzx blorptic vranuff');
    await page.selectOption('#mode', 'hybrid');
    await page.click('#search-button');
    await page.waitForSelector('#results[data-state="done"]');
    const weakCos = await page.evaluate(async () => (await window.sotto.search('qwzx blorptic vranuff', { mode: 'dense', k: 1 })).hits[0].dense_score);
    step(`nonsense query: weak=${await page.getAttribute('#results', 'data-weak')}, best cosine ${weakCos.toFixed(3)} (the real query's: ${realCos.toFixed(3)})`);
    assert.equal(await page.getAttribute('#results', 'data-weak'), '1', 'a nonsense query is not flagged');
    assert.match(await page.textContent('#search-notes p.weak'), /No strong match/);
    assert.equal(await page.evaluate(() => document.querySelectorAll('#results > li:not(.hit)').length), 0, 'a notice sits in the ranked list');

    // A translated search (issue 9): a comparison is decomposed into its two parts, each
    // retrieved; the trace under the results names the technique and the queries it ran.
    const cmp = 'What is the difference between BM25 typo tolerance and the int8 flat scan?';
    await page.fill('#query', cmp);
    await page.selectOption('#translate', 'auto');
    await page.click('#search-button');
    await page.waitForSelector('#results[data-state="done"] li.hit');
    await page.waitForSelector('#search-trace details.trace');
    assert.equal(await page.getAttribute('#search-trace details.trace', 'data-technique'), 'decompose', 'auto did not decompose a comparison');
    const parts = await page.$$eval('#search-trace li[data-source="rule"] .q', (l) => l.map((x) => x.textContent));
    assert.deepEqual(parts, ['BM25 typo tolerance', 'the int8 flat scan'], 'the trace does not list the parts');
    step(`translated search: ${await page.textContent('#search-trace summary')} — parts ${JSON.stringify(parts)} — ${await page.textContent('#search-trace p.muted')}`);
    const traced = await page.evaluate(async (q) => {
      const { answer } = await window.sotto.ask(q, { mode: 'extractive', search: { translate: 'decompose' } });
      return answer.query;
    }, cmp);
    assert.equal(traced.technique, 'decompose', 'an answer does not carry its query trace');
    assert.equal(traced.queries.length, 3);
    await page.evaluate(async () => {
      try {
        await window.sotto.search('x', { translate: 'multi-query:9' });
        throw new Error('accepted');
      } catch (e) {
        if (e.kind !== 'InvalidOption') throw e;
      }
    });
    await page.selectOption('#translate', 'none');
    await page.click('#search-button');
    await page.waitForSelector('#results[data-state="done"]');
    assert.equal(await page.locator('#search-trace details').count(), 0, 'an untranslated search shows a trace');

    // 3b. The RAPTOR summary tree through the demo (issue 11). Tree: collapsed without a
    // tree is a typed error on the page; the "Build summary tree" button builds one in the
    // worker with progress in the status line and Cancel offered, and the report and the
    // summary give its levels; a collapsed-tree search lists the summary nodes it used; in
    // BM25 mode the same option is a typed error and the next search works; Cancel during a
    // rebuild leaves the index and its tree as they were; a reload brings the tree back
    // from IndexedDB.
    const treeState = () => page.evaluate(async () => {
      const { stats, tree } = await window.sotto.stats();
      return { stats, tree };
    });
    const searchShows = async (selector) => {
      await page.click('#search-button');
      await page.waitForSelector(`#results[data-state="done"] ${selector}`);
    };
    assert.equal(await page.textContent('#sum-tree'), 'none');
    assert.equal(await page.isEnabled('#build-tree'), true, 'Build summary tree is off on an index with documents');
    const overview = 'What does Sotto do overall, from documents to answers?';
    await page.fill('#query', overview);
    await page.selectOption('#mode', 'hybrid');
    await page.selectOption('#k', '10');
    await page.selectOption('#tree', 'collapsed');
    await searchShows('li.error');
    const noTree = await page.textContent('#results li.error');
    step(`Tree: collapsed before a tree is built: ${noTree}`);
    assert.match(noTree, /^InvalidOption: .*no summary tree/);
    assert.equal(await page.getAttribute('#results li.error', 'data-kind'), 'error');

    await page.evaluate(() => {
      const status = document.getElementById('ingest-status');
      const cancel = document.getElementById('cancel');
      window.__treeUi = { texts: [], cancelShown: false, buttonDisabled: false };
      window.__treeObserver = new MutationObserver(() => {
        if (status.dataset.state === 'running') {
          window.__treeUi.texts.push(status.textContent);
          window.__treeUi.cancelShown ||= !cancel.hidden;
          window.__treeUi.buttonDisabled ||= document.getElementById('build-tree').disabled;
        }
      });
      window.__treeObserver.observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
    });
    await page.click('#build-tree');
    await page.waitForSelector('#ingest-status[data-state="done"]', { timeout: T.ingest });
    const treeUi = await page.evaluate(() => (window.__treeObserver.disconnect(), window.__treeUi));
    const built = await page.textContent('#ingest-status');
    const treeEvents = Number(await page.getAttribute('#ingest-status', 'data-progress'));
    const treeReport = await page.evaluate(() => window.sottoLastTree.report);
    step(`summary tree built: ${built} — ${treeEvents} progress event(s), e.g. ${JSON.stringify(treeUi.texts.filter((t) => /level/.test(t)).slice(0, 2))}; summary: ${await page.textContent('#sum-tree')}`);
    assert.equal(await page.getAttribute('#ingest-status', 'data-kind'), 'done', built);
    assert.ok(treeEvents >= 1, 'no progress event arrived while the tree was built');
    assert.ok(treeUi.texts.some((t) => /^Building the summary tree, level 1: \d+\/\d+ texts embedded/.test(t)), `progress not shown: ${JSON.stringify(treeUi.texts)}`);
    assert.ok(treeUi.cancelShown, 'no Cancel while the tree was built');
    assert.ok(treeUi.buttonDisabled, 'Build summary tree stays enabled while busy');
    assert.ok(treeReport.nodes_per_level.length >= 1 && treeReport.nodes >= 1, JSON.stringify(treeReport));
    assert.match(built, new RegExp(`^Built a summary tree over ${chunks} chunks: ${treeReport.nodes_per_level.length} levels?, ${treeReport.nodes} nodes .*saved to IndexedDB`));
    assert.equal(await page.getAttribute('#sum-tree', 'data-levels'), String(treeReport.nodes_per_level.length));
    assert.equal(await page.isHidden('#cancel'), true, 'Cancel stays after the tree was built');
    const withTree = await treeState();
    assert.deepEqual(withTree.tree, treeReport.nodes_per_level);

    await searchShows('li.hit');
    const collapsedTrace = await page.getAttribute('#search-trace .trace-tree', 'data-nodes');
    step(`Tree: collapsed: ${await page.locator('#results li.hit').count()} hits, top ${await page.getAttribute('#results li.hit >> nth=0', 'data-doc')}; ${await page.textContent('#search-trace .trace-tree')}`);
    assert.ok(Number(collapsedTrace) >= 1, 'the collapsed-tree search used no summary node');
    // Hits stay real chunks: a node is expanded into the chunks it cites (those not ranked above it).
    // Dense mode: in hybrid, a node's chunks carry only a dense rank into the fusion, so on
    // this growing corpus (docs/*.md) chunks that BM25 also ranks can fill the first ten.
    const collapsed = await page.evaluate(async (q) => {
      const { hits, trace } = await window.sotto.search(q, { k: 10, tree: 'collapsed', mode: 'dense' });
      const fromNodes = new Set(trace.tree.flatMap((n) => n.chunks));
      return { nodes: trace.tree, fromNodes: hits.filter((h) => fromNodes.has(h.chunk_id)).length };
    }, overview);
    step(`collapsed tree (dense): ${collapsed.fromNodes} of 10 hits came from summary nodes`);
    assert.ok(collapsed.nodes.length >= 1 && collapsed.nodes.every((n) => n.level >= 1) && collapsed.nodes.some((n) => n.chunks.length >= 1), JSON.stringify(collapsed.nodes));
    assert.ok(collapsed.fromNodes >= 1, 'no hit came from a summary node');
    // BM25 cannot rank summary nodes: a typed error on the page, and the engine goes on.
    await page.selectOption('#mode', 'sparse');
    await searchShows('li.error');
    const sparseTree = await page.textContent('#results li.error');
    step(`Tree: collapsed in BM25 mode: ${sparseTree}`);
    assert.match(sparseTree, /^InvalidOption: .*dense-only/);
    await page.selectOption('#tree', 'none');
    await page.fill('#query', 'Which Jaccard similarity threshold drops near-duplicate chunks?');
    await searchShows('li.hit');
    assert.equal(await page.getAttribute('#results li.hit >> nth=0', 'data-doc'), 'docs/ingest.md', 'the search after the refused option');

    // Cancel a rebuild from the page, at its first progress event: Cancelled, nothing changed.
    await page.evaluate(() => {
      const status = document.getElementById('ingest-status');
      window.__treeCancel = { cancelShown: null };
      window.__treeObserver = new MutationObserver(() => {
        if (status.dataset.state === 'running' && Number(status.dataset.progress) >= 1 && window.__treeCancel.cancelShown === null) {
          window.__treeCancel.cancelShown = !document.getElementById('cancel').hidden;
          document.getElementById('cancel').click();
        }
      });
      window.__treeObserver.observe(status, { attributes: true, attributeFilter: ['data-progress'] });
    });
    await page.click('#build-tree');
    await page.waitForSelector('#ingest-status[data-state="done"]', { timeout: T.ingest });
    const treeCancel = await page.evaluate(() => (window.__treeObserver.disconnect(), window.__treeCancel));
    const cancelledText = await page.textContent('#ingest-status');
    const afterCancel = await treeState();
    step(`summary tree rebuild cancelled: ${cancelledText} (Cancel shown: ${treeCancel.cancelShown}); tree ${JSON.stringify(afterCancel.tree)}`);
    assert.equal(treeCancel.cancelShown, true, 'Cancel was not offered during the rebuild');
    assert.match(cancelledText, /^Cancelled/);
    assert.equal(await page.getAttribute('#ingest-status', 'data-kind'), 'error');
    assert.deepEqual(afterCancel, withTree, 'a cancelled tree build changed the index');
    assert.equal(await page.getAttribute('#sum-tree', 'data-levels'), String(treeReport.nodes_per_level.length));
    await page.fill('#query', overview);
    await page.selectOption('#mode', 'dense');
    await page.selectOption('#tree', 'collapsed');
    await searchShows('li.hit');
    assert.ok(Number(await page.getAttribute('#search-trace .trace-tree', 'data-nodes')) >= 1, 'the tree kept after the cancel is not searched');

    // The tree is saved with the index: a reload restores it.
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.model });
    assert.equal(await page.getAttribute('body', 'data-restored'), '1');
    await page.waitForFunction((n) => document.getElementById('sum-tree').dataset.levels === n, String(treeReport.nodes_per_level.length));
    assert.deepEqual((await treeState()).tree, treeReport.nodes_per_level, 'the reload lost the summary tree');
    step(`reloaded with the tree: ${await page.textContent('#sum-tree')}`);
    await page.fill('#query', overview);
    await page.selectOption('#mode', 'hybrid');
    await page.selectOption('#k', '10');
    await page.selectOption('#tree', 'collapsed');
    await searchShows('li.hit');
    assert.ok(Number(await page.getAttribute('#search-trace .trace-tree', 'data-nodes')) >= 1, 'the restored tree is not searched');
    await page.selectOption('#tree', 'none');

    // 3c. Routing and query construction (issue 9): a question that names a document in a
    // scope ("in the limits document") gets a filter, shown in the trace; suggest leaves the
    // results alone, apply narrows them to that document; a plain question gets none. The
    // sample corpus has one collection: routing searches it and says why.
    const scoped = 'In the limits document, how large can a PDF be?';
    await page.fill('#query', scoped);
    await page.selectOption('#route', 'auto');
    await page.selectOption('#construct', 'suggest');
    await searchShows('li.hit');
    const suggested = {
      filters: await page.getAttribute('#search-trace .trace-construction', 'data-filters'),
      applied: await page.getAttribute('#search-trace .trace-construction', 'data-applied'),
      text: await page.textContent('#search-trace .trace-construction'),
      route: await page.textContent('#search-trace .trace-route'),
      docs: await page.$$eval('#results li.hit', (l) => l.map((x) => x.dataset.doc)),
    };
    step(`construct suggest: ${suggested.text} · ${suggested.route} · hits from ${[...new Set(suggested.docs)].join(', ')}`);
    assert.equal(suggested.filters, 'id=docs/limits.md');
    assert.equal(suggested.applied, 'false');
    assert.match(suggested.text, /id=docs\/limits\.md .*suggested, not applied/);
    assert.match(suggested.route, /^Routing: searched every collection \(.+\) · scores: default /);
    assert.ok(suggested.docs.some((d) => d !== 'docs/limits.md'), 'suggest filtered the results');
    await page.selectOption('#construct', 'apply');
    await searchShows('li.hit');
    const applied = {
      applied: await page.getAttribute('#search-trace .trace-construction', 'data-applied'),
      docs: await page.$$eval('#results li.hit', (l) => l.map((x) => x.dataset.doc)),
    };
    step(`construct apply: ${applied.docs.length} hits, all from ${[...new Set(applied.docs)].join(', ')}`);
    assert.equal(applied.applied, 'true');
    assert.ok(applied.docs.length >= 1 && applied.docs.every((d) => d === 'docs/limits.md'), `apply did not narrow the results: ${applied.docs}`);
    await page.fill('#query', 'How large can a PDF be?');
    await searchShows('li.hit');
    assert.match(await page.textContent('#search-trace .trace-construction'), /^Filter from the question: none/);
    // Ask takes the same options: the answer cites only the constrained document, and its trace shows the filter.
    await page.fill('#question', scoped);
    await page.click('#ask-button');
    await page.waitForSelector('#answer[data-state="answered"], #answer[data-state="abstained"]', { timeout: T.ask });
    const askedScoped = await page.evaluate(() => ({ construction: window.sottoLastAnswer.query?.construction, cited: window.sottoLastAnswer.citations.map((c) => c.doc_id) }));
    step(`ask with construct apply: ${JSON.stringify(askedScoped)} · ${await page.textContent('#answer-trace .trace-construction')}`);
    assert.equal(askedScoped.construction.applied, true);
    assert.ok(askedScoped.cited.every((d) => d === 'docs/limits.md'), `the answer cites outside the filter: ${askedScoped.cited}`);
    assert.equal(await page.getAttribute('#answer-trace .trace-construction', 'data-filters'), 'id=docs/limits.md');
    await page.selectOption('#route', 'none');
    await page.selectOption('#construct', 'off');
    await page.selectOption('#k', '5');
    await page.evaluate(() => {
      for (const id of ['results', 'search-trace', 'answer', 'answer-trace', 'citations']) document.getElementById(id).replaceChildren();
    });

    // 4. Ask: an extractive answer whose citations resolve and open the cited span.
    await page.fill('#question', 'What does an index file start with?');
    await watchStreaming(page);
    await watchAskUi(page);
    await page.click('#ask-button');
    await page.waitForSelector('#answer[data-state="answered"]', { timeout: T.ask });
    const answerText = await page.textContent('#answer .answer-text');
    const streamed = await streamingReport(page);
    const askUi = await askUiReport(page);
    step(`ask progress shown: ${JSON.stringify(askUi.status.slice(0, 2))}, cancel shown: ${askUi.cancelShown}`);
    assert.ok(askUi.status.some((t) => /Finding the passages.*\d s/.test(t)), 'nothing showed while the answer was computed');
    assert.ok(askUi.cancelShown, 'no Cancel beside Ask while answering');
    assert.equal(await page.isHidden('#ask-status'), true, 'the progress line stays after the answer');
    assert.equal(await page.isHidden('#ask-cancel'), true, 'the Cancel beside Ask stays after the answer');
    step(`answer: ${answerText} (streamed ${streamed.pieces} piece(s), all marked unverified: ${streamed.unmarked === 0})`);
    assert.ok(streamed.pieces >= 1, 'no streamed text was seen');
    assert.equal(streamed.unmarked, 0, 'streamed text was shown without the unverified mark');
    assert.equal(await page.locator('#answer .streaming, #answer .draft-label').count(), 0, 'the unverified draft stays after the final answer');
    assert.match(answerText, /SOTTOIDX/);
    assert.match(answerText, /\[1\]/);
    const check = await verifyAnswer(page);
    assert.equal(check.mode, 'extractive');
    assert.equal(check.out[0].doc, 'docs/index-format.md');
    const marked = await openCitation(page, check.out[0].doc);
    assert.match(marked, /SOTTOIDX/);
    mkdirSync(join(ROOT, 'target'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'target', 'e2e-answer.png'), fullPage: true });
    step('answer cited, span opened, screenshot saved to target/e2e-answer.png');

    // 4b. Generative: load SmolLM2 from the origin, ask, and check the engine's citations.
    let generative = null;
    if (process.env.SOTTO_E2E_GENERATIVE !== '0') {
      await page.click('#load-generator');
      await page.waitForSelector('body[data-generator="1"]', { timeout: T.model });
      step(`generator: ${await page.textContent('#generator-status')}`);
      assert.match(await page.textContent('#generator-status'), /^SmolLM2-135M-Instruct \(Q4_1\) loaded/, 'the generator is not shown by its file name');
      assert.equal(await page.inputValue('#answer-mode'), 'generative');
      await page.fill('#question', 'What does an index file start with?');
      await watchStreaming(page);
      await page.click('#ask-button');
      // While the model reads its sources (prefill), the page says so; the Cancel sits beside Ask.
      await page.waitForFunction(() => /reading them to the model|Writing the answer/.test(document.getElementById('ask-status').textContent));
      const [askBox, cancelBox] = [await page.locator('#ask-button').boundingBox(), await page.locator('#ask-cancel').boundingBox()];
      assert.ok(cancelBox && Math.abs(cancelBox.y - askBox.y) < 60, `Cancel is not beside Ask: ${JSON.stringify({ askBox, cancelBox })}`);
      await page.waitForSelector('#answer[data-state="answered"]', { timeout: T.ask * 3 });
      const genStream = await streamingReport(page);
      step(`generative stream: ${genStream.pieces} piece(s) shown as an unverified draft, ${genStream.unmarked} unmarked`);
      assert.ok(genStream.pieces >= 2, 'the generated text was not streamed');
      assert.equal(genStream.unmarked, 0, 'generated text was shown without the unverified mark');
      assert.equal(await page.locator('#answer .streaming').count(), 0);
      generative = await verifyAnswer(page);
      step(`generative answer (${generative.mode}${generative.fellBack ? ', fell back' : ''}): ${await page.textContent('#answer .answer-text')} — generated: ${JSON.stringify(generative.generated)}`);
      assert.equal(generative.mode, generative.fellBack ? 'extractive' : 'generative');
      assert.ok(generative.generated, 'the generator produced no text');
      await openCitation(page, generative.out[0].doc);
      await page.screenshot({ path: join(ROOT, 'target', 'e2e-answer-generative.png'), fullPage: true });

      // Compose: the model fuses the extractive sentences; the page says which mode produced the answer.
      await page.selectOption('#answer-mode', 'compose');
      await page.fill('#question', 'What does an index file start with?');
      await page.click('#ask-button');
      await page.waitForSelector('#answer[data-state="answered"]', { timeout: T.ask * 3 });
      const composed = await verifyAnswer(page);
      const composedMeta = await page.textContent('#answer .answer-meta');
      step(`composed answer (${composed.mode}${composed.fellBack ? ', fell back' : ''}): ${await page.textContent('#answer .answer-text')} — generated: ${JSON.stringify(composed.generated)} — ${composedMeta}`);
      assert.equal(composed.mode, composed.fellBack ? 'extractive' : 'compose');
      assert.ok(composed.generated, 'the generator produced no composition');
      assert.match(composedMeta, composed.fellBack ? /^extractive: sentences of the documents \(.*fell back to extractive\)/ : /^composed: the extractive sentences fused by the model/);
      await page.selectOption('#answer-mode', 'extractive');
    }

    // 5. Hostile documents are indexed and displayed inert.
    const hostileHtml = `<!doctype html><html><head><title>Zebra <script>window.__pwned=1;alert('title')</script></title>
<script>window.__pwned=2; alert('script');</script></head>
<body><p onclick="alert('p')">Zebra crossings are marked with broad white stripes.</p>
<img src="x" onerror="window.__pwned=3; alert('img')"><a href="javascript:alert('link')">zebra link</a>
<iframe src="javascript:alert('iframe')"></iframe><svg onload="alert('svg')"><text>zebra svg</text></svg></body></html>`;
    const hostileMd = `# Zebra notes\n\nZebras <img src=x onerror="window.__pwned=4;alert('md')"> live in Africa.\n\n[zebra link](javascript:alert('mdlink'))\n\n<script>alert('mdscript')</script>\n`;
    const hostileTxt = `Zebra text <img src=x onerror=alert('txt')> and <script>alert('txt2')</script> stay literal.`;
    await page.setInputFiles('#files', [
      { name: 'hostile.html', mimeType: 'text/html', buffer: Buffer.from(hostileHtml) },
      { name: 'hostile.md', mimeType: 'text/markdown', buffer: Buffer.from(hostileMd) },
      { name: '<img src=x onerror=alert(9)>.txt', mimeType: 'text/plain', buffer: Buffer.from(hostileTxt) },
      // A broken PDF: reported with its error (PdfFormat), the three others are still indexed.
      { name: 'scan.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') },
    ]);
    await page.waitForFunction((n) => document.body.dataset.documents === n, String(SAMPLE_DOCS + 3), { timeout: T.ingest });
    assert.match(await page.textContent('#ingest-status'), /Indexed 3 documents.*1 file not indexed/, 'the broken file of a pick is not reported, or the pick failed');
    assert.equal(await page.getAttribute('#ingest-failed li', 'data-doc'), 'scan.pdf', 'the broken PDF is listed');
    // The summary tree built in 3b described the old corpus: adding documents dropped it, and the page says so.
    assert.match(await page.textContent('#ingest-status'), /the summary tree was dropped/);
    assert.equal(await page.textContent('#sum-tree'), 'none');
    assert.match(await page.textContent('#ingest-failed li'), /^PdfFormat: /, 'the broken PDF is listed with its error');
    // Titles come from the documents themselves, not from their file names.
    const titles = await page.evaluate(async () => Object.fromEntries(await Promise.all(['hostile.md', 'hostile.html'].map(async (id) => [id, (await window.sotto.document(id)).title]))));
    assert.equal(titles['hostile.md'], 'Zebra notes');
    assert.match(titles['hostile.html'], /^Zebra/);
    await page.fill('#query', 'zebra');
    await page.selectOption('#mode', 'sparse');
    await page.selectOption('#k', '10');
    await page.click('#search-button');
    await page.waitForSelector('#results[data-state="done"] li.hit');
    const hitCount = await page.locator('#results li.hit').count();
    for (let i = 0; i < hitCount; i++) {
      await page.click(`#results li.hit >> nth=${i} >> button.hit-title`);
      await page.waitForSelector('#viewer:not([hidden])');
    }
    assert.equal(await page.evaluate(() => document.getElementById('search-section').nextElementSibling.id), 'viewer', 'the viewer did not open below the results');
    await page.click('#doc-details summary');
    for (const id of ['hostile.html', 'hostile.md', '<img src=x onerror=alert(9)>.txt']) {
      await page.click(`#doc-list button.link:text-is("${id}")`);
      await page.waitForFunction((d) => document.getElementById('viewer').dataset.doc === d, id);
    }
    await page.fill('#question', 'Where do zebras live?');
    await page.selectOption('#k', '5');
    await page.click('#ask-button');
    await page.waitForSelector('#answer[data-state="answered"], #answer[data-state="abstained"]', { timeout: T.ask });
    await page.waitForTimeout(300);
    const inert = await page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      // The one frame allowed is the page's own sandboxed report frame.
      live: document.querySelectorAll('main img, main script, main iframe:not(#eval-report[sandbox="allow-scripts"]), main svg, main [onerror], main [onclick], main a[href^="javascript:"]').length,
      txtLiteral: document.getElementById('viewer-text').textContent.includes("<img src=x onerror=alert('txt')>"),
      listed: [...document.querySelectorAll('#doc-list button.link')].map((b) => b.textContent),
    }));
    step(`hostile documents: ${hitCount} hits opened, ${JSON.stringify(inert)}`);
    assert.deepEqual(dialogs, [], `a dialog opened: ${dialogs}`);
    assert.equal(inert.pwned, null, 'hostile script ran');
    assert.equal(inert.live, 0, 'live markup was inserted into the page');
    assert.ok(inert.txtLiteral, 'the text file\'s markup should be shown literally');
    assert.ok(inert.listed.includes('<img src=x onerror=alert(9)>.txt'));

    // 5b. Evaluate panel: the sample questions plus two about the hostile documents (one with
    // markup in its text), uploaded as a file; four modes with extractive answers.
    const qa = readFileSync(join(ROOT, 'docs', 'sample-qa.jsonl'), 'utf8').trim().split('\n');
    const evalQuestions = qa.length + 2;
    const dataset = [
      ...qa,
      JSON.stringify({ id: 'z1', question: 'Where do zebras live?', relevant_docs: ['hostile.md'], answers: ['Africa'] }),
      JSON.stringify({ id: 'z2', question: "Zebra crossings <script>alert('q')</script><img src=x onerror=alert('q2')>?", relevant_docs: ['hostile.html', 'not-indexed.md'] }),
    ].join('\n') + '\n';
    await page.setInputFiles('#eval-file', { name: 'qa.jsonl', mimeType: 'application/json', buffer: Buffer.from(dataset) });
    await page.waitForFunction(() => /qa\.jsonl/.test(document.getElementById('eval-dataset').textContent));
    await page.selectOption('#eval-answers', 'extractive');
    for (const id of ['#eval-downloads', '#eval-summary', '#eval-report']) assert.equal(await page.isHidden(id), true, `${id} shows before any evaluation`);
    await startTicker(page);
    await page.click('#eval-run');
    await page.waitForFunction(() => document.getElementById('eval-progress').value > 0 || document.getElementById('eval-status').dataset.state === 'done');
    await page.waitForSelector('#eval-status[data-state="done"]', { timeout: T.ask * 10 });
    const evalGap = await stopTicker(page);
    const evalStatus = await page.textContent('#eval-status');
    step(`evaluate: ${evalStatus}; longest main-thread gap ${evalGap.toFixed(0)} ms`);
    assert.equal(await page.getAttribute('#eval-status', 'data-kind'), 'done', evalStatus);
    assert.match(evalStatus, new RegExp(`Evaluated ${evalQuestions} questions × 4 configurations`));
    assert.match(evalStatus, /1 relevant document\(s\) not in the index/);
    assert.equal(await page.isVisible('#eval-downloads'), true, 'the report downloads are offered');
    const summaryRows = await page.$$eval('#eval-summary tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    step(`evaluate summary: ${JSON.stringify(summaryRows)}`);
    assert.deepEqual(summaryRows.map((r) => r[0]), ['dense', 'sparse', 'hybrid-rrf', 'hybrid-weighted α=0.5']);
    const evaluation = await page.evaluate(() => window.sottoLastEvaluation);
    const hybrid = evaluation.grid.runs.find((r) => r.config.name === 'hybrid-rrf').report;
    assert.equal(hybrid.questions, evalQuestions);
    assert.ok(hybrid.doc.recall['5'] >= 0.8, `hybrid recall@5 ${hybrid.doc.recall['5']} on the sample questions`);
    assert.equal(hybrid.answers.asked, evalQuestions, 'every question was answered');
    assert.ok(hybrid.answers.citation_precision > 0, 'answers cite relevant documents');
    // The report in its sandboxed frame: drawn under the page's CSP (hashes), scripts confined.
    const frame = await (await page.$('#eval-report')).contentFrame();
    await frame.waitForFunction(() => typeof window.Chart === 'function' && document.querySelectorAll('#configs tbody tr').length > 0, null, { timeout: 30_000 });
    const framed = await frame.evaluate(() => {
      const painted = ['chart-recall', 'chart-latency', 'chart-ranks'].map((id) => {
        const canvas = document.getElementById(id);
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
        return window.Chart.getChart(canvas) ? n : -1;
      });
      let parentReachable;
      try {
        parentReachable = !!window.parent.document;
      } catch {
        parentReachable = false;
      }
      return {
        painted,
        rows: document.querySelectorAll('#configs tbody tr').length,
        scripts: document.scripts.length,
        live: document.querySelectorAll('main img, main iframe, main script, main [onerror]').length,
        hostileText: document.body.textContent.includes("<script>alert('q')</script>"),
        pwned: window.__pwned ?? null,
        parentReachable,
        chartErrorShown: !document.getElementById('chart-error').hidden,
      };
    });
    step(`report frame: ${JSON.stringify(framed)}`);
    assert.equal(framed.rows, 4, 'one report row per configuration');
    for (const n of framed.painted) assert.ok(n > 2000, `a chart is not drawn (${framed.painted})`);
    assert.equal(framed.chartErrorShown, false);
    assert.equal(framed.scripts, 3, 'only the report\'s own scripts (data, Chart.js, charts)');
    assert.equal(framed.live, 0, 'live markup from the dataset or documents in the report');
    assert.ok(framed.hostileText, 'the hostile question is shown as text');
    assert.equal(framed.pwned, null);
    assert.equal(framed.parentReachable, false, 'the report frame can reach the page');
    assert.deepEqual(dialogs, [], `a dialog opened: ${dialogs}`);
    await page.locator('#eval-section').screenshot({ path: join(ROOT, 'target', 'e2e-evaluate.png') });
    // Bad dataset: not UTF-8 → a typed error; the panel and engine stay usable.
    await page.setInputFiles('#eval-file', { name: 'latin1.jsonl', mimeType: 'application/json', buffer: Buffer.from('{"id":"a","question":"caf\xe9?","relevant_docs":["x"]}\n', 'latin1') });
    await page.click('#eval-run');
    await page.waitForSelector('#eval-status[data-kind="error"]', { timeout: T.ask });
    const badEval = await page.textContent('#eval-status');
    step(`evaluate, non-UTF-8 dataset: ${badEval}`);
    assert.match(badEval, /^Dataset: dataset line 1/);
    // BEIR layout: queries.jsonl + a qrels .tsv picked together, one mode, retrieval only.
    // Its corpus is not in this index, so every judged document is reported missing.
    const beir = join(ROOT, 'tests', 'fixtures', 'beir-mini');
    const judged = new Set(readFileSync(join(beir, 'qrels', 'test.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')).filter((c) => Number(c[2]) > 0).map((c) => c[0]));
    const queryIds = new Set(readFileSync(join(beir, 'queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)._id));
    const beirQuestions = [...judged].filter((id) => queryIds.has(id)).length;
    await page.setInputFiles('#eval-file', [join(beir, 'queries.jsonl'), join(beir, 'qrels', 'test.tsv')]);
    for (const m of ['dense', 'hybrid', 'weighted']) await page.uncheck(`#eval-modes input[value="${m}"]`);
    await page.selectOption('#eval-answers', '');
    await page.click('#eval-run');
    await page.waitForSelector('#eval-status[data-state="done"][data-kind="done"]', { timeout: T.ask });
    const beirStatus = await page.textContent('#eval-status');
    step(`evaluate, BEIR layout: ${beirStatus}`);
    assert.match(beirStatus, new RegExp(`^Evaluated ${beirQuestions} questions × 1 configurations`));
    assert.match(beirStatus, /relevant document\(s\) not in the index/);
    assert.deepEqual(await page.$$eval('#eval-summary tbody tr th', (c) => c.map((x) => x.textContent)), ['sparse']);
    if (generative) {
      // Composed answers in the panel (the generator is loaded): the report gives what the
      // generator's sentences were worth to attribution, and which mode produced each answer.
      const two = [qa[0], JSON.stringify({ id: 'z1', question: 'Where do zebras live?', relevant_docs: ['hostile.md'], answers: ['Africa'] })].join('\n') + '\n';
      await page.setInputFiles('#eval-file', { name: 'two.jsonl', mimeType: 'application/json', buffer: Buffer.from(two) });
      await page.check('#eval-modes input[value="hybrid"]');
      await page.uncheck('#eval-modes input[value="sparse"]');
      await page.selectOption('#eval-answers', 'compose');
      await page.click('#eval-run');
      await page.waitForSelector('#eval-status[data-state="done"][data-kind="done"]', { timeout: T.ask * 10 });
      const composedEval = await page.evaluate(() => window.sottoLastEvaluation.grid.runs[0].report);
      const gen = composedEval.answers.generated;
      const modes = composedEval.per_question.map((q) => q.answer && q.answer.mode);
      step(`evaluate, composed answers: generated ${JSON.stringify(gen)}, modes ${JSON.stringify(modes)}`);
      assert.ok(gen && gen.answers >= 1, 'the report does not count the composed answers');
      assert.ok(gen.kept <= gen.answers && gen.supported <= gen.sentences);
      for (const m of modes) assert.ok(m === 'compose' || m === 'extractive', `answer mode ${m}`);
      const composedFrame = await (await page.$('#eval-report')).contentFrame();
      await composedFrame.waitForFunction(() => !!document.body && document.body.textContent.includes('generated kept') && document.body.textContent.includes('sentences supported'), null, { timeout: 30_000 });
      await page.check('#eval-modes input[value="sparse"]');
      await page.uncheck('#eval-modes input[value="hybrid"]');
      await page.selectOption('#eval-answers', '');
    }
    // Cancel from the panel: a long run (the sample questions ×40) stops with a typed error
    // and the panel runs again afterwards.
    const many = Array.from({ length: 40 }, (_, r) => qa.map((l) => {
      const q = JSON.parse(l);
      return JSON.stringify({ ...q, id: `${q.id}-${r}` });
    }).join('\n')).join('\n') + '\n';
    await page.setInputFiles('#eval-file', { name: 'many.jsonl', mimeType: 'application/json', buffer: Buffer.from(many) });
    for (const m of ['dense', 'hybrid', 'weighted']) await page.check(`#eval-modes input[value="${m}"]`);
    await page.click('#eval-run');
    await page.waitForFunction(() => document.getElementById('eval-progress').value > 0, null, { timeout: T.ask });
    await page.click('#eval-cancel');
    await page.waitForSelector('#eval-status[data-state="done"]', { timeout: T.ask });
    const cancelStatus = await page.textContent('#eval-status');
    step(`evaluate, cancelled: ${cancelStatus}`);
    assert.match(cancelStatus, /^Cancelled/);
    assert.equal(await page.isHidden('#eval-cancel'), true);
    await page.click('#eval-sample');
    await page.waitForFunction(() => /sample questions/.test(document.getElementById('eval-dataset').textContent));
    assert.equal(await page.isEnabled('#eval-run'), true);

    // 5c. Feedback and monitoring: 👍 with a confirmed source and "not answered" through the
    // page; scripted queries; the monitoring figures; the feedback exported as a dataset and
    // evaluated in the Evaluate panel; feedback whose document was deleted since is skipped.
    await page.evaluate(() => window.sotto.clearMonitoring());
    await page.fill('#question', 'What does an index file start with?');
    await page.click('#ask-button');
    await page.waitForSelector('#answer[data-state="answered"]', { timeout: T.ask });
    assert.equal(await page.isVisible('#feedback'), true, 'no feedback buttons under the answer');
    const confirmed = await page.$eval('#citations .fb-source input', (i) => i.value);
    await page.check('#citations .fb-source input >> nth=0');
    await page.click('#fb-up');
    await page.waitForFunction(() => /1 source\(s\) confirmed/.test(document.getElementById('fb-status').textContent));
    await page.fill('#question', 'What is the boiling point of mercury in kelvin?');
    await page.click('#ask-button');
    await page.waitForSelector('#answer[data-state="answered"], #answer[data-state="abstained"]', { timeout: T.ask });
    await page.click('#fb-noanswer');
    await page.waitForFunction(() => /not answered/.test(document.getElementById('fb-status').textContent));
    const scripted = await page.evaluate(async () => {
      const s = window.sotto;
      for (const q of ['How are near-duplicate chunks detected?', 'reciprocal rank fusion', 'index file format version', 'xqzvbw flurble grommet']) await s.search(q);
      await s.ask('How does hybrid search fuse the two rankings?');
      // Feedback on a document deleted since: skipped by the export, with the reason.
      await s.addDocuments([{ id: 'fb-temp.txt', body: 'A temporary note about the quarterly lantern inventory.' }]);
      await s.feedback({ question: 'What does the lantern inventory say?', helpful: true, sources: ['fb-temp.txt'] });
      await s.removeDocuments(['fb-temp.txt']);
      const r = { bad: await s.feedback({ question: '' }).then(() => 'resolved', (e) => e.kind) };
      r.exported = await s.exportFeedback();
      return r;
    });
    await page.click('#monitor-refresh');
    await page.waitForFunction(() => window.sottoLastMonitoring && window.sottoLastMonitoring.feedback === 3);
    const mon = await page.evaluate(() => window.sottoLastMonitoring);
    const monRows = await page.$$eval('#monitor-table tr', (rows) => rows.map((r) => r.textContent));
    step(`monitoring: ${mon.queries} queries, ${mon.answers} answers, abstentions ${mon.abstention_rate}, zero-hit ${mon.zero_hit_rate}, feedback ${mon.feedback} (rate ${mon.feedback_rate}), drift ${JSON.stringify(mon.drift)}, total p50/p95 ${mon.latency.total_ms.p50?.toFixed(0)}/${mon.latency.total_ms.p95?.toFixed(0)} ms`);
    assert.equal(mon.enabled, true);
    assert.equal(mon.persisted, true, 'the log is stored in IndexedDB');
    assert.equal(mon.queries, 7, '3 answers and 4 searches since the log was cleared');
    assert.equal(mon.answers, 3);
    assert.equal(mon.latency.total_ms.n, 7);
    assert.ok(mon.latency.retrieve_ms.p95 >= mon.latency.retrieve_ms.p50);
    assert.ok(mon.zero_hit_rate >= 1 / 4 && mon.zero_hit_rate < 1, `the nonsense search (one of 4) matched no word: ${mon.zero_hit_rate}`);
    assert.equal(mon.feedback, 3);
    assert.equal(mon.feedback_rate, 1);
    assert.ok(mon.drift && Number.isFinite(mon.drift.delta), 'a drift figure');
    assert.ok(monRows.some((r) => /^latency total/.test(r)) && monRows.some((r) => /^abstentions/.test(r)), JSON.stringify(monRows));
    assert.equal(scripted.bad, 'InvalidOption');
    assert.equal(scripted.exported.questions, 2, JSON.stringify(scripted.exported));
    assert.deepEqual(scripted.exported.skipped.map((x) => x.question), ['What does the lantern inventory say?']);
    const exportedLines = scripted.exported.jsonl.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(exportedLines.map((l) => l.relevant_docs), [[confirmed], []]);
    await page.click('#fb-evaluate');
    await page.waitForFunction(() => /my feedback \(2 questions\)/.test(document.getElementById('eval-dataset').textContent));
    await page.selectOption('#eval-answers', 'extractive');
    await page.click('#eval-run');
    await page.waitForSelector('#eval-status[data-state="done"]', { timeout: T.ask * 10 });
    const fbStatus = await page.textContent('#eval-status');
    step(`evaluate my feedback: ${fbStatus}`);
    assert.match(fbStatus, /Evaluated 2 questions/);
    const fbEval = await page.evaluate(() => window.sottoLastEvaluation.grid.runs.find((r) => r.config.name === 'hybrid-rrf').report);
    assert.equal(fbEval.doc.recall['5'], 1, 'the confirmed source is retrieved for its question');

    // 6. Bad input: typed rejections, and the engine and index survive.
    const bad = await page.evaluate(async (generatorLoaded) => {
      const s = window.sotto;
      const kind = (p) => p.then(() => 'resolved', (e) => e.kind);
      const before = (await s.stats()).stats;
      const r = {};
      r.topBefore = (await s.search('Which Jaccard similarity threshold drops near-duplicate chunks?')).hits.map((h) => h.chunk_id);
      r.garbageIndex = await kind(s.importIndex(new TextEncoder().encode('definitely not an index')));
      const good = await s.exportIndex();
      const future = good.slice();
      future[8] = 9;
      r.futureIndex = await kind(s.importIndex(future));
      r.truncatedIndex = await kind(s.importIndex(good.slice(0, good.length - 100)));
      const urls = (w) => ({ urls: { weights: w, tokenizer: 'models/all-MiniLM-L6-v2/tokenizer.json', config: 'models/all-MiniLM-L6-v2/config.json' }, name: 'x' });
      r.missingModel = await kind(s.loadEmbedder(urls('models/nope.safetensors')));
      r.notAModel = await kind(s.loadEmbedder(urls('index.html')));
      if (generatorLoaded) {
        // Cancel during generation: rejected, and the engine still answers afterwards.
        const gen = s.ask('Describe the index file format in detail.', { mode: 'generative', maxNewTokens: 400 });
        await new Promise((res) => setTimeout(res, 1500));
        await s.cancel();
        r.generative = await kind(gen);
        r.generativeAfterCancel = (await s.ask('What does an index file start with?', { mode: 'generative', maxNewTokens: 20 })).answer.citations.length > 0 ? 'cited' : 'uncited';
      } else {
        r.generative = await kind(s.ask('What does an index file start with?', { mode: 'generative' }));
      }
      r.badOption = await kind(s.search('x', { k: 0 }));
      // The async-iterator form of ask streams the same text the final answer has.
      const stream = s.askStream('What does an index file start with?', { mode: 'extractive' });
      let streamed = '';
      for await (const piece of stream) streamed += piece;
      r.streamMatches = streamed === (await stream.answer).answer.answer;
      // Distinct pseudo-random texts, so near-duplicate detection keeps them all for embedding.
      const vocab = 'river stone cloud lantern copper meadow signal harbor violet engine orbit candle willow marble thunder glacier pepper canyon falcon saddle ember quartz tunnel beacon velvet mosaic anchor basalt cobalt fern'.split(' ');
      const many = Array.from({ length: 300 }, (_, i) => {
        let x = i + 1;
        const words = Array.from({ length: 60 }, () => vocab[Math.floor((x = (x * 48271) % 2147483647) / 65536) % vocab.length]);
        return { id: `bulk-${i}.txt`, body: words.join(' ') + '.' };
      });
      const first = s.addDocuments(many);
      r.concurrent = await kind(s.addDocuments([{ id: 'second.txt', body: 'second batch' }]));
      await new Promise((res) => setTimeout(res, 300));
      await s.cancel();
      r.cancelled = await kind(first);
      r.after = (await s.stats()).stats;
      r.before = before;
      const { hits } = await s.search('Which Jaccard similarity threshold drops near-duplicate chunks?');
      r.topAfter = hits.map((h) => h.chunk_id);
      r.topDoc = hits[0].doc_id;
      return r;
    }, generative !== null);
    step(`bad input: ${JSON.stringify({ ...bad, before: undefined, after: undefined })}`);
    assert.equal(bad.garbageIndex, 'BadMagic');
    assert.equal(bad.futureIndex, 'IndexFormat');
    assert.equal(bad.truncatedIndex, 'Corrupt');
    assert.equal(bad.missingModel, 'Fetch');
    assert.equal(bad.notAModel, 'ModelFormat');
    if (generative) {
      assert.equal(bad.generative, 'Cancelled');
      assert.equal(bad.generativeAfterCancel, 'cited');
    } else {
      assert.equal(bad.generative, 'ModelNotLoaded');
    }
    assert.equal(bad.badOption, 'InvalidOption');
    assert.equal(bad.streamMatches, true);
    assert.equal(bad.concurrent, 'Busy');
    assert.equal(bad.cancelled, 'Cancelled');
    assert.deepEqual(bad.after, bad.before, 'a failed call changed the index');
    // The same hits as before the failed calls.
    assert.deepEqual(bad.topAfter, bad.topBefore, 'the failed calls changed the search');
    assert.equal(bad.topDoc, 'docs/ingest.md');

    // 6a. The building blocks through the worker client, on the real MiniLM: embed (vectors
    // transferred as Float32Arrays, progress, cancel), rerank, chunk; nothing is indexed.
    const blocks = await page.evaluate(async () => {
      const s = window.sotto;
      const kind = (p) => p.then(() => 'resolved', (e) => e.kind);
      const before = (await s.stats()).stats;
      const r = {};
      const progress = [];
      const texts = Array.from({ length: 40 }, (_, i) => `Sentence ${i}: the index file starts with a magic number.`);
      const vectors = await s.embed(texts, {}, { onProgress: (p) => progress.push(p) });
      r.count = vectors.length;
      r.typed = vectors.every((v) => v instanceof Float32Array && v.length === 384);
      r.norm = Math.sqrt(vectors[0].reduce((a, x) => a + x * x, 0));
      r.progress = progress.at(-1);
      r.progressEvents = progress.length;
      const [raw] = await s.embed(texts.slice(0, 1), { normalize: false });
      r.rawNorm = Math.sqrt(raw.reduce((a, x) => a + x * x, 0));
      r.empty = (await s.embed([])).length;
      r.badOpt = await kind(s.embed(['x'], { normalise: true }));
      const many = Array.from({ length: 3000 }, (_, i) => `text ${i} about rivers, lanterns and copper number ${i * 7}`);
      const pending = s.embed(many);
      await new Promise((res) => setTimeout(res, 400));
      await s.cancel();
      r.cancelled = await kind(pending);
      const ranked = await s.rerank('What does an index file start with?', [
        'Cats sleep most of the day.',
        'Sotto is written in Rust by a small team. The index file starts with a magic number and a format version.',
      ]);
      r.rerankTop = ranked[0].index;
      r.rerankSentence = 'Sotto is written in Rust by a small team. The index file starts with a magic number and a format version.'.slice(ranked[0].start, ranked[0].end);
      const doc = await s.chunk({ id: 'preview.md', body: '# Preview\n\nOne paragraph.\n\n## Part\n\nAnother paragraph.' });
      r.chunkPaths = doc.chunks.map((c) => c.heading_path.join(' > '));
      // ASCII text: the UTF-8 byte spans are also string offsets.
      r.spansOk = doc.chunks.every((c) => doc.text.slice(c.start, c.end) === c.text) && doc.chunks.at(-1).text.includes('Another paragraph');
      r.after = (await s.stats()).stats;
      r.before = before;
      return r;
    });
    step(`building blocks: ${JSON.stringify({ ...blocks, before: undefined, after: undefined })}`);
    assert.equal(blocks.count, 40);
    assert.equal(blocks.typed, true, 'embed returns Float32Arrays of the model dimension');
    assert.ok(Math.abs(blocks.norm - 1) < 1e-3, `normalised: ${blocks.norm}`);
    assert.ok(Math.abs(blocks.rawNorm - 1) > 0.01, `normalize: false gives the pooled vector: ${blocks.rawNorm}`);
    assert.deepEqual(blocks.progress, { done: 40, total: 40 });
    assert.ok(blocks.progressEvents >= 2, 'progress per batch');
    assert.equal(blocks.empty, 0);
    assert.equal(blocks.badOpt, 'InvalidOption');
    assert.equal(blocks.cancelled, 'Cancelled');
    assert.equal(blocks.rerankTop, 1);
    assert.match(blocks.rerankSentence, /magic number/);
    assert.deepEqual(blocks.chunkPaths, ['Preview'], 'a short document is one chunk under its title');
    assert.equal(blocks.spansOk, true, 'chunk spans point into the cleaned text');
    assert.deepEqual(blocks.after, blocks.before, 'the building blocks changed the index');

    // 6b. Storage quota exceeded: the batch is indexed in memory, the save fails with a kind,
    // and the previously saved index stays intact (checked after the reload below).
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1024 });
    // IndexedDB keeps the space it last saw for a while, so a write right after recent ones
    // can still pass: probe with a write of our own until the override is enforced.
    const probeMs = await page.evaluate(async () => {
      const t0 = performance.now();
      const probe = () => new Promise((resolve) => {
        const req = indexedDB.open('sotto-quota-probe', 1);
        req.onupgradeneeded = () => req.result.createObjectStore('s');
        req.onerror = () => resolve(false);
        req.onsuccess = () => {
          const db = req.result;
          const tx = db.transaction('s', 'readwrite');
          tx.objectStore('s').put(new Uint8Array(64 * 1024), 'k');
          tx.oncomplete = () => (db.close(), resolve(true));
          tx.onabort = () => (db.close(), resolve(false));
        };
      });
      while (await probe()) {
        if (performance.now() - t0 > 120_000) throw new Error('the quota override was never enforced');
        await new Promise((r) => setTimeout(r, 1000));
      }
      return performance.now() - t0;
    });
    step(`quota override enforced after ${(probeMs / 1000).toFixed(1)} s`);
    const quota = await page.evaluate(async () => {
      const r = await window.sotto.addDocuments([{ id: 'unsaved.txt', body: 'This document is indexed while storage is full.' }]);
      return { saved: r.saved, documents: r.stats.documents };
    });
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    step(`quota exceeded: ${JSON.stringify(quota)}`);
    assert.equal(quota.saved.ok, false);
    assert.equal(quota.saved.error.kind, 'QuotaExceeded');
    assert.equal(quota.documents, SAMPLE_DOCS + 4);

    // 7. Reload: index from IndexedDB (no embedding), model from the Cache API (no download).
    const seen = requests.length;
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.model });
    const after = requests.slice(seen);
    const restored = {
      restored: await page.getAttribute('body', 'data-restored'),
      cached: await page.getAttribute('body', 'data-model-cached'),
      docs: await page.textContent('#sum-docs'),
      embedded: await page.textContent('#sum-embedded'),
      source: await page.textContent('#sum-source'),
    };
    step(`reloaded: ${JSON.stringify(restored)}`);
    const monAfter = await page.evaluate(() => window.sotto.monitoring());
    assert.ok(monAfter.queries >= 7 && monAfter.feedback === 3, `the query log and feedback survive a reload: ${JSON.stringify({ q: monAfter.queries, f: monAfter.feedback })}`);
    assert.equal(restored.restored, '1');
    assert.equal(restored.docs, String(SAMPLE_DOCS + 3));
    assert.equal(restored.embedded, '0');
    assert.match(restored.source, /restored from IndexedDB/);
    assert.equal(restored.cached, '1');
    // The manifest (a few hundred bytes) is fetched on every load, to check the cached files against it.
    assert.deepEqual(after.filter((u) => u.includes('/models/') && !u.endsWith('/models/manifest.json')), [], 'model files were fetched again');
    assert.ok(after.some((u) => u.endsWith('/models/manifest.json')), 'the cached model files were not checked against the manifest');
    assert.ok(!after.some((u) => u.includes('/sample/')), 'the sample corpus was fetched again');
    // (The Jaccard question: "How are near-duplicate chunks detected?" also matches
    // docs/partitioned-builds.md, which discusses duplicates across partitions.)
    await page.fill('#query', 'Which Jaccard similarity threshold drops near-duplicate chunks?');
    await page.selectOption('#mode', 'hybrid');
    await page.click('#search-button');
    await page.waitForSelector('#results li.hit');
    assert.equal(await page.getAttribute('#results li.hit >> nth=0', 'data-doc'), 'docs/ingest.md');

    // 8. An index written by the native CLI (`sotto index www/sample`) loads through the Import button.
    await page.setInputFiles('#import-file', CLI_INDEX);
    await page.waitForFunction(() => /^Imported/.test(document.getElementById('ingest-status').textContent), null, { timeout: T.ask });
    assert.equal(await page.textContent('#sum-docs'), String(SAMPLE_DOCS));
    assert.match(await page.textContent('#sum-source'), /imported from/);
    await page.evaluate(() => document.getElementById('results').replaceChildren());
    await page.click('#search-button');
    await page.waitForFunction(() => document.querySelectorAll('#results li.hit').length > 0 && !document.querySelector('#results li.hit[data-doc^="hostile"]'));
    assert.equal(await page.getAttribute('#results li.hit >> nth=0', 'data-doc'), 'docs/ingest.md');
    step('index built by the CLI imported and searched');

    // 8b. Caching people can trust: a SHA-256 the page passes is checked (a wrong one: one
    // fresh download, then "Checksum"; the right one: verified); storage used is shown; "Clear
    // cached models" empties the model cache.
    // Model files kept: Cache API entries and OPFS files (large files go to OPFS).
    await page.evaluate(() => {
      window.__cachedModelFiles = async () => {
        const inCache = (await caches.has('sotto-models-v1')) ? (await (await caches.open('sotto-models-v1')).keys()).length : 0;
        let inOpfs = 0;
        try {
          const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('sotto-models-v1');
          for await (const _ of dir.keys()) inOpfs += 1;
        } catch {
          // no OPFS directory
        }
        return { inCache, inOpfs };
      };
    });
    const integrity = await page.evaluate(async () => {
      const s = window.sotto;
      const manifest = await (await fetch('models/manifest.json')).json();
      const dir = 'models/all-MiniLM-L6-v2/';
      const urls = { weights: dir + 'model.safetensors', tokenizer: dir + 'tokenizer.json', config: dir + 'config.json' };
      const sha = { weights: manifest.files['all-MiniLM-L6-v2/model.safetensors'].sha256, tokenizer: manifest.files['all-MiniLM-L6-v2/tokenizer.json'].sha256, config: manifest.files['all-MiniLM-L6-v2/config.json'].sha256 };
      const r = {};
      const wrong = await s.loadEmbedder({ urls, name: 'all-MiniLM-L6-v2', sha256: { ...sha, config: '0'.repeat(64) } }).then(() => null, (e) => e);
      r.wrongKind = wrong?.kind;
      r.wrongMessage = wrong?.message;
      r.badHex = await s.loadEmbedder({ urls, sha256: { config: 'xyz' } }).then(() => 'resolved', (e) => e.kind);
      const right = await s.loadEmbedder({ urls, name: 'all-MiniLM-L6-v2', sha256: sha });
      r.verified = right.verified;
      r.afterSearch = (await s.search('index file magic')).hits.length;
      r.storage = document.getElementById('storage-used').textContent;
      r.cachedBefore = await window.__cachedModelFiles();
      r.weightsWhere = right.cached.weights.where;
      r.configWhere = right.cached.config.where;
      return r;
    });
    await page.click('#clear-models');
    await page.waitForFunction(() => /Cached models deleted/.test(document.getElementById('ingest-status').textContent));
    const cachedAfter = await page.evaluate(() => window.__cachedModelFiles());
    step(`integrity: ${JSON.stringify({ ...integrity, cachedAfter })}`);
    assert.equal(integrity.wrongKind, 'Checksum');
    assert.match(integrity.wrongMessage, /config: .*has SHA-256 [0-9a-f]{64}, the page expects 0{64}/);
    assert.equal(integrity.badHex, 'InvalidOption');
    assert.equal(integrity.verified, true);
    assert.ok(integrity.afterSearch > 0, 'the engine works after the refused load');
    assert.match(integrity.storage, /^Storage: [\d.]+ (kB|MB|GB) used of [\d.]+ (kB|MB|GB)/);
    assert.equal(integrity.weightsWhere, 'opfs', 'the 90 MB weights are kept in OPFS');
    assert.equal(integrity.configWhere, 'cache', 'config.json stays in the Cache API');
    assert.ok(integrity.cachedBefore.inCache >= 2 && integrity.cachedBefore.inOpfs >= 1, 'the model files were cached');
    assert.deepEqual(cachedAfter, { inCache: 0, inOpfs: 0 }, 'Clear cached models left files behind');
    await page.click('#forget-index');
    await page.waitForFunction(() => /saved index was deleted/.test(document.getElementById('ingest-status').textContent));
    const afterForget = await page.evaluate(async () => ({ restore: await window.sotto.restore(), docs: (await window.sotto.stats()).stats.documents }));
    step(`delete the saved index: ${JSON.stringify({ restored: afterForget.restore.restored, reason: afterForget.restore.reason, docs: afterForget.docs })}`);
    assert.equal(afterForget.restore.restored, false, 'the saved index is gone');
    assert.equal(afterForget.docs, SAMPLE_DOCS, 'the documents stay in this tab');

    // 9. Nothing left the origin; no dialogs or page errors along the way.
    assert.deepEqual(offOrigin, [], `requests left the origin: ${offOrigin}`);
    assert.deepEqual(dialogs, []);
    const unexpected = pageErrors.filter((e) => !/Failed to load resource.*404/.test(e));
    assert.deepEqual(unexpected, [], `page errors: ${unexpected}`);
    step(`e2e passed (${requests.length} requests, all same-origin)`);
  } finally {
    await close();
    stop();
  }
}

/**
 * Without cross-origin isolation there is no SharedArrayBuffer: cancel() must terminate the
 * worker, start a new one, replay the model load and restore the saved index (an indexing
 * batch, then a summary-tree build). Uses the model-free hashing embedder, so it takes seconds.
 */
async function fallbackCancel() {
  const { origin, stop } = await serve(['--no-isolation']);
  const { context, offOrigin, close } = await launch(origin);
  try {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(origin + '/?model=hashing');
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.model });
    const r = await page.evaluate(async () => {
      const s = window.sotto;
      const out = { isolated: self.crossOriginIsolated, clientIsolated: s.crossOriginIsolated };
      const add = await s.addDocuments([{ id: 'keep.txt', body: 'Zebras live in Africa and eat grass.' }]);
      out.saved = add.saved.ok;
      const many = Array.from({ length: 3000 }, (_, i) => ({ id: `m${i}.txt`, body: `Document ${i} ` + Array.from({ length: 200 }, (_, j) => `w${(i * 7919 + j * 104729) % 100003}`).join(' ') }));
      const big = s.addDocuments(many);
      await new Promise((res) => setTimeout(res, 200));
      await s.cancel();
      out.cancelled = await big.then(() => 'resolved', (e) => e.kind);
      out.restarts = s.restarts;
      out.stats = (await s.stats()).stats;
      out.top = (await s.search('zebras Africa', { mode: 'sparse' })).hits[0].doc_id;
      return out;
    });
    console.log(`fallback cancel without isolation: ${JSON.stringify(r)}`);
    assert.equal(r.isolated, false);
    assert.equal(r.clientIsolated, false);
    assert.equal(r.saved, true);
    assert.equal(r.cancelled, 'Cancelled');
    assert.equal(r.restarts, 1);
    assert.equal(r.stats.documents, 1);
    assert.equal(r.top, 'keep.txt');
    // A tree build cancelled without isolation restarts the worker too: the saved index comes
    // back with the tree saved before, and searching it works.
    const t = await page.evaluate(async () => {
      const s = window.sotto;
      const vocab = 'river stone cloud lantern copper meadow signal harbor violet engine orbit candle willow marble thunder glacier pepper canyon falcon saddle'.split(' ');
      const docs = Array.from({ length: 120 }, (_, i) => {
        let x = i + 7;
        const words = Array.from({ length: 40 }, () => vocab[Math.floor((x = (x * 48271) % 2147483647) / 65536) % vocab.length]);
        return { id: `tree-${i}.txt`, body: `Note ${i}: ${words.slice(0, 20).join(' ')}. Then ${words.slice(20).join(' ')}.` };
      });
      await s.addDocuments(docs);
      const first = await s.buildTree();
      const before = await s.stats();
      let events = 0;
      const second = s.buildTree({}, { onProgress: () => events++ === 0 && s.cancel() });
      const out = { levels: first.levels, saved: first.saved.ok, cancelled: await second.then(() => 'resolved', (e) => e.kind), events };
      const after = await s.stats();
      out.same = JSON.stringify([after.stats, after.tree]) === JSON.stringify([before.stats, before.tree]);
      out.restarts = s.restarts;
      out.hits = (await s.search('copper meadow lantern', { mode: 'dense', tree: 'collapsed' })).hits.length;
      return out;
    });
    console.log(`tree build cancelled without isolation: ${JSON.stringify(t)}`);
    assert.ok(t.levels.length >= 1 && t.saved, JSON.stringify(t));
    assert.equal(t.cancelled, 'Cancelled');
    assert.equal(t.events, 1);
    assert.equal(t.restarts, 2);
    assert.equal(t.same, true, 'the restarted worker does not have the saved index and tree');
    assert.ok(t.hits > 0);
    assert.deepEqual(offOrigin, []);
  } finally {
    await close();
    stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main()
    .then(fallbackCancel)
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}

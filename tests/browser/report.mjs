// The evaluation report (src/eval/report.rs) in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, no browser download). Run through
// scripts/test-report.sh, which generates the report first. Asserted:
//
//  1. the page opens from file:// and makes no request at all (everything is inlined);
//  2. no console error, no uncaught exception, no dialog (hostile document text is inert);
//  3. the three charts are drawn: each canvas has a Chart.js chart with one dataset per
//     configuration and a substantial number of painted pixels;
//  4. the configuration table has one row per configuration evaluated, as many as the
//     JSON form of the same run and as the grid (--configs N);
//  5. clicking a column header sorts the table (descending, then ascending);
//  6. screenshot → target/report.png (full page).
//
// Usage: node tests/browser/report.mjs <report.html> [--json report.json] [--configs N] [--screenshot path]
// Environment: SOTTO_CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.SOTTO_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

function option(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const htmlPath = resolve(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : join(ROOT, 'target', 'eval-report', 'report.html'));
const jsonPath = option('--json');
const expectedConfigs = option('--configs') ? Number(option('--configs')) : undefined;
const screenshot = resolve(option('--screenshot') || join(ROOT, 'target', 'report.png'));
if (!existsSync(htmlPath)) throw new Error(`${htmlPath} is missing: run scripts/test-report.sh`);

let configs;
if (jsonPath) {
  configs = JSON.parse(readFileSync(jsonPath, 'utf8')).grid.runs.length;
  if (expectedConfigs !== undefined) assert.equal(configs, expectedConfigs, 'the JSON form has every configuration of the grid');
} else {
  configs = expectedConfigs;
}
assert.ok(configs > 0, 'give --json or --configs');

const url = pathToFileURL(htmlPath).href;
const userDataDir = mkdtempSync(join(tmpdir(), 'sotto-report-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: LAUNCH_ARGS,
  viewport: { width: 1280, height: 900 },
  offline: true,
});
const failures = [];
const requests = [];
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') failures.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { failures.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
  await context.route('**/*', (route) => (route.request().url() === url ? route.continue() : route.abort()));

  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.Chart === 'function');
  console.log(`loaded ${htmlPath} in ${Date.now() - t0} ms`);

  // 3. Charts drawn.
  const charts = await page.evaluate(() => ['chart-recall', 'chart-latency', 'chart-ranks'].map((id) => {
    const canvas = document.getElementById(id);
    const chart = window.Chart.getChart(canvas);
    const ctx = canvas.getContext('2d');
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    return {
      id, width: canvas.width, height: canvas.height, painted,
      datasets: chart ? chart.data.datasets.length : -1,
      points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
    };
  }));
  for (const c of charts) {
    console.log(`${c.id}: ${c.width}×${c.height}, ${c.datasets} datasets, ${c.points} points, ${c.painted} painted pixels`);
    assert.ok(c.width > 100 && c.height > 100, `${c.id} has a size`);
    assert.equal(c.datasets, configs, `${c.id} has one dataset per configuration`);
    assert.ok(c.points > 0, `${c.id} has data points`);
    assert.ok(c.painted > 2000, `${c.id} is drawn (${c.painted} painted pixels)`);
  }
  assert.equal(await page.isHidden('#chart-error'), true, 'no chart error shown');

  // 4. One table row per configuration.
  const rows = await page.locator('#configs tbody tr').count();
  console.log(`configuration table: ${rows} rows for ${configs} configurations`);
  assert.equal(rows, configs);
  assert.equal(await page.locator('#failure-table tbody tr').count(), configs);
  assert.ok((await page.locator('#configs td.best').count()) > 0, 'best values are marked');

  // Hostile document text stays text.
  const inert = await page.evaluate(() => ({
    scripts: document.scripts.length,
    live: document.querySelectorAll('main img, main iframe, main object, main embed, main script').length,
  }));
  assert.equal(inert.scripts, 3, 'only the report\'s own scripts');
  assert.equal(inert.live, 0, 'no live element from documents');

  // 5. Sorting by MRR.
  const mrrCol = await page.evaluate(() => Array.from(document.querySelectorAll('#configs thead th')).findIndex((th) => th.textContent.trim() === 'MRR'));
  assert.ok(mrrCol > 0, 'MRR column');
  const column = () => page.evaluate((col) => Array.from(document.querySelectorAll('#configs tbody tr')).map((tr) => Number(tr.cells[col].dataset.v)), mrrCol);
  const header = page.locator('#configs thead th').nth(mrrCol);
  await header.click();
  const desc = await column();
  assert.deepEqual(desc, [...desc].sort((a, b) => b - a), 'first click sorts descending');
  await header.click();
  const asc = await column();
  assert.deepEqual(asc, [...asc].sort((a, b) => a - b), 'second click sorts ascending');

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
assert.deepEqual(requests, [], `the report made requests: ${requests.join(', ')}`);
assert.deepEqual(failures, [], failures.join('\n'));
console.log('report test passed');

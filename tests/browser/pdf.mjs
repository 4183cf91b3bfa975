// PDF in headless Chromium: the worker extracts each page's text with PDF.js
// (www/vendor/pdfjs/, scripts/vendor-pdfjs.sh) and the engine indexes one section per
// page, headed "p. N". Every PDF is made here, by Chromium itself (page.pdf() of HTML with
// CSS page breaks): nothing comes from the internet. The model-free hashing embedder
// (?model=hashing) keeps it quick. Steps, each asserted:
//
//  1. a 5-page PDF (page 4 blank) and a Markdown file through the worker client: both
//     indexed, pages and title in the PDF's metadata, one section per page with text
//     ("p. 1" … "p. 5", no "p. 4"), a search for a page-2 fact hits "p. 2", and ask about
//     a page-3 fact cites the PDF on "p. 3"; PDF.js was fetched only now, from the origin;
//  2. bad input in one batch with a good file: a truncated PDF and bytes that are no PDF
//     ("PdfFormat"), an encrypted PDF ("PdfPassword"), a PDF without text ("PdfNoText"),
//     a PDF over the page limit ("LimitExceeded"), each reported per file in `failed`,
//     while the good file is indexed;
//  3. a 500-page PDF: progress page by page, cancel() mid-way → "Cancelled" with nothing
//     added, no worker restart, the engine still usable;
//  4. the demo page: a pick of a good .md, a good PDF and a damaged PDF through the file
//     input indexes the .md and the good PDF and lists the damaged one with its error; an
//     answer from the PDF shows "p. 3" by its citation. Screenshot → target/pdf-pick.png.
//
//   node tests/browser/pdf.mjs        (scripts/test-browser.sh runs it after building www/)

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { serve, launch, openDemo } from './e2e.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TARGET = join(ROOT, 'target');
for (const f of ['pdf.min.mjs', 'pdf.worker.min.mjs']) {
  if (!existsSync(join(ROOT, 'www', 'vendor', 'pdfjs', f))) throw new Error(`www/vendor/pdfjs/${f} is missing: run scripts/vendor-pdfjs.sh (scripts/build-wasm.sh does)`);
}

const T = { ready: 120_000, step: 60_000 };
const PAGE_BREAK = '<style>section { break-after: page; } body { font: 14px sans-serif; }</style>';

/** A PDF printed by Chromium from HTML pages (one <section> a page); a Node Buffer. */
async function printPdf(context, title, pages) {
  const p = await context.newPage();
  try {
    const body = pages.map((html) => `<section>${html}</section>`).join('\n');
    await p.setContent(`<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${PAGE_BREAK}</head><body>${body}</body></html>`);
    return await p.pdf({ format: 'A5' });
  } finally {
    await p.close();
  }
}

/**
 * The same PDF, encrypted with the standard security handler (RC4, revision 2) under a
 * password nobody knows: /O and /U are random, so the empty user password does not
 * open it and PDF.js asks for one. The trailer is after the cross-reference table, so
 * growing it moves no object.
 */
function encrypt(pdf) {
  const at = pdf.lastIndexOf('trailer');
  assert.ok(at > 0, 'no trailer in the generated PDF');
  const open = pdf.indexOf('<<', at) + 2;
  const hex = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 73 + 41) & 0xff)).toString('hex');
  const dict = `/Encrypt << /Filter /Standard /V 1 /R 2 /O <${hex(32)}> /U <${hex(32).split('').reverse().join('')}> /P -4 >> /ID [<${hex(16)}> <${hex(16)}>]\n`;
  return Buffer.concat([pdf.subarray(0, open), Buffer.from(dict, 'latin1'), pdf.subarray(open)]);
}

function open(context, origin) {
  return openDemo(context, origin, '/?model=hashing', T.ready);
}

const b64 = (buf) => buf.toString('base64');

async function main() {
  const t0 = Date.now();
  const { origin, stop } = await serve();
  const { context, offOrigin, requests, close } = await launch(origin);
  const step = (msg) => console.log(`[pdf] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${msg}`);
  try {
    // The PDFs, printed by this browser.
    const guide = await printPdf(context, 'Zebra Field Guide', [
      '<h1>Zebra Field Guide</h1><p>Zebras are African equines with black and white stripes.</p>',
      '<h2>History</h2><p>The quagga, a subspecies of the plains zebra, became extinct in 1883.</p>',
      "<h2>Habitat</h2><p>Grevy's zebra lives in the semi-arid grasslands of Kenya and Ethiopia.</p><p>It is the largest living wild equine.</p>",
      '',
      '<h2>Diet</h2><p>Zebras graze mostly on coarse grasses, and occasionally browse on shrubs.</p>',
    ]);
    const picture = await printPdf(context, 'No words', ['<div style="width:200px;height:200px;background:#333"></div>']);
    const big = await printPdf(context, 'Five hundred pages', Array.from({ length: 500 }, (_, i) => `<p>Page ${i + 1} of the long report: observation number ${i + 1} about ocelots.</p>`));
    step(`printed: guide ${guide.length} B, picture ${picture.length} B, 500 pages ${big.length} B`);

    const page = await open(context, origin);
    const before = requests.filter((u) => u.includes('/vendor/pdfjs/')).length;
    assert.equal(before, 0, 'PDF.js was loaded before any PDF arrived');

    // 1. A multi-page PDF and a Markdown file through the client.
    const one = await page.evaluate(async ({ pdf }) => {
      const s = window.sotto;
      const bytes = Uint8Array.from(atob(pdf), (c) => c.charCodeAt(0));
      const progress = [];
      const r = await s.addDocuments(
        [
          { id: 'guide.pdf', format: 'pdf', bytes },
          { id: 'notes.md', body: '# Notes\n\nOkapis are relatives of the giraffe and live in the Congo rainforest.\n' },
        ],
        { onProgress: (p) => p.stage === 'pdf' && progress.push(`${p.file}:${p.page}/${p.pages}`) },
      );
      const doc = await s.document('guide.pdf');
      const found = await s.search('quagga extinct 1883', { k: 3, mode: 'sparse' });
      const { answer } = await s.ask("Where does Grevy's zebra live?");
      const cited = [];
      for (const c of answer.citations) {
        const d = c.doc_id === 'guide.pdf' ? doc : await s.document(c.doc_id);
        cited.push({ doc: c.doc_id, path: c.heading_path ?? d.chunks.find((k) => k.chunk_id === c.chunk_id)?.heading_path ?? null, text: c.text });
      }
      return {
        detached: bytes.byteLength === 0,
        failed: r.failed,
        documents: r.stats.documents,
        progress,
        metadata: doc.metadata,
        title: doc.title,
        paths: [...new Set(doc.chunks.map((c) => c.heading_path.join(' › ')))],
        text: doc.text,
        top: found.hits[0] && { doc: found.hits[0].doc_id, path: found.hits[0].heading_path },
        answer: answer.answer,
        cited,
      };
    }, { pdf: b64(guide) });
    step(`multi-page: ${JSON.stringify({ ...one, text: one.text.length })}`);
    assert.deepEqual(one.failed, []);
    assert.equal(one.documents, 2);
    assert.equal(one.detached, true, "the PDF's buffer was copied, not transferred to the worker");
    assert.deepEqual(one.progress, ['guide.pdf:0/5', 'guide.pdf:1/5', 'guide.pdf:2/5', 'guide.pdf:3/5', 'guide.pdf:4/5', 'guide.pdf:5/5']);
    assert.deepEqual(one.metadata, { title: 'Zebra Field Guide', source: 'guide.pdf', pages: '5', format: 'pdf' });
    assert.equal(one.title, 'Zebra Field Guide');
    for (const n of [1, 2, 3, 5]) assert.ok(one.paths.some((p) => p.split(' › ').includes(`p. ${n}`)), `no section "p. ${n}" in ${JSON.stringify(one.paths)}`);
    assert.ok(!one.paths.some((p) => p.split(' › ').includes('p. 4')), `the blank page 4 has a section: ${JSON.stringify(one.paths)}`);
    assert.ok(one.paths.every((p) => /^p\. \d+\b/.test(p)), `a section outside the pages: ${JSON.stringify(one.paths)}`);
    assert.match(one.text, /The quagga, a subspecies of the plains zebra, became extinct in 1883\./);
    assert.doesNotMatch(one.text, /\f/);
    assert.equal(one.top?.doc, 'guide.pdf');
    assert.ok(one.top.path.includes('p. 2'), `the page-2 fact was found on ${one.top.path}`);
    const onPage3 = one.cited.find((c) => c.doc === 'guide.pdf' && c.path?.includes('p. 3'));
    assert.ok(onPage3, `the answer does not cite the PDF on p. 3: ${JSON.stringify(one.cited)}`);
    assert.match(onPage3.text, /Kenya and Ethiopia/);
    const fetched = requests.filter((u) => u.includes('/vendor/pdfjs/'));
    assert.ok(fetched.some((u) => u.endsWith('/pdf.min.mjs')) && fetched.some((u) => u.endsWith('/pdf.worker.min.mjs')), `PDF.js was not fetched from the origin: ${fetched}`);

    // 2. Bad PDFs next to a good file: each fails alone, typed; the good file is indexed.
    const truncated = guide.subarray(0, Math.floor(guide.length / 3));
    const two = await page.evaluate(async (files) => {
      const s = window.sotto;
      const bytes = (x) => Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
      const r = await s.addDocuments(
        [
          { id: 'truncated.pdf', format: 'pdf', bytes: bytes(files.truncated) },
          { id: 'locked.pdf', format: 'pdf', bytes: bytes(files.locked).buffer },
          { id: 'good.txt', body: 'Capybaras are the largest living rodents and swim well.' },
          { id: 'html.pdf', format: 'pdf', bytes: new Blob(['<html><body>not a PDF at all</body></html>']) },
          { id: 'picture.pdf', format: 'pdf', bytes: bytes(files.picture) },
          { id: 'long.pdf', format: 'pdf', bytes: bytes(files.guide) },
        ],
        { pdf: { maxPages: 4 } },
      );
      return { failed: r.failed, documents: r.stats.documents, added: r.report.documents, ids: await s.documentIds() };
    }, { truncated: b64(truncated), locked: b64(encrypt(guide)), picture: b64(picture), guide: b64(guide) });
    step(`bad PDFs: ${JSON.stringify(two)}`);
    const kinds = Object.fromEntries(two.failed.map((f) => [f.id, f.kind]));
    assert.deepEqual(kinds, { 'truncated.pdf': 'PdfFormat', 'locked.pdf': 'PdfPassword', 'html.pdf': 'PdfFormat', 'picture.pdf': 'PdfNoText', 'long.pdf': 'LimitExceeded' });
    for (const f of two.failed) assert.ok(f.message.startsWith(f.id), `the message does not name the file: ${f.message}`);
    assert.equal(two.added, 1);
    assert.deepEqual(two.ids, ['good.txt', 'guide.pdf', 'notes.md']);
    // Only bad PDFs: nothing added, nothing thrown.
    const none = await page.evaluate(async () => {
      const r = await window.sotto.addDocuments([{ id: 'x.pdf', format: 'pdf', bytes: new Uint8Array([37, 80, 68, 70]) }]);
      return { failed: r.failed.map((f) => f.kind), added: r.report.documents, documents: r.stats.documents };
    });
    assert.deepEqual(none, { failed: ['PdfFormat'], added: 0, documents: 3 });

    // 3. 500 pages: progress page by page, cancelled mid-way, the engine usable after.
    const three = await page.evaluate(async ({ pdf }) => {
      const s = window.sotto;
      const fresh = () => Uint8Array.from(atob(pdf), (c) => c.charCodeAt(0)); // each call's buffer is transferred
      let last = 0;
      let pages = 0;
      let t0 = null;
      const run = s.addDocuments([{ id: 'long-report.pdf', format: 'pdf', bytes: fresh() }], {
        onProgress: (p) => {
          if (p.stage !== 'pdf') return;
          if (t0 === null) t0 = performance.now();
          last = p.page;
          pages = p.pages;
          if (p.page === 100) s.cancel();
        },
      });
      const outcome = await run.then(() => 'resolved', (e) => e.kind);
      const ms = performance.now() - t0;
      const ids = await s.documentIds();
      const found = await s.search('capybaras rodents', { k: 1, mode: 'sparse' });
      // The text limit stops extraction as soon as it is passed, not after the last page.
      let textLimit = 0;
      const limited = await s.addDocuments([{ id: 'limited.pdf', format: 'pdf', bytes: fresh() }], {
        pdf: { maxTextBytes: 4000 },
        onProgress: (p) => p.stage === 'pdf' && (textLimit = p.page),
      });
      // All 500 pages, to the end: one section per page.
      const t1 = performance.now();
      const full = await s.addDocuments([{ id: 'long-report.pdf', format: 'pdf', bytes: fresh() }]);
      const fullMs = performance.now() - t1;
      const doc = await s.document('long-report.pdf');
      const sections = new Set(doc.chunks.map((c) => c.heading_path[0])).size;
      const page437 = await s.search('observation number 437', { k: 1, mode: 'sparse' });
      return {
        outcome, last, pages, ms, restarts: s.restarts, ids, top: found.hits[0]?.doc_id,
        limited: { failed: limited.failed, lastPage: textLimit }, full: { failed: full.failed, documents: full.stats.documents, ms: fullMs, pages: doc.metadata.pages, sections, hit: page437.hits[0]?.heading_path },
      };
    }, { pdf: b64(big) });
    step(`500 pages: ${JSON.stringify(three)}`);
    assert.equal(three.outcome, 'Cancelled');
    assert.equal(three.pages, 500);
    assert.ok(three.last >= 100 && three.last < 500, `cancelled at page ${three.last}`);
    assert.equal(three.restarts, 0, 'cancel restarted the worker (the page should be cross-origin isolated)');
    assert.equal(three.top, 'good.txt');
    assert.deepEqual(three.ids, ['good.txt', 'guide.pdf', 'notes.md'], 'the cancelled PDF was added');
    assert.deepEqual(three.limited.failed.map((f) => f.kind), ['LimitExceeded']);
    assert.ok(three.limited.lastPage < 100, `the text limit was noticed only after page ${three.limited.lastPage}`);
    assert.deepEqual(three.full.failed, []);
    assert.equal(three.full.documents, 4);
    assert.equal(three.full.pages, '500');
    assert.equal(three.full.sections, 500);
    assert.deepEqual(three.full.hit, ['p. 437']);

    // 4. The demo page: a pick of a good .md, a good PDF and a damaged one.
    await page.evaluate(() => window.sotto.clear());
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: T.ready });
    await page.setInputFiles('#files', [
      { name: 'readme.md', mimeType: 'text/markdown', buffer: Buffer.from('# Readme\n\nPangolins are covered in keratin scales.\n') },
      { name: 'damaged.pdf', mimeType: 'application/pdf', buffer: truncated },
      { name: 'guide.pdf', mimeType: 'application/pdf', buffer: guide },
    ]);
    await page.waitForFunction(() => document.getElementById('ingest-status').dataset.state === 'done' && document.body.dataset.documents === '2', null, { timeout: T.step });
    const demo = await page.evaluate(async () => ({
      status: document.getElementById('ingest-status').textContent,
      kind: document.getElementById('ingest-status').dataset.kind,
      failed: [...document.querySelectorAll('#ingest-failed li')].map((li) => ({ doc: li.dataset.doc, kind: li.dataset.kind, text: li.textContent })),
      live: document.querySelectorAll('#ingest-failed *:not(li)').length,
      ids: await window.sotto.documentIds(),
    }));
    step(`demo pick: ${JSON.stringify(demo)}`);
    assert.deepEqual(demo.ids, ['guide.pdf', 'readme.md']);
    assert.match(demo.status, /^Indexed 2 documents .*1 file not indexed/);
    assert.equal(demo.kind, 'warning');
    assert.equal(demo.failed.length, 1);
    assert.equal(demo.failed[0].doc, 'damaged.pdf');
    assert.match(demo.failed[0].text, /^PdfFormat: damaged\.pdf: not a readable PDF/);
    assert.equal(demo.live, 0);
    // An answer from the PDF shows its page next to the citation.
    await page.fill('#question', "Where does Grevy's zebra live?");
    await page.click('#ask-button');
    await page.waitForFunction(() => document.querySelector('#citations li .path')?.textContent.includes('p. 3'), null, { timeout: T.step });
    step(`demo citation: ${await page.textContent('#citations li')}`);
    // The citation opens the PDF's text in the viewer with the cited span marked.
    await page.click('#answer button.cite >> nth=0');
    await page.waitForFunction(() => document.getElementById('viewer').dataset.doc === 'guide.pdf' && document.getElementById('viewer-mark'), null, { timeout: T.step });
    assert.equal(await page.textContent('#viewer-mark'), await page.textContent('#citations li blockquote'));
    mkdirSync(TARGET, { recursive: true });
    await page.screenshot({ path: join(TARGET, 'pdf-pick.png'), fullPage: true });

    assert.deepEqual(offOrigin, [], `requests left the origin: ${offOrigin}`);
    assert.deepEqual(page.errors, [], 'page errors');
    console.log(`[pdf] all passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await close();
    stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

// The demo page. All engine work happens in the worker (client.js → worker.js); this file
// only renders. Every piece of document-derived text goes into the DOM as text nodes
// (textContent / createTextNode), never as HTML, so a hostile document stays inert.

import { createEngine, splitSpan } from './client.js';

const params = new URLSearchParams(location.search);
const MODEL_DIR = 'models/all-MiniLM-L6-v2/';
const GENERATOR_URL = 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
// Shown to the user: the GGUF's general.name is a generated string ("Smollm2 135M 8k Lc100K
// Mix1 Ep2"); the file name says the model and its quantization.
const GENERATOR_NAME = GENERATOR_URL.split('/').pop().replace(/\.gguf$/i, '').replace(/\.(Q\w+)$/, ' ($1)');
// SHA-256 and size of every model file (scripts/fetch-models.sh writes it): cached and
// downloaded copies are checked against it.
const MODEL_MANIFEST = 'models/manifest.json';
const MODEL = {
  name: 'all-MiniLM-L6-v2',
  urls: { weights: MODEL_DIR + 'model.safetensors', tokenizer: MODEL_DIR + 'tokenizer.json', config: MODEL_DIR + 'config.json' },
  manifest: MODEL_MANIFEST,
};

const $ = (id) => document.getElementById(id);
// The Build button's explanation (index.html), shown again once the index has documents.
const TREE_TITLE = $('build-tree').title;
const state = { engine: null, busy: false, treeLevels: 0, asking: false, embedded: 0, timings: {}, lastQuery: '', documents: 0, evalInput: null, evalResult: null };

/** Create an element; children are nodes or strings (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'title' || k === 'type' || k === 'hidden' || k === 'disabled') e[k] = v;
    else throw new Error(`el: attribute ${k} not allowed`);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const fmtBytes = (b) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GB` : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MB` : `${(b / 1024).toFixed(0)} kB`);

function setStatus(text, kind = '') {
  const s = $('status');
  s.textContent = text;
  s.dataset.kind = kind;
}

function showError(where, e) {
  const kind = e && e.kind ? e.kind : 'Error';
  const msg = `${kind}: ${e && e.message ? e.message : e}`;
  where.textContent = msg;
  where.dataset.kind = 'error';
  console.warn(msg);
}

function timing(label, ms, extra = '') {
  state.timings[label] = ms === null ? extra : fmtMs(ms) + (extra ? ` · ${extra}` : '');
  const body = $('timings').tBodies[0];
  body.replaceChildren(...Object.entries(state.timings).map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v }))));
}

function setBusy(busy, cancellable = false) {
  state.busy = busy;
  for (const id of ['load-sample', 'export', 'clear', 'load-generator', 'eval-sample', 'monitor-refresh', 'fb-export', 'fb-evaluate', 'monitor-clear', 'clear-models', 'forget-index']) $(id).disabled = busy || !state.engine;
  syncQueryControls();
  $('eval-run').disabled = busy || !state.engine || !state.evalInput || state.documents === 0;
  // Picking files stays possible while busy: picks are queued, never dropped.
  $('files').disabled = !state.engine;
  $('import-file').disabled = busy;
  $('eval-file').disabled = busy;
  $('cancel').hidden = !(busy && cancellable) || state.asking;
  if (!busy) queueMicrotask(pumpIngest);
}

/** Search and Ask need an engine, an idle worker and at least one document; the hint says which is missing. */
function syncQueryControls() {
  const empty = state.documents === 0;
  for (const id of ['search-button', 'ask-button']) {
    $(id).disabled = state.busy || !state.engine || empty;
    $(id).title = empty ? 'Add documents first: the index is empty' : '';
  }
  for (const id of ['search-empty', 'ask-empty']) $(id).hidden = !state.engine || !empty;
  $('build-tree').disabled = state.busy || !state.engine || empty;
  $('build-tree').title = empty ? 'Add documents first: the index is empty' : TREE_TITLE;
}

// ---- summary and document list ----

async function refreshSummary(stats, source) {
  $('sum-docs').textContent = stats.documents;
  $('sum-chunks').textContent = stats.chunks;
  $('sum-dups').textContent = `${stats.exact_duplicates + stats.near_duplicates} (${stats.exact_duplicates} exact, ${stats.near_duplicates} near)`;
  if (source) $('sum-source').textContent = source;
  $('sum-embedded').textContent = state.embedded;
  document.body.dataset.documents = stats.documents;
  state.documents = stats.documents;
  $('eval-run').disabled = state.busy || !state.evalInput || stats.documents === 0;
  syncQueryControls();
  const [ids, info] = await Promise.all([state.engine.documentIds(), state.engine.stats()]);
  showTree(info.tree || []);
  $('doc-list').replaceChildren(
    ...ids.map((id) => {
      const open = el('button', { class: 'link', text: id, title: 'Open' });
      open.addEventListener('click', () => openDocument(id, null, null, open));
      const rm = el('button', { class: 'remove', text: '×', title: `Remove ${id}` });
      rm.addEventListener('click', () => removeDocument(id));
      return el('li', {}, open, ' ', rm);
    }),
  );
}

/** The summary tree's shape in the summary (levels: nodes per level, level 1 first; [] without a tree). */
function showTree(levels) {
  const nodes = levels.reduce((a, n) => a + n, 0);
  $('sum-tree').textContent = levels.length ? `${levels.length} level${levels.length === 1 ? '' : 's'}, ${nodes} nodes (${levels.join(' + ')})` : 'none';
  $('sum-tree').dataset.levels = String(levels.length);
  state.treeLevels = levels.length;
}

/** Adding or removing documents drops the summary tree (it describes the old corpus): say so. */
function treeDropped(status, hadTree) {
  if (hadTree && state.treeLevels === 0) status.append(' · the summary tree was dropped: build it again to search it');
}

// Kinds of a save failure that mean the saved index itself cannot be used: offer to start a new one.
const UNUSABLE = new Set(['Corrupt', 'BadMagic', 'IndexFormat', 'EmbedderMismatch']);

function savedNote(saved, merged) {
  if (!saved || saved.skipped) return '';
  const mergeNote = merged && merged.from ? ' (merged with the index another tab saved)' : '';
  if (saved.ok) return ` · saved to IndexedDB (${fmtBytes(saved.bytes)})${mergeNote}`;
  if (UNUSABLE.has(saved.error.kind)) $('saved-problem').hidden = false;
  return ` · NOT saved (${saved.error.kind}: ${saved.error.message}); the previous saved index is kept`;
}

// ---- ingest ----

// Picks waiting for the running batch: promises of {docs, label, notes}, in pick order.
const ingestQueue = [];
let ingestRunning = false;

function showQueue() {
  const q = $('ingest-queue');
  q.textContent = ingestQueue.length ? `Queued: ${ingestQueue.map((j) => j.label).join(', ')} (indexed when the current task ends)` : '';
  q.hidden = ingestQueue.length === 0;
  q.dataset.queued = String(ingestQueue.length);
}

function enqueueIngest(label, docsPromise) {
  ingestQueue.push({ label, docs: docsPromise });
  showQueue();
  pumpIngest();
}

async function pumpIngest() {
  if (state.busy || ingestRunning || !ingestQueue.length || !state.engine) return;
  ingestRunning = true;
  const job = ingestQueue.shift();
  showQueue();
  try {
    const j = await job.docs;
    if (j) await ingest(j.docs, j.label, j.notes);
  } catch (e) {
    showError($('ingest-status'), e);
  } finally {
    ingestRunning = false;
    pumpIngest();
  }
}

async function ingest(docs, label, notes = []) {
  if (!docs.length) return;
  setBusy(true, true);
  const bar = $('ingest-progress');
  const status = $('ingest-status');
  status.dataset.kind = '';
  status.dataset.state = 'running';
  bar.hidden = false;
  bar.value = 0;
  status.textContent = `Reading ${docs.length} ${label}…`;
  const failedList = $('ingest-failed');
  const hadTree = state.treeLevels > 0;
  failedList.replaceChildren();
  failedList.hidden = true;
  try {
    const r = await state.engine.addDocuments(docs, {
      onProgress: (p) => {
        if (p.stage === 'waiting') {
          status.textContent = 'Waiting for another tab to finish changing the saved index…';
          return;
        }
        if (p.stage === 'pdf') {
          bar.max = Math.max(1, p.pages);
          bar.value = p.page;
          status.textContent = `Reading the text of ${p.file}: page ${p.page} of ${p.pages}…`;
          return;
        }
        bar.max = Math.max(1, p.total);
        bar.value = p.done;
        status.textContent = p.stage === 'chunking' ? `Cleaning and chunking ${p.done}/${p.total} documents…` : `Embedding ${p.done}/${p.total} chunks…`;
      },
    });
    state.embedded += r.report.chunks;
    const dups = r.report.exact_duplicates + r.report.near_duplicates;
    // A file that could not be read (a PDF: encrypted, damaged, no text) is listed with its
    // error; the rest of the pick was indexed.
    const failed = r.failed || [];
    if (failed.length) notes.push(`${failed.length} file${failed.length === 1 ? '' : 's'} not indexed (below)`);
    failedList.replaceChildren(...failed.map((f) => el('li', { 'data-kind': 'error', 'data-doc': f.id, text: `${f.kind}: ${f.message}` })));
    failedList.hidden = !failed.length;
    const noteText = notes.length ? ` · ${notes.join(' · ')}` : '';
    status.textContent = `Indexed ${r.report.documents} documents (${r.report.replaced} replaced): ${r.report.chunks} chunks, ${dups} duplicates dropped${savedNote(r.saved, r.merged)}${noteText}`;
    status.dataset.kind = (r.saved.ok || r.saved.skipped) && !notes.length ? 'done' : 'warning';
    if (r.timings.pdf_ms) timing('PDF text', r.timings.pdf_ms);
    timing('clean + chunk', r.timings.clean_chunk_ms);
    timing('embed', r.timings.embed_ms, `${r.report.chunks} chunks, ${(r.report.chunks / Math.max(r.timings.embed_ms, 1e-3) * 1000).toFixed(1)} chunks/s`);
    timing('save (IndexedDB)', r.timings.save_ms);
    await refreshSummary(r.stats, 'indexed in this visit');
    treeDropped(status, hadTree);
  } catch (e) {
    showError(status, e);
  } finally {
    endTask(status, bar);
  }
}

/**
 * Build (or rebuild) the RAPTOR summary tree over the indexed chunks, in the worker, with
 * progress in the corpus status line; Cancel stops it and leaves the index (its previous
 * tree included) as it was. The worker saves the tree with the index.
 */
async function buildTree() {
  setBusy(true, true);
  const bar = $('ingest-progress');
  const status = $('ingest-status');
  status.dataset.kind = '';
  status.dataset.state = 'running';
  status.dataset.progress = '0';
  delete status.dataset.levels;
  bar.hidden = false;
  bar.value = 0;
  status.textContent = 'Building the summary tree…';
  let events = 0;
  try {
    const r = await state.engine.buildTree({}, {
      onProgress: (p) => {
        if (p.stage === 'waiting') {
          status.textContent = 'Waiting for another tab to finish changing the saved index…';
          return;
        }
        if (p.stage !== 'tree') return;
        status.dataset.progress = String(++events);
        bar.max = Math.max(1, p.total);
        bar.value = p.done;
        status.textContent = `Building the summary tree, level ${p.level}: ${p.done}/${p.total} texts embedded…`;
      },
    });
    const rep = r.report;
    window.sottoLastTree = r; // for the console and the end-to-end test
    const embedded = rep.sentences_embedded ? `, ${rep.sentences_embedded} sentences embedded` : '';
    status.textContent = `Built a summary tree over ${rep.chunks} chunks: ${rep.nodes_per_level.length} level${rep.nodes_per_level.length === 1 ? '' : 's'}, ${rep.nodes} nodes (${rep.nodes_per_level.join(' + ') || 'none'})${embedded}${savedNote(r.saved, r.merged)}`;
    status.dataset.kind = r.saved.ok || r.saved.skipped ? 'done' : 'warning';
    status.dataset.levels = String(rep.nodes_per_level.length);
    timing('summary tree', r.timings.tree_ms, `${rep.nodes} nodes, ${rep.summaries_embedded} summaries embedded`);
    showTree(r.levels);
  } catch (e) {
    showError(status, e);
  } finally {
    endTask(status, bar);
  }
}

/**
 * A file's text: UTF-16 when it starts with a UTF-16 byte-order mark, else strict UTF-8;
 * bytes that are not UTF-8 are read as Windows-1252 (Latin-1's superset) and reported,
 * never replaced by U+FFFD without a word.
 */
function decodeText(bytes) {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes), encoding: 'UTF-16LE' };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes), encoding: 'UTF-16BE' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'UTF-8' };
  } catch {
    return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252', fallback: true };
  }
}

const SUPPORTED = /\.(txt|md|markdown|html?|xhtml|pdf)$/i;
const PDF = /\.pdf$/i;

function readFiles(picked) {
  const seen = new Set();
  // Unsupported files are named and left out; the rest of the pick is indexed.
  const fileList = picked.filter((f) => SUPPORTED.test(f.name));
  const skipped = picked.filter((f) => !SUPPORTED.test(f.name)).map((f) => f.name);
  const skipNote = skipped.length ? [`skipped ${skipped.join(', ')}: only .txt, .md, .html and .pdf files are supported`] : [];
  if (!fileList.length) {
    showError($('ingest-status'), { kind: 'InvalidDocument', message: skipNote[0] });
    return;
  }
  const label = fileList.length === 1 ? fileList[0].name : `${fileList.length} files`;
  // Queued at once (in pick order); read while waiting.
  enqueueIngest(label, (async () => {
    const docs = [];
    const notes = [...skipNote];
    for (const f of fileList) {
      let id = f.name;
      for (let n = 2; seen.has(id); n++) id = `${f.name} (${n})`;
      seen.add(id);
      if (PDF.test(f.name)) {
        // The File itself goes to the worker, which extracts the text of each page
        // (PDF.js, loaded there only now); one that cannot be read is reported alone.
        docs.push({ id, format: 'pdf', bytes: f, name: f.name, metadata: { filename: f.name } });
        continue;
      }
      const { text, encoding, fallback } = decodeText(new Uint8Array(await f.arrayBuffer()));
      if (fallback) notes.push(`${f.name} is not valid UTF-8: read as ${encoding} (Latin-1)`);
      // No title here: the engine takes it from the document (HTML <title> or first <h1>,
      // Markdown's first heading) and falls back to the id, which is the file name.
      docs.push({ id, body: text, metadata: { source: 'upload', filename: f.name, encoding } });
    }
    return { docs, label: fileList.length === 1 ? 'file' : 'files', notes };
  })());
}

async function loadSample() {
  const status = $('ingest-status');
  try {
    const list = await (await fetch('sample/index.json')).json();
    const docs = [];
    for (const item of list.documents) {
      const resp = await fetch('sample/' + item.path);
      if (!resp.ok) throw { kind: 'Fetch', message: `sample/${item.path}: HTTP ${resp.status}` };
      docs.push({ id: item.id, body: await resp.text(), metadata: { source: 'sample' } });
    }
    enqueueIngest('the sample corpus', Promise.resolve({ docs, label: 'sample documents', notes: [] }));
  } catch (e) {
    showError(status, e);
  }
}

async function removeDocument(id) {
  try {
    const hadTree = state.treeLevels > 0;
    const r = await state.engine.removeDocuments([id]);
    $('ingest-status').textContent = `Removed ${id}${savedNote(r.saved, r.merged)}`;
    await refreshSummary(r.stats);
    treeDropped($('ingest-status'), hadTree);
  } catch (e) {
    showError($('ingest-status'), e);
  }
}

// ---- search ----

// Below this cosine (all-MiniLM-L6-v2), with no query word in any hit, a dense hit is not a
// match. Measured on the sample corpus (tests/browser/e2e.mjs prints both): the nonsense
// query "qwzx blorptic vranuff" topped out at 0.21, then at 0.31 once a chunk of
// ARCHITECTURE.md became a list of file names and codec names (gibberish to MiniLM as much
// as the query); the Jaccard question scores 0.59. A heuristic for the notice only: nothing
// is hidden or dropped.
const WEAK_COSINE = 0.35;

// Function words are not highlighted (a snippet full of marked "the" and "which" hides the
// words that matched): the BM25 analyzer's English and French stop words of 3+ letters
// (src/index/text.rs; a test there checks this list is exactly those).
const STOP = new Set(('about and are aux avec been but can ces cet cette comme could dans des did does donc dont elle elles '
  + 'est for from had has have her his how ils into its les leur leurs lui mais mes mon nos notre nous '
  + 'ont our par pas pour que qui ses she should son sont such sur tes than that the their them then '
  + 'there these they this those ton une vos votre vous was were what when where which who whom why will '
  + 'with would you your était été être').split(' '));

/** Text with the query's content words wrapped in <mark>, built from text nodes. */
function highlighted(text, query) {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || [])].filter((w) => !STOP.has(w));
  if (!words.length) return [document.createTextNode(text)];
  const re = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'giu');
  return text.split(re).map((part, i) => (i % 2 ? el('mark', { text: part }) : document.createTextNode(part)));
}

/**
 * The query options Search and Ask share: translation, routing, query construction and the
 * summary tree, as the selects spell them. The engine parses and checks them (a collapsed
 * tree without one, or in BM25 mode, is an InvalidOption error the page shows).
 */
function queryOptions() {
  return { translate: $('translate').value, route: $('route').value, construct: $('construct').value, tree: $('tree').value };
}

/** Whether a search with these options has something to trace. */
const traced = (o) => o.translate !== 'none' || o.route !== 'none' || o.construct !== 'off' || o.tree !== 'none';

async function search(ev) {
  ev.preventDefault();
  const query = $('query').value;
  const mode = $('mode').value;
  const opts = { k: Number($('k').value) };
  // The engine parses retrieval names ("weighted" = hybrid-weighted, alpha 0.5) and refuses
  // what it does not know: the page does not interpret them itself.
  opts.mode = mode;
  Object.assign(opts, queryOptions());
  const list = $('results');
  // Tests and assistive tech can tell stale results from the answer to this query.
  list.dataset.state = 'running';
  list.replaceChildren();
  $('search-notes').replaceChildren();
  $('search-trace').replaceChildren();
  try {
    const { hits, corrections, trace, timings } = await state.engine.search(query, opts);
    timing('search', timings.search_ms, `${mode}, ${hits.length} hits`);
    refreshMonitoring();
    $('search-trace').replaceChildren(...(trace && traced(opts) ? renderTrace(trace) : []));
    if (!hits.length) {
      list.replaceChildren(el('li', { class: 'empty', text: 'No matching chunks.' }));
      return;
    }
    // No hit shares a word with the query (no BM25 score) and the best cosine is low: these
    // are the nearest chunks by meaning, not matches. Said before the list, not hidden.
    const bestCos = Math.max(...hits.map((h) => (h.dense_score === null ? -1 : h.dense_score)));
    const lexical = hits.some((h) => h.sparse_score !== null);
    const weak = mode !== 'sparse' && !lexical && bestCos < WEAK_COSINE;
    list.dataset.weak = weak ? '1' : '0';
    const notice = weak ? [el('p', { class: 'weak', text: `No strong match: no document contains these words, and the closest passages are only loosely related (best cosine ${bestCos.toFixed(2)}). Try other words.` })] : [];
    // Typo tolerance: say which words were found nowhere and what was searched instead.
    const fixes = (corrections || []).filter((c) => c.replacements.length);
    list.dataset.corrected = fixes.map((c) => c.word).join(' ');
    if (fixes.length && mode !== 'dense') {
      notice.push(el('p', { class: 'corrected', text: `Also searched for ${fixes.map((c) => `${c.replacements.map(([w]) => w).join(' / ')} (for “${c.word}”)`).join(', ')}: no document contains the words as typed.` }));
    }
    // Above the list, not in it: the hits keep their ranks 1..k.
    $('search-notes').replaceChildren(...notice);
    list.replaceChildren(
      ...hits.map((h) => {
        const scores = [`score ${h.score.toFixed(4)}`];
        if (h.dense_score !== null) scores.push(`cosine ${h.dense_score.toFixed(3)}`);
        if (h.sparse_score !== null) scores.push(`BM25 ${h.sparse_score.toFixed(2)}`);
        const title = el('button', { class: 'link hit-title', text: h.title || h.doc_id, title: 'Open this span in the document' });
        title.addEventListener('click', () => openDocument(h.doc_id, h.start, h.end, title));
        return el(
          'li',
          { class: 'hit', 'data-doc': h.doc_id },
          el('div', { class: 'hit-head' }, title, el('span', { class: 'doc-id', text: h.doc_id }), el('span', { class: 'scores', text: scores.join(' · ') })),
          h.heading_path.length ? el('div', { class: 'path', text: h.heading_path.join(' › ') }) : '',
          el('p', { class: 'snippet' }, ...highlighted(h.text.length > 600 ? h.text.slice(0, 600) + '…' : h.text, query)),
        );
      }),
    );
  } catch (e) {
    list.replaceChildren(el('li', { class: 'error' }));
    showError(list.firstChild, e);
  } finally {
    list.dataset.state = 'done';
  }
}

// ---- ask ----

async function ask(ev) {
  ev.preventDefault();
  const question = $('question').value;
  const box = $('answer');
  const cites = $('citations');
  box.dataset.kind = '';
  box.dataset.state = 'running';
  // Streamed text is the generator's raw output: unverified until attribution has checked
  // it (it may hold sentences the final answer drops). renderAnswer replaces it.
  box.replaceChildren(el('p', { class: 'streaming', 'data-verified': 'false' }, el('span', { class: 'draft-label', text: 'Unverified draft — checked against the documents when complete' }), ' '));
  cites.replaceChildren();
  const mode = $('answer-mode').value;
  state.asking = true;
  setBusy(true, true);
  $('ask-cancel').hidden = false;
  // What is happening, with the time spent, until the answer arrives (an extractive answer
  // takes a moment; a generative one reads its sources — prefill — before its first word).
  const status = $('ask-status');
  const t0 = performance.now();
  let firstText = null;
  const tick = () => {
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    status.textContent = mode === 'generative' || mode === 'compose'
      ? (firstText === null ? `Finding the passages and reading them to the model… ${s} s` : `Writing the answer… ${s} s (first words after ${firstText.toFixed(1)} s)`)
      : `Finding the passages and the sentences that answer… ${s} s`;
  };
  status.hidden = false;
  status.dataset.state = 'running';
  tick();
  const timer = setInterval(tick, 100);
  try {
    $('answer-trace').replaceChildren();
    const { answer } = await state.engine.ask(question, { mode, search: queryOptions() }, {
      onText: (t) => {
        if (firstText === null) firstText = (performance.now() - t0) / 1000;
        box.firstChild.append(t);
      },
    });
    renderAnswer(answer);
  } catch (e) {
    showError(box, e);
    box.dataset.state = 'error';
  } finally {
    clearInterval(timer);
    status.hidden = true;
    status.dataset.state = 'done';
    state.asking = false;
    $('ask-cancel').hidden = true;
    setBusy(false);
  }
}

// What a search ran: the query translation (the technique, auto's pick and why, each query
// with its source, the notes and the stage times), then what routing searched, the filter
// constructed from the question and the summary-tree nodes used. Document text (feedback
// queries quote it; filters name ids and metadata values) goes in as text nodes only.
function renderTrace(t) {
  const translated = t.requested !== 'none';
  const head = translated
    ? `Query translation: ${t.technique}${t.requested !== t.technique ? ` (picked by ${t.requested}: ${t.reason})` : ''} · ${t.queries.length} quer${t.queries.length === 1 ? 'y' : 'ies'}`
    : `Search trace · ${t.queries.length} quer${t.queries.length === 1 ? 'y' : 'ies'}`;
  const stages = t.stages.map((s) => `${s.stage} ${s.ms.toFixed(1)} ms`).join(' · ');
  const out = [
    el(
      'details',
      { class: 'trace', 'data-technique': t.technique },
      el('summary', { text: head }),
      el('ol', {}, ...t.queries.map((q) => el('li', { 'data-source': q.source }, el('span', { class: 'via', text: `${q.via} · ${q.retriever} · weight ${q.weight} · ${q.hits} hits: ` }), el('span', { class: 'q', text: q.text.length > 300 ? q.text.slice(0, 300) + '…' : q.text })))),
      ...t.notes.map((n) => el('p', { class: 'note', text: n })),
      stages ? el('p', { class: 'muted', text: stages }) : '',
    ),
  ];
  if (t.route) {
    const r = t.route;
    const scores = r.scores.map((c) => `${c.name} ${c.score.toFixed(3)}`).join(', ');
    const searched = r.chosen.length ? `searched ${r.chosen.join(', ')}` : 'searched every collection';
    out.push(el('p', { class: 'trace-line trace-route', 'data-chosen': r.chosen.join('|') }, `Routing: ${searched}${r.note ? ` (${r.note})` : ''}${scores ? ` · scores: ${scores}` : ''}`));
  }
  if (t.construction) {
    const c = t.construction;
    const what = c.filters.length
      ? `Filter from the question: ${c.filters.map(describeFilter).join(' and ')}${c.phrases.length ? ` (named by “${c.phrases.join('”, “')}”)` : ''} — ${c.applied ? 'applied' : 'suggested, not applied'}`
      : 'Filter from the question: none (the question names no constraint the index can filter on)';
    out.push(el('p', { class: 'trace-line trace-construction', 'data-applied': String(c.applied), 'data-filters': c.filters.map(describeFilter).join(' ') }, what, ...c.notes.map((n) => el('span', { class: 'note', text: ` · ${n}` }))));
  }
  if (t.tree && t.tree.length) {
    // A node's chunks are those it added: its cited chunks not already ranked above it.
    const nodes = t.tree.map((h) => `level ${h.level} node ${h.node} (cosine ${h.score.toFixed(3)}, +${h.chunks.length} chunk${h.chunks.length === 1 ? '' : 's'})`).join(', ');
    out.push(el('p', { class: 'trace-line trace-tree', 'data-nodes': String(t.tree.length) }, `Summary tree: ${t.tree.length} node${t.tree.length === 1 ? '' : 's'} ranked, each expanded into the chunks it cites: ${nodes}`));
  }
  return out;
}

/** A filter as the CLI's --filter spells it: key=value, key=a|b, key^=prefix. */
function describeFilter(f) {
  if (f.op === 'equals') return `${f.key}=${f.value}`;
  if (f.op === 'oneof') return `${f.key}=${f.values.join('|')}`;
  if (f.op === 'prefix') return `${f.key}^=${f.prefix}`;
  return JSON.stringify(f);
}

/** Adaptive RAG's route under an answer: class, pipeline, the parts not answered (all as text). */
function renderRoute(r) {
  const c = r.classification;
  const stages = r.stages.map((s) => `${s.stage} ${s.ms.toFixed(1)} ms`).join(' · ');
  return el(
    'details',
    { class: 'trace', 'data-pipeline': r.pipeline },
    el('summary', { text: `route: ${c.class} (${c.source}: ${c.rule}) → ${r.pipeline}` }),
    ...r.parts.map((p) => el('p', { class: 'note', text: `${p.answered ? 'answered' : 'not answered'}: ${p.question}` })),
    ...r.notes.map((n) => el('p', { class: 'note', text: n })),
    el('p', { class: 'muted', text: stages }),
  );
}

/**
 * Where a citation is in its document: its chunk's heading path (a PDF's page, "p. 12").
 * Taken from the citation when the engine gives it, else from the document's chunk list
 * (read once per answer and document, in `docs`).
 */
async function citationPath(c, docs) {
  if (Array.isArray(c.heading_path)) return c.heading_path;
  try {
    if (!docs.has(c.doc_id)) docs.set(c.doc_id, state.engine.document(c.doc_id));
    const d = await docs.get(c.doc_id);
    return d.chunks.find((k) => k.chunk_id === c.chunk_id)?.heading_path ?? [];
  } catch {
    return [];
  }
}

function renderAnswer(a) {
  window.sottoLastAnswer = a; // for the console and the end-to-end test
  const box = $('answer');
  const p = el('p', { class: a.abstained ? 'abstained' : 'answer-text' });
  // An abstention, and an adaptive answer without sentences (a meta question's description of
  // the collection, which quotes document titles): the engine's text, as text, never markup.
  if (a.abstained || a.sentences.length === 0) p.textContent = a.answer;
  for (const s of a.sentences) {
    p.append(s.supported ? document.createTextNode(s.text + ' ') : el('span', { class: 'unsupported', title: `support ${s.support.toFixed(2)}`, text: s.text + ' ' }));
    for (const n of s.citations) {
      const c = a.citations.find((x) => x.n === n);
      const b = el('button', { class: 'cite', text: `[${n}]`, 'data-n': String(n), title: c ? `${c.title || c.doc_id}` : '' });
      if (c) b.addEventListener('click', () => openDocument(c.doc_id, c.start, c.end, b));
      p.append(b, ' ');
    }
  }
  const dropped = a.dropped.length ? ` · ${a.dropped.length} unsupported generated sentence(s) removed` : '';
  const produced = { extractive: 'extractive: sentences of the documents', generative: 'generative: written by the model, checked against the documents', compose: 'composed: the extractive sentences fused by the model, checked against them' }[a.mode] || a.mode;
  const why = a.fell_back ? (a.lost_terms && a.lost_terms.length ? ` (the model's version lost ${a.lost_terms.join(', ')}; fell back to extractive)` : ' (fell back to extractive)') : '';
  const meta = el('p', { class: 'answer-meta', text: `${produced}${why} · support ${a.support.toFixed(2)} · retrieval ${a.retrieval_score.toFixed(2)}${dropped}` });
  box.replaceChildren(p, meta);
  box.dataset.state = a.abstained ? 'abstained' : 'answered';
  $('answer-trace').replaceChildren(...(a.route ? [renderRoute(a.route)] : []), ...(a.query ? renderTrace(a.query) : []));
  const docs = new Map();
  $('citations').replaceChildren(
    ...a.citations.map((c) => {
      const open = el('button', { class: 'link', text: `[${c.n}] ${c.title || c.doc_id}`, 'data-n': String(c.n) });
      open.addEventListener('click', () => openDocument(c.doc_id, c.start, c.end, open));
      const where = el('span', { class: 'path' });
      citationPath(c, docs).then((path) => {
        if (path.length) where.textContent = ` · ${path.join(' › ')}`;
      });
      const tick = el('input', { type: 'checkbox' });
      tick.value = c.doc_id; // a property, never markup
      const right = el('label', { class: 'fb-source' }, tick, ' right source');
      return el('li', {}, open, where, ' ', right, el('blockquote', { text: c.text }));
    }),
  );
  state.lastQuestion = a.question;
  $('feedback').hidden = false;
  $('fb-status').textContent = '';
  const t = a.timings;
  timing('ask: retrieve', t.retrieve_ms);
  timing('ask: select sentences', t.select_ms);
  if (a.generated_text != null) {
    timing('ask: prefill', t.prefill_ms, `${t.prompt_tokens} tokens, ${t.prefill_tokens_per_s.toFixed(1)} tok/s`);
    timing('ask: decode', t.decode_ms, `${t.generated_tokens} tokens, ${t.decode_tokens_per_s.toFixed(1)} tok/s`);
    timing('ask: attribute', t.attribute_ms);
  }
  timing('ask: total', t.total_ms);
  refreshMonitoring();
}

async function loadGenerator() {
  setBusy(true, true);
  const bar = $('generator-progress');
  const status = $('generator-status');
  status.dataset.kind = '';
  bar.hidden = false;
  try {
    const r = await state.engine.loadGenerator(
      { url: GENERATOR_URL, manifest: MODEL_MANIFEST },
      {
        onProgress: (p) => {
          if (p.stage === 'download') {
            bar.max = Math.max(1, p.total);
            bar.value = p.received;
            status.textContent = p.cached ? 'from the cache' : `downloading ${fmtBytes(p.received)} of ${fmtBytes(p.total)}`;
          } else if (p.stage === 'verify') status.textContent = `${p.detail}; downloading it again…`;
          else status.textContent = 'loading…';
        },
      },
    );
    status.textContent = `${GENERATOR_NAME} loaded (${r.info.architecture}, ${r.info.block_count} layers, context ${r.info.context_len})${r.cached && r.cached.repaired ? ` · ${r.cached.repaired}: downloaded again` : ''}`;
    status.dataset.kind = 'done';
    timing('generator load', r.timings.load_ms, r.cached && r.cached.hit ? 'Cache API' : `fetch ${fmtMs(r.timings.fetch_ms)}`);
    for (const [value, label, evalLabel] of [['generative', 'generative', '+ generative answers'], ['compose', 'compose (the model fuses the extractive sentences)', '+ composed answers']]) {
      const opt = $('answer-mode').querySelector(`option[value=${value}]`);
      opt.disabled = false;
      opt.textContent = label;
      const evalOpt = $('eval-answers').querySelector(`option[value=${value}]`);
      evalOpt.disabled = false;
      evalOpt.textContent = evalLabel;
    }
    $('answer-mode').value = 'generative';
    $('load-generator').hidden = true;
    document.body.dataset.generator = '1';
  } catch (e) {
    showError(status, e);
  } finally {
    bar.hidden = true;
    setBusy(false);
  }
}

// ---- evaluate ----

function download(bytesOrText, name, type) {
  const url = URL.createObjectURL(new Blob([bytesOrText], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Pick the dataset: one JSONL file, or BEIR's queries.jsonl plus a qrels .tsv. */
function chooseDataset(files) {
  const status = $('eval-status');
  status.dataset.kind = '';
  status.textContent = '';
  const tsv = files.filter((f) => /\.tsv$/i.test(f.name));
  const jsonl = files.filter((f) => !/\.tsv$/i.test(f.name));
  if (jsonl.length !== 1 || tsv.length > 1) {
    state.evalInput = null;
    $('eval-dataset').textContent = 'no dataset';
    showError(status, { kind: 'InvalidOption', message: 'pick one JSONL question file, or a BEIR queries.jsonl together with one qrels .tsv' });
  } else {
    const [dataset] = jsonl;
    state.evalInput = { dataset, qrels: tsv[0] || null, name: tsv[0] ? `${dataset.name} + ${tsv[0].name}` : dataset.name };
    $('eval-dataset').textContent = `${state.evalInput.name} (${fmtBytes(dataset.size + (tsv[0]?.size || 0))})`;
  }
  setBusy(state.busy);
}

async function useSampleQuestions() {
  try {
    const resp = await fetch('sample/questions.jsonl');
    if (!resp.ok) throw { kind: 'Fetch', message: `sample/questions.jsonl: HTTP ${resp.status}` };
    state.evalInput = { dataset: await resp.blob(), qrels: null, name: 'sample questions' };
    $('eval-dataset').textContent = 'sample questions (about the sample corpus)';
  } catch (e) {
    showError($('eval-status'), e);
  }
  setBusy(state.busy);
}

const fmt3 = (x) => (typeof x === 'number' ? x.toFixed(3) : '–');

// ---- feedback and monitoring (kept on this machine: see monitor.js) ----

async function sendFeedback({ helpful, noAnswer = false }) {
  const status = $('fb-status');
  status.dataset.kind = '';
  const sources = noAnswer ? [] : [...document.querySelectorAll('#citations .fb-source input:checked')].map((c) => c.value);
  try {
    await state.engine.feedback({ question: state.lastQuestion, helpful, sources: [...new Set(sources)], noAnswer });
    status.textContent = noAnswer ? 'Thanks: noted as not answered by your documents.' : sources.length ? `Thanks: ${sources.length} source(s) confirmed.` : 'Thanks.';
    await refreshMonitoring();
  } catch (e) {
    showError(status, e);
  }
}

const pct = (x) => (typeof x === 'number' ? `${(100 * x).toFixed(0)} %` : '–');
const ms = (x) => (typeof x === 'number' ? `${x.toFixed(1)} ms` : '–');

async function refreshMonitoring() {
  if (!state.engine) return;
  try {
    const m = await state.engine.monitoring();
    window.sottoLastMonitoring = m; // for the console and the end-to-end test
    const rows = [];
    const row = (k, v) => rows.push(el('tr', {}, el('th', { text: k }), el('td', { text: v })));
    if (!m.enabled) {
      row('monitoring', 'off');
    } else {
      row('queries logged', `${m.queries} (${m.answers} answers)${m.persisted ? '' : ' · not stored: this log ends with the tab'}`);
      row('abstentions', pct(m.abstention_rate));
      row('searches matching no word of the documents', pct(m.zero_hit_rate));
      row('feedback', `${m.feedback} · rate ${pct(m.feedback_rate)} · helpful ${pct(m.helpful_rate)}`);
      row('drift (query–top hit similarity)', m.drift ? `first ${m.drift.window}: ${m.drift.baseline.toFixed(3)} → last ${m.drift.window}: ${m.drift.recent.toFixed(3)} (${m.drift.delta >= 0 ? '+' : ''}${m.drift.delta.toFixed(3)})` : 'not enough queries since the index last changed');
      for (const [stage, l] of Object.entries(m.latency).sort()) row(`latency ${stage.replace(/_ms$/, '')}`, `p50 ${ms(l.p50)} · p95 ${ms(l.p95)} (${l.n})`);
    }
    $('monitor-table').tBodies[0].replaceChildren(...rows);
  } catch (e) {
    showError($('monitor-status'), e);
  }
}

async function feedbackDataset() {
  const d = await state.engine.exportFeedback();
  const skipped = d.skipped.length ? ` · ${d.skipped.length} skipped (${d.skipped.map((s) => s.reason).join('; ')})` : '';
  $('monitor-status').textContent = `${d.questions} question(s) with ground truth${skipped}`;
  return d;
}

async function exportFeedback() {
  try {
    const d = await feedbackDataset();
    if (d.questions) download(d.jsonl, 'feedback.jsonl', 'application/x-ndjson');
  } catch (e) {
    showError($('monitor-status'), e);
  }
}

/** Put the exported feedback into the Evaluate panel as its dataset. */
async function evaluateFeedback() {
  try {
    const d = await feedbackDataset();
    if (!d.questions) return;
    state.evalInput = { dataset: new Blob([d.jsonl], { type: 'application/x-ndjson' }), qrels: null, name: 'my feedback' };
    $('eval-dataset').textContent = `my feedback (${d.questions} questions)`;
    setBusy(state.busy);
    $('eval-section').scrollIntoView({ block: 'start' });
  } catch (e) {
    showError($('monitor-status'), e);
  }
}

async function clearMonitoring() {
  try {
    await state.engine.clearMonitoring();
    $('monitor-status').textContent = 'The log and the feedback were cleared.';
    await refreshMonitoring();
  } catch (e) {
    showError($('monitor-status'), e);
  }
}

async function evaluate() {
  const input = state.evalInput;
  if (!input) return;
  const modes = [...$('eval-modes').querySelectorAll('input:checked')].map((c) => c.value);
  const status = $('eval-status');
  const bar = $('eval-progress');
  status.dataset.kind = '';
  status.dataset.state = 'running';
  bar.hidden = false;
  bar.value = 0;
  setBusy(true);
  $('eval-cancel').hidden = false;
  const opts = { name: input.name, modes, skipBad: $('eval-skip-bad').checked };
  if ($('eval-answers').value) opts.answers = $('eval-answers').value;
  if (input.qrels) opts.qrels = input.qrels;
  try {
    const r = await state.engine.evaluate(input.dataset, opts, {
      onProgress: (p) => {
        if (p.stage === 'evaluating') {
          bar.max = Math.max(1, p.runs * p.total);
          bar.value = (p.run - 1) * p.total + p.done;
          status.textContent = `Configuration ${p.run}/${p.runs} (${p.config}): question ${p.done}/${p.total}`;
        } else status.textContent = `Evaluating ${p.index}…`;
      },
    });
    state.evalResult = r;
    const report = JSON.parse(r.json);
    window.sottoLastEvaluation = report; // for the console and the end-to-end test
    // The summary is built from numbers and names as text nodes.
    $('eval-summary').tBodies[0].replaceChildren(
      ...report.grid.runs.map(({ report: m }) =>
        el('tr', {}, el('th', { text: m.config }), el('td', { text: fmt3(m.doc.recall['1']) }), el('td', { text: fmt3(m.doc.recall['5']) }),
          el('td', { text: fmt3(m.doc.mrr) }), el('td', { text: fmt3(m.doc.ndcg_at_10) }), el('td', { text: fmtMs(m.latency_ms.p50) })),
      ),
    );
    $('eval-summary').hidden = false;
    // The report is the same self-contained HTML file `sotto eval --report` writes: every
    // document-derived string in it is escaped by the Rust report code, and it runs in a
    // sandboxed frame (opaque origin: no access to this page, its storage or its worker)
    // whose only allowed scripts are the report's own, by hash (see index.html's policy).
    const frame = $('eval-report');
    frame.srcdoc = r.html;
    frame.hidden = false;
    $('eval-downloads').hidden = false;
    const skipped = report.dataset.skipped.length ? ` · ${report.dataset.skipped.length} malformed line(s) skipped` : '';
    const missing = report.missing_relevant.length ? ` · ${report.missing_relevant.length} relevant document(s) not in the index` : '';
    status.textContent = `Evaluated ${report.dataset.questions} questions × ${report.grid.runs.length} configurations in ${fmtMs(r.timings.evaluate_ms)}${skipped}${missing}`;
    status.dataset.kind = 'done';
    timing('evaluate', r.timings.evaluate_ms, `${report.dataset.questions} questions × ${report.grid.runs.length} configurations`);
  } catch (e) {
    showError(status, e);
  } finally {
    $('eval-cancel').hidden = true;
    endTask(status, bar);
  }
}

// ---- document viewer ----

/**
 * Show a document (with the span start..end marked) right below the section of the element
 * that asked for it — a hit, a citation, the document list — not at the end of the page.
 */
async function openDocument(id, start = null, end = null, from = null) {
  const section = from && from.closest('main > section');
  if (section && section.id !== 'viewer' && section.nextElementSibling !== $('viewer')) section.after($('viewer'));
  try {
    const d = await state.engine.document(id);
    $('viewer-title').textContent = d.title || d.id;
    $('viewer-meta').textContent = `${d.id} · ${d.format} · ${d.language} · ${d.chunks.length} chunks`;
    const pre = $('viewer-text');
    if (start !== null) {
      const [before, span, after] = splitSpan(d.text, start, end);
      const mark = el('mark', { text: span });
      mark.id = 'viewer-mark';
      pre.replaceChildren(document.createTextNode(before), mark, document.createTextNode(after));
      $('viewer').hidden = false;
      mark.scrollIntoView({ block: 'center' });
    } else {
      pre.replaceChildren(document.createTextNode(d.text));
      $('viewer').hidden = false;
      $('viewer').scrollIntoView({ block: 'nearest' });
    }
    $('viewer').dataset.doc = d.id;
  } catch (e) {
    showError($('viewer-meta'), e);
    $('viewer').hidden = false;
  }
}

// ---- index import / export ----

async function exportIndex() {
  try {
    const bytes = await state.engine.exportIndex();
    download(bytes, 'sotto-index.sotto', 'application/octet-stream');
    $('ingest-status').textContent = `Exported ${fmtBytes(bytes.length)}`;
  } catch (e) {
    showError($('ingest-status'), e);
  }
}

async function importIndex(file) {
  setBusy(true);
  try {
    const r = await state.engine.importIndex(new Uint8Array(await file.arrayBuffer()));
    $('ingest-status').textContent = `Imported ${file.name}${savedNote(r.saved, r.merged)}`;
    await refreshSummary(r.stats, `imported from ${file.name}`);
  } catch (e) {
    showError($('ingest-status'), e);
  } finally {
    setBusy(false);
  }
}

// ---- start ----

/**
 * Ask the browser not to evict this origin's storage (the ~190 MB of cached models and the
 * saved index) under storage pressure. Chromium grants it by site engagement, so it may be
 * refused; the page says which. Only a window can ask (StorageManager.persist is not in workers).
 */
async function requestPersistence() {
  let persisted = 'unsupported';
  try {
    if (navigator.storage && navigator.storage.persist) {
      persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist()) ? 'yes' : 'no';
    }
  } catch {
    persisted = 'error';
  }
  document.body.dataset.persisted = persisted;
  timing('storage persisted', null, persisted === 'yes' ? 'yes: the browser will not evict the models and index' : persisted === 'no' ? 'no: the browser may evict the cached models under storage pressure' : persisted);
}

/** How much this origin stores (models, saved index, logs) and whether the browser may evict it. */
async function showStorage() {
  const out = $('storage-used');
  try {
    const { usage = 0, quota = 0 } = (await navigator.storage?.estimate?.()) || {};
    const persisted = document.body.dataset.persisted;
    out.textContent = `Storage: ${fmtBytes(usage)} used of ${fmtBytes(quota)} · ${persisted === 'yes' ? 'kept by the browser (persistent)' : 'may be evicted under storage pressure'}`;
    out.dataset.usage = String(usage);
  } catch (e) {
    out.textContent = `Storage: unknown (${e.message})`;
  }
}

/** What the page says when the engine's worker crashed and was restarted (client.js restarts it). */
function watchEngine(engine) {
  engine.on('restarting', ({ reason, cause }) => {
    if (reason === 'cancel') return;
    document.body.dataset.engine = 'restarting';
    setStatus(`The engine stopped (${cause.kind}: ${cause.message}); restarting it with the last saved index…`, 'warning');
  });
  engine.on('restart', async (r) => {
    document.body.dataset.restarts = String(engine.restarts);
    if (!r.ok) {
      document.body.dataset.engine = 'broken';
      setStatus(`${r.error.message}. The saved index is kept.`, 'error');
      return;
    }
    if (r.reason === 'cancel') return;
    const saved = r.restored && r.restored.restored
      ? `${r.restored.stats.documents} documents, saved ${new Date(r.restored.savedAt).toLocaleString()}`
      : r.restored && r.restored.error ? `the saved index could not be used: ${r.restored.error.kind}` : 'nothing was saved';
    setStatus(`The engine crashed (${r.cause.kind}: ${r.cause.message}) and was restarted with the last saved index (${saved}). What was running then was stopped; changes not saved before the crash are lost.`, 'warning');
    document.body.dataset.engine = 'restarted';
    const stats = r.restored && r.restored.restored ? r.restored.stats : (await engine.stats()).stats;
    await refreshSummary(stats, 'restored from IndexedDB after the engine restarted');
  });
  engine.on('indexChanged', async (d) => {
    if (!state.engine) return;
    if (d.error) {
      $('ingest-status').textContent = `Another tab saved the index, but this tab could not load it (${d.error.kind}: ${d.error.message})`;
      $('ingest-status').dataset.kind = 'warning';
      return;
    }
    await refreshSummary(d.stats, d.forgotten ? 'the saved index was deleted in another tab' : `updated from another tab (saved ${new Date(d.savedAt).toLocaleString()})`);
    if (!ingestRunning) {
      $('ingest-status').textContent = d.forgotten ? 'Another tab deleted the saved index; this tab keeps its documents' : `Another tab saved changes: this tab now has ${d.stats.documents} documents`;
      $('ingest-status').dataset.kind = '';
    }
  });
}

async function rebuild() {
  try {
    const r = await state.engine.rebuild();
    $('saved-problem').hidden = true;
    $('ingest-status').textContent = `Started a new saved index with this tab's ${r.stats.documents} documents${savedNote(r.saved)}${r.kept ? `; the unusable one is kept in IndexedDB as "${r.kept}"` : ''}`;
    $('ingest-status').dataset.kind = r.saved.ok ? 'done' : 'warning';
    document.body.dataset.restored = 'rebuilt';
    await refreshSummary(r.stats, 'new (the unusable saved index was set aside)');
  } catch (e) {
    showError($('ingest-status'), e);
  }
}

/** The end of a task shown with a status line and a progress bar: done, bar hidden, controls back. */
function endTask(status, bar) {
  status.dataset.state = 'done';
  bar.hidden = true;
  setBusy(false);
}

async function start() {
  setBusy(true);
  try {
    const engine = await createEngine({ faults: params.get('faults') === '1' });
    watchEngine(engine);
    const bar = $('model-progress');
    if (params.get('model') === 'hashing') {
      await engine.loadHashingEmbedder(256);
      setStatus('Using the model-free hashing embedder (lexical only).');
    } else {
      bar.hidden = false;
      const r = await engine.loadEmbedder(MODEL, {
        onProgress: (p) => {
          if (p.stage === 'download') {
            bar.max = Math.max(1, p.total);
            bar.value = p.received;
            setStatus(p.cached ? `${p.file}: from the cache` : `Downloading ${p.file}: ${fmtBytes(p.received)} of ${p.total ? fmtBytes(p.total) : '?'}`);
          } else if (p.stage === 'verify') {
            setStatus(`${p.file}: ${p.detail}; downloading it again…`, 'warning');
          } else if (p.stage === 'load') {
            setStatus(`Loading ${MODEL.name}…`);
          }
        },
      });
      bar.hidden = true;
      const fromCache = r.cached && Object.values(r.cached).every((c) => c.hit);
      const repaired = r.cached ? Object.entries(r.cached).filter(([, c]) => c.repaired).map(([f, c]) => `${f}: ${c.repaired}, downloaded again`) : [];
      timing('model fetch', r.timings.fetch_ms, fromCache ? 'Cache API' : 'network (now cached)');
      timing('model check (SHA-256)', r.timings.verify_ms);
      timing('model load', r.timings.load_ms);
      setStatus(`${MODEL.name} ready (${r.info.dim} dimensions)${fromCache ? ', loaded from the cache' : ''}${r.verified ? ', checked against the manifest' : ''}.${repaired.length ? ` Repaired: ${repaired.join('; ')}.` : ''}`, repaired.length ? 'warning' : '');
      document.body.dataset.modelCached = fromCache ? '1' : '0';
      document.body.dataset.modelRepaired = repaired.length ? Object.keys(r.cached).filter((f) => r.cached[f].repaired).join(',') : '';
    }
    state.engine = engine;
    requestPersistence();
    const restored = await engine.restore();
    if (restored.restored) {
      timing('restore (IndexedDB)', restored.timings.restore_ms, fmtBytes(restored.bytes));
      await refreshSummary(restored.stats, `restored from IndexedDB (saved ${new Date(restored.savedAt).toLocaleString()})`);
      document.body.dataset.restored = '1';
    } else {
      if (restored.error) {
        // Nothing is saved over it until the user chooses to start a new saved index.
        $('ingest-status').textContent = `The saved index could not be used (${restored.error.kind}: ${restored.error.message}); it was left as is and nothing will be saved over it until you start a new saved index.`;
        $('ingest-status').dataset.kind = 'error';
        $('saved-problem').hidden = false;
      }
      await refreshSummary(await engine.stats().then((s) => s.stats), 'empty');
      document.body.dataset.restored = restored.error ? 'damaged' : '0';
    }
    document.body.dataset.ready = '1';
    window.sotto = engine; // for the console and the end-to-end test
    refreshMonitoring();
    showStorage();
  } catch (e) {
    setStatus(`${e.kind || 'Error'}: ${e.message}`, 'error');
    document.body.dataset.ready = 'error';
  } finally {
    setBusy(false);
  }
}

$('files').addEventListener('change', (e) => {
  readFiles([...e.target.files]);
  e.target.value = '';
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (state.engine) readFiles([...e.dataTransfer.files]);
});
$('load-sample').addEventListener('click', loadSample);
$('build-tree').addEventListener('click', buildTree);
$('rebuild').addEventListener('click', rebuild);
$('load-generator').addEventListener('click', loadGenerator);
$('cancel').addEventListener('click', () => state.engine.cancel());
$('ask-cancel').addEventListener('click', () => state.engine.cancel());
$('search-form').addEventListener('submit', search);
$('ask-form').addEventListener('submit', ask);
$('export').addEventListener('click', exportIndex);
$('import-file').addEventListener('change', (e) => {
  if (e.target.files[0]) importIndex(e.target.files[0]);
  e.target.value = '';
});
$('clear').addEventListener('click', async () => {
  try {
    const r = await state.engine.clear();
    $('ingest-status').textContent = `Cleared${savedNote(r.saved, r.merged)}`;
    await refreshSummary(r.stats, 'empty');
  } catch (e) {
    showError($('ingest-status'), e);
  }
});
$('viewer-close').addEventListener('click', () => ($('viewer').hidden = true));
$('clear-models').addEventListener('click', async () => {
  try {
    const r = await state.engine.clearModelCache();
    $('ingest-status').textContent = r.deleted ? 'Cached models deleted: the next visit downloads them again (the loaded ones stay in use).' : 'No cached models to delete.';
  } catch (e) {
    showError($('ingest-status'), e);
  }
  await showStorage();
});
$('forget-index').addEventListener('click', async () => {
  try {
    await state.engine.forget();
    $('ingest-status').textContent = 'The saved index was deleted from this browser; the documents stay in this tab until it closes (the next change saves them again).';
  } catch (e) {
    showError($('ingest-status'), e);
  }
  await showStorage();
});
$('eval-file').addEventListener('change', (e) => {
  chooseDataset([...e.target.files]);
  e.target.value = '';
});
$('eval-sample').addEventListener('click', useSampleQuestions);
$('fb-up').addEventListener('click', () => sendFeedback({ helpful: true }));
$('fb-down').addEventListener('click', () => sendFeedback({ helpful: false }));
$('fb-noanswer').addEventListener('click', () => sendFeedback({ helpful: false, noAnswer: true }));
$('monitor-refresh').addEventListener('click', refreshMonitoring);
$('fb-export').addEventListener('click', exportFeedback);
$('fb-evaluate').addEventListener('click', evaluateFeedback);
$('monitor-clear').addEventListener('click', clearMonitoring);
$('eval-run').addEventListener('click', evaluate);
$('eval-cancel').addEventListener('click', () => state.engine.cancel());
$('eval-download-html').addEventListener('click', () => state.evalResult && download(state.evalResult.html, 'sotto-report.html', 'text/html'));
$('eval-download-json').addEventListener('click', () => state.evalResult && download(state.evalResult.json, 'sotto-report.json', 'application/json'));
start();

// Sotto in a Vite app. `sotto/client` runs the engine in a Web Worker that Vite bundles
// (with the wasm it loads); `sotto` itself (the wasm bindings) is used on the page to read
// the exported index's manifest without the worker.
import { createEngine } from 'sotto/client';
import init, { SottoEngine } from 'sotto';
import tides from './docs/tides.md?raw';
import sourdough from './docs/sourdough.md?raw';
import lighthouses from './docs/lighthouses.md?raw';

const $ = (id) => document.getElementById(id);

// The worker fetches these, and it lives in assets/: URLs relative to the page would be
// resolved against the worker's URL, so they are made absolute here. models/ holds
// all-MiniLM-L6-v2 and the manifest that scripts/fetch-models.sh writes.
const model = (file) => new URL(`models/${file}`, document.baseURI).href;
const EMBEDDER = {
  name: 'all-MiniLM-L6-v2',
  urls: {
    weights: model('all-MiniLM-L6-v2/model.safetensors'),
    tokenizer: model('all-MiniLM-L6-v2/tokenizer.json'),
    config: model('all-MiniLM-L6-v2/config.json'),
  },
  manifest: model('manifest.json'),
};
const DOCS = [
  { id: 'tides.md', body: tides },
  { id: 'sourdough.md', body: sourdough },
  { id: 'lighthouses.md', body: lighthouses },
];

async function main() {
  // The example indexes its three files on every load: no need to keep them in IndexedDB.
  const engine = await createEngine({ persist: false });
  $('status').textContent = 'Loading the embedder…';
  await engine.loadEmbedder(EMBEDDER);
  const { report } = await engine.addDocuments(DOCS);
  $('status').textContent = `Indexed ${report.documents} files. Ask a question.`;
  document.body.dataset.engineVersion = engine.version;

  const form = $('ask');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('go').disabled = true;
    try {
      const { answer } = await engine.ask($('question').value);
      $('answer').textContent = answer.abstained ? 'No answer in these files.' : answer.answer;
      $('citations').replaceChildren(
        ...answer.citations.map((c) => {
          const li = document.createElement('li');
          li.dataset.doc = c.doc_id;
          li.textContent = `${c.doc_id}: “${c.text}”`;
          return li;
        }),
      );
      $('status').textContent = 'Answered.';
    } catch (e) {
      $('status').textContent = `Error (${e.kind || e.name}): ${e.message}`;
    } finally {
      $('go').disabled = false;
    }
    // The bindings on the page: the index the worker built, read without the worker.
    await init();
    const manifest = SottoEngine.readManifest(await engine.exportIndex());
    $('about').textContent = `sotto ${SottoEngine.version()}: an index of ${manifest.documents} documents, ${manifest.chunks} chunks, embedder ${manifest.embedder.name}.`;
    $('about').dataset.version = SottoEngine.version();
    $('about').dataset.documents = String(manifest.documents);
  });
  $('question').disabled = false;
  $('go').disabled = false;
}

main().catch((e) => {
  $('status').textContent = `Error (${e.kind || e.name}): ${e.message}`;
  console.error(e);
});

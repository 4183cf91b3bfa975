// One benchmark contender of tests/browser/bench-threads.mjs in its own dedicated worker, as
// the demo runs the engine: the single-thread build, or the threaded build with its pool.
// Messages: {op: 'load', build: 'single' | 'threads', threads, embedder: {weights, tokenizer,
//            config} URLs, gguf URL} → {ok, threads, build, load_ms} | {ok: false, reason}
//           {op: 'embed', texts} → {ms, dims}
//           {op: 'prefill', messages} → {prefill_ms, prompt_tokens}
let mod = null;
let embedder = null;
let generator = null;

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

self.onmessage = async ({ data }) => {
  try {
    if (data.op === 'load') {
      const t0 = performance.now();
      mod = await import(data.build === 'threads' ? '/pkg-threads/sotto.js' : '/pkg/sotto.js');
      await mod.default();
      if (data.build === 'threads') await mod.initThreadPool(data.threads);
      const [w, t, c, g] = await Promise.all([bytes(data.embedder.weights), bytes(data.embedder.tokenizer), bytes(data.embedder.config), bytes(data.gguf)]);
      embedder = new mod.SottoEngine({ embed_batch: 16 });
      embedder.loadEmbedder(w, t, c, 'all-MiniLM-L6-v2');
      generator = new mod.SottoEngine();
      generator.loadHashingEmbedder(64);
      generator.loadGenerator(g);
      const info = embedder.embedderInfo();
      self.postMessage({ ok: true, threads: info.threads, build: info.build, load_ms: performance.now() - t0 });
    } else if (data.op === 'embed') {
      const t0 = performance.now();
      const v = embedder.embed(data.texts);
      self.postMessage({ ms: performance.now() - t0, dims: v.length ? v[0].length : 0, first: Array.from(v[0]) });
    } else if (data.op === 'prefill') {
      // One new token: the time is prefill's (the chat's own prefill_ms).
      const r = generator.chat(data.messages, { max_new_tokens: 1, temperature: 0 });
      self.postMessage({ prefill_ms: r.prefill_ms, prompt_tokens: r.stats.prefill_tokens });
    }
  } catch (e) {
    self.postMessage({ ok: false, reason: `${e.kind || ''} ${e.message || e}` });
  }
};

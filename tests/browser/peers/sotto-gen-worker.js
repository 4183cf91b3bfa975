// Sotto's generator in a dedicated worker for the peer benchmark (page.js), as the demo runs it
// and as wllama runs llama.cpp: the two generators then get the same kind of thread.
// Messages: {op: 'load', url, threads} → {ok, load_ms, info} | {ok: false, reason};
//           {op: 'run', prompt, maxNew} → {first: true} at the first streamed text, then {result}.
// With threads > 1 it loads the threaded build (/pkg-threads/) and starts its pool here.
let sotto = null;
let engine = null;
self.onmessage = async ({ data }) => {
  try {
    if (data.op === 'load') {
      sotto = await import(data.threads > 1 ? '/pkg-threads/sotto.js' : '/pkg/sotto.js');
      await sotto.default();
      if (data.threads > 1) await sotto.initThreadPool(data.threads);
      const r = await fetch(data.url);
      if (!r.ok) throw new Error(`${data.url}: HTTP ${r.status}`);
      const bytes = new Uint8Array(await r.arrayBuffer());
      engine = new sotto.SottoEngine();
      const t0 = performance.now();
      const info = engine.loadGenerator(bytes);
      self.postMessage({ ok: true, load_ms: performance.now() - t0, info: { requantized: info.requantized_tensors, context: info.context_len } });
    } else if (data.op === 'run') {
      let sent = false;
      const r = engine.chat(data.prompt, { max_new_tokens: data.maxNew, temperature: 0, loop_guard_ngram: 0 }, () => {
        if (!sent) { sent = true; self.postMessage({ first: true }); }
      });
      self.postMessage({
        result: {
          prompt_tokens: r.stats.prefill_tokens, new_tokens: r.stats.generated_tokens, finish: r.stats.finish_reason,
          prefill_ms: r.prefill_ms, decode_ms: r.decode_ms, decode_tokens: r.stats.decode_tokens, text: r.text,
        },
      });
    }
  } catch (e) {
    self.postMessage({ ok: false, reason: `${e.kind || ''} ${e.message || e}` });
  }
};

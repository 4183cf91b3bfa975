// In-page side of the peer benchmark (tests/browser/bench-peers.mjs drives it; run through
// scripts/bench-peers.sh). Every contender runs in this page's own thread or its own
// workers; the driver calls one measurement at a time through page.evaluate, alternating
// contenders, so no two of them ever compete for the two cores.
//
// Served from one origin (scripts/serve.py with COOP/COEP) as a scratch root:
//   /pkg/       Sotto's web build (www/pkg)          /models/  Sotto's model cache
//   /tjs/       @huggingface/transformers dist       /ort/     onnxruntime-web dist (its wasm files)
//   /wllama/    @wllama/wllama esm                   /peers/   inputs.json, reference.json, models/ (ONNX)
//
// The page is opened with ?threads=N: ONNX Runtime Web reads its thread count once per page,
// so the 1-thread and 2-thread transformers.js contenders live in two pages.

const THREADS = Number(new URLSearchParams(location.search).get('threads') || 1);
const MINILM = 'models/all-MiniLM-L6-v2';
const GGUF = 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
const bytes = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};

const P = (window.peers = { threads: THREADS, embedders: {}, generators: {}, notes: {} });

P.env = () => ({
  crossOriginIsolated: self.crossOriginIsolated,
  hardwareConcurrency: navigator.hardwareConcurrency,
  userAgent: navigator.userAgent,
  threads: THREADS,
});

// ---------------------------------------------------------------- Sotto

let sottoMod = null;
async function sottoModule() {
  if (!sottoMod) {
    sottoMod = await import('/pkg/sotto.js');
    await sottoMod.default();
  }
  return sottoMod;
}
// The threaded build (scripts/build-wasm-threads.sh), for the '2t' variants; its pool is
// started by sottoStartThreads before anything else runs in it.
let sottoThreadsMod = null;
async function sottoThreadsModule() {
  if (!sottoThreadsMod) {
    sottoThreadsMod = await import('/pkg-threads/sotto.js');
    await sottoThreadsMod.default();
  }
  return sottoThreadsMod;
}

let minilm = null;
async function minilmBytes() {
  if (!minilm) {
    const [w, t, c] = await Promise.all(['model.safetensors', 'tokenizer.json', 'config.json'].map((f) => bytes(`${MINILM}/${f}`)));
    minilm = { w, t, c };
  }
  return minilm;
}

// Feature probes, kept here so they are easy to adjust when the features land. A variant is
// available only when the engine itself reports it; otherwise the probe returns a reason.
export function sottoReportsInt8(engine) {
  const info = engine.embedderInfo() || {};
  let stats = {};
  try { stats = engine.stats() || {}; } catch { /* no index yet */ }
  const q = info.quantize ?? info.quantization ?? stats.quantize ?? stats.embedder?.quantize ?? null;
  return q === 'int8' ? null : `engine reports quantize=${JSON.stringify(q)} after loadEmbedder(..., {quantize: "int8"}) (no int8 path in this build)`;
}
export function sottoThreadCount(engine) {
  let stats = {};
  try { stats = engine.stats() || {}; } catch { /* no index yet */ }
  const info = engine.embedderInfo() || {};
  return Number(stats.threads ?? stats.threadCount ?? stats.thread_count ?? info.threads ?? info.threadCount ?? 1) || 1;
}
// A threaded build may need its pool started (wasm-bindgen-rayon style `initThreadPool`).
async function sottoStartThreads(mod, n) {
  if (typeof mod.initThreadPool !== 'function') return 'this build exports no initThreadPool';
  if (!self.crossOriginIsolated) return 'page is not cross-origin isolated';
  try { await mod.initThreadPool(n); return null; } catch (e) { return `initThreadPool(${n}) failed: ${e.message || e}`; }
}

/** Load a Sotto embedder variant: 'fp32' | 'int8' | '2t'. Returns {ok, reason, info}. */
P.sottoEmbedLoad = async ({ key, variant, batch }) => {
  let mod;
  try {
    mod = variant === '2t' ? await sottoThreadsModule() : await sottoModule();
  } catch (e) {
    return { ok: false, reason: `no threaded build: ${e.message || e}` };
  }
  const { w, t, c } = await minilmBytes();
  const engine = new mod.SottoEngine({ embed_batch: batch });
  let reason = null;
  const t0 = performance.now();
  try {
    if (variant === 'int8') {
      engine.loadEmbedder(w, t, c, 'all-MiniLM-L6-v2', { quantize: 'int8' });
      reason = sottoReportsInt8(engine);
    } else {
      if (variant === '2t') reason = await sottoStartThreads(mod, THREADS);
      engine.loadEmbedder(w, t, c, 'all-MiniLM-L6-v2');
      if (variant === '2t') {
        const n = sottoThreadCount(engine);
        reason = n > 1 ? null : `stats() reports ${n} thread(s)${reason ? `; ${reason}` : ''} (no threaded build)`;
      }
    }
  } catch (e) {
    reason = `loadEmbedder threw: ${e.kind || ''} ${e.message || e}`;
  }
  const load_ms = performance.now() - t0;
  if (reason) {
    engine.free();
    return { ok: false, reason };
  }
  P.embedders[key] = { batch, embed: async (texts) => engine.embed(texts) };
  return { ok: true, load_ms, info: engine.embedderInfo() };
};

// ---------------------------------------------------------------- transformers.js

let tjsMod = null;
async function tjs() {
  if (!tjsMod) {
    tjsMod = await import('/tjs/transformers.js');
    const { env } = tjsMod;
    env.allowRemoteModels = false; // never a hub: only the local directory below
    env.allowLocalModels = true;
    env.localModelPath = '/peers/models/';
    env.useBrowserCache = false;
    env.useWasmCache = false;
    const wasm = env.backends.onnx.wasm;
    // The wasm files of the same onnxruntime-web release transformers.js bundles, served
    // locally (its default is a CDN). The asyncify variant is the one it picks by default.
    wasm.wasmPaths = { mjs: '/ort/ort-wasm-simd-threaded.asyncify.mjs', wasm: '/ort/ort-wasm-simd-threaded.asyncify.wasm' };
    wasm.numThreads = THREADS;
    wasm.proxy = false;
  }
  return tjsMod;
}

/** Load transformers.js feature extraction, dtype 'fp32' | 'q8'. */
P.tjsEmbedLoad = async ({ key, dtype, batch }) => {
  const m = await tjs();
  const t0 = performance.now();
  try {
    const extractor = await m.pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype, device: 'wasm' });
    P.embedders[key] = {
      batch,
      embed: async (texts) => {
        const out = await extractor(texts, { pooling: 'mean', normalize: true });
        const [n, d] = out.dims;
        return Array.from({ length: n }, (_, i) => out.data.subarray(i * d, (i + 1) * d));
      },
    };
    return { ok: true, load_ms: performance.now() - t0, ort: m.env.backends.onnx.versions, numThreads: m.env.backends.onnx.wasm.numThreads };
  } catch (e) {
    return { ok: false, reason: `transformers.js pipeline failed: ${e.message || e}` };
  }
};

// ---------------------------------------------------------------- embedding runs

function cosines(vectors, reference) {
  let min = Infinity, sum = 0;
  vectors.forEach((v, i) => {
    const r = reference[i];
    let dot = 0, nv = 0, nr = 0;
    for (let j = 0; j < r.length; j++) { dot += v[j] * r[j]; nv += v[j] * v[j]; nr += r[j] * r[j]; }
    const c = dot / Math.sqrt(nv * nr);
    min = Math.min(min, c);
    sum += c;
  });
  return { min, mean: sum / vectors.length };
}

let reference = null;
/** One timed pass over `texts` in groups of the contender's batch size; sentences/s (+ cosines). */
P.embedRun = async ({ key, texts, check }) => {
  const e = P.embedders[key];
  const vectors = [];
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += e.batch) vectors.push(...(await e.embed(texts.slice(i, i + e.batch))));
  const ms = performance.now() - t0;
  const res = { ms, per_s: (texts.length / ms) * 1000 };
  if (check) {
    reference ??= (await (await fetch('/peers/reference.json')).json()).vectors;
    Object.assign(res, { cos: cosines(vectors, reference), dim: vectors[0].length });
  }
  return res;
};

// ---------------------------------------------------------------- generation

/** Sotto generator in a dedicated worker (sotto-gen-worker.js), like wllama's: the GGUF as Sotto
 *  loads it by default (Q4_1 requantized to Q8_0 on load). Time to first token and total time
 *  are taken here, on the page, from the call to the worker's messages, as for wllama.
 *  variant '2t': only when the build reports more than one thread (see sottoThreadCount). */
P.sottoGenLoad = async ({ key, variant }) => {
  if (variant === '2t') {
    let mod;
    try {
      mod = await sottoThreadsModule();
    } catch (e) {
      return { ok: false, reason: `no threaded build: ${e.message || e}` };
    }
    const why = await sottoStartThreads(mod, THREADS);
    const engine = new mod.SottoEngine();
    engine.loadHashingEmbedder(64); // stats() needs an engine
    const n = sottoThreadCount(engine);
    engine.free();
    if (n < 2) return { ok: false, reason: `stats() reports ${n} thread(s)${why ? `; ${why}` : ''} (no threaded build)` };
  }
  const worker = new Worker('/sotto-gen-worker.js', { type: 'module' });
  const reply = () => new Promise((ok) => { worker.onmessage = ({ data }) => ok(data); });
  const loaded = reply();
  worker.postMessage({ op: 'load', url: '/' + GGUF, threads: variant === '2t' ? THREADS : 1 });
  const r = await loaded;
  if (!r.ok) return r;
  P.generators[key] = {
    run: (prompt, maxNew) => new Promise((ok) => {
      let first = null;
      const t1 = performance.now();
      worker.onmessage = ({ data }) => {
        if (data.first) first = performance.now() - t1;
        else if (data.result) ok({ ...data.result, ttft_ms: first, total_ms: performance.now() - t1 });
        else ok({ error: data.reason });
      };
      worker.postMessage({ op: 'run', prompt, maxNew });
    }),
  };
  return { ok: true, load_ms: r.load_ms, info: r.info, where: 'worker' };
};

let wllamaMod = null;
/** wllama with n_threads (1 or 2): one Wllama instance, i.e. one worker, per thread count. */
P.wllamaLoad = async ({ key, threads }) => {
  wllamaMod ??= await import('/wllama/index.js');
  const w = new wllamaMod.Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true, allowOffline: true });
  const blob = new Blob([await bytes(GGUF)]);
  const t0 = performance.now();
  try {
    await w.loadModel([blob], { n_threads: threads, n_ctx: 1024, seed: 42 });
  } catch (e) {
    return { ok: false, reason: `wllama loadModel failed: ${e.message || e}` };
  }
  const load_ms = performance.now() - t0;
  P.generators[key] = {
    run: async (prompt, maxNew) => {
      let first = null, text = '', last = null;
      const t1 = performance.now();
      await w.createCompletion({
        prompt,
        max_tokens: maxNew,
        temperature: 0,
        temp: 0,
        top_k: 1,
        ignore_eos: true,
        cache_prompt: false,
        stream: true,
        onData: (chunk) => {
          const piece = chunk.choices?.[0]?.text || '';
          if (piece && first === null) first = performance.now() - t1;
          text += piece;
          if (chunk.timings || chunk.usage) last = chunk;
        },
      });
      const total = performance.now() - t1;
      const tm = last?.timings || {};
      return {
        prompt_tokens: tm.prompt_n ?? last?.usage?.prompt_tokens ?? null,
        cached_tokens: tm.cache_n ?? null,
        new_tokens: tm.predicted_n ?? last?.usage?.completion_tokens ?? null,
        prefill_ms: tm.prompt_ms ?? null,
        decode_ms: tm.predicted_ms ?? null,
        ttft_ms: first,
        total_ms: total,
        text,
      };
    },
  };
  return { ok: true, load_ms, multithread: w.isMultithread(), threads: w.getNumThreads() };
};

P.genRun = async ({ key, prompt, maxNew }) => P.generators[key].run(prompt, maxNew);

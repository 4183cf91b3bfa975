// The threaded wasm build in headless Chromium (scripts/test-browser.sh builds it with
// scripts/build-wasm-threads.sh). Steps, each asserted:
//
//  1. cross-origin isolated (scripts/serve.py's COOP/COEP): createEngine({threads: 2}) loads
//     the threaded build and its pool of 2 workers; the client, stats() and embedderInfo()
//     all say build "threads", threads 2; with no `threads` option the worker asks for the
//     hardware's thread count (at most 4);
//  2. the same sentences (real text from the sample corpus, short to 256-token long, batch
//     16) embedded by the threaded build and by the single-thread build ({threads: 1}) in
//     the same page agree: min cosine ≥ 0.9999, f32 and int8; SmolLM2 (the Q4_1 file,
//     Q8_0 on load) writes the same 8 greedy tokens after a ≈ 250-token prompt in both;
//  3. a pool start that fails: rejected by initThreadPool (65 threads) → the worker falls
//     back to the single-thread build without an error, says why, and embeds; the pool's
//     workers cannot load their script (requests refused) → initThreadPool rejects, no pool
//     is left half-built, and a later call starts one;
//  4. the threaded package is absent (every request under pkg-threads/ is refused): the
//     single-thread build, with the reason;
//  5. not isolated (serve.py --no-isolation): threads 1, build "single", the reason names
//     the missing isolation, and the vectors equal step 2's.
//
// Environment: SOTTO_CHROMIUM (default /usr/bin/chromium).

import { serve, launch } from './e2e.mjs';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WWW = join(ROOT, 'www');
for (const need of ['pkg/sotto_bg.wasm', 'pkg-threads/sotto_bg.wasm', 'models/all-MiniLM-L6-v2/model.safetensors', 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf']) {
  if (!existsSync(join(WWW, need))) throw new Error(`www/${need} is missing: run scripts/build-wasm.sh, scripts/build-wasm-threads.sh and link the models (scripts/test-browser.sh does)`);
}

/** Sentences of the sample corpus (Sotto's docs): 47 of 6–60 words and one long passage. */
function sentences() {
  const dir = join(WWW, 'sample', 'docs');
  const text = readdirSync(dir).sort().map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  const plain = text.replace(/`|\*|#|\|/g, ' ').replace(/\s+/g, ' ');
  const all = plain.split(/(?<=[.!?])\s+/).filter((s) => { const n = s.split(' ').length; return n >= 6 && n <= 60; });
  assert.ok(all.length >= 47, `only ${all.length} sentences in www/sample/docs`);
  const pick = Array.from({ length: 47 }, (_, i) => all[Math.floor((i * all.length) / 47)]);
  return [...pick, plain.slice(0, 3000)];
}

const MODEL = {
  name: 'all-MiniLM-L6-v2',
  urls: { weights: 'models/all-MiniLM-L6-v2/model.safetensors', tokenizer: 'models/all-MiniLM-L6-v2/tokenizer.json', config: 'models/all-MiniLM-L6-v2/config.json' },
};

const GGUF = 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf';

/** In the page: start an engine with `options`, embed `texts` with f32 (and int8 if asked),
 *  and, given `prompt`, generate 8 greedy tokens from it; report its build. */
async function embedIn(page, options, texts, int8, prompt) {
  return page.evaluate(
    async ({ options, texts, model, int8, prompt, gguf }) => {
      const C = await import('/client.js');
      const e = await C.createEngine({ persist: false, monitoring: false, config: { embed_batch: 16 }, ...options });
      try {
        const out = { client: { build: e.build, threads: e.threads, buildReason: e.buildReason } };
        await e.loadEmbedder(model);
        const st = await e.stats();
        out.stats = { threads: st.stats.threads, build: st.stats.build, embedderThreads: st.embedder.threads, embedderBuild: st.embedder.build, top: { threads: st.threads, build: st.build, buildReason: st.buildReason } };
        const t0 = performance.now();
        out.f32 = (await e.embed(texts)).map((v) => Array.from(v));
        out.f32_ms = performance.now() - t0;
        if (int8) {
          await e.loadEmbedder({ ...model, quantize: 'int8' });
          out.int8 = (await e.embed(texts)).map((v) => Array.from(v));
        }
        if (prompt) {
          await e.loadGenerator({ url: gguf });
          const { result } = await e.chat([{ role: 'user', content: prompt }], { max_new_tokens: 8, temperature: 0 });
          out.gen = { text: result.text, prompt_tokens: result.stats.prefill_tokens, prefill_ms: result.prefill_ms };
        }
        return out;
      } finally {
        e.terminate();
      }
    },
    { options, texts, model: MODEL, int8, prompt, gguf: GGUF },
  );
}

function minCosine(a, b) {
  assert.equal(a.length, b.length);
  let min = 1;
  for (let i = 0; i < a.length; i++) {
    let d = 0, na = 0, nb = 0;
    for (let j = 0; j < a[i].length; j++) {
      d += a[i][j] * b[i][j];
      na += a[i][j] ** 2;
      nb += b[i][j] ** 2;
    }
    min = Math.min(min, d / Math.sqrt(na * nb));
  }
  return min;
}

async function openBlank(context, origin) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  // A page of the origin without the demo app (which would start its own engine).
  await page.goto(origin + '/style.css');
  return page;
}

async function main() {
  const texts = sentences();
  let reference;

  // 1–4: cross-origin isolated.
  {
    const { origin, stop } = await serve();
    const { context, offOrigin, close } = await launch(origin);
    try {
      const page = await openBlank(context, origin);
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'serve.py did not make the page cross-origin isolated');

      // A prompt long enough (≈ 250 tokens) for prefill's product to be split across threads.
      const prompt = `Using these notes, say in one sentence what the engine does.\n\n${texts.slice(0, 8).join(' ')}`;
      const threaded = await embedIn(page, { threads: 2 }, texts, true, prompt);
      console.log('threaded build:', JSON.stringify({ client: threaded.client, stats: threaded.stats, f32_ms: Math.round(threaded.f32_ms) }));
      assert.deepEqual(threaded.client, { build: 'threads', threads: 2, buildReason: null });
      assert.deepEqual(threaded.stats, { threads: 2, build: 'threads', embedderThreads: 2, embedderBuild: 'threads', top: { threads: 2, build: 'threads', buildReason: null } });

      const single = await embedIn(page, { threads: 1 }, texts, true, prompt);
      console.log('single-thread build:', JSON.stringify({ client: single.client, stats: single.stats, f32_ms: Math.round(single.f32_ms) }));
      assert.equal(single.client.build, 'single');
      assert.equal(single.client.threads, 1);
      assert.equal(single.stats.threads, 1);
      assert.equal(single.stats.build, 'single');

      const cosF32 = minCosine(threaded.f32, single.f32);
      const cosI8 = minCosine(threaded.int8, single.int8);
      console.log(`min cosine threads vs single over ${texts.length} texts: f32 ${cosF32.toFixed(7)}, int8 ${cosI8.toFixed(7)}`);
      assert.ok(cosF32 >= 0.9999, `f32 vectors differ between builds: min cosine ${cosF32}`);
      assert.ok(cosI8 >= 0.9999, `int8 vectors differ between builds: min cosine ${cosI8}`);
      reference = single.f32;
      // Prefill's product is bit-identical across thread counts, so greedy text is the same.
      console.log('greedy generation:', JSON.stringify({ threads: threaded.gen, single: single.gen }));
      assert.ok(threaded.gen.prompt_tokens >= 200, `the prompt has only ${threaded.gen.prompt_tokens} tokens`);
      assert.ok(threaded.gen.text.trim().length > 0, 'no text generated');
      assert.equal(threaded.gen.text, single.gen.text, 'greedy text differs between the builds');

      // Default: the hardware's threads, at most 4 (more than 1 → the threaded build).
      const auto = await page.evaluate(async () => {
        const C = await import('/client.js');
        const e = await C.createEngine({ persist: false, monitoring: false });
        const r = { build: e.build, threads: e.threads, hc: navigator.hardwareConcurrency };
        e.terminate();
        return r;
      });
      const want = Math.min(Math.max(1, auto.hc || 1), 4);
      console.log('default:', JSON.stringify(auto));
      assert.equal(auto.threads, want);
      assert.equal(auto.build, want > 1 ? 'threads' : 'single');

      // 3a: a pool that does not start (here: more threads than initThreadPool allows) →
      // the single-thread build, the reason given.
      const refused = await embedIn(page, { threads: 65 }, texts.slice(0, 4), false);
      console.log('pool start rejected:', JSON.stringify(refused.client));
      assert.equal(refused.client.build, 'single');
      assert.equal(refused.stats.threads, 1);
      assert.match(refused.client.buildReason, /threaded build unavailable: .*65 is not in 1..=64/);
      assert.ok(minCosine(refused.f32, reference.slice(0, 4)) >= 0.9999);

      // 3b: the pool's workers cannot load their script. Started from a page (Playwright
      // sees the requests of a page's workers, not of a worker's workers): the glue's own
      // import of pool.js passes, the workers' requests for it are refused; initThreadPool
      // rejects, and a second call, with the script served again, starts the pool.
      const page2 = await openBlank(context, origin);
      let poolRequests = 0;
      await context.route('**/pkg-threads/snippets/**/pool.js', (route) => (++poolRequests === 1 ? route.continue() : route.abort()));
      const started = await page2.evaluate(async () => {
        const mod = await import('/pkg-threads/sotto.js');
        await mod.default();
        const r = {};
        try {
          r.first = await mod.initThreadPool(2);
        } catch (e) {
          r.firstError = String(e.message || e);
        }
        return r;
      });
      await context.unroute('**/pkg-threads/snippets/**/pool.js');
      const restarted = await page2.evaluate(async () => (await import('/pkg-threads/sotto.js')).initThreadPool(2));
      console.log('pool workers refused their script:', JSON.stringify(started), `(${poolRequests} requests for pool.js); then`, restarted);
      assert.ok(poolRequests >= 2, 'the pool workers never asked for their script');
      assert.equal(started.first, undefined, 'initThreadPool resolved without its workers');
      assert.match(started.firstError, /a pool worker failed to load/);
      assert.equal(restarted, 2, 'a pool could not be started after a failed start');
      assert.deepEqual(page2.errors, [], 'page errors');
      await page2.close();

      // 4: no threaded package.
      await context.route('**/pkg-threads/**', (route) => route.fulfill({ status: 404, body: 'absent' }));
      const absent = await embedIn(page, { threads: 2 }, texts.slice(0, 4), false);
      await context.unroute('**/pkg-threads/**');
      console.log('threaded package absent:', JSON.stringify(absent.client));
      assert.equal(absent.client.build, 'single');
      assert.equal(absent.stats.threads, 1);
      assert.match(absent.client.buildReason, /no threaded build/);

      assert.deepEqual(page.errors, [], 'page errors');
      assert.deepEqual(offOrigin, [], 'requests left the origin');
    } finally {
      await close();
      stop();
    }
  }

  // 5: not isolated.
  {
    const { origin, stop } = await serve(['--no-isolation']);
    const { context, close } = await launch(origin);
    try {
      const page = await openBlank(context, origin);
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), false);
      const r = await embedIn(page, { threads: 2 }, texts, false);
      console.log('not isolated:', JSON.stringify({ client: r.client, stats: r.stats }));
      assert.deepEqual(r.client, { build: 'single', threads: 1, buildReason: 'not cross-origin isolated (no SharedArrayBuffer)' });
      assert.equal(r.stats.threads, 1);
      assert.equal(r.stats.build, 'single');
      const cos = minCosine(r.f32, reference);
      assert.ok(cos >= 0.9999, `vectors without isolation differ: min cosine ${cos}`);
      assert.deepEqual(page.errors, [], 'page errors');
    } finally {
      await close();
      stop();
    }
  }
  console.log('threads: all checks passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

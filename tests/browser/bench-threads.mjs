// Threads in the browser, measured (a script, not a test: scripts/bench-threads.sh). In one
// headless Chromium page, cross-origin isolated, two dedicated workers, the single-thread
// build and the threaded build with a pool of SOTTO_BENCH_THREADS (default 2), alternate
// round by round (SOTTO_BENCH_ROUNDS, default 5) on the same inputs:
//   - embedding: 100 ~30-word windows of the sample corpus, all-MiniLM-L6-v2 f32, batch 16;
//   - prefill: SmolLM2-135M-Instruct (Q4_1 file, requantized to Q8_0 on load) on a ~300-token
//     RAG-style chat prompt (three passages and a question), one new token; the round number
//     leads the prompt so no two rounds share a prefix.
// Prints medians and ratios (threaded / single) and writes target/bench-threads.json. On a
// shared machine the absolute figures move with the load; compare the ratios of one run.
import { serve, launch } from './e2e.mjs';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WWW = join(ROOT, 'www');
const ROUNDS = Number(process.env.SOTTO_BENCH_ROUNDS || 5);
const THREADS = Number(process.env.SOTTO_BENCH_THREADS || 2);
const GGUF = 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
for (const need of ['pkg/sotto_bg.wasm', 'pkg-threads/sotto_bg.wasm', 'models/all-MiniLM-L6-v2/model.safetensors', GGUF]) {
  if (!existsSync(join(WWW, need))) throw new Error(`www/${need} is missing (scripts/bench-threads.sh builds and links everything)`);
}

const words = readdirSync(join(WWW, 'sample', 'docs')).sort()
  .map((f) => readFileSync(join(WWW, 'sample', 'docs', f), 'utf8')).join(' ')
  .replace(/[`*#|<>\[\]()]/g, ' ').split(/\s+/).filter(Boolean);
const windowAt = (i, n) => words.slice(i, i + n).join(' ');
const step = Math.floor(words.length / 100);
const SENTENCES = Array.from({ length: 100 }, (_, i) => `${windowAt(i * step, 30)}.`);
const prompt = (round) => [{
  role: 'user',
  content: `(${round}) Answer from the sources only.\n\n[1] ${windowAt(1000, 70)}\n\n[2] ${windowAt(5000, 70)}\n\n[3] ${windowAt(9000, 70)}\n\nQuestion: how does the engine keep its answers grounded in the sources?`,
}];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function main() {
  const { origin, stop } = await serve();
  const { context, close } = await launch(origin);
  try {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(origin + '/style.css');
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
    const result = await page.evaluate(async ({ SENTENCES, prompts, ROUNDS, THREADS, GGUF }) => {
      const embedder = { weights: '/models/all-MiniLM-L6-v2/model.safetensors', tokenizer: '/models/all-MiniLM-L6-v2/tokenizer.json', config: '/models/all-MiniLM-L6-v2/config.json' };
      const start = async (build) => {
        const w = new Worker('/bench-threads/bench-worker.js', { type: 'module' });
        const call = (msg) => new Promise((ok, fail) => {
          w.onmessage = ({ data }) => (data.ok === false ? fail(new Error(data.reason)) : ok(data));
          w.onerror = (e) => fail(new Error(e.message));
          w.postMessage(msg);
        });
        const info = await call({ op: 'load', build, threads: THREADS, embedder, gguf: '/' + GGUF });
        return { call, info };
      };
      const single = await start('single');
      const threaded = await start('threads');
      const runs = { single: { embed: [], prefill: [] }, threads: { embed: [], prefill: [] } };
      let tokens = null;
      const firsts = {};
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 ? [['threads', threaded], ['single', single]] : [['single', single], ['threads', threaded]];
        for (const [name, c] of order) {
          const e = await c.call({ op: 'embed', texts: SENTENCES });
          runs[name].embed.push((SENTENCES.length / e.ms) * 1000);
          firsts[name] = e.first;
        }
        for (const [name, c] of order) {
          const p = await c.call({ op: 'prefill', messages: prompts[r] });
          runs[name].prefill.push((p.prompt_tokens / p.prefill_ms) * 1000);
          tokens = p.prompt_tokens;
        }
      }
      let d = 0, na = 0, nb = 0;
      for (let i = 0; i < firsts.single.length; i++) { d += firsts.single[i] * firsts.threads[i]; na += firsts.single[i] ** 2; nb += firsts.threads[i] ** 2; }
      return { info: { single: single.info, threads: threaded.info }, runs, prompt_tokens: tokens, cosine_first: d / Math.sqrt(na * nb), hc: navigator.hardwareConcurrency, ua: navigator.userAgent };
    }, { SENTENCES, prompts: Array.from({ length: ROUNDS }, (_, r) => prompt(r)), ROUNDS, THREADS, GGUF });
    assert.equal(result.info.threads.build, 'threads');
    assert.equal(result.info.threads.threads, THREADS);
    const med = (k, what) => median(result.runs[k][what]);
    const out = {
      date: new Date().toISOString(), rounds: ROUNDS, threads: THREADS, ...result,
      medians: {
        embed_sent_s: { single: med('single', 'embed'), threads: med('threads', 'embed') },
        prefill_tok_s: { single: med('single', 'prefill'), threads: med('threads', 'prefill') },
      },
    };
    out.ratios = {
      embed_threads_vs_single: out.medians.embed_sent_s.threads / out.medians.embed_sent_s.single,
      prefill_threads_vs_single: out.medians.prefill_tok_s.threads / out.medians.prefill_tok_s.single,
    };
    mkdirSync(join(ROOT, 'target'), { recursive: true });
    writeFileSync(join(ROOT, 'target', 'bench-threads.json'), JSON.stringify(out, null, 1));
    const f = (x) => x.toFixed(1);
    console.log(`Chromium (${result.ua.match(/Chrome\/[\d.]+/)?.[0]}), hardwareConcurrency ${result.hc}, ${ROUNDS} rounds alternating, medians`);
    console.log(`| | single-thread build | threaded build, ${THREADS} threads | ratio |`);
    console.log('|---|---|---|---|');
    console.log(`| MiniLM f32, 100 sentences, batch 16: sent/s | ${f(out.medians.embed_sent_s.single)} | ${f(out.medians.embed_sent_s.threads)} | ${out.ratios.embed_threads_vs_single.toFixed(2)} |`);
    console.log(`| SmolLM2 prefill, ${result.prompt_tokens}-token prompt: tok/s | ${f(out.medians.prefill_tok_s.single)} | ${f(out.medians.prefill_tok_s.threads)} | ${out.ratios.prefill_threads_vs_single.toFixed(2)} |`);
    console.log(`raw: ${JSON.stringify(result.runs)}; cosine of the first vector between builds ${result.cosine_first.toFixed(7)}`);
  } finally {
    await close();
    stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

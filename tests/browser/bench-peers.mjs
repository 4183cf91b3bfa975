// The peer benchmark's browser part: Sotto against transformers.js (embeddings) and wllama
// (generation) in ONE headless Chromium process, served from one origin with COOP/COEP,
// contenders alternated round by round (medians). scripts/bench-peers.sh prepares
// everything (npm packages, ONNX export, reference vectors, the served scratch root) and runs
// this; it is not a test and not a CI step. Writes target/bench-peers.json and prints a table.
//
// Environment (set by the script):
//   SOTTO_PEERS_WWW     the scratch root to serve (links to Sotto's pkg, the models, the npm packages)
//   SOTTO_PEERS_CACHE   the cache with inputs.json and reference.json
//   SOTTO_PEERS_SMOKE=1 a quick pass: 8 sentences, 1 round, the short prompt, 16 new tokens
//   SOTTO_PEERS_ROUNDS  embedding rounds (default 5)   SOTTO_PEERS_GEN_ROUNDS  generation rounds (default 3)
//   SOTTO_PEERS_OUT     output JSON (default target/bench-peers.json)
//   SOTTO_PEERS_PARTS   embed,gen (default) or one of them
//
// Sotto's generator runs in a dedicated worker (tests/browser/peers/sotto-gen-worker.js), as
// wllama's does; the embedders (Sotto's and transformers.js's) run on the page's thread.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WWW = resolve(process.env.SOTTO_PEERS_WWW || join(ROOT, 'target', 'peers-www'));
const CACHE = resolve(process.env.SOTTO_PEERS_CACHE || join(process.env.HOME, '.cache', 'sotto', 'peers'));
const SMOKE = process.env.SOTTO_PEERS_SMOKE === '1';
const ROUNDS = Number(process.env.SOTTO_PEERS_ROUNDS || (SMOKE ? 1 : 5));
const GEN_ROUNDS = Number(process.env.SOTTO_PEERS_GEN_ROUNDS || (SMOKE ? 1 : 3));
const MAX_NEW = SMOKE ? 16 : 64;
// Which parts to run (default both): SOTTO_PEERS_PARTS=embed or =gen for a partial run.
const PARTS = (process.env.SOTTO_PEERS_PARTS || 'embed,gen').split(',');
const OUT = resolve(process.env.SOTTO_PEERS_OUT || join(ROOT, 'target', 'bench-peers.json'));
const CHROMIUM = process.env.SOTTO_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'];

const inputs = JSON.parse(readFileSync(join(CACHE, 'inputs.json'), 'utf8'));
const SENTENCES = SMOKE ? inputs.sentences.slice(0, 8) : inputs.sentences;
const PROMPTS = SMOKE ? { short: inputs.prompts.short } : inputs.prompts;

const median = (xs) => {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length]);
const round = (x, d = 2) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);
const log = (...a) => console.error('[peers]', ...a);

function serve() {
  return new Promise((ok, fail) => {
    const p = spawn('python3', [join(ROOT, 'scripts', 'serve.py'), '--port', '0', '--quiet', WWW], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('error', fail);
    p.stdout.on('data', (d) => {
      const m = /at (http:\/\/[\d.]+:\d+)\//.exec(String(d));
      if (m) ok({ origin: m[1], stop: () => p.kill() });
    });
    setTimeout(() => fail(new Error('serve.py did not start')), 10_000);
  });
}

async function main() {
  for (const need of ['pkg/sotto.js', 'tjs/transformers.js', 'ort/ort-wasm-simd-threaded.asyncify.wasm', 'wllama/index.js', 'peers/reference.json', 'peers/models/all-MiniLM-L6-v2/onnx/model_quantized.onnx', 'models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf']) {
    if (!existsSync(join(WWW, need))) throw new Error(`${WWW}/${need} is missing: run scripts/bench-peers.sh`);
  }
  const { origin, stop } = await serve();
  const userDataDir = mkdtempSync(join(tmpdir(), 'sotto-peers-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  // Nothing may leave the origin (no CDN, no hub): every other request is aborted and reported.
  const offOrigin = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (!url.startsWith(origin + '/') && !url.startsWith('blob:') && !url.startsWith('data:')) {
      offOrigin.push(url);
      return route.abort();
    }
    return route.continue();
  });
  const git = (...a) => { try { return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { return null; } };
  const sottoWasm = createHash('sha256').update(readFileSync(join(WWW, 'pkg', 'sotto_bg.wasm'))).digest('hex').slice(0, 16);
  const out = { date: new Date().toISOString(), commit: git('rev-parse', '--short', 'HEAD'), sotto_wasm_sha256: sottoWasm, smoke: SMOKE, rounds: { embed: ROUNDS, generate: GEN_ROUNDS }, inputs: { sentences: SENTENCES.length, source: inputs.source, max_new_tokens: MAX_NEW } };
  const version = (pkg) => { try { return JSON.parse(readFileSync(join(CACHE, 'npm', 'node_modules', pkg, 'package.json'), 'utf8')).version; } catch { return null; } };
  out.versions = { '@huggingface/transformers': version('@huggingface/transformers'), 'onnxruntime-web': version('onnxruntime-web'), '@wllama/wllama': version('@wllama/wllama'), chromium: null };
  const unavailable = {};
  try {
    const pages = {};
    for (const t of [1, 2]) {
      const page = await context.newPage();
      page.on('pageerror', (e) => log(`page(${t}) error:`, String(e)));
      page.on('console', (m) => { if (m.type() === 'error') log(`page(${t}) console:`, m.text().slice(0, 300)); });
      await page.goto(`${origin}/index.html?threads=${t}`);
      await page.waitForFunction(() => !!window.peers);
      pages[t] = page;
    }
    const call = (t, fn, arg) => pages[t].evaluate(([fn, arg]) => window.peers[fn](arg), [fn, arg]);
    out.env = { page_1: await call(1, 'env'), page_2: await call(2, 'env') };
    out.versions.chromium = context.browser()?.version() ?? out.env.page_1.userAgent;
    log('env', JSON.stringify(out.env.page_2));

    // ---------------------------------------------------------------- embeddings
    // [name, page (thread count), loader, loader args]
    const embedSpecs = [
      ['sotto_fp32', 1, 'sottoEmbedLoad', { variant: 'fp32', batch: 16 }],
      ['sotto_int8', 1, 'sottoEmbedLoad', { variant: 'int8', batch: 16 }],
      ['tjs_fp32', 1, 'tjsEmbedLoad', { dtype: 'fp32', batch: 16 }],
      ['tjs_q8', 1, 'tjsEmbedLoad', { dtype: 'q8', batch: 16 }],
      ['sotto_2t', 2, 'sottoEmbedLoad', { variant: '2t', batch: 16 }],
      ['tjs_fp32_2t', 2, 'tjsEmbedLoad', { dtype: 'fp32', batch: 16 }],
      ['tjs_q8_2t', 2, 'tjsEmbedLoad', { dtype: 'q8', batch: 16 }],
    ];
    const embedders = [];
    out.load = {};
    out.parts = PARTS;
    for (const [name, t, loader, args] of PARTS.includes('embed') ? embedSpecs : []) {
      const r = await call(t, loader, { key: name, ...args });
      out.load[name] = r;
      if (r.ok) embedders.push([name, t]);
      else unavailable[name] = r.reason;
      log('load', name, JSON.stringify(r).slice(0, 300));
    }
    // Warm-up (untimed): first calls compile and allocate.
    for (const [name, t] of embedders) {
      await call(t, 'embedRun', { key: name, texts: SENTENCES.slice(0, 16), check: false });
    }
    const runs = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const batch of r % 2 ? [16, 1] : [1, 16]) {
        for (const [name, t] of rotate(embedders, r)) {
          await pages[t].evaluate(([k, b]) => { window.peers.embedders[k].batch = b; }, [name, batch]);
          const res = await call(t, 'embedRun', { key: name, texts: SENTENCES, check: r === 0 });
          const slot = (runs[`${name}/b${batch}`] ??= { per_s: [], cos: null });
          slot.per_s.push(res.per_s);
          if (res.cos) slot.cos = res.cos;
          log(`embed round ${r} batch ${batch} ${name}: ${res.per_s.toFixed(1)} sent/s${res.cos ? ` min cos ${res.cos.min.toFixed(4)}` : ''}`);
        }
      }
    }
    out.embedding = {};
    for (const [k, v] of Object.entries(runs)) {
      const [name, b] = k.split('/');
      (out.embedding[name] ??= {})[b] = { sentences_per_s: round(median(v.per_s)), runs: v.per_s.map((x) => round(x)), min_cos: round(v.cos?.min, 5), mean_cos: round(v.cos?.mean, 5) };
    }

    // ---------------------------------------------------------------- generation
    const genSpecs = [
      ['sotto', 1, 'sottoGenLoad', {}],
      ['wllama_1t', 1, 'wllamaLoad', { threads: 1 }],
      ['wllama_2t', 1, 'wllamaLoad', { threads: 2 }],
      ['sotto_gen_2t', 2, 'sottoGenLoad', { variant: '2t' }],
    ];
    const gens = [];
    for (const [name, t, loader, args] of PARTS.includes('gen') ? genSpecs : []) {
      const r = await call(t, loader, { key: name, ...args });
      out.load[name] = r;
      if (r.ok) gens.push([name, t]);
      else unavailable[name] = r.reason;
      log('load', name, JSON.stringify(r).slice(0, 300));
    }
    for (const [name, t] of gens) await call(t, 'genRun', { key: name, prompt: PROMPTS.short.text, maxNew: 4 });
    const gruns = {};
    for (let r = 0; r < GEN_ROUNDS; r++) {
      for (const [pname, prompt] of Object.entries(PROMPTS)) {
        for (const [name, t] of rotate(gens, r)) {
          const res = await call(t, 'genRun', { key: name, prompt: prompt.text, maxNew: MAX_NEW });
          (gruns[`${name}/${pname}`] ??= []).push(res);
          log(`gen round ${r} ${pname} ${name}: prompt ${res.prompt_tokens} new ${res.new_tokens} prefill ${res.prefill_ms?.toFixed(0)} ms ttft ${res.ttft_ms?.toFixed(0)} ms total ${res.total_ms.toFixed(0)} ms`);
        }
      }
    }
    out.generation = {};
    for (const [k, rs] of Object.entries(gruns)) {
      const [name, pname] = k.split('/');
      const decodeTokens = (x) => x.decode_tokens ?? x.new_tokens;
      (out.generation[name] ??= {})[pname] = {
        prompt_tokens: rs[0].prompt_tokens,
        new_tokens: median(rs.map((x) => x.new_tokens)),
        cached_tokens: rs[0].cached_tokens ?? null,
        prefill_tok_s: round(median(rs.map((x) => (x.prompt_tokens / x.prefill_ms) * 1000))),
        decode_tok_s: round(median(rs.map((x) => (decodeTokens(x) / x.decode_ms) * 1000))),
        ttft_ms: round(median(rs.map((x) => x.ttft_ms)), 0),
        total_ms: round(median(rs.map((x) => x.total_ms)), 0),
        // All tokens processed (prompt + generated) per second of wall time, prefill included.
        total_tok_s: round(median(rs.map((x) => ((x.prompt_tokens + x.new_tokens) / x.total_ms) * 1000))),
        // Generated tokens per second of wall time, prefill included (what a reader sees).
        new_tok_s_e2e: round(median(rs.map((x) => (x.new_tokens / x.total_ms) * 1000))),
        text: rs[0].text.slice(0, 160),
      };
    }
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
    stop();
  }
  out.off_origin_requests = offOrigin;
  out.unavailable = unavailable;
  out.ratios = ratios(out, unavailable);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(out, null, 1));
  console.log(table(out));
  console.log(`\nwritten ${OUT}`);
  if (offOrigin.length) {
    console.error('requests left the origin:', offOrigin);
    process.exit(1);
  }
}

/** The headline ratios (Sotto / peer, > 1 = Sotto faster), each null with a reason when a side is missing. */
function ratios(out, unavailable) {
  const e = out.embedding || {}, g = out.generation || {};
  const res = { notes: {} };
  const ratio = (key, a, b, why) => {
    if (a != null && b != null) res[key] = round(a / b, 3);
    else {
      res[key] = null;
      res.notes[key] = why;
    }
  };
  const es = (name, b) => e[name]?.[`b${b}`]?.sentences_per_s ?? null;
  const why = (name) => unavailable[name] || `${name} not measured`;
  // Embeddings at batch 16 (how an index is built), and at batch 1 (one query) beside them.
  for (const b of [16, 1]) {
    const sfx = b === 16 ? '' : '_b1';
    ratio(`embed_fp32_vs_tjs_fp32${sfx}`, es('sotto_fp32', b), es('tjs_fp32', b), why(es('sotto_fp32', b) == null ? 'sotto_fp32' : 'tjs_fp32'));
    ratio(`embed_int8_vs_tjs_q8${sfx}`, es('sotto_int8', b), es('tjs_q8', b), why(es('sotto_int8', b) == null ? 'sotto_int8' : 'tjs_q8'));
    ratio(`embed_2t_vs_tjs_2t${sfx}`, es('sotto_2t', b), es('tjs_fp32_2t', b), why(es('sotto_2t', b) == null ? 'sotto_2t' : 'tjs_fp32_2t'));
  }
  const p = out.generation?.sotto?.rag ? 'rag' : 'short';
  res.gen_prompt = p;
  ratio('gen_total_vs_wllama', g.sotto?.[p]?.total_tok_s, g.wllama_1t?.[p]?.total_tok_s, why(g.sotto ? 'wllama_1t' : 'sotto'));
  ratio('gen_2t_vs_wllama_2t', g.sotto_gen_2t?.[p]?.total_tok_s, g.wllama_2t?.[p]?.total_tok_s, why(g.sotto_gen_2t ? 'wllama_2t' : 'sotto_gen_2t'));
  ratio('gen_prefill_vs_wllama', g.sotto?.[p]?.prefill_tok_s, g.wllama_1t?.[p]?.prefill_tok_s, why('wllama_1t'));
  ratio('gen_decode_vs_wllama', g.sotto?.[p]?.decode_tok_s, g.wllama_1t?.[p]?.decode_tok_s, why('wllama_1t'));
  ratio('gen_ttft_speedup_vs_wllama', g.wllama_1t?.[p]?.ttft_ms, g.sotto?.[p]?.ttft_ms, why('wllama_1t'));
  res.prefill_tok_s = g.sotto?.[p]?.prefill_tok_s ?? null;
  res.prefill_prompt_tokens = g.sotto?.[p]?.prompt_tokens ?? null;
  if (!Object.keys(res.notes).length) delete res.notes;
  return res;
}

function table(out) {
  const e = out.embedding || {}, g = out.generation || {}, u = out.unavailable || {};
  const fmt = (x, d = 1) => (x == null ? '—' : Number(x).toFixed(d));
  const lines = [];
  lines.push(`Peer benchmark ${out.date}${out.smoke ? ' (SMOKE)' : ''}: ${out.inputs.sentences} sentences, ${out.rounds.embed} embedding rounds, ${out.rounds.generate} generation rounds (medians)`);
  lines.push('', '| embeddings (all-MiniLM-L6-v2) | batch 1 sent/s | batch 16 sent/s | min cos vs PyTorch |', '|---|---|---|---|');
  const names = { sotto_fp32: 'Sotto fp32, 1 thread', sotto_int8: 'Sotto int8, 1 thread', sotto_2t: 'Sotto fp32, 2 threads', tjs_fp32: 'transformers.js fp32, 1 thread', tjs_q8: 'transformers.js q8, 1 thread', tjs_fp32_2t: 'transformers.js fp32, 2 threads', tjs_q8_2t: 'transformers.js q8, 2 threads' };
  for (const [k, label] of Object.entries(names)) {
    if (e[k]) lines.push(`| ${label} | ${fmt(e[k].b1?.sentences_per_s)} | ${fmt(e[k].b16?.sentences_per_s)} | ${fmt(e[k].b16?.min_cos ?? e[k].b1?.min_cos, 4)} |`);
    else lines.push(`| ${label} | — | — | unavailable: ${u[k] || 'not run'} |`);
  }
  lines.push('', '| generation (SmolLM2-135M Q4_1) | prompt | prompt tok | new tok | prefill tok/s | decode tok/s | TTFT ms | total tok/s | new tok/s incl. prefill |', '|---|---|---|---|---|---|---|---|---|');
  const gnames = { sotto: 'Sotto, 1 thread', sotto_gen_2t: 'Sotto, 2 threads', wllama_1t: 'wllama, 1 thread', wllama_2t: 'wllama, 2 threads' };
  for (const [k, label] of Object.entries(gnames)) {
    for (const [p, r] of Object.entries(g[k] || {})) {
      lines.push(`| ${label} | ${p} | ${r.prompt_tokens} | ${r.new_tokens} | ${fmt(r.prefill_tok_s)} | ${fmt(r.decode_tok_s)} | ${fmt(r.ttft_ms, 0)} | ${fmt(r.total_tok_s)} | ${fmt(r.new_tok_s_e2e)} |`);
    }
    if (!g[k]) lines.push(`| ${label} | — | unavailable: ${u[k] || 'not run'} | | | | | | |`);
  }
  lines.push('', '| ratio (Sotto / peer, >1 = Sotto ahead) | value |', '|---|---|');
  for (const [k, v] of Object.entries(out.ratios)) {
    if (k === 'notes') continue;
    lines.push(`| ${k} | ${v == null ? `null (${out.ratios.notes?.[k]})` : v} |`);
  }
  return lines.join('\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

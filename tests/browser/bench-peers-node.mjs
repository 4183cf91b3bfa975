// The peer benchmark's Node part (scripts/bench-peers.sh runs it after the browser part):
// all-MiniLM-L6-v2 embeddings outside the browser, contenders alternated round by round.
//
//   sotto_wasm        Sotto's wasm under Node (wasm-bindgen --target nodejs of the release
//                     sotto.wasm; one thread, as in the browser)
//   ort_node_*        transformers.js on onnxruntime-node (native ONNX Runtime): fp32 with 1
//                     and 2 intra-op threads, q8 with 1
//   ort_wasm_*        ONNX Runtime Web's wasm backend under Node (1 thread), fp32 and q8:
//                     transformers.js's Node build only offers native devices, so this one
//                     tokenizes with transformers.js and runs onnxruntime-web directly, then
//                     mean-pools and normalizes like the pipeline
//   sotto_cli         the native CLI, `sotto index` on 32 one-chunk documents (~253 tokens
//                     each), all cores and RAYON_NUM_THREADS=1; the marginal rate: (32 - 1) chunks
//                     over the time difference of indexing 32 documents and 1 (model load and
//                     index writing cancel out). With and without sentence vectors.
//
// Measures sentences/s (the 100 sentences, batch 1 and 16), chunks/s (the 32 chunks, batch
// 16) and the min cosine against the PyTorch reference. Adds `node` and Node ratios to
// target/bench-peers.json and prints a table.
//
// Environment: SOTTO_PEERS_CACHE, SOTTO_PEERS_MODELS (set by the script), SOTTO_PEERS_NODE_PKG
// (the nodejs build of Sotto, default target/peers-node-pkg), SOTTO_PEERS_CLI (default
// target/release/sotto; the CLI part is skipped with a reason when it is missing),
// SOTTO_PEERS_SMOKE=1, SOTTO_PEERS_NODE_ROUNDS (default 3), SOTTO_PEERS_OUT.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = resolve(process.env.SOTTO_PEERS_CACHE || join(process.env.HOME, '.cache', 'sotto', 'peers'));
const MODELS = resolve(process.env.SOTTO_PEERS_MODELS || join(process.env.HOME, '.cache', 'sotto', 'models'));
const NODE_PKG = resolve(process.env.SOTTO_PEERS_NODE_PKG || join(ROOT, 'target', 'peers-node-pkg'));
const CLI = resolve(process.env.SOTTO_PEERS_CLI || join(ROOT, 'target', 'release', 'sotto'));
const SMOKE = process.env.SOTTO_PEERS_SMOKE === '1';
const ROUNDS = Number(process.env.SOTTO_PEERS_NODE_ROUNDS || (SMOKE ? 1 : 3));
const OUT = resolve(process.env.SOTTO_PEERS_OUT || join(ROOT, 'target', 'bench-peers.json'));
const NPM = join(CACHE, 'npm', 'node_modules');

const inputs = JSON.parse(readFileSync(join(CACHE, 'inputs.json'), 'utf8'));
const reference = JSON.parse(readFileSync(join(CACHE, 'reference.json'), 'utf8')).vectors;
const SENTENCES = SMOKE ? inputs.sentences.slice(0, 8) : inputs.sentences;
const CHUNKS = SMOKE ? inputs.chunks.texts.slice(0, 4) : inputs.chunks.texts;
const log = (...a) => console.error('[peers/node]', ...a);
const median = (xs) => {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);
const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length]);

function minCos(vectors) {
  let min = Infinity;
  vectors.forEach((v, i) => {
    const r = reference[i];
    let dot = 0, nv = 0, nr = 0;
    for (let j = 0; j < r.length; j++) { dot += v[j] * r[j]; nv += v[j] * v[j]; nr += r[j] * r[j]; }
    min = Math.min(min, dot / Math.sqrt(nv * nr));
  });
  return min;
}

async function loaders() {
  const out = {}, unavailable = {};
  // Sotto's wasm under Node.
  try {
    const require = createRequire(import.meta.url);
    const sotto = require(join(NODE_PKG, 'sotto.js'));
    const d = join(MODELS, 'all-MiniLM-L6-v2');
    const e = new sotto.SottoEngine({ embed_batch: 16 });
    e.loadEmbedder(readFileSync(join(d, 'model.safetensors')), readFileSync(join(d, 'tokenizer.json')), readFileSync(join(d, 'config.json')), 'all-MiniLM-L6-v2');
    out.sotto_wasm = async (texts) => e.embed(texts);
  } catch (err) {
    unavailable.sotto_wasm = `Sotto nodejs build not loadable from ${NODE_PKG}: ${err.message}`;
  }
  // transformers.js on onnxruntime-node.
  const tjs = await import(join(NPM, '@huggingface/transformers/dist/transformers.node.mjs'));
  tjs.env.allowRemoteModels = false; // never a hub
  tjs.env.localModelPath = join(CACHE, 'models') + '/';
  tjs.env.useFSCache = false;
  for (const [name, dtype, threads] of [['ort_node_fp32', 'fp32', 1], ['ort_node_q8', 'q8', 1], ['ort_node_fp32_2t', 'fp32', 2]]) {
    try {
      const ex = await tjs.pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype, device: 'cpu', session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 } });
      out[name] = async (texts) => {
        const t = await ex(texts, { pooling: 'mean', normalize: true });
        const [n, dim] = t.dims;
        return Array.from({ length: n }, (_, i) => t.data.subarray(i * dim, (i + 1) * dim));
      };
    } catch (err) {
      unavailable[name] = `transformers.js (onnxruntime-node) failed: ${err.message}`;
    }
  }
  // ONNX Runtime Web's wasm backend under Node, tokenized by transformers.js.
  try {
    const ort = await import(join(NPM, 'onnxruntime-web/dist/ort.wasm.min.mjs'));
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = join(NPM, 'onnxruntime-web/dist') + '/';
    const tok = await tjs.AutoTokenizer.from_pretrained('all-MiniLM-L6-v2');
    for (const [name, file] of [['ort_wasm_fp32', 'model.onnx'], ['ort_wasm_q8', 'model_quantized.onnx']]) {
      const session = await ort.InferenceSession.create(readFileSync(join(CACHE, 'models', 'all-MiniLM-L6-v2', 'onnx', file)), { executionProviders: ['wasm'] });
      out[name] = async (texts) => {
        const enc = tok(texts, { padding: true, truncation: true, max_length: 256 });
        const feed = {};
        for (const k of ['input_ids', 'attention_mask', 'token_type_ids']) feed[k] = new ort.Tensor('int64', enc[k].data, enc[k].dims);
        const h = (await session.run(feed)).last_hidden_state;
        const [n, len, dim] = h.dims;
        const mask = enc.attention_mask.data;
        return Array.from({ length: n }, (_, i) => {
          const v = new Float32Array(dim);
          let count = 0;
          for (let t = 0; t < len; t++) {
            if (!mask[i * len + t]) continue;
            count++;
            for (let j = 0; j < dim; j++) v[j] += h.data[(i * len + t) * dim + j];
          }
          let norm = 0;
          for (let j = 0; j < dim; j++) { v[j] /= count; norm += v[j] * v[j]; }
          norm = Math.sqrt(norm);
          for (let j = 0; j < dim; j++) v[j] /= norm;
          return v;
        });
      };
    }
  } catch (err) {
    unavailable.ort_wasm_fp32 = unavailable.ort_wasm_q8 = `onnxruntime-web under Node failed: ${err.message}`;
  }
  return { embedders: out, unavailable };
}

async function pass(embed, texts, batch) {
  const vectors = [];
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += batch) vectors.push(...(await embed(texts.slice(i, i + batch))));
  return { per_s: (texts.length / (performance.now() - t0)) * 1000, vectors };
}

/** `sotto index` of `n` one-chunk documents, seconds. */
function indexSeconds(docsDir, n, extra, env) {
  const dir = join(docsDir, `n${n}`);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    CHUNKS.slice(0, n).forEach((c, i) => writeFileSync(join(dir, `chunk${String(i).padStart(2, '0')}.txt`), c + '\n'));
  }
  const outFile = join(docsDir, `out-${n}.sotto`);
  const t0 = performance.now();
  const stdout = execFileSync(CLI, ['index', dir, '-o', outFile, '--models', MODELS, ...extra], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const s = (performance.now() - t0) / 1000;
  rmSync(outFile, { force: true });
  return { s, stdout };
}

async function main() {
  const { embedders, unavailable } = await loaders();
  const names = Object.keys(embedders);
  log('contenders', names.join(', '), JSON.stringify(unavailable));
  for (const n of names) await pass(embedders[n], SENTENCES.slice(0, 16), 16); // warm-up
  const runs = {};
  const add = (k, v) => (runs[k] ??= []).push(v);
  const cos = {};
  // The CLI variants join the rotation as contenders of their own.
  const cliVariants = [['sotto_cli', [], {}], ['sotto_cli_1t', [], { RAYON_NUM_THREADS: '1' }], ['sotto_cli_sentvec', null, {}]];
  const docsDir = mkdtempSync(join(tmpdir(), 'sotto-peers-cli-'));
  const haveCli = existsSync(CLI);
  if (!haveCli) unavailable.sotto_cli = `no native CLI at ${CLI} (cargo build --release --features cli; or set SOTTO_PEERS_CLI)`;
  const contenders = [...names, ...(haveCli ? cliVariants.map((v) => v[0]) : [])];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of rotate(contenders, r)) {
        const cli = cliVariants.find((v) => v[0] === name);
        if (cli) {
          const extra = cli[1] ?? [];
          const flags = cli[1] === null ? [] : ['--no-sentence-vectors', ...extra];
          const one = indexSeconds(docsDir, 1, flags, cli[2]);
          const all = indexSeconds(docsDir, CHUNKS.length, flags, cli[2]);
          const rate = (CHUNKS.length - 1) / Math.max(1e-3, all.s - one.s);
          add(`${name}/chunks`, rate);
          log(`round ${r} ${name}: ${CHUNKS.length} docs ${all.s.toFixed(2)} s, 1 doc ${one.s.toFixed(2)} s → ${rate.toFixed(2)} chunks/s`);
          continue;
        }
        for (const batch of r % 2 ? [16, 1] : [1, 16]) {
          const res = await pass(embedders[name], SENTENCES, batch);
          add(`${name}/b${batch}`, res.per_s);
          if (r === 0 && batch === 16) cos[name] = minCos(res.vectors);
        }
        const ch = await pass(embedders[name], CHUNKS, 16);
        add(`${name}/chunks`, ch.per_s);
        log(`round ${r} ${name}: b1 ${runs[`${name}/b1`].at(-1).toFixed(1)} b16 ${runs[`${name}/b16`].at(-1).toFixed(1)} sent/s, chunks ${ch.per_s.toFixed(2)}/s`);
      }
    }
  } finally {
    rmSync(docsDir, { recursive: true, force: true });
  }
  const node = { date: new Date().toISOString(), smoke: SMOKE, rounds: ROUNDS, chunks: CHUNKS.length, chunk_tokens: 'about 253 (≤ 256, see reference.json)', contenders: {} };
  for (const name of contenders) {
    node.contenders[name] = {
      sentences_per_s_b1: round(median(runs[`${name}/b1`] || [])),
      sentences_per_s_b16: round(median(runs[`${name}/b16`] || [])),
      chunks_per_s: round(median(runs[`${name}/chunks`] || [])),
      min_cos: round(cos[name], 5),
    };
  }
  node.unavailable = unavailable;
  const all = existsSync(OUT) ? JSON.parse(readFileSync(OUT, 'utf8')) : { ratios: {} };
  all.node = node;
  const c = node.contenders;
  const ratio = (a, b) => (a != null && b != null ? round(a / b, 3) : null);
  Object.assign((all.ratios ??= {}), {
    node_embed_sotto_wasm_vs_ort_node_fp32: ratio(c.sotto_wasm?.sentences_per_s_b16, c.ort_node_fp32?.sentences_per_s_b16),
    node_embed_sotto_wasm_vs_ort_wasm_fp32: ratio(c.sotto_wasm?.sentences_per_s_b16, c.ort_wasm_fp32?.sentences_per_s_b16),
    native_index_vs_ort_node_fp32_2t: ratio(c.sotto_cli?.chunks_per_s, c.ort_node_fp32_2t?.chunks_per_s),
    native_index_1t_vs_ort_node_fp32: ratio(c.sotto_cli_1t?.chunks_per_s, c.ort_node_fp32?.chunks_per_s),
  });
  writeFileSync(OUT, JSON.stringify(all, null, 1));
  const fmt = (x, d = 1) => (x == null ? '—' : Number(x).toFixed(d));
  const labels = {
    sotto_wasm: 'Sotto wasm (Node), 1 thread', sotto_cli: 'Sotto native CLI `sotto index`, all cores (no sentence vectors)',
    sotto_cli_1t: 'Sotto native CLI, RAYON_NUM_THREADS=1 (no sentence vectors)', sotto_cli_sentvec: 'Sotto native CLI, all cores, with sentence vectors (default)',
    ort_node_fp32: 'transformers.js + onnxruntime-node fp32, 1 thread', ort_node_fp32_2t: 'transformers.js + onnxruntime-node fp32, 2 threads',
    ort_node_q8: 'transformers.js + onnxruntime-node q8, 1 thread', ort_wasm_fp32: 'ONNX Runtime Web wasm (Node) fp32, 1 thread', ort_wasm_q8: 'ONNX Runtime Web wasm (Node) q8, 1 thread',
  };
  const lines = ['', `Node ${node.date}${SMOKE ? ' (SMOKE)' : ''}: ${ROUNDS} rounds, ${SENTENCES.length} sentences, ${CHUNKS.length} chunks of ≤ 256 tokens (medians)`, '',
    '| Node / native | batch 1 sent/s | batch 16 sent/s | chunks/s (batch 16) | min cos |', '|---|---|---|---|---|'];
  for (const [k, label] of Object.entries(labels)) {
    const r = c[k];
    if (r) lines.push(`| ${label} | ${fmt(r.sentences_per_s_b1)} | ${fmt(r.sentences_per_s_b16)} | ${fmt(r.chunks_per_s, 2)} | ${fmt(r.min_cos, 4)} |`);
    else lines.push(`| ${label} | — | — | — | unavailable: ${unavailable[k] || 'not run'} |`);
  }
  lines.push('', '| Node ratio | value |', '|---|---|');
  for (const k of ['node_embed_sotto_wasm_vs_ort_node_fp32', 'node_embed_sotto_wasm_vs_ort_wasm_fp32', 'native_index_vs_ort_node_fp32_2t', 'native_index_1t_vs_ort_node_fp32']) lines.push(`| ${k} | ${all.ratios[k] ?? 'null'} |`);
  console.log(lines.join('\n'));
  console.log(`\nwritten ${OUT}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// The threaded build's pool workers (src/wasm/threads.rs). wasm-bindgen ships this file
// beside the package's glue (snippets/…/src/wasm/pool.js). It has two roles:
//   - imported by the glue: `startWorkers`, called by `initThreadPool(n)`;
//   - run as a Web Worker named "sotto-pool": instantiate the glue's module on the shared
//     memory, say "ready", then run one of rayon's threads for good (`poolWorkerRun`).
// The worker script is this same-origin file (not a blob: URL), so a page whose policy is
// `worker-src 'self'` can start it. A worker that fails to load, reports an error or says
// nothing within START_TIMEOUT_MS fails the whole start: every worker is terminated and
// the promise rejects, so the caller falls back to the single-thread build.

const NAME = 'sotto-pool';
const START_TIMEOUT_MS = 30_000;

if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope && self.name === NAME) {
  self.onmessage = async ({ data }) => {
    let glue;
    try {
      glue = await import(data.glue);
      await glue.default({ module_or_path: data.module, memory: data.memory });
    } catch (e) {
      self.postMessage({ type: 'error', message: String(e?.message || e) });
      return;
    }
    self.postMessage({ type: 'ready' });
    glue.poolWorkerRun(); // runs rayon's thread until the worker is terminated
  };
}

let running = []; // the pool's workers, referenced for as long as the page lives

export async function startWorkers(module, memory, glue, starter) {
  const workers = [];
  const start = () =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { type: 'module', name: NAME });
      workers.push(w);
      const timer = setTimeout(() => reject(new Error(`a pool worker did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      w.onerror = (ev) => {
        ev.preventDefault?.();
        clearTimeout(timer);
        reject(new Error(`a pool worker failed to load: ${ev.message || 'error'}`));
      };
      w.onmessage = ({ data }) => {
        clearTimeout(timer);
        if (data?.type === 'ready') resolve();
        else reject(new Error(`a pool worker failed: ${data?.message ?? 'unknown error'}`));
      };
      w.postMessage({ module, memory, glue });
    });
  try {
    await Promise.all(Array.from({ length: starter.threads }, start));
    const size = starter.build();
    running = running.concat(workers);
    return size;
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  } finally {
    starter.free();
  }
}

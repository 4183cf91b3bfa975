//! The threaded build's pool (feature `threads`): `initThreadPool(n)` starts `n` Web
//! Workers that instantiate this same module on its shared memory, then makes them rayon's
//! global pool, which the kernels split their rows over ([`crate::par`]).
//!
//! Decisions:
//! - **Workers first, pool second.** rayon hands each of its threads to a spawn handler
//!   when the global pool is built; here the handler puts it in a queue that every started
//!   worker is already blocked on ([`poolWorkerRun`](pool_worker_run)). The pool is built
//!   only once all `n` workers have said they are ready, so a worker that fails to load
//!   (a missing file, a refused shared memory) fails the start, which the caller turns into
//!   the single-thread fallback, instead of a pool whose jobs would wait forever.
//! - **Same-origin worker script.** The workers run `src/wasm/pool.js` (shipped by
//!   wasm-bindgen under `snippets/`), a file of the package, so a page whose
//!   Content-Security-Policy says `worker-src 'self'` (the demo's) allows them; they import
//!   the package's JS glue by its URL (`import.meta.url` of the glue).
//! - **Call it first.** rayon's global pool is made once: anything that touches rayon before
//!   `initThreadPool` (a kernel call) fixes it at one thread, and the start then fails with
//!   `InvalidOption`.

use std::sync::{Condvar, Mutex, OnceLock};

use rayon::ThreadBuilder;
use wasm_bindgen::prelude::*;

use super::{js_error, JsResult};
use crate::error::Error;

/// rayon's threads waiting for a worker to run them.
#[derive(Default)]
struct Queue {
    threads: Mutex<Vec<ThreadBuilder>>,
    ready: Condvar,
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<Queue> = OnceLock::new();
    QUEUE.get_or_init(Queue::default)
}

/// Most threads a pool may have.
const MAX_THREADS: usize = 64;

#[wasm_bindgen(module = "/src/wasm/pool.js")]
extern "C" {
    /// Start `starter.threads` workers on `module` and `memory`, wait until each is ready,
    /// then `starter.build()`; resolves to the pool size.
    #[wasm_bindgen(js_name = startWorkers)]
    fn start_workers(module: JsValue, memory: JsValue, main_js: JsValue, starter: PoolStarter) -> js_sys::Promise;
}

#[wasm_bindgen]
extern "C" {
    /// The URL of this package's JS glue, which each worker imports.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: js_sys::JsString;
}

/// Handed to `pool.js`: how many workers to start, and the pool to build once they run.
#[wasm_bindgen]
pub struct PoolStarter {
    threads: usize,
}

#[wasm_bindgen]
impl PoolStarter {
    /// Workers to start.
    #[wasm_bindgen(getter)]
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Build rayon's global pool of `threads` threads, each put in the queue the started
    /// workers wait on. Fails if a pool exists already (also one made implicitly).
    pub fn build(&self) -> JsResult<usize> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("sotto-pool-{i}"))
            .spawn_handler(|thread| {
                let q = queue();
                q.threads.lock().unwrap_or_else(|e| e.into_inner()).push(thread);
                q.ready.notify_one();
                Ok(())
            })
            .build_global()
            .map_err(|e| {
                js_error(&Error::InvalidOption {
                    name: "threads",
                    detail: format!("the thread pool cannot be built ({e}); call initThreadPool before anything else"),
                })
            })?;
        Ok(rayon::current_num_threads())
    }
}

/// Start a pool of `threads` Web Workers for the kernels (the threaded build only; needs
/// a cross-origin-isolated page or worker). Resolves to the pool size; rejects, leaving no
/// worker running, if a worker cannot start or a pool exists already.
#[wasm_bindgen(js_name = initThreadPool, unchecked_return_type = "Promise<number>")]
pub fn init_thread_pool(threads: usize) -> JsResult<js_sys::Promise> {
    super::init();
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(js_error(&Error::InvalidOption {
            name: "threads",
            detail: format!("{threads} is not in 1..={MAX_THREADS}"),
        }));
    }
    let main_js: JsValue = GLUE_URL.with(|u| u.clone()).into();
    Ok(start_workers(wasm_bindgen::module(), wasm_bindgen::memory(), main_js, PoolStarter { threads }))
}

/// Run by each pool worker once it has instantiated the module: wait for one of rayon's
/// threads and run it (for as long as the pool lives; it does not return).
#[wasm_bindgen(js_name = poolWorkerRun)]
pub fn pool_worker_run() -> JsResult<()> {
    let q = queue();
    let mut threads = q.threads.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(thread) = threads.pop() {
            drop(threads);
            thread.run();
            return Ok(());
        }
        threads = q.ready.wait(threads).unwrap_or_else(|e| e.into_inner());
    }
}

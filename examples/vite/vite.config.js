import { defineConfig } from 'vite';

// Nothing Sotto-specific is needed for `vite build`: the client's
// `new Worker(new URL('./worker.js', import.meta.url), {type: 'module'})` makes Vite bundle
// worker.js with the wasm glue it imports, and the glue's `new URL('sotto_bg.wasm',
// import.meta.url)` makes it emit the .wasm (once, shared with the page). The default
// worker format ('iife') works: the worker is one chunk, and Vite rewrites its
// import.meta.url to self.location.href (tests/browser/vite.mjs runs the build).
export default defineConfig({
  // Relative asset URLs: dist/ can be served from any path.
  base: './',
  // For `vite dev` with sotto installed from a registry (not exercised by the test, which
  // builds): pre-bundling copies the package into node_modules/.vite/deps, where the
  // relative worker and .wasm URLs point at nothing (vitejs/vite#8427). A linked package,
  // as here, is not pre-bundled.
  optimizeDeps: { exclude: ['sotto'] },
});

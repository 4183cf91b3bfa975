import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Nothing Sotto-specific: webpack 5 bundles `new Worker(new URL('./worker.js',
// import.meta.url))` as a worker entry and emits `new URL('sotto_bg.wasm', import.meta.url)`
// as an asset. The app is the Vite example's; its `?raw` imports become asset/source.
export default {
  mode: 'production',
  context: here,
  entry: { main: '../vite/src/main.js' },
  output: { path: resolve(here, 'dist'), filename: '[name].[contenthash:8].js', clean: true },
  // The app's imports resolve in this example's node_modules, not examples/vite's.
  resolve: { modules: [resolve(here, 'node_modules'), 'node_modules'] },
  module: { rules: [{ resourceQuery: /raw/, type: 'asset/source' }] },
  performance: { hints: false },
};

// webpack's build, then dist/index.html: the Vite example's page with the bundle in place of
// its module script.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import webpack from 'webpack';
import config from './webpack.config.js';

const stats = await new Promise((ok, fail) => webpack(config, (err, s) => (err ? fail(err) : ok(s))));
if (stats.hasErrors()) {
  console.error(stats.toString('errors-only'));
  process.exit(1);
}
const main = stats.toJson({ all: false, entrypoints: true }).entrypoints.main.assets.map((a) => a.name);
const page = readFileSync(join(config.context, '..', 'vite', 'index.html'), 'utf8');
const script = '<script type="module" src="/src/main.js"></script>';
if (!page.includes(script)) throw new Error(`examples/vite/index.html has no ${script}`);
writeFileSync(join(config.output.path, 'index.html'), page.replace(script, main.map((f) => `<script defer src="./${f}"></script>`).join('')));
console.log(stats.toString({ preset: 'summary', assets: true, colors: false }));

// Extracts the JavaScript samples of docs/cookbook.md into .stage/cookbook/, one module per
// recipe (its ```js blocks in order), for `tsc -p tsconfig.cookbook.json` to check against the
// staged declarations. A recipe that uses what another one set up declares it in a hidden
// `<!-- check-prelude: … -->` line, put at the top of its module. Each block starts with a
// comment giving its line in the cookbook, so an error is easy to find.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '../../docs/cookbook.md');
const out = join(here, '.stage/cookbook');
const lines = readFileSync(source, 'utf8').split('\n');

const recipes = [];
let recipe = null;
let block = null;
let other = false; // inside a fence of another language
lines.forEach((line, i) => {
  if (other) {
    if (/^```\s*$/.test(line)) other = false;
    return;
  }
  if (block) {
    if (/^```\s*$/.test(line)) {
      recipe.code.push(block.join('\n'));
      block = null;
    } else block.push(line);
    return;
  }
  if (line.startsWith('## ')) {
    recipe = { title: line.slice(3), prelude: [], code: [] };
    recipes.push(recipe);
    return;
  }
  const prelude = line.match(/^<!-- check-prelude: (.*) -->$/);
  if (prelude && recipe) recipe.prelude.push(prelude[1]);
  if (/^```js\s*$/.test(line)) {
    if (!recipe) throw new Error(`docs/cookbook.md:${i + 1}: a sample before the first recipe`);
    block = [`// docs/cookbook.md:${i + 2}`];
  } else if (line.startsWith('```')) other = true;
});
if (block || other) throw new Error('docs/cookbook.md: a code block is not closed');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
let n = 0;
for (const r of recipes) {
  if (!r.code.length) continue;
  n += r.code.length;
  // Imports must come first in a module: hoist them above the prelude.
  const body = r.code.join('\n\n').split('\n');
  const imports = body.filter((l) => /^import\s/.test(l));
  const rest = body.filter((l) => !/^import\s/.test(l));
  const name = r.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  writeFileSync(join(out, `${name}.js`), [...imports, ...r.prelude, ...rest, 'export {};', ''].join('\n'));
}
if (!n) throw new Error('docs/cookbook.md: no ```js samples found');
console.log(`cookbook: ${n} samples in ${recipes.filter((r) => r.code.length).length} recipes extracted`);

// sotto/langchain as a LangChain.js user gets it: the package in pkg/ is packed (`npm pack`,
// what `npm install sotto` unpacks) and installed with @langchain/core from npm into a
// fresh consumer project under target/, then langchain-consumer/main.mjs runs there
// (retriever.invoke, a chain, batch, errors) on the real all-MiniLM-L6-v2 weights.
// Run by scripts/test-browser.sh after build-wasm.sh; needs www/models (fetch-models.sh).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const PKG = join(ROOT, 'pkg');
const MODELS = join(ROOT, 'www', 'models', 'all-MiniLM-L6-v2');
const WORK = join(ROOT, 'target', 'langchain-consumer');
for (const need of [join(PKG, 'langchain.js'), join(MODELS, 'model.safetensors')]) {
  if (!existsSync(need)) throw new Error(`${need} is missing: run scripts/build-wasm.sh and scripts/fetch-models.sh first`);
}
// The @langchain/core version the test pins (tests/browser/package.json).
const core = JSON.parse(readFileSync(join(HERE, 'package.json'), 'utf8')).devDependencies['@langchain/core'];

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const tarball = execFileSync('npm', ['pack', PKG, '--pack-destination', WORK, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
writeFileSync(join(WORK, 'package.json'), JSON.stringify({
  name: 'sotto-langchain-consumer', private: true, type: 'module',
  dependencies: { sotto: `file:./${tarball}`, '@langchain/core': core },
}, null, 1));
execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: WORK, stdio: 'inherit' });
cpSync(join(HERE, 'langchain-consumer', 'main.mjs'), join(WORK, 'main.mjs'));
execFileSync(process.execPath, ['main.mjs'], { cwd: WORK, stdio: 'inherit', env: { ...process.env, SOTTO_MINILM: MODELS } });

// TypeDoc configuration of the API reference (docs/api/), run by scripts/api-docs.sh over the
// declarations stage.mjs copied from pkg/. Markdown (typedoc-plugin-markdown) so the
// reference is committed next to the other docs and read on the repository's pages; one
// page per entry point.
import { readFileSync } from 'node:fs';

// Exported declarations that have no doc comment yet, one TypeDoc name a line ("#" comments).
// Validation fails on an undocumented declaration not listed here, and on a listed one that
// has been documented since (then remove it from the list): the list only shrinks.
const undocumented = readFileSync(new URL('./undocumented.txt', import.meta.url), 'utf8')
  .split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);

/** @type {Partial<import('typedoc').TypeDocOptions & import('typedoc-plugin-markdown').PluginOptions>} */
export default {
  entryPoints: ['.stage/sotto/sotto.d.ts', '.stage/sotto/client.d.ts', '.stage/sotto/langchain.d.ts'],
  tsconfig: 'tsconfig.json',
  plugin: ['typedoc-plugin-markdown'],
  out: '.stage/api',
  name: 'Sotto API reference',
  readme: 'none',
  // Source links would point into .stage/; the declarations are in pkg/ (from www/*.d.ts and src/wasm/mod.rs).
  disableSources: true,
  // SottoRetriever's members inherited from @langchain/core are LangChain's to document.
  excludeExternals: true,
  excludePrivate: true,
  sort: ['kind', 'source-order'],
  outputFileStrategy: 'modules',
  entryFileName: 'README.md',
  hidePageHeader: true,
  hideBreadcrumbs: true,
  useCodeBlocks: true,
  parametersFormat: 'table',
  interfacePropertiesFormat: 'table',
  classPropertiesFormat: 'table',
  typeAliasPropertiesFormat: 'table',
  typeDeclarationFormat: 'table',
  // Every exported class, interface, type, function and method needs a comment; fields of
  // the data types may go without (their names and types say what they are).
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  requiredToBeDocumented: ['Class', 'Interface', 'TypeAlias', 'Function', 'Variable', 'Enum', 'Method', 'Constructor'],
  intentionallyNotDocumented: undocumented,
  treatValidationWarningsAsErrors: true,
};

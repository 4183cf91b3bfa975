// sotto/langchain: Sotto as a LangChain.js retriever. `@langchain/core` is an optional
// peer dependency: install it next to sotto to use this entry (nothing else imports it).
//
//   import { SottoRetriever } from 'sotto/langchain';
//   const retriever = new SottoRetriever({ engine, k: 4 });   // engine: createEngine() or new SottoEngine()
//   const docs = await retriever.invoke('How do I pin a dependency?');
//
// Each Document carries the chunk text as `pageContent`; `metadata` holds where it comes
// from (doc_id, title, heading_path, the UTF-8 byte span in the cleaned text) and the
// scores, so a chain can cite it.
import { BaseRetriever } from '@langchain/core/retrievers';
import { Document } from '@langchain/core/documents';

export class SottoRetriever extends BaseRetriever {
  static lc_name() {
    return 'SottoRetriever';
  }

  /**
   * @param {object} fields
   * @param {object} fields.engine a Sotto client (createEngine) or a SottoEngine: anything with search(query, opts)
   * @param {number} [fields.k] chunks returned (default 4)
   * @param {object} [fields.searchOptions] other search options (mode, filters, rerank, translate, …)
   */
  constructor(fields = {}) {
    const { engine, k = 4, searchOptions = {}, ...rest } = fields;
    super(rest);
    if (!engine || typeof engine.search !== 'function') {
      throw new TypeError('SottoRetriever needs {engine}: a Sotto client or SottoEngine with search(query, opts)');
    }
    this.lc_namespace = ['sotto', 'retrievers'];
    this.engine = engine;
    this.k = k;
    this.searchOptions = searchOptions;
  }

  async _getRelevantDocuments(query) {
    const result = await this.engine.search(query, { ...this.searchOptions, k: this.k });
    // The worker client resolves to {hits, trace, …}; the wasm engine returns the hits.
    const hits = Array.isArray(result) ? result : result.hits;
    return hits.map(
      (h) =>
        new Document({
          id: `${h.doc_id}#${h.chunk_id}`,
          pageContent: h.text,
          metadata: {
            source: h.doc_id,
            doc_id: h.doc_id,
            chunk_id: h.chunk_id,
            title: h.title,
            heading_path: h.heading_path,
            start: h.start,
            end: h.end,
            rank: h.rank,
            score: h.score,
            dense_score: h.dense_score,
            sparse_score: h.sparse_score,
          },
        }),
    );
  }
}

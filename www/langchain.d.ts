// Types of sotto/langchain. Requires the optional peer dependency @langchain/core.
import { BaseRetriever, type BaseRetrieverInput } from '@langchain/core/retrievers';
import type { Document } from '@langchain/core/documents';
import type { SearchHit, SearchOpts } from './sotto.js';

/** Anything that searches like Sotto: the worker client (createEngine) or a SottoEngine. */
export interface SottoSearcher {
  /** Search the index: the wasm engine returns the hits, the client resolves to {hits, …}. */
  search(query: string, opts?: SearchOpts): SearchHit[] | Promise<SearchHit[] | { hits: SearchHit[] }>;
}

/** Metadata of a retrieved Document: where the chunk comes from and its scores. */
export interface SottoDocumentMetadata {
  source: string; doc_id: string; chunk_id: number; title: string | null; heading_path: string[];
  /** UTF-8 byte span of the chunk in the document's cleaned text. */
  start: number; end: number;
  rank: number; score: number; dense_score: number | null; sparse_score: number | null;
}

/** Options of SottoRetriever, besides LangChain's own (callbacks, tags, metadata). */
export interface SottoRetrieverInput extends BaseRetrieverInput {
  engine: SottoSearcher;
  /** Chunks returned (default 4). */
  k?: number;
  /** Other search options (mode, filters, rerank, translate, …); `k` comes from `k`. */
  searchOptions?: Omit<SearchOpts, 'k'>;
}

/** A LangChain retriever over Sotto: `invoke(query)` resolves to Documents whose pageContent is a chunk's text. */
export declare class SottoRetriever extends BaseRetriever {
  static lc_name(): string;
  lc_namespace: string[];
  engine: SottoSearcher;
  k: number;
  searchOptions: Omit<SearchOpts, 'k'>;
  /** Throws a TypeError without an `engine` that can search. */
  constructor(fields: SottoRetrieverInput);
  _getRelevantDocuments(query: string): Promise<Document<SottoDocumentMetadata>[]>;
}

"""Where retrieval gets its candidates: the local FAISS index (default) or Milvus, chosen by settings.vector_store.

    store = open_store(settings, stored, corpus)      # at load; VectorStoreUnavailable when Milvus cannot be used
    rows, bm25 = store.propose(query_vectors, lexical_queries, dense_depth, lexical_depth)
    warnings = sync_store(settings, passages, tokens, matrix, model_id)   # end of ingest: Milvus gets what the index has

A store only proposes: the rows of the dense top `dense_depth` of each query vector and of the BM25 top
`lexical_depth` of each lexical query, and the BM25 score of every proposed row (one array over all rows, 0 where
a row was not scored). The retriever (bot/retrieve.py) fuses and ranks them with the exact cosines of the local
index, whatever the store. The local index (bot/index.py) stays the source of passage text and metadata.

- `faiss` (FaissStore): the local index's FAISS vectors and the Corpus's in-process BM25 (bm25s) over all passages.
- `milvus` (bot/milvus_store.py): a Milvus collection, embedded Milvus Lite (a `.db` path) or a server/cluster
  (`http://host:19530`); dense search and Milvus's own BM25 function. Imported only when configured.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import faiss
import numpy as np

from bot.corpus import Corpus
from bot.index import StoredIndex
from bot.settings import Settings
from bot.types import Passage


class CandidateStore(Protocol):
    def propose(self, query_vectors: np.ndarray, lexical_queries: Sequence[Sequence[str]], dense_depth: int,
                lexical_depth: int) -> tuple[set[int], np.ndarray]:
        """(candidate rows, BM25 score of every row: 0 where not scored). Depths are at most the row count."""
        ...


class FaissStore:
    """Dense candidates from the local FAISS index, BM25 over every passage from the Corpus (one machine)."""

    def __init__(self, stored: StoredIndex, corpus: Corpus) -> None:
        # One query at a time: OpenMP threads buy nothing (national index, 70,332 x 384: 3.6 ms with one thread,
        # 4.7 ms with two) and their busy-waiting fights the embedding model for 2 cores (seconds under load).
        faiss.omp_set_num_threads(1)
        self.vectors = stored.vectors
        self.corpus = corpus
        self.size = len(stored.passages)

    def propose(self, query_vectors: np.ndarray, lexical_queries: Sequence[Sequence[str]], dense_depth: int,
                lexical_depth: int) -> tuple[set[int], np.ndarray]:
        _, rows = self.vectors.search(query_vectors, dense_depth)
        candidates = set(rows[rows >= 0].tolist())
        bm25 = np.zeros(self.size, dtype=np.float32)
        for query_tokens in lexical_queries:
            if query_tokens:
                bm25 = np.maximum(bm25, self.corpus.bm25(query_tokens))
        if bm25.max() > 0:
            top = np.argpartition(-bm25, lexical_depth - 1)[:lexical_depth]
            candidates.update(int(r) for r in top if bm25[r] > 0)
        return candidates, bm25


def open_store(settings: Settings, stored: StoredIndex, corpus: Corpus) -> CandidateStore:
    """The configured store over `stored`. Milvus: connects, brings the collection in line with the index
    (bot.milvus_store), or raises VectorStoreUnavailable naming the URI."""
    if settings.vector_store == "milvus":
        from bot.milvus_store import MilvusStore

        return MilvusStore.open(settings, stored)
    return FaissStore(stored, corpus)


def sync_store(settings: Settings, passages: list[Passage], tokens: list[list[str]], matrix: np.ndarray,
               model_id: str) -> list[str]:
    """After ingest wrote a version: make the configured external store hold exactly these passages (by content
    hash: new ones inserted with the vectors ingest already has, gone ones deleted). Returns warnings.
    Nothing to do for faiss (the version folder is the store)."""
    if settings.vector_store != "milvus":
        return []
    from bot.milvus_store import sync

    return sync(settings, passages, tokens, matrix, model_id)

"""Hybrid retrieval: dense (FAISS, cosine) and BM25 (Chinese words, Simplified), fused by reciprocal rank.

English questions over Chinese documents: the question is embedded as it is (the model is multilingual),
and it is also expanded into the corpus' own Chinese words through a bilingual lexicon (bot.crosslingual);
those words drive BM25 and a second dense query. An LLM, when configured, can add a translated query
(`extra_queries`), which is fused the same way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.crosslingual import EnglishExpander
from bot.embeddings import EmbeddingBackend
from bot.index import StoredIndex
from bot.language import detect, normalize_for_match
from bot.lexical import LexicalIndex, idf_table, tokenize
from bot.settings import Settings
from bot.types import Hit, Language


class HybridRetriever:
    def __init__(self, stored: StoredIndex, embeddings: EmbeddingBackend, settings: Settings) -> None:
        self.passages = stored.passages
        self.vectors = stored.vectors
        self.embeddings = embeddings
        self.settings = settings
        self.lexical = LexicalIndex(stored.tokens)
        self.idf = idf_table(stored.tokens)
        self.expander = EnglishExpander(stored.lexicon)
        # Passages with identical text (a paragraph repeated in a document) are returned once.
        self._dedup_key = [normalize_for_match(p.text) for p in self.passages]

    def query_terms(self, question: str, language: Language) -> list[str]:
        """The Chinese words BM25 looks for: the question's own, or its expansion for English."""
        if language == "en":
            return self.expander.expand(question)
        return tokenize(question)

    def search(
        self, question: str, k: int = 5, language: Language | None = None, extra_queries: Sequence[str] = ()
    ) -> list[Hit]:
        if not self.passages:
            return []
        language = language or detect(question)
        n = len(self.passages)
        dense_n = min(self.settings.dense_candidates, n)
        lexical_n = min(self.settings.lexical_candidates, n)

        dense_queries = [question]
        terms = self.query_terms(question, language)
        if language == "en" and terms:
            dense_queries.append(" ".join(terms))
        lexical_queries = [terms]
        for extra in extra_queries:
            dense_queries.append(extra)
            lexical_queries.append(tokenize(extra))

        rankings: list[np.ndarray] = []
        best_cosine = np.full(n, -1.0, dtype=np.float32)
        query_vectors = np.vstack([self.embeddings.embed_query_array(q) for q in dense_queries])
        cosines, rows = self.vectors.search(query_vectors, dense_n)
        for q_rows, q_cos in zip(rows, cosines):
            valid = q_rows >= 0
            rankings.append(q_rows[valid])
            np.maximum.at(best_cosine, q_rows[valid], q_cos[valid])
        # The original question's cosine is the one that says how well the documents cover it.
        question_cosine = np.full(n, np.nan, dtype=np.float32)
        question_cosine[rows[0][rows[0] >= 0]] = cosines[0][rows[0] >= 0]

        bm25 = np.zeros(n, dtype=np.float32)
        for query_tokens in lexical_queries:
            if not query_tokens:
                continue
            scores = self.lexical.scores(query_tokens)
            bm25 = np.maximum(bm25, scores)
            top = np.argsort(-scores, kind="stable")[:lexical_n]
            rankings.append(top[scores[top] > 0])

        fused = np.zeros(n, dtype=np.float64)
        for ranking in rankings:
            fused[ranking] += 1.0 / (self.settings.rrf_k + 1 + np.arange(len(ranking)))
        order = np.argsort(-fused, kind="stable")

        hits: list[Hit] = []
        seen: set[str] = set()
        for row in order:
            if fused[row] <= 0 or len(hits) >= k:
                break
            key = self._dedup_key[row]
            if key in seen:
                continue
            seen.add(key)
            hits.append(
                Hit(
                    passage=self.passages[row],
                    score=float(fused[row]),
                    dense_score=None if np.isnan(question_cosine[row]) else float(question_cosine[row]),
                    lexical_score=float(bm25[row]) if bm25[row] > 0 else None,
                )
            )
        return hits


class LangChainRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's retriever interface (for use in other LangChain chains)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    hybrid: HybridRetriever
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=h.passage.text, metadata={**h.passage.model_dump(exclude={"text"}), "score": h.score})
            for h in self.hybrid.search(query, self.k)
        ]

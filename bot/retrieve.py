"""Hybrid retrieval: dense (FAISS, cosine) and BM25 (Chinese words, Simplified), fused by reciprocal rank.

English questions over Chinese documents: the question is embedded as it is (the model is multilingual),
and it is also expanded into the corpus' own Chinese words through a bilingual lexicon (bot.crosslingual);
those words drive BM25. Chinese questions get their colloquial words mapped to the documents' (bot.thesaurus). An LLM, when configured, can add a translated query
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
from bot.thesaurus import Thesaurus
from bot.types import Hit, Language


class HybridRetriever:
    def __init__(self, stored: StoredIndex, embeddings: EmbeddingBackend, settings: Settings) -> None:
        self.passages = stored.passages
        self.vectors = stored.vectors
        # Exact cosines for the fused candidates (n x d float32: 30 MB for 20,000 passages).
        self.matrix = stored.vectors.reconstruct_n(0, stored.vectors.ntotal) if stored.vectors.ntotal else np.zeros((0, stored.vectors.d), dtype=np.float32)
        self.embeddings = embeddings
        self.settings = settings
        self.lexical = LexicalIndex(stored.tokens)
        self.idf = idf_table(stored.tokens)
        self.expander = EnglishExpander(stored.lexicon)
        self.expander_lexicon = stored.lexicon
        self.thesaurus = Thesaurus.load(self.lexical.vocabulary)
        # Passages with identical text (a paragraph repeated in a document) are returned once.
        self._dedup_key = [normalize_for_match(p.text) for p in self.passages]

    def query_terms(self, question: str, language: Language) -> list[str]:
        """The Chinese words BM25 looks for: the question's own, or its expansion for English."""
        if language == "en":
            return self.expander.expand(question)
        own = tokenize(question)
        # Thesaurus words join the question's own (which can be weighted up with own_words_weight).
        return own * self.settings.own_words_weight + [w for w in self.thesaurus.expand(question) if w not in own]

    def search(
        self, question: str, k: int = 5, language: Language | None = None, extra_queries: Sequence[str] = ()
    ) -> list[Hit]:
        """Best `k` passages: score = cosine + lexical_weight * BM25 / best BM25, over the union of candidates.

        A convex combination of scores, not of ranks: measured on the dev set it ranks better than reciprocal
        rank fusion (README, "Retrieval"), because a confident BM25 match on a specific word is not diluted
        by a flat dense ranking, and vice versa.
        """
        if not self.passages:
            return []
        language = language or detect(question)
        n = len(self.passages)
        terms = self.query_terms(question, language)
        dense_queries = [question, *extra_queries]
        lexical_queries = [terms, *(tokenize(q) for q in extra_queries)]

        # Dense: the vector index proposes candidates; exact cosines for every candidate come from the matrix.
        query_vectors = np.vstack([self.embeddings.embed_query_array(q) for q in dense_queries])
        _, rows = self.vectors.search(query_vectors, min(self.settings.dense_candidates, n))
        candidates = set(rows[rows >= 0].tolist())

        bm25 = np.zeros(n, dtype=np.float32)
        for query_tokens in lexical_queries:
            if query_tokens:
                bm25 = np.maximum(bm25, self.lexical.scores(query_tokens))
        if bm25.max() > 0:
            top = np.argpartition(-bm25, min(self.settings.lexical_candidates, n) - 1)[: self.settings.lexical_candidates]
            candidates.update(int(r) for r in top if bm25[r] > 0)

        cand = np.fromiter(candidates, dtype=np.int64)
        cosine = self.matrix[cand] @ query_vectors.T  # (candidates, queries)
        question_cosine = cosine[:, 0]
        best_cosine = cosine.max(axis=1)
        if self.settings.fusion == "rrf":
            fused = _rrf(best_cosine, self.settings.rrf_k) + _rrf(np.where(bm25[cand] > 0, bm25[cand], -np.inf), self.settings.rrf_k)
        else:
            lexical = bm25[cand] / bm25.max() if bm25.max() > 0 else np.zeros(len(cand), dtype=np.float32)
            fused = best_cosine + self.settings.lexical_weight * lexical
        order = np.argsort(-fused, kind="stable")

        hits: list[Hit] = []
        seen: set[str] = set()
        for i in order:
            if len(hits) >= k:
                break
            row = int(cand[i])
            key = self._dedup_key[row]
            if key in seen:
                continue
            seen.add(key)
            hits.append(
                Hit(
                    passage=self.passages[row],
                    score=float(fused[i]),
                    dense_score=float(question_cosine[i]),
                    lexical_score=float(bm25[row]) if bm25[row] > 0 else None,
                )
            )
        return hits


def _rrf(scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion term of each candidate (0 for candidates this ranking did not find)."""
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return np.where(np.isfinite(scores), 1.0 / (k + ranks), 0.0)


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

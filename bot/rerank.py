"""A learned linear ranker over retrieval and question-memory features.

Hybrid retrieval proposes candidates; the reranker scores each from a few features, with weights fitted by
logistic regression on real questions (benchmarks/fit_reranker.py writes bot/data/reranker.json, and says on
which split it was fitted). Only an index that holds statute articles and a question memory is reranked:
the features describe articles.

Features of a candidate passage (one row of the matrix, in FEATURES order):
    dense         cosine between the question and the passage
    bm25          BM25 score / best BM25 score of the question
    rank          1 / (1 + rank in the hybrid ranking); 1/151 for a passage only the memory proposed
    vote          log(1 + 10 * summed weight of the remembered questions that name the passage's article)
    vote_max      best cosine of such a remembered question (0 if none)
    prior         log(1 + number of remembered questions that name the article)
    retrieved     1 if hybrid retrieval proposed it, 0 if only the memory did
    law_vote      share of the neighbours' weight on the passage's law
    chapter_vote  share of the neighbours' weight on the passage's chapter
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.memory import Votes
from bot.types import Passage

RERANKER_PATH = Path(__file__).resolve().parent / "data" / "reranker.json"
FEATURES = ("dense", "bm25", "rank", "vote", "vote_max", "prior", "retrieved", "law_vote", "chapter_vote")
UNRANKED = 150  # the rank given to a passage that only the memory proposed


def feature_matrix(passages: list[Passage], rows: np.ndarray, dense: np.ndarray, bm25: np.ndarray,
                   ranks: np.ndarray, votes: Votes) -> np.ndarray:
    """(len(rows), len(FEATURES)) features; `dense`, `bm25` (normalised) and `ranks` are per row."""
    out = np.zeros((len(rows), len(FEATURES)), dtype=np.float32)
    for i, row in enumerate(rows):
        p = passages[int(row)]
        key = p.article_key
        out[i, 0] = dense[i]
        out[i, 1] = bm25[i]
        out[i, 2] = 1.0 / (1.0 + ranks[i])
        if key is not None:
            out[i, 3] = np.log1p(10.0 * votes.article.get(key, 0.0))
            out[i, 4] = votes.article_max.get(key, 0.0)
            out[i, 5] = np.log1p(max(0, votes.prior.get(key, 0)))
            out[i, 7] = votes.law.get(p.law_key, 0.0)
            out[i, 8] = votes.chapter.get((p.law_key, p.section), 0.0)
        out[i, 6] = float(ranks[i] < UNRANKED)
    return out


@dataclass
class LinearReranker:
    weights: np.ndarray
    bias: float
    fitted_on: str = ""

    @classmethod
    def load(cls, path: Path = RERANKER_PATH) -> LinearReranker | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: features {data['features']} differ from the code's {FEATURES}; refit it")
        return cls(np.asarray(data["weights"], dtype=np.float32), float(data["bias"]), data.get("fitted_on", ""))

    def scores(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights + self.bias

"""A learned ranker over retrieval and question-memory features: a linear model and gradient-boosted trees,
their logits summed (any of the three kinds loads: "linear", "trees", "sum").

Hybrid retrieval proposes candidates; the reranker scores each from a few features. Its model is fitted on real
questions (benchmarks/fit_reranker.py writes bot/data/reranker.json, and says on which split it was fitted).
Only an index that holds statute articles and a question memory is reranked: most features describe articles.

Features of a candidate passage (one row of the matrix, in FEATURES order):
    dense          cosine between the question and the passage
    bm25           BM25 score / best BM25 score of the question
    rank           1 / (1 + rank in the hybrid ranking); 1/151 for a passage only the memory proposed
    vote           log(1 + 10 * summed weight of the remembered questions that name the passage's article),
                   of the neighbours people asked (or that were written for what borrowers ask)
    vote_max       best cosine of such a remembered question (0 if none)
    prior          log(1 + number of remembered questions that name the article)
    retrieved      1 if hybrid retrieval proposed it, 0 if only the memory did
    law_vote       share of the neighbours' weight on the passage's law
    chapter_vote   share of the neighbours' weight on the passage's chapter
    law_best       best cosine among the candidates of the passage's law (its document, for other passages),
                   minus the best cosine of all candidates: how strongly the question points at that law
    chapter_best   the same for the passage's chapter (heading path)
    dense_z        the cosine as a z-score among the candidates (how far it stands out, whatever the question)
    length         log(1 + characters of the passage): long articles match many words without being about them
    coverage_vote  as vote, of the neighbours among the coverage questions (bot.memory.COVERAGE_SOURCES: written
                   for every article, so they speak for articles nobody asked about, but not for popularity)
    question_bm25  BM25 of the best remembered question naming the article among the 10 that share the most words
                   with the question, / the best of all (0 if none): the memory's lexical side, everyday words
    expanded_bm25  BM25 of the article's text with all its coverage questions appended, / the best article's
                   (bot.memory.Profiles; 0 for a passage without coverage questions)
    profile_cosine cosine between the question and the mean vector of the article's coverage questions
    profile_z      that cosine as a z-score among the candidates

The group features let a nonlinear model tell the article that answers from its neighbours in the right
chapter, which is where the linear model's misses were (README, "How it answers").
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.memory import Votes
from bot.types import Passage

RERANKER_PATH = Path(__file__).resolve().parent / "data" / "reranker.json"
FEATURES = ("dense", "bm25", "rank", "vote", "vote_max", "prior", "retrieved", "law_vote", "chapter_vote",
            "law_best", "chapter_best", "dense_z", "length", "coverage_vote", "question_bm25", "expanded_bm25",
            "profile_cosine", "profile_z")
UNRANKED = 150  # the rank given to a passage that only the memory proposed


def feature_matrix(passages: list[Passage], rows: np.ndarray, dense: np.ndarray, bm25: np.ndarray,
                   ranks: np.ndarray, votes: Votes) -> np.ndarray:
    """(len(rows), len(FEATURES)) features; `dense`, `bm25` (normalised) and `ranks` are per row."""
    n = len(rows)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    law_of: list[str] = []
    chapter_of: list[tuple[str, str]] = []
    for i, row in enumerate(rows):
        p = passages[int(row)]
        key = p.memory_key  # an article, or a passage of another document (bot.types)
        out[i, 0] = dense[i]
        out[i, 1] = bm25[i]
        out[i, 2] = 1.0 / (1.0 + ranks[i])
        out[i, 3] = np.log1p(10.0 * votes.article.get(key, 0.0))
        out[i, 4] = votes.article_max.get(key, 0.0)
        out[i, 5] = np.log1p(max(0, votes.prior.get(key, 0)))
        out[i, 7] = votes.law.get(key[0], 0.0)
        out[i, 8] = votes.chapter.get((key[0], p.section), 0.0)
        out[i, 13] = np.log1p(10.0 * votes.coverage.get(key, 0.0))
        out[i, 14] = votes.lexical.get(key, 0.0)
        profile = votes.profile_row.get(key)
        if profile is not None:
            out[i, 15] = votes.expanded[profile]
            out[i, 16] = votes.centroid[profile]
        out[i, 6] = float(ranks[i] < UNRANKED)
        out[i, 12] = np.log1p(len(p.text))
        law_of.append(p.law_key or p.doc_id)
        chapter_of.append((law_of[-1], p.section))
    if n:
        dense = np.asarray(dense, dtype=np.float32)
        for group, column in ((law_of, 9), (chapter_of, 10)):
            ids: dict = {}
            inverse = np.fromiter((ids.setdefault(g, len(ids)) for g in group), dtype=np.int64, count=n)
            best = np.full(len(ids), -np.inf, dtype=np.float32)
            np.maximum.at(best, inverse, dense)
            out[:, column] = best[inverse] - dense.max()
        out[:, 11] = (dense - dense.mean()) / (dense.std() + 1e-6)
        out[:, 17] = (out[:, 16] - out[:, 16].mean()) / (out[:, 16].std() + 1e-6)
    return out


class Reranker(Protocol):
    fitted_on: str

    def scores(self, features: np.ndarray) -> np.ndarray: ...


@dataclass
class LinearReranker:
    """A logistic regression's logit."""

    weights: np.ndarray
    bias: float
    fitted_on: str = ""

    def scores(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights + self.bias


@dataclass
class TreeReranker:
    """Gradient-boosted trees (fitted by scikit-learn's HistGradientBoostingClassifier, scored here in numpy):
    the summed leaf values, a logit. The trees' nodes are laid end to end, and a leaf points to itself on both
    sides, so every tree descends at once, one level per step, with flat lookups: about a millisecond for a few
    hundred candidates."""

    feature: np.ndarray  # (nodes of all trees,) int: the feature a node tests
    threshold: np.ndarray  # (nodes,) float64, as fitted: go left when feature <= threshold
    left: np.ndarray  # (nodes,) int: index into the flat arrays; a leaf's own index
    right: np.ndarray  # (nodes,) int
    value: np.ndarray  # (nodes,) float: a leaf's contribution to the logit
    roots: np.ndarray  # (trees,) int: each tree's first node
    bias: float
    depth: int  # the deepest leaf's depth: steps enough for every tree to reach a leaf
    fitted_on: str = ""

    def scores(self, features: np.ndarray) -> np.ndarray:
        n, width = features.shape if features.ndim == 2 else (0, 0)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        flat = np.asarray(features, dtype=np.float64).ravel()  # compared as fitted: float32 thresholds would round
        row_start = (np.arange(n) * width)[None, :]
        node = np.broadcast_to(self.roots[:, None], (len(self.roots), n))
        for _ in range(self.depth):
            goes_left = flat[row_start + self.feature[node]] <= self.threshold[node]
            node = np.where(goes_left, self.left[node], self.right[node])
        return (self.value[node].sum(axis=0) + self.bias).astype(np.float32)


@dataclass
class SumReranker:
    """The sum of several models' logits: a linear model and trees, whose errors differ (README, "How it answers")."""

    parts: list
    fitted_on: str = ""

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.sum([part.scores(features) for part in self.parts], axis=0).astype(np.float32)


def load(path: Path = RERANKER_PATH) -> Reranker | None:
    """The fitted model in `path` (None when there is none); a file fitted for other features is an error."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path}: features {data['features']} differ from the code's {FEATURES}; refit it "
                         "(benchmarks/fit_reranker.py)")
    return from_dict(data)


def from_dict(data: dict) -> Reranker:
    """A model from its JSON form: {"kind": "linear" | "trees" | "sum", ...} (export_trees, fit_reranker.py)."""
    fitted_on = data.get("fitted_on", "")
    kind = data.get("kind", "linear")
    if kind == "linear":
        return LinearReranker(np.asarray(data["weights"], dtype=np.float32), float(data["bias"]), fitted_on)
    if kind == "sum":
        return SumReranker([from_dict(part) for part in data["parts"]], fitted_on)
    trees = data["trees"]
    sizes = [len(t["feature"]) for t in trees]
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    own = np.arange(sum(sizes))
    leaf = np.concatenate([t["leaf"] for t in trees]).astype(bool)
    offsets = np.repeat(roots, sizes)
    left = np.where(leaf, own, np.concatenate([t["left"] for t in trees]) + offsets)
    right = np.where(leaf, own, np.concatenate([t["right"] for t in trees]) + offsets)
    return TreeReranker(np.concatenate([t["feature"] for t in trees]).astype(np.int64),
                        np.concatenate([t["threshold"] for t in trees]).astype(np.float64), left, right,
                        np.where(leaf, np.concatenate([t["value"] for t in trees]), 0.0), roots,
                        float(data["bias"]), int(data["depth"]), fitted_on)


def export_trees(model, fitted_on: str) -> dict:
    """A fitted HistGradientBoostingClassifier (binary, no categorical features) as reranker.json's content."""
    trees, depth = [], 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        is_leaf = nodes["is_leaf"].astype(bool)
        trees.append({
            "feature": [int(f) for f in nodes["feature_idx"]],
            "threshold": [float(t) for t in nodes["num_threshold"]],
            "left": [int(x) for x in nodes["left"]],
            "right": [int(x) for x in nodes["right"]],
            "leaf": [bool(x) for x in is_leaf],
            "value": [float(v) for v in nodes["value"]],
        })
        depth = max(depth, int(nodes["depth"].max()))
    return {"features": list(FEATURES), "kind": "trees", "bias": float(np.ravel(model._baseline_prediction)[0]),
            "depth": depth, "trees": trees, "fitted_on": fitted_on}

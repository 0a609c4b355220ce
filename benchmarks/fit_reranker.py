"""Fit the learned reranker (bot/data/reranker.json): logistic regression plus gradient-boosted trees, summed.

    .venv/bin/python benchmarks/fit_reranker.py --index DIR [--model sum|trees|linear]
        [--questions ../shared/eval/stard_train_pack.jsonl] [--borrowers benchmarks/fit_questions/answerability_fit.jsonl]
        [--train-only FILE ...] [--cv-only]

DIR must hold an index of the documents with statutes (docs/ as shipped). The shipped model (`sum`) adds two
logits: a logistic regression fitted on STARD alone, and trees fitted on both kinds of questions below. Each
alone trades one question set for another (the trees rank STARD better and lose borrowers' questions that the
linear model keeps); their sum kept the best of both on the development sets (README, "How it answers").
Two kinds of questions teach it:
- STARD's questions of the `fit` split (bot.evaluate.split_of); the question memory leaves out every `holdout`
  question while fitting, so `eval --split holdout` measures the reranker on questions it never saw, with a
  memory that never saw them. A candidate is a positive when its article contains a gold snippet.
- the answerable borrowers' fit questions (benchmarks/fit_questions/: English, Simplified and Traditional, some
  answered by the five articles, not by law). Without them trees learn from STARD alone that only an article
  with remembered questions is ever relevant, and rank the articles' passages last (borrower_tune recall@5
  0.73 -> 0.60). A candidate is a positive when it is one of the named articles, or holds the gold snippet.
Each question weighs the same, however many candidates it has. The trees are monotone in every feature that
says "more relevant" (cosine, BM25, votes, ...), so a pattern of the fit data cannot turn more evidence into a
lower score on a new question.

Before writing the model it prints each kind's 5-fold figures (folds by question) per source. `--train-only`
files (gold-snippet rows in the format of ../shared/eval, e.g. a question set already read) join every training
fold and the final fit as borrowers' questions, and are never scored, so the 5-fold figures stay comparable with
a run without them; `--cv-only` prints the figures and writes nothing (screening a change to the fit data). scikit-learn is
used here only; the assistant scores with numpy (bot.rerank).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import Assistant  # noqa: E402
from bot.evaluate import load_questions, mrr_at, relevant, split_of, success_at  # noqa: E402
from bot.language import normalize_for_match  # noqa: E402
from bot.memory import NEIGHBOURS, resolve  # noqa: E402
from bot.rerank import FEATURES, RERANKER_PATH, export_trees, from_dict  # noqa: E402
from bot.settings import get_settings  # noqa: E402

# +1: the score may only rise with the feature. 0: free (length describes, it is not evidence).
MONOTONE = {"dense": 1, "bm25": 1, "rank": 1, "vote": 1, "vote_max": 1, "prior": 1, "retrieved": 0, "law_vote": 1,
            "chapter_vote": 1, "law_best": 1, "chapter_best": 1, "dense_z": 1, "length": 0, "coverage_vote": 1,
            "question_bm25": 1, "expanded_bm25": 1, "profile_cosine": 1, "profile_z": 1}
TREES = dict(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--questions", default=str(ROOT.parent / "shared" / "eval" / "stard_train_pack.jsonl"))
    ap.add_argument("--borrowers", default=str(ROOT / "benchmarks" / "fit_questions" / "answerability_fit.jsonl"),
                    help="borrowers' fit questions ('' for none)")
    ap.add_argument("--out", default=str(RERANKER_PATH))
    ap.add_argument("--model", choices=("sum", "trees", "linear"), default="sum")
    ap.add_argument("--borrower-weight", type=float, default=2.0,
                    help="trees: weight of a borrowers' question relative to a STARD one")
    ap.add_argument("--C", type=float, default=1.0, help="linear: inverse regularisation strength")
    ap.add_argument("--train-only", nargs="*", default=[], metavar="FILE",
                    help="more borrowers' questions for every training fold, never scored by the 5-fold figures")
    ap.add_argument("--cv-only", action="store_true", help="print the 5-fold figures, write no model")
    args = ap.parse_args()

    # Fitted on the candidates that the voting neighbours propose. The deeper proposals (memory_proposers) only
    # lengthen a deep ranking's tail (article recall@100); fitted on them too, the 5-fold figures fell
    # (STARD success@5 0.843 over 491 questions with a relevant candidate -> 0.810 over 506).
    assistant = Assistant.load(get_settings(index_dir=Path(args.index), fit_reranker=True,
                                            memory_proposers=NEIGHBOURS))
    retriever = assistant.retriever
    if retriever.memory is None:
        print("error: the index has no statutes or no question memory", file=sys.stderr)
        return 2
    started = time.perf_counter()
    stard = load_questions(Path(args.questions))
    retriever.memory.exclude(r["q"] for r in stard if split_of(r["id"]) != "fit")
    passages = assistant.stored.passages
    article_text: dict = {}
    for p in passages:
        if p.article_key:
            article_text[p.article_key] = article_text.get(p.article_key, "") + normalize_for_match(p.text)

    def stard_labels(row: dict, candidates: list) -> list[bool]:
        snippets = [normalize_for_match(s) for group in row.get("gold_articles", [[s for _, s in row["gold"]]]) for s in group]
        return [any(s in article_text.get(p.article_key, normalize_for_match(p.text)) for s in snippets) for p in candidates]

    def gold_labels(row: dict, candidates: list) -> list[bool]:
        """The passages holding a gold snippet (rows in the format of ../shared/eval)."""
        return [relevant(p.doc_id, p.text, row["gold"]) for p in candidates]

    sources: dict[str, list[tuple[dict, object]]] = {
        "stard": [(r, stard_labels) for r in stard if split_of(r["id"]) == "fit"]}
    if args.borrowers:
        borrowers = [r for r in load_questions(Path(args.borrowers)) if not r.get("unanswerable")]
        named = {r["id"]: {tuple(k) for k in r["articles"]} for r in resolve([r for r in borrowers if r.get("articles")], passages)}

        def borrower_labels(row: dict, candidates: list) -> list[bool]:
            """One of the articles the question names, or (questions the five articles answer) the gold snippet."""
            if row["id"] in named:
                return [p.article_key in named[row["id"]] for p in candidates]
            return gold_labels(row, candidates)

        sources["borrowers"] = [(r, borrower_labels) for r in borrowers if r["id"] in named or r.get("gold")]
    if args.train_only:
        sources["train_only"] = [(r, gold_labels) for f in args.train_only for r in load_questions(Path(f))
                                 if not r.get("unanswerable") and r.get("gold")]

    xs, ys, keys, source_of = [], [], [], []
    for source, rows in sources.items():
        for row, labeller in rows:
            candidates, features = retriever.reranker_training_data(assistant.query(row["q"]), 100)
            labels = np.asarray(labeller(row, candidates), dtype=bool)
            if not labels.any():
                continue  # nothing relevant among the candidates: the question teaches the ranking nothing
            xs.append(features)
            ys.append(labels)
            keys.append([p.article_key or p.id for p in candidates])
            source_of.append(source)
    counts = {s: source_of.count(s) for s in sources}
    weights = [args.borrower_weight if s in ("borrowers", "train_only") else 1.0 for s in source_of]
    data = Data(xs, ys, source_of, weights)
    for kind in ("linear", "trees", "sum"):
        print(f"{kind}, 5-fold, questions with a relevant candidate: "
              f"{json.dumps(cross_validate(kind, args.C, data, keys))}", file=sys.stderr)
    if args.cv_only:
        return 0
    used = ", ".join(f"{n} {s} questions" for s, n in counts.items())
    fitted_on = (f"{Path(args.questions).name} split fit + {Path(args.borrowers).name if args.borrowers else 'no borrowers'} "
                 f"answerable ({used}, {sum(len(y) for y in ys)} candidates, {int(sum(y.sum() for y in ys))} positive); "
                 + {"linear": LINEAR, "trees": TREES_TEXT, "sum": f"sum of {LINEAR} and {TREES_TEXT}"}[args.model]
                 .format(C=args.C, bw=args.borrower_weight))
    out = as_dict(args.model, fit(args.model, args.C, data), fitted_on)
    Path(args.out).write_text(as_text(out), encoding="utf-8")
    print(fitted_on)
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


LINEAR = "logistic regression on the STARD questions (C={C}, class_weight=balanced)"
TREES_TEXT = (f"HistGradientBoostingClassifier({', '.join(f'{k}={v}' for k, v in TREES.items())}, monotone) on all, "
              "a borrowers' question weighing {bw:g} STARD questions")


@dataclass
class Data:
    xs: list[np.ndarray]  # per question: (candidates, features)
    ys: list[np.ndarray]  # per question: which candidates are relevant
    source_of: list[str]
    weights: list[float]  # per question

    def subset(self, rows) -> Data:
        return Data(*([part[i] for i in rows] for part in (self.xs, self.ys, self.source_of, self.weights)))


def fit(kind: str, C: float, data: Data):
    """The fitted model: a scikit-learn estimator, or for `sum` the pair (linear, trees)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "sum":
        return fit("linear", C, data), fit("trees", C, data)
    if kind == "linear":
        stard = data.subset([i for i, s in enumerate(data.source_of) if s == "stard"])
        return LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(np.vstack(stard.xs), np.concatenate(stard.ys))
    y = np.concatenate(data.ys)
    # Each question's candidates sum to the question's weight, however many candidates it has.
    weight = np.concatenate([np.full(len(q), w / len(q)) for q, w in zip(data.ys, data.weights)])
    weight *= len(y) / weight.sum()
    return HistGradientBoostingClassifier(**TREES, monotonic_cst=[MONOTONE[f] for f in FEATURES]).fit(
        np.vstack(data.xs), y, sample_weight=weight)


def as_dict(kind: str, model, fitted_on: str) -> dict:
    """The JSON form bot.rerank.from_dict reads."""
    if kind == "sum":
        parts = [as_dict("linear", model[0], ""), as_dict("trees", model[1], "")]
        return {"features": list(FEATURES), "kind": "sum", "fitted_on": fitted_on,
                "parts": [{k: v for k, v in part.items() if k not in ("features", "fitted_on")} for part in parts]}
    if kind == "linear":
        return {"features": list(FEATURES), "kind": "linear", "weights": [round(float(w), 5) for w in model.coef_[0]],
                "bias": round(float(model.intercept_[0]), 5), "fitted_on": fitted_on}
    return export_trees(model, fitted_on)


def as_text(model: dict) -> str:
    """The JSON text of reranker.json: indented, but each tree and each flat list of numbers or names on one
    line, so the file stays readable and a refit's diff stays small."""
    text = json.dumps(model, ensure_ascii=False, indent=1)
    text = re.sub(r'\{\n\s+"feature": .*?\n\s+\]\n\s+\}', lambda m: json.dumps(json.loads(m[0])), text, flags=re.S)
    return re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m[0]), ensure_ascii=False), text) + "\n"


def cross_validate(kind: str, C: float, data: Data, keys: list, folds: int = 5) -> dict:
    """Per source: success@1/5/10 and MRR@10 over articles (or passages), each question scored by a model fitted
    on the other folds."""
    from sklearn.model_selection import KFold

    ranks: dict[str, list[int | None]] = {}  # 1-based rank of the first relevant article, as bot.evaluate counts
    scored = [i for i, s in enumerate(data.source_of) if s != "train_only"]
    always = [i for i, s in enumerate(data.source_of) if s == "train_only"]  # in every training fold, never scored
    for train, test in KFold(folds, shuffle=True, random_state=0).split(scored):
        model = from_dict(as_dict(kind, fit(kind, C, data.subset([scored[i] for i in train] + always)), ""))
        for i in (scored[j] for j in test):
            seen: set = set()
            first = None
            for j in np.argsort(-model.scores(data.xs[i]), kind="stable"):
                if keys[i][j] not in seen:
                    seen.add(keys[i][j])
                    if data.ys[i][j]:
                        first = len(seen)
                        break
            ranks.setdefault(data.source_of[i], []).append(first)
    return {source: {f"success@{k}": success_at(rs, k) for k in (1, 5, 10)} | {"mrr@10": mrr_at(rs, 10)}
            for source, rs in ranks.items()}


if __name__ == "__main__":
    raise SystemExit(main())

"""Fit the learned reranker's weights (bot/data/reranker.json) by logistic regression.

    .venv/bin/python benchmarks/fit_reranker.py --index DIR [--questions ../shared/eval/stard_train_pack.jsonl]

DIR must hold an index of the documents with statutes (docs/ as shipped). Only questions of the `fit` split
(bot.evaluate.split_of) are used, and the question memory leaves out every `holdout` question while fitting, so
`eval --split holdout` measures the reranker on questions it never saw, with a memory that never saw them. A
candidate is a positive when its article contains a gold snippet of the question. scikit-learn is used here
only (it comes with sentence-transformers); the assistant itself scores with numpy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import Assistant  # noqa: E402
from bot.evaluate import load_questions, split_of  # noqa: E402
from bot.language import normalize_for_match  # noqa: E402
from bot.rerank import FEATURES, RERANKER_PATH  # noqa: E402
from bot.settings import get_settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--questions", default=str(ROOT.parent / "shared" / "eval" / "stard_train_pack.jsonl"))
    ap.add_argument("--out", default=str(RERANKER_PATH))
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    assistant = Assistant.load(get_settings(index_dir=Path(args.index), fit_reranker=True))
    retriever = assistant.retriever
    if retriever.memory is None:
        print("error: the index has no statutes or no question memory", file=sys.stderr)
        return 2
    rows = load_questions(Path(args.questions))
    retriever.memory.exclude(r["q"] for r in rows if split_of(r["id"]) != "fit")
    article_text: dict = {}
    for p in assistant.stored.passages:
        if p.article_key:
            article_text[p.article_key] = article_text.get(p.article_key, "") + normalize_for_match(p.text)
    xs, ys = [], []
    started = time.perf_counter()
    fit_rows = [r for r in rows if split_of(r["id"]) == "fit"]
    for r in fit_rows:
        passages, features = retriever.reranker_training_data(assistant.query(r["q"]), 100)
        snippets = [normalize_for_match(s) for group in r.get("gold_articles", [[s for _, s in r["gold"]]]) for s in group]
        labels = [any(s in article_text.get(p.article_key, normalize_for_match(p.text)) for s in snippets) for p in passages]
        xs.append(features)
        ys.append(np.asarray(labels))
    x, y = np.vstack(xs), np.concatenate(ys)
    model = LogisticRegression(C=args.C, max_iter=5000, class_weight="balanced").fit(x, y)
    out = {
        "features": list(FEATURES),
        "weights": [round(float(w), 5) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 5),
        "fitted_on": f"{Path(args.questions).name}, split fit ({len(fit_rows)} questions, {len(y)} candidates, "
                     f"{int(y.sum())} positive); logistic regression C={args.C}, class_weight=balanced",
    }
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False, indent=1))
    print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

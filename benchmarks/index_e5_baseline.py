"""The e5 "textbook" baseline on a corpus too large to embed twice: e5 cosine over the index's own passage
vectors, pooled to whole articles, scored by `eval`'s own metrics.

    BOT_DOCS_DIR=../shared/laws/national .venv/bin/python benchmarks/index_e5_baseline.py \
        --index /tmp/idx_national --docs ../shared/laws/national ../shared/eval/stard_train_pack.jsonl --split holdout

`eval`'s e5 baseline embeds every article of the documents folder again (64,670 articles of the national
corpus: well over an hour here). This one reuses what ingest embedded: an article's score is the best cosine of
its passages (one passage for all but the longest articles), so no fusion, no BM25, no reranker, no question
memory. One difference from `eval`'s baseline, in the baseline's favour: text outside articles (preambles,
guiding cases) is left out of the ranking, so it faces fewer distractors than the system does. On the index of
`docs/` it gives exactly `eval`'s e5 figures on STARD's holdout split (success@1/5/10 0.389 / 0.626 / 0.737,
MRR@10 0.496, article recall@10/100 0.641 / 0.840). Prints the metrics as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.baselines import E5_NAME, corpus_units  # noqa: E402
from bot.evaluate import legal_metrics, legal_ranks, load_questions  # noqa: E402


class IndexVectorsBaseline:
    name = E5_NAME + " (index vectors)"

    def __init__(self, index_dir: Path, docs_dir: Path) -> None:
        from bot import index as index_store
        from bot.embeddings import load_embeddings
        from bot.settings import Settings

        stored = index_store.load(index_dir, tokens=False)
        self.units = [u for u in corpus_units(docs_dir) if u.is_article]
        row_of_unit = {(u.doc_id, u.key[2], u.key[3]): i for i, u in enumerate(self.units)}
        self.unit_of_row = np.full(len(stored.passages), -1, dtype=np.int64)
        for r, p in enumerate(stored.passages):
            if p.kind == "article":
                self.unit_of_row[r] = row_of_unit.get((p.doc_id, p.article_no, p.article_suffix), -1)
        self.matrix = stored.vectors_of(list(range(len(stored.passages))))
        self.model = load_embeddings(Settings(index_dir=index_dir, docs_dir=docs_dir))
        mapped = int((self.unit_of_row >= 0).sum())
        print(f"{len(self.units)} articles, {mapped} of {len(stored.passages)} passages mapped to them",
              file=sys.stderr)

    def rank_many(self, questions: list[str], k: int) -> list[list[int]]:
        out = []
        mapped = self.unit_of_row >= 0
        for q in questions:
            scores = self.matrix @ self.model.embed_query_array(q)
            best = np.full(len(self.units), -np.inf, dtype=np.float32)
            np.maximum.at(best, self.unit_of_row[mapped], scores[mapped])
            top = np.argsort(-best)[:k]
            out.append([int(i) for i in top if np.isfinite(best[i])])
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--split", choices=("all", "fit", "holdout"), default="all")
    args = ap.parse_args()
    rows = [r for r in load_questions(Path(args.file), args.split) if not r.get("unanswerable") and "gold_articles" in r]
    baseline = IndexVectorsBaseline(args.index, args.docs)
    ranks, group_ranks = [], []
    for row, order in zip(rows, baseline.rank_many([r["q"] for r in rows], 100)):
        rank, groups = legal_ranks([baseline.units[i] for i in order], row["gold_articles"])
        ranks.append(rank)
        group_ranks.append(groups)
    print(json.dumps({"baseline": baseline.name, "questions": len(rows), **legal_metrics(ranks, group_ranks)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

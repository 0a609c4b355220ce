"""How far apart the embedding model holds passages for a question: the spread of its cosines over every
passage of an index, and where the dense ranking alone puts the first relevant passage.

    .venv/bin/python benchmarks/cosine_spread.py --index DIR ../shared/eval/law_dev.jsonl

For each answerable question: the 1st, 50th and 99th percentile and the best of its cosines to all passages, and
the rank (by cosine alone) of the best passage holding a gold snippet (bot.evaluate.relevant). Prints the means
over the file as JSON. The default model (multilingual-e5-small, 4-bit) keeps nearly all of a question's
passages within a few hundredths of one another (README, "Limitations"); this shows by how much on any file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import index as index_store  # noqa: E402
from bot.embeddings import load_embeddings  # noqa: E402
from bot.evaluate import load_questions, relevant  # noqa: E402
from bot.settings import Settings  # noqa: E402


def spread(cosines: np.ndarray) -> list[float]:
    """1st, 50th and 99th percentile and maximum of one question's cosines."""
    return [*np.percentile(cosines, [1, 50, 99]).tolist(), float(cosines.max())]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--split", choices=("all", "fit", "holdout"), default="all")
    args = ap.parse_args()
    rows = [r for r in load_questions(Path(args.file), args.split) if not r.get("unanswerable")]
    stored = index_store.load(args.index, tokens=False)
    matrix = stored.vectors_of(list(range(len(stored.passages))))
    model = load_embeddings(Settings(index_dir=args.index))
    spreads, gold_ranks, gold_gaps = [], [], []
    for row in rows:
        cosines = matrix @ model.embed_query_array(row["q"])
        spreads.append(spread(cosines))
        if not row.get("gold"):
            continue
        gold = [i for i, p in enumerate(stored.passages) if relevant(p.doc_id, p.text, row["gold"])]
        if gold:
            best = max(gold, key=lambda i: cosines[i])
            gold_ranks.append(int((cosines > cosines[best]).sum()) + 1)
            gold_gaps.append(float(cosines.max() - cosines[best]))
    s = np.array(spreads)
    report = {"questions": len(rows), "passages": len(stored.passages),
              "cosine_p1_p50_p99_max": s.mean(axis=0).round(3).tolist()}
    if gold_ranks:
        report |= {"with_gold": len(gold_ranks), "gold_rank_by_cosine_median": float(np.median(gold_ranks)),
                   "gold_in_top5_by_cosine": round(float(np.mean(np.array(gold_ranks) <= 5)), 3),
                   "gold_gap_to_best_cosine_median": round(float(np.median(gold_gaps)), 3)}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

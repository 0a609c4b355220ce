"""Lexical side of retrieval: Chinese word segmentation of Simplified-normalised text, and BM25 over it.

Tokenisation converts to Simplified first (rjieba's dictionary is Simplified: Traditional input segments
badly) and uses search-mode segmentation, which also emits the sub-words of long words (有限公司 -> 有限, 公司,
有限公司) so a question's short word still matches a document's compound.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import logging
import threading

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


_general_table: dict[str, tuple[int, str]] | None = None
_general_lock = threading.Lock()


def _general_frequencies() -> dict[str, tuple[int, str]]:
    """word -> (count, part-of-speech) in jieba's general-language dictionary (349,000 words, read once).

    Read once even when several threads ask at the same time (the evidence gate starts reading it in the
    background at load; a first question that comes before it is done waits for that read instead of doing
    a second one beside it)."""
    global _general_table
    if _general_table is None:
        with _general_lock:
            if _general_table is None:
                _general_table = _read_general_frequencies()
    return _general_table


def _read_general_frequencies() -> dict[str, tuple[int, str]]:
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


_EMPTY_PASSAGE = "\u2205"  # stands in for a passage without words (never a token: tokenize keeps only words)
# What bm25s is built with here (its defaults); a stored BM25 index with other parameters is not loaded.
_BM25_PARAMS = {"k1": 1.5, "b": 0.75, "delta": 0.5, "method": "lucene", "idf_method": "lucene",
                "dtype": "float32", "int_dtype": "int32"}


class LexicalIndex:
    """BM25 over pre-tokenised passages; scores every passage in one vectorised call.

    Built from the passages' tokens (`LexicalIndex(tokens)`), or restored from what `to_arrays()` gave when the
    index version was written (`LexicalIndex.from_arrays(...)`: bot/index.py stores it, so a server does not
    rebuild BM25 at every start). Both score every query identically: the stored arrays are the built ones.
    """

    def __init__(self, tokenized_passages: Sequence[Sequence[str]]) -> None:
        self._bm25 = bm25s.BM25(**_BM25_PARAMS)
        # An empty passage would give bm25s an empty row; a placeholder token keeps row numbers aligned.
        corpus = [list(tokens) or [_EMPTY_PASSAGE] for tokens in tokenized_passages] or [[_EMPTY_PASSAGE]]  # bm25s cannot index nothing
        self._bm25.index(corpus, show_progress=False)
        self.vocabulary = frozenset(self._bm25.vocab_dict)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> LexicalIndex:
        """The index `to_arrays()` described; ValueError when the description does not hold together."""
        if meta.get("params") != _BM25_PARAMS:
            raise ValueError("BM25 parameters differ")
        vocab = meta["vocab"]
        data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
        num_docs = int(meta["num_docs"])
        # bm25s gives each word a column, then adds "" (the empty query word, no column) after the last one.
        columns = len(indptr) - 1
        if (not isinstance(vocab, list) or len(set(vocab)) != len(vocab) or indptr.ndim != 1 or columns < 0
                or not (len(vocab) == columns or (len(vocab) == columns + 1 and vocab[-1] == ""))
                or int(indptr[0]) != 0
                or int(indptr[-1]) != len(data) or len(indices) != len(data)
                or (len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= num_docs))
                or np.any(np.diff(indptr) < 0)):
            raise ValueError("BM25 arrays are inconsistent")
        self = cls.__new__(cls)
        bm25 = bm25s.BM25(**_BM25_PARAMS)
        bm25.scores = {"data": data.astype(np.float32, copy=False), "indices": indices.astype(np.int32, copy=False),
                       "indptr": indptr.astype(np.int64, copy=False), "num_docs": num_docs}
        bm25.vocab_dict = {word: i for i, word in enumerate(vocab)}
        bm25.unique_token_ids_set = set(range(len(vocab)))
        bm25.nonoccurrence_array = None  # lucene scoring has none
        self._bm25 = bm25
        self.vocabulary = frozenset(bm25.vocab_dict)
        return self

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays, description) from which `from_arrays` restores this index: the CSC score matrix and the
        vocabulary in column order."""
        vocab_dict = self._bm25.vocab_dict
        vocab = sorted(vocab_dict, key=vocab_dict.__getitem__)
        if [vocab_dict[w] for w in vocab] != list(range(len(vocab))):
            raise ValueError("bm25s vocabulary ids are not 0..n-1")
        scores = self._bm25.scores
        arrays = {"data": np.ascontiguousarray(scores["data"], dtype=np.float32),
                  "indices": np.ascontiguousarray(scores["indices"], dtype=np.int32),
                  "indptr": np.ascontiguousarray(scores["indptr"], dtype=np.int64)}
        return arrays, {"params": dict(_BM25_PARAMS), "num_docs": int(scores["num_docs"]), "vocab": vocab}

    @property
    def size(self) -> int:
        """Rows scored: the passages (1 for an index of none: bm25s cannot index nothing)."""
        return int(self._bm25.scores["num_docs"])

    def document_frequencies(self) -> dict[str, int]:
        """How many passages contain each word (what idf_table counts), read off the score matrix: every
        occurrence of a word in a passage has one positive BM25 entry in the word's column."""
        counts = np.diff(self._bm25.scores["indptr"]).tolist()
        vocab_dict = self._bm25.vocab_dict
        return {w: counts[i] for w, i in vocab_dict.items() if i < len(counts) and w not in ("", _EMPTY_PASSAGE)}

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self.vocabulary]
        if not known:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return self._bm25.get_scores(known)


def idf_table(tokenized_passages: Sequence[Sequence[str]]) -> dict[str, float]:
    """Inverse document frequency of every word (how much a shared word says about relevance)."""
    from collections import Counter

    df = Counter(t for tokens in tokenized_passages for t in set(tokens))
    return idf_from_counts(df, len(tokenized_passages))


def idf_from_counts(document_frequencies: dict[str, int], passages: int) -> dict[str, float]:
    """idf_table from each word's passage count (LexicalIndex.document_frequencies) and the passage count."""
    from math import log

    n = max(1, passages)
    return {t: log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in document_frequencies.items()}

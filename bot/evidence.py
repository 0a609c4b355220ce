"""Does the retrieved evidence cover the question? If not, the assistant abstains instead of guessing.

Signals, all cheap (no model call beyond what retrieval did):
- topic words the documents never use: a Chinese question whose nouns include a word absent from the
  whole corpus (政审, 抗告, 绿卡) asks about something the documents do not discuss — unless the word is
  everyday speech (老婆, 老板, 椅子: common in general Chinese, by jieba's frequency dictionary), people used it
  in answered questions (bot.memory), or the colloquial thesaurus explains it (坏处 -> 负面影响). For English,
  the share of the question's content words that the bilingual lexicon cannot map to any corpus word plays
  the same role, and so does a name or acronym it cannot map (FDCPA, LPR, Shenzhen).
- dense: cosine similarity between the question and the best passage (multilingual e5);
- lexical: whether BM25 found anything at all;
- quantities: a question asking "how many / how much / how long" (几次, 多少, 多久) is answered only by a
  passage that states a number; documents without one cannot answer it, however on-topic they are.
Thresholds are settings, calibrated on the dev set (README, "Abstention").
"""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.answerability import AnswerabilityModel, Evidence
from bot.corpus import Corpus
from bot.crosslingual import STOP_WORDS
from bot.lexical import general_frequency, has_word, tag
from bot.query import Query
from bot.types import Hit

# Nouns that say nothing about the topic ("什么意思", "这种情况").
_GENERIC_NOUNS = frozenset(
    "意思 情况 问题 时候 东西 办法 方面 方法 地方 事情 事儿 原因 结果 程度 人家 大家 别人 本人 我们 你们 他们 "
    "有关 相关 关系 什么样 专门 特别 真的 到底 其实 一直 经常 总是 马上 立刻 一般 通常 具体 主要 自己".split()
)
_NOUN_TAGS = ("n", "vn")  # nouns and verbal nouns; person names (nr*) are left out: the tagger gives nr to 太久
# Segmentation slips glue a function character onto a neighbour ("逾期后会被" -> 后会/n): a "noun" holding one
# of these characters is not trusted as a topic word.
_FUNCTION_CHARS = frozenset("后会的了是在被把给吗呢就都也还又才让要能可去来过着得地么这那和与或及")
# A noun this common in general Chinese (jieba's dictionary count) is everyday speech, not a topic the documents
# lack; a place name this common is a place, and a question tied to a place may be outside the documents' law.
EVERYDAY_FREQUENCY = 100
PLACE_FREQUENCY = 1000
# Places of mainland China by their English names (generated from CC-CEDICT by scripts/build_mainland_places.py):
# "I live in Harbin", "a court in Shenzhen" sets a borrower's story where the documents' law applies; it is not a
# place elsewhere. Hong Kong, Macau, Taiwan and other countries are not in the file, and still count.
MAINLAND_PLACES_PATH = Path(__file__).resolve().parent / "data" / "mainland_places_en.txt"
# English names and acronyms: a capitalised word inside the sentence, or an all-capitals token ("US", "LPR").
_NAME_OR_ACRONYM = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b|\b[A-Z]{2,}\b")
_ASKS_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|soon|late)\b|\bwhat (?:percentage|amount|number|time)\b|\bmaximum\b|\blimit\b"
    r"|多少|几次|几天|几个|几点|几号|多久|多长时间|多长|几年|几月|上限|最多|最高(?!额|人民|法院)|次数",
    re.IGNORECASE,
)
# A number with a unit, in digits or Chinese: 3次, 十五日, 四倍 (a multiple: "four times the LPR"), 三分之一.
_STATES_QUANTITY = re.compile(r"\d|[一二三四五六七八九十两百千万][次天日年月个%亿万倍周岁元]|分之|小时")
_LIST_NUMBER = re.compile(r"^\s*(?:\d+[.、.)]|[((]\d+[))])")  # "1. 逾期提醒" numbers an item, it states nothing


_CLAUSE_END = re.compile(r"[。！？!?；;，,\n]+|(?<=[a-z])\. ")


def _last_clause(text: str) -> str:
    """The question's last clause: where it asks. "I paid 3 times, can they sue?" asks no quantity, though its
    back story counts something."""
    clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
    return clauses[-1] if clauses else text


@dataclass
class Coverage:
    dense: float  # best question-passage cosine among the hits
    lexical: float  # best BM25 score among the hits (0 when no question word occurs in them)
    unknown: list[str] = field(default_factory=list)  # topic words the corpus does not cover
    unknown_share: float = 0.0  # for English: share of content words with no corpus word in the lexicon
    unknown_names: list[str] = field(default_factory=list)  # for English: names/acronyms mapped to no corpus word


class EvidenceGate:
    def __init__(self, corpus: Corpus, settings, memory=None, model: AnswerabilityModel | None = None) -> None:
        self.corpus = corpus
        self.settings = settings
        self.memory = memory  # bot.memory.QuestionMemory: words of answered questions are not unknown topics
        self.model = model  # bot.answerability: weighs the signals below together, where it applies
        # The general-frequency table takes ~0.7 s to read: in the background, not on the first question.
        threading.Thread(target=general_frequency, args=("的",), daemon=True).start()

    def coverage(self, query: Query, hits: Sequence[Hit]) -> Coverage:
        dense = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
        lexical = max((h.lexical_score or 0.0 for h in hits), default=0.0)
        if query.language == "en":
            unknown, total = self.corpus.unmapped_english(query.text)
            return Coverage(dense, lexical, unknown, len(unknown) / total if total else 1.0,
                            self._unknown_names(query.text))
        return Coverage(dense, lexical, self._unknown_chinese_topics(query.simplified))

    def evidence(self, query: Query, hits: Sequence[Hit], query_vector: np.ndarray,
                 coverage: Coverage | None = None) -> Evidence:
        """The answerability model's view of a question and its hits."""
        c = coverage or self.coverage(query, hits)
        mem_top, mem_hit = (self.memory.support(query_vector, [h.passage.memory_key for h in hits],
                                                query.text) if self.memory is not None else (0.0, 0.0))
        english = query.language == "en"
        return Evidence(dense=c.dense, mem_top=mem_top, mem_hit=mem_hit, top_score=hits[0].score if hits else 0.0,
                        unknown_zh=0 if english else len(c.unknown), unknown_en=c.unknown_share if english else 0.0,
                        names_en=len(c.unknown_names), quantity=self._asks_unstated_quantity(query, hits),
                        english=english, lexical=c.lexical > 0)

    def below_floor(self, hits: Sequence[Hit], c: Coverage, *, with_model: bool | None = None) -> bool:
        """No hits, or a best cosine under abstain_min_dense: declined whoever decides the rest. No lexical match
        either, unless the learned model decides (`with_model`, by default: whether this gate has one): for it
        that is one feature among others (bot.answerability)."""
        with_model = self.model is not None if with_model is None else with_model
        return not hits or c.dense < self.settings.abstain_min_dense or (not with_model and c.lexical <= 0)

    def covered(self, query: Query, hits: Sequence[Hit], query_vector: np.ndarray | None = None) -> bool:
        if not hits:
            return False
        if _names_first_hit(query, hits):
            return True  # the documents hold exactly the article asked for, however few words the question has
        c = self.coverage(query, hits)
        s = self.settings
        if self.below_floor(hits, c):
            return False
        if self.model is not None and query_vector is not None:
            return self.model.answers(query_vector, self.evidence(query, hits, query_vector, c))
        if self._asks_unstated_quantity(query, hits):
            return False
        if query.language == "en":
            return c.unknown_share <= s.abstain_max_unknown_share_en and not c.unknown_names
        # A word the documents lack, in a question they match only loosely: a topic they do not cover. A close
        # match (cosine >= abstain_unknown_topic_max_dense) vouches for the question despite an odd word.
        return not c.unknown or c.dense >= s.abstain_unknown_topic_max_dense

    @staticmethod
    def _asks_unstated_quantity(query: Query, hits: Sequence[Hit]) -> bool:
        return bool(_ASKS_QUANTITY.search(_last_clause(query.simplified))) and not any(
            _STATES_QUANTITY.search(_LIST_NUMBER.sub("", h.passage.text)) for h in hits[:3])

    def _unknown_names(self, text: str) -> list[str]:
        """Names and acronyms of an English question that map to no corpus word (a law or place elsewhere)."""
        out = []
        for m in _NAME_OR_ACRONYM.finditer(text):
            word = m.group(0)
            if word.lower() in STOP_WORDS and not (len(word) == 2 and word.isupper()):
                continue  # "I", or a word in capitals for emphasis ("THEM"); but "US" is a country
            if word in mainland_places():
                continue
            unknown, _ = self.corpus.unmapped_english(word)
            if unknown or not self.corpus.terms(word, "en"):
                out.append(word)
        return out

    def _unknown_chinese_topics(self, simplified: str) -> list[str]:
        explained = self.corpus.explained_words(simplified)
        unknown = []
        for word, pos in tag(simplified):
            is_noun = pos.startswith(_NOUN_TAGS) and not pos.startswith("nr")
            if len(word) < 2 or not is_noun or word in _GENERIC_NOUNS or _FUNCTION_CHARS & set(word):
                continue
            count, general_pos = general_frequency(word)
            is_place = general_pos == "ns" and count >= PLACE_FREQUENCY
            if not is_place and (count >= EVERYDAY_FREQUENCY or count == 3):
                continue  # everyday speech (3: a word the dictionary lists without a count)
            if not has_word(word):
                continue  # not a dictionary word: a segmentation slip ("人会", "会录"), not a topic
            if self._known(word) or any(word in t or t in word for t in explained):
                continue
            unknown.append(word)
        return unknown

    def _known(self, word: str) -> bool:
        """In the corpus, or a compound of corpus words: a word of 3+ characters whose characters, all but at most
        one, are covered by corpus words of 2+ characters (催收员 = 催收 + 员)."""
        if self.corpus.knows(word) or (self.memory is not None and self.memory.knows_word(word)):
            return True
        covered = [False] * len(word)
        for i in range(len(word)):
            for j in range(i + 2, len(word) + 1):
                if self.corpus.knows(word[i:j]):
                    covered[i:j] = [True] * (j - i)
        return sum(not c for c in covered) <= 1 and len(word) > 2


@lru_cache(maxsize=1)
def mainland_places(path: Path = MAINLAND_PLACES_PATH) -> frozenset[str]:
    """English names of mainland China's places (MAINLAND_PLACES_PATH), capitalised as written."""
    if not path.is_file():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _names_first_hit(query: Query, hits: Sequence[Hit]) -> bool:
    """The question names an article ("民法典1033条", "Article 1033 of the Civil Code") and retrieval put that
    article of that law first (bot.retrieve does, when the index holds it)."""
    return query.article is not None and query.article.names(hits[0].passage)

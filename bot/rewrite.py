"""Follow-up questions without a language model.

`SimpleQueryRewriter.standalone("and at night?", history)` -> "Can they visit my home? and at night?": when a
question looks like a follow-up of the conversation, it is prefixed with the previous user question (itself
made standalone first, so a chain of follow-ups keeps its topic). Retrieval then sees the topic; the answerer
sees the whole thing. Anything that does not look like a follow-up is returned unchanged.

"Looks like a follow-up" (all checks on the question after trimming):
- it starts with a strong follow-up cue: "and", "what about", "how about", "also", "那如果", "还有", "還是"...;
- or it starts with a weak cue ("if", "what if", a pronoun such as "they"/"it", "如果", "那", "他们", "這"...)
  and is short or names no topic word;
- or it is very short and refers back ("Is that legal?");
- or it is short and names no topic word (e.g. "at night?", "週末呢?").
A topic word is a debt-collection term (debt, collector, loan, 催收, 逾期, 債務...): a question with one
usually stands on its own.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from bot.types import HistoryTurn, Language

# English cues, matched on whole words at the start (lower-cased).
_EN_STRONG = ("and", "what about", "how about", "also", "plus", "or", "but what", "and if", "same for", "what else")
_EN_WEAK = (
    "if", "what if", "but", "so", "then", "even if",
    "it", "they", "them", "that", "this", "those", "these", "he", "she", "its", "their", "there",
)
# Chinese cues, matched as prefixes (Simplified and Traditional forms).
_ZH_STRONG = (
    "那如果", "那要是", "那假如", "那么", "那麼", "那还", "那還", "那我", "那他", "那她", "那在", "那晚上", "那白天",
    "还有", "還有", "还是", "還是", "另外", "此外", "而且", "并且", "並且", "那,", "那,", "那呢",
)
_ZH_WEAK = (
    "那", "如果", "要是", "假如", "万一", "萬一", "可是", "但是", "他们", "他們", "它们", "它們", "这", "這",
    "他", "她", "它", "该", "該", "其",
)

# Debt-collection topic words: a question naming one is probably standalone.
_TOPIC_EN = re.compile(
    r"\b(debt|debts|debtor|collect\w*|loan\w*|lend\w*|borrow\w*|repay\w*|pay\w*|overdue|arrears|bank\w*|"
    r"credit|interest|fee|fees|harass\w*|threat\w*|call\w*|phone|sms|text\w*|visit\w*|home|house|family|"
    r"relatives|contacts|employer|work|court|sue|sued|lawsuit|lawyer|legal|illegal|law|police|complain\w*|"
    r"report\w*|platform|app|installment\w*|consumer|finance)\b",
    re.IGNORECASE,
)
_TOPIC_ZH = (
    "催收", "催款", "催债", "催債", "债", "債", "欠", "贷", "貸", "借", "还款", "還款", "还钱", "還錢", "逾期", "利息",
    "银行", "銀行", "信用", "征信", "徵信", "骚扰", "騷擾", "威胁", "威脅", "恐吓", "恐嚇", "电话", "電話", "短信",
    "简讯", "簡訊", "上门", "上門", "家人", "亲友", "親友", "通讯录", "通訊錄", "单位", "單位", "公司", "起诉", "起訴",
    "法院", "律师", "律師", "违法", "違法", "合法", "报警", "報警", "投诉", "投訴", "平台", "分期", "消费金融", "消費金融",
)

_SHORT_EN_WORDS = 6  # "and at night?" is 3 words; "what should I do next?" 5
_VERY_SHORT_EN_WORDS = 4
_EN_DEMONSTRATIVES = {"that", "this", "it", "those", "these"}  # not "they": people call collectors "they"
_SHORT_ZH_CHARS = 12  # "那如果我不在家呢" is 8 characters
_MAX_FOLLOWUP_CHARS = 200  # a long question is standalone whatever its first word
_MAX_DEPTH = 3  # how far back a chain of follow-ups is followed

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_OPENERS = "\"'“‘「『(( "


def _is_cjk(text: str) -> bool:
    return len(_CJK.findall(text)) >= max(1, len(re.sub(r"\s", "", text)) // 3)


def _starts_with_words(lowered: str, cues: Sequence[str]) -> bool:
    return any(re.match(rf"{re.escape(cue)}(?:\b|$)", lowered) for cue in cues)


def looks_like_followup(question: str) -> bool:
    """Whether `question` reads as a continuation of an earlier question (see the module docstring)."""
    q = question.strip().lstrip(_OPENERS)
    if not q or len(q) > _MAX_FOLLOWUP_CHARS:
        return False
    if _is_cjk(q):
        body = re.sub(r"[\s\W_]", "", q)
        short = len(body) <= _SHORT_ZH_CHARS
        topical = any(word in q for word in _TOPIC_ZH)
        if q.startswith(_ZH_STRONG):
            return True
        if q.startswith(_ZH_WEAK):
            return short or not topical
        return short and not topical
    lowered = q.lower()
    words = re.findall(r"[\w']+", lowered)
    short = len(words) <= _SHORT_EN_WORDS
    topical = bool(_TOPIC_EN.search(q))
    if _starts_with_words(lowered, _EN_STRONG):
        return True
    if _starts_with_words(lowered, _EN_WEAK):
        return short or not topical
    if len(words) <= _VERY_SHORT_EN_WORDS and any(w in _EN_DEMONSTRATIVES for w in words):
        return True  # "Is that legal?", "Can they do it?"
    return short and not topical


def _join(previous: str, question: str) -> str:
    previous, question = previous.strip(), question.strip()
    if previous and previous[-1] in "?!。?!.;;":
        return f"{previous} {question}" if not _is_cjk(previous[-3:] + question[:3]) else previous + question
    return f"{previous} {question}"


class SimpleQueryRewriter:
    """QueryRewriter without a language model: heuristic follow-up detection, no retrieval queries."""

    def standalone(self, question: str, history: Sequence[HistoryTurn]) -> str:
        return self._standalone(question, list(history), _MAX_DEPTH)

    def _standalone(self, question: str, history: list[HistoryTurn], depth: int) -> str:
        if depth <= 0 or not looks_like_followup(question):
            return question
        for i in range(len(history) - 1, -1, -1):
            turn = history[i]
            if turn.role == "user" and turn.content.strip() and turn.content.strip() != question.strip():
                previous = self._standalone(turn.content, history[:i], depth - 1)
                return _join(previous, question)
        return question

    def retrieval_queries(self, question: str, language: Language) -> list[str]:
        return []

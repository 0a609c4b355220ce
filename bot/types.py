"""The data that flows between pipeline stages.

Evidence and citations are first-class: a passage keeps where it came from (document, heading path,
character offsets into the cleaned document), so every quoted sentence can be traced back.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["en", "zh-Hans", "zh-Hant"]
LANGUAGES: tuple[Language, ...] = ("en", "zh-Hans", "zh-Hant")


class Passage(BaseModel):
    """A citable unit: one paragraph or list item of a cleaned document, never a bare heading."""

    id: str  # f"{doc_id}:{ordinal}", stable while the document is unchanged
    doc_id: str  # from the file name, e.g. "002_be7f47508b907706"
    title: str  # document title (first real line)
    section: str  # heading path, e.g. "三、中原消費金融催收的方式 › 3.3 上門催收"; "" if none
    text: str  # the passage text, cleaned
    start: int  # character offsets of `text` in the cleaned document
    end: int
    source: str  # path of the document, relative to the docs directory
    # Statutes (bot.statutes): one passage per article (a long article in parts that share its label).
    kind: Literal["text", "article"] = "text"
    law: str = ""  # the law's title, 中华人民共和国民法典
    book: str = ""  # a book of a code, 人格权编
    law_key: str = ""  # groups the versions of one law (bot.statutes.make_law_key)
    article: str = ""  # the article's label as written, 第一千零三十三条
    article_no: int = 0  # 1033
    article_suffix: int = 0  # 1 for 之一
    part: int = 0  # 0: the whole article; 1, 2...: the parts of a long article
    version: str = ""  # the law version's date, ISO
    in_force: bool = True  # the newest version of its law in the corpus (superseded versions: False)

    @property
    def article_key(self) -> tuple[str, int, int] | None:
        """(law_key, number, suffix) for an article passage; None for other text."""
        return (self.law_key, self.article_no, self.article_suffix) if self.kind == "article" else None

    @property
    def memory_key(self) -> tuple[str, int, int]:
        """What a remembered question names (bot.memory): the article for a statute (all its parts), else this
        passage: ("doc:" + doc_id, -1, its ordinal). The first member groups keys as a law groups articles."""
        if self.kind == "article":
            return self.article_key
        ordinal = self.id.rsplit(":", 1)[-1]
        return ("doc:" + self.doc_id, -1, int(ordinal) if ordinal.isdigit() else -1)


class Hit(BaseModel):
    """A passage returned by retrieval, with its fused score (higher is better)."""

    passage: Passage
    score: float
    dense_score: float | None = None  # cosine similarity from the vector index, if it ranked the passage
    lexical_score: float | None = None  # BM25 score, if it ranked the passage


class Citation(BaseModel):
    n: int  # the [n] marker used in the answer text
    doc_id: str
    title: str
    section: str
    text: str  # the whole cleaned passage, in its original script
    quote: str  # the sentence(s) of the passage used in the answer, original script
    quote_en: str = ""  # the English rendering of `quote` shown in an English answer (unofficial translation)
    score: float
    passage_id: str = ""
    start: int = 0  # offsets of the passage in the cleaned document
    end: int = 0
    label: str = ""  # how to cite it: 《中华人民共和国民法典》第一千零三十三条（2020年5月28日版）, or the document title
    kind: str = "text"  # "article" for a statute article
    law: str = ""  # the law's title (statute articles)
    article: str = ""  # the article's label as written
    version: str = ""  # the law version's date
    in_force: bool = True


class Answer(BaseModel):
    question: str
    language: Language
    answer: str  # full text shown to the user, markers [n] included, notice included
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    notice: str = ""  # the not-legal-advice line (also the last line of `answer`)
    answerer: str = "extractive"  # which backend produced it: "extractive" or "llm"
    fallback_reason: str = ""  # why an LLM answer fell back to the extractive one, if it did
    standalone_question: str = ""  # the question after follow-up rewriting, when it differs
    dropped_sentences: int = 0  # LLM sentences removed by citation verification


class SearchResult(BaseModel):
    doc_id: str
    title: str
    section: str
    text: str
    score: float
    passage_id: str = ""

    @classmethod
    def from_hit(cls, hit: Hit) -> SearchResult:
        p = hit.passage
        return cls(doc_id=p.doc_id, title=p.title, section=p.section, text=p.text, score=round(hit.score, 6),
                   passage_id=p.id)


class StreamEvent(BaseModel):
    """One piece of a streamed answer.

    kind="delta": `text` is the next piece of the answer text.
    kind="done": `answer` is the complete Answer (citations included); always the last event.
    """

    kind: Literal["delta", "done"]
    text: str = ""
    answer: Answer | None = None


def final_answer(events: Iterable[StreamEvent]) -> Answer:
    """The Answer carried by the "done" event of a stream (consuming the stream)."""
    answer = None
    for event in events:
        if event.kind == "done":
            answer = event.answer
    if answer is None:
        raise RuntimeError("the answer stream ended without a done event")
    return answer


class HistoryTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str

"""A stand-in with the Assistant's shape, for API tests and for running the server without an index.

It answers by quoting the passage sharing the most characters with the question, and abstains (no citations,
no notice) on questions containing one of `abstain_words`. It records what it was asked (`calls`, `histories`).
Not used in production.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from bot.types import Answer, Citation, Hit, HistoryTurn, Passage, SearchResult, StreamEvent, final_answer

DEFAULT_PASSAGES = [
    ("000_fake", "催收规范", "一、上门催收", "催收人员不得在晚上十点后上门。催收人员上门前应当提前告知。"),
    ("001_fake", "催收規範", "二、威脅", "催收人員不得以暴力或威脅方式催收。遇到威脅可以報警。"),
    ("002_fake", "Repayment plans", "Instalments", "You can ask the lender for an instalment plan. Keep records."),
]


def _detect(text: str) -> str:
    if not re.search(r"[\u4e00-\u9fff]", text):
        return "en"
    trad = set("們個這為從來說還錢無時會與對關於開問題裡後麼讓債務")
    return "zh-Hant" if any(ch in trad for ch in text) else "zh-Hans"


class FakeAssistant:
    def __init__(self, passages: Sequence[tuple[str, str, str, str]] = DEFAULT_PASSAGES, delay_s: float = 0.0,
                 abstain_words: Sequence[str] = ("weather", "天气")):
        self.passages = [
            Passage(id=f"{d}:0", doc_id=d, title=t, section=s, text=x, start=0, end=len(x), source=f"{d}.txt")
            for d, t, s, x in passages
        ]
        self.delay_s = delay_s
        self.abstain_words = tuple(abstain_words)
        self.calls: list[tuple[str, str]] = []
        self.histories: list[list[HistoryTurn]] = []

    # --- the Assistant API -------------------------------------------------
    def search(self, question: str, k: int = 5) -> list[Hit]:
        self._check(question)
        q = set(question.lower())
        scored = sorted(
            ((len(q & set(p.text.lower())) / (1 + len(q)), i, p) for i, p in enumerate(self.passages)),
            key=lambda t: (-t[0], t[1]),
        )
        return [Hit(passage=p, score=round(s, 4)) for s, _, p in scored[:k]]

    def search_results(self, question: str, k: int = 5) -> list[SearchResult]:
        return [SearchResult.from_hit(h) for h in self.search(question, k)]

    def ask(self, question: str, history: Sequence[HistoryTurn] = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: Sequence[HistoryTurn] = ()) -> Iterator[StreamEvent]:
        self._check(question)
        self.calls.append(("stream", question))
        self.histories.append(list(history))
        if any(w in question.lower() for w in self.abstain_words):
            return self._abstain(question)
        return self._stream(question)

    def _abstain(self, question: str) -> Iterator[StreamEvent]:
        text = "The documents I have do not cover this question."
        yield StreamEvent(kind="delta", text=text)
        yield StreamEvent(kind="done", answer=Answer(question=question, language=_detect(question), answer=text,
                                                     abstained=True, citations=[]))

    def _stream(self, question: str) -> Iterator[StreamEvent]:
        t0 = time.perf_counter()
        hits = self.search(question, 2)
        lang = _detect(question)
        cites = []
        pieces = ["Here is what the documents say:\n" if lang == "en" else "资料中的相关内容如下:\n"]
        for n, h in enumerate(hits, 1):
            quote = re.split(r"(?<=。)|(?<=\.)(?=\s)", h.passage.text)[0].strip()
            cites.append(
                Citation(n=n, doc_id=h.passage.doc_id, title=h.passage.title, section=h.passage.section,
                         text=h.passage.text, quote=quote, score=h.score, passage_id=h.passage.id)
            )
            pieces.append(f"{quote} [{n}]\n")
        notice = "This is general information from the cited documents, not legal advice."
        pieces.append(notice)
        for piece in pieces:
            if self.delay_s:
                time.sleep(self.delay_s)
            yield StreamEvent(kind="delta", text=piece)
        yield StreamEvent(
            kind="done",
            answer=Answer(question=question, language=lang, answer="".join(pieces), abstained=False,
                          citations=cites, timings_ms={"total": (time.perf_counter() - t0) * 1000}, notice=notice),
        )

    def health(self) -> dict:
        return {"status": "ok", "documents": len({p.doc_id for p in self.passages}),
                "passages": len(self.passages), "model": "fake", "answerer": "extractive"}

    @staticmethod
    def _check(question: str) -> None:
        from bot.errors import BadQuestion

        if not isinstance(question, str) or not question.strip():
            raise BadQuestion("Please type a question.")

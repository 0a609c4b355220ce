"""The offline answerer: the few most relevant sentences of the retrieved passages, each with its [n].

Nothing is paraphrased, so nothing can be invented: every sentence shown is a sentence of a cited passage,
converted only in script (Traditional source shown in Simplified for a Simplified question). The original
sentence stays in the citation's `quote`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bot.language import in_script
from bot.lexical import tokenize
from bot.prompts import Strings
from bot.query import Query
from bot.types import Answer, Citation, Hit, Language, StreamEvent

# Sentence ends; a list item "1. ..." is one sentence even with a colon inside.
_SENTENCE = re.compile(r"[^。!?!?;;]+[。!?!?;;]*")
MIN_SENTENCE_CHARS = 8  # shorter fragments ("因此,") join the next sentence
RELATIVE_CUTOFF = 0.45  # a sentence must score at least this share of the best one to be included


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in (m.group(0).strip() for m in _SENTENCE.finditer(text)):
        if not piece:
            continue
        if out and len(out[-1]) < MIN_SENTENCE_CHARS:
            out[-1] += piece
        else:
            out.append(piece)
    return out


@dataclass
class _Candidate:
    hit_rank: int
    sentence: str
    score: float


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        idf: Callable[[str], float],
        strings: Strings,
        max_sentences: int = 3,
        max_passages: int = 5,
    ) -> None:
        self._idf = idf  # how much a shared word says (bot.corpus.Corpus.idf; unknown words weigh 1.0)
        self.strings = strings
        self.max_sentences = max_sentences
        self.max_passages = max_passages

    def select(self, query: Query, hits: Sequence[Hit]) -> list[tuple[int, str]]:
        """(hit rank, sentence) pairs to show, in passage-rank order."""
        terms = set(query.terms)
        total = sum(self._idf(t) for t in terms) or 1.0
        candidates: list[_Candidate] = []
        for rank, hit in enumerate(hits[: self.max_passages]):
            # Rank prior: retrieval already fused dense and lexical evidence for the passage as a whole.
            prior = 1.0 / (1.0 + 0.5 * rank)
            for sentence in sentences(hit.passage.text):
                words = set(tokenize(sentence))
                overlap = sum(self._idf(t) for t in terms & words) / total
                candidates.append(_Candidate(rank, sentence, prior * (0.6 + overlap)))
        if not candidates:
            return []
        best = max(c.score for c in candidates)
        chosen: list[_Candidate] = []
        per_passage: dict[int, int] = {}
        for c in sorted(candidates, key=lambda c: -c.score):
            if len(chosen) >= self.max_sentences or c.score < RELATIVE_CUTOFF * best:
                break
            if per_passage.get(c.hit_rank, 0) >= 2:
                continue
            per_passage[c.hit_rank] = per_passage.get(c.hit_rank, 0) + 1
            chosen.append(c)
        chosen.sort(key=lambda c: (c.hit_rank, hits[c.hit_rank].passage.text.find(c.sentence)))
        return [(c.hit_rank, c.sentence) for c in chosen]

    def stream(self, query: Query, hits: Sequence[Hit]) -> Iterator[StreamEvent]:
        question, language = query.text, query.language
        selected = self.select(query, hits)
        if not selected:
            answer = abstention(question, language, self.strings)
            yield StreamEvent(kind="delta", text=answer.answer)
            yield StreamEvent(kind="done", answer=answer)
            return
        numbers: dict[int, int] = {}
        quotes: dict[int, list[str]] = {}
        lines = [self.strings.text("lead", language)]
        yield StreamEvent(kind="delta", text=lines[0] + "\n")
        for rank, sentence in selected:
            n = numbers.setdefault(rank, len(numbers) + 1)
            quotes.setdefault(rank, []).append(sentence)
            line = f"- {in_script(sentence, language)} [{n}]"
            lines.append(line)
            yield StreamEvent(kind="delta", text=line + "\n")
        notice = self.strings.text("notice", language)
        lines.append(notice)
        yield StreamEvent(kind="delta", text=notice)
        citations = [
            Citation(
                n=n,
                doc_id=hits[rank].passage.doc_id,
                title=hits[rank].passage.title,
                section=hits[rank].passage.section,
                text=hits[rank].passage.text,
                quote="".join(quotes[rank]),
                score=round(hits[rank].score, 6),
                passage_id=hits[rank].passage.id,
                start=hits[rank].passage.start,
                end=hits[rank].passage.end,
            )
            for rank, n in numbers.items()
        ]
        answer = Answer(
            question=question, language=language, answer="\n".join(lines), abstained=False,
            citations=citations, notice=notice, answerer=self.name,
        )
        yield StreamEvent(kind="done", answer=answer)


def abstention(question: str, language: Language, strings: Strings) -> Answer:
    """The fixed cannot-answer reply: a plain statement, no citations, the notice."""
    notice = strings.text("notice", language)
    text = strings.text("abstain", language)
    return Answer(question=question, language=language, answer=f"{text}\n{notice}", abstained=True, notice=notice)

"""The offline answerer: the few most relevant sentences of the retrieved passages, each with its [n].

Nothing is paraphrased, so nothing can be invented: every sentence shown is a sentence of a cited passage,
converted only in script (Traditional source shown in Simplified for a Simplified question). The original
sentence stays in the citation's `quote`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bot.citation import article_label, citation, english_title, short_title
from bot.jurisdiction import needs_note
from bot.language import in_script
from bot.lexical import tokenize
from bot.prompts import Strings
from bot.query import Query
from bot.renderings import Renderings
from bot.sentences import sentences
from bot.types import Answer, Hit, Language, Passage, StreamEvent

RELATIVE_CUTOFF = 0.45  # a sentence must score at least this share of the best one to be included


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
        renderings: Renderings | None = None,
    ) -> None:
        self._idf = idf  # how much a shared word says (bot.corpus.Corpus.idf; unknown words weigh 1.0)
        self.strings = strings
        self.max_sentences = max_sentences
        self.max_passages = max_passages
        self.renderings = renderings or Renderings()  # English of quoted sentences, for English questions

    def select(self, query: Query, hits: Sequence[Hit]) -> list[tuple[int, str]]:
        """(hit rank, sentence) pairs to show, law first, then in passage-rank order."""
        terms = set(query.terms)
        total = sum(self._idf(t) for t in terms) or 1.0
        candidates: list[_Candidate] = []
        named = _named_article(query, hits)
        for rank, hit in enumerate(hits[: self.max_passages]):
            if named is not None and hit.passage.article_key != named:
                continue  # the question asked for one article: quote that article, not its neighbours
            # Rank prior: retrieval already fused dense and lexical evidence for the passage as a whole.
            prior = 1.0 / (1.0 + 0.5 * rank)
            for sentence in sentences(hit.passage.text):
                if _is_fragment(sentence) or _already_said(sentence, query):
                    continue
                words = set(tokenize(sentence))
                if query.focus and not words & set(query.focus):
                    continue  # a follow-up's quotes must answer the follow-up, not the question before it
                overlap = sum(self._idf(t) for t in terms & words) / total
                # A sentence sharing no word with the question is shown only from the best passage (where the
                # dense match vouches for it): elsewhere it would be a quote that does not bear on the question.
                if overlap == 0 and rank > 0:
                    continue
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
        chosen.sort(key=lambda c: (hits[c.hit_rank].passage.kind != "article", c.hit_rank,
                                   hits[c.hit_rank].passage.text.find(c.sentence)))
        return [(c.hit_rank, c.sentence) for c in chosen]

    def _english(self, passage: Passage, sentence: str, language: Language) -> str | None:
        """The stored English rendering of a quoted sentence, for an English question (never made up here)."""
        return self.renderings.english(passage.text, sentence) if language == "en" else None

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
        english: dict[int, list[str]] = {}
        rendered = {(rank, sentence): self._english(hits[rank].passage, sentence, language) for rank, sentence in selected}
        lead = "lead_translated" if any(rendered.values()) else "lead"
        lines = [self.strings.text(lead, language)]
        yield StreamEvent(kind="delta", text=lines[0] + "\n")
        kinds = {hits[rank].passage.kind for rank, _ in selected}
        heading_shown: set[str] = set()
        for rank, sentence in selected:
            passage = hits[rank].passage
            if len(kinds) > 1 and passage.kind not in heading_shown:  # law and articles: say which is which
                heading_shown.add(passage.kind)
                heading = self.strings.text("law_heading" if passage.kind == "article" else "articles_heading", language)
                lines.append(heading)
                yield StreamEvent(kind="delta", text=heading + "\n")
            n = numbers.setdefault(rank, len(numbers) + 1)
            quotes.setdefault(rank, []).append(sentence)
            translation = rendered[(rank, sentence)]
            if translation:
                english.setdefault(rank, []).append(translation)
                shown = f"{_neutral_brackets(_LIST_NUMBER.sub('', translation))} {self.strings.text('translated_mark', language)}"
            else:
                shown = _neutral_brackets(in_script(_LIST_NUMBER.sub("", sentence), language))
            if passage.kind == "article":
                shown = self.strings.text("according_to", language, law=short_citation(passage, language)) + shown
            line = f"- {shown} [{n}]"
            lines.append(line)
            yield StreamEvent(kind="delta", text=line + "\n")
        if language == "en" and not all(rendered.values()):
            missing = self.strings.text("no_english", language)
            lines.append(missing)
            yield StreamEvent(kind="delta", text=missing + "\n")
        if needs_note(query, kinds):
            whose_law = self.strings.text("jurisdiction", language)
            lines.append(whose_law)
            yield StreamEvent(kind="delta", text=whose_law + "\n")
        notice = self.strings.text("notice", language)
        lines.append(notice)
        yield StreamEvent(kind="delta", text=notice)
        citations = [citation(n, hits[rank], "".join(quotes[rank]), language, " ".join(english.get(rank, [])))
                     for rank, n in numbers.items()]
        answer = Answer(
            question=question, language=language, answer="\n".join(lines), abstained=False,
            citations=citations, notice=notice, answerer=self.name,
        )
        yield StreamEvent(kind="done", answer=answer)


# "3. 上門催收：" — a list item's number says nothing once the sentence is quoted alone.
_LIST_NUMBER = re.compile(r"^\s*(?:\d+(?:[.．]\d+)*[.．、)）]|[(（]\d+[)）]|[一二三四五六七八九十]+、)\s*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_DOC_MARKER = re.compile(r"\[(\d+)\]")
_CANNOT_START = frozenset("的了着著之地得")


def _is_fragment(sentence: str) -> bool:
    """A piece left by a scrape that lost words ("的信任度下降,進"), or a bare list heading ("3. 上門催收:"):
    too little text to stand as a quote on its own."""
    body = _LIST_NUMBER.sub("", sentence).strip()
    if len(_CJK.findall(body)) < 6 and not re.search(r"[A-Za-z]{3}", body):
        return True
    if body[:1] in _CANNOT_START:
        return True  # begins mid-sentence: the words before it were lost
    last_clause = re.split(r"[,，、]", body.rstrip("。!?！？;；"))[-1]
    if re.search(r"[,，、]", body) and len(_CJK.findall(last_clause)) <= 1:
        return True  # ends mid-word: "…下降,進。"
    return bool(re.search(r"[:：]$", body)) and len(body) <= 16


def _named_article(query: Query, hits: Sequence[Hit]) -> tuple | None:
    """The article key of the first hit when it is the article the question names ("民法典1033条")."""
    if query.article is None or not hits or not query.article.names(hits[0].passage):
        return None
    return hits[0].passage.article_key


def _already_said(sentence: str, query: Query) -> bool:
    """A follow-up ("and at night?") gets what the conversation has not shown yet, not the same quotes again."""
    if not query.said:
        return False
    body = _LIST_NUMBER.sub("", sentence).strip()
    return body in query.said or in_script(body, query.language) in query.said


def _neutral_brackets(text: str) -> str:
    """A document's own "[1]" or "[99]" must not read as one of the answer's citation markers."""
    return _DOC_MARKER.sub(r"［\1］", text)


def short_citation(passage: Passage, language: Language) -> str:
    """《民法典》第一千零三十三条 / Civil Code, Article 1033: the law's short name and the article, for the answer
    line (the citation below it gives the full title and the version)."""
    if language == "en":
        name = english_title(passage.law) or passage.law
        name = name.removesuffix(" of the PRC")
        number = f"{passage.article_no}" + (f"-{passage.article_suffix}" if passage.article_suffix else "")
        return f"{name}, Article {number}"
    text = f"《{short_title(passage.law)}》{article_label(passage.article_no, passage.article_suffix)}"
    return in_script(text, language)


def abstention(question: str, language: Language, strings: Strings) -> Answer:
    """The fixed cannot-answer reply: a plain statement, no citations, the notice (which cites nothing)."""
    notice = strings.text("abstain_notice", language)
    text = strings.text("abstain", language)
    return Answer(question=question, language=language, answer=f"{text}\n{notice}", abstained=True, notice=notice)

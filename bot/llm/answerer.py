"""LLMAnswerer: answers from the retrieved passages through the endpoint, showing only verified sentences.

Each completed sentence of the streamed reply is verified (bot.llm.verify) before anything of it is shown; only
verified sentences are emitted as deltas. So nothing unverified ever reaches the user, and the streamed text is
exactly the final Answer.answer (the price: the first delta arrives after the first whole sentence, not the first
token). The sentinel CANNOT_ANSWER gives an abstention. When no sentence survives, or the endpoint fails before
one did, the extractive answerer answers instead, prefixed with the `llm_fallback` notice, with
Answer.fallback_reason set. If the endpoint fails after some verified sentences were shown, the answer ends with
those (they are verified and cited) and fallback_reason stays empty.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bot.answerers import Answerer
from bot.jurisdiction import needs_note
from bot.llm.endpoint import Endpoint, LLMUnavailable, Timing
from bot.llm.templates import SENTINEL, PromptTemplate, sanitize
from bot.llm.verify import Similarity, Verifier, split_sentences, strip_thinking
from bot.prompts import Strings
from bot.query import Query
from bot.settings import Settings
from bot.types import Answer, Hit, Language, StreamEvent

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 12000  # stop reading a runaway answer (reasoning included) here
TEMPLATE = "llm_answer"
FIELDS = frozenset({"language_name", "k", "sentinel", "passages", "question"})

_LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "zh-Hans": "Simplified Chinese (简体中文)",
    "zh-Hant": "Traditional Chinese (繁體中文)",
}


class LLMAnswerer:
    """Answerer backed by an OpenAI-compatible chat endpoint; see the module docstring."""

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        fallback: Answerer,
        similarity: Similarity | None = None,
        endpoint: Endpoint | None = None,
    ):
        self.settings = settings
        self.fallback = fallback
        self.similarity = similarity
        self.prompts_dir = settings.prompts_dir
        self.strings = Strings(settings.prompts_dir)
        # A broken template is a start-up error (before the endpoint's client is built: that takes a while).
        self.template = PromptTemplate.load(TEMPLATE, self.prompts_dir, FIELDS)
        self.endpoint = endpoint or Endpoint(settings)

    # The prompt ---------------------------------------------------------------------------------------------
    def build_messages(self, question: str, language: Language, hits: Sequence[Hit]) -> list[Any]:
        blocks = []
        for i, hit in enumerate(hits, 1):
            p = hit.passage
            lines = [f'<passage id="{i}">', f"[{i}] title: {sanitize(p.title)}"]
            if p.section:
                lines.append(f"section: {sanitize(p.section)}")
            lines += [f"text: {sanitize(p.text)}", "</passage>"]
            blocks.append("\n".join(lines))
        return self.template.messages(
            language_name=_LANGUAGE_NAMES[language],
            k=str(len(hits)),
            sentinel=SENTINEL,
            passages="\n\n".join(blocks),
            question=sanitize(question),
        )

    # Answering ----------------------------------------------------------------------------------------------
    def stream(self, query: Query, hits: Sequence[Hit]) -> Iterator[StreamEvent]:
        question, language = query.text, query.language
        hits = list(hits)
        if not hits:
            yield from self._abstain(question, language, {})
            return
        s = self.settings
        timing = Timing()
        verifier = Verifier(hits, language, self.similarity)
        emitted: list[str] = []
        buf = ""
        sentinel = False
        failure: LLMUnavailable | None = None
        sep_pending = ""
        thinking = True  # until the reply is known not to start with a <think> block

        def emit(sentence: str) -> Iterator[StreamEvent]:
            nonlocal sentinel, sep_pending
            if SENTINEL in sentence:
                sentinel = True
                return
            if sentinel:
                return
            text = verifier.check(sentence)
            if text is not None:
                piece = (sep_pending if emitted else "") + text
                emitted.append(piece)
                yield StreamEvent(kind="delta", text=piece)
            # the whitespace after this sentence separates it from the next kept one
            trailing = sentence[len(sentence.rstrip()) :]
            sep_pending = "\n" if "\n" in trailing else (" " if language == "en" else "")

        try:
            messages = self.build_messages(question, language, hits)
            for delta in self.endpoint.stream_text(
                messages, s.llm_first_token_timeout_s, s.llm_total_timeout_s, timing, max_chars=MAX_ANSWER_CHARS
            ):
                buf += delta
                if thinking:
                    buf, thinking = strip_thinking(buf, final=False)
                    if thinking:
                        continue
                if not emitted and SENTINEL in buf:
                    sentinel = True  # whatever else the reply says, nothing of it was shown
                    break
                sentences, buf = split_sentences(buf, final=False)
                for sentence in sentences:
                    yield from emit(sentence)
                if sentinel:
                    break
            else:
                if thinking:
                    buf, thinking = strip_thinking(buf, final=True)
                if not emitted and SENTINEL in buf:
                    sentinel = True
                sentences, buf = split_sentences(buf, final=True)
                for sentence in sentences:
                    yield from emit(sentence)
        except LLMUnavailable as exc:
            failure = exc
            log.warning("LLM endpoint failed (%s)", exc)
        except Exception as exc:  # noqa: BLE001 - never raise to the caller for endpoint trouble
            failure = LLMUnavailable("malformed", f"{type(exc).__name__}: {exc}")
            log.exception("LLM answer failed")

        timings = {
            "llm_first_token": round(timing.first_token_ms or 0.0, 1),
            "llm_total": round(timing.total_ms or (time.perf_counter() - timing.started) * 1000, 1),
        }
        for sentence, why in verifier.dropped:
            log.info("dropped sentence (%s): %s", why, sentence[:200])

        if emitted:
            citations = verifier.citations()
            timings["verify"] = round(verifier.seconds * 1000, 1)
            notice = self.strings.text("notice", language)
            tail = "\n" + notice
            if needs_note(query, (c.kind for c in citations)):
                tail = "\n" + self.strings.text("jurisdiction", language) + tail
            yield StreamEvent(kind="delta", text=tail)
            if failure is not None:
                log.warning("LLM answer cut short (%s); keeping %d verified sentences", failure.reason, len(emitted))
            yield StreamEvent(
                kind="done",
                answer=Answer(
                    question=question, language=language, answer="".join(emitted) + tail, abstained=False,
                    citations=citations, timings_ms=timings, notice=notice, answerer="llm",
                    dropped_sentences=len(verifier.dropped),
                ),
            )
            return
        timings["verify"] = round(verifier.seconds * 1000, 1)
        if sentinel and failure is None:
            yield from self._abstain(question, language, timings)
            return
        reason = failure.reason if failure is not None else "unsupported"
        yield from self._fall_back(query, hits, reason, timings)

    def _abstain(self, question: str, language: Language, timings: dict[str, float]) -> Iterator[StreamEvent]:
        notice = self.strings.text("abstain_notice", language)  # an abstention cites nothing
        text = self.strings.text("abstain", language) + "\n" + notice
        yield StreamEvent(kind="delta", text=text)
        yield StreamEvent(
            kind="done",
            answer=Answer(
                question=question, language=language, answer=text, abstained=True, citations=[],
                timings_ms=timings, answerer="llm", notice=notice,
            ),
        )

    def _fall_back(
        self, query: Query, hits: Sequence[Hit], reason: str, timings: dict[str, float]
    ) -> Iterator[StreamEvent]:
        prefix = self.strings.text("llm_fallback", query.language) + "\n"
        yield StreamEvent(kind="delta", text=prefix)
        for event in self.fallback.stream(query, hits):
            if event.kind == "done" and event.answer is not None:
                a = event.answer
                yield StreamEvent(
                    kind="done",
                    answer=a.model_copy(
                        update={
                            "answer": prefix + a.answer,
                            "fallback_reason": reason,
                            "answerer": "extractive",
                            "timings_ms": {**a.timings_ms, **timings},
                        }
                    ),
                )
                return
            yield event

"""LLMQueryRewriter: follow-ups made standalone, and English questions translated for retrieval, by the LLM.

Best effort: any endpoint failure or unusable reply falls back to `fallback` (normally SimpleQueryRewriter).
Replies are cached (LRU), so a repeated question costs no request.
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from bot.answerers import QueryRewriter
from bot.language import to_simplified
from bot.llm.endpoint import Endpoint
from bot.llm.templates import SENTINEL, PromptTemplate, sanitize
from bot.llm.verify import CJK
from bot.rewrite import SimpleQueryRewriter
from bot.settings import Settings
from bot.types import HistoryTurn, Language

log = logging.getLogger(__name__)

MAX_REWRITE_CHARS = 400  # a rewritten / translated question longer than this is garbage
REWRITE_TOTAL_TIMEOUT_S = 15.0  # rewrite + translate are short; cap their total time below llm_total_timeout_s
CONDENSE_FIELDS = frozenset({"history", "question"})
TRANSLATE_FIELDS = frozenset({"question"})


class LLMQueryRewriter:
    """QueryRewriter that asks the LLM; any failure falls back to `fallback` (normally SimpleQueryRewriter)."""

    CACHE_SIZE = 256

    def __init__(self, settings: Settings, fallback: QueryRewriter | None = None, endpoint: Endpoint | None = None):
        self.settings = settings
        self.fallback = fallback or SimpleQueryRewriter()
        self.prompts_dir = settings.prompts_dir
        # Broken templates are a start-up error (before the endpoint's client is built: that takes a while).
        self.condense_template = PromptTemplate.load("llm_condense", self.prompts_dir, CONDENSE_FIELDS)
        self.translate_template = PromptTemplate.load("llm_translate", self.prompts_dir, TRANSLATE_FIELDS)
        self.endpoint = endpoint or Endpoint(settings)
        self._cache: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, ...], compute: Callable[[], str]) -> str:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    def _complete(self, messages: list) -> str:
        total = min(self.settings.llm_total_timeout_s, REWRITE_TOTAL_TIMEOUT_S)
        return self.endpoint.complete(messages, total, max_chars=MAX_REWRITE_CHARS * 2)

    @staticmethod
    def _clean(reply: str) -> str:
        lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
        text = lines[0] if lines else ""
        text = re.sub(r"^(standalone question|question|translation|问题|問題|翻译|翻譯)\s*[::]\s*", "", text, flags=re.I)
        return text.strip().strip("\"'“”‘’「」『』`").strip()

    def standalone(self, question: str, history: Sequence[HistoryTurn]) -> str:
        turns = [t for t in history if t.content.strip()][-6:]
        if not any(t.role == "user" for t in turns):
            return question
        lines = []
        for t in turns:
            content = sanitize(t.content)
            if t.role == "assistant" and len(content) > 300:
                content = content[:300] + "…"
            lines.append(f"{t.role}: {content}")
        try:
            reply = self._cached(
                ("condense", question, *lines),
                lambda: self._complete(
                    self.condense_template.messages(history="\n".join(lines), question=sanitize(question))
                ),
            )
        except Exception as exc:  # noqa: BLE001 - rewriting is best effort
            log.warning("LLM condense failed (%s); using the simple rewriter", exc)
            return self.fallback.standalone(question, history)
        text = self._clean(reply)
        if not text or len(text) > MAX_REWRITE_CHARS or SENTINEL in text:
            return self.fallback.standalone(question, history)
        return text

    def retrieval_queries(self, question: str, language: Language) -> list[str]:
        if language != "en" or not self.settings.llm_translate_queries:
            return self.fallback.retrieval_queries(question, language)
        try:
            reply = self._cached(
                ("translate", question),
                lambda: self._complete(self.translate_template.messages(question=sanitize(question))),
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("LLM translation failed (%s)", exc)
            return self.fallback.retrieval_queries(question, language)
        text = to_simplified(self._clean(reply))
        if not text or len(text) > MAX_REWRITE_CHARS or len(CJK.findall(text)) < 2:
            return self.fallback.retrieval_queries(question, language)
        return [text]

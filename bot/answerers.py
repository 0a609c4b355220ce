"""The answering stage's interface. Backends: the offline extractive answerer (default, bot/extractive.py)
and the LLM answerer (bot/llm/), chosen by configuration.

An answerer turns a Query and its retrieved evidence into a stream of events: text deltas, then exactly
one final StreamEvent(kind="done", answer=Answer(...)) carrying the whole answer and its citations.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from bot.query import Query
from bot.types import Hit, HistoryTurn, Language, StreamEvent


class Answerer(Protocol):
    name: str  # "extractive" or "llm"

    def stream(self, query: Query, hits: Sequence[Hit]) -> Iterator[StreamEvent]:
        """Answer `query` (in `query.language`) from `hits` (best first). Last event is kind="done"."""
        ...


class QueryRewriter(Protocol):
    """Turns a follow-up into a standalone question and, optionally, a question into retrieval queries."""

    def standalone(self, question: str, history: Sequence[HistoryTurn]) -> str: ...

    def retrieval_queries(self, question: str, language: Language) -> list[str]:
        """Extra queries for retrieval (e.g. a Chinese translation of an English question); may be empty."""
        ...

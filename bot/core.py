"""The assistant: one object that the CLI, the web app and the API all use.

    assistant = Assistant.load(settings)        # loads the built index; raises IndexNotReady with advice
    assistant.search("催收可以威胁我吗", k=5)    # -> list[Hit]
    assistant.ask("Can they visit my home?")    # -> Answer
    for event in assistant.stream(question, history):   # -> StreamEvent (deltas, then one "done")
        ...

Internally a LangChain (LCEL) chain: rewrite follow-up -> retrieve -> select evidence -> answer.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.types import Answer, Hit, HistoryTurn, StreamEvent


class BotError(Exception):
    """An error a user can cause or fix; its message says what to do. Never shown as a traceback."""


class IndexNotReady(BotError):
    """The index is missing, partial, corrupt or built with another embedding model."""


class BadQuestion(BotError):
    """Empty or otherwise unusable question."""

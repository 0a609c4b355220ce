"""Transport to one OpenAI-compatible chat endpoint: deadlines, a circuit breaker, failures classified.

The endpoint is anything that speaks POST /v1/chat/completions (OpenAI, Ollama, llama.cpp's llama-server, vLLM...),
reached through LangChain's ChatOpenAI with streaming, max_retries=0 and these limits:
  - connect timeout  settings.llm_connect_timeout_s      (httpx connect timeout)
  - first token      settings.llm_first_token_timeout_s  (from the request to the first text token)
  - total            settings.llm_total_timeout_s        (from the request to the end of the stream)
The request runs in a worker thread that feeds a queue; the caller waits on the queue with deadlines, so it is
never held longer than the limits (plus scheduling noise), whatever the network does. After a connection failure
or timeout the endpoint is skipped for BREAKER_COOLDOWN_S, so a dead endpoint costs one timeout, not one per call.
Every failure reaches the caller as LLMUnavailable with a `reason`.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.settings import Settings

BREAKER_COOLDOWN_S = 30.0  # after a connection failure / timeout, skip the endpoint this long


class LLMUnavailable(Exception):
    """The endpoint did not deliver: `reason` is "timeout", "connection", "http_error", "malformed" or "circuit_open"."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def classify(exc: BaseException) -> str:
    """The LLMUnavailable reason for an exception raised by the client (or anything in its cause chain)."""
    import openai

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, openai.APITimeoutError):
            return "timeout"
    for e in chain:
        if isinstance(e, openai.APIConnectionError):
            name = type(e.__cause__ or e.__context__ or e).__name__.lower()
            return "timeout" if "timeout" in name else "connection"
        if isinstance(e, openai.APIStatusError):
            return "http_error"
    for e in chain:
        name = type(e).__name__.lower()
        if "timeout" in name:
            return "timeout"
        if "connect" in name:
            return "connection"
    return "malformed"


@dataclass
class Timing:
    started: float = field(default_factory=time.perf_counter)
    first_token_ms: float | None = None
    total_ms: float | None = None


class Endpoint:
    """One OpenAI-compatible chat endpoint (shared by the answerer and the rewriter), with a circuit breaker."""

    def __init__(self, settings: Settings, chat: Any | None = None):
        self.settings = settings
        self.chat = chat if chat is not None else self._make_chat(settings)  # built now: first import ~1.5 s
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    @staticmethod
    def _make_chat(s: Settings) -> Any:
        import httpx
        from langchain_openai import ChatOpenAI

        # The read timeout (between bytes) is only a backstop that ends the worker thread; the caller's
        # deadlines in stream_text() are what the user waits for.
        timeout = httpx.Timeout(
            connect=s.llm_connect_timeout_s,
            read=max(s.llm_first_token_timeout_s, 1.0),
            write=max(s.llm_connect_timeout_s, 1.0),
            pool=s.llm_connect_timeout_s,
        )
        return ChatOpenAI(
            base_url=s.llm_base_url,
            api_key=s.llm_api_key or "not-needed",  # local servers ignore it; the client wants one
            model=s.llm_model,
            timeout=timeout,
            max_retries=0,
            streaming=True,
            temperature=0,
            use_responses_api=False,
        )

    def _check_breaker(self) -> None:
        with self._lock:
            if time.monotonic() < self._down_until:
                raise LLMUnavailable(self._down_reason or "connection", "endpoint recently failed; skipped")

    def _trip(self, reason: str) -> None:
        if reason in ("timeout", "connection"):
            with self._lock:
                self._down_until = time.monotonic() + BREAKER_COOLDOWN_S
                self._down_reason = reason

    def _reset(self) -> None:
        with self._lock:
            self._down_until = 0.0

    def stream_text(
        self,
        messages: list[Any],
        first_token_timeout_s: float,
        total_timeout_s: float,
        timing: Timing | None = None,
        *,
        max_chars: int,
    ) -> Iterator[str]:
        """Text deltas of the model's reply, up to about `max_chars`; raises LLMUnavailable. Never blocks past the
        deadlines."""
        self._check_breaker()
        timing = timing or Timing()
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                for chunk in self.chat.stream(messages):
                    if stop.is_set():
                        return
                    content = chunk.content
                    if not isinstance(content, str):
                        content = chunk.text
                    if content:
                        q.put(("delta", content))
                q.put(("end", None))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller through the queue
                q.put(("error", exc))

        first_deadline = timing.started + first_token_timeout_s
        total_deadline = timing.started + total_timeout_s
        threading.Thread(target=work, name="llm-stream", daemon=True).start()
        seen = 0
        try:
            while True:
                deadline = total_deadline if timing.first_token_ms is not None else min(first_deadline, total_deadline)
                remaining = deadline - time.perf_counter()
                try:
                    kind, value = q.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    self._trip("timeout")
                    raise LLMUnavailable("timeout", "no first token" if timing.first_token_ms is None else "total")
                if kind == "delta":
                    if timing.first_token_ms is None:
                        timing.first_token_ms = (time.perf_counter() - timing.started) * 1000
                    seen += len(value)
                    yield value
                    if seen >= max_chars:
                        return
                elif kind == "end":
                    if timing.first_token_ms is None:
                        raise LLMUnavailable("malformed", "empty reply")
                    self._reset()
                    return
                else:
                    reason = classify(value)
                    self._trip(reason)
                    raise LLMUnavailable(reason, f"{type(value).__name__}: {value}") from value
        finally:
            stop.set()
            timing.total_ms = (time.perf_counter() - timing.started) * 1000

    def complete(self, messages: list[Any], total_timeout_s: float, max_chars: int) -> str:
        """The whole (short) reply as one string; raises LLMUnavailable."""
        first = self.settings.llm_first_token_timeout_s
        return "".join(self.stream_text(messages, first, total_timeout_s, max_chars=max_chars))

"""Thumbs up/down feedback, stored locally as JSON lines in `data_dir/feedback.jsonl`.

Privacy: a record holds the rating, an answer id (the random id the server gave the answer, or, from older
clients, a hash of the answer text), the UI language and where it came from. The question text is stored only
when `settings.log_questions` is on. A store that cannot be written raises FeedbackUnavailable (HTTP 503).
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Literal

from bot.errors import BotError

Rating = Literal["up", "down"]


class FeedbackUnavailable(BotError):
    """The feedback file cannot be written (read-only disk, a file where the folder should be, disk full)."""


def answer_id(answer_text: str) -> str:
    """A stable, non-reversible id for an answer: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(answer_text.encode("utf-8")).hexdigest()[:16]


class FeedbackStore:
    def __init__(self, data_dir: Path, *, log_questions: bool = False):
        self.path = Path(data_dir) / "feedback.jsonl"
        self.log_questions = log_questions
        self._lock = threading.Lock()

    def add(
        self,
        rating: Rating,
        *,
        answer_id: str,
        source: str = "api",
        language: str = "",
        question: str | None = None,
    ) -> dict:
        if rating not in ("up", "down"):
            raise ValueError("rating must be 'up' or 'down'")
        record: dict = {
            "ts": round(time.time(), 3),
            "rating": rating,
            "answer_id": answer_id,
            "source": source,
        }
        if language:
            record["language"] = language
        if self.log_questions and question:
            record["question"] = question
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
        except OSError as exc:
            raise FeedbackUnavailable(
                "feedback could not be saved: the server's data folder is not writable "
                f"({exc.strerror or type(exc).__name__}); the operator should check settings.data_dir"
            ) from None
        return record

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

"""Thumbs up/down feedback, kept in a database: feedback must not be lost.

    store = FeedbackStore(settings.data_dir, log_questions=..., url=settings.feedback_url)
    store.prepare()            # at start: create the table, import an old feedback.jsonl (never raises)
    store.add("up", answer_id="...", source="api", language="en", question=None)
    store.read()               # every record, oldest first, as dicts (tests, tools)

Where it goes (settings.feedback_url):
- empty: SQLite, the file `data_dir/feedback.sqlite3` (stdlib sqlite3, WAL journal, a busy timeout). Safe for
  several worker processes on one host: each feedback is one INSERT in its own transaction, writers take turns.
- `sqlite:///PATH`: SQLite in another file (`sqlite:////var/lib/bot/feedback.sqlite3`: an absolute path).
- `postgresql://user:password@host:port/database` (or `postgres://`): PostgreSQL (psycopg 3), for several hosts.
  A connection per feedback (thumbs are rare; nothing to go stale), with connect and statement timeouts.

Privacy: a record holds the rating, an answer id (the random id the server gave the answer, or, from older
clients, a hash of the answer text), the UI language and where it came from. The question text is stored only
when `settings.log_questions` is on (also for records imported from feedback.jsonl).

A database that cannot be reached or written (unwritable folder, disk full, locked past the timeout, server
down, wrong password) raises FeedbackUnavailable (HTTP 503) within the timeout: never a 500, never a hang. The
message for the client names no path, host or password; the log has the details.

Migration: feedback written before the database (JSON lines in `data_dir/feedback.jsonl`) is imported when the
store is first prepared. Each line gets a key (line number + hash) with a UNIQUE constraint, so a second import,
or two workers importing at once, adds nothing twice. The file is then renamed `feedback.jsonl.migrated` (or
`.migrated.2`, ...: an earlier one is never overwritten) and kept. A line that cannot be read is reported by
its number (not its content) and skipped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Literal

from bot.errors import FeedbackUnavailable
from bot.serve.feedback_db import Backend, SQLiteFeedback, check_url

__all__ = ["FeedbackStore", "FeedbackUnavailable", "answer_id", "migrate_jsonl", "open_backend"]

Rating = Literal["up", "down"]
log = logging.getLogger("bot.serve")

SQLITE_FILE = "feedback.sqlite3"
LEGACY_FILE = "feedback.jsonl"


def answer_id(answer_text: str) -> str:
    """A stable, non-reversible id for an answer: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(answer_text.encode("utf-8")).hexdigest()[:16]


# --- where it goes ----------------------------------------------------------------------------------------------
def open_backend(url: str, data_dir: Path, *, timeout_s: float = 5.0) -> Backend:
    """Empty URL: SQLite in data_dir; sqlite:///PATH: SQLite there; postgresql://...: PostgreSQL."""
    url = check_url(url)
    if not url:
        return SQLiteFeedback(Path(data_dir) / SQLITE_FILE, timeout_s=timeout_s)
    if url.startswith("sqlite:///"):
        # As SQLAlchemy writes them: sqlite:///relative/path, sqlite:////absolute/path
        return SQLiteFeedback(Path(url.removeprefix("sqlite:///")), timeout_s=timeout_s)
    from bot.serve.feedback_pg import PostgresFeedback  # psycopg is imported only when PostgreSQL is chosen

    return PostgresFeedback(url, timeout_s=timeout_s)


# --- migration from feedback.jsonl ----------------------------------------------------------------------------------
def legacy_record(obj: object, *, log_questions: bool) -> dict:
    """A record of the old JSON-lines file, checked like a new one. ValueError(reason) when it is not usable."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if obj.get("rating") not in ("up", "down"):
        raise ValueError("rating is not 'up' or 'down'")
    aid = obj.get("answer_id")
    if not isinstance(aid, str) or not aid:
        raise ValueError("no answer_id")
    ts = obj.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        raise ValueError("no time stamp")
    record = {"ts": float(ts), "rating": obj["rating"], "answer_id": aid,
              "source": obj.get("source") if isinstance(obj.get("source"), str) and obj.get("source") else "api"}
    if isinstance(obj.get("language"), str) and obj["language"]:
        record["language"] = obj["language"]
    if log_questions and isinstance(obj.get("question"), str) and obj["question"]:
        record["question"] = obj["question"]
    return record


def read_legacy(path: Path, *, log_questions: bool) -> tuple[list[tuple[str, dict]], int, int]:
    """(key, record) for every usable line of a feedback.jsonl, the number of lines skipped, the bytes read.
    A key is the line number and a hash of the line: the same line of the same file always gets the same key."""
    raw = path.read_bytes()
    rows: list[tuple[str, dict]] = []
    skipped = 0
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = legacy_record(json.loads(line.decode("utf-8")), log_questions=log_questions)
        except UnicodeDecodeError:
            reason = "not UTF-8"
        except json.JSONDecodeError:
            reason = "not JSON (a line cut short?)"
        except ValueError as exc:
            reason = str(exc)
        else:
            rows.append((f"jsonl:{number}:{hashlib.sha256(line).hexdigest()[:32]}", record))
            continue
        skipped += 1
        log.warning("feedback: %s line %d skipped: %s", path.name, number, reason)  # never the content
    return rows, skipped, len(raw)


def kept_name(path: Path) -> Path:
    """feedback.jsonl.migrated, or .migrated.2, .3, ... when an earlier migration already kept one."""
    target = path.with_name(path.name + ".migrated")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.migrated.{n}")
        n += 1
    return target


def migrate_jsonl(backend: Backend, data_dir: Path, *, log_questions: bool) -> dict | None:
    """Import `data_dir/feedback.jsonl` into `backend` (idempotent), then keep it under another name.
    None when there is no such file. Raises FeedbackUnavailable when the database refuses the import (the file
    then stays where it is, to be imported at the next start)."""
    path = Path(data_dir) / LEGACY_FILE
    if not path.is_file():
        return None
    try:
        rows, skipped, size = read_legacy(path, log_questions=log_questions)
    except FileNotFoundError:  # another worker migrated it just now
        return None
    added = backend.import_records(rows)
    target = kept_name(path)
    try:
        os.rename(path, target)
    except FileNotFoundError:  # another worker renamed it first
        return None
    except OSError as exc:
        log.warning("feedback: imported %s but could not rename it (%s); it will be read again at the next start "
                    "(nothing is imported twice)", path, exc.strerror or exc)
        target = path
    else:
        # Lines an older server appended between our read and the rename are in the kept file: import them too.
        if target.stat().st_size != size:
            rows, skipped, _ = read_legacy(target, log_questions=log_questions)
            added += backend.import_records(rows)
    report = {"file": str(path), "kept_as": str(target), "records": len(rows), "added": added,
              "already_there": len(rows) - added, "skipped_lines": skipped}
    log.info("feedback: imported %d records from %s into the %s (%d already there, %d lines skipped); "
             "the file is kept as %s", added, path, backend.describe(), len(rows) - added, skipped, target.name)
    return report


# --- the store the app uses -----------------------------------------------------------------------------------------
class FeedbackStore:
    def __init__(self, data_dir: Path, *, log_questions: bool = False, url: str = "", timeout_s: float = 5.0):
        self.data_dir = Path(data_dir)
        self.log_questions = log_questions
        self.backend: Backend = open_backend(url, self.data_dir, timeout_s=timeout_s)
        self._lock = threading.Lock()
        self._schema_ready = False
        self._migrated = False
        self.migration: dict | None = None  # what the import of feedback.jsonl did, if there was one

    def _ensure_ready(self) -> None:
        """Create the table (once per process) and import an old feedback.jsonl (until that succeeds)."""
        if self._schema_ready and self._migrated:
            return
        with self._lock:
            if not self._schema_ready:
                self.backend.create_schema()
                self._schema_ready = True
            if not self._migrated:
                try:
                    self.migration = migrate_jsonl(self.backend, self.data_dir, log_questions=self.log_questions)
                    self._migrated = True
                except FeedbackUnavailable:
                    pass  # logged by the backend; the file stays, retried with the next feedback or start
                except OSError as exc:  # the old file cannot be read: say so, keep serving
                    log.error("feedback: cannot read %s for import: %s", self.data_dir / LEGACY_FILE,
                              exc.strerror or exc)
                    self._migrated = True

    def prepare(self) -> bool:
        """At start: create the table and import feedback.jsonl. False (logged, not raised) when the database
        cannot be used now: the server still starts, feedback answers 503 until it can."""
        try:
            self._ensure_ready()
        except FeedbackUnavailable:
            log.warning("feedback: the %s cannot be used now; feedback is refused (503) until it can",
                        self.backend.describe())
            return False
        log.info("feedback: stored in the %s", self.backend.describe())
        return True

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
        self._ensure_ready()
        self.backend.insert(record)
        return record

    def read(self) -> list[dict]:
        """Every record, oldest first: {"ts", "rating", "answer_id", "source"[, "language"][, "question"]}."""
        self._ensure_ready()
        return self.backend.read()

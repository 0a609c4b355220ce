"""Feedback databases: the backend interface, the SQLite backend and what every backend shares. See
bot/serve/feedback.py for the store the app uses, bot/serve/feedback_pg.py for PostgreSQL."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.errors import FeedbackUnavailable, SettingsError

log = logging.getLogger("bot.serve")

FIELDS = ("ts", "rating", "answer_id", "source", "language", "question")


def redact_url(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None and "password" not in parts.query:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:  # not parseable (a bad port...): show the scheme only
        return url.split(":", 1)[0] + "://..."


def check_url(url: str) -> str:
    """Empty, `sqlite:///PATH` or `postgresql://...`/`postgres://...`; anything else is a settings error."""
    url = url.strip()
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(
            "feedback_url must be empty (SQLite in data_dir), sqlite:///PATH or postgresql://user@host/db, "
            f"not {redact_url(url)!r}"
        )
    return url


# --- backends -----------------------------------------------------------------------------------------------------
class Backend(Protocol):
    """Where records go. Every method raises FeedbackUnavailable when the database cannot be used."""

    kind: str

    def create_schema(self) -> None: ...

    def insert(self, record: dict) -> None:
        """One record, one transaction."""

    def import_records(self, rows: list[tuple[str, dict]]) -> int:
        """(key, record) pairs in one transaction; a key already there is skipped. Returns how many were new."""

    def read(self) -> list[dict]: ...

    def describe(self) -> str:
        """Where the records go, for the log (no password)."""


def row_to_record(row: Iterable) -> dict:
    record = dict(zip(FIELDS, row))
    for optional in ("language", "question"):
        if not record[optional]:
            del record[optional]
    return record


def record_values(record: dict) -> tuple:
    return (record["ts"], record["rating"], record["answer_id"], record["source"],
            record.get("language") or None, record.get("question"))


class SQLiteFeedback:
    """One file; WAL journal (readers never block the writer); each write takes the write lock up front
    (BEGIN IMMEDIATE) and waits for it at most `timeout_s` (SQLite's busy timeout)."""

    kind = "sqlite"

    SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
        answer_id TEXT NOT NULL,
        source TEXT NOT NULL,
        language TEXT,
        question TEXT,
        import_key TEXT UNIQUE
    )"""
    INSERT = ("INSERT INTO feedback (ts, rating, answer_id, source, language, question) "
              "VALUES (?, ?, ?, ?, ?, ?)")
    IMPORT = ("INSERT OR IGNORE INTO feedback (ts, rating, answer_id, source, language, question, import_key) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)")

    def __init__(self, path: Path, *, timeout_s: float = 5.0):
        self.path = Path(path)
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    def _unavailable(self, exc: BaseException) -> FeedbackUnavailable:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        log.error("feedback: cannot write the SQLite database %s: %s", self.path, reason)
        return FeedbackUnavailable(
            "feedback could not be saved: the server's feedback database cannot be written "
            f"({reason}); the operator should check settings.data_dir (or feedback_url)"
        )

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every write below says BEGIN IMMEDIATE ... COMMIT.
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")  # a committed feedback survives a power cut too
        return conn

    def _write(self, sql: str, rows: list[tuple]) -> int:
        try:
            with closing(self._connect()) as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    added = sum(conn.execute(sql, row).rowcount for row in rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return added
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def create_schema(self) -> None:
        try:
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")  # stored in the file: set once, for every connection
                conn.execute(self.SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def insert(self, record: dict) -> None:
        self._write(self.INSERT, [record_values(record)])

    def import_records(self, rows: list[tuple[str, dict]]) -> int:
        return self._write(self.IMPORT, [(*record_values(rec), key) for key, rec in rows])

    def read(self) -> list[dict]:
        try:
            with closing(self._connect()) as conn:
                rows = conn.execute(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id").fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from None
        return [row_to_record(r) for r in rows]



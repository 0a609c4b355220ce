"""The PostgreSQL feedback backend (psycopg 3), for several hosts writing to one database. See feedback.py
and feedback_db.py (the interface it implements).

A connection per call: feedback is a click now and then, so there is no pool to size or to go stale after a
server restart. Every call is bounded: connect_timeout (libpq's minimum is 2 s), statement and lock timeouts on
the server, and tcp_user_timeout for a server that vanishes mid-call. Table creation and imports hold an
advisory lock, so workers starting together do not trip over each other.
"""
from __future__ import annotations

import logging
import math

import psycopg

from bot.errors import FeedbackUnavailable
from bot.serve.feedback_db import FIELDS, record_values, redact_url, row_to_record

log = logging.getLogger("bot.serve")

LOCK_ID = 0x626F74_6662  # pg_advisory_xact_lock key for schema changes and imports ("bot", "fb")

SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    answer_id TEXT NOT NULL,
    source TEXT NOT NULL,
    language TEXT,
    question TEXT,
    import_key TEXT UNIQUE
)"""
INSERT = ("INSERT INTO feedback (ts, rating, answer_id, source, language, question) "
          "VALUES (%s, %s, %s, %s, %s, %s)")
IMPORT = ("INSERT INTO feedback (ts, rating, answer_id, source, language, question, import_key) "
          "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (import_key) DO NOTHING")


class PostgresFeedback:
    kind = "postgresql"

    def __init__(self, url: str, *, timeout_s: float = 5.0):
        self.url = url
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return f"PostgreSQL database {redact_url(self.url)}"

    def _unavailable(self, exc: BaseException) -> FeedbackUnavailable:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        log.error("feedback: cannot write to the %s: %s", self.describe(), detail)
        return FeedbackUnavailable(
            "feedback could not be saved: the feedback database (PostgreSQL) cannot be reached or refused the "
            f"write ({type(exc).__name__}); the operator should check the server and BOT_FEEDBACK_URL"
        )

    def _connect(self) -> psycopg.Connection:
        ms = max(1, int(self.timeout_s * 1000))
        return psycopg.connect(
            self.url,
            connect_timeout=max(2, math.ceil(self.timeout_s)),
            tcp_user_timeout=ms,
            options=f"-c statement_timeout={ms} -c lock_timeout={ms}",
            application_name="bot-feedback",
        )

    def _run(self, statements: list[tuple[str, tuple | None]], *, lock: bool = False) -> int:
        """The statements in one transaction; the rows they added."""
        try:
            with self._connect() as conn:  # commits on leaving without an error, then closes
                with conn.cursor() as cur:
                    if lock:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
                    added = 0
                    for sql, params in statements:
                        cur.execute(sql, params)
                        added += max(0, cur.rowcount)
                    return added
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None

    def create_schema(self) -> None:
        self._run([(SCHEMA, None)], lock=True)

    def insert(self, record: dict) -> None:
        self._run([(INSERT, record_values(record))])

    def import_records(self, rows: list[tuple[str, dict]]) -> int:
        return self._run([(IMPORT, (*record_values(rec), key)) for key, rec in rows], lock=True)

    def read(self) -> list[dict]:
        try:
            with self._connect() as conn:
                rows = conn.execute(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id").fetchall()
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        return [row_to_record(r) for r in rows]

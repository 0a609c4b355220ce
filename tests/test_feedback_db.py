"""Feedback goes to a database and is never lost (bot/serve/feedback.py).

- SQLite (the default, data_dir/feedback.sqlite3): several worker processes writing at once lose nothing.
- PostgreSQL (BOT_FEEDBACK_URL=postgresql://...): tested against a real server this file starts in a temporary
  folder (Debian's postgresql package: initdb + pg_ctl, as the `postgres` user when the tests run as root, on
  a free port, stopped at the end). scripts/test.sh installs the package when it is missing.
- A database that cannot be reached or written is a 503 with a clear message, quickly: never a 500, never a hang.
- Feedback written before the database (data_dir/feedback.jsonl) is imported once and the file kept.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi.testclient import TestClient  # noqa: E402

from bot.serve import create_app  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.feedback import FeedbackStore, FeedbackUnavailable  # noqa: E402
from bot.settings import ROOT, get_settings  # noqa: E402

SECRET_Q = "我欠了三万块 secret-question-91c2"


def client(data_dir: Path, **overrides) -> TestClient:
    settings = get_settings(data_dir=data_dir, rate_limit_per_minute=0, **overrides)
    return TestClient(create_app(FakeAssistant(), settings, with_ui=False), raise_server_exceptions=False)


# --- a real PostgreSQL server, started for these tests ---------------------------------------------------------
def postgres_bin() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/VERSION/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if
                      p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway cluster: trust authentication for user `app`, listening on 127.0.0.1 only. Yields its base
    URL (no database). The server refuses to run as root, so as root it runs as the `postgres` user."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package "
                    "(bash scripts/install_postgresql.sh; scripts/test.sh does it)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            import pwd

            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the PostgreSQL server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: /tmp/pytest-of-root is private to root, and the server runs as postgres.
    work = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    if as_user:
        os.chown(work, pg_user.pw_uid, pg_user.pw_gid)
    data, port = work / "data", free_port()

    def run(*args: str, timeout: float = 120) -> None:
        subprocess.run([*as_user, str(bindir / args[0]), *args[1:]], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "app", "-E", "UTF8", "--no-locale", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(work / "server.log"), "-w", "-t", "60",
            "-o", f"-k {work} -p {port} -c listen_addresses=127.0.0.1", "start")
    except subprocess.CalledProcessError as exc:
        log = (work / "server.log").read_text(errors="replace") if (work / "server.log").exists() else ""
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}") from None
    try:
        yield f"postgresql://app@127.0.0.1:{port}"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A fresh, empty database on the test server, for one test."""
    import psycopg

    name = "feedback_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


def pg_rows(url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT rating, answer_id, source, language, question FROM feedback ORDER BY id").fetchall()


# --- several processes writing at once lose nothing --------------------------------------------------------------
WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from bot.serve.feedback import FeedbackStore

    data_dir, url, name, count, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
    store = FeedbackStore(Path(data_dir), url=url)
    store.prepare()
    while not go.exists():  # every writer starts at the same moment
        time.sleep(0.01)
    for i in range(count):
        store.add("up" if i % 2 else "down", answer_id=f"{name}-{i}", source="load")
""")


def write_from_processes(data_dir: Path, url: str, processes: int, each: int) -> None:
    go = data_dir.parent / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), url, f"w{n}", str(each), str(go)],
                              env=env, stderr=subprocess.PIPE, text=True) for n in range(processes)]
    time.sleep(1.5)  # let them import and open the store
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err


def test_sqlite_four_processes_writing_at_once_lose_nothing(tmp_path):
    """Like `app.py --workers 4`: four processes, 200 feedbacks each, all into data_dir/feedback.sqlite3."""
    data_dir = tmp_path / "data"
    write_from_processes(data_dir, "", processes=4, each=200)
    records = FeedbackStore(data_dir).read()
    assert len(records) == 800
    assert {r["answer_id"] for r in records} == {f"w{n}-{i}" for n in range(4) for i in range(200)}
    with sqlite3.connect(data_dir / "feedback.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_postgresql_four_processes_writing_at_once_lose_nothing(tmp_path, pg_url):
    write_from_processes(tmp_path / "data", pg_url, processes=4, each=200)
    rows = pg_rows(pg_url)
    assert len(rows) == 800 and len({r[1] for r in rows}) == 800


# --- PostgreSQL through the API ----------------------------------------------------------------------------------
def test_feedback_endpoint_writes_to_postgresql_without_the_question(tmp_path, pg_url):
    c = client(tmp_path / "data", feedback_url=pg_url)
    r = c.post("/api/feedback", json={"rating": "up", "answer_id": "abc123", "question": SECRET_Q,
                                      "language": "zh-Hans", "source": "widget"})
    assert r.status_code == 200, r.text
    assert pg_rows(pg_url) == [("up", "abc123", "widget", "zh-Hans", None)]
    assert not (tmp_path / "data" / "feedback.sqlite3").exists()  # nothing went to the local default
    records = FeedbackStore(tmp_path / "data", url=pg_url).read()
    assert records == [{**records[0], "rating": "up", "answer_id": "abc123", "source": "widget", "language": "zh-Hans"}]
    assert "question" not in records[0]


def test_postgresql_keeps_the_question_only_when_logging_is_on(tmp_path, pg_url):
    c = client(tmp_path / "data", feedback_url=pg_url, log_questions=True)
    assert c.post("/api/feedback", json={"rating": "down", "answer_id": "q1", "question": SECRET_Q}).status_code == 200
    assert pg_rows(pg_url) == [("down", "q1", "api", None, SECRET_Q)]


def test_unreachable_postgresql_is_a_503_quickly_and_the_server_still_starts(tmp_path, caplog):
    """Nothing listens on the port: the app starts (answers work), feedback says 503 and why, no password shown."""
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{free_port()}/feedback"
    c = client(tmp_path / "data", feedback_url=url, feedback_timeout_s=2)
    assert c.post("/api/ask", json={"question": "催收可以上门吗"}).status_code == 200
    started = time.monotonic()
    r = c.post("/api/feedback", json={"rating": "up", "answer_id": "abc"})
    assert time.monotonic() - started < 10
    assert r.status_code == 503 and set(r.json()) == {"error"}
    assert "feedback could not be saved" in r.json()["error"] and "PostgreSQL" in r.json()["error"]
    assert "s3cret-pw" not in r.text and "s3cret-pw" not in caplog.text
    assert "127.0.0.1" not in r.text  # where the database lives is for the operator's log, not for clients


def test_a_bad_feedback_url_is_a_settings_error():
    from bot.errors import SettingsError

    with pytest.raises(SettingsError, match="BOT_FEEDBACK_URL"):
        get_settings(feedback_url="mysql://root@db/feedback")


def test_a_sqlite_url_puts_the_file_elsewhere(tmp_path):
    path = tmp_path / "elsewhere" / "fb.sqlite3"  # sqlite:////abs/path, as SQLAlchemy writes it
    store = FeedbackStore(tmp_path / "data", url=f"sqlite:///{path}")
    store.add("down", answer_id="e1")
    assert path.exists() and not (tmp_path / "data" / "feedback.sqlite3").exists()
    assert [r["answer_id"] for r in store.read()] == ["e1"]


# --- SQLite failures: 503, never a hang --------------------------------------------------------------------------
def test_sqlite_locked_longer_than_the_timeout_is_a_503_not_a_hang(tmp_path):
    data_dir = tmp_path / "data"
    c = client(data_dir, feedback_timeout_s=0.5)
    blocker = sqlite3.connect(data_dir / "feedback.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        started = time.monotonic()
        r = c.post("/api/feedback", json={"rating": "up", "answer_id": "abc"})
        assert time.monotonic() - started < 5
        assert r.status_code == 503 and "feedback could not be saved" in r.json()["error"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert c.post("/api/feedback", json={"rating": "up", "answer_id": "abc"}).status_code == 200  # lock gone


def test_a_corrupt_sqlite_file_is_a_503(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "feedback.sqlite3").write_bytes(b"this is not a database" * 100)
    r = client(data_dir).post("/api/feedback", json={"rating": "up", "answer_id": "abc"})
    assert r.status_code == 503 and "feedback could not be saved" in r.json()["error"]
    assert str(tmp_path) not in r.text


# --- migration of feedback.jsonl ---------------------------------------------------------------------------------
OLD_LINES = [
    json.dumps({"ts": 1700000000.125, "rating": "up", "answer_id": "old1", "source": "api"}).encode(),
    json.dumps({"ts": 1700000001.5, "rating": "down", "answer_id": "old2", "source": "chat", "language": "en",
                "question": SECRET_Q}, ensure_ascii=False).encode(),
    b"{not json at all",
    "\ufeffx".encode("utf-16"),  # not UTF-8
    json.dumps({"ts": 1700000002, "rating": "meh", "answer_id": "old3"}).encode(),
    json.dumps({"ts": 1700000003, "rating": "up", "answer_id": "old4", "source": "widget"}).encode(),
    b'{"ts": 1700000004, "rating": "up", "answ',  # the server died mid-line
]


def old_file(data_dir: Path) -> bytes:
    data_dir.mkdir(parents=True, exist_ok=True)
    content = b"\n".join(OLD_LINES)
    (data_dir / "feedback.jsonl").write_bytes(content)
    return content


def test_old_feedback_is_imported_once_and_the_file_kept(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot.serve")
    data_dir = tmp_path / "data"
    content = old_file(data_dir)
    c = client(data_dir)  # start-up imports it
    assert c.post("/api/feedback", json={"rating": "up", "answer_id": "new1"}).status_code == 200

    records = FeedbackStore(data_dir).read()
    assert [r["answer_id"] for r in records] == ["old1", "old2", "old4", "new1"]
    assert records[0] == {"ts": 1700000000.125, "rating": "up", "answer_id": "old1", "source": "api"}
    assert records[1]["language"] == "en" and "question" not in records[1]  # log_questions is off now
    # Kept, byte for byte, under another name; the bad lines are reported by number, their content is not logged.
    assert not (data_dir / "feedback.jsonl").exists()
    assert (data_dir / "feedback.jsonl.migrated").read_bytes() == content
    for n in (3, 4, 5, 7):
        assert f"feedback.jsonl line {n} skipped" in caplog.text
    assert "secret-question" not in caplog.text and "not json at all" not in caplog.text
    assert "imported 3 records" in caplog.text

    # The same file again (copied back by hand, or a second worker racing): nothing is added twice, and the
    # first kept copy is not overwritten.
    shutil.copy(data_dir / "feedback.jsonl.migrated", data_dir / "feedback.jsonl")
    client(data_dir)
    assert [r["answer_id"] for r in FeedbackStore(data_dir).read()] == ["old1", "old2", "old4", "new1"]
    assert (data_dir / "feedback.jsonl.migrated").read_bytes() == content
    assert (data_dir / "feedback.jsonl.migrated.2").read_bytes() == content


def test_questions_in_the_old_file_are_imported_when_logging_is_on(tmp_path):
    data_dir = tmp_path / "data"
    old_file(data_dir)
    records = FeedbackStore(data_dir, log_questions=True).read()
    assert records[1]["question"] == SECRET_Q


def test_old_feedback_is_imported_once_into_postgresql(tmp_path, pg_url):
    data_dir = tmp_path / "data"
    old_file(data_dir)
    client(data_dir, feedback_url=pg_url)
    shutil.copy(data_dir / "feedback.jsonl.migrated", data_dir / "feedback.jsonl")
    client(data_dir, feedback_url=pg_url)  # a second host or restart with the same file: no duplicates
    assert [r[1] for r in pg_rows(pg_url)] == ["old1", "old2", "old4"]


def test_old_feedback_waits_for_a_database_that_is_down(tmp_path):
    """The import fails: the file stays where it is (imported at a later start), the server starts anyway."""
    data_dir = tmp_path / "data"
    content = old_file(data_dir)
    url = f"postgresql://app@127.0.0.1:{free_port()}/feedback"
    store = FeedbackStore(data_dir, url=url, timeout_s=2)
    assert store.prepare() is False
    with pytest.raises(FeedbackUnavailable):
        store.add("up", answer_id="x")
    assert (data_dir / "feedback.jsonl").read_bytes() == content

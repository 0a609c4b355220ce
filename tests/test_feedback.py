"""Feedback is stored (a database: tests/test_feedback_db.py), and by default no question text is written anywhere."""
from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi.testclient import TestClient  # noqa: E402

from bot.serve import create_app  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.feedback import FeedbackStore, answer_id  # noqa: E402
from bot.settings import get_settings  # noqa: E402

SECRET_Q = "我欠了招商银行三万块 secret-question-7f3a"


def _client(tmp_path, **overrides):
    settings = get_settings(data_dir=tmp_path / "data", **overrides)
    return TestClient(create_app(FakeAssistant(), settings, with_ui=False), raise_server_exceptions=False)


def _all_text_under(path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in path.rglob("*") if p.is_file())


def test_feedback_by_answer_text_stores_hash_not_question(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    c = _client(tmp_path)
    answer = c.post("/api/ask", json={"question": SECRET_Q}).json()
    c.get("/api/search", params={"q": SECRET_Q})
    r = c.post("/api/feedback", json={"rating": "up", "answer": answer["answer"], "question": SECRET_Q,
                                      "language": "zh-Hans", "source": "widget"})
    assert r.status_code == 200
    assert r.json() == {"ok": True, "answer_id": answer_id(answer["answer"])}
    records = FeedbackStore(tmp_path / "data").read()
    assert len(records) == 1
    rec = records[0]
    assert rec["rating"] == "up" and rec["answer_id"] == answer_id(answer["answer"])
    assert rec["source"] == "widget" and rec["language"] == "zh-Hans"
    assert "question" not in rec
    # No question text anywhere: not in data_dir, not in any log record.
    assert "secret-question-7f3a" not in _all_text_under(tmp_path)
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # httpx*: the test client
    assert not [r for r in server_side if "secret-question-7f3a" in r.getMessage()]


def test_access_log_drops_query_strings():
    """app.py's filter on uvicorn.access: GET /api/search?q=... is logged without the question."""
    import app

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/api/search?q=" + SECRET_Q + "&k=5", "1.1", 200), None)
    assert app._StripQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /api/search HTTP/1.1" 200'


def test_feedback_by_id_and_question_kept_only_when_logging_on(tmp_path):
    c = _client(tmp_path, log_questions=True)
    r = c.post("/api/feedback", json={"rating": "down", "answer_id": "abc123", "question": SECRET_Q})
    assert r.status_code == 200
    [rec] = FeedbackStore(tmp_path / "data", log_questions=True).read()
    assert rec == {**rec, "rating": "down", "answer_id": "abc123", "question": SECRET_Q}


def test_feedback_validation(tmp_path):
    c = _client(tmp_path)
    bad = [
        {"rating": "meh", "answer_id": "a"},
        {"rating": "up"},
        {"rating": "up", "answer_id": ""},
        {"rating": "up", "answer_id": "../../etc/passwd"},
        {"rating": "up", "answer_id": "x" * 200},
        {"rating": 1, "answer_id": "a"},
        {"answer_id": "a"},
    ]
    for body in bad:
        r = c.post("/api/feedback", json=body)
        assert r.status_code == 400, body
        assert "error" in r.json()
    assert FeedbackStore(tmp_path / "data").read() == []


def test_store_keeps_records_in_order_without_questions(tmp_path):
    store = FeedbackStore(tmp_path, log_questions=False)
    store.add("up", answer_id="a1", question="q1")
    store.add("down", answer_id="a2", source="chat", language="en")
    recs = store.read()
    assert [r["rating"] for r in recs] == ["up", "down"]
    assert all("question" not in r for r in recs)

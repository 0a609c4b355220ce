"""Issue 11, serve side: what a new user and an attacker hit over HTTP (fake assistant, in-process client).

Each test names the row it reproduces: C1 lone surrogates, C6 unwritable feedback store, C7/S9 malformed
Gradio payloads, S1 the upload endpoint, S3 forwarded addresses and per-worker limits, S7 the Host header,
S8 security headers, W4 HEAD /healthz and {"error"} everywhere, per-answer ids, and the size caps of S2.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from bot.serve import create_app  # noqa: E402
from bot.serve.api import per_worker_limit  # noqa: E402
from bot.serve.common import MAX_HISTORY_TURN_CHARS, MAX_HISTORY_TURNS, client_ip, parse_proxies  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.feedback import FeedbackStore  # noqa: E402
from bot.settings import get_settings  # noqa: E402

SECRET = "my-secret-question-5d1c 我欠了三万"
LONE_SURROGATE_JSON = '"\\ud800 can they visit?"'  # valid JSON, not encodable as UTF-8


def make_client(tmp_path, assistant=None, with_ui=False, client=("testclient", 50000), workers=1, **overrides):
    settings = get_settings(data_dir=tmp_path / "data", **overrides)
    for key in ("trusted_proxies",):  # a setting bot/settings.py may not define yet
        if key in overrides:
            object.__setattr__(settings, key, overrides[key])
    app = create_app(assistant or FakeAssistant(), settings, with_ui=with_ui, workers=workers)
    return TestClient(app, raise_server_exceptions=False, client=client)


@pytest.fixture(scope="module")
def ui_client(tmp_path_factory):
    """One app with the Gradio chat mounted (mounting takes a few seconds)."""
    return make_client(tmp_path_factory.mktemp("ui"), with_ui=True)


def post_raw(client, path: str, raw: str):
    return client.post(path, content=raw.encode("utf-8"), headers={"Content-Type": "application/json"})


# --- C1: a lone surrogate is a 400, never a 500 ----------------------------------------------------------------
@pytest.mark.parametrize(
    "path, raw",
    [
        ("/api/ask", '{"question": %s}' % LONE_SURROGATE_JSON),
        ("/api/ask/stream", '{"question": %s}' % LONE_SURROGATE_JSON),
        ("/api/ask", '{"question": "ok", "history": [{"role": "user", "content": %s}]}' % LONE_SURROGATE_JSON),
        ("/api/ask/stream", '{"question": "ok", "history": [{"role": "assistant", "content": %s}]}'
         % LONE_SURROGATE_JSON),
        ("/api/feedback", '{"rating": "up", "answer": %s}' % LONE_SURROGATE_JSON),
        ("/api/feedback", '{"rating": "up", "answer_id": "a1", "question": %s}' % LONE_SURROGATE_JSON),
    ],
    ids=["ask", "stream", "ask-history", "stream-history", "feedback-answer", "feedback-question"],
)
def test_lone_surrogate_in_any_text_field_is_a_400_json_error(tmp_path, path, raw):
    c = make_client(tmp_path)
    r = post_raw(c, path, raw)
    assert r.status_code == 400, r.text
    assert "surrogate" in r.json()["error"]
    assert FeedbackStore(tmp_path / "data").read() == []


def test_lone_surrogate_in_search_query_is_not_a_500(tmp_path):
    c = make_client(tmp_path)
    r = c.get("/api/search?q=%ED%A0%80abc")  # the UTF-8-like bytes of U+D800
    assert r.status_code in (200, 400)
    assert r.json()


# --- C6: an unwritable feedback store is a 503 with a clear message ------------------------------------------------
def test_unwritable_feedback_store_is_503_json_with_a_clear_message(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be", encoding="utf-8")
    settings = get_settings(data_dir=blocker / "data")
    c = TestClient(create_app(FakeAssistant(), settings, with_ui=False), raise_server_exceptions=False)
    r = c.post("/api/feedback", json={"rating": "up", "answer_id": "abc"})
    assert r.status_code == 503
    assert set(r.json()) == {"error"}
    assert "feedback could not be saved" in r.json()["error"]
    assert str(tmp_path) not in r.text


# --- follow-up: every answer has its own id ---------------------------------------------------------------------
def test_each_answer_gets_its_own_id_even_identical_abstentions(tmp_path):
    c = make_client(tmp_path)
    a = c.post("/api/ask", json={"question": "what is the weather?"}).json()
    b = c.post("/api/ask", json={"question": "what is the weather?"}).json()
    assert a["abstained"] and b["abstained"] and a["answer"] == b["answer"]
    assert a["answer_id"] and b["answer_id"] and a["answer_id"] != b["answer_id"]
    events = c.post("/api/ask/stream", json={"question": "what is the weather?"}).text
    done = json.loads(events.split("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    assert done["answer_id"] not in (a["answer_id"], b["answer_id"])
    r = c.post("/api/feedback", json={"rating": "down", "answer_id": a["answer_id"]})
    assert r.status_code == 200 and r.json()["answer_id"] == a["answer_id"]


def test_abstention_gets_no_notice_added_by_the_server(tmp_path):
    a = make_client(tmp_path).post("/api/ask", json={"question": "weather tomorrow?"}).json()
    assert a["abstained"] and a["citations"] == []
    assert "general information from the cited documents" not in a["answer"]


# --- S2: what the server passes on is bounded -------------------------------------------------------------------
def test_server_caps_question_and_history_it_passes_on(tmp_path):
    fake = FakeAssistant()
    c = make_client(tmp_path, fake, max_body_bytes=3_000_000, max_question_chars=2000)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "长" * 5000}
               for i in range(40)]
    r = c.post("/api/ask", json={"question": "催收" * 20_000, "history": history})
    assert r.status_code == 200
    asked = fake.calls[-1][1]
    assert len(asked) <= 2001  # the assistant still sees it was over its limit, and says so
    passed = fake.histories[-1]
    assert len(passed) == MAX_HISTORY_TURNS
    assert all(len(t.content) <= MAX_HISTORY_TURN_CHARS for t in passed)
    assert passed[-1].content.startswith("turn 39 ")  # the latest turns are the ones kept


# --- S3: X-Forwarded-For only from trusted proxies; per-worker budgets -------------------------------------------------
def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path):
    c = make_client(tmp_path, rate_limit_per_minute=2, client=("203.0.113.9", 4000))
    codes = [c.post("/api/ask", json={"question": "x"}, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
             for i in range(4)]
    assert codes == [200, 200, 429, 429], "a client must not escape its bucket by inventing addresses"


def test_forwarded_for_is_used_from_a_trusted_proxy(tmp_path):
    c = make_client(tmp_path, rate_limit_per_minute=1, client=("10.0.0.5", 4000), trusted_proxies=["10.0.0.0/8"])
    h = lambda ip: {"X-Forwarded-For": f"1.1.1.1, {ip}"}  # noqa: E731  (leftmost entry: client-written)
    assert c.post("/api/ask", json={"question": "x"}, headers=h("198.51.100.1")).status_code == 200
    assert c.post("/api/ask", json={"question": "x"}, headers=h("198.51.100.2")).status_code == 200
    assert c.post("/api/ask", json={"question": "x"}, headers=h("198.51.100.1")).status_code == 429


def test_client_ip_rules():
    proxies = parse_proxies(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert client_ip("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"
    assert client_ip("127.0.0.1", "1.2.3.4", proxies) == "1.2.3.4"
    assert client_ip("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1", proxies) == "1.2.3.4"
    assert client_ip("127.0.0.1", "garbage", proxies) == "127.0.0.1"
    assert client_ip("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_ip("127.0.0.1", "1.2.3.4", []) == "127.0.0.1"
    with pytest.raises(Exception, match="trusted_proxies"):
        parse_proxies(["not-an-ip"])


def test_each_worker_gets_its_share_of_the_rate_limit(tmp_path):
    assert per_worker_limit(120, 2) == 60 and per_worker_limit(120, 1) == 120
    assert per_worker_limit(1, 4) == 1 and per_worker_limit(0, 2) == 0
    c = make_client(tmp_path, rate_limit_per_minute=4, workers=2)
    codes = [c.post("/api/ask", json={"question": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- W4: HEAD /healthz, and {"error"} on every path ------------------------------------------------------------------
def test_head_healthz_is_200(tmp_path):
    c = make_client(tmp_path)
    assert c.head("/healthz").status_code == 200
    assert c.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("method, path", [("GET", "/no/such/page"), ("GET", "/gradio_api/no-such-thing"),
                                          ("POST", "/healthz"), ("DELETE", "/widget.js"),
                                          ("GET", "/gradio_api/file=/etc/passwd")])
def test_errors_outside_the_api_are_json_error_objects(ui_client, method, path):
    r = ui_client.request(method, path)
    assert r.status_code >= 400
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()) == {"error"} and isinstance(r.json()["error"], str)


# --- S7: the demo page ignores the Host header -------------------------------------------------------------------------
def test_demo_page_never_copies_the_host_header(tmp_path):
    c = make_client(tmp_path, host="127.0.0.1", port=7860)
    r = c.get("/demo", headers={"Host": "evil.example:666"})
    assert r.status_code == 200
    assert "evil.example" not in r.text
    assert '<script src="/widget.js"' in r.text  # the live widget: same origin as the page
    assert "http://127.0.0.1:7860/widget.js" in r.text  # the snippet: the configured address


def test_demo_snippet_on_a_wildcard_host_names_a_placeholder(tmp_path):
    r = make_client(tmp_path, host="0.0.0.0", port=8000).get("/demo", headers={"Host": "evil.example"})
    assert "http://YOUR-SERVER:8000/widget.js" in r.text and "evil.example" not in r.text


# --- S8: security headers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/demo", "/docs", "/healthz", "/api/nope"])
def test_pages_refuse_foreign_frames_and_sniffing(ui_client, path):
    r = ui_client.get(path)
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]


def test_widget_script_stays_loadable_from_other_origins(ui_client):
    r = ui_client.get("/widget.js", headers={"Origin": "http://localhost:3000"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "x-frame-options" not in r.headers


# --- S1: the upload endpoint is closed ------------------------------------------------------------------------------------
def test_gradio_upload_writes_nothing_and_reveals_no_path(ui_client, tmp_path):
    from gradio.utils import get_upload_folder

    folder = get_upload_folder()
    before = {str(p) for p in Path(folder).rglob("*")} if os.path.isdir(folder) else set()
    r = ui_client.post("/gradio_api/upload", files={"files": ("evil.html", b"<script>alert(1)</script>")})
    assert r.status_code == 404 and r.json() == {"error": "not found"}
    assert "/tmp" not in r.text and folder not in r.text
    after = {str(p) for p in Path(folder).rglob("*")} if os.path.isdir(folder) else set()
    assert after == before
    assert ui_client.get("/gradio_api/upload_progress").status_code == 404


# --- C7 / S9: malformed Gradio payloads: 4xx JSON, and no question text in any log ------------------------------------
def _fn_index(client, api_name: str) -> int:
    deps = client.get("/config").json()["dependencies"]
    return next(d["id"] for d in deps if d.get("api_name") == api_name)


MALFORMED = [
    ("/gradio_api/queue/join", {"data": [SECRET], "fn_index": 99999, "session_hash": "s1"}),
    ("/gradio_api/queue/join", {"data": SECRET, "fn_index": "RESPOND", "session_hash": "s1"}),
    ("/gradio_api/queue/join", {"data": [SECRET], "fn_index": "RESPOND", "session_hash": "s1"}),
    ("/gradio_api/queue/join", {"data": [SECRET, [SECRET], {"x": SECRET}], "fn_index": "RESPOND",
                                "session_hash": "s1"}),
    ("/gradio_api/queue/join", [SECRET]),
    ("/gradio_api/run/predict", {"data": [SECRET]}),
    ("/gradio_api/run/predict", {"data": [{"q": SECRET}, None], "fn_index": "TAKE"}),
    ("/gradio_api/run/predict", {"data": [None, None], "fn_index": "LIKE", "event_data": SECRET}),
    ("/gradio_api/call/take_question", {"data": SECRET}),
    ("/gradio_api/run/take_question", {"data": [SECRET, None, None]}),
    ("/gradio_api/component_server", {"data": SECRET, "fn_name": "x", "component_id": 1, "session_hash": "s"}),
    ("/gradio_api/queue/join", "{not json " + SECRET),
]


@pytest.mark.parametrize("path, body", MALFORMED, ids=[f"{i}-{p.rsplit('/', 1)[-1]}" for i, (p, _) in
                                                       enumerate(MALFORMED)])
def test_malformed_gradio_payloads_are_4xx_json_and_never_logged(ui_client, caplog, capfd, path, body):
    names = {"RESPOND": "respond", "TAKE": "take_question", "LIKE": "on_like"}
    if isinstance(body, dict) and body.get("fn_index") in names:
        body = {**body, "fn_index": _fn_index(ui_client, names[body["fn_index"]])}
    caplog.set_level(logging.DEBUG)
    if isinstance(body, str):
        r = ui_client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    else:
        r = ui_client.post(path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == {"error"}
    assert "secret-question" not in r.text
    out, err = capfd.readouterr()
    logged = "\n".join(rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx"))
    for text in (out, err, logged):
        assert "secret-question" not in text and "三万" not in text


def test_a_well_formed_chat_event_still_works(ui_client):
    take = _fn_index(ui_client, "take_question")
    r = ui_client.post("/gradio_api/run/predict",
                       json={"data": ["催收可以上门吗", None], "fn_index": take, "session_hash": "ok1"})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0] == ""  # the question box is emptied, the question moved into the chat

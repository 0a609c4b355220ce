"""The HTTP API with a fake assistant: answers, SSE order, every error code, CORS, widget/demo/docs."""
from __future__ import annotations

import json
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from bot.errors import BadQuestion, BotError, IndexNotReady  # noqa: E402
from bot.serve import create_app  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.ratelimit import RateLimiter  # noqa: E402
from bot.settings import get_settings  # noqa: E402


def make_client(tmp_path, assistant=None, with_ui=False, **overrides) -> TestClient:
    settings = get_settings(data_dir=tmp_path / "data", **overrides)
    app = create_app(assistant or FakeAssistant(), settings, with_ui=with_ui)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture()
def client(tmp_path):
    return make_client(tmp_path)


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        events.append((name, json.loads("\n".join(data))))
    return events


# --- answers ----------------------------------------------------------------------------------------------
def test_ask_returns_answer_json(client):
    r = client.post("/api/ask", json={"question": "催收可以上门吗", "history": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"question", "language", "answer", "abstained", "citations", "timings_ms"}
    assert body["language"] == "zh-Hans"
    assert "[1]" in body["answer"]
    c = body["citations"][0]
    assert set(c) >= {"n", "doc_id", "title", "section", "text", "quote", "score"}
    assert c["quote"] in c["text"]


def test_stream_event_order(client):
    r = client.post("/api/ask/stream", json={"question": "Can they visit my home?"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [n for n, _ in events]
    assert names[0] == "delta" and names.count("delta") >= 2
    assert names[-2:] == ["citations", "done"]
    assert set(names[:-2]) == {"delta"}
    text = "".join(d["text"] for n, d in events if n == "delta")
    done = events[-1][1]
    assert text == done["answer"]
    assert events[-2][1]["citations"] == done["citations"]


def test_search_and_k_bounds(client):
    r = client.get("/api/search", params={"q": "上门", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["question"] == "上门" and len(body["results"]) == 2
    assert set(body["results"][0]) >= {"doc_id", "title", "section", "text", "score"}
    assert client.get("/api/search", params={"q": "上门", "k": 20}).status_code == 200
    for bad in ("0", "-1", "21", "abc", "2.5"):
        r = client.get("/api/search", params={"q": "上门", "k": bad})
        assert r.status_code == 400, bad
        assert "k" in r.json()["error"]
    assert client.get("/api/search").status_code == 400  # q missing
    assert client.get("/api/search", params={"q": "   "}).status_code == 400


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["passages"] == 3


# --- 400s -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/ask", "/api/ask/stream"])
@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": "   \n\t "},
        {},
        {"question": 5},
        {"question": None},
        {"question": ["a"]},
        {"question": "ok", "history": "nope"},
        {"question": "ok", "history": [{"role": "system", "content": "x"}]},
        {"question": "ok", "history": [{"role": "user", "content": 3}]},
        [1, 2],
        "just a string",
    ],
)
def test_bad_bodies_are_400(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"\xff\xfe", b'{"question": "x",}', b"null"])
def test_malformed_json_is_400(client, raw):
    r = client.post("/api/ask", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "error" in r.json()


def test_bot_errors_map_to_400_and_503(tmp_path):
    class Broken(FakeAssistant):
        def __init__(self, exc):
            super().__init__()
            self.exc = exc

        def ask(self, question, history=()):
            raise self.exc

        def stream(self, question, history=()):
            raise self.exc

    c = make_client(tmp_path, Broken(BadQuestion("Please type a question.")))
    r = c.post("/api/ask", json={"question": "x"})
    assert r.status_code == 400 and r.json() == {"error": "Please type a question."}
    c = make_client(tmp_path, Broken(BotError("nope")))
    assert c.post("/api/ask/stream", json={"question": "x"}).status_code == 400
    c = make_client(tmp_path, Broken(IndexNotReady("run ingest first")))
    r = c.post("/api/ask", json={"question": "x"})
    assert r.status_code == 503 and r.json() == {"error": "run ingest first"}
    assert c.post("/api/ask/stream", json={"question": "x"}).status_code == 503


def test_index_not_ready_message_has_no_absolute_paths(tmp_path):
    class NoIndex(FakeAssistant):
        def ask(self, question, history=()):
            raise IndexNotReady("No index found in /srv/secret/bot/index. Run `python -m bot ingest`; see docs/x.md")

    r = make_client(tmp_path, NoIndex()).post("/api/ask", json={"question": "x"})
    assert r.status_code == 503
    # ...and the rebuild hint in the form that works from the README.
    assert r.json() == {"error": "No index found in index. Run `.venv/bin/python -m bot ingest`; see docs/x.md"}


def test_real_bug_is_json_500_without_details(tmp_path):
    class Buggy(FakeAssistant):
        def ask(self, question, history=()):
            raise RuntimeError("/secret/path/to/file.py exploded")

    r = make_client(tmp_path, Buggy()).post("/api/ask", json={"question": "x"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal server error"}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_error_mid_stream_is_an_error_event(tmp_path):
    class Dies(FakeAssistant):
        def _stream(self, question):
            yield from list(super()._stream(question))[:1]
            raise RuntimeError("/secret/path")

    r = make_client(tmp_path, Dies()).post("/api/ask/stream", json={"question": "x"})
    events = parse_sse(r.text)
    assert events[0][0] == "delta"
    assert events[-1] == ("error", {"error": "internal server error"})


def test_unknown_api_path_is_json_404(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json() == {"error": "no such API endpoint"}


# --- 413 -------------------------------------------------------------------------------------------------------
def test_body_too_large_by_content_length(tmp_path):
    c = make_client(tmp_path, max_body_bytes=1000)
    r = c.post("/api/ask", json={"question": "x" * 2000})
    assert r.status_code == 413 and "error" in r.json()
    assert c.post("/api/ask", json={"question": "x" * 500}).status_code == 200


def test_body_too_large_by_actual_stream(tmp_path):
    """No Content-Length (chunked upload): the bytes actually received are counted."""
    c = make_client(tmp_path, max_body_bytes=1000)

    def chunks():
        yield b'{"question": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    r = c.post("/api/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413 and "error" in r.json()


def test_lying_content_length_is_still_caught(tmp_path):
    c = make_client(tmp_path, max_body_bytes=1000)
    body = json.dumps({"question": "x" * 5000}).encode()

    def gen():
        yield body

    r = c.post("/api/ask", content=gen(), headers={"Content-Type": "application/json", "Content-Length": "10"})
    assert r.status_code in (400, 413)


# --- 429 -------------------------------------------------------------------------------------------------------
def test_rate_limit_429_with_retry_after(tmp_path):
    c = make_client(tmp_path, rate_limit_per_minute=3)
    codes = [c.post("/api/ask", json={"question": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = c.get("/api/search", params={"q": "x"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "error" in r.json()
    # Health checks and the widget are not rate limited.
    assert c.get("/healthz").status_code == 200
    assert c.get("/widget.js").status_code == 200


def test_token_bucket_refills():
    now = [0.0]
    rl = RateLimiter(60, clock=lambda: now[0])  # one token a second
    assert all(rl.check("a") == 0 for _ in range(60))
    wait = rl.check("a")
    assert 0 < wait <= 1.0
    assert rl.check("b") == 0  # per client
    now[0] += 1.01
    assert rl.check("a") == 0
    assert rl.check("a") > 0
    assert RateLimiter.retry_after_header(0.2) == "1"
    assert RateLimiter(0).check("a") == 0  # 0 disables


# --- CORS ------------------------------------------------------------------------------------------------------
def test_cors_default_allows_localhost_any_port_not_others(client):
    for origin in ("http://127.0.0.1:5500", "http://localhost:3000", "https://localhost", "http://127.0.0.1:7860"):
        r = client.options("/api/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 200, origin
        assert r.headers["access-control-allow-origin"] == origin
        r = client.post("/api/ask", json={"question": "x"}, headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
    for origin in ("http://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example:80"):
        r = client.options("/api/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers, origin
        r = client.post("/api/ask", json={"question": "x"}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers, origin


def test_cors_configured_origins(tmp_path):
    c = make_client(tmp_path, allowed_origins=["https://bank-help.example"])
    r = c.post("/api/ask", json={"question": "x"}, headers={"Origin": "https://bank-help.example"})
    assert r.headers["access-control-allow-origin"] == "https://bank-help.example"
    r = c.post("/api/ask", json={"question": "x"}, headers={"Origin": "http://localhost:3000"})
    assert "access-control-allow-origin" not in r.headers


def test_errors_carry_cors_headers_for_the_widget(tmp_path):
    c = make_client(tmp_path, rate_limit_per_minute=1)
    h = {"Origin": "http://localhost:3000"}
    c.post("/api/ask", json={"question": "x"}, headers=h)
    r = c.post("/api/ask", json={"question": "x"}, headers=h)
    assert r.status_code == 429
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()


# --- widget, demo, docs, UI ---------------------------------------------------------------------------------
def test_widget_js_has_strings_and_no_external_urls(client):
    r = client.get("/widget.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    js = r.text
    assert json.dumps("借款人权益助手") in js and json.dumps("借款人權益助手") in js  # labels, 3 languages
    assert "/*STRINGS*/" not in js
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
    for needle in ("http://", "https://"):
        assert all(u.startswith(("http://www.w3.org/2000/svg", "http://HOST")) for u in _urls(js, needle))


def _urls(js: str, prefix: str) -> list[str]:
    out, i = [], js.find(prefix)
    while i >= 0:
        out.append(js[i : i + 60])
        i = js.find(prefix, i + 1)
    return out


def test_demo_page_escapes_host(client):
    r = client.get("/demo", headers={"Host": 'evil"><script>x</script>'})
    assert r.status_code == 200
    assert "<script>x</script>" not in r.text
    assert "/widget.js" in r.text


def test_openapi_and_local_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/ask/stream", "/api/search", "/api/feedback", "/healthz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "<script" not in docs.text.lower()


def test_no_absolute_paths_in_responses(client):
    texts = [client.get("/healthz").text, client.post("/api/ask", json={"question": "x"}).text,
             client.get("/openapi.json").text]
    for t in texts:
        assert "/work/" not in t and "/home/" not in t and "/tmp/" not in t


def test_gradio_page_is_mounted(tmp_path):
    c = make_client(tmp_path, with_ui=True)
    r = c.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    # API routes still win over the mounted chat app.
    assert c.get("/healthz").json()["status"] == "ok"
    assert c.get("/api/nope").json() == {"error": "no such API endpoint"}

"""A scripted fake OpenAI-compatible server for tests and benchmarks (real HTTP on 127.0.0.1, a free port).

    with FakeOpenAI() as server:                       # started in a thread
        server.script = [Reply("答案[1]。")]           # one Reply per request; the last one repeats
        settings = Settings(llm_base_url=server.base_url, llm_model="fake")
        ...
        server.requests                                # the JSON bodies received

POST /v1/chat/completions answers `stream: true` with SSE chunks (a role chunk at once, then after
`first_token_delay` the text in `chunk_size` pieces, a finish chunk and `data: [DONE]`), and `stream: false`
with one chat.completion JSON. `Reply.raw` sends those bytes instead (malformed streams), `Reply.status` an
HTTP error. Helpers: `closed_port_url()` (connection refused), `BlackHole` (a port whose connects hang) and
`count_requests(endpoint)` (how many requests an Endpoint started: tests of "no wait, no retry" count, not time).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str = ""
    chunk_size: int = 4  # characters per SSE chunk
    first_token_delay: float = 0.0  # seconds before the first content chunk
    chunk_delay: float = 0.0  # seconds between content chunks
    raw: bytes | None = None  # sent verbatim as the response body (status 200, text/event-stream)
    status: int = 200
    content_type: str = "text/event-stream"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: list[Reply] | Callable[[dict[str, Any]], Reply] = [Reply("")]
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the connection closes after each response

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # /v1/models, for clients that probe it
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "bad json"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._next(body)
                try:
                    if reply.status != 200:
                        self._json(reply.status, {"error": {"message": "scripted error", "type": "server_error"}})
                    elif reply.raw is not None:
                        self._start(reply.content_type)
                        time.sleep(reply.first_token_delay)
                        self.wfile.write(reply.raw)
                    elif body.get("stream"):
                        self._stream(reply)
                    else:
                        time.sleep(reply.first_token_delay)
                        self._json(200, {
                            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": reply.text}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        })
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts): fine

            def _start(self, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()

            def _stream(self, reply: Reply) -> None:
                self._start("text/event-stream")
                self.wfile.write(_chunk({"role": "assistant", "content": ""}))
                self.wfile.flush()
                time.sleep(reply.first_token_delay)
                text, size = reply.text, max(1, reply.chunk_size)
                for i in range(0, len(text), size):
                    if i and reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                    self.wfile.write(_chunk({"content": text[i : i + size]}))
                    self.wfile.flush()
                self.wfile.write(_chunk({}, finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread: threading.Thread | None = None

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if callable(self.script):
                return self.script(body)
            if len(self.script) > 1:
                return self.script.pop(0)
            return self.script[0]

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connects are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class BlackHole:
    """A listening port whose accept queue is full, so new connects hang (until the client's connect timeout)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._fillers: list[socket.socket] = []
        for _ in range(8):  # fill the (tiny) backlog; later SYNs are dropped by the kernel
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fillers.append(c)
        time.sleep(0.05)

    def close(self) -> None:
        for c in self._fillers:
            c.close()
        self.sock.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountingChat:
    """Stands in for an Endpoint's chat client: passes every request on, and counts them."""

    def __init__(self, chat: Any) -> None:
        self.chat = chat
        self.requests = 0

    def stream(self, messages: Any) -> Any:
        self.requests += 1
        return self.chat.stream(messages)

    def __getattr__(self, name: str) -> Any:  # max_retries, timeouts...: the wrapped client's
        return getattr(self.chat, name)


def count_requests(endpoint: Any) -> CountingChat:
    """Count the requests `endpoint` (a bot.llm.endpoint.Endpoint) starts from now on."""
    endpoint.chat = CountingChat(endpoint.chat)
    return endpoint.chat

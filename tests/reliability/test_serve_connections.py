"""Issue 11, serve side: a real uvicorn server (bot/serve/server.py settings) on a loopback port.

S5: idle sockets do not stop /healthz, and are closed after the request-head timeout; oversized heads are
refused. S2: /healthz stays fast while max-size answers are being worked on.
"""
from __future__ import annotations

import os
import socket
import statistics
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx  # noqa: E402
import pytest  # noqa: E402
import uvicorn  # noqa: E402

from bot.serve import create_app  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.server import PortBusy, bind_socket, server_config  # noqa: E402
from bot.settings import get_settings  # noqa: E402


class Running:
    def __init__(self, app, **config):
        self.sock = bind_socket("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port, log_level="warning", **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _app(tmp_path, assistant=None, **overrides):
    settings = get_settings(data_dir=tmp_path / "data", rate_limit_per_minute=0, **overrides)
    return create_app(assistant or FakeAssistant(), settings, with_ui=False)


def _is_closed(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_200_idle_sockets_do_not_block_healthz_and_are_closed_after_the_head_timeout(tmp_path):
    with Running(_app(tmp_path), request_head_timeout=1.5) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(200)]
        try:
            idle[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head that never ends (slowloris)
            r = httpx.get(srv.url + "/healthz", timeout=5)
            assert r.status_code == 200 and r.json()["status"] == "ok"
            deadline = time.monotonic() + 15
            still_open = list(idle)
            while still_open and time.monotonic() < deadline:
                still_open = [s for s in still_open if not _is_closed(s, 0.05)]
            assert not still_open, f"{len(still_open)} idle sockets still open after the timeout"
        finally:
            for s in idle:
                s.close()


def test_keep_alive_connection_is_closed_after_idling(tmp_path):
    with Running(_app(tmp_path), request_head_timeout=30, keep_alive=1) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(8)
        received, closed = b"", False
        try:
            while True:  # the response (in one or more pieces), then the server's close
                chunk = s.recv(4096)
                if not chunk:
                    closed = True
                    break
                received += chunk
        except socket.timeout:
            pass
        finally:
            s.close()
        assert b"200 OK" in received
        assert closed, "the idle keep-alive connection was not closed"


def test_oversized_request_head_is_refused(tmp_path):
    with Running(_app(tmp_path)) as srv:
        r = httpx.get(srv.url + "/healthz", headers={"X-Big": "a" * 40_000}, timeout=5)
        assert r.status_code in (400, 431)


def test_busy_port_is_a_one_line_error_naming_the_port_option():
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    try:
        with pytest.raises(PortBusy) as info:
            bind_socket("127.0.0.1", taken.getsockname()[1])
        message = str(info.value)
        assert "--port" in message and "BOT_PORT" in message and "\n" not in message
    finally:
        taken.close()


class BusyAssistant(FakeAssistant):
    """Answers take about a second of pure-Python work (holding the GIL in slices, as real answering does)."""

    def __init__(self):
        super().__init__()
        self.started = threading.Semaphore(0)

    def stream(self, question, history=()):
        self.started.release()
        end = time.monotonic() + 1.2
        n = 0
        while time.monotonic() < end:
            n += sum(range(2000))
        return super().stream(question, history)


@pytest.mark.slow
def test_healthz_stays_fast_while_three_max_size_answers_run(tmp_path):
    busy = BusyAssistant()
    settings_kw = {"max_body_bytes": 64_000}
    with Running(_app(tmp_path, busy, **settings_kw)) as srv:
        body = {"question": "催" * 15_000, "history": [{"role": "user", "content": "x" * 3_000}] * 5}
        results = []

        def ask():
            with httpx.Client(timeout=30) as c:
                results.append(c.post(srv.url + "/api/ask", json=body).status_code)

        askers = [threading.Thread(target=ask) for _ in range(3)]
        for t in askers:
            t.start()
        for _ in range(3):
            assert busy.started.acquire(timeout=10)
        timings = []
        with httpx.Client(timeout=10) as c:
            c.get(srv.url + "/healthz")  # connect once
            for _ in range(10):
                t0 = time.perf_counter()
                assert c.get(srv.url + "/healthz").status_code == 200
                timings.append((time.perf_counter() - t0) * 1000)
        for t in askers:
            t.join(timeout=30)
        assert results == [200, 200, 200]
        assert statistics.median(timings) < 100, timings
        assert max(timings) < 1000, timings

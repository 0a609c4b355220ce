"""Running the app under uvicorn with connection limits, on a socket bound before anything slow happens.

    sock = bind_socket(host, port)            # PortBusy (a BotError: one line) if the port is taken
    uvicorn.Server(server_config(app, host, port)).run(sockets=[sock])

Connection hygiene (uvicorn 0.54, h11 protocol; httptools/uvloop are not installed):
- a connection must send a complete request head within REQUEST_HEAD_TIMEOUT_S of opening (or of its previous
  response): uvicorn alone arms no timer before the first request, so idle or slow-header sockets stayed open
  for ever (GuardedH11Protocol below);
- keep-alive connections are closed after KEEP_ALIVE_S idle (`timeout_keep_alive`);
- request heads are capped at MAX_HEAD_BYTES: 431 and close beyond it (GuardedH11Protocol counts the bytes
  before the blank line; h11's own `h11_max_incomplete_event_size` only applies to heads arriving in pieces);
- at most LIMIT_CONCURRENCY open connections or running requests per worker; beyond that uvicorn answers 503
  (`limit_concurrency` counts idle connections too, so it is set well above what the head timeout lets an
  idle flood build up from one client). Per-client connection limits belong to a reverse proxy in front.
- X-Forwarded-For is not trusted by uvicorn (`proxy_headers=False`); the app itself honours it only from
  settings.trusted_proxies (bot/serve/common.client_ip).
"""
from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import tempfile
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.errors import BotError

REQUEST_HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
MAX_HEAD_BYTES = 16 * 1024
LIMIT_CONCURRENCY = 1000
GRACEFUL_SHUTDOWN_S = 5


class PortBusy(BotError):
    """The port is taken (or cannot be bound)."""


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus: close a connection that has not sent a complete request head within
    `config.request_head_timeout` seconds (an attribute this module sets on the uvicorn Config)."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_buf: bytearray | None = None  # the bytes of a request head being received (None: not counting)

    def _head_timeout_s(self) -> float:
        return float(getattr(self.config, "request_head_timeout", REQUEST_HEAD_TIMEOUT_S))

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._head_timeout_s(), self._on_head_timeout)
        self._head_buf = bytearray()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        buf = self._head_buf
        if buf is not None and self._head_timer is not None:
            buf += data[: MAX_HEAD_BYTES + 4 - len(buf)]
            if b"\r\n\r\n" in buf:
                self._head_buf = None  # the head is complete and small enough
            elif len(buf) > MAX_HEAD_BYTES:
                self._head_buf = None
                self._cancel_head_timer()
                body = b'{"error": "request head too large"}'
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                self.transport.close()
                return
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a complete request head arrived
            self._cancel_head_timer()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._cancel_head_timer()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head must come in time too


def server_config(app: Any, host: str, port: int, *, workers: int = 1, log_level: str = "info",
                  factory: bool = False, request_head_timeout: float = REQUEST_HEAD_TIMEOUT_S,
                  keep_alive: int = KEEP_ALIVE_S, limit_concurrency: int = LIMIT_CONCURRENCY):
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, workers=workers, factory=factory, log_level=log_level, log_config=None,
        access_log=True, http=GuardedH11Protocol, ws="none",
        proxy_headers=False, server_header=False,
        timeout_keep_alive=keep_alive, limit_concurrency=limit_concurrency,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    config.request_head_timeout = request_head_timeout  # read by GuardedH11Protocol
    return config


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (not yet listening), made with proto=IPPROTO_TCP so asyncio sets
    TCP_NODELAY on its connections. PortBusy, one line naming --port / BOT_PORT, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(f"port {port} on {host} is already in use: stop the other server, or choose another "
                           f"port with --port N (or BOT_PORT=N)") from None
        raise PortBusy(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another address with "
                       "--host / --port (or BOT_HOST / BOT_PORT)") from None
    sock.set_inheritable(True)
    return sock


def private_gradio_temp_dir() -> str:
    """Point GRADIO_TEMP_DIR at a fresh directory of this server run (unless the operator set it); returns it.
    Call before gradio is imported. The caller removes it with remove_temp_dir() at shutdown."""
    if os.environ.get("GRADIO_TEMP_DIR") and not os.environ.get("BOT_GRADIO_TEMP_OWNED"):
        return os.environ["GRADIO_TEMP_DIR"]
    path = tempfile.mkdtemp(prefix="bot-gradio-")
    os.environ["GRADIO_TEMP_DIR"] = path
    os.environ["BOT_GRADIO_TEMP_OWNED"] = "1"
    return path


def remove_temp_dir(path: str) -> None:
    if os.environ.get("BOT_GRADIO_TEMP_OWNED") and os.path.basename(path).startswith("bot-gradio-"):
        shutil.rmtree(path, ignore_errors=True)

"""ASGI middleware of the web server: body limits, rate limits, security headers, the Gradio guard and
{"error": ...} bodies for every error. Plain ASGI classes (no BaseHTTPMiddleware), so streams stay streams.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.serve.common import Network, client_ip, error_response, header, public_message
from bot.serve.ratelimit import RateLimiter

log = logging.getLogger("bot.serve")


class BodyTooLarge(HTTPException):
    """Raised from receive(): inside a route FastAPI turns it into the 413 response, outside it the middleware."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body too large (limit {limit} bytes)")


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length up front, and by counting the bytes actually received."""

    def __init__(self, app: ASGIApp, api_limit: int, other_limit: int):
        self.app = app
        self.api_limit = api_limit
        self.other_limit = other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.api_limit if path.startswith("/api") else max(self.api_limit, self.other_limit)
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await error_response(400, "invalid Content-Length header")(scope, receive, send)
                    return
        if declared is not None and declared > limit:
            await error_response(413, f"request body too large (limit {limit} bytes)")(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:  # raised outside a route's exception handling
            if started:
                raise
            await error_response(413, exc.detail)(scope, receive, send)


def scope_client_ip(scope: Scope, proxies: list[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = ",".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for")
    return client_ip(peer, forwarded or None, proxies)


class RateLimitMiddleware:
    """Token bucket per client IP on /api/* (not on /healthz, the widget or the page itself; the chat page's
    answers and feedback are limited in bot/serve/chat.py with the same buckets)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, proxies: list[Network]):
        self.app = app
        self.limiter = limiter
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.limiter.enabled
            and scope.get("path", "").startswith("/api/")
            and scope.get("method") != "OPTIONS"
        ):
            wait = self.limiter.check(scope_client_ip(scope, self.proxies))
            if wait > 0:
                retry = RateLimiter.retry_after_header(wait)
                response = error_response(
                    429, f"too many requests; retry in {retry} s", headers={"Retry-After": retry}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
FRAME_HEADERS = [
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
]


class SecurityHeadersMiddleware:
    """nosniff and a referrer policy everywhere; pages may be framed only by the server itself. /widget.js is
    a script other sites load (not a frame): it gets Cross-Origin-Resource-Policy: cross-origin instead."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_widget = scope.get("path") == "/widget.js"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = SECURITY_HEADERS + (
                    [(b"cross-origin-resource-policy", b"cross-origin")] if is_widget else FRAME_HEADERS
                )
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_STATUS_TEXT = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found",
                405: "method not allowed", 409: "conflict", 413: "request body too large",
                415: "unsupported media type", 429: "too many requests", 500: "internal server error",
                503: "service unavailable"}


def _error_text(status: int, body: bytes, content_type: str) -> str:
    """A short message for an error body some other layer (Gradio, Starlette) produced; never echoes input."""
    generic = _STATUS_TEXT.get(status, "request failed")
    if status >= 500:
        return generic
    data = None
    if "json" in content_type:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = None
    if not isinstance(data, dict):
        return generic if status != 422 else "invalid request"
    value = data.get("error")  # ours, already safe
    if isinstance(value, str) and value.strip():
        return public_message(value.strip())[:300]
    if status in (400, 422):  # validation details may quote the input: never echo them
        return "invalid request" if status == 422 else generic
    value = data.get("detail")
    if isinstance(value, str) and value.strip():
        return public_message(value.strip())[:200]
    return generic


class ErrorJsonMiddleware:
    """Every error response is JSON {"error": message}: Gradio's and Starlette's {"detail": ...} bodies and plain
    text errors are rewritten (422 becomes 400). Responses from /api keep their own (already JSON) bodies."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        rewriting = False

        async def send_json_errors(message: Message) -> None:
            nonlocal start, rewriting
            if message["type"] == "http.response.start":
                status = message["status"]
                ctype = (header(message.get("headers", []), b"content-type") or "").lower()
                already = "json" in ctype and scope.get("path", "").startswith("/api")
                if status >= 400 and not already and "text/event-stream" not in ctype:
                    rewriting = True
                    start = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and rewriting:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > 65536:  # not an error body we know: drop the rest
                    chunks[:] = [b"".join(chunks)[:65536]]
                if message.get("more_body", False):
                    return
                assert start is not None
                status = 400 if start["status"] == 422 else start["status"]
                ctype = (header(start.get("headers", []), b"content-type") or "").lower()
                text = _error_text(start["status"], b"".join(chunks), ctype)
                body = json.dumps({"error": text}, ensure_ascii=False).encode("utf-8")
                keep = [(k, v) for k, v in start.get("headers", [])
                        if k.lower() not in (b"content-type", b"content-length")]
                await send({"type": "http.response.start", "status": status, "headers": keep + [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_json_errors)


# --- the Gradio guard -----------------------------------------------------------------------------------------
# The chat page uses these POST endpoints; their JSON bodies are checked before Gradio sees them.
_CHECKED_POST = re.compile(r"^/gradio_api/(queue/join|run/[\w-]+|api/[\w-]+|call/(?:v2/)?[\w-]+)/?$")
# POST endpoints Gradio mounts that the page needs too, left to Gradio's own validation.
_OTHER_POST = re.compile(r"^/gradio_api/(cancel|reset)/?$")
MAX_GRADIO_BODY = 256_000


class GradioGuardMiddleware:
    """In front of the mounted Gradio app:

    - /gradio_api/upload (and every other file-writing or unused POST endpoint) answers 404 before Gradio sees
      it: nothing is written to disk and no server path is revealed;
    - the JSON of the event endpoints is checked by `checker["check"](path, body)` (set by bot/serve/chat.py):
      a malformed payload is a 400 {"error"} and never reaches Gradio, whose tracebacks would print it.
    """

    def __init__(self, app: ASGIApp, checker: dict[str, Callable[[str, Any], str | None] | None]):
        self.app = app
        self.checker = checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/gradio_api/"):
            await self.app(scope, receive, send)
            return
        if path.rstrip("/") in ("/gradio_api/upload", "/gradio_api/upload_progress"):
            await error_response(404, "not found")(scope, receive, send)
            return
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if _OTHER_POST.match(path):
            await self.app(scope, receive, send)
            return
        if not _CHECKED_POST.match(path):
            await error_response(404, "not found")(scope, receive, send)
            return

        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_GRADIO_BODY:
                await error_response(413, f"request body too large (limit {MAX_GRADIO_BODY} bytes)")(
                    scope, receive, send)
                return
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            await error_response(400, "malformed request: the body is not JSON")(scope, receive, send)
            return
        check = self.checker.get("check")
        problem = check(path, payload) if check else None
        if problem:
            log.warning("rejected a malformed chat request to %s: %s", path, problem)  # no payload in logs
            await error_response(400, f"malformed request: {problem}")(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

"""The web server: JSON API under /api, /healthz, the widget, the demo page, and the Gradio chat at /.

    app = create_app(assistant, settings)          # any object with the Assistant's methods
    uvicorn.run(app, host=settings.host, port=settings.port)

Errors are always JSON {"error": message}: 400 for anything malformed (FastAPI's 422 included), 413 for bodies
over settings.max_body_bytes, 429 + Retry-After over settings.rate_limit_per_minute, 503 while the index is not
ready, and a generic 500 (no traceback, no paths) only for real bugs.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import prompts
from bot.core import BotError, IndexNotReady
from bot.serve.feedback import FeedbackStore, answer_id
from bot.serve.ratelimit import RateLimiter
from bot.settings import Settings
from bot.types import LANGUAGES, HistoryTurn

log = logging.getLogger("bot.serve")

STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 20
MAX_HISTORY_TURNS = 20
# Non-API paths (the Gradio chat's own requests carry the conversation) get a larger body allowance.
UI_BODY_BYTES = 2_000_000
LOCAL_ORIGIN_REGEX = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
UI_KEYS = (
    "ui_title", "ui_subtitle", "ui_placeholder", "ui_send", "ui_reset", "ui_sources", "ui_sources_empty",
    "ui_answer_n", "ui_examples", "ui_language", "ui_open", "ui_close", "ui_helpful", "ui_not_helpful",
    "ui_thanks", "ui_error", "ui_busy", "ui_show_source", "ui_hide_source", "ui_messages", "ui_question",
    "ui_answering", "notice",
)


# --- request bodies ---------------------------------------------------------------------------------------
class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: StrictStr


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    question: StrictStr
    history: list[HistoryItem] = Field(default_factory=list)

    def turns(self) -> list[HistoryTurn]:
        return [HistoryTurn(role=h.role, content=h.content) for h in self.history[-MAX_HISTORY_TURNS:]]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rating: Literal["up", "down"]
    answer_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    answer: StrictStr | None = None  # the answer text: only its hash is stored
    question: StrictStr | None = None  # stored only when settings.log_questions is on
    language: Literal["en", "zh-Hans", "zh-Hant"] | None = None
    source: Annotated[StrictStr, Field(max_length=32)] = "api"


class ApiError(HTTPException):
    """An HTTPException whose detail is the user-facing message."""


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body too large (limit {limit} bytes)")


_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"()<>]+/)*([^\s/'\"()<>]+)/?")


def public_message(message: str) -> str:
    """A message safe to send to clients: absolute paths shortened to their last component."""
    return _ABS_PATH.sub(lambda m: m.group(1), message)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": public_message(message)}, status_code=status, headers=headers)


# --- middleware ---------------------------------------------------------------------------------------------
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


class RateLimitMiddleware:
    """Token bucket per client IP on /api/* (not on /healthz, the widget or the chat page)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter):
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.limiter.enabled
            and scope.get("path", "").startswith("/api/")
            and scope.get("method") != "OPTIONS"
        ):
            client = scope.get("client")
            key = client[0] if client else "unknown"
            wait = self.limiter.check(key)
            if wait > 0:
                retry = RateLimiter.retry_after_header(wait)
                response = error_response(
                    429, f"too many requests; retry in {retry} s", headers={"Retry-After": retry}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- helpers ------------------------------------------------------------------------------------------------
def _validation_message(exc: RequestValidationError) -> str:
    messages = []
    for err in exc.errors()[:3]:
        if err.get("type") == "json_invalid":
            return "malformed JSON body"
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
        where = ".".join(loc) or "body"
        if err.get("type") == "missing":
            messages.append(f"{where}: required")
        else:
            messages.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "invalid request: " + "; ".join(messages) if messages else "invalid request"


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


def ui_strings(settings: Settings) -> dict[str, dict[str, str]]:
    return {lang: {k: prompts.text(k, lang, settings.prompts_dir) for k in UI_KEYS} for lang in LANGUAGES}


def _question(body: AskRequest) -> str:
    if not body.question.strip():
        raise ApiError(status_code=400, detail="question must not be empty")
    return body.question


def _own_origin(settings: Settings) -> str:
    host = settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


_DOCS_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>API</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:1rem auto;padding:0 1rem}}
code,pre{{background:#f4f4f4;border-radius:4px;padding:.1rem .3rem}}pre{{padding:.6rem;overflow:auto}}
h2{{font-size:1.05rem;margin-top:1.4rem}}.m{{font-weight:700;color:#075}}</style></head><body>
<h1>Borrower-rights assistant: HTTP API</h1>
<p>Machine-readable schema: <a href="/openapi.json">/openapi.json</a>. Errors are JSON <code>{{"error": message}}</code>.</p>
{body}</body></html>"""


def _docs_page(openapi: dict) -> str:
    parts = []
    for path, ops in openapi.get("paths", {}).items():
        for method, op in ops.items():
            summary = op.get("summary", "")
            desc = op.get("description", "")
            parts.append(
                f'<h2><span class="m">{escape(method.upper())}</span> <code>{escape(path)}</code></h2>'
                f"<p>{escape(summary)}</p><pre>{escape(desc)}</pre>"
            )
    return _DOCS_HTML.format(body="".join(parts))


# --- the app ------------------------------------------------------------------------------------------------
def create_app(assistant: Any, settings: Settings, *, with_ui: bool = True) -> FastAPI:
    """The whole web server around `assistant` (an Assistant, or any object with the same methods)."""
    prompts.check(settings.prompts_dir)
    feedback = FeedbackStore(settings.data_dir, log_questions=settings.log_questions)
    strings = ui_strings(settings)

    app = FastAPI(
        title="Borrower-rights assistant",
        version="1.0",
        description="Answers from Chinese documents about debt collection, with [n] citations. Not legal advice.",
        docs_url=None,  # FastAPI's Swagger UI loads from a CDN; /docs below is self-contained
        redoc_url=None,
    )
    app.state.assistant = assistant
    app.state.settings = settings
    app.state.feedback = feedback

    # --- errors ---
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 422:
            return error_response(400, detail)
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(IndexNotReady)
    async def _not_ready(request: Request, exc: IndexNotReady) -> JSONResponse:
        return error_response(503, str(exc) or "the index is not ready")

    @app.exception_handler(BotError)
    async def _bot_error(request: Request, exc: BotError) -> JSONResponse:
        return error_response(400, str(exc) or "bad request")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error")

    # --- API ---
    @app.post("/api/ask", summary="Answer a question (Answer JSON, as `ask --json`)")
    def ask(body: AskRequest) -> JSONResponse:
        """Body: {"question": str, "history": [{"role": "user"|"assistant", "content": str}]}.
        Returns the Answer: question, language, answer (with [n] markers), abstained, citations, timings_ms..."""
        answer = assistant.ask(_question(body), body.turns())
        return JSONResponse(answer.model_dump(mode="json"))

    @app.post("/api/ask/stream", summary="Answer a question as server-sent events")
    async def ask_stream(body: AskRequest) -> StreamingResponse:
        """Same body as /api/ask. Events: `delta` {"text"} pieces of the answer, then `citations`
        {"citations": [...]}, then `done` with the full Answer JSON. A failure mid-stream sends `error` {"error"}."""
        question = _question(body)
        turns = body.turns()
        events = await run_in_threadpool(lambda: iter(assistant.stream(question, turns)))
        # Pull the first event before answering 200, so a BotError still becomes a proper 4xx/503.
        first = await run_in_threadpool(next, events, None)

        def generate() -> Iterator[bytes]:
            event = first
            try:
                while event is not None:
                    if event.kind == "delta":
                        if event.text:
                            yield sse("delta", {"text": event.text})
                    elif event.kind == "done" and event.answer is not None:
                        data = event.answer.model_dump(mode="json")
                        yield sse("citations", {"citations": data["citations"]})
                        yield sse("done", data)
                        return
                    event = next(events, None)
                yield sse("error", {"error": "the answer ended unexpectedly"})
            except BotError as exc:
                yield sse("error", {"error": public_message(str(exc)) or "bad request"})
            except Exception:
                log.exception("error while streaming an answer")
                yield sse("error", {"error": "internal server error"})

        return StreamingResponse(
            generate(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/search", summary="Retrieve passages")
    def search(
        q: Annotated[str, Query(description="the question", max_length=10_000)],
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"number of results, 1..{MAX_K}")] = 5,
    ) -> JSONResponse:
        """Returns {"question": q, "results": [{"doc_id","title","section","text","score","passage_id"}]}."""
        if not q.strip():
            raise ApiError(status_code=400, detail="q must not be empty")
        results = assistant.search_results(q, k)
        return JSONResponse({"question": q, "results": [r.model_dump(mode="json") for r in results]})

    @app.post("/api/feedback", summary="Thumbs up/down for an answer")
    def post_feedback(body: FeedbackRequest) -> JSONResponse:
        """Body: {"rating": "up"|"down", "answer_id": str} or {"rating", "answer": the answer text (only its hash
        is kept)}; optional "question" (kept only when the server logs questions), "language"."""
        if body.answer_id:
            aid = body.answer_id
        elif body.answer:
            aid = answer_id(body.answer)
        else:
            raise ApiError(status_code=400, detail="answer_id or answer is required")
        if not re.fullmatch(r"[\w.:-]{1,128}", aid):
            raise ApiError(status_code=400, detail="answer_id: letters, digits, '.', ':', '-', '_' only")
        source = re.sub(r"[^\w-]", "", body.source)[:32] or "api"
        feedback.add(body.rating, answer_id=aid, source=source, language=body.language or "",
                     question=body.question)
        return JSONResponse({"ok": True, "answer_id": aid})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_not_found(rest: str) -> JSONResponse:
        return error_response(404, "no such API endpoint")

    @app.get("/healthz", summary="Health and index size")
    def healthz() -> JSONResponse:
        info = assistant.health()
        keep = ("status", "documents", "passages", "model", "answerer")
        return JSONResponse({k: info[k] for k in keep if k in info})

    # --- widget, demo, docs ---
    widget_src = (STATIC / "widget.js").read_text(encoding="utf-8")
    strings_json = json.dumps(strings, ensure_ascii=True).replace("</", "<\\/")
    widget_js = re.sub(r"/\*STRINGS\*/.*?/\*END\*/", lambda _m: strings_json, widget_src, count=1, flags=re.S)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(widget_js, media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    demo_src = (STATIC / "demo.html").read_text(encoding="utf-8")

    @app.get("/demo", include_in_schema=False)
    def demo(request: Request) -> HTMLResponse:
        origin = str(request.base_url).rstrip("/")
        if not re.fullmatch(r"https?://[\w.\-\[\]:]+", origin):
            origin = _own_origin(settings)
        return HTMLResponse(demo_src.replace("{{ORIGIN}}", escape(origin)))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    # --- middleware (the last added runs first): CORS outside, so 413/429 carry CORS headers too ---
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(settings.rate_limit_per_minute))
    app.add_middleware(BodyLimitMiddleware, api_limit=settings.max_body_bytes, other_limit=UI_BODY_BYTES)
    if settings.allowed_origins:
        cors: dict[str, Any] = {"allow_origins": list(settings.allowed_origins)}
    else:
        cors = {"allow_origins": [_own_origin(settings)], "allow_origin_regex": LOCAL_ORIGIN_REGEX}
    app.add_middleware(
        CORSMiddleware,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
        **cors,
    )

    if with_ui:
        from bot.serve.chat import mount_chat

        mount_chat(app, assistant, settings, feedback, strings)
    return app

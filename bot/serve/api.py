"""The web server: JSON API under /api, /healthz, the widget, the demo page, and the Gradio chat at /.

    app = create_app(assistant, settings)          # any object with the Assistant's methods
    bot/serve/server.py runs it under uvicorn (connection limits, timeouts); app.py is the command.

Errors are always JSON {"error": message}, on every path: 400 for anything malformed (FastAPI's 422, a lone
UTF-16 surrogate, a malformed chat payload included), 404/405, 413 for bodies over settings.max_body_bytes,
429 + Retry-After over settings.rate_limit_per_minute, 503 while the index is not ready or feedback cannot be
stored, and a generic 500 (no traceback, no paths) only for real bugs.

Every answer gets a random `answer_id` (in /api/ask's JSON and the stream's `done` event); feedback refers to it.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot import prompts
from bot.errors import BotError, IndexNotReady, VectorStoreUnavailable
from bot.serve.common import (
    EXAMPLES,
    MAX_HISTORY_TURNS,
    VERSION_HEADER,
    cap_history,
    cap_question,
    error_response,
    has_surrogates,
    new_answer_id,
    parse_proxies,
    pinned,
    public_message,
    sse,
    ui_strings,
    version_headers,
)
from bot.serve.feedback import FeedbackStore, FeedbackUnavailable, answer_id
from bot.serve.middleware import (
    BodyLimitMiddleware,
    ErrorJsonMiddleware,
    GradioGuardMiddleware,
    RateLimitMiddleware,
    SecurityHeadersMiddleware,
)
from bot.serve.ratelimit import RateLimiter
from bot.settings import Settings
from bot.types import HistoryTurn

log = logging.getLogger("bot.serve")

STATIC = Path(__file__).resolve().parent / "static"
MAX_K = 20
# Non-API paths (the Gradio chat's event payloads) get this body allowance.
UI_BODY_BYTES = 256_000
LOCAL_ORIGIN_REGEX = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
SURROGATE_MESSAGE = "text contains an unpaired UTF-16 surrogate (invalid Unicode)"

__all__ = ["create_app", "public_message", "error_response"]


def _no_surrogates(value: str) -> str:
    if has_surrogates(value):
        raise ValueError(SURROGATE_MESSAGE)
    return value


Text = Annotated[StrictStr, AfterValidator(_no_surrogates)]


# --- request bodies ---------------------------------------------------------------------------------------
class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: Text


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    question: Text
    history: list[HistoryItem] = Field(default_factory=list)

    def turns(self) -> list[HistoryTurn]:
        """At most the last MAX_HISTORY_TURNS turns, each cut to a bounded length (bot/serve/common.py)."""
        return cap_history(HistoryTurn(role=h.role, content=h.content) for h in self.history[-MAX_HISTORY_TURNS:])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rating: Literal["up", "down"]
    answer_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    answer: Text | None = None  # the answer text (older clients): only its hash is stored
    question: Text | None = None  # stored only when settings.log_questions is on
    language: Literal["en", "zh-Hans", "zh-Hant"] | None = None
    source: Annotated[Text, Field(max_length=32)] = "api"


class ApiError(HTTPException):
    """An HTTPException whose detail is the user-facing message."""


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
            messages.append(f"{where}: {str(err.get('msg', 'invalid value')).removeprefix('Value error, ')}")
    return "invalid request: " + "; ".join(messages) if messages else "invalid request"


def _question(body: AskRequest, settings: Settings) -> str:
    if not body.question.strip():
        raise ApiError(status_code=400, detail="question must not be empty")
    return cap_question(body.question, settings.max_question_chars)


def _own_origin(settings: Settings) -> str:
    host = settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _snippet_origin(settings: Settings) -> str:
    """The origin shown in /demo's copy-paste snippet: the configured one, never the request's Host header."""
    if settings.host in ("0.0.0.0", "::", "[::]", ""):
        return f"http://YOUR-SERVER:{settings.port}"
    return _own_origin(settings)


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


def per_worker_limit(per_minute: int, workers: int) -> int:
    """Each worker process keeps its own buckets: give each limit / workers, so all of them together allow
    about the configured rate (a client served by one worker gets its share only; put a limit in the reverse
    proxy for an exact one)."""
    if per_minute <= 0:
        return 0
    return max(1, math.floor(per_minute / max(1, workers)))


# --- the app ------------------------------------------------------------------------------------------------
def create_app(assistant: Any, settings: Settings, *, with_ui: bool = True, workers: int = 1) -> FastAPI:
    """The whole web server around `assistant` (an Assistant, or any object with the same methods).
    `workers`: how many processes serve the same port (the rate limit is split between them)."""
    prompts.check(settings.prompts_dir)
    feedback = FeedbackStore(settings.data_dir, log_questions=settings.log_questions,
                             url=settings.feedback_url, timeout_s=settings.feedback_timeout_s)
    feedback.prepare()  # table, and the import of an old feedback.jsonl; a database that is down: 503s, not a crash
    strings = ui_strings(settings.prompts_dir)
    proxies = parse_proxies(getattr(settings, "trusted_proxies", []) or [])
    limiter = RateLimiter(per_worker_limit(settings.rate_limit_per_minute, workers))

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
    app.state.limiter = limiter

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

    @app.exception_handler(FeedbackUnavailable)
    async def _feedback_unavailable(request: Request, exc: FeedbackUnavailable) -> JSONResponse:
        return error_response(503, str(exc))

    @app.exception_handler(VectorStoreUnavailable)  # Milvus down or slow: try again later (never a hang, never a 500)
    async def _store_unavailable(request: Request, exc: VectorStoreUnavailable) -> JSONResponse:
        return error_response(503, str(exc))

    @app.exception_handler(BotError)
    async def _bot_error(request: Request, exc: BotError) -> JSONResponse:
        return error_response(400, str(exc) or "bad request")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        if request.url.path.startswith("/gradio_api/"):
            # Gradio failed on a request it could not use; its messages may quote the payload: type only.
            log.warning("chat request to %s failed: %s", request.url.path, type(exc).__name__)
            return error_response(400, "malformed request")
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error")

    # --- API ---
    @app.post("/api/ask", summary="Answer a question (Answer JSON, as `ask --json`, plus answer_id)")
    def ask(body: AskRequest) -> JSONResponse:
        """Body: {"question": str, "history": [{"role": "user"|"assistant", "content": str}]} (the last
        turns only are used). Returns the Answer: question, language, answer (with [n] markers), abstained,
        citations, timings_ms..., and `answer_id` (send it with feedback). Header X-Index-Version: the index
        version that answered."""
        current = pinned(assistant)  # one index version for the whole request
        answer = current.ask(_question(body, settings), body.turns())
        return JSONResponse({**answer.model_dump(mode="json"), "answer_id": new_answer_id()},
                            headers=version_headers(current))

    @app.post("/api/ask/stream", summary="Answer a question as server-sent events")
    async def ask_stream(body: AskRequest) -> StreamingResponse:
        """Same body as /api/ask. Events: `delta` {"text"} pieces of the answer, then `citations`
        {"citations": [...]}, then `done` with the full Answer JSON and its `answer_id`. A failure mid-stream
        sends `error` {"error"}. Header X-Index-Version: the index version that answered."""
        question = _question(body, settings)
        turns = body.turns()
        aid = new_answer_id()
        current = pinned(assistant)  # one index version for the whole stream, however long it takes
        events = await run_in_threadpool(lambda: iter(current.stream(question, turns)))
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
                        data = {**event.answer.model_dump(mode="json"), "answer_id": aid}
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
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **version_headers(current)},
        )

    @app.get("/api/search", summary="Retrieve passages")
    def search(
        q: Annotated[str, Query(description="the question", max_length=10_000)],
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"number of results, 1..{MAX_K}")] = 5,
    ) -> JSONResponse:
        """Returns {"question": q, "results": [{"doc_id","title","section","text","score","passage_id"}]}.
        Header X-Index-Version: the index version searched."""
        if has_surrogates(q):
            raise ApiError(status_code=400, detail=f"q: {SURROGATE_MESSAGE}")
        if not q.strip():
            raise ApiError(status_code=400, detail="q must not be empty")
        current = pinned(assistant)
        results = current.search_results(cap_question(q, settings.max_question_chars), k)
        return JSONResponse({"question": q, "results": [r.model_dump(mode="json") for r in results]},
                            headers=version_headers(current))

    @app.post("/api/feedback", summary="Thumbs up/down for an answer")
    def post_feedback(body: FeedbackRequest) -> JSONResponse:
        """Body: {"rating": "up"|"down", "answer_id": the id the answer came with} (or, from older clients,
        "answer": the answer text, of which only a hash is kept); optional "question" (kept only when the
        server logs questions), "language". 503 when the feedback store cannot be written."""
        if body.answer_id:
            aid = body.answer_id
        elif body.answer:
            aid = answer_id(body.answer)
        else:
            raise ApiError(status_code=400, detail="answer_id or answer is required")
        if not re.fullmatch(r"[\w.:-]{1,128}", aid, flags=re.ASCII):
            raise ApiError(status_code=400, detail="answer_id: letters, digits, '.', ':', '-', '_' only")
        source = re.sub(r"[^\w-]", "", body.source, flags=re.ASCII)[:32] or "api"
        feedback.add(body.rating, answer_id=aid, source=source, language=body.language or "",
                     question=body.question)
        return JSONResponse({"ok": True, "answer_id": aid})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_not_found(rest: str) -> JSONResponse:
        return error_response(404, "no such API endpoint")

    health_keys = ("status", "documents", "passages", "model", "answerer", "built_at", "index_version",
                   "ingest_running")

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", summary="Health, index size and the index version serving")
    async def healthz() -> JSONResponse:
        """Answered on the event loop (never queued behind answers): reads a few counters only.
        `index_version`: the index folder this process answers from (it follows index/CURRENT)."""
        info = assistant.health()
        return JSONResponse({k: info[k] for k in health_keys if k in info})

    # --- widget, demo, docs ---
    widget_js = _widget_js(strings)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(widget_js, media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    demo_html = (STATIC / "demo.html").read_text(encoding="utf-8").replace(
        "{{ORIGIN}}", escape(_snippet_origin(settings)))

    @app.get("/demo", include_in_schema=False)
    def demo() -> HTMLResponse:
        return HTMLResponse(demo_html)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    # --- middleware (the last added runs first) ---
    # Outside in: security headers, CORS (so 413/429 carry CORS headers too), {"error"} bodies, body limit,
    # the Gradio guard, the API rate limit.
    gradio_checker: dict[str, Any] = {"check": None}
    app.add_middleware(RateLimitMiddleware, limiter=limiter, proxies=proxies)
    app.add_middleware(GradioGuardMiddleware, checker=gradio_checker)
    app.add_middleware(BodyLimitMiddleware, api_limit=settings.max_body_bytes, other_limit=UI_BODY_BYTES)
    app.add_middleware(ErrorJsonMiddleware)
    if settings.allowed_origins:
        cors: dict[str, Any] = {"allow_origins": list(settings.allowed_origins)}
    else:
        cors = {"allow_origins": [_own_origin(settings)], "allow_origin_regex": LOCAL_ORIGIN_REGEX}
    app.add_middleware(
        CORSMiddleware,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After", VERSION_HEADER],
        allow_credentials=False,
        max_age=600,
        **cors,
    )
    app.add_middleware(SecurityHeadersMiddleware)

    if with_ui:
        from bot.serve.chat import mount_chat  # chat.py imports bot.serve.common, never this module

        mount_chat(app, assistant, settings, feedback, strings, limiter=limiter, proxies=proxies,
                   checker=gradio_checker)
    return app


def _widget_js(strings: dict[str, dict[str, str]]) -> str:
    import json

    src = (STATIC / "widget.js").read_text(encoding="utf-8")
    data = {**strings, "_examples": EXAMPLES}
    strings_json = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")
    return re.sub(r"/\*STRINGS\*/.*?/\*END\*/", lambda _m: strings_json, src, count=1, flags=re.S)

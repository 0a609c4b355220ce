"""The Gradio chat page, mounted at / of the FastAPI app.

Answers stream into the chat; every [n] that names a citation is a link to its passage in the sources panel
(title, section, passage with the quoted sentence highlighted). All HTML is built in bot/serve/render.py from
escaped strings. Labels follow the language switch; thumbs up/down go to the feedback store (no question text
unless settings.log_questions), and a status line under the question box says what happened.

What the browser sends is small: the question box, the language and Gradio's event data. The conversation
lives in server-side session state (`conv`), bounded: the last KEEP_ANSWERS answers, the last
MAX_SHOWN_MESSAGES messages shown, and the sources of the last SOURCES_SHOWN answers. Answering and feedback
take tokens from the same per-client buckets as the JSON API.

Imports bot/serve/common.py, never bot/serve/api.py (no import circle).
"""
from __future__ import annotations

import logging
import os
import sys
import traceback
import types
from html import escape
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bot.errors import BotError  # noqa: E402
from bot.serve.common import (  # noqa: E402
    EXAMPLES,
    MAX_HISTORY_TURNS,
    Network,
    cap_history,
    cap_question,
    client_ip,
    new_answer_id,
    pinned,
    public_message,
    scrub,
)
from bot.serve.feedback import FeedbackStore, FeedbackUnavailable  # noqa: E402
from bot.serve.ratelimit import RateLimiter  # noqa: E402
from bot.serve.render import answer_html, sources_html, text_html  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.types import Answer, Citation  # noqa: E402

log = logging.getLogger("bot.serve.chat")

LANG_CHOICES = [("English", "en"), ("简体", "zh-Hans"), ("繁體", "zh-Hant")]
LANG_VALUES = {v for _, v in LANG_CHOICES}
KEEP_ANSWERS = 10  # answers kept in a session (for feedback and sources)
MAX_SHOWN_MESSAGES = 2 * KEEP_ANSWERS  # the chat shows the last 10 questions and answers
SOURCES_SHOWN = 3  # the sources panel shows the citations of the last 3 answers (the newest open)
MAX_BOX_CHARS = 20_000  # longer text in the question box is a malformed request (the assistant uses 2,000)

CSS = """
.gradio-container { max-width: 1200px !important; margin: 0 auto !important; }
#bot-top { align-items: flex-start; gap: .6rem; }
#bot-header h1 { font-size: 1.35rem; margin: 0 0 .2rem 0; }
#bot-header p { margin: 0; color: var(--body-text-color-subdued); font-size: .92rem; }
#bot-notice { border-left: 4px solid #c80; background: #fff8e6; color: #3a2a00; padding: .45rem .7rem;
  border-radius: 6px; font-size: .9rem; }
.dark #bot-notice { background: #3a2a00; color: #ffe7b0; }
#bot-composer { align-items: stretch; gap: .5rem; flex-wrap: nowrap !important; }
#bot-composer > * { min-width: 0 !important; }
#bot-send { min-width: 4.5rem !important; flex-grow: 0 !important; }
#bot-tools { flex-wrap: wrap !important; gap: .4rem; align-items: center; }
#bot-tools > * { flex: 0 1 auto !important; min-width: 0 !important; width: auto !important; }
#bot-tools button { flex: 0 1 auto !important; min-width: 0 !important; width: auto !important; }
#bot-reset { background: transparent !important; border: 1px solid var(--border-color-primary) !important; }
#bot-examples-label { font-size: .9rem; padding: 0 !important; }
#bot-status { min-height: 1.3rem; font-size: .9rem; color: var(--body-text-color-subdued); }
#bot-status:empty { display: none; }
.sources h3 { font-size: 1.05rem; margin: 0 0 .4rem 0; }
.sources h4 { font-size: .9rem; margin: .6rem 0 .3rem 0; color: var(--body-text-color-subdued); }
.sources .muted { color: var(--body-text-color-subdued); font-size: .9rem; }
details.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .4rem .6rem;
  margin: 0 0 .45rem 0; background: var(--background-fill-primary); transition: box-shadow .3s; }
details.src summary { cursor: pointer; font-weight: 600; overflow-wrap: anywhere; }
details.src .src-n { color: #0a7; }
details.src .src-section { font-size: .85rem; color: var(--body-text-color-subdued); margin: .2rem 0; }
details.src .src-text { font-size: .92rem; line-height: 1.55; white-space: pre-wrap; overflow-wrap: anywhere; }
details.src .src-doc { font-size: .75rem; color: var(--body-text-color-subdued); margin-top: .2rem; }
details.src mark.quote { background: #fff0a8; color: inherit; padding: 0 .1rem; border-radius: 2px; }
.dark details.src mark.quote { background: #6b5a00; }
details.src.flash { box-shadow: 0 0 0 3px #0a7; }
a.cite { text-decoration: none; font-weight: 600; color: #0a7 !important; padding: 0 .1rem; }
a.cite:focus-visible { outline: 2px solid #0a7; }
#bot-chat { overflow-wrap: anywhere; }
@media (max-width: 640px) {
  #bot-header { flex: 1 1 100% !important; min-width: 100% !important; }
}
@media (max-width: 480px) {
  .gradio-container { padding: 6px !important; }
  #bot-header h1 { font-size: 1.1rem; }
  #bot-header p { font-size: .82rem; }
}
"""

# Runs once when the page loads: a click on a [n] marker opens and scrolls to its passage; on wide screens the
# question box gets the focus (not on phones: focusing would scroll the page and open the keyboard).
JS = """
() => {
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a.cite') : null;
    if (!a) return;
    const href = a.getAttribute('href') || '';
    if (!/^#src-\\d+-\\d+$/.test(href)) return;
    e.preventDefault();
    e.stopPropagation();
    const el = document.getElementById(href.slice(1));
    if (!el) return;
    el.open = true;
    el.scrollIntoView({behavior: 'smooth', block: 'center'});
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1600);
    const s = el.querySelector('summary');
    if (s) s.focus({preventScroll: true});
  }, true);
  if (window.matchMedia('(min-width: 900px)').matches) {
    const focusBox = () => {
      const box = document.querySelector('#bot-question textarea');
      if (box) { box.focus({preventScroll: true}); return true; }
      return false;
    };
    if (!focusBox()) setTimeout(focusBox, 300);
  }
}
"""


def _header(s: dict[str, str]) -> str:
    return f'<div id="bot-header-inner"><h1>{escape(s["ui_title"])}</h1><p>{escape(s["ui_subtitle"])}</p></div>'


def _notice(s: dict[str, str]) -> str:
    return f'<div role="note">&#9888;&#xFE0E; {escape(s["notice"])}</div>'


def _status(text: str) -> str:
    return f'<div role="status">{escape(text)}</div>' if text else ""


def _empty_conv() -> dict:
    return {"messages": [], "ids": [], "turns": [], "answers": [], "n": 0}


def _copy(conv: dict) -> dict:
    base = conv if isinstance(conv, dict) and "messages" in conv else _empty_conv()
    return {"messages": list(base["messages"]), "ids": list(base["ids"]), "turns": list(base["turns"]),
            "answers": list(base["answers"]), "n": int(base["n"])}


def _trim(conv: dict) -> dict:
    """Keep the session bounded: the last messages shown, turns passed on and answers kept."""
    extra = len(conv["messages"]) - MAX_SHOWN_MESSAGES
    if extra > 0:
        conv["messages"] = conv["messages"][extra:]
        conv["ids"] = conv["ids"][extra:]
    conv["turns"] = conv["turns"][-MAX_HISTORY_TURNS:]
    conv["answers"] = conv["answers"][-KEEP_ANSWERS:]
    return conv


def _sources(conv: dict, s: dict[str, str]) -> str:
    groups = [(a["turn"], [Citation.model_validate(c) for c in a.get("citations", [])])
              for a in conv.get("answers", [])[-SOURCES_SHOWN:]]
    return sources_html(groups, heading=s["ui_sources"], empty=s["ui_sources_empty"], answer_label=s["ui_answer_n"])


class _QuietTraceback(types.ModuleType):
    """Stands in for the `traceback` module inside Gradio's request handling: a failed event is logged as one
    line with the exception type, without the message (Gradio's messages quote the payload, i.e. questions)."""

    def __init__(self) -> None:
        super().__init__("traceback")

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)

    @staticmethod
    def print_exc(*args: Any, **kwargs: Any) -> None:
        exc = sys.exc_info()[1]
        log.warning("a chat event failed: %s (details withheld: they may quote what the user typed)",
                    type(exc).__name__ if exc else "error")


def _quiet_gradio_tracebacks() -> None:
    import gradio.queueing
    import gradio.route_utils
    import gradio.routes
    import gradio.utils

    for module in (gradio.queueing, gradio.routes, gradio.route_utils, gradio.utils):
        if getattr(module, "traceback", None) is traceback:
            module.traceback = _QuietTraceback()


def payload_checker(demo: gr.Blocks):
    """check(path, body) -> None if an event payload fits one of this page's events, else what is wrong.

    Only fields the page's own front end sends are accepted in their own shapes: data is a list with one value
    per input of the event, text inputs are strings, the language one of the choices, State inputs null (Gradio
    uses the session's own), event_data an object."""
    fns = dict(demo.fns)
    by_name = {fn.api_name: i for i, fn in fns.items() if fn.api_name}

    def check(path: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        data = body.get("data")
        if not isinstance(data, list):
            return "data must be a list"
        name = path.rstrip("/").rsplit("/", 1)[-1]
        fn_index = body.get("fn_index")
        if path.startswith("/gradio_api/queue/join") or name == "predict":
            if not isinstance(fn_index, int) or isinstance(fn_index, bool) or fn_index not in fns:
                return "unknown fn_index"
        else:
            if name not in by_name:
                return "unknown endpoint"
            if fn_index is not None and fn_index != by_name[name]:
                return "fn_index does not match the endpoint"
            fn_index = by_name[name]
        fn = fns[fn_index]
        if len(data) != len(fn.inputs):
            return f"data must hold {len(fn.inputs)} values"
        for component, value in zip(fn.inputs, data):
            if isinstance(component, gr.State):
                if value is not None:  # the page sends null: Gradio uses the session's own state
                    return "unexpected value for a server-side state"
                continue
            if isinstance(component, gr.Radio):
                if value not in LANG_VALUES:
                    return "unknown language"
            elif isinstance(component, gr.Textbox):
                if value is not None and not isinstance(value, str):
                    return "the question must be text"
                if isinstance(value, str) and len(value) > MAX_BOX_CHARS:
                    return "the question is too long"
            else:
                return "unexpected input"
        for key in ("session_hash", "event_id"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 100):
                return f"{key} must be a short string"
        for key in ("trigger_id",):
            value = body.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                return f"{key} must be an integer"
        event_data = body.get("event_data")
        if event_data is not None:
            if not isinstance(event_data, dict):
                return "event_data must be an object"
            index = event_data.get("index")
            if "index" in event_data and not (
                isinstance(index, int) or (isinstance(index, list) and all(isinstance(i, int) for i in index))
            ):
                return "event_data.index must be an integer"
        return None

    return check


def build_chat(assistant: Any, settings: Settings, feedback: FeedbackStore, strings: dict[str, dict[str, str]],
               *, limiter: RateLimiter | None = None, proxies: list[Network] | None = None):
    s0 = strings["en"]
    limiter = limiter or RateLimiter(0)
    proxies = proxies or []

    def rate_limited(request: gr.Request | None) -> bool:
        if not limiter.enabled or request is None:
            return False
        peer = request.client.host if getattr(request, "client", None) else None
        forwarded = request.headers.get("x-forwarded-for") if getattr(request, "headers", None) else None
        return limiter.check(client_ip(peer, forwarded, proxies)) > 0

    with gr.Blocks(title=s0["ui_title"], analytics_enabled=False) as demo:
        lang_state = gr.State("en")
        conv = gr.State(_empty_conv())
        pending = gr.State("")

        with gr.Row(equal_height=False, elem_id="bot-top"):
            header = gr.HTML(_header(s0), elem_id="bot-header", js_on_load=None, scale=3, min_width=340)
            lang = gr.Radio(choices=LANG_CHOICES, value="en", label=s0["ui_language"], elem_id="bot-lang",
                            scale=1, min_width=250)
        notice = gr.HTML(_notice(s0), elem_id="bot-notice", js_on_load=None)

        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                with gr.Row(elem_id="bot-tools"):
                    ex_label = gr.HTML(f"<span>{escape(s0['ui_examples'])}</span>", elem_id="bot-examples-label",
                                       js_on_load=None, min_width=0)
                    ex_buttons = [gr.Button(q, size="sm", elem_classes=["bot-example"], min_width=0)
                                  for q in EXAMPLES]
                    reset = gr.Button(s0["ui_reset"], size="sm", variant="secondary", elem_id="bot-reset",
                                      min_width=0)
                chatbot = gr.Chatbot(
                    elem_id="bot-chat", label=s0["ui_messages"], show_label=False,
                    height="max(300px, calc(100vh - 400px))", min_height=300,
                    latex_delimiters=[], sanitize_html=True, render_markdown=True, line_breaks=True,
                    feedback_options=("Like", "Dislike"), buttons=["copy"], autoscroll=True,
                )
                with gr.Row(elem_id="bot-composer"):
                    box = gr.Textbox(show_label=False, placeholder=s0["ui_placeholder"], lines=1, max_lines=5,
                                     scale=5, min_width=0, elem_id="bot-question", autofocus=False,
                                     label=s0["ui_question"], container=False)
                    send = gr.Button(s0["ui_send"], variant="primary", scale=0, min_width=72, elem_id="bot-send")
                status = gr.HTML("", elem_id="bot-status", js_on_load=None)
            with gr.Column(scale=2, min_width=280):
                sources = gr.HTML(_sources(_empty_conv(), s0), elem_id="bot-sources", js_on_load=None)

        # --- handlers ---
        def take_question(message: str, conv_v: dict):
            q = scrub(message if isinstance(message, str) else "").strip()
            if not q:
                return gr.update(), gr.skip(), gr.skip(), "", gr.skip()
            new = _copy(conv_v)
            new["messages"].append({"role": "user", "content": text_html(q)})
            new["ids"].append(None)
            _trim(new)
            return "", new["messages"], new, q, ""

        def respond(q: str, conv_v: dict, lang_v: str, request: gr.Request):
            if not q:
                yield gr.skip(), gr.skip(), gr.skip(), "", gr.skip()
                return
            s = strings.get(lang_v, s0)
            new = _copy(conv_v)
            messages = new["messages"]
            if rate_limited(request):
                messages.append({"role": "assistant", "content": text_html(s["ui_busy"])})
                new["ids"].append(None)
                yield messages, gr.skip(), _trim(new), "", _status(s["ui_busy"])
                return
            turn = new["n"]
            question = cap_question(q, settings.max_question_chars)
            turns = cap_history(new["turns"])
            messages.append({"role": "assistant", "content": ""})
            text = ""
            answer: Answer | None = None
            try:
                for event in pinned(assistant).stream(question, turns):  # one index version per answer
                    if event.kind == "delta":
                        text += event.text
                        messages[-1] = {"role": "assistant", "content": answer_html(text, turn)}
                        yield messages, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    elif event.kind == "done" and event.answer is not None:
                        answer = event.answer
            except BotError as exc:
                messages[-1] = {"role": "assistant", "content": text_html(public_message(str(exc)) or s["ui_error"])}
            except Exception:
                log.exception("chat answer failed")
                messages[-1] = {"role": "assistant", "content": text_html(s["ui_error"])}
            aid = None
            if answer is not None:
                aid = new_answer_id()
                messages[-1] = {
                    "role": "assistant",
                    "content": answer_html(answer.answer, turn, [c.n for c in answer.citations]),
                }
                new["turns"] += [{"role": "user", "content": question},
                                 {"role": "assistant", "content": answer.answer}]
                kept = {"id": aid, "turn": turn, "language": answer.language,
                        "citations": [c.model_dump(mode="json") for c in answer.citations]}
                if settings.log_questions:
                    kept["question"] = question
                new["answers"].append(kept)
                new["n"] = turn + 1
            new["ids"].append(aid)
            _trim(new)
            yield new["messages"], _sources(new, s), new, "", ""

        def on_like(data: gr.LikeData, conv_v: dict, lang_v: str, request: gr.Request):
            s = strings.get(lang_v, s0)
            index = data.index if isinstance(data.index, int) else (data.index or [None])[0]
            ids = conv_v.get("ids", []) if isinstance(conv_v, dict) else []
            aid = ids[index] if isinstance(index, int) and 0 <= index < len(ids) else None
            if aid is None or data.liked not in (True, False):
                return gr.skip()
            if rate_limited(request):
                return _status(s["ui_busy"])
            kept = next((a for a in conv_v.get("answers", []) if a["id"] == aid), {})
            try:
                feedback.add("up" if data.liked else "down", answer_id=aid, source="chat",
                             language=lang_v if lang_v in LANG_VALUES else "", question=kept.get("question"))
            except FeedbackUnavailable as exc:
                log.error("%s", exc)
                return _status(s["ui_feedback_failed"])
            return _status(s["ui_thanks"])

        def on_reset(lang_v: str):
            fresh = _empty_conv()
            return [], fresh, _sources(fresh, strings.get(lang_v, s0)), "", "", ""

        def on_lang(lang_v: str, conv_v: dict):
            lang_v = lang_v if lang_v in LANG_VALUES else "en"
            s = strings.get(lang_v, s0)
            return (
                lang_v,
                _header(s),
                _notice(s),
                gr.update(placeholder=s["ui_placeholder"], label=s["ui_question"]),
                gr.update(value=s["ui_send"]),
                gr.update(value=s["ui_reset"]),
                f"<span>{escape(s['ui_examples'])}</span>",
                _sources(conv_v if isinstance(conv_v, dict) else _empty_conv(), s),
                gr.update(label=s["ui_messages"]),
                gr.update(label=s["ui_language"]),
            )

        take = dict(fn=take_question, inputs=[box, conv], outputs=[box, chatbot, conv, pending, status],
                    queue=False, show_progress="hidden")
        answer_step = dict(fn=respond, inputs=[pending, conv, lang_state],
                           outputs=[chatbot, sources, conv, pending, status], show_progress="hidden")
        box.submit(**take).then(**answer_step)
        send.click(**take).then(**answer_step)
        for b, q in zip(ex_buttons, EXAMPLES):
            b.click(lambda c, q=q: take_question(q, c), inputs=[conv],
                    outputs=[box, chatbot, conv, pending, status], queue=False,
                    show_progress="hidden").then(**answer_step)
        reset_outputs = [chatbot, conv, sources, box, pending, status]
        reset.click(on_reset, inputs=[lang_state], outputs=reset_outputs, queue=False)
        chatbot.clear(on_reset, inputs=[lang_state], outputs=reset_outputs, queue=False)
        chatbot.like(on_like, inputs=[conv, lang_state], outputs=[status], queue=False, show_progress="hidden")
        lang.change(on_lang, inputs=[lang, conv],
                    outputs=[lang_state, header, notice, box, send, reset, ex_label, sources, chatbot, lang],
                    queue=False)
    demo.queue(default_concurrency_limit=8)
    return demo


def mount_chat(app: FastAPI, assistant: Any, settings: Settings, feedback: FeedbackStore,
               strings: dict[str, dict[str, str]], *, limiter: RateLimiter | None = None,
               proxies: list[Network] | None = None, checker: dict | None = None) -> FastAPI:
    """Mount the chat page at /. `checker`: the Gradio guard's slot (bot/serve/middleware.py) for this page's
    payload check."""
    _quiet_gradio_tracebacks()
    demo = build_chat(assistant, settings, feedback, strings, limiter=limiter, proxies=proxies)
    if checker is not None:
        checker["check"] = payload_checker(demo)
    app.state.chat_demo = demo
    # System fonts only (no font downloads); CJK-capable fallbacks first for the Chinese passages.
    theme = gr.themes.Default(
        primary_hue="emerald",
        font=["system-ui", "-apple-system", "Segoe UI", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei",
              "sans-serif"],
    )
    return gr.mount_gradio_app(
        app, demo, path="/", footer_links=[], css=CSS, js=JS, theme=theme, pwa=False, ssr_mode=False,
        mcp_server=False, show_error=False, enable_monitoring=False,
    )

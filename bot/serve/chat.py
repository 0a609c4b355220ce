"""The Gradio chat page, mounted at / of the FastAPI app.

Answers stream into the chat; every [n] is a link to its passage in the sources panel (title, section, passage
with the quoted sentence highlighted). All HTML is built in bot/serve/render.py from escaped strings.
Labels follow the language switch; thumbs up/down go to the feedback store (no question text unless
settings.log_questions).
"""
from __future__ import annotations

import logging
import os
from html import escape
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bot.core import BotError  # noqa: E402
from bot.serve.api import public_message  # noqa: E402
from bot.serve.feedback import FeedbackStore, answer_id  # noqa: E402
from bot.serve.render import answer_html, sources_html, text_html  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.types import Answer, HistoryTurn  # noqa: E402

log = logging.getLogger("bot.serve.chat")

EXAMPLES = ["Can debt collectors visit my home?", "催收可以威胁我吗", "還不起錢可以分期嗎"]
LANG_CHOICES = [("English", "en"), ("简体", "zh-Hans"), ("繁體", "zh-Hant")]
MAX_HISTORY_TURNS = 20

CSS = """
.gradio-container { max-width: 1200px !important; margin: 0 auto !important; }
#bot-header h1 { font-size: 1.35rem; margin: 0 0 .2rem 0; }
#bot-header p { margin: 0; color: var(--body-text-color-subdued); font-size: .92rem; }
#bot-notice { border-left: 4px solid #c80; background: #fff8e6; color: #3a2a00; padding: .45rem .7rem;
  border-radius: 6px; font-size: .9rem; }
.dark #bot-notice { background: #3a2a00; color: #ffe7b0; }
#bot-composer { align-items: stretch; gap: .5rem; flex-wrap: nowrap !important; }
#bot-composer > * { min-width: 0 !important; }
#bot-send { min-width: 4.5rem !important; flex-grow: 0 !important; }
#bot-tools { flex-wrap: wrap; gap: .4rem; align-items: center; }
#bot-tools button { flex: 0 1 auto !important; min-width: 0 !important; width: auto !important; }
#bot-reset { background: transparent !important; border: 1px solid var(--border-color-primary) !important; }
#bot-examples-label { flex: 0 0 auto !important; min-width: 0 !important; font-size: .9rem; }
.sources h3 { font-size: 1.05rem; margin: 0 0 .4rem 0; }
.sources h4 { font-size: .9rem; margin: .6rem 0 .3rem 0; color: var(--body-text-color-subdued); }
.sources .muted { color: var(--body-text-color-subdued); font-size: .9rem; }
details.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .4rem .6rem;
  margin: 0 0 .45rem 0; background: var(--background-fill-primary); transition: box-shadow .3s; }
details.src summary { cursor: pointer; font-weight: 600; }
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

# Runs once when the page loads: a click on a [n] marker opens and scrolls to its passage.
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
}
"""


def _header(s: dict[str, str]) -> str:
    return f'<div id="bot-header-inner"><h1>{escape(s["ui_title"])}</h1><p>{escape(s["ui_subtitle"])}</p></div>'


def _notice(s: dict[str, str]) -> str:
    return f'<div role="note">&#9888;&#xFE0E; {escape(s["notice"])}</div>'


def _sources(conv: dict, s: dict[str, str]) -> str:
    answers = [(t, Answer.model_validate(a)) for t, a in enumerate(conv.get("answers", [])) if a]
    return sources_html(answers, heading=s["ui_sources"], empty=s["ui_sources_empty"], answer_label=s["ui_answer_n"])


def _empty_conv() -> dict:
    return {"turns": [], "answers": [], "msg_answer": {}}


def build_chat(assistant: Any, settings: Settings, feedback: FeedbackStore, strings: dict[str, dict[str, str]]):
    s0 = strings["en"]

    with gr.Blocks(title=s0["ui_title"], analytics_enabled=False) as demo:
        lang_state = gr.State("en")
        conv = gr.State(_empty_conv())
        pending = gr.State("")

        with gr.Row(equal_height=False):
            header = gr.HTML(_header(s0), elem_id="bot-header", js_on_load=None, scale=3, min_width=340)
            lang = gr.Radio(choices=LANG_CHOICES, value="en", label=s0["ui_language"], elem_id="bot-lang",
                            scale=1, min_width=250)
        notice = gr.HTML(_notice(s0), elem_id="bot-notice", js_on_load=None)

        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                chatbot = gr.Chatbot(
                    elem_id="bot-chat", label=s0["ui_messages"], height="60vh", min_height=320,
                    latex_delimiters=[], sanitize_html=True, render_markdown=True, line_breaks=True,
                    feedback_options=("Like", "Dislike"), buttons=["copy"], autoscroll=True,
                )
                with gr.Row(elem_id="bot-composer"):
                    box = gr.Textbox(show_label=False, placeholder=s0["ui_placeholder"], lines=1, max_lines=5,
                                     scale=5, min_width=0, elem_id="bot-question", autofocus=True,
                                     label=s0["ui_question"], container=False)
                    send = gr.Button(s0["ui_send"], variant="primary", scale=0, min_width=72, elem_id="bot-send")
                with gr.Row(elem_id="bot-tools"):
                    ex_label = gr.HTML(f"<span>{escape(s0['ui_examples'])}</span>", elem_id="bot-examples-label",
                                       js_on_load=None)
                    ex_buttons = [gr.Button(q, size="sm", elem_classes=["bot-example"]) for q in EXAMPLES]
                    reset = gr.Button(s0["ui_reset"], size="sm", variant="secondary", elem_id="bot-reset")
            with gr.Column(scale=2, min_width=280):
                sources = gr.HTML(_sources(_empty_conv(), s0), elem_id="bot-sources", js_on_load=None)

        # --- handlers ---
        def take_question(message: str, history: list, conv_v: dict):
            q = (message or "").strip()
            if not q:
                return gr.update(), history, ""
            history = list(history or []) + [{"role": "user", "content": text_html(q)}]
            return "", history, q

        def respond(q: str, history: list, conv_v: dict, lang_v: str):
            if not q:
                yield gr.skip(), gr.skip(), gr.skip(), ""
                return
            s = strings.get(lang_v, s0)
            history = list(history or [])
            turn = len(conv_v["answers"])
            turns = [HistoryTurn(**t) for t in conv_v["turns"][-MAX_HISTORY_TURNS:]]
            history.append({"role": "assistant", "content": ""})
            text = ""
            answer: Answer | None = None
            try:
                for event in assistant.stream(q, turns):
                    if event.kind == "delta":
                        text += event.text
                        history[-1] = {"role": "assistant", "content": answer_html(text, turn)}
                        yield history, gr.skip(), gr.skip(), gr.skip()
                    elif event.kind == "done" and event.answer is not None:
                        answer = event.answer
            except BotError as exc:
                history[-1] = {"role": "assistant", "content": text_html(public_message(str(exc)) or s["ui_error"])}
            except Exception:
                log.exception("chat answer failed")
                history[-1] = {"role": "assistant", "content": text_html(s["ui_error"])}
            new_conv = {
                "turns": list(conv_v["turns"]),
                "answers": list(conv_v["answers"]),
                "msg_answer": dict(conv_v["msg_answer"]),
            }
            if answer is not None:
                history[-1] = {
                    "role": "assistant",
                    "content": answer_html(answer.answer, turn, [c.n for c in answer.citations]),
                }
                new_conv["turns"] += [{"role": "user", "content": q}, {"role": "assistant", "content": answer.answer}]
                new_conv["answers"].append(answer.model_dump(mode="json"))
                new_conv["msg_answer"][str(len(history) - 1)] = turn
            yield history, _sources(new_conv, s), new_conv, ""

        def on_like(data: gr.LikeData, conv_v: dict, lang_v: str):
            index = data.index if isinstance(data.index, int) else data.index[0]
            turn = conv_v["msg_answer"].get(str(index))
            if turn is None or data.liked not in (True, False):
                return
            ans = conv_v["answers"][turn]
            feedback.add("up" if data.liked else "down", answer_id=answer_id(ans["answer"]), source="chat",
                         language=lang_v, question=ans.get("question"))
            gr.Info(strings.get(lang_v, s0)["ui_thanks"], duration=2)

        def on_reset(lang_v: str):
            fresh = _empty_conv()
            return [], fresh, _sources(fresh, strings.get(lang_v, s0)), "", ""

        def on_lang(lang_v: str, conv_v: dict):
            s = strings.get(lang_v, s0)
            return (
                lang_v,
                _header(s),
                _notice(s),
                gr.update(placeholder=s["ui_placeholder"], label=s["ui_question"]),
                gr.update(value=s["ui_send"]),
                gr.update(value=s["ui_reset"]),
                f"<span>{escape(s['ui_examples'])}</span>",
                _sources(conv_v, s),
                gr.update(label=s["ui_messages"]),
                gr.update(label=s["ui_language"]),
            )

        take = dict(fn=take_question, inputs=[box, chatbot, conv], outputs=[box, chatbot, pending],
                    queue=False, show_progress="hidden")
        answer_step = dict(fn=respond, inputs=[pending, chatbot, conv, lang_state],
                           outputs=[chatbot, sources, conv, pending], show_progress="hidden")
        box.submit(**take).then(**answer_step)
        send.click(**take).then(**answer_step)
        for b, q in zip(ex_buttons, EXAMPLES):
            b.click(lambda h, c, q=q: take_question(q, h, c), inputs=[chatbot, conv],
                    outputs=[box, chatbot, pending], queue=False, show_progress="hidden").then(**answer_step)
        reset.click(on_reset, inputs=[lang_state], outputs=[chatbot, conv, sources, box, pending], queue=False)
        chatbot.clear(on_reset, inputs=[lang_state], outputs=[chatbot, conv, sources, box, pending], queue=False)
        chatbot.like(on_like, inputs=[conv, lang_state], outputs=None, queue=False)
        lang.change(on_lang, inputs=[lang, conv],
                    outputs=[lang_state, header, notice, box, send, reset, ex_label, sources, chatbot, lang],
                    queue=False)
    demo.queue(default_concurrency_limit=8)
    return demo


def mount_chat(app: FastAPI, assistant: Any, settings: Settings, feedback: FeedbackStore,
               strings: dict[str, dict[str, str]]) -> FastAPI:
    demo = build_chat(assistant, settings, feedback, strings)
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

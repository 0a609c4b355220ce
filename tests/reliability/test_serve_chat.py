"""Issue 11, serve side: the chat page's handlers (called directly, fake assistant).

K5 bounded session state, S3 rate limits on answering and feedback, feedback "Thanks" shown in the page and
a store failure explained there, per-answer ids, W5/S6 rendering of markers, brackets and URLs.
"""
from __future__ import annotations

import os
import re
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pytest  # noqa: E402

from bot.serve import create_app  # noqa: E402
from bot.serve.chat import KEEP_ANSWERS, MAX_SHOWN_MESSAGES, SOURCES_SHOWN  # noqa: E402
from bot.serve.fake import FakeAssistant  # noqa: E402
from bot.serve.render import answer_html, passage_html, text_html  # noqa: E402
from bot.settings import get_settings  # noqa: E402


class Chat:
    """The page's event handlers, as the browser's events would call them."""

    def __init__(self, tmp_path, assistant=None, **overrides):
        self.settings = get_settings(data_dir=tmp_path / "data", **overrides)
        self.app = create_app(assistant or FakeAssistant(), self.settings, with_ui=True)
        fns = {fn.api_name: fn.fn for fn in self.app.state.chat_demo.fns.values()}
        self.take, self.respond, self.like = fns["take_question"], fns["respond"], fns["on_like"]
        self.conv = {"messages": [], "ids": [], "turns": [], "answers": [], "n": 0}
        self.request = SimpleNamespace(client=SimpleNamespace(host="192.0.2.7"), headers={})
        self.status = ""

    def ask(self, question: str, lang: str = "en"):
        _, _, self.conv, pending, _ = self.take(question, self.conv)
        outputs = list(self.respond(pending, self.conv, lang, self.request))
        messages, sources, conv, _, status = outputs[-1]
        if isinstance(conv, dict):
            self.conv = conv
        self.status = status
        return messages, sources

    def thumbs(self, message_index: int, liked: bool = True, lang: str = "en"):
        data = gr.LikeData(None, {"index": message_index, "value": "", "liked": liked})
        return self.like(data, self.conv, lang, self.request)


def test_session_state_and_sources_stay_bounded(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=0)
    for i in range(KEEP_ANSWERS + 6):
        messages, sources = chat.ask(f"催收可以上门吗 {i}")
    assert len(chat.conv["answers"]) == KEEP_ANSWERS
    assert len(chat.conv["messages"]) == MAX_SHOWN_MESSAGES == len(chat.conv["ids"])
    assert len(messages) == MAX_SHOWN_MESSAGES
    assert len(re.findall(r'class="src-group"', sources)) == SOURCES_SHOWN
    newest = KEEP_ANSWERS + 5
    assert f'data-turn="{newest}" data-latest="1"' in sources  # the newest answer's sources, open
    assert "催收可以上门吗 15" in messages[-2]["content"]


def test_chat_answers_are_rate_limited_per_client_with_a_message_in_the_page(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=2)
    chat.ask("催收可以上门吗")
    chat.ask("催收可以上门吗")
    messages, _ = chat.ask("催收可以上门吗")
    assert "Too many questions" in messages[-1]["content"]
    assert "Too many questions" in chat.status
    other = Chat(tmp_path, rate_limit_per_minute=2)
    other.request = SimpleNamespace(client=SimpleNamespace(host="192.0.2.8"), headers={})
    assert "Too many questions" not in other.ask("催收可以上门吗")[0][-1]["content"]


def test_feedback_thanks_shows_in_the_page_and_uses_the_answers_own_id(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=0)
    chat.ask("what is the weather?")
    chat.ask("what is the weather?")  # two identical abstentions
    assert "Thanks for the feedback" in chat.thumbs(1)
    assert "Thanks for the feedback" in chat.thumbs(3, liked=False)
    from bot.serve.feedback import FeedbackStore

    records = FeedbackStore(tmp_path / "data").read()
    assert [r["rating"] for r in records] == ["up", "down"]
    assert records[0]["answer_id"] != records[1]["answer_id"]
    assert chat.thumbs(0) is not None and len(FeedbackStore(tmp_path / "data").read()) == 2  # a question: ignored


def test_feedback_is_rate_limited_too(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=2)
    chat.ask("催收可以上门吗")
    assert "Thanks" in chat.thumbs(1)
    assert "Too many questions" in chat.thumbs(1)


def test_unwritable_feedback_store_is_explained_in_the_page(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    chat = Chat(tmp_path, rate_limit_per_minute=0)
    from bot.serve.feedback_db import SQLiteFeedback

    chat.app.state.feedback.backend = SQLiteFeedback(blocker / "feedback.sqlite3")
    chat.ask("催收可以上门吗")
    assert "could not be saved" in chat.thumbs(1)


def test_lone_surrogate_typed_into_the_chat_is_answered_not_crashed(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=0)
    messages, _ = chat.ask("\ud800 催收可以上门吗")
    assert messages[-1]["role"] == "assistant" and 'class="cite"' in messages[-1]["content"]
    messages[-1]["content"].encode("utf-8")


def test_abstention_in_the_chat_gets_no_notice_and_no_links(tmp_path):
    chat = Chat(tmp_path, rate_limit_per_minute=0)
    messages, sources = chat.ask("weather?")
    assert "general information" not in messages[-1]["content"]
    assert "<a" not in messages[-1]["content"]
    assert 'class="muted"' in sources


# --- W5 / S6: rendering ---------------------------------------------------------------------------------------------------
def test_only_markers_naming_a_citation_become_links():
    html = answer_html("Quote with its own [99] and [1]. [2]", 0, [2])
    assert html.count("<a ") == 1 and 'href="#src-0-2"' in html
    assert "&#91;99&#93;" in html and "&#91;1&#93;" in html
    assert "<a " not in answer_html("while streaming [1]", 0)  # citations not known yet: no links


def test_urls_and_emails_in_quotes_cannot_become_links():
    html = text_html("see https://evil.example/x, www.evil.example and mail me@evil.example")
    assert "https://" not in html and "www." not in html and "@" not in html
    assert "&#58;//" in html and "www&#46;" in html and "&#64;" in html


def test_passage_text_keeps_brackets_and_markup_as_text():
    html = passage_html("law [1] says <b>x</b> [99]", "says")
    assert "[1]" in html and "[99]" in html and "<b>" not in html and "<a" not in html


@pytest.mark.parametrize("lang", ["en", "zh-Hans", "zh-Hant"])
def test_widget_strings_carry_greeting_and_examples(tmp_path, lang):
    from fastapi.testclient import TestClient

    app = create_app(FakeAssistant(), get_settings(data_dir=tmp_path / "d"), with_ui=False)
    js = TestClient(app).get("/widget.js").text
    assert '"ui_greeting"' in js and '"_examples"' in js and "ui_feedback_failed" in js

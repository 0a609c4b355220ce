"""The Gradio chat page in a real browser: streaming, citations -> sources, XSS, phone width, screenshots."""
from __future__ import annotations

import json

import httpx
import pytest

from bot.serve.feedback import FeedbackStore
from tests.browser.support import XSS_IMG, XSS_QUESTION, XSS_SCRIPT, external_requests

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

QUESTION = "Can debt collectors visit my home?"

# Records how the last assistant bubble's text grows, to show the answer arrives in pieces.
OBSERVE_STREAM = """
() => {
  window.__lengths = [];
  const chat = document.querySelector('#bot-chat');
  const obs = new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    const last = bots[bots.length - 1];
    if (!last) return;
    const n = last.innerText.trim().length;
    const arr = window.__lengths;
    if (n && arr[arr.length - 1] !== n) arr.push(n);
  });
  obs.observe(chat, {subtree: true, childList: true, characterData: true});
}
"""


def _open_chat(page, url: str) -> None:
    page.goto(url + "/", wait_until="load")
    page.wait_for_selector("#bot-question textarea")


def _ask(page, question: str) -> None:
    before = page.locator("#bot-chat [data-testid='bot']").count()
    page.fill("#bot-question textarea", question)
    page.click("#bot-send")
    page.wait_for_function(
        f"document.querySelectorAll('#bot-chat [data-testid=\"bot\"]').length > {before}", timeout=60_000
    )
    # Finished when the sources panel shows this turn (or the answer cites nothing).
    page.wait_for_function(
        f"document.querySelector('#bot-sources .src-group[data-turn=\"{before}\"]') !== null"
        " || document.querySelector('#bot-sources .muted') !== null",
        timeout=60_000,
    )


def test_chat_streams_answer_and_citation_shows_passage(app_server, page_factory, screenshots):
    url = app_server["url"]
    expected = httpx.post(url + "/api/ask", json={"question": QUESTION}, timeout=30).json()
    assert expected["citations"], "the real assistant should cite passages for this question"

    page = page_factory(1280, 900)
    _open_chat(page, url)
    assert page.locator("#bot-notice").inner_text().strip(), "the not-legal-advice notice is visible"
    page.evaluate(OBSERVE_STREAM)
    _ask(page, QUESTION)

    bot = page.locator("#bot-chat [data-testid='bot']").last
    text = bot.inner_text()
    assert "[1]" in text
    lengths = page.evaluate("window.__lengths")
    assert len(lengths) >= 2, f"answer should arrive in pieces, saw lengths {lengths}"

    # Click [1]: the sources panel shows passage 1 of this answer, open, with the quote highlighted.
    first = expected["citations"][0]
    bot.locator("a.cite").first.click()
    src = page.locator("#src-0-1")
    assert src.get_attribute("open") is not None
    assert first["title"] in src.locator("summary").inner_text()
    assert first["quote"] in src.locator("mark.quote").inner_text() or first["quote"] in src.inner_text()
    assert src.evaluate("e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }")

    page.wait_for_timeout(400)
    page.screenshot(path=str(screenshots / "chat_desktop.png"), full_page=True)
    assert external_requests(page.requests_seen) == []


def test_chat_language_switch_and_reset(app_server, page_factory):
    page = page_factory(1280, 900)
    _open_chat(page, app_server["url"])
    page.get_by_label("繁體").check()
    page.wait_for_function("document.querySelector('#bot-send').innerText.trim() === '送出'")
    assert "借款人權益助手" in page.locator("#bot-header").inner_text()
    assert "不構成法律意見" in page.locator("#bot-notice").inner_text()
    _ask(page, "還不起錢可以分期嗎")
    assert page.locator("#bot-chat [data-testid='bot']").count() == 1
    page.click("#bot-reset")
    page.wait_for_function("document.querySelectorAll('#bot-chat [data-testid=\"bot\"]').length === 0")
    page.wait_for_selector("#bot-sources .muted")


def test_chat_feedback_stores_no_question(app_server, page_factory):
    page = page_factory(1280, 900)
    _open_chat(page, app_server["url"])
    question = "催收可以威胁我吗 unique-feedback-probe"
    _ask(page, question)
    store = FeedbackStore(app_server["data_dir"])  # the server's database (SQLite in its data_dir)
    before = len(store.read())
    page.locator("#bot-chat [data-testid='bot']").last.hover()
    page.locator("#bot-chat button[aria-label='Like']").last.click()
    for _ in range(50):
        if len(store.read()) > before:
            break
        page.wait_for_timeout(100)
    records = store.read()
    assert len(records) == before + 1
    assert records[-1]["rating"] == "up" and records[-1]["source"] == "chat"
    content = json.dumps(records, ensure_ascii=False)
    assert "unique-feedback-probe" not in content and "威胁" not in content
    # Nothing else under data_dir, nor the server log, holds the question.
    for f in app_server["data_dir"].rglob("*"):
        if f.is_file():
            assert "unique-feedback-probe" not in f.read_text(encoding="utf-8", errors="replace")
    assert "unique-feedback-probe" not in app_server["log"].read_text(encoding="utf-8", errors="replace")


def test_chat_xss_probes_run_nothing(app_server, page_factory, screenshots):
    url = app_server["url"]
    page = page_factory(1280, 900)
    _open_chat(page, url)
    # Question side: the payload shows as characters.
    _ask(page, f"{XSS_SCRIPT} {XSS_IMG} 催收")
    user = page.locator("#bot-chat [data-testid='user']").last.inner_text()
    assert XSS_SCRIPT in user and "onerror" in user
    # Document side: a document carrying the payloads, retrieved and cited.
    expected = httpx.post(url + "/api/ask", json={"question": XSS_QUESTION}, timeout=30).json()
    assert any(c["doc_id"].startswith("900_xss") for c in expected["citations"]), expected["citations"]
    _ask(page, XSS_QUESTION)
    page.locator("#bot-sources details.src").first.wait_for()
    for d in page.locator("#bot-sources details.src").all():
        d.evaluate("e => e.open = true")
    page.wait_for_timeout(500)
    panel = page.locator("#bot-sources").inner_text()
    probe = [c for c in expected["citations"] if c["doc_id"].startswith("900_xss")][0]
    payload_fields = [f for f in ("title", "section", "text") if "<" in probe[f]]
    for field in payload_fields:  # whatever markup survived cleaning is shown literally
        assert probe[field].split("<", 1)[1][:10] in panel
    assert page.locator("#bot-sources img, #bot-chat img[src='x'], #bot-sources script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=str(screenshots / "chat_xss.png"), full_page=True)


def test_chat_phone_width(app_server, page_factory, screenshots):
    page = page_factory(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    _open_chat(page, app_server["url"])
    box = page.locator("#bot-question textarea")
    assert box.is_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _ask(page, "催收可以威胁我吗")
    assert page.locator("#bot-chat [data-testid='bot']").count() == 1
    assert page.locator("#bot-send").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal overflow"
    page.wait_for_timeout(400)
    page.screenshot(path=str(screenshots / "chat_phone.png"), full_page=True)
    assert external_requests(page.requests_seen) == []

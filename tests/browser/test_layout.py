"""What a new user sees first, in a real browser: the page at laptop and phone size, links that must not be
links, and the widget's greeting. Screenshots go to artifacts/screenshots/ (look at them)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import LINK_PASSAGES, LINK_QUESTION
from tests.browser.support import external_requests

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

W = "borrower-bot-widget"

IN_VIEW = """(sel) => { const e = document.querySelector(sel); if (!e) return false;
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; }"""


def _open(page, url):
    page.goto(url + "/", wait_until="load")
    page.wait_for_selector("#bot-question textarea")
    page.wait_for_timeout(600)  # let late layout (fonts, Gradio's own scripts) settle


def _ask(page, question):
    before = page.locator("#bot-chat [data-testid='bot']").count()
    page.fill("#bot-question textarea", question)
    page.click("#bot-send")
    page.wait_for_function(
        f"document.querySelectorAll('#bot-chat [data-testid=\"bot\"]').length > {before}"
        f" && document.querySelector('#bot-sources .src-group[data-turn=\"{before}\"], #bot-sources .muted')")


def test_laptop_first_screen_shows_examples_reset_and_question_box(fake_server, page_factory, screenshots):
    page = page_factory(1280, 800)
    _open(page, fake_server)
    page.screenshot(path=str(screenshots / "chat_1280x800_first_screen.png"))
    for sel in ("#bot-header h1", "#bot-lang", "#bot-notice", "#bot-reset", "#bot-question textarea", "#bot-send"):
        assert page.evaluate(IN_VIEW, sel), f"{sel} is not above the fold at 1280x800"
    examples = page.locator(".bot-example")
    assert examples.count() == 3
    for i in range(3):
        box = examples.nth(i).bounding_box()
        assert box and box["y"] + box["height"] <= 800, f"example {i} below the fold"
    assert page.evaluate("document.activeElement.closest('#bot-question') !== null"), "question box focused"


def test_phone_page_does_not_scroll_itself_and_question_is_not_hidden(fake_server, page_factory, screenshots):
    page = page_factory(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    _open(page, fake_server)
    page.wait_for_timeout(800)
    assert page.evaluate("window.scrollY") == 0, "the page scrolled itself on load"
    page.screenshot(path=str(screenshots / "chat_390x844_first_screen.png"))
    for sel in ("#bot-header h1", "#bot-lang", "#bot-notice"):
        assert page.evaluate(IN_VIEW, sel), f"{sel} not visible on a phone at load"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    question = "A long question from a phone user about whether collectors may call my family at night"
    _ask(page, question)
    bubble = page.locator("#bot-chat [data-testid='user']").last
    page.wait_for_timeout(800)  # the chat's own smooth autoscroll ends
    bubble.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    # Nothing (such as the chat's own "Conversation" label) covers the user's question.
    covered = bubble.evaluate("""(b) => { const r = b.getBoundingClientRect();
        const pts = [[r.left + 4, r.top + 4], [r.left + r.width / 2, r.top + r.height / 2], [r.right - 4, r.top + 4]];
        return pts.filter(([x, y]) => { const e = document.elementFromPoint(x, y); return !(e && b.contains(e)); }).length; }""")
    assert covered == 0, "the user's question is covered by another element"
    page.screenshot(path=str(screenshots / "chat_390x844_after_question.png"), full_page=True)
    assert external_requests(page.requests_seen) == []


def test_document_urls_and_brackets_in_answers_are_plain_text(fake_server, page_factory, screenshots):
    page = page_factory(1280, 900)
    _open(page, fake_server)
    turn = page.locator("#bot-chat [data-testid='bot']").count()
    _ask(page, LINK_QUESTION)
    # This answer cites passages: wait for its own sources group, which appears when the answer is complete.
    page.wait_for_selector(f"#bot-sources .src-group[data-turn='{turn}']")
    bot = page.locator("#bot-chat [data-testid='bot']").last
    text = bot.inner_text()
    assert "https://evil.example/report" in text and "www.evil.example" in text and "me@evil.example" in text
    assert "[99]" in text
    assert bot.locator("a:not(.cite)").count() == 0, "a document URL or address became a link"
    hrefs = [a.get_attribute("href") for a in bot.locator("a.cite").all()]
    assert hrefs and all(h.startswith("#src-0-") for h in hrefs)
    assert "#src-0-99" not in hrefs
    assert page.locator("#bot-sources a").count() == 0  # passage text in the sources: no links at all
    # The full document title is readable in the sources panel (wraps, not cut).
    summary = page.locator("#bot-sources details.src summary").first
    assert LINK_PASSAGES[0][1] in summary.inner_text()
    page.screenshot(path=str(screenshots / "chat_links_as_text.png"))


def test_chat_feedback_thanks_appears_in_the_page(fake_server, page_factory):
    page = page_factory(1280, 900)
    _open(page, fake_server)
    _ask(page, "催收可以上门吗")
    page.locator("#bot-chat [data-testid='bot']").last.hover()
    page.locator("#bot-chat button[aria-label='Like']").last.click()
    page.wait_for_function("(document.querySelector('#bot-status') || {}).innerText?.includes('Thanks')")


def test_widget_opens_with_greeting_and_clickable_examples(fake_server, page_factory, screenshots):
    page = page_factory(390, 844, is_mobile=True, has_touch=True)
    page.goto(fake_server + "/demo", wait_until="load")
    page.locator(f"{W} .launcher").click()
    greet = page.locator(f"{W} .greet")
    greet.wait_for(state="visible")
    assert len(greet.inner_text()) > 20
    examples = page.locator(f"{W} .greet .examples button")
    assert examples.count() == 3
    title = page.locator(f"{W} header h2")
    assert title.get_attribute("title")
    assert title.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "the widget title is cut off"
    page.screenshot(path=str(screenshots / "widget_390x844_greeting.png"))
    examples.nth(1).click()
    page.wait_for_function(f"""() => {{ const r = document.querySelector('{W}').shadowRoot;
        return r.querySelectorAll('.msg.bot:not(.pending)').length === 1 && !r.querySelector('.greet'); }}""")
    assert page.locator(f"{W} .msg.user").first.inner_text() == "催收可以威胁我吗"
    assert external_requests(page.requests_seen) == []


def test_widget_long_title_wraps_instead_of_being_cut(fake_server, page_factory, tmp_path):
    long_title = "Help with debt collectors and your rights as a borrower, in three languages"
    page = page_factory(1280, 900)
    page.goto(fake_server + "/demo", wait_until="load")
    page.evaluate(f"""() => {{ const w = document.querySelector('{W}'); w && w.remove(); window.__borrowerBotWidget = false;
        const s = document.createElement('script'); s.src = '/widget.js?x=1'; s.dataset.title = {long_title!r};
        document.body.appendChild(s); }}""")
    page.wait_for_function(f"document.querySelector('{W}') !== null")
    page.locator(f"{W} .launcher").click()
    title = page.locator(f"{W} header h2")
    assert title.inner_text() == long_title
    assert title.evaluate("e => e.scrollWidth <= e.clientWidth + 1")

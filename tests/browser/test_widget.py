"""The embeddable widget in a real browser, on a page served from ANOTHER origin (second port)."""
from __future__ import annotations

import httpx
import pytest

from tests.browser.support import XSS_IMG, XSS_QUESTION, XSS_SCRIPT, external_requests

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

W = "borrower-bot-widget"  # the shadow host; Playwright's CSS selectors pierce open shadow roots


def _open_widget(page, host_url: str) -> None:
    page.goto(host_url + "/", wait_until="load")
    page.locator(f"{W} .launcher").click()
    page.locator(f"{W} textarea").wait_for(state="visible")


def _ask(page, question: str) -> None:
    before = page.locator(f"{W} .msg.bot:not(.pending)").count()
    page.locator(f"{W} textarea").fill(question)
    page.locator(f"{W} textarea").press("Enter")
    page.wait_for_function(
        f"""() => {{
            const r = document.querySelector('{W}').shadowRoot;
            return r.querySelectorAll('.msg.bot:not(.pending)').length > {before} && !r.querySelector('.msg.pending');
        }}""",
        timeout=60_000,
    )


def test_widget_cross_origin_streams_and_shows_citations(app_server, host_server, page_factory, screenshots):
    api = app_server["url"]
    assert host_server.split(":")[-1] != str(app_server["port"])  # really another origin
    question = "催收可以上门吗"
    expected = httpx.post(api + "/api/ask", json={"question": question}, timeout=30).json()
    assert expected["citations"]

    page = page_factory(1280, 900)
    stream_requests = []
    page.on("request", lambda r: stream_requests.append(r) if r.url.endswith("/api/ask/stream") else None)
    _open_widget(page, host_server)
    launcher = page.locator(f"{W} .launcher")
    assert launcher.get_attribute("aria-expanded") == "true"
    assert page.locator(f"{W} .notice").is_visible()

    # Record every text the pending bot bubble is given while the answer streams in. Each SSE delta replaces
    # the bubble's text node, and a MutationRecord keeps the node it added, so no render is missed even when
    # all the deltas arrive in one network chunk.
    page.evaluate(f"""() => {{
        window.__lengths = [];
        const r = document.querySelector('{W}').shadowRoot;
        new MutationObserver((records) => {{
            for (const rec of records) {{
                const t = rec.target;
                if (!(t.classList && t.classList.contains('body') && t.parentNode
                      && t.parentNode.classList.contains('pending'))) continue;
                for (const n of rec.addedNodes) if (n.nodeType === 3 && n.data.length) window.__lengths.push(n.data.length);
            }}
        }}).observe(r, {{subtree: true, childList: true, characterData: true}});
    }}""")
    _ask(page, question)
    assert stream_requests and stream_requests[0].method == "POST"
    assert stream_requests[0].url.startswith(api)
    lengths = page.evaluate("window.__lengths")
    assert len(lengths) >= 2 and lengths == sorted(lengths), f"answer should grow delta by delta: {lengths}"

    bot = page.locator(f"{W} .msg.bot").last
    assert "[1]" in bot.inner_text()
    cite = bot.locator("button.cite").first
    assert cite.get_attribute("aria-expanded") == "false"
    cite.click()
    assert cite.get_attribute("aria-expanded") == "true"
    details = bot.locator("details.src[data-n='1']")
    assert details.get_attribute("open") is not None
    first = expected["citations"][0]
    assert first["title"] in details.locator("summary").inner_text()
    assert first["quote"] in details.locator("mark").inner_text() or first["quote"] in details.inner_text()

    # Host page CSS (31px red text, dashed borders) does not reach inside the widget.
    size = bot.evaluate("e => getComputedStyle(e).fontSize")
    assert size != "31px"
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots / "widget_desktop.png"))

    # Esc closes and gives focus back to the launcher; the conversation survives a reload (sessionStorage).
    page.locator(f"{W} textarea").press("Escape")
    assert page.locator(f"{W} .panel").is_hidden()
    assert launcher.get_attribute("aria-expanded") == "false"
    assert page.evaluate(f"document.querySelector('{W}').shadowRoot.activeElement.className") == "launcher"
    page.reload(wait_until="load")
    page.locator(f"{W} .launcher").click()
    assert page.locator(f"{W} .msg.user").count() == 1
    # Reset empties it.
    page.locator(f"{W} header button.reset").click()
    assert page.locator(f"{W} .msg").count() == 0
    page.reload(wait_until="load")
    page.locator(f"{W} .launcher").click()
    assert page.locator(f"{W} .msg").count() == 0
    assert external_requests(page.requests_seen) == []


def test_widget_keyboard_and_aria(app_server, host_server, page_factory):
    page = page_factory(1280, 900)
    page.goto(host_server + "/", wait_until="load")
    launcher = page.locator(f"{W} .launcher")
    assert launcher.get_attribute("aria-label")
    launcher.focus()
    page.keyboard.press("Enter")  # a <button>: Enter opens it
    panel = page.locator(f"{W} .panel")
    assert panel.is_visible()
    assert panel.get_attribute("role") == "dialog" and panel.get_attribute("aria-labelledby")
    assert page.locator(f"{W} .log").get_attribute("role") == "log"
    assert page.locator(f"{W} textarea").get_attribute("aria-label")
    # Focus went to the question box; typing + Enter asks.
    page.keyboard.type("還不起錢可以分期嗎")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{W} .msg.bot:not(.pending) .fb")
    page.keyboard.press("Escape")
    assert panel.is_hidden()


def test_widget_xss_probes_run_nothing(app_server, host_server, page_factory, screenshots):
    page = page_factory(1280, 900)
    _open_widget(page, host_server)
    _ask(page, f"{XSS_SCRIPT} {XSS_IMG} 催收")
    assert XSS_SCRIPT in page.locator(f"{W} .msg.user").last.inner_text()
    _ask(page, XSS_QUESTION)
    bot = page.locator(f"{W} .msg.bot").last
    for d in bot.locator("details.src").all():
        d.evaluate("e => e.open = true")
    text = bot.inner_text()
    assert "onerror" in text or "<script>" in text or "夜间" in text
    root_html = page.evaluate(f"document.querySelector('{W}').shadowRoot.innerHTML")
    assert "<img src=" not in root_html and "<script>window" not in root_html
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=str(screenshots / "widget_xss.png"))


def test_widget_phone_width(app_server, host_server, page_factory, screenshots):
    page = page_factory(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    _open_widget(page, host_server)
    panel = page.locator(f"{W} .panel")
    box = panel.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 0.5
    assert page.locator(f"{W} form button").is_visible()
    _ask(page, "催收可以威胁我吗")
    assert page.locator(f"{W} .msg.bot").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal overflow"
    page.locator(f"{W} .msg.bot button.cite").first.click()
    page.wait_for_timeout(400)
    page.screenshot(path=str(screenshots / "widget_phone.png"))
    assert external_requests(page.requests_seen) == []


def test_demo_page_embeds_widget(app_server, page_factory):
    page = page_factory(1280, 900)
    page.goto(app_server["url"] + "/demo", wait_until="load")
    assert "widget.js" in page.locator("pre").inner_text()
    page.locator(f"{W} .launcher").click()
    assert page.locator(f"{W} .panel").is_visible()

"""Browser tests: Debian's chromium driven by Playwright (sync API), against real servers on 127.0.0.1.

- `app_server`: `python app.py` as a subprocess on a free port, with the REAL assistant over a temp copy of the
  shipped documents plus one hostile document (XSS payloads in its title, heading and text), ingested into a
  temp index at start-up. Falls back to the fake assistant only if the core cannot be imported.
- `host_server`: a tiny static server on another port (another origin) serving a page that embeds the widget.
- `browser`: headless /usr/bin/chromium with a fresh profile; the tests skip only when chromium is absent
  (scripts/install_chromium.sh installs it).

Screenshots go to artifacts/screenshots/ (git-ignored).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS, XSS_DOC


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen | None, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


def _core_available() -> bool:
    try:
        from bot.core import Assistant  # noqa: F401
        from bot.ingest import ingest  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (run scripts/install_chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives every browser a fresh temporary profile (user-data dir).
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of `python app.py` serving the real assistant over docs + the hostile document."""
    work = tmp_path_factory.mktemp("app")
    docs = work / "docs"
    docs.mkdir()
    for article in sorted((ROOT / "docs").glob("*.txt")):  # the five articles: the law pack takes minutes to embed
        shutil.copy(article, docs / article.name)
    (docs / "900_xss_probe.txt").write_text(XSS_DOC, encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "BOT_DOCS_DIR": str(docs),
        "BOT_INDEX_DIR": str(work / "index"),
        "BOT_DATA_DIR": str(work / "data"),
        "BOT_RATE_LIMIT_PER_MINUTE": "600",
        "BOT_LOG_QUESTIONS": "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    log = work / "server.log"
    if _core_available():
        cmd = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    else:  # only while the core does not exist yet
        cmd = [sys.executable, "-c",
               "import sys,uvicorn;from bot.serve import create_app;from bot.serve.fake import FakeAssistant;"
               "from bot.settings import get_settings;s=get_settings();"
               f"uvicorn.run(create_app(FakeAssistant(),s),host='127.0.0.1',port={port})"]
    with _running(cmd, env, log, port, timeout=240):
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "data_dir": work / "data", "log": log}


@contextlib.contextmanager
def _running(cmd: list[str], env: dict, log: Path, port: int, timeout: float):
    """A server process (output to `log`) that answers /healthz on `port`; stopped on exit."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=timeout, log=log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="session")
def host_server(app_server, tmp_path_factory):
    """Another origin (second port): a static page embedding the widget, with hostile page CSS."""
    site = tmp_path_factory.mktemp("host_site")
    api = app_server["url"]
    (site / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Host page</title>
<style>
  /* Hostile host styles: the widget must look the same regardless. */
  div, p, button, textarea, details, summary, header, form {{ color: red !important; font-size: 31px !important;
      background: yellow !important; border: 5px dashed blue !important; }}
  body {{ font-family: serif; margin: 0; padding: 1rem; }}
</style></head>
<body><h1>Some other site</h1><p>Lorem ipsum dolor sit amet, a page that embeds the assistant.</p>
<script src="{api}/widget.js" data-title="Help with debt collectors" data-lang="en" data-position="right"
        data-color="#0a7" async></script>
</body></html>""",
        encoding="utf-8",
    )
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def page_factory(browser):
    """New pages in a fresh context; records every request URL so tests can assert nothing left 127.0.0.1."""
    contexts = []

    def make(width: int = 1280, height: int = 860, **kw):
        ctx = browser.new_context(viewport={"width": width, "height": height}, **kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.requests_seen = []  # type: ignore[attr-defined]
        page.on("request", lambda req: page.requests_seen.append(req.url))  # type: ignore[attr-defined]
        page.set_default_timeout(45_000)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


LINK_PASSAGES = [
    ("050_links", "投诉渠道与联系方式:一份标题很长的文件,名称需要完整显示而不是被截断",
     "三、投诉", "投诉网址 https://evil.example/report 或 www.evil.example,邮箱 me@evil.example,见 [99] 与 [1]。其他内容。"),
    ("051_other", "催收规范", "一、上门催收", "催收人员不得在晚上十点后上门。催收人员上门前应当提前告知。"),
]
LINK_QUESTION = "投诉网址邮箱见"


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory):
    """Base URL of the server with the FAKE assistant over LINK_PASSAGES (URLs, e-mail, bracketed numbers)."""
    work = tmp_path_factory.mktemp("fake")
    port = _free_port()
    code = (
        "import uvicorn\n"
        "from bot.serve import create_app\n"
        "from bot.serve.fake import FakeAssistant\n"
        "from bot.settings import get_settings\n"
        "from tests.browser.conftest import LINK_PASSAGES\n"
        "s = get_settings(rate_limit_per_minute=600)\n"
        f"uvicorn.run(create_app(FakeAssistant(LINK_PASSAGES), s), host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    env = {**os.environ, "BOT_DATA_DIR": str(work / "data"), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": str(ROOT)}
    log = work / "server.log"
    with _running([sys.executable, "-c", code], env, log, port, timeout=120):
        yield f"http://127.0.0.1:{port}"

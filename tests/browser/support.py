"""Constants and helpers shared by the browser tests (importable as tests.browser.support)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_DOC = f"""夜间催收投诉指南 {XSS_IMG}

一、夜间催收的规定 {XSS_SCRIPT}

催收人员不得在晚上十点以后打电话骚扰借款人{XSS_SCRIPT}。如果遇到夜间骚扰电话{XSS_IMG},可以保存通话记录并向监管部门投诉。

二、投诉渠道

借款人可以拨打消费者投诉热线,也可以向地方金融监督管理局反映夜间骚扰问题。
"""
XSS_QUESTION = "晚上十点以后催收打电话骚扰怎么投诉"


def external_requests(urls: list[str]) -> list[str]:
    allowed = ("http://127.0.0.1:", "data:", "blob:", "about:")
    return [u for u in urls if not u.startswith(allowed)]



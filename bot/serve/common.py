"""Helpers shared by the JSON API (bot/serve/api.py) and the chat page (bot/serve/chat.py).

Both import this module; it imports neither of them, so the serve package has no import circle.
"""
from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.responses import JSONResponse

from bot import prompts
from bot.errors import SettingsError
from bot.types import LANGUAGES, HistoryTurn

# --- what the server passes on to the assistant ------------------------------------------------------------
MAX_HISTORY_TURNS = 12  # messages of earlier conversation passed on (6 questions and their answers)
MAX_HISTORY_TURN_CHARS = 2000  # each of them cut to this many characters
# The command that works from the README (hints shown to users must name it).
INGEST_COMMAND = ".venv/bin/python -m bot ingest"

UI_KEYS = (
    "ui_title", "ui_subtitle", "ui_placeholder", "ui_send", "ui_reset", "ui_sources", "ui_sources_empty",
    "ui_answer_n", "ui_examples", "ui_language", "ui_open", "ui_close", "ui_helpful", "ui_not_helpful",
    "ui_thanks", "ui_error", "ui_busy", "ui_show_source", "ui_hide_source", "ui_messages", "ui_question",
    "ui_answering", "notice", "ui_greeting", "ui_feedback_failed", "ui_examples_label",
)
EXAMPLES = ["Can debt collectors visit my home?", "催收可以威胁我吗", "還不起錢可以分期嗎"]


def ui_strings(prompts_dir) -> dict[str, dict[str, str]]:
    """Every UI string per language, from prompts/strings.<lang>.toml (the one source of user-facing text)."""
    return {lang: {k: prompts.text(k, lang, prompts_dir) for k in UI_KEYS} for lang in LANGUAGES}


# --- the assistant one request uses -------------------------------------------------------------------------
VERSION_HEADER = "X-Index-Version"


def pinned(assistant: Any) -> Any:
    """The assistant a request uses from its start to its end (streaming included): a LiveAssistant's version
    serving now (bot/serve/live.py), which a later switch does not change under the request; else `assistant`."""
    pin = getattr(assistant, "pinned", None)
    return pin() if callable(pin) else assistant


def version_headers(assistant: Any) -> dict[str, str]:
    """{X-Index-Version: the version folder that answered}, when the assistant has one."""
    version = getattr(assistant, "index_version", None)
    return {VERSION_HEADER: version} if isinstance(version, str) and version else {}


# --- messages that go to clients ---------------------------------------------------------------------------
_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"()<>]+/)*([^\s/'\"()<>]+)/?")
_OLD_HINT = re.compile(r"(?<![\w/.])python -m bot ingest")


def public_message(message: str) -> str:
    """A message safe to send to clients: absolute paths shortened to their last component, and the rebuild
    hint in the form that works from the README (`.venv/bin/python -m bot ingest`)."""
    return _OLD_HINT.sub(INGEST_COMMAND, _ABS_PATH.sub(lambda m: m.group(1), message))


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": public_message(message)}, status_code=status, headers=headers)


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


def new_answer_id() -> str:
    """A fresh id for one answer (feedback refers to it): random, so equal answers get different ids."""
    return uuid.uuid4().hex


# --- text a client sent ---------------------------------------------------------------------------------------
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    """A lone UTF-16 surrogate ("\\ud800" is valid JSON) cannot be encoded as UTF-8."""
    return bool(_SURROGATE.search(text))


def scrub(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (for input the chat page cannot refuse)."""
    return _SURROGATE.sub("\ufffd", text)


def cap_question(question: str, max_chars: int) -> str:
    """The question as passed on: at most max_chars + 1 characters (the assistant still sees that it was too
    long, and says it used only the first max_chars)."""
    question = question.strip()
    return question[: max_chars + 1] if max_chars > 0 else question


def cap_history(turns: Iterable[HistoryTurn | dict]) -> list[HistoryTurn]:
    """The last MAX_HISTORY_TURNS turns, each cut to MAX_HISTORY_TURN_CHARS characters."""
    out = []
    for t in list(turns)[-MAX_HISTORY_TURNS:]:
        role, content = (t["role"], t["content"]) if isinstance(t, dict) else (t.role, t.content)
        out.append(HistoryTurn(role=role, content=content[:MAX_HISTORY_TURN_CHARS]))
    return out


# --- who is asking --------------------------------------------------------------------------------------------
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(entries: Sequence[str]) -> list[Network]:
    """settings.trusted_proxies (addresses or CIDR blocks) as networks; a bad entry is a SettingsError."""
    nets = []
    for entry in entries or []:
        try:
            nets.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"invalid setting: trusted_proxies (BOT_TRUSTED_PROXIES): {entry!r} is not an IP address or "
                "network, e.g. [\"127.0.0.1\", \"10.0.0.0/8\"]"
            ) from None
    return nets


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(addr, proxies: Sequence[Network]) -> bool:
    return addr is not None and any(addr.version == n.version and addr in n for n in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The address rate limits are keyed by.

    X-Forwarded-For counts only when the connection comes from a trusted proxy; then the rightmost address
    that is not itself a trusted proxy is the client (addresses further left are whatever the client wrote).
    """
    peer = peer or "unknown"
    if not proxies or not forwarded_for or not _trusted(_ip(peer), proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        addr = _ip(hop)
        if addr is None:
            return peer  # garbage in the header: do not guess
        if not _trusted(addr, proxies):
            return str(addr)
    return str(_ip(hops[0])) if hops else peer


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The (last) value of a header in an ASGI header list, decoded as latin-1."""
    value = None
    for k, v in headers:
        if k == name:
            value = v.decode("latin-1")
    return value

"""HTML for the chat page, built by hand: every document or user string goes through html.escape.

Nothing here trusts its input: passage text, titles, sections, quotes and questions may all contain markup
(`<script>`, `<img onerror=...>`), Markdown, URLs or bracketed numbers, and must show as characters: no tag,
no autolinked URL or e-mail address, and no [n] link except the answer's own markers that name a citation.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from bot.types import Citation

_MARKER = re.compile(r"\[(\d{1,3})\]")
# HTML-special and Markdown-special characters, replaced in one pass by numeric entities: the chat renders
# Markdown, and an entity shows as the character itself without being syntax.
# ':' and '@' too: the chat's Markdown (GFM) turns "http://...", "www.x.y" and "a@b.c" into links, and an
# entity in the source text breaks its pattern while the reader still sees the character.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_~[]$|#!():@"}
_ENTITY_RE = re.compile("|".join(re.escape(c) for c in _ENTITIES))
_WWW = re.compile(r"(?i)\b(www)\.")


def text_html(s: str) -> str:
    """`s` as inert HTML text that also passes through a Markdown renderer unchanged."""
    out = _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], s)
    out = _WWW.sub(r"\1&#46;", out)
    # A line starting with "1." / "-" / "+" / ">" would become a list or a quote.
    out = re.sub(r"(?m)^(\s*)(\d+)\.", r"\1\2&#46;", out)
    out = re.sub(r"(?m)^(\s*)([-+=])", lambda m: m.group(1) + f"&#{ord(m.group(2))};", out)
    return out


def answer_html(text: str, turn: int, citation_numbers: Sequence[int] = ()) -> str:
    """Answer text for the chat bubble: escaped, each [n] that names one of `citation_numbers` a link to its
    source in the sources panel; any other bracketed number (a document's own "[1]", "[99]", or every marker
    while the citations are not known yet) stays plain text."""
    known = set(citation_numbers)
    parts: list[str] = []
    pos = 0
    for m in _MARKER.finditer(text):
        parts.append(text_html(text[pos : m.start()]))
        n = int(m.group(1))
        if n in known:
            parts.append(
                f'<a class="cite" href="#src-{turn}-{n}" data-turn="{turn}" data-n="{n}" '
                f'aria-label="source {n}">&#91;{n}&#93;</a>'
            )
        else:
            parts.append(text_html(m.group(0)))
        pos = m.end()
    parts.append(text_html(text[pos:]))
    return "".join(parts)


def passage_html(text: str, quote: str) -> str:
    """The passage with its quoted sentence(s) marked; both escaped."""
    if quote:
        i = text.find(quote)
        if i >= 0:
            return (
                escape(text[:i]) + '<mark class="quote">' + escape(quote) + "</mark>" + escape(text[i + len(quote) :])
            )
    return escape(text)


def citation_html(c: Citation, turn: int, *, open_: bool) -> str:
    section = f'<div class="src-section">{escape(c.section)}</div>' if c.section else ""
    quote_missing = c.quote and c.quote not in c.text
    extra = f'<blockquote class="src-quote">{escape(c.quote)}</blockquote>' if quote_missing else ""
    return (
        f'<details class="src" id="src-{turn}-{c.n}" data-n="{c.n}"{" open" if open_ else ""}>'
        f'<summary><span class="src-n">[{c.n}]</span> <span class="src-title">{escape(c.title)}</span></summary>'
        f"{section}"
        f'<div class="src-text">{passage_html(c.text, c.quote)}</div>{extra}'
        f'<div class="src-doc">{escape(c.doc_id)}</div>'
        "</details>"
    )


def sources_html(groups: Sequence[tuple[int, Sequence[Citation]]], *, heading: str, empty: str,
                 answer_label: str) -> str:
    """The sources panel: (turn, citations) of the answers still shown, newest first; the newest one open."""
    groups = [(t, cs) for t, cs in groups if cs]
    if not groups:
        return f'<div class="sources" aria-live="polite"><h3>{escape(heading)}</h3><p class="muted">{escape(empty)}</p></div>'
    blocks: list[str] = []
    latest = max(t for t, _ in groups)
    for turn, cites in sorted(groups, key=lambda tc: -tc[0]):
        body = "".join(citation_html(c, turn, open_=(turn == latest)) for c in cites)
        label = escape(answer_label.format(n=turn + 1))
        latest_attr = ' data-latest="1"' if turn == latest else ""
        blocks.append(
            f'<section class="src-group" data-turn="{turn}"{latest_attr}>'
            f'<h4>{label}</h4>{body}</section>'
        )
    return f'<div class="sources" aria-live="polite"><h3>{escape(heading)}</h3>{"".join(blocks)}</div>'

"""Split a cleaned document into citable passages, each carrying its heading path.

Input: cleaned text with one heading or paragraph per line (bot.clean guarantees that). Output: Passage
objects for paragraphs and list items — never a bare heading — with the path of headings above them
("三、中原消費金融催收的方式 › 3.3 上門催收"), used both as metadata and as retrieval context.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from bot.types import Passage

# "一、", "二、" ... chapter headings; "1.1 ", "2.1.1 " numbered section headings.
_CHAPTER = re.compile(r"^[一二三四五六七八九十百]+[、.．]\s*\S")
_NUMBERED = re.compile(r"^(\d+(?:[.．]\d+)+)[.．]?\s*(\S.*)$")
# A list item: "1. text", "1、text", "(1) text" — a paragraph, not a heading.
_LIST_ITEM = re.compile(r"^(?:\d+[.．、)]|[((]\d+[))])\s*\S")
_SENTENCE_END = re.compile(r"[。!?!?;;…]$|[。!?!?]")
MAX_PASSAGE_CHARS = 320  # longer paragraphs are split at sentence ends: a citation should point at a few sentences
_SENTENCE_SPLIT = re.compile(r"(?<=[。!?!?;;])")


def heading_level(line: str) -> int | None:
    """1 for chapter headings, 2+ for numbered sub-sections, 1 for short unpunctuated lines; None for text."""
    if _CHAPTER.match(line) and len(line) <= 40 and not _SENTENCE_END.search(line):
        return 1
    numbered = _NUMBERED.match(line)
    if numbered and len(line) <= 40 and not _SENTENCE_END.search(line):
        return numbered.group(1).replace("．", ".").count(".") + 1
    if _LIST_ITEM.match(line):
        return None
    # Short line without sentence punctuation (e.g. "小編總結", a Markdown heading): a heading.
    if len(line) <= 24 and not re.search(r"[,,。!?!?;;::、]", line):
        return 1
    return None


def split_passages(doc_id: str, title: str, text: str, source: str) -> list[Passage]:
    passages: list[Passage] = []
    path: list[tuple[int, str]] = []  # (level, heading) stack
    offset = 0
    for raw_line in text.split("\n"):
        line_start = offset
        offset += len(raw_line) + 1
        line = raw_line.strip()
        if not line:
            continue
        start = line_start + raw_line.index(line)
        if line == title and not passages and not path and heading_level(line) is not None:
            continue  # the title itself is metadata, not a passage (unless it is the only paragraph there is)
        level = heading_level(line)
        if level is not None:
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, line))
            continue
        section = " › ".join(h for _, h in path)
        for piece_start, piece in _pieces(line, start):
            passages.append(
                Passage(
                    id=f"{doc_id}:{len(passages)}",
                    doc_id=doc_id,
                    title=title,
                    section=section,
                    text=piece,
                    start=piece_start,
                    end=piece_start + len(piece),
                    source=source,
                )
            )
    return passages


def _pieces(line: str, start: int) -> Iterator[tuple[int, str]]:
    """The paragraph itself, or consecutive groups of its sentences when it is too long to cite precisely."""
    if len(line) <= MAX_PASSAGE_CHARS:
        yield start, line
        return
    group, group_start, pos = "", start, start
    for sentence in (s for s in _SENTENCE_SPLIT.split(line) if s):
        if group and len(group) + len(sentence) > MAX_PASSAGE_CHARS:
            yield group_start, group
            group, group_start = "", pos
        group += sentence
        pos += len(sentence)
    if group:
        yield group_start, group


# ------------------------------------------------------------------------------------------- statutes

MAX_ARTICLE_CHARS = 500  # an article longer than this is cited (and embedded) in parts that keep its label


def statute_passages(doc_id: str, raw_text: str, source: str) -> tuple[str, list[Passage]]:
    """One passage per article of a statute file (bot.statutes format), with the law's metadata; text outside
    articles (a preamble, a guiding case's sections) becomes ordinary passages under its heading path.
    Returns (display title, passages)."""
    from bot.statutes import parse_statute, split_long_article

    statute = parse_statute(raw_text, source)
    line_starts = [0]
    for line in raw_text.split("\n"):
        line_starts.append(line_starts[-1] + len(line) + 1)

    def offset(line: int) -> int:
        return line_starts[min(max(line - 1, 0), len(line_starts) - 1)]

    law = {"law": statute.title, "book": statute.book, "law_key": statute.law_key, "version": statute.version_date}
    units: list[tuple[int, dict]] = []  # (line, Passage fields) in file order
    for article in statute.articles:
        parts = split_long_article(article, MAX_ARTICLE_CHARS)
        for i, part in enumerate(parts):
            units.append((article.line, {
                "kind": "article", "section": " › ".join(article.chapter_path), "text": part, "article": article.label,
                "article_no": article.number, "article_suffix": article.suffix, "part": i + 1 if len(parts) > 1 else 0,
                **law,
            }))
    for section in statute.sections:
        for paragraph in section.paragraphs:
            for _, piece in _pieces(paragraph, 0):
                units.append((section.line, {"section": " › ".join(section.path), "text": piece, **law}))
    units.sort(key=lambda u: u[0])
    passages = []
    for line, fields in units:
        start = raw_text.find(fields["text"].split("\n")[0], offset(line))
        start = start if start >= 0 else offset(line)
        passages.append(Passage(id=f"{doc_id}:{len(passages)}", doc_id=doc_id, title=statute.title, start=start,
                                end=start + len(fields["text"]), source=source, **fields))
    return statute.name, passages


def mark_versions_in_force(passages: list[Passage]) -> list[Passage]:
    """Set `in_force` on statute passages: True for the newest version of each law in this corpus, False for
    older versions (a folder may hold several versions of one law; only the newest is the law in force)."""
    newest: dict[str, str] = {}
    for p in passages:
        if p.law_key:
            newest[p.law_key] = max(newest.get(p.law_key, ""), p.version)
    out = []
    for p in passages:
        in_force = not p.law_key or p.version == newest[p.law_key]
        out.append(p if p.in_force == in_force else p.model_copy(update={"in_force": in_force}))
    return out

"""Ingestion, stage 1: find document files and read each one into plain text.

    files, warnings = discover([Path("docs"), Path("extra/notes.md")])
    for path in files:
        text = read_text(path)          # raises UnsupportedDocument with a readable reason

`read_text` returns one heading or paragraph per line ("\\n" line endings, NFC), whatever the format.
Cleaning of scraped junk is the next stage (bot.clean); this module only turns bytes into text.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from bot.renderings import is_sidecar
from bot.language import to_simplified
from bot.statutes import is_statute

from bot.errors import BotError

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}

TEXT_SUFFIXES = {".txt"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}

# Chinese web text comes as UTF-8, as GBK/GB18030 (mainland) or as Big5 (Taiwan, Hong Kong).
LEGACY_ENCODINGS = ("gb18030", "big5")
# Above this share of control characters a "text" file is really binary (or a wrong encoding).
MAX_CONTROL_SHARE = 0.05



class UnsupportedDocument(BotError):
    """A document that cannot be read as text; the message names the file and says why."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{display_name(path)}: {reason}")


def display_name(path: Path | str) -> str:
    """A file name safe to print on one line and to store as UTF-8 text.

    Bytes of a name that is not valid UTF-8 (surrogate-escaped by Python) become `\\xff`; control and
    format characters (newline, ESC, bidi overrides...) become `\\u001b`; a backslash is doubled, so two
    different names never look the same. Names of ordinary files come out unchanged.
    """
    text = str(path)
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by os.fsdecode's surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def one_line(text: str) -> str:
    """`text` with control and format characters escaped (`\\u000a`), for one line of output or log: a
    file name carrying a newline or an escape code cannot forge or recolour lines. Unlike `display_name`,
    backslashes are left alone (applying it to an already-escaped name changes nothing)."""
    if text.isprintable():
        return text
    return "".join(
        f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF
        else f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        else ch
        for ch in text
    )


# --------------------------------------------------------------------------- discover


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Expand files and directories (recursively, sorted) into candidate document files.

    Hidden files and directories (name starting with ".") found while walking a directory are skipped, and
    so is a link found there whose target lies outside that directory (a link to /etc/passwd or to a secret
    elsewhere must not end up in the index): name such a file on the command line to index it anyway.
    Returns (files, warnings); a warning names each path that does not exist, has an unsupported suffix or
    is such a link. Names in warnings are printable (see `display_name`).
    """
    files: list[Path] = []
    warnings: list[str] = []
    seen: set[Path] = set()

    def add(candidate: Path) -> None:
        if is_sidecar(candidate):
            return  # an English rendering of a document beside it (bot.renderings), not a document
        if candidate.suffix.lower() not in SUPPORTED_SUFFIXES:
            suffix = candidate.suffix or "(no suffix)"
            warnings.append(
                f"{display_name(candidate)}: unsupported file type {display_name(suffix)}; "
                f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
            )
            return
        key = candidate.resolve()
        if key not in seen:
            seen.add(key)
            files.append(candidate)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            real_dir = path.resolve()
            for candidate in sorted(_walk(path)):
                if not _is_inside(candidate, real_dir):
                    warnings.append(
                        f"{display_name(candidate)}: a link to a file outside {display_name(path)}; not indexed "
                        "(name the file itself on the command line to index it)"
                    )
                    continue
                add(candidate)
        elif path.is_file():
            add(path)  # named by the operator: indexed even when it is a link to somewhere else
        else:
            warnings.append(f"{display_name(path)}: no such file or directory")
    return files, warnings


def _is_inside(candidate: Path, real_dir: Path) -> bool:
    """Whether the file's real path (links resolved) lies inside the directory."""
    try:
        candidate.resolve().relative_to(real_dir)
    except (ValueError, OSError, RuntimeError):  # outside, or a link loop
        return False
    return True


def _walk(directory: Path) -> Iterator[Path]:
    for child in directory.rglob("*"):
        relative = child.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if child.is_file():
            yield child


# --------------------------------------------------------------------------- read_text


def read_text(path: Path) -> str:
    """The document's text, one heading or paragraph per line. Raises UnsupportedDocument."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedDocument(
            path, f"unsupported file type {suffix or '(no suffix)'}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnsupportedDocument(path, f"cannot open the file ({exc.strerror or exc})") from None

    if suffix == ".pdf":
        text = _pdf_text(path, data)
    elif suffix == ".docx":
        text = _docx_text(path, data)
    else:
        decoded = decode_text(path, data)
        if suffix in MARKDOWN_SUFFIXES:
            # A statute keeps its own line structure (header, 编/章/节 headings, articles): bot.statutes parses it.
            text = decoded if is_statute(decoded) else _markdown_text(decoded)
        elif suffix in HTML_SUFFIXES:
            text = _html_text(path, decoded)
        else:
            text = decoded

    text = _normalise(text)
    if not text.strip():
        raise UnsupportedDocument(path, "the document is empty (no text found)")
    return text


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = unicodedata.normalize("NFC", text.lstrip("\ufeff"))
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


# --------------------------------------------------------------------------- plain text decoding


def decode_text(path: Path, data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM or not), UTF-16 with BOM, else GB18030 or Big5.

    GB18030 accepts almost any byte sequence, Big5 bytes included, so "first legacy codec that decodes
    without error" would turn every Big5 file into GB18030 garbage. When both decode, the one whose
    characters are more often common Chinese characters wins (see `_plausibility`).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _reject_binary(path, data.decode("utf-16"))
        except UnicodeDecodeError:
            raise UnsupportedDocument(path, "looks like UTF-16 but does not decode") from None
    if b"\x00" in data[:65536]:
        raise UnsupportedDocument(path, "binary file (contains NUL bytes), not text")
    try:
        return _reject_binary(path, data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass

    candidates: list[str] = []
    for encoding in LEGACY_ENCODINGS:
        try:
            candidates.append(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    if not candidates:
        raise UnsupportedDocument(path, "cannot decode the text as UTF-8, GB18030 or Big5")
    # max() keeps the first candidate on a tie: GB18030 before Big5, as listed.
    best = max(candidates, key=_plausibility)
    return _reject_binary(path, best)


def _reject_binary(path: Path, text: str) -> str:
    if not text:
        return text
    control = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if control / len(text) > MAX_CONTROL_SHARE:
        raise UnsupportedDocument(path, "binary file (too many control characters), not text")
    return text


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    """The 3,755 most common Simplified characters: GB2312 level 1, rows 0xB0-0xD7.

    Built from the codec itself, so no word list has to ship with the project.
    """
    chars = set()
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return frozenset(chars)


_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _plausibility(text: str) -> float:
    """Share of CJK characters that are common characters once converted to Simplified."""
    sample = to_simplified(text[:20000])
    hanzi = _CJK_CHAR.findall(sample)
    if not hanzi:
        return 0.0
    common = _common_hanzi()
    return sum(ch in common for ch in hanzi) / len(hanzi)


# --------------------------------------------------------------------------- markdown

_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_MD_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_BULLET = re.compile(r"^\s*[-*+]\s+")
_MD_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")
_MD_QUOTE = re.compile(r"^\s*(>\s?)+")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_MD_AUTOLINK = re.compile(r"<(https?://[^>]+)>")
_MD_CODE = re.compile(r"`([^`]+)`")
# ** and __ anywhere; single * or _ only when they hug a word, so snake_case and 2*3 survive.
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM = re.compile(r"(?<![A-Za-z0-9_*])([*_])(?=\S)(.+?)(?<=\S)\1(?![A-Za-z0-9_*])")
_MD_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_CJK_END = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _md_inline(line: str) -> str:
    line = _MD_IMAGE.sub(r"\1", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_AUTOLINK.sub(r"\1", line)
    line = _MD_CODE.sub(r"\1", line)
    line = _MD_STRONG.sub(r"\2", line)
    line = _MD_EM.sub(r"\2", line)
    return _MD_HTML_TAG.sub("", line).strip()


def _markdown_text(source: str) -> str:
    """Markdown to plain lines: headings and list items on their own line, soft-wrapped paragraphs joined."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            joined = paragraph[0]
            for piece in paragraph[1:]:
                # Chinese has no spaces between words: a line break inside a paragraph joins without one.
                glue = "" if _CJK_END.search(joined) and _CJK_START.search(piece) else " "
                joined += glue + piece
            out.append(joined)
            paragraph.clear()

    in_fence = False
    for raw in source.split("\n"):
        if _MD_FENCE.match(raw):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            if raw.strip():
                out.append(raw.rstrip())
            continue
        if not raw.strip():
            flush()
            continue
        if _MD_SETEXT_UNDERLINE.match(raw) and paragraph:
            # "Title\n=====": the paragraph so far is a heading.
            flush()
            continue
        if _MD_RULE.match(raw):
            flush()
            continue
        heading = _MD_HEADING.match(raw)
        if heading:
            flush()
            if heading.group(1).strip():
                out.append(_md_inline(heading.group(1)))
            continue
        line = _MD_QUOTE.sub("", raw)
        if line != raw:
            flush()  # a quote starts its own paragraph
        if _MD_BULLET.match(line):
            flush()
            paragraph.append(_md_inline(_MD_BULLET.sub("", line)))
            continue
        if _MD_NUMBERED.match(line):
            flush()  # numbered items keep their number: "1. 逾期提醒" reads as a list item downstream
        text = _md_inline(line)
        if text:
            paragraph.append(text)
    flush()
    return "\n".join(line for line in out if line)


# --------------------------------------------------------------------------- html

# Page furniture, not content.
_HTML_DROP = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe", "svg")
_HTML_BLOCKS = (
    "address", "article", "blockquote", "body", "dd", "div", "dl", "dt", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "li", "main", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    "caption", "details", "summary", "title",
)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u3000]+")
_CJK_LINE_BREAK = re.compile(r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])[ \t]*\n\s*(?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")


def _html_text(path: Path, markup: str) -> str:
    # Imported here: only HTML ingestion pays for it.
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

    try:
        soup = BeautifulSoup(markup, "html.parser")
        for tag in soup.find_all(_HTML_DROP):
            tag.decompose()
        # Line breaks in the source are just whitespace; only <br> and block edges break lines. A source
        # line break between two Chinese characters is dropped altogether (Chinese has no word spaces).
        for string in soup.find_all(string=True):
            if isinstance(string, (Comment, Doctype, Declaration, ProcessingInstruction)):
                string.extract()
            elif type(string) is NavigableString and string.find_parent("pre") is None:
                string.replace_with(_SPACES.sub(" ", _CJK_LINE_BREAK.sub("", str(string)).replace("\n", " ")))
        for tag in soup.find_all("br"):
            tag.replace_with("\n")
        for tag in soup.find_all(_HTML_BLOCKS):
            tag.insert_before("\n")
            tag.insert_after("\n")
        text = soup.get_text()
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad document, not a crash
        raise UnsupportedDocument(path, f"cannot parse the HTML ({type(exc).__name__}: {exc})") from None
    # Inside a block, source line breaks are just whitespace.
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- pdf


def _pdf_text(path: Path, data: bytes) -> str:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs recoverable structure problems as warnings; the user sees our message instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise UnsupportedDocument(path, "the PDF is password-protected")
            except UnsupportedDocument:
                raise
            except Exception:  # noqa: BLE001
                raise UnsupportedDocument(path, "the PDF is encrypted and cannot be opened") from None
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnsupportedDocument:
        raise
    except PdfReadError as exc:
        raise UnsupportedDocument(path, f"not a readable PDF ({exc})") from None
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedDocument(path, f"cannot read the PDF ({type(exc).__name__}: {exc})") from None
    text = "\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise UnsupportedDocument(
            path, "no text layer in the PDF (a scanned image?); run OCR on it first or supply a text version"
        )
    return text


# --------------------------------------------------------------------------- docx


def _docx_text(path: Path, data: bytes) -> str:
    import io

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def table_lines(table: Table) -> Iterator[str]:
        for row in table.rows:
            seen_cells = set()
            for cell in row.cells:
                # A merged cell is returned once per grid column it spans.
                if id(cell._tc) in seen_cells:
                    continue
                seen_cells.add(id(cell._tc))
                yield from block_lines(cell.iter_inner_content())

    def block_lines(blocks) -> Iterator[str]:
        for block in blocks:
            if isinstance(block, Paragraph):
                yield block.text
            elif isinstance(block, Table):
                yield from table_lines(block)

    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(block_lines(document.iter_inner_content()))
    except Exception as exc:  # noqa: BLE001 - zip/XML errors of every kind mean "not a usable .docx"
        raise UnsupportedDocument(path, f"not a readable Word .docx file ({type(exc).__name__}: {exc})") from None
    stripped = (line.strip() for line in lines)
    return "\n".join(line for line in stripped if line)

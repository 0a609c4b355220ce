"""Chinese statutes in the LawRefBook Markdown format, parsed into articles.

The format (see shared/laws/README.md)::

    # 中华人民共和国民法典                 <- title
    # 合同编                               <- optional second title line: a book of the code
    2020年5月28日 第十三届全国人民代表大会第三次会议通过   <- history lines: date + event
    2021年1月1日 施行
    <!-- INFO END -->                     <- end of the header
    ## 第一分编  通则                       <- 编 / 分编 / 章 / 节 headings (#, ##, ###, ####)
    第四百六十三条 本编调整因合同产生的民事关系。   <- an article: 第…条 (or 第…条之一) + white space
    （一）……                               <- items and further paragraphs belong to the article above

Decisions (the caller relies on them):

* An article runs from its label line to the next article or heading. Its ``text`` does not repeat the label
  (the label is its own field); ``paragraphs`` are its non-empty lines, the first one being what follows the
  label on the label line.
* Text that belongs to no article - the preamble before the first article, paragraphs between a heading and the
  next article, and the whole body of a file without articles (guiding cases, one-paragraph replies) - is kept in
  ``Statute.sections``: runs of paragraphs under their heading path. Nothing of the body is lost: every body
  line is a heading (in the chapter paths), an article's label line, or a paragraph of exactly one article or
  section. ``Statute.preamble`` is the text before the first article (not a pseudo-article).
* Chapter paths: a heading of level L (the number of ``#``; 编 1, 分编 2, 章 3, 节 4 for a bare ``第X章 …`` line)
  closes the open headings of level >= L. Runs of white space inside a heading are collapsed (``第一章  一般规定``
  -> ``第一章 一般规定``; ``肖 像 权`` -> ``肖像权``). For a book of the Civil Code the path starts with the
  book's official heading (``第四编 人格权``). Two plain-line cases are headings too: a ``第X章`` heading wrapped
  onto a second short line (``第七章 卷烟纸、滤嘴棒…的`` + ``生产和销售``), and an enumerated short line without
  sentence punctuation right before an article that does not continue the list above it (``（二）不动产抵押`` in the
  guarantee interpretation): a sub-heading below every Markdown heading.
* Version date (ISO, "" if unknown): the date in the file name, ``…(2021-08-20).md``; otherwise the newest
  dated history line that is not a commencement line (施行 / 实施 / 生效 / 执行): the adoption, revision or
  amendment that made this text. 刑法.md -> 2023-12-29 (修正案（十二）); 民法典/*.md -> 2020-05-28.
* ``law_key`` groups the versions of one law: the title (NFKC, Simplified, no white space) plus ``·book`` for a
  book of a code - the books of the Civil Code are parts, not versions, so they get different keys.
* Parsing never raises: odd input gives a Statute with fewer (or no) articles.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePath

from bot.language import to_simplified

INFO_END = "<!-- INFO END -->"

_NUM_CHARS = "零〇一二三四五六七八九十百千万两0-9０-９"
_SUFFIX_CHARS = "一二三四五六七八九十"
ARTICLE_LINE = re.compile(
    rf"^第(?P<num>[{_NUM_CHARS}]+)条(?:之(?P<suffix>[{_SUFFIX_CHARS}]+))?(?:[\s\u3000]+(?P<rest>.*))?$"
)
_BARE_HEADING = re.compile(rf"^第[{_NUM_CHARS}]+(?P<kind>分编|编|章|节)[\s\u3000]+\S")
_BARE_LEVEL = {"编": 1, "分编": 2, "章": 3, "节": 4}
_HEADING_LABEL = re.compile(rf"^(第[{_NUM_CHARS}]+(?:分编|编|章|节))[\s\u3000]*(.*)$")
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[\s\u3000]+(?=[{_CJK}])")
_FILE_DATE = re.compile(r"[(（](\d{4})-(\d{1,2})-(\d{1,2})[)）]")
_HISTORY_DATE = re.compile(
    r"^[\s(（]*(\d{4})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日|-(\d{1,2})-(\d{1,2})(?!\d))\s*(.*)$"
)
_COMMENCEMENT = re.compile(r"(施行|实施|生效|执行)[\s)）。]*$")
_COMMENT = re.compile(r"^<!--.*-->$")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")  # zero-width marks some files use as blank lines

# The Civil Code's books as its own headings name them (the files name the book 合同编, the code 第三编 合同).
CIVIL_CODE_BOOKS = {
    "总则": "第一编 总则",
    "物权编": "第二编 物权",
    "合同编": "第三编 合同",
    "人格权编": "第四编 人格权",
    "婚姻家庭编": "第五编 婚姻家庭",
    "继承编": "第六编 继承",
    "侵权责任编": "第七编 侵权责任",
    "附则": "附则",
}
CIVIL_CODE_TITLE = "中华人民共和国民法典"


# --------------------------------------------------------------------------------------------- numerals

_DIGITS = "零一二三四五六七八九"
_DIGIT_VALUE = {c: i for i, c in enumerate(_DIGITS)} | {"〇": 0, "两": 2, "兩": 2}
_DIGIT_VALUE |= {str(i): i for i in range(10)}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}


def _below_10000(n: int, leading: bool) -> str:
    out: list[str] = []
    zero_pending = False
    for unit, unit_char in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = (n // unit) % 10
        if d == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        if unit == 10 and d == 1 and leading and not out:
            out.append("十")  # 十一, not 一十一, at the start of a number
        else:
            out.append(_DIGITS[d] + unit_char)
    return "".join(out)


def chinese_numeral(n: int) -> str:
    """1033 -> 一千零三十三; 10 -> 十; 110 -> 一百一十; 0 -> 零 (the form statutes use for article numbers)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"an int is needed, not {type(n).__name__}")
    if n < 0:
        raise ValueError("no Chinese numeral for a negative number")
    if n == 0:
        return "零"
    for unit, char in ((100_000_000, "亿"), (10_000, "万")):
        if n >= unit:
            high, low = divmod(n, unit)
            text = chinese_numeral(high) + char
            if low:
                text += ("零" if low < unit // 10 else "") + _rest(low, unit)
            return text
    return _below_10000(n, leading=True)


def _rest(low: int, unit: int) -> str:
    """The part of a number below `unit` (10**4 or 10**8) that follows 万 or 亿."""
    if unit == 10_000:
        return _below_10000(low, leading=False)
    text = chinese_numeral(low)
    return "一" + text if text.startswith("十") else text  # 一亿零一十 (not 一亿零十)


def parse_chinese_numeral(s: str) -> int:
    """一千零三十三 -> 1033; 十一 -> 11; 两百 -> 200; 二〇二〇 -> 2020; '1033' / '１０３３' -> 1033.

    Raises ValueError for anything that is not a numeral.
    """
    if not isinstance(s, str):
        raise ValueError(f"not a numeral: {s!r}")
    text = unicodedata.normalize("NFKC", s).strip()
    if not text:
        raise ValueError("empty numeral")
    if text.isascii() and text.isdigit():
        return int(text)
    if any(c not in _DIGIT_VALUE and c not in _SMALL_UNITS and c not in _BIG_UNITS for c in text):
        raise ValueError(f"not a numeral: {s!r}")
    if all(c in _DIGIT_VALUE for c in text):  # positional: 二〇二〇, 一〇三三
        return int("".join(str(_DIGIT_VALUE[c]) for c in text))
    total = section = number = 0
    for c in text:
        if c in _DIGIT_VALUE:
            number = number * 10 + _DIGIT_VALUE[c] if c.isascii() else _DIGIT_VALUE[c]
        elif c in _SMALL_UNITS:
            section += (number or 1) * _SMALL_UNITS[c]
            number = 0
        elif _BIG_UNITS[c] == 10_000:
            section = (section + number) * 10_000
            number = 0
        else:
            total = (total + section + number) * 100_000_000
            section = number = 0
    return total + section + number


def _label_suffix(text: str) -> int:
    return parse_chinese_numeral(text) if text else 0


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Article:
    """One article of a statute."""

    label: str  # as written: 第一千零三十三条, 第二百九十三条之一
    number: int  # 1033
    suffix: int  # 0; 1 for 之一, 2 for 之二
    chapter_path: list[str]  # headings above it, outermost first: ["第四编 人格权", "第六章 隐私权和个人信息保护"]
    paragraphs: list[str]  # non-empty lines; the first is the text after the label
    line: int = 0  # 1-based line of the label in the file

    @property
    def text(self) -> str:
        """The whole article without its label: paragraphs joined with '\\n'."""
        return "\n".join(self.paragraphs)

    @property
    def key(self) -> tuple[int, int]:
        return (self.number, self.suffix)


@dataclass(frozen=True)
class Section:
    """A run of paragraphs that belongs to no article, under its heading path (preamble, guiding-case parts)."""

    path: list[str]
    paragraphs: list[str]
    line: int = 0  # 1-based line of its first paragraph in the file

    @property
    def heading(self) -> str:
        return self.path[-1] if self.path else ""

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class Statute:
    title: str  # 中华人民共和国民法典 (the law, also for a book of the code)
    book: str  # 合同编 for a book of the Civil Code; "" otherwise
    version_date: str  # ISO 2021-08-20; "" if unknown
    history: list[str]  # the header's lines (date + event), as written
    law_key: str  # groups versions of one law: normalised title (+ "·" + book)
    articles: list[Article]
    sections: list[Section] = field(default_factory=list)  # body text that is in no article
    source: str = ""

    @property
    def preamble(self) -> str:
        """Text before the first article ("" if none); for a file without articles, its whole body."""
        if not self.articles:
            return "\n".join(s.text for s in self.sections)
        first = self.articles[0].line
        return "\n".join(s.text for s in self.sections if s.line < first)

    @property
    def name(self) -> str:
        """The title with the book, for display: 中华人民共和国民法典·合同编."""
        return f"{self.title}·{self.book}" if self.book else self.title

    def article(self, number: int, suffix: int = 0) -> Article | None:
        for a in self.articles:
            if a.number == number and a.suffix == suffix:
                return a
        return None


# --------------------------------------------------------------------------------------------- parsing


def _lines(text: object) -> list[str]:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def is_statute(text: str) -> bool:
    """The law format: a '# ' title as the first non-empty line and an INFO END marker in the first 150 lines."""
    try:
        lines = _lines(text)[:150]
        first = next((ln.strip() for ln in lines if ln.strip()), "")
        return first.startswith("# ") and len(first) > 2 and any(ln.strip() == INFO_END for ln in lines)
    except Exception:  # noqa: BLE001 - a predicate on arbitrary text never raises
        return False


def normalize_title(title: str) -> str:
    """Matching form of a title: NFKC, Simplified, no white space, no 《》."""
    text = unicodedata.normalize("NFKC", title or "")
    text = re.sub(r"[\s《》〈〉<>]", "", text)
    return to_simplified(text)


def make_law_key(title: str, book: str = "") -> str:
    key = re.sub(r"\(\d{4}-\d{1,2}-\d{1,2}\)$", "", normalize_title(title))
    return f"{key}·{normalize_title(book)}" if book else key


def _iso(y: str, m: str, d: str) -> str:
    mi, di = int(m), int(d)
    if not (1 <= mi <= 12 and 1 <= di <= 31):
        return ""
    return f"{int(y):04d}-{mi:02d}-{di:02d}"


def version_date_from_source(source: str) -> str:
    """The date in a file name, 个人信息保护法(2021-08-20).md -> 2021-08-20; "" if none."""
    name = PurePath(source or "").name
    found = _FILE_DATE.findall(name)
    return _iso(*found[-1]) if found else ""


def history_dates(history: list[str]) -> list[tuple[str, str]]:
    """(ISO date, event) for each dated history line."""
    out = []
    for line in history:
        m = _HISTORY_DATE.match(line)
        if m and (iso := _iso(m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5))):
            out.append((iso, m.group(6).strip()))
    return out


def version_date_from_history(history: list[str]) -> str:
    """Newest date of an adoption / revision / amendment line (commencement lines are not versions)."""
    dated = history_dates(history)
    versions = [d for d, event in dated if not _COMMENCEMENT.search(event)]
    return max(versions or [d for d, _ in dated], default="")


def _clean_heading(text: str) -> str:
    text = re.sub(r"[\s\u3000]+", " ", text).strip()
    m = _HEADING_LABEL.match(text)
    if m:
        label, rest = m.group(1), _SPACE_BETWEEN_CJK.sub("", m.group(2)).strip()
        return f"{label} {rest}" if rest else label
    return _SPACE_BETWEEN_CJK.sub("", text)


def _front_matter(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    if not lines or lines[0].strip() != "---":
        return {}, lines
    for i in range(1, min(len(lines), 80)):
        if lines[i].strip() == "---":
            meta = {}
            for ln in lines[1:i]:
                key, sep, value = ln.partition(":")
                if sep:
                    meta[key.strip()] = value.strip().strip("\"'")
            return meta, lines[i + 1 :]
    return {}, lines


def _title_from_source(source: str) -> str:
    stem = PurePath(source or "").stem
    return _FILE_DATE.sub("", stem).strip()


def parse_statute(text: str, source: str = "") -> Statute:
    """Parse one law file. Never raises; see the module docstring for what goes where."""
    try:
        return _parse(text, source)
    except Exception:  # noqa: BLE001 - a defect here must not stop an ingest; the text survives as one section
        body = [ln.strip() for ln in _lines(text) if ln.strip()]
        title = _title_from_source(source)
        return Statute(title, "", version_date_from_source(source), [], make_law_key(title), [],
                       [Section([], body, 1)] if body else [], source)


def _parse(text: str, source: str) -> Statute:
    meta, lines = _front_matter(_lines(text))
    offset = len(_lines(text)) - len(lines)  # lines taken by the front matter
    marker = next((i for i, ln in enumerate(lines[:400]) if ln.strip() == INFO_END), None)
    if marker is None:  # no header: a leading '# ' line is still the title
        first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
        if first is not None and re.match(r"^#\s+\S", lines[first].strip()):
            header, body_start = lines[: first + 1], first + 1
        else:
            header, body_start = [], 0
    else:
        header, body_start = lines[:marker], marker + 1

    titles, history = [], []
    for ln in header:
        s = ln.strip()
        if not s or _COMMENT.match(s):
            continue
        m = re.match(r"^#\s+(.*)$", s)
        if m:
            titles.append(m.group(1).strip())
        else:
            history.append(s)
    title = titles[0] if titles else (meta.get("title") or _title_from_source(source))
    book = titles[1] if len(titles) > 1 else ""
    version_date = version_date_from_source(source) or version_date_from_history(history)

    stack: list[tuple[int, str]] = []
    if book:
        stack.append((0, CIVIL_CODE_BOOKS.get(book, book) if normalize_title(title) == CIVIL_CODE_TITLE else book))

    articles: list[Article] = []
    sections: list[Section] = []
    current: dict | None = None  # {"kind": "article"|"section", ...}

    def close() -> None:
        nonlocal current
        if current is None:
            return
        if current["kind"] == "article":
            articles.append(Article(current["label"], current["number"], current["suffix"], current["path"],
                                    current["paragraphs"], current["line"]))
        elif current["paragraphs"]:
            sections.append(Section(current["path"], current["paragraphs"], current["line"]))
        current = None

    items = [_classify(lines[i].strip(), i + 1 + offset) for i in range(body_start, len(lines))]
    items = [it for it in items if it is not None]
    after_heading = False  # the previous significant line was a heading
    for k, (lineno, kind, data) in enumerate(items):
        if kind == "heading":
            level, heading = data
            close()
            while stack and stack[-1][0] >= level:
                stack.pop()
            if heading:
                stack.append((level, heading))
            after_heading = True
            continue
        if kind == "article":
            close()
            label, number, suffix, rest = data
            current = {"kind": "article", "label": label, "number": number, "suffix": suffix,
                       "path": [h for _, h in stack], "paragraphs": [rest] if rest else [], "line": lineno}
            after_heading = False
            continue
        s = data
        next_kind = items[k + 1][1] if k + 1 < len(items) else "end"
        if next_kind in ("article", "heading") and _looks_like_title(s):
            item = _ITEM.match(s)
            if after_heading and not item and stack and _HEADING_LABEL.match(stack[-1][1]):
                # a heading wrapped onto a second line: "## 第七章 卷烟纸、滤嘴棒…的" + "生产和销售"
                level, heading = stack.pop()
                stack.append((level, heading + s))
                continue
            if _ENUMERATED.match(s) and (current is None or current["kind"] == "section"
                                         or (item and not _continues_items(current, item))):
                # a sub-heading written as a plain line ("（二）不动产抵押" before the articles it heads)
                close()
                while stack and stack[-1][0] >= _SUBHEADING_LEVEL:
                    stack.pop()
                stack.append((_SUBHEADING_LEVEL, s))
                after_heading = True
                continue
        after_heading = False
        if current is None:
            current = {"kind": "section", "path": [h for _, h in stack], "paragraphs": [], "line": lineno}
        current["paragraphs"].append(s)
    close()
    return Statute(title, book, version_date, history, make_law_key(title, book), articles, sections, source)


_ITEM = re.compile(r"^[（(]([一二三四五六七八九十]+)[）)]")
_ENUMERATED = re.compile(r"^(?:[（(][一二三四五六七八九十]+[）)]|[一二三四五六七八九十]+、)")
_SUBHEADING_LEVEL = 10  # below every Markdown heading: any real heading closes it


def _classify(s: str, lineno: int) -> tuple[int, str, object] | None:
    """(line, "heading", (level, text)) | (line, "article", (label, number, suffix, rest)) | (line, "para", s)."""
    if not s or _COMMENT.match(s):
        return None
    if s.startswith("#"):
        m = re.match(r"^(#+)\s*(.*)$", s)
        return lineno, "heading", (len(m.group(1)), _clean_heading(m.group(2)))
    bare = _BARE_HEADING.match(s)
    if bare and len(s) <= 40 and not re.search(r"[。；，：]", s):
        return lineno, "heading", (_BARE_LEVEL[bare.group("kind")], _clean_heading(s))
    m = ARTICLE_LINE.match(s)
    if m:
        try:
            number = parse_chinese_numeral(m.group("num"))
            suffix = _label_suffix(m.group("suffix") or "")
        except ValueError:
            return lineno, "para", s
        label = s[: m.start("rest")].rstrip() if m.group("rest") is not None else s
        return lineno, "article", (label, number, suffix, (m.group("rest") or "").strip())
    return lineno, "para", s


def _looks_like_title(s: str) -> bool:
    """Short and without sentence punctuation: a heading's second line or a sub-heading, not a paragraph."""
    return len(s) <= 24 and not re.search(r"[。；;，,：:！？!?]", s)


def _continues_items(article: dict, item: re.Match) -> bool:
    """Whether an item line "（三）…" continues the article's list (its last item is （二）)."""
    last = 0
    for p in article["paragraphs"]:
        m = _ITEM.match(p)
        if m:
            last = parse_chinese_numeral(m.group(1))
    return parse_chinese_numeral(item.group(1)) == last + 1


# --------------------------------------------------------------------------------------------- splitting

_SENTENCE_END = re.compile(r"(?<=[。；！？!?;])")


def _pack(pieces: list[str], max_chars: int, sep: str) -> list[str]:
    parts: list[str] = []
    buf = ""
    for piece in pieces:
        candidate = f"{buf}{sep}{piece}" if buf else piece
        if len(candidate) <= max_chars or not buf:
            buf = candidate
        else:
            parts.append(buf)
            buf = piece
    if buf:
        parts.append(buf)
    return parts


def _split_paragraph(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s]
    pieces: list[str] = []
    for sentence in sentences:  # a sentence longer than max_chars is cut (rare: no 。 or ； for max_chars)
        pieces.extend(sentence[i : i + max_chars] for i in range(0, len(sentence), max_chars))
    return _pack(pieces, max_chars, "")


def split_long_article(article: Article | str, max_chars: int = 500) -> list[str]:
    """Consecutive parts of the article's text, each <= max_chars: whole paragraphs where they fit (joined with
    '\\n'), a longer paragraph split after 。；！？, a sentence longer than max_chars cut. An article that fits
    comes back whole, as one part. Nothing is lost or repeated: the parts, concatenated, are the text (up to the
    '\\n' at a paragraph boundary where one part ends and the next begins).
    """
    max_chars = max(1, int(max_chars))
    paragraphs = article.paragraphs if isinstance(article, Article) else [p for p in str(article).split("\n") if p]
    text = "\n".join(paragraphs)
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[list[str]] = []  # per paragraph, its pieces; pieces of one paragraph join with "", others "\n"
    for p in paragraphs:
        pieces.append(_split_paragraph(p, max_chars))
    parts: list[str] = []
    buf = ""
    for para_pieces in pieces:
        for j, piece in enumerate(para_pieces):
            sep = "" if j > 0 else "\n"
            candidate = f"{buf}{sep}{piece}" if buf else piece
            if buf and len(candidate) > max_chars:
                parts.append(buf)
                buf = piece
            else:
                buf = candidate
    if buf:
        parts.append(buf)
    return parts

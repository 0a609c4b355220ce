"""Article references in questions, law names across languages, and citations as a lawyer writes them.

* ``find_article_ref`` finds "民法典第1033条", "刑法第二百九十三条之一", "民法典第一千零三十三條",
  "Article 1033 of the Civil Code", "Civil Code Art. 1033", "article 293-1 of the Criminal Law" in a question.
  A bare "第X条" counts (law None); a number with 条 but without 第 counts only right after a law name
  ("民法典1033条"), so "一条短信" is no reference; "条件", "第三方" have no 第…条 at all.
* Law names are data: bot/data/law_names.tsv (English names, Chinese short name, full title, Chinese aliases).
  ``ArticleRef.law`` is the Simplified short name (民法典, 刑法, 个人信息保护法, 民事诉讼法解释) for a law in the
  table, otherwise the name as the question writes it, without 《》 and 中华人民共和国 (劳动法).
* Citation format (``cite``), the way Chinese lawyers cite a statute, with the version the text is from:

  - zh-Hans: 《中华人民共和国民法典》第一千零三十三条（2020年5月28日版）
  - zh-Hant: 《中華人民共和國民法典》第一千零三十三條（2020年5月28日版）  (s2tw of the Simplified form)
  - en:      Civil Code of the PRC, Article 1033 (version of 2020-05-28);  Criminal Law of the PRC, Article
    293-1 (…); a law without an English name keeps its Chinese title: 征信业管理条例 -> the table has one, but
    e.g. "最高人民法院关于…的规定, Article 5 (version of 2020-12-29)".

  The article label is always written from the number in Chinese numerals (第1033条 -> 第一千零三十三条), a
  title quoted inside the title uses 〈〉 (《最高人民法院关于适用〈中华人民共和国民事诉讼法〉的解释》), and the
  version part is left out when the version date is unknown.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.language import to_simplified, to_traditional
from bot.statutes import chinese_numeral, normalize_title, parse_chinese_numeral
from bot.types import Citation, Hit, Language

LAW_NAMES_PATH = Path(__file__).resolve().parent / "data" / "law_names.tsv"
PRC = "中华人民共和国"


# --------------------------------------------------------------------------------------------- law names


@dataclass(frozen=True)
class LawName:
    english: tuple[str, ...]  # the first is the citation name
    short: str  # 民法典
    title: str  # 中华人民共和国民法典
    chinese: tuple[str, ...] = ()  # other Chinese names: 民诉法


def _english_key(text: str) -> str:
    """Matching form of English: lower case, no apostrophes or brackets, hyphens between words as spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"['’‘`]", "", text)
    text = re.sub(r"(?<=[a-z])[-‐–](?=[a-z])", " ", text)
    text = re.sub(r"[()\[\]{},;]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _chinese_key(text: str) -> str:
    """Matching form of Chinese: NFKC, Simplified, no white space, no 《》〈〉 or quotes."""
    return re.sub(r"[\"“”「」『』]", "", normalize_title(text))


@lru_cache(maxsize=1)
def law_names() -> tuple[LawName, ...]:
    names = []
    for line in LAW_NAMES_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        english = tuple(e.strip() for e in cols[0].split("|") if e.strip())
        chinese = tuple(c.strip() for c in cols[3].split("|") if c.strip()) if len(cols) > 3 else ()
        names.append(LawName(english, cols[1].strip(), cols[2].strip(), chinese))
    return tuple(names)


@lru_cache(maxsize=1)
def _by_chinese() -> dict[str, LawName]:
    """Chinese key (short name, full title, title without 中华人民共和国, aliases) -> law."""
    table: dict[str, LawName] = {}
    for law in law_names():
        for name in (law.title, law.short, *law.chinese, _strip_prc(law.title)):
            table.setdefault(_chinese_key(name), law)
    return table


@lru_cache(maxsize=1)
def _by_english() -> dict[str, LawName]:
    table: dict[str, LawName] = {}
    for law in law_names():
        for name in law.english:
            table.setdefault(_english_key(name), law)
    return table


def _strip_prc(title: str) -> str:
    return title[len(PRC) :] if title.startswith(PRC) and len(title) > len(PRC) else title


def lookup_law(name: str) -> LawName | None:
    """The table's entry for a Chinese (either script) or English name of a law; None if not in the table."""
    if not name or not isinstance(name, str):
        return None
    return _by_chinese().get(_chinese_key(name)) or _by_english().get(_english_key(name))


def short_title(title: str) -> str:
    """中华人民共和国民法典 -> 民法典; a title in the table -> its short name; otherwise the title without
    中华人民共和国 (中华人民共和国劳动法 -> 劳动法). A ·book suffix is kept: 民法典·合同编."""
    base, sep, book = (title or "").partition("·")
    law = lookup_law(base)
    short = law.short if law else _strip_prc(to_simplified(unicodedata.normalize("NFKC", base).strip()))
    return f"{short}{sep}{book}"


def english_title(title: str) -> str | None:
    """The English citation name of a law (中华人民共和国刑法 -> Criminal Law of the PRC); None if the table has
    none."""
    base = (title or "").partition("·")[0]
    law = lookup_law(base)
    return law.english[0] if law and law.english else None


def law_matches(ref_law: str, statute_title: str) -> bool:
    """Whether a law named in a question (short, full, English or alias) is the statute with this title.

    民法典 ~ 中华人民共和国民法典; 刑法 ~ 中华人民共和国刑法 but not 中华人民共和国刑法修正案（十一）;
    民事诉讼法 / 民诉法 ~ 中华人民共和国民事诉讼法 but not 最高人民法院关于适用《中华人民共和国民事诉讼法》的解释.
    """
    if not ref_law or not statute_title or not isinstance(ref_law, str) or not isinstance(statute_title, str):
        return False
    title = _chinese_key(statute_title.partition("·")[0])
    law = lookup_law(ref_law)
    if law is not None and _chinese_key(law.title) == title:
        return True
    ref = _chinese_key(law.title if law else ref_law)
    return bool(ref) and _strip_prc(ref) == _strip_prc(title)


# --------------------------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ArticleRef:
    law: str | None  # Simplified short name (民法典); None when the question names no law
    number: int  # 1033
    suffix: int = 0  # 1 for 之一 (293-1)

    @property
    def label(self) -> str:
        """第二百九十三条之一"""
        return article_label(self.number, self.suffix)

    def names(self, passage) -> bool:
        """Whether `passage` (a bot.types.Passage) is this article: its number, and its law when one is named."""
        return (passage.kind == "article" and (passage.article_no, passage.article_suffix) == (self.number, self.suffix)
                and (not self.law or law_matches(self.law, passage.law)))


def article_label(number: int, suffix: int = 0) -> str:
    """(293, 1) -> 第二百九十三条之一"""
    label = f"第{chinese_numeral(number)}条"
    return label + (f"之{chinese_numeral(suffix)}" if suffix else "")


_NUM = "零〇一二三四五六七八九十百千万两0-9"
_ZH_REF = re.compile(rf"(?P<di>第)?(?P<num>[{_NUM}]+)条(?:之(?P<suffix>[一二三四五六七八九十]+|[0-9]{{1,2}})(?!些))?")
# after a weak "第X条" (no law right before it): words that make it "the X-th item of something", not an article
_NOT_AN_ARTICLE = re.compile(
    r"^(件|约|例|理|幅|码|形|纹|子|状|目|线|路|街|道|河|鱼|狗|船|裤|腿|命|心|缝|短信|消息|微信|信息|留言|评论|彩信|"
    r"记录|链接|新闻|微博|帖|视频|回复|通知|电话|语音|邮件|建议|意见|信|龙|规矩|标语|横幅)"
)
_CONNECTOR = re.compile(r"^(?:的|中|中的|里|里的|里面|里面的|规定|规定的|所规定的|之)?$")
_GENERIC_LAW = re.compile(
    r"([\u4e00-\u9fff()（）]{2,30}?(?:法|法典|条例|规定|解释|办法|决定|规则|通则|修正案)(?:\([一二三四五六七八九十]+\))?)$"
)
_LEADING_WORDS = re.compile(
    r"^(?:请问|请|问|我想|想|查|查看|看看|看|根据|依据|依照|按照|参照|对照|违反|适用|关于|按|依|据|在|是|那|我国|中国|国家|的)+"
)
_MAX_ARTICLE = 9999

_EN_REF = re.compile(
    r"(?<![a-z])(?:articles?|arts?\.?|§)\s*(?:no\.?\s*)?(?P<num>\d{1,4})(?!\d)(?:\s*-\s*(?P<suffix>\d{1,2})(?!\d))?"
)
_EN_OF = re.compile(r"^\s*(?:of|in|under|from)\s+(?:the\s+)?")


@lru_cache(maxsize=1)
def _chinese_alias_pattern() -> re.Pattern:
    keys = sorted(_by_chinese(), key=len, reverse=True)
    return re.compile("|".join(re.escape(k) for k in keys if k))


@lru_cache(maxsize=1)
def _english_alias_pattern() -> re.Pattern:
    keys = sorted([*_by_english(), *_by_chinese()], key=len, reverse=True)
    return re.compile("(?<![a-z0-9])(?:" + "|".join(re.escape(k) for k in keys if k) + ")(?![a-z0-9])")


def _compact(question: str) -> str:
    return _chinese_key(question)


def _aliases(text: str, pattern: re.Pattern) -> list[tuple[int, int, str]]:
    """(start, end, short name) of the laws named in text, longest names first where they overlap."""
    return [(m.start(), m.end(), (lookup_law(m.group()) or LawName((), m.group(), m.group())).short)
            for m in pattern.finditer(text)]


def _generic_law_before(text: str) -> str | None:
    """A law name the table does not know, written right before the article: 劳动法 in 根据劳动法第三条."""
    m = _GENERIC_LAW.search(text)
    if not m:
        return None
    name = re.split(r"[的和与及、，,。？?！!：:；;\s]", m.group(1))[-1]
    name = _LEADING_WORDS.sub("", name)
    name = _strip_prc(name)
    if len(name) < 2 or name in {"办法", "规定", "解释", "决定", "规则", "通则", "条例", "法"} or name.endswith("方法"):
        return None
    law = lookup_law(name)
    return law.short if law else name


def _chinese_refs(question: str) -> list[tuple[int, ArticleRef]]:
    text = _compact(question)
    aliases = _aliases(text, _chinese_alias_pattern())
    refs = []
    for m in _ZH_REF.finditer(text):
        try:
            number = parse_chinese_numeral(m.group("num"))
            suffix = parse_chinese_numeral(m.group("suffix")) if m.group("suffix") else 0
        except ValueError:
            continue
        if not 0 < number <= _MAX_ARTICLE:
            continue
        start = m.start()
        before = [a for a in aliases if a[1] <= start]
        nearest = max(before, key=lambda a: a[1]) if before else None
        law = None
        if nearest and _CONNECTOR.match(text[nearest[1] : start]):
            law, strong = nearest[2], True  # 民法典第1033条, 《民法典》1033条
        else:
            law = _generic_law_before(text[max(0, start - 30) : start])
            strong = law is not None
        if not m.group("di") and not strong:
            continue  # 一条短信, 三条路: a count, not an article
        if not strong:
            if _NOT_AN_ARTICLE.match(text[m.end() :]):
                continue  # 第一条短信
            law = nearest[2] if nearest else None  # the law the question named earlier
        refs.append((start, ArticleRef(law, number, suffix)))
    return refs


def _english_refs(question: str) -> list[tuple[int, ArticleRef]]:
    text = _english_key(question)
    aliases = _aliases(text, _english_alias_pattern())
    refs = []
    for m in _EN_REF.finditer(text):
        number = int(m.group("num"))
        suffix = int(m.group("suffix")) if m.group("suffix") else 0
        if not 0 < number <= _MAX_ARTICLE:
            continue
        law = None
        of = _EN_OF.match(text[m.end() :])
        if of:
            pos = m.end() + of.end()
            law = next((a[2] for a in aliases if a[0] == pos or (a[0] > pos and re.fullmatch(
                r"(?:prcs?|chinas|chinese|peoples republic of chinas?|new)\s*", text[pos : a[0]]))), None)
        if law is None:
            before = [a for a in aliases if a[1] <= m.start()]
            after = [a for a in aliases if a[0] >= m.end()]
            if before:
                law = max(before, key=lambda a: a[1])[2]
            elif after:
                law = min(after, key=lambda a: a[0])[2]
        refs.append((m.start(), ArticleRef(law, number, suffix)))
    return refs


def find_article_refs(question: str) -> list[ArticleRef]:
    """Every article the question names, in order (Chinese forms first, then English ones)."""
    if not question or not isinstance(question, str):
        return []
    refs = [r for _, r in sorted(_chinese_refs(question), key=lambda x: x[0])]
    refs += [r for _, r in sorted(_english_refs(question), key=lambda x: x[0])]
    return refs


def find_article_ref(question: str) -> ArticleRef | None:
    """The first article the question names, or None: 民法典第1033条 -> ArticleRef("民法典", 1033, 0)."""
    refs = find_article_refs(question)
    return refs[0] if refs else None


# --------------------------------------------------------------------------------------------- citing


def _zh_date(iso: str) -> str:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", iso or "")
    return f"{int(m.group(1))}年{int(m.group(2))}月{int(m.group(3))}日" if m else (iso or "")


def _label_zh(label: str, number: int, suffix: int) -> str:
    if number and number > 0:
        return article_label(number, max(0, suffix or 0))
    return to_simplified(label or "").strip()


def cite(title: str, label: str, version_date: str, language: str, *, number: int, suffix: int = 0) -> str:
    """A citation in the question's language (see the module docstring for the format).

    cite("中华人民共和国民法典", "第一千零三十三条", "2020-05-28", "zh-Hans", number=1033, suffix=0)
    -> 《中华人民共和国民法典》第一千零三十三条（2020年5月28日版）
    number 0 (a preamble or a guiding case's section) cites the law, followed by `label` if one is given.
    """
    title = (title or "").strip()
    base = title.partition("·")[0] or title
    if language == "en":
        name = english_title(base) or base
        if number and number > 0:
            part = f", Article {number}" + (f"-{suffix}" if suffix else "")
        else:
            part = f", {label.strip()}" if label and label.strip() else ""
        version = f" (version of {version_date})" if version_date else ""
        return f"{name}{part}{version}"
    inner = base.replace("《", "〈").replace("》", "〉")
    version = f"（{_zh_date(version_date)}版）" if version_date else ""
    text = f"《{inner}》{_label_zh(label, number, suffix)}{version}"
    return to_traditional(text) if language == "zh-Hant" else to_simplified(text)


def citation(n: int, hit: Hit, quote: str, language: Language, quote_en: str = "") -> Citation:
    """The citation of a quoted passage; a statute article is labelled as a lawyer cites it, with its version.
    Both answerers (bot.extractive, bot.llm.verify) cite through this one function."""
    p = hit.passage
    label = (cite(p.law, p.article, p.version, language, number=p.article_no, suffix=p.article_suffix)
             if p.kind == "article" else p.title)
    return Citation(n=n, doc_id=p.doc_id, title=p.title, section=p.section, text=p.text, quote=quote, quote_en=quote_en,
                    score=round(hit.score, 6), passage_id=p.id, start=p.start, end=p.end, label=label, kind=p.kind,
                    law=p.law, article=p.article, version=p.version, in_force=p.in_force)

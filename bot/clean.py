"""Ingestion, stage 2: strip scraping debris from a document's text.

    doc = clean(read_text(path))
    doc.title      # first real content line
    doc.text       # one heading or paragraph per line, joined with "\\n"
    doc.removed    # Counter by kind: pinyin, chrome, spam, contact, mojibake

The rules target Chinese articles scraped from content-farm sites (the shipped corpus and pages like it):
inline pinyin glosses, site chrome, spam keyword lines, contact data (phones, e-mail, QQ, WeChat ids, bank
card and account numbers: all counted as "contact") and mis-decoded fragments.
They never rewrite content: scripts are not converted and words lost at the source are not restored.
Patterns are written in Simplified Chinese and matched against a Simplified copy of each line, so one
pattern serves both scripts; the output keeps the original characters.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import opencc

REMOVAL_KINDS = ("pinyin", "chrome", "spam", "contact", "mojibake")

_T2S = opencc.OpenCC("t2s")


@dataclass
class CleanedDocument:
    title: str
    text: str
    removed: Counter[str] = field(default_factory=Counter)


# --------------------------------------------------------------------------- character classes

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_TONE_VOWELS = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_LETTERS = f"a-zü{_TONE_VOWELS}"

# --------------------------------------------------------------------------- pinyin glosses

# One syllable: optional initial, vowel nucleus (may carry a tone mark), optional n/ng/r coda, optional
# tone digit. A gloss must show a tone (mark or digit) somewhere: that is what separates "(fèi)" from a
# real parenthetical such as "(app)" or "(ABC)".
_SYLLABLE = f"(?:[zcs]h|[bpmfdtnlgkhjqxrzcsyw])?[aeiouüv{_TONE_VOWELS}]{{1,4}}(?:ng|n|r)?[1-5]?"
_PINYIN_GLOSS = re.compile(
    rf"(?<=[{_CJK}A-Za-z])[(（]\s*"  # after a character (or a Latin letter of a mis-decoded run)
    rf"(?=[^)）]*[{_TONE_VOWELS}1-5])"  # some tone is shown
    rf"{_SYLLABLE}(?:[\s'’-]?{_SYLLABLE}){{0,3}}"
    r"\s*[)）]"
)

# --------------------------------------------------------------------------- mis-decoded fragments

# "??" directly before text (or "?" followed by the tail of a broken gloss such as "cè)", or U+FFFD) marks where the source
# site mangled bytes: "方案??蛻粼跍p輕了" was "方案。客戶在減輕了".
_MOJIBAKE_MARKER = re.compile(
    rf"\?\?+(?=[{_CJK}A-Za-z])|\?[{_PINYIN_LETTERS}]*[{_TONE_VOWELS}][{_PINYIN_LETTERS}]*[)）]|\ufffd+"
)
# After the marker, the garbage is a short run of characters that occur nowhere else in the document;
# the first character the document also uses elsewhere is taken as real text again. Conservative by
# design: at most this many characters go, and a run of common characters is left alone (then only the
# marker is removed). Nothing is ever guessed back in.
_MOJIBAKE_MAX_RUN = 6
_GARBAGE_CANDIDATE = re.compile(f"[{_CJK}A-Za-z]")

# --------------------------------------------------------------------------- contact data

_PHONE = re.compile(
    r"(?<![\dA-Za-z])(?:"
    r"(?:\+|00)?86[-\s]?1[3-9]\d{9}"  # +86 mobile
    r"|1[3-9]\d{9}"  # mainland mobile
    r"|(?:\+?86[-\s]?)?[(（]?0\d{2,3}[)）]?[-\s]?\d{7,8}(?:-\d{1,5})?"  # landline with area code
    r"|[48]00[-\s]?\d{3}[-\s]?\d{4}"  # 400/800 service numbers
    r")(?!\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_QQ = re.compile(r"(?i)(?:qq|扣扣)\s*(?:号|號|群)?\s*[:：]?\s*\d{5,11}(?!\d)")
# A WeChat id: 6-20 characters, starting with a letter (WeChat's own rule), or a number bound to the account.
_WECHAT_ID = r"(?:[A-Za-z][-_A-Za-z0-9]{5,19}|\d{6,12})(?![-_A-Za-z0-9])"
_WECHAT = re.compile(
    r"(?i)(?:"
    # Chinese labels, with or without a colon: "微信：zhang_san88", "微信号 wxid_abc123", "加微信abc12345"
    rf"(?:微信|威信|薇信|v信)\s*(?:号|號|id)?\s*(?:[:：]|是|为|為)?\s*{_WECHAT_ID}"
    # Latin labels only with a colon (so "wxPython" stays): "VX: abc_1234", "WeChat ID: zhangsan2024"
    rf"|(?<![A-Za-z])(?:wechat|weixin|vx|wx)\s*(?:id|号|號)?\s*[:：]\s*{_WECHAT_ID}"
    r")"
)
# Bank card / account numbers: 16-19 digits, run together or in groups of four ("6222 0212 3456 7890 123").
# Not years, dates, amounts (100000元) or article numbers: those are far shorter than 16 digits.
_BANK_ACCOUNT = re.compile(
    r"(?<![\dA-Za-z])(?<!\d\.)(?:\d{16,19}|\d{4}(?:[ \-]\d{4}){3}(?:[ \-]?\d{1,3})?)(?![\dA-Za-z])(?!\.\d)"
)
_CONTACT_ITEMS = (_EMAIL, _QQ, _WECHAT, _BANK_ACCOUNT, _PHONE)
# Takedown/complaint headers such as "內容侵權、刪帖舉報聯系方式:" (matched on the Simplified copy).
_TAKEDOWN = re.compile(r"^.{0,6}(侵权|删帖|举报).{0,12}(联系方式|联系我们|联系邮箱|邮箱|电话)")
# What may be left of a contact-only line once its items are gone: labels and a name ("陈先生:").
_CONTACT_LABELS = re.compile(
    r"(?i)联系方式|联系人|联系电话|联系|电话|手机|邮箱|e-?mail|qq|微信|wechat|vx|客服|"
    r"银行卡|卡号|账号|帐号|账户|收款|开户行|户名|"
    r"[\u4e00-\u9fff]{1,3}(?:先生|女士|小姐|老师|经理)"
)
_LEFTOVER_NOISE = re.compile(r"[\s\W_]+")
_MAX_CONTACT_LINE_LEFTOVER = 4

# --------------------------------------------------------------------------- spam

_SPAM_WORDS = (
    "成人", "无码", "有码", "黄色", "色情", "裸聊", "赌场", "博彩", "彩票", "在线观看", "视频在线", "黄网",
    "激情", "av", "三级", "自拍", "偷拍", "人妻", "午夜", "天天射", "天天爽", "一本道", "日韩", "欧美",
    "百家乐", "六合彩", "老虎机", "娱乐城", "棋牌", "澳门", "威尼斯人", "葡京", "约炮", "丁香", "伦理",
)
_SPAM_WORD = re.compile("|".join(map(re.escape, _SPAM_WORDS)), re.IGNORECASE)
# A keyword-stuffed line is a list of short phrases, not prose.
_SPAM_SPLIT = re.compile(r"[,，、|｜/;；\s]+")
_SPAM_MIN_FRAGMENTS = 4
_SPAM_MAX_FRAGMENT = 16
_SPAM_MIN_HITS = 2

# --------------------------------------------------------------------------- chrome

_CHROME_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^您好[!！,，]?\s*欢迎(访问|来到|光临).{0,30}$",  # "您好!歡迎訪問逾期頻道!"
        r"^欢迎(访问|来到|光临).{0,20}(频道|网站|本站|网)[!！。]?$",
        r"^\S{1,12}\s+\d+\s*℃\s+\d+$",  # "催收科普 1℃ 0": category, heat, comments
        r"^\S{1,12}\s+\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(\s+\d{1,2}:\d{2}(:\d{2})?)?$",  # "用卡知識 2024-10-05 06:00:21"
        r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(\s+\d{1,2}:\d{2}(:\d{2})?)?$",  # a bare timestamp
        r"^((阅读|浏览|评论|点赞|收藏|分享|热度)\s*[:：]?\s*\d+\s*){1,4}$",
        r"^小编导语[:：]?$",  # the label alone; "小編總結" heads a real closing section and stays
        r"^(责任编辑|特别声明|免责声明|版权声明|本文来源|来源|作者|原标题|声明)\s*[:：]",
        r"^(上一篇|下一篇|上一页|下一页)\s*[:：]?",
        r"^打开app(体验更佳|阅读|查看)",
        r"^请?(在|到)app内?(查看|阅读)(更多|全文)",
        r"^(最新文章|随机看看|热门文章|热门推荐|猜你喜欢|推荐阅读|延伸阅读|更多精彩|展开全文|查看更多|分享到)[:：]?$",
        r"^[(（]注[:：]\s*以上.*(示例|仅供参考|参考|虚构).*[)）]?$",  # "(注:以上為示例文章,…)"
        r"^(首页|主页)\s*[>›»/]",  # breadcrumbs
        r"^(copyright|©|版权所有)",
    )
]
# A header followed by a list of links to other articles: the header and the list are chrome.
_RELATED_HEADER = re.compile(r"^(相关(内容|文章|阅读|推荐|链接)|猜你喜欢|推荐阅读|延伸阅读|热门文章)[:：]?$")
_LIST_ITEM = re.compile(r"^(\d{1,2}[.、．)](?!\d)|[-•·*])\s*\S")
_MAX_RELATED_ITEM = 40

# --------------------------------------------------------------------------- whitespace

_SPACES = re.compile(r"[ \t\f\v\u00a0\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
# A space before Chinese punctuation is a hole left by a removed word ("通過 、短信"); drop the space,
# keep the hole: the lost word is not guessed back.
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,，、。;；:：!！?？)）」』】》])")
_SPACE_AFTER_OPEN = re.compile(r"(?<=[(（「『【《])\s+")


# --------------------------------------------------------------------------- public API


def clean(text: str) -> CleanedDocument:
    """Clean one document's text; see the module docstring for what goes and what stays."""
    removed: Counter[str] = Counter({kind: 0 for kind in REMOVAL_KINDS})

    lines = []
    for raw in text.split("\n"):
        line = _INVISIBLE.sub("", raw)
        line, n = _PINYIN_GLOSS.subn("", line)
        removed["pinyin"] += n
        line = _SPACES.sub(" ", line).strip()
        if line:
            lines.append(line)

    lines = _remove_mojibake(lines, removed)
    simplified = _T2S.convert("\n".join(lines)).split("\n")
    if len(simplified) != len(lines):  # conversion keeps line breaks; never trust it blindly
        simplified = [_T2S.convert(line) for line in lines]

    kept: list[str] = []
    title = ""
    title_key = ""
    in_related_list = False
    for line, simple in zip(lines, simplified):
        if in_related_list:
            if _LIST_ITEM.match(simple) and len(simple) <= _MAX_RELATED_ITEM and "。" not in simple:
                removed["chrome"] += 1
                continue
            in_related_list = False

        if _is_spam(simple):
            removed["spam"] += 1
            continue
        if _is_contact_line(simple):
            removed["contact"] += 1
            continue
        if _RELATED_HEADER.match(simple):
            removed["chrome"] += 1
            in_related_list = True
            continue
        if any(pattern.search(simple) for pattern in _CHROME_LINES):
            removed["chrome"] += 1
            continue

        line = _redact_contacts(line, removed)
        line = _SPACE_AFTER_OPEN.sub("", _SPACE_BEFORE_PUNCT.sub("", line)).strip()
        if not line:
            continue
        key = _line_key(simple)
        if title and key == title_key:
            # Scraped pages repeat the headline (breadcrumb, sidebar, SEO block); the first one is the title.
            removed["chrome"] += 1
            continue
        if not title:
            title, title_key = line, key
        kept.append(line)

    return CleanedDocument(title=title, text="\n".join(kept), removed=removed)


# --------------------------------------------------------------------------- rules


def _line_key(simplified_line: str) -> str:
    return _LEFTOVER_NOISE.sub("", simplified_line).lower()


def _remove_mojibake(lines: list[str], removed: Counter[str]) -> list[str]:
    if not any("?" in line or "\ufffd" in line for line in lines):
        return lines
    char_counts = Counter("".join(lines))
    cleaned = []
    for line in lines:
        pieces = []
        position = 0
        for marker in _MOJIBAKE_MARKER.finditer(line):
            if marker.start() < position:
                continue
            pieces.append(line[position : marker.start()])
            end = marker.end()
            run = 0
            while (
                end < len(line)
                and run < _MOJIBAKE_MAX_RUN
                and _GARBAGE_CANDIDATE.match(line[end])
                and char_counts[line[end]] == 1
            ):
                end += 1
                run += 1
            removed["mojibake"] += 1
            position = end
        pieces.append(line[position:])
        cleaned.append("".join(pieces))
    return cleaned


def _is_spam(simplified_line: str) -> bool:
    hits = len(_SPAM_WORD.findall(simplified_line))
    if hits < _SPAM_MIN_HITS:
        return False
    fragments = [f for f in _SPAM_SPLIT.split(simplified_line) if f]
    if len(fragments) < _SPAM_MIN_FRAGMENTS or "。" in simplified_line:
        return False
    short = sum(len(f) <= _SPAM_MAX_FRAGMENT for f in fragments)
    return short >= 0.8 * len(fragments)


def _strip_contact_items(line: str) -> tuple[str, int]:
    count = 0
    for pattern in _CONTACT_ITEMS:
        line, n = pattern.subn("", line)
        count += n
    return line, count


def _is_contact_line(simplified_line: str) -> bool:
    """A takedown header, or a line that is nothing but contact items, labels and a name."""
    rest, items = _strip_contact_items(simplified_line)
    if _TAKEDOWN.search(simplified_line) and len(rest) <= 30:
        return True
    if not items:
        return False
    leftover = _LEFTOVER_NOISE.sub("", _CONTACT_LABELS.sub("", rest))
    return len(leftover) <= _MAX_CONTACT_LINE_LEFTOVER


def _redact_contacts(line: str, removed: Counter[str]) -> str:
    """Inside real prose only the contact item goes; the sentence stays."""
    line, count = _strip_contact_items(line)
    removed["contact"] += count
    return line

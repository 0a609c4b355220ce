"""Which language a question is in, and conversion between the Chinese scripts.

Detection is deliberately simple and fast (microseconds): a question with CJK characters is Chinese, and it is
Traditional when converting it to Simplified changes more characters than converting it to Traditional does.
"""
from __future__ import annotations

import re
import unicodedata

import opencc

from bot.types import Language

_T2S = opencc.OpenCC("t2s")
_S2T = opencc.OpenCC("s2t")
# Taiwan-standard Traditional for display: 線上, 資訊 are not converted (phrase-level conversion is too eager).
_S2TW = opencc.OpenCC("s2tw")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def to_simplified(text: str) -> str:
    return _T2S.convert(text)


_TW2SP = opencc.OpenCC("tw2sp")


def to_mainland(text: str) -> str:
    """Traditional text in Simplified script and mainland words (簡訊 -> 短信, 網路 -> 网络, 資訊 -> 信息): how a
    Traditional question is read for retrieval, since the statutes use the mainland words."""
    return _TW2SP.convert(text)


# OpenCC's phrase segmentation slips on a few sequences ("更加注重" is cut 更/加注/重 and gives 更加註重).
_S2TW_FIXES = (("註重", "注重"),)


def to_traditional(text: str) -> str:
    """Taiwan-standard Traditional. The text goes through Simplified first, so a Traditional or mixed-script
    source converts cleanly (a scraped 關系 becomes 關係, not 關繫)."""
    out = _S2TW.convert(_T2S.convert(text))
    for wrong, right in _S2TW_FIXES:
        out = out.replace(wrong, right)
    return out


def detect(text: str) -> Language:
    cjk = len(_CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    # A Chinese question may carry a Latin word or two (APP, QQ); an English one may quote a Chinese term.
    if cjk == 0 or (words >= 3 and 1.5 * words >= cjk):
        return "en"
    simplified = _T2S.convert(text)
    traditional = _S2T.convert(text)
    changed_to_s = sum(a != b for a, b in zip(text, simplified))
    changed_to_t = sum(a != b for a, b in zip(text, traditional))
    return "zh-Hant" if changed_to_s > changed_to_t else "zh-Hans"


def in_script(text: str, language: Language) -> str:
    """`text` (Chinese, either script) shown in the script of a question in `language`."""
    if language == "zh-Hans":
        return to_simplified(text)
    if language == "zh-Hant":
        return to_traditional(text)
    return text


def normalize_for_match(text: str) -> str:
    """Matching form: NFKC, no white space, Simplified (used by eval gold matching and de-duplication)."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "", text)
    return to_simplified(text)

"""English renderings of passages: read from sidecar files, stored with the index, looked up by sentence.

A rendering is an (unofficial) English translation of a passage, sentence by sentence, so an extractive answer
to an English question can show each quoted Chinese sentence in English. It is never made at question time.

Sidecar format: `NAME.en.jsonl` beside the document `NAME.md` / `NAME.txt` (ingest does not index it as a
document). The first line may be a header, then one JSON object per unit of the document:

    {"sidecar": "en", "translator": "...", "unofficial": true}
    {"article": "第一千零三十三条", "zh": "<the article's text>", "sentences": [{"zh": "...", "en": "..."}, ...]}
    {"paragraph": 12, "zh": "<the passage's text>", "sentences": [{"zh": "...", "en": "..."}, ...]}

A statute's units are its articles (by label, as written); another document's units are its passages, by
ordinal (the number after the colon in the passage id). `zh` is the source text the translation was made from:
when the document changes and the unit's text is no longer that text, the rendering is stale and is dropped
(ingest says how many). `sentences` are the unit's sentences as `bot.sentences.sentences` cuts them.
`scripts/rendering_skeleton.py` writes the records with empty `en` fields for a translator to fill.

In the index, renderings are keyed by the sha256 of the passage text they belong to, so a rendering can only
ever be shown beside the exact text it translates.
"""
from __future__ import annotations

import hashlib
import re
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.sentences import sentences
from bot.types import Passage

SIDECAR_SUFFIX = ".en.jsonl"
ALIGNMENT_VERSION = "2"  # bump when attach() changes: ingest then rebuilds the renderings (not the vectors)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIX)


def sidecar_path(document: Path) -> Path:
    return document.with_name(document.stem + SIDECAR_SUFFIX)


def text_sha(text: str) -> str:
    return hashlib.sha256(_normal(text).encode("utf-8")).hexdigest()


def _normal(text: str) -> str:
    return "".join(text.split())


@dataclass
class SidecarReport:
    applied: int = 0  # units whose rendering was attached
    stale: int = 0  # units whose source text changed since translation (dropped)
    unmatched: int = 0  # units naming an article or paragraph the document does not have
    problems: list[str] = field(default_factory=list)


def read_sidecar(path: Path) -> tuple[list[dict], list[str]]:
    """The unit records of a sidecar file and the problems found (a bad line is skipped, never fatal)."""
    records: list[dict] = []
    problems: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path.name}: cannot read ({type(exc).__name__})"]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"{path.name} line {number}: not JSON")
            continue
        if not isinstance(record, dict) or "sidecar" in record:
            continue  # the header
        pairs = record.get("sentences")
        if not isinstance(record.get("zh"), str) or not isinstance(pairs, list) or not (
                isinstance(record.get("article"), str) or isinstance(record.get("paragraph"), int)):
            problems.append(f"{path.name} line {number}: needs zh, sentences and article or paragraph")
            continue
        if not all(isinstance(p, dict) and isinstance(p.get("zh"), str) and isinstance(p.get("en"), str)
                   for p in pairs):
            problems.append(f"{path.name} line {number}: each sentence needs zh and en")
            continue
        records.append(record)
    return records, problems


def unit_key(passage: Passage) -> str:
    """Which sidecar unit a passage belongs to: its article label, or its ordinal in the document."""
    return passage.article if passage.kind == "article" else str(int(passage.id.rsplit(":", 1)[1]))


def _units(passages: Sequence[Passage]) -> dict[str, list[Passage]]:
    """One document's passages grouped by unit, in document order."""
    units: dict[str, list[Passage]] = {}
    for p in passages:
        units.setdefault(unit_key(p), []).append(p)
    return units


def unit_texts(passages: Sequence[Passage]) -> dict[str, str]:
    """The source text of each unit of one document (an article split in parts: the parts joined)."""
    return {k: "\n".join(p.text for p in v) for k, v in _units(passages).items()}


def attach(passages: Sequence[Passage], records: Iterable[dict]) -> tuple[dict[str, dict[str, str]], SidecarReport]:
    """Renderings of one document's passages from its sidecar records: {passage text sha: {zh sentence: en}}.

    Only sentences with a non-empty `en` count; a unit whose `zh` is not the document's current text is stale.
    """
    report = SidecarReport()
    by_unit = _units(passages)
    current = unit_texts(passages)
    out: dict[str, dict[str, str]] = {}
    for record in records:
        key = record["article"] if "article" in record else str(record["paragraph"])
        if key not in current:
            report.unmatched += 1
            continue
        if _normal(record["zh"]) != _normal(current[key]):
            report.stale += 1
            continue
        pairs = [(_normal(s["zh"]), s["en"].strip()) for s in record["sentences"]]
        if not any(en for _, en in pairs):
            continue
        report.applied += 1
        for p in by_unit[key]:
            found = {}
            for sentence in sentences(p.text):
                english = _english_of(_normal(sentence), pairs)
                if english:
                    found[_normal(sentence)] = english
            if found:
                out[text_sha(p.text)] = found
    return out, report


def _english_of(sentence: str, pairs: list[tuple[str, str]]) -> str | None:
    """The English of a (whitespace-free) sentence: one translated sentence, or a run of consecutive ones that
    together make it (a passage's sentence can span a line break, "…下列情形之一的：（一）…；"). None unless
    every sentence of the run has its English."""
    for start, (zh, _) in enumerate(pairs):
        if not sentence.startswith(zh):
            continue
        joined, english = "", []
        for zh_part, en_part in pairs[start:]:
            joined += zh_part
            english.append(en_part)
            if not sentence.startswith(joined):
                break
            if joined == sentence:
                return " ".join(english) if all(english) else None
    return None


def skeleton(passages: Sequence[Passage], units: set[str] | None = None) -> list[dict]:
    """Sidecar records with empty `en` for the given units (all when None), in document order."""
    texts = unit_texts(passages)
    records, seen = [], set()
    for p in passages:
        key = unit_key(p)
        if key in seen or (units is not None and key not in units):
            continue
        seen.add(key)
        pairs = [{"zh": s, "en": ""} for part in texts[key].split("\n") for s in sentences(part)]
        head = {"article": key} if p.kind == "article" else {"paragraph": int(key)}
        records.append({**head, "zh": texts[key], "sentences": pairs})
    return records


class Renderings:
    """The English renderings an index carries: {passage text sha: {sentence (whitespace-free): English}}."""

    def __init__(self, by_passage: dict[str, dict[str, str]] | None = None) -> None:
        self._by_passage = by_passage or {}

    def __len__(self) -> int:
        return len(self._by_passage)

    def english(self, passage_text: str, sentence: str) -> str | None:
        """The English of `sentence` as it stands in the passage `passage_text`; None when there is none."""
        found = self._by_passage.get(text_sha(passage_text))
        return found.get(_normal(sentence)) if found else None

    def text_of(self, passage_text: str) -> str:
        """The passage's English, its rendered sentences joined ("" when it has none)."""
        return " ".join((self._by_passage.get(text_sha(passage_text)) or {}).values())


# -- checking a rendering ------------------------------------------------------------------------------------
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = "零〇一二两三四五六七八九十百千万"
# A Chinese numeral counts as a quantity when a unit or an article reference frames it (一方 "one party" does not).
_CN_QUANTITY = re.compile(rf"第([{_CN_NUMBER}]+)[条款项编章节]|([{_CN_NUMBER}]+)(?:年|个月|月|日|天|倍|元|万元|周|小时|次)"
                          rf"|百分之([{_CN_NUMBER}]+)|[（(]([{_CN_NUMBER}]+)[)）]")
_ARABIC = re.compile(r"\d+(?:\.\d+)?")
_EN_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "once": 1,
             "twice": 2, "double": 2, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "half": 0.5, "quadruple": 4, "triple": 3}
# Named bodies a rendering must not lose: a Chinese name and a word its English must contain.
_BODIES = (("人民法院", "court"), ("人民检察院", "procurat"), ("公安机关", "public security"),
           ("国务院", "state council"), ("中国人民银行", "people's bank of china"), ("征信机构", "credit"),
           ("人民调解委员会", "mediation committee"), ("消费者协会", "consumer"), ("仲裁", "arbitra"))


def chinese_number(text: str) -> int | None:
    """二百九十三 -> 293, 十五 -> 15, 一千零三十三 -> 1033; None for what is not a plain numeral."""
    if not text or any(c not in _CN_DIGITS and c not in _CN_UNITS and c != "万" for c in text):
        return None
    total, section, digit = 0, 0, 0
    for char in text:
        if char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        elif char == "万":
            total += (section + digit) * 10000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _CN_UNITS[char]
            digit = 0
    return total + section + digit


def _numbers_zh(text: str) -> set[float]:
    found = {float(n) for n in _ARABIC.findall(text)}
    for match in _CN_QUANTITY.finditer(text):
        value = chinese_number(next(g for g in match.groups() if g))
        if value is not None:
            found.add(float(value))
    return found


def _numbers_en(text: str) -> set[float]:
    found = {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
    found |= {float(v) for w, v in _EN_WORDS.items() if re.search(rf"\b{w}\b", text, re.I)}
    return found


def rendering_problems(zh: str, en: str) -> list[str]:
    """Why `en` is not an acceptable rendering of `zh` (empty list: acceptable). Checks what a reader relies on:
    English text, every number and article/item reference, and the named bodies (courts, police, regulators)."""
    problems = []
    if not en.strip():
        return ["empty"]
    if len(re.findall(r"[\u3400-\u9fff]", en)) > 2:
        problems.append("contains Chinese")
    missing = sorted(n for n in _numbers_zh(zh) if n not in _numbers_en(en))
    if missing:
        problems.append("numbers missing: " + ", ".join(f"{n:g}" for n in missing))
    lost = [name for name, word in _BODIES if name in zh and word not in en.lower()]
    if lost:
        problems.append("named bodies missing: " + ", ".join(lost))
    return problems

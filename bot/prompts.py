"""User-facing strings and LLM prompt templates live in `prompts/`, not in code.

    prompts/strings.<lang>.toml   one table of short strings per language (lead lines, abstention, notice...)
    prompts/<name>.md             templates for LLM prompts, Python str.format fields

Operators can edit them (or point `prompts_dir` at their own copy) without touching code; a missing key is a
clear error at start-up. Every user-facing string of a running assistant comes from one `Strings` object built
from `settings.prompts_dir`, so an operator's copy is honoured everywhere (answers, abstentions, notices, UI).
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from bot.types import LANGUAGES, Language

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=None)
def _strings(prompts_dir: Path, language: Language) -> dict[str, str]:
    path = prompts_dir / f"strings.{language}.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


class Strings:
    """The user-facing strings of one prompts directory."""

    def __init__(self, prompts_dir: Path = PROMPTS_DIR) -> None:
        self.prompts_dir = Path(prompts_dir)

    def text(self, key: str, language: Language, **fields: object) -> str:
        """The string `key` in `language`, with `{fields}` filled in."""
        table = _strings(self.prompts_dir, language)
        if key not in table:
            raise KeyError(f"{self.prompts_dir}/strings.{language}.toml has no key {key!r}")
        return table[key].format(**fields) if fields else table[key]

    def template(self, name: str) -> str:
        """The LLM prompt template <prompts_dir>/<name>.md."""
        return template(name, self.prompts_dir)

    def check(self) -> None:
        check(self.prompts_dir)


def text(key: str, language: Language, prompts_dir: Path = PROMPTS_DIR, **fields: object) -> str:
    """The string `key` in `language` from `prompts_dir` (the shipped strings by default)."""
    return Strings(prompts_dir).text(key, language, **fields)


@lru_cache(maxsize=None)
def template(name: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    """The LLM prompt template prompts/<name>.md."""
    return (prompts_dir / f"{name}.md").read_text(encoding="utf-8")


def check(prompts_dir: Path = PROMPTS_DIR) -> None:
    """Every language defines the same keys (called by tests and at start-up)."""
    keys = {lang: set(_strings(prompts_dir, lang)) for lang in LANGUAGES}
    reference = keys["en"]
    for lang, k in keys.items():
        if k != reference:
            raise KeyError(f"prompts/strings.{lang}.toml keys differ from en: {sorted(k ^ reference)}")

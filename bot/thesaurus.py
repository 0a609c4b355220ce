"""Colloquial Chinese -> document vocabulary ("来我家" -> 上门, "坏处" -> 负面影响).

Borrowers ask in everyday words; the documents use formal ones, and neither BM25 nor a small embedding
model bridges that gap reliably. The table (bot/data/thesaurus_zh.tsv) is domain knowledge kept as data:
a trigger matched as a substring of the question (in Simplified script) adds its expansion words to the BM25 query,
keeping only words the corpus actually uses.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

THESAURUS_PATH = Path(__file__).resolve().parent / "data" / "thesaurus_zh.tsv"


class Thesaurus:
    def __init__(self, entries: Iterable[tuple[str, list[str]]], vocabulary: Iterable[str] | None = None) -> None:
        known = set(vocabulary) if vocabulary is not None else None
        # Longest triggers first, so "上门催收" is looked at before "上门".
        self.entries = sorted(
            ((trigger, [w for w in words if known is None or w in known]) for trigger, words in entries),
            key=lambda e: -len(e[0]),
        )

    @classmethod
    def load(cls, vocabulary: Iterable[str] | None = None, path: Path = THESAURUS_PATH) -> Thesaurus:
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            trigger, _, words = line.partition("\t")
            entries.append((trigger.strip(), words.split()))
        return cls(entries, vocabulary)

    def expand(self, simplified: str) -> list[str]:
        """Document words for the colloquial words of `simplified` (a question already in Simplified script)."""
        text = simplified
        out: list[str] = []
        for trigger, words in self.entries:
            if trigger in text:
                out.extend(w for w in words if w not in out)
        return out

    def triggers_in(self, simplified: str) -> list[str]:
        """The triggers that match `simplified` (a question in Simplified script): words the thesaurus can explain."""
        return [trigger for trigger, _ in self.entries if trigger in simplified]

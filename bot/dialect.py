"""Written Cantonese -> Standard written Chinese, so a Hong Kong question is read in the documents' words.

Hong Kong users type Cantonese (佢哋話要告我，會唔會坐監？). Standard-Chinese statutes share few of those words, the
embedding model reads them poorly, and the evidence gate counts 唔/咗/嘅 as words the documents never use. The
table `bot/data/cantonese_zh.tsv` (grammar words and Hong Kong borrowers' vocabulary) rewrites such a question
(in Simplified script) word for word, longest match first, before it is tokenised and embedded: 他们说要告我，会不会坐牢？
Nothing is rewritten unless the question contains a marker word of the table, so Mandarin text is left as is.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from bot.language import to_simplified

TABLE_PATH = Path(__file__).resolve().parent / "data" / "cantonese_zh.tsv"
DELETE = "-"


class Dialect:
    def __init__(self, entries: dict[str, str], markers: set[str]) -> None:
        self.entries = entries
        keys = sorted(entries, key=len, reverse=True)  # regex alternation takes the first that matches: longest
        self._words = re.compile("|".join(map(re.escape, keys))) if keys else None
        self._markers = re.compile("|".join(map(re.escape, sorted(markers, key=len, reverse=True)))) if markers else None

    @classmethod
    def load(cls, path: Path = TABLE_PATH) -> Dialect:
        entries: dict[str, str] = {}
        markers: set[str] = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            key, standard, *flags = line.split("\t")
            key = to_simplified(key.strip())
            entries[key] = "" if standard.strip() == DELETE else standard.strip()
            if "marker" in flags:
                markers.add(key)
        return cls(entries, markers)

    def is_cantonese(self, simplified: str) -> bool:
        return bool(self._markers and self._markers.search(simplified))

    def to_standard(self, simplified: str) -> str:
        """`simplified` (Chinese in Simplified script) in Standard-Chinese words; unchanged without a marker."""
        if self._words is None or not self.is_cantonese(simplified):
            return simplified
        return self._words.sub(lambda m: self.entries[m.group(0)], simplified)


NONE = Dialect({}, set())  # reads every question as typed (setting read_cantonese=false)


@lru_cache(maxsize=1)
def default() -> Dialect:
    return Dialect.load()

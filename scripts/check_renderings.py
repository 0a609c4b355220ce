"""Check sidecar renderings (bot/renderings.py): untranslated sentences and renderings that lose a number,
an article reference or a named body. Exit 1 when any problem is found.

    .venv/bin/python scripts/check_renderings.py docs/laws/刑法/刑法.en.jsonl [more files]
    .venv/bin/python scripts/check_renderings.py            # every sidecar under docs/
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.renderings import SIDECAR_SUFFIX, read_sidecar, rendering_problems  # noqa: E402


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or sorted((ROOT / "docs").rglob("*" + SIDECAR_SUFFIX))
    bad = total = 0
    for path in files:
        records, problems = read_sidecar(path)
        for problem in problems:
            print(problem)
            bad += 1
        for record in records:
            unit = record.get("article", record.get("paragraph"))
            for pair in record["sentences"]:
                total += 1
                for problem in rendering_problems(pair["zh"], pair["en"]):
                    bad += 1
                    print(f"{path.name} {unit}: {problem}: {pair['zh'][:40]}")
    print(f"{total} sentences, {bad} problems", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

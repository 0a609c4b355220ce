"""Print sidecar records (bot/renderings.py format) with empty English for a translator to fill.

    .venv/bin/python scripts/rendering_skeleton.py docs/laws/民法典/人格权编.md --articles 1032,1033,293-1
    .venv/bin/python scripts/rendering_skeleton.py docs/000_01385be25ace5660.txt          # every passage

Articles are given by number (293-1 is 第二百九十三条之一). With --fill FILE, records already translated in FILE
(an existing sidecar) are kept, so a sidecar can be extended without losing work.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.citation import article_label  # noqa: E402
from bot.ingest import doc_id_for, passages_of, source_for  # noqa: E402
from bot.readers import read_text  # noqa: E402
from bot.renderings import read_sidecar, skeleton  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("document", type=Path)
    parser.add_argument("--articles", default="", help="comma-separated article numbers, 293-1 for 之一")
    parser.add_argument("--fill", type=Path, help="an existing sidecar whose translated records are kept")
    args = parser.parse_args()
    root = ROOT / "docs"
    path = args.document.resolve()
    passages, title, _ = passages_of(doc_id_for(path, root), read_text(path), source_for(path, root))
    units = None
    if args.articles:
        units = set()
        for item in args.articles.split(","):
            number, _, suffix = item.strip().partition("-")
            units.add(article_label(int(number), int(suffix or 0)))
    done = {}
    if args.fill and args.fill.is_file():
        for record in read_sidecar(args.fill)[0]:
            done[record.get("article", record.get("paragraph"))] = record
    print(json.dumps({"sidecar": "en", "document": path.name, "title": title, "unofficial": True,
                      "translator": ""}, ensure_ascii=False))
    for record in skeleton(passages, units):
        key = record.get("article", record.get("paragraph"))
        print(json.dumps(done.get(key, record), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

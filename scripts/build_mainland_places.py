"""Write bot/data/mainland_places_en.txt: the English names CC-CEDICT glosses as places of mainland China.

    .venv/bin/python scripts/build_mainland_places.py

A name counts when its entry's first gloss starts with it and names one of the mainland's 31 provincial-level
divisions (the divisions themselves included): "Shenzhen subprovincial city in Guangdong", "Harbin, ... capital
of Heilongjiang province", "Dongguan prefecture-level city in Guangdong". Hong Kong, Macau, Taiwan and other
countries' places are not in it. The evidence gate reads the file (bot/evidence.py): a borrower's back story
naming the city they live in is context, not a question about another place's law. Derived from CC-CEDICT
(CC BY-SA 4.0, bot/data/README.md).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.crosslingual import cedict_entries  # noqa: E402

# The mainland's provincial-level divisions (provinces, autonomous regions, municipalities): a closed list.
PROVINCES = ("Anhui", "Beijing", "Chongqing", "Fujian", "Gansu", "Guangdong", "Guangxi", "Guizhou", "Hainan",
             "Hebei", "Heilongjiang", "Henan", "Hubei", "Hunan", "Inner Mongolia", "Jiangsu", "Jiangxi", "Jilin",
             "Liaoning", "Ningxia", "Qinghai", "Shaanxi", "Shandong", "Shanghai", "Shanxi", "Sichuan", "Tianjin",
             "Tibet", "Xinjiang", "Yunnan", "Zhejiang")
_PROVINCE = re.compile(r"\b(?:" + "|".join(PROVINCES) + r")\b")
# What the gloss says right after the name: an administrative place, not a river or a person.
_ADMINISTRATIVE = re.compile(r",? *(?:\(.*?\) *)?(?:sub-?provincial|prefecture|county|city|district|municipality|province|"
                             r"autonomous|capital|town|township|banner|league|special economic zone)")
_PINYIN = re.compile(r"\[[^\]]*\]")  # "潢川[Huang2 chuan1]": a reading, not a date
_LEADING_NAME = re.compile(r"^([A-Z][a-z]+(?:'[a-z]+)?)[ ,]")
OUT = ROOT / "bot" / "data" / "mainland_places_en.txt"


def mainland_places(cedict: Path | None = None) -> set[str]:
    names = {p for p in PROVINCES if " " not in p}
    for simplified, _, glosses in cedict_entries(cedict):
        if len(re.sub(r"[县市区]$", "", simplified)) < 2:
            continue  # "Wu county" (吴县): a one-syllable name is more often a surname than a place
        first = _PINYIN.sub("", glosses.split("/")[1])
        name = _LEADING_NAME.match(first)
        if not name or len(name.group(1)) < 4 or not _ADMINISTRATIVE.match(first, name.end()):
            continue  # rivers, mountains, dynasties, people, and English words ("Bay", "New")
        province = _PROVINCE.search(first, name.end())
        # A person ("Zhang Zuolin (1875-1928), warlord in Liaoning") is glossed with dates; a place elsewhere
        # that is compared with one of the mainland's is named before it ("... close to Hong Kong" comes after).
        if province and not re.search(r"\d|Taiwan|Hong Kong|Macau|Macao", first[:province.start()]):
            names.add(name.group(1))
    return names


def main() -> int:
    names = sorted(mainland_places(), key=str.lower)
    header = ("# English names that CC-CEDICT glosses as places of mainland China (scripts/build_mainland_places.py;\n"
              "# CC-CEDICT, CC BY-SA 4.0). One a line; the evidence gate does not count them as unmapped names.\n")
    OUT.write_text(header + "\n".join(names) + "\n", encoding="utf-8")
    print(f"{len(names)} names -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

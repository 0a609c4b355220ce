"""Offline English -> Chinese query expansion (bot/crosslingual.py), as a user of the module sees it.

The lexicon is built once per index from the corpus vocabulary (rjieba tokens of the t2s text), saved as JSON
with the index, and loaded into an EnglishExpander at query time.
"""
import json
import re
import time
from pathlib import Path

import pytest

from bot.crosslingual import EnglishExpander, build_lexicon, is_english, lemmatise, read_glossary, tokenise

ROOT = Path(__file__).resolve().parent.parent
PINYIN = re.compile(r"\([a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")


@pytest.fixture(scope="module")
def corpus_vocabulary() -> list[str]:
    """The token stream of the shipped documents, as the indexer produces it (bot.lexical.tokenize)."""
    from bot.lexical import tokenize

    text = "\n".join(PINYIN.sub("", p.read_text(encoding="utf-8")) for p in sorted((ROOT / "docs").glob("*.txt")))
    return tokenize(text)


@pytest.fixture(scope="module")
def lexicon(corpus_vocabulary) -> dict[str, list[str]]:
    return build_lexicon(corpus_vocabulary)


@pytest.fixture(scope="module")
def expander(lexicon) -> EnglishExpander:
    return EnglishExpander(lexicon)


# --- English handling

@pytest.mark.parametrize("word, lemma", [
    ("threats", "threat"), ("companies", "company"), ("processes", "process"), ("lenders", "lender"),
    ("harassed", "harass"), ("visited", "visit"), ("stopped", "stop"), ("applied", "apply"),
    ("making", "make"), ("running", "run"), ("owed", "owe"), ("paid", "pay"), ("sued", "sue"),
    ("collector's", "collector"), ("news", "news"), ("business", "business"), ("status", "status"),
])
def test_lemmatise_without_a_word_list(word, lemma):
    assert lemmatise(word) == lemma


def test_lemmatise_prefers_known_lemmas():
    # -e restoration is ambiguous by rule; a set of known lemmas settles it
    assert lemmatise("charging", {"charge"}) == "charge"
    assert lemmatise("visiting", {"visit"}) == "visit"
    assert lemmatise("postponed", {"postpone"}) == "postpone"


def test_tokenise_splits_hyphens_and_drops_possessives():
    assert tokenise("Door-to-door visits by the collector's team?") == \
        ["door", "to", "door", "visits", "by", "the", "collector", "team"]


def test_question_language():
    assert is_english("Can I postpone my repayments?")
    assert not is_english("催收员能不能来我家")
    assert not is_english("催收人員會怎樣聯繫我")
    assert not is_english("APP催收合法吗")  # a Latin acronym in a Chinese question


# --- Expansion

def test_phrases_are_matched_before_words(expander):
    assert "door door" in expander.units("Is a door-to-door visit legal?")
    assert expander.units("Who is on a debt collection team?")[0] == "debt collection"
    assert "personal information" in expander.units("Is my personal information safe?")
    assert "credit record" in expander.units("Will it hurt my credit record?")


def test_english_question_maps_to_corpus_words(expander):
    first, second = expander.expand("Are threats from a collector legal?")[:2]
    assert first == "威胁" and second.startswith("催收")  # 催收 or 催收人员, whichever the segmenter produced
    assert "上门" in expander.expand("Do they do door-to-door visits?")
    assert "延期" in expander.expand("Can I postpone my repayments?")
    assert "诉讼" in expander.expand("Could the company file a lawsuit against me?")


def test_expansion_is_ranked_deduplicated_and_capped(expander):
    words = expander.expand("Can collectors harass, threaten or sue borrowers, call my family, visit my home, "
                            "damage my credit record, charge interest, refuse instalments or record calls?")
    assert len(words) == len(set(words)) <= 24
    weights = [w for _, w in expander.expand_weighted("How is my privacy handled during collection?")]
    assert weights == sorted(weights, reverse=True) and weights[0] == 1.0


def test_chinese_questions_are_left_alone(expander):
    for q in ["催收员能不能来我家", "催收人員需要接受培訓嗎", "逾期後第一步會發生什麼"]:
        assert expander.expand(q) == []


def test_nothing_maps_gives_empty_list(expander):
    assert expander.expand("") == []
    assert expander.expand("What is it?") == []


# --- The lexicon

def test_lexicon_is_restricted_to_the_vocabulary():
    vocab = ["催收", "催收", "上门", "隐私", "诉讼", "的"]
    lexicon = build_lexicon(vocab)
    words = {w for k, ws in lexicon.items() if not k.startswith("_") for w in ws}
    assert words <= set(vocab)
    assert lexicon["privacy"][0] == "隐私"  # glossary and CC-CEDICT both say so
    assert EnglishExpander(lexicon).expand("Is a home visit a privacy problem?")[:2] == ["上门", "隐私"]


def test_glossary_words_missing_from_the_corpus_are_split_into_corpus_words(tmp_path):
    glossary = tmp_path / "glossary.tsv"
    glossary.write_text("doorstep collection\t上门催收\n", encoding="utf-8")
    lexicon = build_lexicon(["上门", "催收"], glossary_path=glossary)
    assert lexicon["doorstep collection"] == ["上门", "催收"]


def test_glossary_is_broad():
    rows = read_glossary()
    assert len(rows) >= 150
    assert all(re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9]+", w) for _, ws in rows for w in ws)


def test_lexicon_json_round_trip(lexicon, expander):
    loaded = json.loads(json.dumps(lexicon, ensure_ascii=False))
    assert loaded == lexicon
    q = "What products does BOC Consumer Finance offer?"
    assert EnglishExpander(loaded).expand(q) == expander.expand(q)
    assert len(json.dumps(lexicon, ensure_ascii=False).encode()) < 500_000  # small enough to ship


def test_building_and_loading_are_fast(corpus_vocabulary, lexicon):
    t0 = time.perf_counter()
    build_lexicon(corpus_vocabulary)
    assert time.perf_counter() - t0 < 5  # about 0.5 s here; CC-CEDICT is parsed once per process
    t0 = time.perf_counter()
    EnglishExpander(lexicon)
    assert time.perf_counter() - t0 < 0.05


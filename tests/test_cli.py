"""The command line composes in pipes and fails with a message, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.settings import ROOT


def bot(*args: str, index=None, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    if index is not None:
        environment["BOT_INDEX_DIR"] = str(index)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300
    )


def test_ask_json_prints_one_object_per_question_read_from_stdin(shipped_settings):
    result = bot("ask", "-", "--json", index=shipped_settings.index_dir,
                 stdin="催收可以威胁我吗\n\nCan they visit my home?\n還不起錢可以分期嗎\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["language"] for line in lines] == ["zh-Hans", "en", "zh-Hant"]
    for line in lines:
        assert set(line) >= {"question", "language", "answer", "abstained", "citations", "timings_ms"}
        for c in line["citations"]:
            assert set(c) >= {"n", "doc_id", "title", "section", "text", "quote", "score", "label", "version"}


def test_search_json_returns_k_results(shipped_settings):
    result = bot("search", "上门催收", "-k", "3", "--json", index=shipped_settings.index_dir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["question"] == "上门催收" and len(data["results"]) == 3
    assert set(data["results"][0]) == {"doc_id", "title", "section", "text", "score"}


def test_plain_ask_prints_the_answer_and_its_sources(shipped_settings):
    result = bot("ask", "Can collectors threaten me?", index=shipped_settings.index_dir)
    assert result.returncode == 0 and "[1]" in result.stdout and "not legal advice" in result.stdout


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_exits_2_with_a_message(shipped_settings, question):
    result = bot("ask", question, index=shipped_settings.index_dir)
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_index_says_how_to_build_it(tmp_path):
    result = bot("ask", "催收可以上门吗", index=tmp_path / "nothing")
    assert result.returncode == 1
    assert ".venv/bin/python -m bot ingest" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_k_is_refused(shipped_settings):
    result = bot("search", "催收", "-k", "0", index=shipped_settings.index_dir)
    assert result.returncode == 2 and "-k" in result.stderr


def test_ingest_of_a_path_that_does_not_exist_exits_2(tmp_path):
    result = bot("ingest", str(tmp_path / "missing"), index=tmp_path / "index")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_eval_prints_the_metrics(shipped_settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id":"a","lang":"zh-Hans","q":"催收员能不能来我家","gold":[["002","上門催收"]]}\n'
        '{"id":"b","lang":"en","q":"Who won the football world cup?","gold":[],"unanswerable":true}\n',
        encoding="utf-8",
    )
    # The baselines over the same five articles (not the default docs/, whose whole law pack takes minutes to embed).
    result = bot("eval", str(questions), "--json", index=shipped_settings.index_dir,
                 BOT_DOCS_DIR=str(shipped_settings.docs_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recall@5"] == 1.0 and report["abstained_on_unanswerable"] == 1 and report["false_abstentions"] == 0
    assert {"recall@1", "recall@3", "mrr", "recall@5_by_language", "latency_ms"} <= set(report)


def test_eval_of_a_malformed_file_is_a_clear_error(shipped_settings, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = bot("eval", str(bad), index=shipped_settings.index_dir)
    assert result.returncode == 1 and "bad.jsonl:1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("variable, value", [("BOT_TOP_K", "many"), ("BOT_PRESET", "nope")])
def test_a_bad_setting_is_named_in_a_one_line_error(shipped_settings, variable, value):
    result = bot("search", "催收", index=shipped_settings.index_dir, **{variable: value})
    assert result.returncode == 2 and "invalid setting" in result.stderr and "Traceback" not in result.stderr

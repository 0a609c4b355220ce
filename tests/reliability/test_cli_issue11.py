"""Issue 11, command-line rows: options after the subcommand, bad bytes in a batch, refusing to empty the
index, printable names, the rebuild hint.

Most tests call bot.cli.main() in-process with a stand-in assistant (no model); a few run the real command
on the session's index of the shipped documents (tests/conftest.py, built once for the whole run).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from bot import cli
from bot import index as index_store
from bot.serve.fake import FakeAssistant
from bot.settings import ROOT

HINT = ".venv/bin/python -m bot ingest"


def run_bot(*args, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess:
    """The real command, bytes in and out (argv items may be bytes too)."""
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=300)


@pytest.fixture
def fake_assistant(monkeypatch) -> FakeAssistant:
    assistant = FakeAssistant()
    monkeypatch.setattr(cli, "_load", lambda args: assistant)
    return assistant


def feed_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


# --------------------------------------------------------------------------- K4: global options in both places


@pytest.mark.parametrize("argv", [
    ["--index", "IDX", "--preset", "minilm", "ask", "q"],
    ["ask", "q", "--index", "IDX", "--preset", "minilm"],
    ["--preset", "minilm", "ask", "--index", "IDX", "q"],
    ["search", "q", "-k", "3", "--index", "IDX", "--preset", "minilm"],
    ["ingest", "--index", "IDX", "--preset", "minilm", "docs"],
    ["eval", "q.jsonl", "--index", "IDX", "--preset", "minilm"],
])
def test_index_and_preset_are_accepted_before_or_after_the_subcommand(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.index == "IDX" and args.preset == "minilm"


def test_without_global_options_the_settings_defaults_apply():
    args = cli.build_parser().parse_args(["ask", "q"])
    assert getattr(args, "index", None) is None and getattr(args, "preset", None) is None


def test_ask_with_index_after_the_question_works_end_to_end(shipped_settings):
    result = run_bot("ask", "催收可以上门吗", "--json", "--index", str(shipped_settings.index_dir))
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["citations"]


# --------------------------------------------------------------------------- C4: bytes that are not UTF-8


@pytest.mark.parametrize("command", ["ask", "search"])
def test_a_line_that_is_not_utf8_is_reported_and_the_rest_of_the_batch_is_answered(
        fake_assistant, monkeypatch, capsys, command):
    feed_stdin(monkeypatch, "催收可以上门吗\n".encode() + b"caf\xe9 latin-1\n" + b"Can they threaten me?\n")

    status = cli.main([command, "-", "--json"])

    out, err = capsys.readouterr()
    assert status == 2
    assert [json.loads(line)["question"] for line in out.splitlines()] == ["催收可以上门吗", "Can they threaten me?"]
    assert "line 2" in err and "UTF-8" in err and "Traceback" not in err


def test_a_question_argument_that_is_not_utf8_exits_2_with_a_message(fake_assistant, capsys):
    status = cli.main(["ask", "caf\udce9"])  # how Python passes the argv bytes b"caf\xe9"
    _, err = capsys.readouterr()
    assert status == 2 and "UTF-8" in err


def test_bad_bytes_on_the_real_command_line_and_stdin_never_give_a_traceback(shipped_settings):
    index = str(shipped_settings.index_dir)
    argv = run_bot("ask", b"\xff\xfe", "--index", index)
    assert argv.returncode == 2 and b"UTF-8" in argv.stderr and b"Traceback" not in argv.stderr

    batch = run_bot("ask", "-", "--json", "--index", index,
                    stdin="催收可以威胁我吗\n".encode() + b"\xff\xfe\n" + "還不起錢可以分期嗎\n".encode())
    assert batch.returncode == 2 and b"Traceback" not in batch.stderr
    assert len(batch.stdout.decode().splitlines()) == 2


# --------------------------------------------------------------------------- D2: refusing to empty the index


@pytest.mark.parametrize("docs", ["missing", "empty"])
def test_ingest_of_a_missing_or_empty_docs_folder_exits_2_and_leaves_the_index(shipped_settings, tmp_path, docs):
    index = tmp_path / "index"
    shutil.copytree(shipped_settings.index_dir, index)
    before = index_store.current_version(index)
    folder = tmp_path / "docs"
    if docs == "empty":
        folder.mkdir()

    result = run_bot("ingest", "--docs", str(folder), "--index", str(index))

    err = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and "--allow-empty" in err
    assert index_store.current_version(index) == before


def test_ingest_allow_empty_empties_the_index_on_purpose(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bot.ingest.build_lexicon", lambda vocabulary: {})
    (tmp_path / "docs").mkdir()

    status = cli.main(["ingest", "--docs", str(tmp_path / "docs"), "--index", str(tmp_path / "index"),
                       "--allow-empty"])

    assert status == 0 and index_store.load(tmp_path / "index").passages == []


# --------------------------------------------------------------------------- K1: names printed on one line


def test_ingest_prints_hostile_file_names_escaped(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bot.ingest.build_lexicon", lambda vocabulary: {})
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fine.txt").write_text("Title\n催收人员不得威胁借款人。\n", encoding="utf-8")
    (docs / "x\nwarning: forged.xlsx").write_bytes(b"PK")
    (docs / "\x1b[2Jclear.txt").write_text("Title\n借款人可以申请分期还款。\n", encoding="utf-8")

    status = cli.main(["ingest", "--docs", str(docs), "--index", str(tmp_path / "index")])

    out, err = capsys.readouterr()
    assert status == 0
    assert "\x1b" not in out + err
    assert not any(line.startswith("warning: forged") for line in err.splitlines())
    assert "\\u001b[2Jclear.txt" in out and "\\u000awarning: forged.xlsx" in err


# --------------------------------------------------------------------------- the rebuild hint


def test_the_rebuild_hint_is_the_command_that_works_from_the_readme(tmp_path, capsys):
    status = cli.main(["ask", "催收可以上门吗", "--index", str(tmp_path / "nothing")])
    _, err = capsys.readouterr()
    assert status == 1 and HINT in err

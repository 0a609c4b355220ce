"""Issue 11, serve side: starting the server wrong gives one line and exit status 2, never a traceback (C8),
the port is checked before the banner (run.sh), --workers keeps no assistant in the supervising process (W7),
and Gradio's temp folder goes away with the server (S1).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_DATA_DIR": str(tmp_path / "data"), "BOT_INDEX_DIR": str(tmp_path / "no-index"),
                "BOT_SETTINGS_FILE": str(tmp_path / "absent.toml"), "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_OFFLINE": "1"})
    env.update(extra)
    return env


def _run(args, env, timeout=60):
    return subprocess.run([PY, str(ROOT / "app.py"), *args], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=timeout)


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in err_lines if ln.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "Serving on" not in proc.stdout
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture()
def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


def test_non_json_allowed_origins_is_one_line(tmp_path):
    proc = _run(["--skip-ingest"], _env(tmp_path, BOT_ALLOWED_ORIGINS="https://a.example"))
    _assert_one_line_error(proc, "BOT_ALLOWED_ORIGINS")


def test_broken_settings_file_is_one_line(tmp_path):
    toml = tmp_path / "bot.toml"
    toml.write_text("port = [\n", encoding="utf-8")
    proc = _run(["--skip-ingest"], _env(tmp_path, BOT_SETTINGS_FILE=str(toml)))
    _assert_one_line_error(proc, "bot.toml", "TOML")


def test_invalid_setting_value_is_one_line(tmp_path):
    proc = _run(["--skip-ingest"], _env(tmp_path, BOT_PORT="not-a-number"))
    _assert_one_line_error(proc, "BOT_PORT")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_busy_port_is_one_line_naming_the_port_option_before_any_banner(tmp_path, busy_port, workers):
    t0 = time.monotonic()
    proc = _run(["--port", str(busy_port), "--workers", workers], _env(tmp_path))
    line = _assert_one_line_error(proc, str(busy_port), "--port", "BOT_PORT")
    assert "already in use" in line
    assert time.monotonic() - t0 < 30  # found before ingest or loading anything


@pytest.mark.slow
def test_run_sh_with_a_busy_port_fails_with_one_line_and_no_banner(tmp_path, busy_port):
    env = _env(tmp_path, BOT_PORT=str(busy_port))
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "run.sh")], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=300)
    _assert_one_line_error(proc, "--port", "BOT_PORT")


def test_missing_index_with_workers_is_one_line_with_the_readme_command(tmp_path):
    proc = _run(["--skip-ingest", "--workers", "2", "--port", "0"], _env(tmp_path), timeout=120)
    _assert_one_line_error(proc, ".venv/bin/python -m bot ingest")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


@pytest.mark.slow
def test_workers_parent_holds_no_assistant_and_temp_dir_is_removed(tmp_path, shipped_settings):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = _env(tmp_path, BOT_INDEX_DIR=str(shipped_settings.index_dir), BOT_DOCS_DIR=str(shipped_settings.docs_dir))
    proc = subprocess.Popen([PY, str(ROOT / "app.py"), "--workers", "2", "--skip-ingest", "--port", str(port)],
                            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        workers = _children(proc.pid)  # the worker processes (and multiprocessing's resource tracker)
        assert len(workers) >= 2
        worker_rss = max(_rss_kb(c) for c in workers)
        parent_rss = _rss_kb(proc.pid)
        print(f"RSS: supervising process {parent_rss} kB, largest worker {worker_rss} kB")
        assert parent_rss < 150_000, f"parent RSS {parent_rss} kB"
        assert parent_rss < worker_rss / 2, (parent_rss, worker_rss)
        temp_dirs = {line.split("=", 1)[1] for c in workers
                     for line in Path(f"/proc/{c}/environ").read_bytes().decode(errors="replace").split("\0")
                     if line.startswith("GRADIO_TEMP_DIR=")}
        assert len(temp_dirs) == 1 and all(Path(d).is_dir() for d in temp_dirs)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not any(Path(d).exists() for d in temp_dirs), "Gradio's temp folder outlived the server"


@pytest.mark.slow
def test_the_app_serves_the_previous_index_while_a_start_up_ingest_runs(tmp_path):
    """W3: a large new document means a long ingest; the server answers from the index it has meanwhile, then
    switches to the new one without a restart."""
    from bot.ingest import ingest
    from bot.settings import Settings

    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "a.txt").write_text("Collectors\nDebt collectors must not threaten borrowers.\n", encoding="utf-8")
    ingest(Settings(preset="minilm", docs_dir=docs, index_dir=index, data_dir=tmp_path / "data"))
    # A new document of a few thousand paragraphs: seconds to embed with the small model.
    (docs / "big.txt").write_text("Big\n" + "\n".join(f"Paragraph {i} says borrowers may ask for an instalment plan "
                                                      f"number {i}." for i in range(3000)), encoding="utf-8")
    port = _free_port()
    env = _env(tmp_path, BOT_PRESET="minilm", BOT_DOCS_DIR=str(docs), BOT_INDEX_DIR=str(index))
    proc = subprocess.Popen([PY, str(ROOT / "app.py"), "--port", str(port)], cwd=str(ROOT), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (seen and seen[-1]["passages"] > 1):
            assert proc.poll() is None
            try:
                seen.append(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json())
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert seen[0]["passages"] == 1 and seen[0]["ingest_running"] is True  # served the old index at once
        assert seen[-1]["passages"] > 3000 and seen[-1]["ingest_running"] is False  # then the new one
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

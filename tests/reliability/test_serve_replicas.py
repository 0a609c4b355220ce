"""Issue 9: replicas that share one index.

Several serving processes (`app.py --workers N`, or several hosts behind a load balancer) serve one index folder.
When an ingest switches index/CURRENT, each process loads the new version in the background and switches to it
within settings.index_poll_seconds (bot/serve/live.py): no restart, no failed request, and no answer that mixes
two versions. Each answer says which version answered it (header X-Index-Version), and /healthz names the
version the process serves (`index_version`).

The first tests drive LiveAssistant in-process over tiny indexes (fake embeddings, fast). The slow ones start the
real server, with one worker and with two, over the five shipped articles, and run an ingest that adds a
document and removes another while a client keeps asking.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bot import index as index_store
from bot.core import Assistant
from bot.ingest import ingest
from bot.serve import create_app
from bot.serve.common import pinned
from bot.serve.live import LiveAssistant
from bot.settings import ROOT, Settings

PY = sys.executable


# --------------------------------------------------------------------------- in-process: LiveAssistant


@pytest.fixture
def settings(tmp_path, no_lexicon) -> Settings:
    docs = tmp_path / "docs"
    docs.mkdir()
    return Settings(docs_dir=docs, index_dir=tmp_path / "index", data_dir=tmp_path / "data",
                    index_poll_seconds=0.1, rate_limit_per_minute=0)


def new_version(settings: Settings, fake, sentence: str) -> str:
    """Ingest a one-document corpus saying `sentence`; the name of the version CURRENT now names."""
    (settings.docs_dir / "a.txt").write_text(f"Rules\n{sentence}\n", encoding="utf-8")
    ingest(settings, embeddings=fake)
    return index_store.current_version(settings.index_dir).name


def texts(hits) -> list[str]:
    return [h.passage.text for h in hits]


def test_a_request_keeps_the_version_it_started_with_after_the_switch_and_the_folder_deletion(settings, fake):
    v1 = new_version(settings, fake, "Collectors must not call borrowers at night.")
    live = LiveAssistant(Assistant.load(settings, embeddings=fake), settings, start=False)
    assert live.index_version == v1
    request = pinned(live)  # what a request takes at its start
    stream = request.stream("Can collectors call at night?")
    next(stream)  # a streamed answer is under way on v1

    new_version(settings, fake, "The zorblax clause lets borrowers pause repayments.")
    v3 = new_version(settings, fake, "The zorblax clause lasts ninety days.")
    assert not (settings.index_dir / v1).exists()  # ingest deleted v1: the request has all it needs in memory
    assert live.check() and live.index_version == v3

    rest = list(stream)
    assert rest[-1].kind == "done"
    assert request.index_version == v1
    assert texts(request.search("call at night")) == ["Collectors must not call borrowers at night."]
    assert texts(pinned(live).search("zorblax")) == ["The zorblax clause lasts ninety days."]
    assert not live.check()  # CURRENT unchanged: nothing to do


def test_a_version_that_fails_to_load_is_logged_and_the_old_one_keeps_serving(settings, fake, caplog):
    v1 = new_version(settings, fake, "Collectors must not call borrowers at night.")
    live = LiveAssistant(Assistant.load(settings, embeddings=fake), settings, start=False)

    v2 = new_version(settings, fake, "Collectors must write before they visit a borrower at home.")
    with (settings.index_dir / v2 / "passages.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")  # no longer matches its checksum
    with caplog.at_level(logging.ERROR, logger="bot.serve.live"):
        assert not live.check()
        assert not live.check()  # tried once per change of CURRENT, not at every poll
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and v2 in errors[0] and v1 in errors[0], errors
    assert live.index_version == v1 and live.health()["index_version"] == v1
    assert texts(pinned(live).search("night")) == ["Collectors must not call borrowers at night."]

    # Half-written: CURRENT names a folder without its files (a copy still arriving on a shared disk).
    half = "v20000101T000000-abcdef"
    (settings.index_dir / half).mkdir()
    (settings.index_dir / ".CURRENT.tmp").write_text(half + "\n", encoding="utf-8")
    os.replace(settings.index_dir / ".CURRENT.tmp", settings.index_dir / index_store.CURRENT)
    assert not live.check() and live.index_version == v1

    v3 = new_version(settings, fake, "The zorblax clause lets borrowers pause repayments.")  # the next change
    assert live.check() and live.index_version == v3
    assert texts(pinned(live).search("zorblax")) == ["The zorblax clause lets borrowers pause repayments."]


def test_the_watcher_switches_within_the_poll_interval(settings, fake):
    new_version(settings, fake, "Collectors must not call borrowers at night.")
    live = LiveAssistant(Assistant.load(settings, embeddings=fake), settings)  # polls every 0.1 s
    try:
        v2 = new_version(settings, fake, "The zorblax clause lets borrowers pause repayments.")
        switched = time.monotonic()
        while live.index_version != v2 and time.monotonic() - switched < 10:
            time.sleep(0.02)
        assert live.index_version == v2 and time.monotonic() - switched < 2
    finally:
        live.stop()


def test_healthz_and_every_answer_name_the_version_that_answered(settings, fake):
    v1 = new_version(settings, fake, "Collectors must not call borrowers at night.")
    live = LiveAssistant(Assistant.load(settings, embeddings=fake), settings, start=False)
    client = TestClient(create_app(live, settings, with_ui=False))
    health = client.get("/healthz").json()
    assert health["index_version"] == v1 and health["ingest_running"] is False and health["passages"] == 1
    assert client.get("/api/search", params={"q": "night"}).headers["x-index-version"] == v1
    assert client.post("/api/ask", json={"question": "night calls?"}).headers["x-index-version"] == v1
    with client.stream("POST", "/api/ask/stream", json={"question": "night calls?"}) as r:
        assert r.headers["x-index-version"] == v1

    v2 = new_version(settings, fake, "The zorblax clause lets borrowers pause repayments.")
    live.check()
    assert client.get("/healthz").json()["index_version"] == v2
    r = client.get("/api/search", params={"q": "zorblax"})
    assert r.headers["x-index-version"] == v2 and r.json()["results"][0]["text"].startswith("The zorblax")


# --------------------------------------------------------------------------- the real server, 1 and 2 workers

QUESTION_OLD = "催收可以上门吗"  # its best passage's document is removed by the ingest under test
QUESTION_NEW = "紫藤调解是什么"  # answered only by the document the ingest adds
NEW_DOC = "900_replica_probe"
NEW_TEXT = "紫藤调解须知\n\n紫藤调解是借款人与催收机构之间的一种免费调解程序，借款人可以在收到催收通知后三十日内申请紫藤调解。\n"
SWITCH_WITHIN_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    kind: str  # ask_old, search_new, ask_new, stream_new, healthz
    started: float
    ended: float
    status: int | None = None  # None: no HTTP answer at all (connection refused, reset, timeout)
    version: str = ""
    cited: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, text) of every citation / result
    error: str = ""


class Client:
    """Sends one request after another, each on a new connection (so every worker gets some), until stopped."""

    def __init__(self, url: str, kinds: list[str], pause: float = 0.0) -> None:
        self.url, self.kinds, self.pause = url, kinds, pause
        self.replies: list[Reply] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Client:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, headers={"Connection": "close"},
                          limits=httpx.Limits(max_keepalive_connections=0)) as http:
            while not self._stop.is_set():
                for kind in self.kinds:
                    self.replies.append(self._one(http, kind))
                    time.sleep(self.pause)

    @staticmethod
    def _one(http: httpx.Client, kind: str) -> Reply:
        reply = Reply(kind, time.monotonic(), 0.0)
        try:
            if kind == "healthz":
                r = http.get("/healthz")
                reply.version = r.json().get("index_version", "") if r.status_code == 200 else ""
            elif kind == "search_new":
                r = http.get("/api/search", params={"q": QUESTION_NEW, "k": 5})
                if r.status_code == 200:
                    reply.cited = [(x["doc_id"], x["text"]) for x in r.json()["results"]]
            elif kind in ("ask_old", "ask_new"):
                r = http.post("/api/ask", json={"question": QUESTION_OLD if kind == "ask_old" else QUESTION_NEW})
                if r.status_code == 200:
                    reply.cited = [(c["doc_id"], c["text"]) for c in r.json()["citations"]]
            else:  # stream_new: the whole stream, then the citations of its done event
                with http.stream("POST", "/api/ask/stream", json={"question": QUESTION_NEW}) as r:
                    body = r.read().decode("utf-8")
                events = re.findall(r"event: (\w+)\ndata: (.*)\n", body)
                if r.status_code == 200:
                    done = [json.loads(data) for name, data in events if name == "done"]
                    if len(done) != 1:
                        reply.error = f"stream without one done event: {[n for n, _ in events]}"
                    else:
                        reply.cited = [(c["doc_id"], c["text"]) for c in done[0]["citations"]]
            reply.status = r.status_code
            reply.version = reply.version or r.headers.get("x-index-version", "")
        except httpx.HTTPError as exc:
            reply.error = f"{type(exc).__name__}: {exc}"
        reply.ended = time.monotonic()
        return reply


def _watch_current(index_dir: Path, first: str, stop: threading.Event, seen: dict) -> None:
    """Records when CURRENT stops naming `first` (the moment the ingest switches)."""
    while not stop.is_set():
        try:
            name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            name = first
        if name != first:
            seen["at"], seen["name"] = time.monotonic(), name
            return
        time.sleep(0.01)


def _passages(index_dir: Path, version: str) -> set[tuple[str, str]]:
    rows = (index_dir / version / "passages.jsonl").read_text(encoding="utf-8").split("\n")
    return {(row["doc_id"], row["text"]) for row in map(json.loads, filter(str.strip, rows))}


def _switch_lines(log: Path, version: str) -> set[int]:
    """The processes that logged serving `version` (at start or after a switch)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return {int(pid) for pid in re.findall(rf"serving index version {version} \(process (\d+)", text)}


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def served(tmp_path, shipped_settings):
    """start(workers) -> (url, docs, index, log, process): app.py over a private copy of the five-article index."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(shipped_settings.docs_dir, docs)
    shutil.copytree(shipped_settings.index_dir, index)
    procs = []

    def start(workers: int):
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update({"BOT_DOCS_DIR": str(docs), "BOT_INDEX_DIR": str(index), "BOT_DATA_DIR": str(tmp_path / "data"),
                    "BOT_SETTINGS_FILE": str(tmp_path / "absent.toml"), "BOT_RATE_LIMIT_PER_MINUTE": "0",
                    "BOT_INDEX_POLL_SECONDS": "2", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})
        log = tmp_path / "server.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen([PY, str(ROOT / "app.py"), "--skip-ingest", "--workers", str(workers),
                                     "--port", str(port)], cwd=str(ROOT), env=env, stdout=fh,
                                    stderr=subprocess.STDOUT)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while not _up(url) or len(_switch_lines(log, index_store.current_version(index).name)) < workers:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)
        return url, docs, index, log, proc

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _ingest(docs: Path, index: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    subprocess.run([PY, "-m", "bot", "ingest", "--docs", str(docs), "--index", str(index)], cwd=str(ROOT), env=env,
                   check=True, capture_output=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_every_replica_serves_the_new_version_within_10_s_of_an_ingest_without_a_failed_request(served, workers):
    url, docs, index, log, proc = served(workers)
    v1 = index_store.current_version(index).name
    assert httpx.get(url + "/healthz").json()["index_version"] == v1
    # The ingest under test removes the document that answers QUESTION_OLD and adds one that answers QUESTION_NEW,
    # so an answer mixing versions shows: v1 never has NEW_DOC, v2 never has the removed document.
    removed = httpx.get(url + "/api/search", params={"q": QUESTION_OLD}).json()["results"][0]["doc_id"]
    (docs / f"{removed}.txt").unlink()
    (docs / f"{NEW_DOC}.txt").write_text(NEW_TEXT, encoding="utf-8")

    stop, seen = threading.Event(), {}
    watcher = threading.Thread(target=_watch_current, args=(index, v1, stop, seen), daemon=True)
    watcher.start()
    with Client(url, ["ask_old", "search_new", "ask_new", "stream_new", "healthz"]) as asker, \
            Client(url, ["healthz"], pause=0.02) as prober:
        time.sleep(2)  # answers from v1 first
        _ingest(docs, index)
        watcher.join(timeout=10)
        assert "at" in seen, "the ingest did not switch CURRENT"
        while time.monotonic() < seen["at"] + SWITCH_WITHIN_S + 4:  # past the deadline, then a little more
            time.sleep(0.2)
    stop.set()
    v2, switched = seen["name"], seen["at"]
    replies = asker.replies + prober.replies

    # Every request succeeded, and said which version answered it.
    failed = [r for r in replies if r.status != 200 or r.error]
    assert not failed, failed[:5]
    assert {r.version for r in replies} == {v1, v2}

    # Within 10 s of the switch every process answers from the new version (healthz from both workers too).
    late = [r for r in replies if r.started >= switched + SWITCH_WITHIN_S]
    assert late and all(r.version == v2 for r in late), [(r.kind, r.version) for r in late if r.version != v2][:5]
    assert sum(r.kind == "healthz" for r in late) >= 20
    assert len(_switch_lines(log, v2)) == workers  # each worker process switched (its log says so)
    last_old = max(r.started for r in replies if r.version == v1) - switched
    first_new = min(r.ended for r in replies if r.version == v2) - switched
    print(f"\n{workers} worker(s): CURRENT switched; first answer from the new version after {first_new:.2f} s, "
          f"last request answered by the old one started {last_old:.2f} s after the switch "
          f"({len(replies)} requests, none failed)")
    assert last_old < SWITCH_WITHIN_S

    # Each answer is consistent: everything it cites is in the version it names.
    passages = {v1: _passages(index, v1), v2: _passages(index, v2)}
    mixed = [r for r in replies if not set(r.cited) <= passages[r.version]]
    assert not mixed, [(r.kind, r.version, r.cited[:2]) for r in mixed[:3]]
    # ...and that check had teeth: answers from v1 cited the document v2 removed, answers from v2 the new one.
    assert any(r.version == v1 and any(d == removed for d, _ in r.cited) for r in replies)
    assert any(r.version == v2 and any(d == NEW_DOC for d, _ in r.cited) for r in replies)
    # Answers after the switch find the new content.
    for r in late:
        if r.kind in ("search_new", "ask_new", "stream_new"):
            assert r.cited and r.cited[0][0] == NEW_DOC, (r.kind, r.cited[:1])
        if r.kind == "ask_old":
            assert all(d != removed for d, _ in r.cited)

    if workers == 2:  # a respawned worker starts on the version its sibling serves
        victim = sorted(_switch_lines(log, v2))[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 180
        while len(_switch_lines(log, v2) - {victim}) < 2:  # the sibling, and the new worker at its start
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        with httpx.Client(headers={"Connection": "close"}, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            versions = {http.get(url + "/healthz").json()["index_version"] for _ in range(30)}
        assert versions == {v2}

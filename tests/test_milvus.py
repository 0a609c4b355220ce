"""Milvus as the vector store (BOT_VECTOR_STORE=milvus, bot/milvus_store.py), against real Milvus Lite.

- embedded Milvus Lite (BOT_MILVUS_URI=PATH.db, in this process) proposes the same dense candidates as FAISS, and
  its BM25 is asked with the question's expanded BM25 terms (Query.terms), never the raw question;
- ingest keeps the collection in line with the index by content hash: only changed passages are written;
- a `milvus-lite server` process (the gRPC client–server path a Milvus cluster uses) serves the same results;
  when it stops, /api/ask answers 503 within the timeout, and loading says which URI cannot be reached;
- nothing listening at the URI: a one-line error naming it, from the API of the library and from the CLI.

The index is the session's fixture index of the five shipped articles (tests/conftest.py), built with FAISS.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.core import Assistant
from bot.errors import SettingsError, VectorStoreUnavailable
from bot.settings import ROOT, Settings

QUESTIONS = ["催收可以上门吗", "催收人員可以威脅我嗎", "Can debt collectors call my family?", "还不起钱可以分期吗"]


def milvus_settings(base: Settings, uri: str, **extra) -> Settings:
    return base.model_copy(update={"vector_store": "milvus", "milvus_uri": uri, **extra})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lite(shipped_settings, tmp_path_factory) -> Assistant:
    """The assistant over the fixture index, with candidates from an embedded Milvus Lite file (synced at load)."""
    uri = str(tmp_path_factory.mktemp("milvus") / "passages.db")
    return Assistant.load(milvus_settings(shipped_settings, uri))


# --- the same retrieval contract as FAISS -------------------------------------------------------------------
def test_dense_candidates_are_exactly_faiss_ones(lite, assistant):
    """FLAT inner-product search in Milvus = FAISS's IndexFlatIP: the same rows for the same query vectors."""
    faiss_store, milvus_store = assistant.retriever.store, lite.retriever.store
    for question in QUESTIONS:
        vectors = np.vstack([assistant.embeddings.embed_query_array(question)])
        faiss_rows, _ = faiss_store.propose(vectors, [], 10, 10)
        milvus_rows, _ = milvus_store.propose(vectors, [], 10, 10)
        assert milvus_rows == faiss_rows, question


def test_bm25_gets_the_expanded_terms_not_the_question(lite):
    """An English question reaches Chinese passages through its BM25 terms (bot.crosslingual): Milvus's BM25
    must receive those words, space-separated, and the dense search the question's vector."""
    store = lite.retriever.store
    sent: list[tuple[str, list]] = []
    search = store.client.search

    def spy(*args, **kwargs):
        sent.append((kwargs["anns_field"], kwargs["data"]))
        return search(*args, **kwargs)

    store.client.search = spy
    try:
        query = lite.query("Can debt collectors visit my home?")
        hits = lite.retriever.retrieve(query, 5)
    finally:
        store.client.search = search
    assert query.terms and all(not t.isascii() for t in query.terms[:3])  # Chinese corpus words
    assert ("sparse", [" ".join(query.terms)]) in sent
    dense = [data for field, data in sent if field == "vector"]
    assert len(dense) == 1 and len(dense[0][0]) == lite.embeddings.dimension
    assert any(h.lexical_score for h in hits)  # BM25 found Chinese passages from an English question


def test_answers_match_faiss(lite, assistant):
    """Dense candidates are identical; BM25 is Milvus's (jieba over the same words), so scores differ a little
    and rankings agree at the top."""
    for question in QUESTIONS:
        ours = [h.passage.id for h in lite.search(question, 5)]
        theirs = [h.passage.id for h in assistant.search(question, 5)]
        assert ours[0] == theirs[0], question
        assert len(set(ours) & set(theirs)) >= 3, question
    answer = lite.ask("催收可以上门吗")
    assert not answer.abstained and answer.citations


# --- ingest keeps the collection in line, by content hash ----------------------------------------------------
NEW_PARAGRAPH = "催收人员不得在夜间上门骚扰借款人的家人。"


@pytest.fixture()
def synced(shipped_settings, docs_copy, tmp_path):
    """(settings, the document to change, the keys in Milvus): a copy of the fixture index whose first load
    filled an empty Milvus Lite collection."""
    index_dir = tmp_path / "index"
    shutil.copytree(shipped_settings.index_dir, index_dir)
    settings = milvus_settings(shipped_settings, str(tmp_path / "m.db"), docs_dir=docs_copy, index_dir=index_dir)
    keys = set(Assistant.load(settings).retriever.store.key_of)
    document = sorted(docs_copy.glob("*.txt"))[0]
    document.write_text(document.read_text(encoding="utf-8") + "\n\n" + NEW_PARAGRAPH + "\n", encoding="utf-8")
    return settings, document, keys


def test_ingest_writes_only_the_changed_passages(synced, monkeypatch):
    """On a Milvus server: ingest upserts only passages whose text or metadata changed (with the vectors ingest
    already has: nothing is embedded for Milvus) and deletes the gone ones; every other entity stays as it is,
    even the unchanged passages of the changed document."""
    import pymilvus

    from bot import milvus_store
    from bot.ingest import ingest

    settings, document, old_keys = synced
    monkeypatch.setattr(milvus_store, "_is_lite", lambda client, timeout: False)  # as a Milvus server
    written: list[dict] = []
    deleted: list[str] = []
    upsert, delete = pymilvus.MilvusClient.upsert, pymilvus.MilvusClient.delete
    monkeypatch.setattr(pymilvus.MilvusClient, "upsert",
                        lambda self, name, rows, **kw: (written.extend(rows), upsert(self, name, rows, **kw))[1])
    monkeypatch.setattr(pymilvus.MilvusClient, "delete",
                        lambda self, name, ids=None, **kw: (deleted.extend(ids), delete(self, name, ids=ids, **kw))[1])

    assert not ingest(settings).warnings
    assert [(row["doc_id"], row["text"]) for row in written] == [(document.stem, NEW_PARAGRAPH)]
    assert deleted == []  # a paragraph was appended: every old passage is still there, unchanged
    new_keys = set(Assistant.load(settings).retriever.store.key_of)
    assert new_keys - old_keys == {written[0]["key"]} and old_keys <= new_keys

    document.write_text(document.read_text(encoding="utf-8").replace(NEW_PARAGRAPH, ""), encoding="utf-8")
    written.clear()
    assert not ingest(settings).warnings
    assert written == [] and deleted == [*(new_keys - old_keys)]  # the paragraph removed again: its entity goes
    client, _ = milvus_store.connect(settings)
    assert milvus_store._present_keys(client, settings.milvus_collection, 5.0) == old_keys


def test_lite_bm25_stays_collection_wide_after_a_change(synced, assistant):
    """Milvus Lite scores BM25 per segment, so there a sync rewrites every passage into one segment: a passage
    added by a later ingest is found as FAISS finds it (written alone, in a segment of its own, it was not)."""
    from bot.ingest import ingest

    settings, _, _ = synced
    assert not ingest(settings).warnings
    question = "催收人员可以在夜间上门骚扰借款人的家人吗"
    lite_hits = Assistant.load(settings).search(question, 3)
    faiss_hits = Assistant.load(settings.model_copy(update={"vector_store": "faiss"})).search(question, 3)
    assert lite_hits[0].passage.text == faiss_hits[0].passage.text == NEW_PARAGRAPH


# --- a Milvus server process: the client–server path --------------------------------------------------------
@pytest.fixture()
def milvus_server(tmp_path):
    """`milvus-lite server` on a free local port; yields (uri, data dir, process), stopped afterwards."""
    port = free_port()
    data_dir = tmp_path / "server.db"
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, "milvus-lite server exited"
        time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", data_dir, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_server_serves_then_503_when_it_stops(shipped_settings, assistant, milvus_server, tmp_path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from fastapi.testclient import TestClient

    from bot.serve import create_app

    uri, data_dir, proc = milvus_server
    settings = milvus_settings(shipped_settings, uri, milvus_timeout_s=2.0, data_dir=tmp_path / "data")
    served = Assistant.load(settings)
    for question in QUESTIONS[:2]:
        assert served.search(question, 1)[0].passage.id == assistant.search(question, 1)[0].passage.id

    # Milvus Lite allows one process per data folder: the server holds this one.
    with pytest.raises(VectorStoreUnavailable, match="open in another process"):
        Assistant.load(milvus_settings(shipped_settings, str(data_dir)))

    client = TestClient(create_app(served, settings, with_ui=False), raise_server_exceptions=False)
    assert client.post("/api/ask", json={"question": "催收可以上门吗"}).status_code == 200
    proc.terminate()
    proc.wait(10)
    started = time.monotonic()
    r = client.post("/api/ask", json={"question": "催收可以威胁我吗"})
    assert r.status_code == 503 and "Milvus" in r.json()["error"]
    assert "127.0.0.1" not in r.json()["error"]  # clients are not told where the store lives
    assert time.monotonic() - started < 15  # the timeout, not a hang
    assert client.post("/api/ask/stream", json={"question": "催收可以威胁我吗"}).status_code == 503
    with pytest.raises(VectorStoreUnavailable, match="127.0.0.1"):
        Assistant.load(settings)


# --- unreachable or misconfigured ---------------------------------------------------------------------------
def test_nothing_listening_is_a_clear_error_at_load(shipped_settings):
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(VectorStoreUnavailable, match=f"Milvus at {uri} cannot be reached"):
        Assistant.load(milvus_settings(shipped_settings, uri, milvus_timeout_s=2.0))
    assert time.monotonic() - started < 15


def test_cli_says_one_line_and_exits_non_zero(shipped_settings):
    uri = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "BOT_VECTOR_STORE": "milvus", "BOT_MILVUS_URI": uri, "BOT_MILVUS_TIMEOUT_S": "2"}
    proc = subprocess.run([sys.executable, "-m", "bot", "--index", str(shipped_settings.index_dir), "search",
                           "催收可以上门吗"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Milvus at " + uri), proc.stderr


@pytest.mark.parametrize("uri, message", [("", "needs BOT_MILVUS_URI"), ("/tmp/milvus.sqlite", "must end in .db"),
                                          ("ftp://host:19530", "neither")])
def test_unusable_uri_is_a_settings_error(shipped_settings, uri, message):
    with pytest.raises(SettingsError, match=message):
        Assistant.load(milvus_settings(shipped_settings, uri))


def test_faiss_is_the_default_and_needs_no_milvus(assistant):
    from bot.vectorstore import FaissStore

    assert Settings().vector_store == "faiss"
    assert isinstance(assistant.retriever.store, FaissStore)

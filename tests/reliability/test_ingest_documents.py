"""Issue 11, ingest rows about documents: what gets indexed, under which id, and when ingest refuses.

Tiny fixture documents and a fake embedding backend (hash of the text -> a vector): fast, deterministic,
no model. The cross-lingual lexicon is stubbed out (it parses CC-CEDICT, seconds, and is not under test).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bot import index as index_store
from bot.errors import BotError
from bot.ingest import NoDocuments, doc_id_for, ingest
from bot.settings import ROOT, Settings
from tests.fakes import FakeEmbeddings

PARAGRAPH = "Debt collectors must not threaten borrowers or their families."


pytestmark = pytest.mark.usefixtures("no_lexicon")


@pytest.fixture
def settings(tmp_path) -> Settings:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(f"Alpha\n{PARAGRAPH}\n", encoding="utf-8")
    (docs / "b.md").write_text("# Beta\n\nBorrowers can ask for an instalment plan.\n", encoding="utf-8")
    return Settings(docs_dir=docs, index_dir=tmp_path / "index", data_dir=tmp_path / "data")


def with_limits(settings: Settings, **limits: int) -> Settings:
    """Set size limits on a settings object (works whether or not Settings declares them yet)."""
    for name, value in limits.items():
        object.__setattr__(settings, name, value)
    return settings


def texts_in_index(settings: Settings) -> set[str]:
    return {p.text for p in index_store.load(settings.index_dir).passages}


def doc_ids_in_index(settings: Settings) -> set[str]:
    return set(index_store.load(settings.index_dir).manifest["documents"])


# --------------------------------------------------------------------------- D2: nothing to index


@pytest.mark.parametrize("problem", ["missing folder", "mistyped folder", "empty folder", "only unsupported files",
                                     "only empty documents"])
def test_nothing_to_index_is_refused_and_the_index_stays_as_it_was(settings, fake, tmp_path, problem):
    ingest(settings, embeddings=fake)
    before = index_store.current_version(settings.index_dir)
    docs = tmp_path / "other-docs"
    if problem == "missing folder":
        docs = tmp_path / "does-not-exist"
    elif problem == "mistyped folder":
        docs = tmp_path / "dosc"
    else:
        docs.mkdir()
        if problem == "only unsupported files":
            (docs / "table.xlsx").write_bytes(b"PK\x03\x04")
        elif problem == "only empty documents":
            (docs / "empty.txt").write_text("   \n", encoding="utf-8")

    with pytest.raises(NoDocuments) as refused:
        ingest(settings.model_copy(update={"docs_dir": docs}), embeddings=fake)

    message = str(refused.value)
    assert "\n" not in message and "--allow-empty" in message and "unchanged" in message
    assert isinstance(refused.value, BotError)  # app.py catches BotError at start-up
    assert index_store.current_version(settings.index_dir) == before
    assert PARAGRAPH in texts_in_index(settings)


def test_emptying_the_index_takes_allow_empty_and_the_empty_index_loads(settings, fake, tmp_path):
    ingest(settings, embeddings=fake)
    empty = settings.model_copy(update={"docs_dir": tmp_path / "empty"})
    (tmp_path / "empty").mkdir()

    report = ingest(empty, embeddings=fake, allow_empty=True)

    assert report.passages == 0 and sorted(report.removed_documents) == ["a", "b"]
    stored = index_store.load(settings.index_dir)  # C3: zero passages is a valid index
    assert stored.passages == [] and stored.vectors.ntotal == 0


# --------------------------------------------------------------------------- D3: unique document ids


def test_documents_with_the_same_stem_get_distinct_ids_and_both_are_indexed(settings, fake):
    (settings.docs_dir / "notes.txt").write_text("Notes\nCollectors may not call after 9 pm.\n", encoding="utf-8")
    (settings.docs_dir / "notes.md").write_text("# Notes\n\nKeep a record of every call.\n", encoding="utf-8")

    report = ingest(settings, embeddings=fake)

    assert {d.doc_id for d in report.documents} == {"a", "b", "notes.txt", "notes.md"}
    assert {"Collectors may not call after 9 pm.", "Keep a record of every call."} <= texts_in_index(settings)


def test_shipped_document_ids_stay_the_bare_file_stem():
    shipped = sorted((ROOT / "docs").glob("*.txt"))
    assert doc_id_for(shipped[0], ROOT / "docs") == "000_01385be25ace5660"
    assert all("." not in doc_id_for(p, ROOT / "docs") for p in shipped)


def test_a_file_in_a_subfolder_keeps_its_path_as_id_without_clashing(settings, fake):
    (settings.docs_dir / "sub").mkdir()
    (settings.docs_dir / "sub" / "a.txt").write_text("Sub\nA different paragraph about home visits.\n", encoding="utf-8")

    report = ingest(settings, embeddings=fake)

    assert {d.doc_id for d in report.documents} == {"a", "b", "sub/a"}


def test_files_from_outside_the_docs_folder_with_the_same_name_do_not_clash(settings, fake, tmp_path):
    one, two = tmp_path / "x" / "notes.txt", tmp_path / "x" / "sub" / "notes.txt"
    two.parent.mkdir(parents=True)
    one.write_text("One\nThe first file about call times.\n", encoding="utf-8")
    two.write_text("Two\nThe second file about home visits.\n", encoding="utf-8")

    report = ingest(settings, [one, two], embeddings=fake)

    ids = {d.doc_id for d in report.documents if d.status == "added"}
    assert ids == {one.resolve().as_posix(), two.resolve().as_posix()}
    assert {"The first file about call times.", "The second file about home visits."} <= texts_in_index(settings)


def test_an_outside_file_named_like_a_docs_file_does_not_replace_it(settings, fake, tmp_path):
    ingest(settings, embeddings=fake)
    outside = tmp_path / "a.txt"
    outside.write_text("Outside\nA paragraph from elsewhere.\n", encoding="utf-8")

    ingest(settings, [outside], embeddings=fake)

    assert {PARAGRAPH, "A paragraph from elsewhere."} <= texts_in_index(settings)


# --------------------------------------------------------------------------- ingest PATH adds, --exactly replaces


def test_naming_a_file_adds_it_and_keeps_every_other_document(settings, fake, tmp_path):
    ingest(settings, embeddings=fake)
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\nYou can complain to the regulator.\n", encoding="utf-8")
    fake.embedded.clear()

    report = ingest(settings, [extra], embeddings=fake)

    assert {d.status for d in report.documents if d.doc_id in ("a", "b")} == {"kept"}
    assert report.removed_documents == [] and fake.embedded == ["You can complain to the regulator."]
    assert {PARAGRAPH, "You can complain to the regulator."} <= texts_in_index(settings)
    assert "kept" in report.summary()


def test_naming_a_changed_docs_file_refreshes_only_that_file(settings, fake):
    ingest(settings, embeddings=fake)
    (settings.docs_dir / "a.txt").write_text("Alpha\nA new paragraph replaces the old one.\n", encoding="utf-8")

    report = ingest(settings, [settings.docs_dir / "a.txt"], embeddings=fake)

    assert {d.doc_id: d.status for d in report.documents} == {"a": "changed", "b": "kept"}
    texts = texts_in_index(settings)
    assert "A new paragraph replaces the old one." in texts and PARAGRAPH not in texts
    assert "Borrowers can ask for an instalment plan." in texts


def test_exactly_indexes_only_the_named_files(settings, fake, tmp_path):
    ingest(settings, embeddings=fake)
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\nYou can complain to the regulator.\n", encoding="utf-8")

    report = ingest(settings, [extra], embeddings=fake, exactly=True)

    assert sorted(report.removed_documents) == ["a", "b"]
    assert texts_in_index(settings) == {"You can complain to the regulator."}


def test_naming_a_folder_refreshes_it_and_drops_files_deleted_from_it(settings, fake):
    (settings.docs_dir / "sub").mkdir()
    (settings.docs_dir / "sub" / "gone.txt").write_text("Gone\nThis file will be deleted.\n", encoding="utf-8")
    ingest(settings, embeddings=fake)
    (settings.docs_dir / "sub" / "gone.txt").unlink()
    (settings.docs_dir / "sub" / "new.txt").write_text("New\nThis file is new.\n", encoding="utf-8")

    report = ingest(settings, [settings.docs_dir / "sub"], embeddings=fake)

    assert report.removed_documents == ["sub/gone"]
    assert doc_ids_in_index(settings) == {"a", "b", "sub/new"}


def test_naming_the_docs_folder_itself_is_a_full_refresh_of_it(settings, fake, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("Outside\nA paragraph from elsewhere.\n", encoding="utf-8")
    ingest(settings, [settings.docs_dir, outside], embeddings=fake)
    (settings.docs_dir / "b.md").unlink()

    report = ingest(settings, [settings.docs_dir], embeddings=fake)

    assert report.removed_documents == ["b"]
    assert doc_ids_in_index(settings) == {"a", outside.resolve().as_posix()}


def test_with_another_model_kept_documents_are_embedded_again_not_mixed(settings, fake, tmp_path):
    ingest(settings, embeddings=fake)
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\nYou can complain to the regulator.\n", encoding="utf-8")
    other = FakeEmbeddings("fake:another-model")

    ingest(settings, [extra], embeddings=other)

    assert PARAGRAPH in other.embedded and index_store.load(settings.index_dir).model_id == "fake:another-model"
    assert doc_ids_in_index(settings) == {"a", "b", extra.resolve().as_posix()}


# --------------------------------------------------------------------------- W3: size limits


def test_a_document_with_more_text_than_the_limit_is_skipped_with_a_warning_naming_it(settings, fake):
    (settings.docs_dir / "huge.txt").write_text("Huge\n" + "Collectors called again. " * 400 + "\n", encoding="utf-8")

    report = ingest(with_limits(settings, max_document_chars=2_000), embeddings=fake)

    assert any("huge.txt" in w and "max_document_chars" in w for w in report.warnings)
    assert {d.doc_id: d.status for d in report.documents}["huge"] == "skipped"
    assert PARAGRAPH in texts_in_index(settings) and not fake.embedded.count("Collectors called again.")


def test_a_file_larger_than_the_byte_limit_is_not_even_read(settings, fake, monkeypatch):
    (settings.docs_dir / "big.txt").write_bytes(b"Big\n" + b"x" * 5_000)
    monkeypatch.setattr("bot.ingest.read_text", _fail_on("big.txt"))

    report = ingest(with_limits(settings, max_document_bytes=1_000), embeddings=fake)

    assert any("big.txt" in w and "max_document_bytes" in w for w in report.warnings)
    assert doc_ids_in_index(settings) >= {"a", "b"}
    again = ingest(with_limits(settings, max_document_bytes=1_000), embeddings=fake)
    assert again.up_to_date and any("big.txt" in w for w in again.warnings)


def _fail_on(name):
    from bot.readers import read_text

    def read(path):
        assert Path(path).name != name, "a file over the byte limit must not be read"
        return read_text(path)

    return read


def test_a_one_line_paragraph_longer_than_the_passage_limit_is_cut_into_pieces(settings, fake):
    words = " ".join(f"word{i}" for i in range(2_000))  # ~15,000 characters, no sentence end
    (settings.docs_dir / "wall.txt").write_text(f"Wall of text\n{words}\n", encoding="utf-8")

    report = ingest(with_limits(settings, max_passage_chars=500), embeddings=fake)

    assert any("wall.txt" in w and "max_passage_chars" in w for w in report.warnings)
    pieces = [p for p in index_store.load(settings.index_dir).passages if p.doc_id == "wall"]
    assert len(pieces) > 20 and all(len(p.text) <= 500 for p in pieces)
    assert " ".join(p.text for p in pieces) == words  # cut at spaces: nothing lost, nothing invented
    assert [p.id for p in pieces] == [f"wall:{i}" for i in range(len(pieces))]
    assert all(b.start >= a.end for a, b in zip(pieces, pieces[1:]))


def test_the_default_passage_cap_leaves_ordinary_paragraphs_alone(settings, fake):
    report = ingest(settings, embeddings=fake)
    assert not any("max_passage_chars" in w for w in report.warnings)
    assert texts_in_index(settings) == {PARAGRAPH, "Borrowers can ask for an instalment plan."}


# --------------------------------------------------------------------------- S4: links out of the docs folder


def test_a_link_in_docs_to_a_file_outside_is_not_indexed_and_is_named_in_a_warning(settings, fake, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret\npassword=hunter2 for the production database\n", encoding="utf-8")
    (settings.docs_dir / "innocent.txt").symlink_to(secret)
    (settings.docs_dir / "also-a.txt").symlink_to(settings.docs_dir / "a.txt")  # inside: fine (indexed once)

    report = ingest(settings, embeddings=fake)

    assert any("innocent.txt" in w and "outside" in w for w in report.warnings)
    assert not any("hunter2" in t for t in texts_in_index(settings))
    assert PARAGRAPH in texts_in_index(settings)


def test_a_link_named_on_the_command_line_is_indexed(settings, fake, tmp_path):
    target = tmp_path / "shared-notes.txt"
    target.write_text("Shared\nA note the operator chose to index.\n", encoding="utf-8")
    (settings.docs_dir / "link.txt").symlink_to(target)

    ingest(settings, [settings.docs_dir / "link.txt"], embeddings=fake)

    assert "A note the operator chose to index." in texts_in_index(settings)


# --------------------------------------------------------------------------- C2, K1: hostile file names


def test_a_file_name_that_is_not_utf8_is_indexed_under_an_escaped_name(settings, fake):
    raw = os.fsencode(settings.docs_dir) + b"/\xff\xfenotes.txt"
    with open(raw, "w", encoding="utf-8") as fh:
        fh.write("Latin-1 name\nA document whose file name is not UTF-8.\n")

    report = ingest(settings, embeddings=fake)

    assert "\\xff\\xfenotes" in {d.doc_id for d in report.documents}
    stored = index_store.load(settings.index_dir)
    assert any(p.text == "A document whose file name is not UTF-8." and p.source == "\\xff\\xfenotes.txt"
               for p in stored.passages)
    report.summary().encode("utf-8")  # printable: no lone surrogates left
    assert ingest(settings, embeddings=fake).up_to_date  # and it is recognised again next time


@pytest.mark.parametrize("name", ["evil\n  added     forged.txt: 99 passages; removed: nothing\nx.txt",
                                  "\x1b[31mred\x1b[0m.txt", "rtl\u202etxt.exe.txt"])
def test_control_characters_in_file_names_cannot_forge_summary_or_warning_lines(settings, fake, name):
    (settings.docs_dir / name).write_text("Title\nA paragraph in a file with a hostile name.\n", encoding="utf-8")
    (settings.docs_dir / (name + ".xlsx")).write_bytes(b"PK")  # unsupported: produces a warning with the name

    report = ingest(settings, embeddings=fake)

    summary = report.summary()
    assert len(summary.splitlines()) == len(report.documents) + 1
    assert not any(ch in summary for ch in "\x1b\u202e")
    assert not any(line.startswith("  added     forged") for line in summary.splitlines())
    for warning in report.warnings:
        assert "\n" not in warning and "\x1b" not in warning and "\u202e" not in warning

"""English renderings: stored with the index, shown for English questions, never stale, never made up."""
from __future__ import annotations

import json
import shutil

import pytest

from bot import index as index_store
from bot.extractive import ExtractiveAnswerer
from bot.ingest import ingest
from bot.prompts import Strings
from bot.query import Query
from bot.readers import discover
from bot.renderings import Renderings, attach, read_sidecar, rendering_problems, sidecar_path, skeleton, text_sha
from bot.settings import ROOT, Settings
from bot.types import Hit, Passage
from tests.conftest import SHIPPED_ARTICLES
from tests.fakes import FakeEmbeddings



def _article(text: str, label: str = "第一千零三十三条", **fields) -> Passage:
    return Passage(id=f"law:{fields.pop('ordinal', 0)}", doc_id="law", title="中华人民共和国民法典", section="", text=text,
                   start=0, end=len(text), source="law.md", kind="article", law="中华人民共和国民法典", article=label,
                   article_no=1033, version="2020-05-28", **fields)


def _record(passage: Passage, english: list[str]) -> dict:
    record = skeleton([passage])[0]
    for pair, en in zip(record["sentences"], english):
        pair["en"] = en
    return record


def test_a_sidecar_rendering_attaches_to_the_text_it_translates():
    p = _article("任何组织不得侵扰他人的私人生活安宁。隐私受法律保护。")
    found, report = attach([p], [_record(p, ["No organization may disturb another's private life.", "Privacy is protected by law."])])
    assert report.applied == 1 and report.stale == 0
    assert Renderings(found).english(p.text, "隐私受法律保护。") == "Privacy is protected by law."


def test_a_changed_passage_drops_its_stale_rendering():
    old = _article("任何组织不得侵扰他人的私人生活安宁。")
    record = _record(old, ["No organization may disturb another's private life."])
    changed = _article("任何组织或者个人不得侵扰他人的私人生活安宁。")
    found, report = attach([changed], [record])
    assert found == {} and report.stale == 1
    assert Renderings(found).english(changed.text, changed.text) is None


def test_ingest_drops_a_stale_rendering_when_the_document_changes(tmp_path, docs_copy):
    settings = Settings(docs_dir=docs_copy, index_dir=tmp_path / "index", question_memory=False)
    for article in SHIPPED_ARTICLES:
        shutil.copy(sidecar_path(article), docs_copy)
    ingest(settings, embeddings=FakeEmbeddings())
    stored = index_store.load(settings.index_dir)
    raw = {p.stem: p.read_text(encoding="utf-8") for p in docs_copy.glob("*.txt")}
    first = next(p for p in stored.passages  # a rendered paragraph that the raw file holds verbatim (no glosses)
                 if text_sha(p.text) in stored.renderings and p.text in raw[p.doc_id])
    document = docs_copy / f"{first.doc_id}.txt"

    document.write_text(raw[first.doc_id].replace(first.text, first.text[:-1] + "，但情況已變。"),
                        encoding="utf-8")
    report = ingest(settings, embeddings=FakeEmbeddings())
    stored = index_store.load(settings.index_dir)
    changed = next(p for p in stored.passages if p.id == first.id)
    assert changed.text != first.text and text_sha(changed.text) not in stored.renderings
    assert any("stale" in w for w in report.warnings)
    assert len(stored.renderings) > 10  # the other paragraphs keep theirs


def test_a_sidecar_is_not_indexed_as_a_document(docs_copy):
    shutil.copy(sidecar_path(SHIPPED_ARTICLES[0]), docs_copy)
    files, warnings = discover([docs_copy])
    assert len(files) == 5 and warnings == []


def _answer(renderings: Renderings, language: str, *passages: Passage):
    answerer = ExtractiveAnswerer(lambda t: 1.0, Strings(), renderings=renderings)
    query = Query(text="privacy harassment", language=language, simplified="", tokens=(), terms=("隐私", "侵扰"))
    events = list(answerer.stream(query, [Hit(passage=p, score=1.0 - i / 10) for i, p in enumerate(passages)]))
    return events[-1].answer


def test_an_english_question_gets_the_english_rendering_marked_and_the_chinese_in_the_citation():
    p = _article("任何组织不得以电话侵扰他人的私人生活安宁。")
    found, _ = attach([p], [_record(p, ["No organization may disturb another's private life by telephone."])])
    answer = _answer(Renderings(found), "en", p)
    assert "No organization may disturb another's private life by telephone. (translated)" in answer.answer
    assert "unofficial English translation" in answer.answer and "侵扰" not in answer.answer
    assert answer.citations[0].quote == p.text and answer.citations[0].quote_en.startswith("No organization")


def test_a_source_without_rendering_is_quoted_in_chinese_and_said_once():
    translated = _article("任何组织不得以电话侵扰他人的私人生活安宁。")
    found, _ = attach([translated], [_record(translated, ["No organization may disturb another's private life."])])
    untranslated = _article("自然人享有隐私权，任何组织不得侵扰。", label="第一千零三十二条", ordinal=1)
    answer = _answer(Renderings(found), "en", translated, untranslated)
    assert "自然人享有隐私权" in answer.answer
    assert answer.answer.count("no English version yet") == 1


def test_a_chinese_question_is_answered_in_chinese_even_with_renderings():
    p = _article("任何组织不得以电话侵扰他人的私人生活安宁。")
    found, _ = attach([p], [_record(p, ["No organization may disturb another's private life."])])
    answer = _answer(Renderings(found), "zh-Hans", p)
    assert "侵扰他人的私人生活安宁" in answer.answer and "organization" not in answer.answer


@pytest.mark.parametrize("zh, en, problem", [
    ("处三年以下有期徒刑。", "shall be sentenced to fixed-term imprisonment.", "numbers missing: 3"),
    ("依照第二百九十三条处罚。", "shall be punished under Article 239.", "numbers missing: 293"),
    ("向人民法院起诉。", "may sue.", "named bodies missing: 人民法院"),
    ("向人民法院起诉。", "可以起诉 to the court.", "contains Chinese"),
])
def test_a_rendering_that_loses_a_number_a_reference_or_a_named_body_is_rejected(zh, en, problem):
    assert problem in rendering_problems(zh, en)


def test_a_faithful_rendering_passes():
    assert rendering_problems("处三年以下有期徒刑，由人民法院依照第二百九十三条之一审理。",
                              "fixed-term imprisonment of not more than 3 years, tried by the people's court under "
                              "Article 293-1.") == []


def test_the_shipped_renderings_cover_the_five_articles_and_300_law_articles_and_pass_the_checks():
    articles, problems = 0, []
    for sidecar in sorted((ROOT / "docs").rglob("*.en.jsonl")):
        records, bad = read_sidecar(sidecar)
        problems += bad
        for record in records:
            problems += [f"{sidecar.name} {p['zh'][:20]}: {rendering_problems(p['zh'], p['en'])}"
                         for p in record["sentences"] if rendering_problems(p["zh"], p["en"])]
            articles += "article" in record
    assert problems == []
    assert articles >= 300
    for document in SHIPPED_ARTICLES:
        records, _ = read_sidecar(sidecar_path(document))
        assert {r["paragraph"] for r in records} == set(range(len(records)))  # every passage of the article
        assert json.loads(sidecar_path(document).read_text(encoding="utf-8").splitlines()[0])["unofficial"] is True

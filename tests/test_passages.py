"""Cleaned documents become citable passages: paragraphs and list items, each with its heading path."""
from bot.clean import clean
from bot.passages import MAX_PASSAGE_CHARS, heading_level, split_passages
from tests.conftest import SHIPPED_DOCS


def test_headings_are_recognised_and_paragraphs_are_not():
    assert heading_level("三、中原消費金融催收的方式") == 1
    assert heading_level("3.3 上門催收") == 2
    assert heading_level("2.1.1 建立信任關系") == 3
    assert heading_level("小編總結") == 1
    assert heading_level("1. 逾期提醒:在客戶貸款逾期后,首先通過短信、 等方式進行友好的提醒。") is None
    assert heading_level("上門催收是一種直接且具有強烈沖擊力的催收方式。") is None


def test_each_passage_keeps_its_heading_path_and_is_never_a_bare_heading():
    text = "標題\n一、概述\n1.1 背景\n第一段內容,說明背景。\n1.2 產品\n第二段內容。\n二、流程\n1. 逾期提醒:先發短信。"
    passages = split_passages("doc", "標題", text, "doc.txt")
    assert [(p.section, p.text) for p in passages] == [
        ("一、概述 › 1.1 背景", "第一段內容,說明背景。"),
        ("一、概述 › 1.2 產品", "第二段內容。"),
        ("二、流程", "1. 逾期提醒:先發短信。"),
    ]
    assert [p.id for p in passages] == ["doc:0", "doc:1", "doc:2"]


def test_offsets_point_into_the_cleaned_document():
    for path in sorted(SHIPPED_DOCS.glob("*.txt")):
        cleaned = clean(path.read_text(encoding="utf-8"))
        passages = split_passages(path.stem, cleaned.title, cleaned.text, path.name)
        assert passages, path
        for p in passages:
            assert cleaned.text[p.start : p.end] == p.text
            assert p.title == cleaned.title and p.doc_id == path.stem


def test_the_shipped_section_path_of_the_home_visit_passage():
    path = next(SHIPPED_DOCS.glob("002_*.txt"))
    cleaned = clean(path.read_text(encoding="utf-8"))
    passages = split_passages(path.stem, cleaned.title, cleaned.text, path.name)
    visit = next(p for p in passages if p.text.startswith("上門催收是一種直接"))
    assert visit.section == "三、中原消費金融催收的方式 › 3.3 上門催收"


def test_a_long_paragraph_is_split_at_sentence_ends():
    sentence = "催收人員應當依法依規開展工作,不得騷擾借款人。"
    text = "標題\n" + sentence * 40
    passages = split_passages("doc", "標題", text, "doc.txt")
    assert len(passages) > 1
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)
    assert all(p.text.endswith("。") for p in passages)
    assert "".join(p.text for p in passages) == sentence * 40

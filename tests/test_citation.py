"""Article references in questions (three languages), law names, and citations as a lawyer writes them."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.citation import (
    ArticleRef,
    cite,
    english_title,
    find_article_ref,
    find_article_refs,
    law_matches,
    law_names,
    lookup_law,
    short_title,
)
from bot.statutes import parse_statute

PACK = Path(__file__).resolve().parents[1].parent / "shared" / "laws" / "pack"
NATIONAL = PACK.parent / "national"


# --------------------------------------------------------------------------------------------- references


@pytest.mark.parametrize("question, law, number, suffix", [
    # Simplified Chinese
    ("民法典1033条", "民法典", 1033, 0),
    ("民法典第1033条", "民法典", 1033, 0),
    ("民法典第一千零三十三条规定了什么", "民法典", 1033, 0),
    ("《民法典》1033条", "民法典", 1033, 0),
    ("《中华人民共和国个人信息保护法》第十三条", "个人信息保护法", 13, 0),
    ("第二百九十三条之一", None, 293, 1),
    ("刑法293条之一", "刑法", 293, 1),
    ("刑法第二百九十三条之一是什么罪", "刑法", 293, 1),
    ("民法典里关于隐私的第1033条是什么意思", "民法典", 1033, 0),
    ("民诉法解释第一条", "民事诉讼法解释", 1, 0),
    ("根据劳动法第三条", "劳动法", 3, 0),  # a law the table does not know keeps its written name
    ("第1033条", None, 1033, 0),
    # Traditional Chinese
    ("民法典第一千零三十三條", "民法典", 1033, 0),
    ("刑法第293條之1", "刑法", 293, 1),
    ("個人信息保護法第十三條怎麼說", "个人信息保护法", 13, 0),
    # English
    ("Article 1033 of the Civil Code", "民法典", 1033, 0),
    ("Civil Code Art. 1033", "民法典", 1033, 0),
    ("article 293-1 of the Criminal Law", "刑法", 293, 1),
    ("What does Article 1033 of the PRC Civil Code say about text messages?", "民法典", 1033, 0),
    ("According to the Penal Code, article 238", "刑法", 238, 0),
    ("PIPL art 13", "个人信息保护法", 13, 0),
    ("Is article 5 of the Anti-Telecom Fraud Law relevant?", "反电信网络诈骗法", 5, 0),
    ("Regulation on the Administration of Credit Reporting Industry, Article 15", "征信业管理条例", 15, 0),
    ("Article 3", None, 3, 0),
])
def test_finds_the_article_a_question_names(question, law, number, suffix):
    assert find_article_ref(question) == ArticleRef(law, number, suffix)


@pytest.mark.parametrize("question", [
    "第三方催收合法吗",  # 第三方: no 条
    "分期还款需要什么条件",  # 条件: no number
    "催收给我发了一条短信",  # a count of messages, not an article
    "催收发的第一条短信就威胁我",  # 第一条 + 短信: the first message
    "第三条件是什么",
    "我欠了3000元，他们一天打了20次电话",
    "I read an article about debt collection",
    "Can they call me 30 times a day?",
    "",
])
def test_questions_without_an_article_reference(question):
    assert find_article_ref(question) is None


def test_several_references_keep_their_order_and_the_law_carries_over():
    refs = find_article_refs("刑法第二百三十八条和第二百九十三条之一有什么区别")
    assert refs == [ArticleRef("刑法", 238, 0), ArticleRef("刑法", 293, 1)]


def test_an_amendment_is_not_the_law_it_amends():
    ref = find_article_ref("刑法修正案（十一）第一条")
    assert ref is not None and ref.law != "刑法"
    assert not law_matches("刑法", "中华人民共和国刑法修正案（十一）")


def test_article_ref_label_is_the_statute_label():
    assert ArticleRef("刑法", 293, 1).label == "第二百九十三条之一"
    assert ArticleRef("民法典", 1033).label == "第一千零三十三条"


# --------------------------------------------------------------------------------------------- law names


def test_the_law_name_table_covers_the_pack_laws_with_english_names():
    names = {law.short: law for law in law_names()}
    for short in ("民法典", "刑法", "个人信息保护法", "民事诉讼法", "治安管理处罚法", "消费者权益保护法", "商业银行法",
                  "反电信网络诈骗法", "征信业管理条例", "人民调解法", "银行业监督管理法"):
        assert names[short].english, short


def test_every_full_title_in_the_table_is_spelt_as_a_statute_writes_it():
    corpus = NATIONAL if NATIONAL.is_dir() else PACK
    if not corpus.is_dir():
        pytest.skip(f"{PACK} is missing: the statute corpus (shared/laws) is not checked out next to the project")
    def titles(folder: Path) -> set[str]:
        return {p.read_text(encoding="utf-8").split("\n", 1)[0].removeprefix("# ").strip() for p in folder.rglob("*.md")}

    table = {law.title for law in law_names()}
    if corpus == NATIONAL:
        assert table <= titles(NATIONAL), table - titles(NATIONAL)
    pack_titles = titles(PACK)
    assert pack_titles <= table, pack_titles - table  # every pack law has a short and an English name
    assert lookup_law("最高人民法院关于适用《中华人民共和国民事诉讼法》的解释").short == "民事诉讼法解释"


@pytest.mark.parametrize("ref_law, title, expected", [
    ("民法典", "中华人民共和国民法典", True),
    ("刑法", "中华人民共和国刑法", True),
    ("刑法", "中华人民共和国刑法修正案（十一）", False),
    ("民事诉讼法", "中华人民共和国民事诉讼法", True),
    ("民诉法", "中华人民共和国民事诉讼法", True),
    ("民事诉讼法", "最高人民法院关于适用《中华人民共和国民事诉讼法》的解释", False),
    ("民事诉讼法解释", "最高人民法院关于适用《中华人民共和国民事诉讼法》的解释", True),
    ("Civil Code", "中华人民共和国民法典", True),
    ("個人信息保護法", "中华人民共和国个人信息保护法", True),
    ("劳动法", "中华人民共和国劳动法", True),
    ("民法典", "中华人民共和国民法典·人格权编", True),
    ("民法典", "中华人民共和国刑法", False),
    ("", "中华人民共和国刑法", False),
])
def test_law_matches_a_statute_title(ref_law, title, expected):
    assert law_matches(ref_law, title) is expected


def test_found_references_match_the_pack_statutes():
    if not PACK.is_dir():
        pytest.skip(f"{PACK} is missing: the statute corpus (shared/laws) is not checked out next to the project")
    statutes = [parse_statute(p.read_text(encoding="utf-8"), p.name) for p in sorted(PACK.rglob("*.md"))]
    for question, expected_start in [
        ("民法典第1033条", "除法律另有规定或者权利人明确同意外"),
        ("article 293-1 of the Criminal Law", "有下列情形之一，催收高利放贷等产生的非法债务"),
        ("民事訴訟法第二百五十條", None),
    ]:
        ref = find_article_ref(question)
        found = [a for s in statutes if law_matches(ref.law, s.title) for a in s.articles
                 if (a.number, a.suffix) == (ref.number, ref.suffix)]
        assert len(found) == 1, question
        if expected_start:
            assert found[0].text.startswith(expected_start)


def test_short_and_english_titles():
    assert short_title("中华人民共和国民法典") == "民法典"
    assert short_title("中华人民共和国劳动法") == "劳动法"
    assert short_title("中华人民共和国民法典·合同编") == "民法典·合同编"
    assert short_title("征信业管理条例") == "征信业管理条例"
    assert english_title("中华人民共和国民法典") == "Civil Code of the PRC"
    assert english_title("中华人民共和国刑法") == "Criminal Law of the PRC"
    assert english_title("中华人民共和国劳动法") is None


# --------------------------------------------------------------------------------------------- citations


def test_citation_in_simplified_chinese():
    assert cite("中华人民共和国民法典", "第一千零三十三条", "2020-05-28", "zh-Hans", number=1033, suffix=0) == (
        "《中华人民共和国民法典》第一千零三十三条（2020年5月28日版）")
    assert cite("中华人民共和国刑法", "第二百九十三条之一", "2023-12-29", "zh-Hans", number=293, suffix=1) == (
        "《中华人民共和国刑法》第二百九十三条之一（2023年12月29日版）")


def test_citation_in_traditional_chinese():
    assert cite("中华人民共和国民法典", "第一千零三十三条", "2020-05-28", "zh-Hant", number=1033, suffix=0) == (
        "《中華人民共和國民法典》第一千零三十三條（2020年5月28日版）")


def test_citation_in_english_uses_the_english_law_name():
    assert cite("中华人民共和国民法典", "第一千零三十三条", "2020-05-28", "en", number=1033, suffix=0) == (
        "Civil Code of the PRC, Article 1033 (version of 2020-05-28)")
    assert cite("中华人民共和国刑法", "第二百九十三条之一", "2023-12-29", "en", number=293, suffix=1) == (
        "Criminal Law of the PRC, Article 293-1 (version of 2023-12-29)")


def test_english_citation_of_a_law_without_english_name_keeps_the_chinese_title():
    assert cite("中华人民共和国劳动法", "第三条", "2018-12-29", "en", number=3, suffix=0) == (
        "中华人民共和国劳动法, Article 3 (version of 2018-12-29)")


def test_citation_label_is_written_from_the_number_and_inner_titles_use_single_brackets():
    assert cite("最高人民法院关于适用《中华人民共和国民事诉讼法》的解释", "第1条", "2022-04-01", "zh-Hans",
                number=1, suffix=0) == "《最高人民法院关于适用〈中华人民共和国民事诉讼法〉的解释》第一条（2022年4月1日版）"


def test_citation_without_version_date_or_article():
    assert cite("中华人民共和国人民调解法", "第一条", "", "zh-Hans", number=1, suffix=0) == "《中华人民共和国人民调解法》第一条"
    assert cite("某案例", "裁判要点", "", "zh-Hans", number=0, suffix=0) == "《某案例》裁判要点"
    assert cite("中华人民共和国民法典", "", "2020-05-28", "en", number=0, suffix=0) == (
        "Civil Code of the PRC (version of 2020-05-28)")

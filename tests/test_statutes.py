"""Statutes parsed into articles: real files of the borrower-rights pack (shared/laws/pack) and the national corpus."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.statutes import (
    ARTICLE_LINE,
    Article,
    chinese_numeral,
    is_statute,
    parse_chinese_numeral,
    parse_statute,
    split_long_article,
    version_date_from_history,
)

LAWS = Path(__file__).resolve().parents[1].parent / "shared" / "laws"
PACK = LAWS / "pack"
NATIONAL = LAWS / "national"

# The article-line rule, written independently of the parser: what `grep -cE` counts in a file.
ARTICLE_GREP = re.compile(r"^第[零〇一二三四五六七八九十百千万两0-9]+条(之[一二三四五六七八九十]+)?[\s\u3000]", re.M)


def _need(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing: the statute corpus (shared/laws) is not checked out next to the project")


def law(relative: str, root: Path = PACK):
    _need(root)
    path = root / relative
    return parse_statute(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


@pytest.fixture(scope="module")
def pack() -> dict[str, object]:
    _need(PACK)
    return {str(p.relative_to(PACK)): parse_statute(p.read_text(encoding="utf-8"), str(p.relative_to(PACK)))
            for p in sorted(PACK.rglob("*.md"))}


# --------------------------------------------------------------------------------------------- articles


def test_criminal_law_has_the_article_on_collecting_illegal_debts_as_article_293_1():
    criminal = law("刑法/刑法.md")
    article = criminal.article(293, 1)
    assert article is not None
    assert article.label == "第二百九十三条之一"
    assert (article.number, article.suffix) == (293, 1)
    assert "催收高利放贷等产生的非法债务" in article.paragraphs[0]
    assert article.chapter_path == ["第二编 分则", "第六章 妨害社会管理秩序罪", "第一节 扰乱公共秩序罪"]
    # 第二百九十三条 itself is a different article, just before it
    assert criminal.article(293, 0).text.startswith("有下列寻衅滋事行为之一")
    keys = [a.key for a in criminal.articles]
    assert keys.index((293, 1)) == keys.index((293, 0)) + 1


def test_criminal_law_numbers_inserted_articles_with_suffixes_one_and_two():
    criminal = law("刑法/刑法.md")
    suffixes = {a.suffix for a in criminal.articles}
    assert suffixes >= {0, 1, 2}
    assert criminal.article(120, 2).label == "第一百二十条之二"
    assert sum(a.suffix == 1 for a in criminal.articles) >= 20


def test_items_stay_inside_their_article_as_paragraphs():
    privacy = law("民法典/人格权编.md").article(1033)
    assert privacy.paragraphs[0].startswith("除法律另有规定或者权利人明确同意外")
    assert [p[:3] for p in privacy.paragraphs[1:]] == ["（一）", "（二）", "（三）", "（四）", "（五）", "（六）"]
    assert privacy.text == "\n".join(privacy.paragraphs)
    assert "第一千零三十三条" not in privacy.text  # the label is a field, not part of the text


def test_a_multi_paragraph_article_keeps_every_paragraph():
    article = law("民法典/合同编.md").article(464)
    assert len(article.paragraphs) == 2
    assert article.paragraphs[1].startswith("婚姻、收养、监护等有关身份关系的协议")


def test_civil_code_privacy_article_has_its_book_and_chapter_path():
    book = law("民法典/人格权编.md")
    assert (book.title, book.book) == ("中华人民共和国民法典", "人格权编")
    article = book.article(1033)
    assert article.label == "第一千零三十三条"
    assert article.chapter_path == ["第四编 人格权", "第六章 隐私权和个人信息保护"]


def test_civil_code_books_carry_the_code_title_and_sections_below_the_book():
    contract = law("民法典/合同编.md")
    assert contract.title == "中华人民共和国民法典" and contract.book == "合同编"
    assert contract.name == "中华人民共和国民法典·合同编"
    assert contract.article(463).chapter_path == ["第三编 合同", "第一分编 通则", "第一章 一般规定"]
    # 附则 has an empty '##' heading: its two articles sit directly under the book
    annex = law("民法典/附则.md")
    assert [a.number for a in annex.articles] == [1259, 1260]
    assert annex.articles[0].chapter_path == ["附则"]


def test_the_civil_code_books_together_hold_articles_1_to_1260_once_each(pack):
    numbers = sorted(a.number for k, s in pack.items() if k.startswith("民法典/") for a in s.articles)
    assert numbers == list(range(1, 1261))


def test_headings_lose_their_padding_spaces():
    assert law("民法典/人格权编.md").article(1018).chapter_path[-1] == "第四章 肖像权"  # '## 第四章  肖 像 权'


def test_an_ordinary_law_numbers_its_articles_one_to_n():
    pipl = law("行政法/个人信息保护法(2021-08-20).md")
    assert [a.number for a in pipl.articles] == list(range(1, 75))
    assert pipl.articles[0].chapter_path == ["第一章 总则"]


def test_interpretation_chapters_follow_the_contents_list_to_the_real_headings():
    # the file lists its chapter headings (二、… 二十三、…) before '## 一、管辖' and the first article
    interpretation = law("司法解释/最高人民法院关于适用《民事诉讼法》的解释(2022-04-01).md")
    assert interpretation.article(1).chapter_path == ["一、管辖"]
    assert interpretation.articles[-1].chapter_path == ["二十三、附则"]
    assert "关于适用《中华人民共和国民事诉讼法》的" in interpretation.preamble


def test_a_plain_line_sub_heading_is_a_heading_not_the_end_of_the_article_before_it():
    guarantee = law("司法解释/最高人民法院关于适用《民法典》有关担保制度的解释(2020-12-31).md")
    mortgage = guarantee.article(46)
    assert mortgage.chapter_path == ["三、关于担保物权", "（二）不动产抵押"]
    assert all("不动产抵押" != p for p in guarantee.article(45).paragraphs)
    assert guarantee.article(45).chapter_path == ["三、关于担保物权", "（一）担保合同与担保物权的效力"]


def test_preamble_is_kept_as_a_section_not_as_an_article():
    lending = law("司法解释/最高人民法院关于审理民间借贷案件适用法律若干问题的规定(2020-12-29).md")
    assert lending.articles[0].number == 1
    assert lending.preamble.startswith("为正确审理民间借贷纠纷案件")
    assert lending.sections[0].path == [] and lending.sections[0].text == lending.preamble
    assert "第一条" not in lending.preamble


def test_a_reply_without_articles_comes_back_as_sections():
    reply = law("司法解释/最高人民法院关于对为索取法律不予保护的债务非法拘禁他人行为如何定罪问题的解释(2000-07-13).md")
    assert reply.articles == []
    assert "依照刑法第二百三十八条的规定定罪处罚" in reply.preamble
    assert reply.version_date == "2000-07-13"


def test_a_guiding_case_comes_back_as_sections_under_its_headings():
    _need(NATIONAL)
    case = next(iter(sorted((NATIONAL / "案例").rglob("*.md"))))
    statute = parse_statute(case.read_text(encoding="utf-8"), str(case))
    assert statute.articles == []
    assert len(statute.sections) >= 3
    assert all(s.paragraphs for s in statute.sections)
    assert sum(1 for s in statute.sections if s.heading) >= 2


def test_no_body_line_is_lost(pack):
    """Every non-empty body line is a heading, an article label line, or a paragraph of an article or section."""
    for name, statute in pack.items():
        text = (PACK / name).read_text(encoding="utf-8")
        body = text.split("<!-- INFO END -->", 1)[1]
        paragraphs = {p for a in statute.articles for p in a.paragraphs}
        paragraphs |= {p for s in statute.sections for p in s.paragraphs}
        paragraphs |= {h for a in statute.articles for h in a.chapter_path}
        labels = {a.label for a in statute.articles}
        for line in body.split("\n"):
            s = line.strip().replace("\u200b", "")
            if not s or s.startswith("#") or s.startswith("<!--"):
                continue
            head = ARTICLE_LINE.match(s)
            assert s in paragraphs or (head and s.split()[0] in labels) or any(s in h for h in paragraphs), (name, s)


# --------------------------------------------------------------------------------------------- counts


def test_article_counts_per_file_match_grep(pack):
    for name, statute in pack.items():
        text = (PACK / name).read_text(encoding="utf-8")
        assert len(statute.articles) == len(ARTICLE_GREP.findall(text)), name
        # the looser `grep -c '^第.*条'` counts at most a stray line more (第三人根据民事诉讼法第五十九条…)
        loose = len(re.findall(r"^第.*条", text, re.M))
        assert 0 <= loose - len(statute.articles) <= 1, name


def test_the_pack_holds_about_3550_articles_in_33_files(pack):
    assert len(pack) == 33
    total = sum(len(s.articles) for s in pack.values())
    assert 3400 <= total <= 3700
    assert len(law("刑法/刑法.md").articles) == 505
    assert len(law("民法典/合同编.md").articles) == 526


def test_no_article_has_an_empty_text(pack):
    for statute in pack.values():
        for article in statute.articles:
            assert article.text and article.paragraphs, (statute.title, article.label)


# --------------------------------------------------------------------------------------------- versions


def test_version_date_comes_from_the_file_name_when_it_has_one():
    assert law("行政法/个人信息保护法(2021-08-20).md").version_date == "2021-08-20"
    # the header's newest line is 2020-12-23 (the court's meeting); the file name's date is the version
    lending = law("司法解释/最高人民法院关于审理民间借贷案件适用法律若干问题的规定(2020-12-29).md")
    assert lending.version_date == "2020-12-29"


def test_version_date_without_a_file_date_is_the_newest_amendment_in_the_history():
    criminal = law("刑法/刑法.md")
    assert criminal.version_date == "2023-12-29"  # 刑法修正案（十二）
    assert len(criminal.history) == 16 and criminal.history[0].startswith("1979年7月1日")
    for book in ("总则", "合同编", "人格权编", "附则"):
        assert law(f"民法典/{book}.md").version_date == "2020-05-28"  # adopted; 2021-01-01 is commencement


def test_commencement_lines_are_not_versions():
    history = ["2020年5月28日 第十三届全国人民代表大会第三次会议通过", "2021年1月1日 施行"]
    assert version_date_from_history(history) == "2020-05-28"
    assert version_date_from_history(["2021年1月1日 施行"]) == "2021-01-01"  # better than nothing
    assert version_date_from_history(["最高人民法院发布"]) == ""
    assert version_date_from_history(["消费者权益保护典型案例", "最高人民法院发布", "2022-03-15"]) == "2022-03-15"


def test_law_key_groups_versions_of_one_law_and_separates_civil_code_books():
    _need(NATIONAL)
    company = [law(p, NATIONAL) for p in ("民法商法/公司法(2018-10-26).md", "民法商法/公司法(2023-12-29).md")]
    assert company[0].law_key == company[1].law_key == "中华人民共和国公司法"
    assert [c.version_date for c in company] == ["2018-10-26", "2023-12-29"]
    assert len(company[0].articles) != len(company[1].articles)  # the 2023 revision renumbered the law

    interpretations = sorted((NATIONAL / "司法解释").glob("最高人民法院关于适用《民事诉讼法》的解释(*).md"))
    assert len(interpretations) >= 2
    parsed = [law(str(p.relative_to(NATIONAL)), NATIONAL) for p in interpretations]
    assert len({p.law_key for p in parsed}) == 1
    assert len({p.version_date for p in parsed}) == len(parsed)

    books = [law(f"民法典/{b}.md") for b in ("总则", "合同编", "人格权编")]
    assert len({b.law_key for b in books}) == 3


def test_national_corpus_has_several_laws_with_several_versions():
    _need(NATIONAL)
    stems = [re.sub(r"\(\d{4}-\d{2}-\d{2}\)$", "", p.stem) for p in NATIONAL.rglob("*.md")]
    repeated = {s for s in stems if stems.count(s) > 1}
    assert len(repeated) >= 20


# --------------------------------------------------------------------------------------------- splitting


def test_a_long_article_splits_into_parts_under_the_limit_without_losing_text(pack):
    longest = max((a for s in pack.values() for a in s.articles), key=lambda a: len(a.text))
    assert len(longest.text) > 500
    parts = split_long_article(longest, 300)
    assert len(parts) >= 2
    assert all(len(p) <= 300 for p in parts)
    assert "".join(parts).replace("\n", "") == longest.text.replace("\n", "")


def test_a_short_article_is_one_part():
    article = law("民法典/合同编.md").article(465)
    assert split_long_article(article, 500) == [article.text]


def test_split_prefers_paragraph_boundaries_then_sentence_ends():
    article = Article("第一条", 1, 0, [], ["甲" * 200 + "。", "乙" * 200 + "；" + "丙" * 240 + "。", "丁" * 50])
    parts = split_long_article(article, 300)
    assert parts == ["甲" * 200 + "。", "乙" * 200 + "；", "丙" * 240 + "。\n" + "丁" * 50]
    assert split_long_article("戊" * 650, 300) == ["戊" * 300, "戊" * 300, "戊" * 50]  # no sentence end: cut


# --------------------------------------------------------------------------------------------- format


def test_is_statute_recognises_the_law_format_only(pack):
    assert all(is_statute((PACK / name).read_text(encoding="utf-8")) for name in pack)
    assert not is_statute("# 催收指南\n\n一、概述\n")  # a title but no INFO END marker
    assert not is_statute("---\nbookHidden: true\n---\n")  # front matter only
    assert not is_statute("")
    assert not is_statute("正文\n<!-- INFO END -->\n# 标题")


def test_front_matter_only_file_gives_a_statute_without_articles():
    statute = parse_statute("---\ntitle: 刑法\nbookHidden: true\n---\n", "刑法/_index.md")
    assert statute.articles == [] and statute.sections == []
    assert statute.title == "刑法"


def test_bare_chapter_headings_without_hashes_are_headings():
    text = "# 某某条例\n2001年1月1日 公布\n<!-- INFO END -->\n第一章 总则\n第一条 为了……\n第二章　附则\n第二条 本条例自公布之日起施行。\n"
    statute = parse_statute(text, "某某条例.md")
    assert [a.chapter_path for a in statute.articles] == [["第一章 总则"], ["第二章 附则"]]
    assert statute.version_date == "2001-01-01"


def test_odd_article_lines_and_windows_line_ends():
    text = "\ufeff# 某法\r\n<!-- INFO END -->\r\n第1条 阿拉伯数字。\r\n第二条\r\n标签独占一行。\r\n第十十条之 不是条文\r\n"
    statute = parse_statute(text, "")
    assert [(a.label, a.number, a.text) for a in statute.articles] == [
        ("第1条", 1, "阿拉伯数字。"), ("第二条", 2, "标签独占一行。\n第十十条之 不是条文")]


odd_pieces = st.sampled_from([
    "# 标题\n", "# 第二个标题\n", "<!-- INFO END -->\n", "## 第一章 总则\n", "### \n", "#\n", "第一条 ", "第二条之一 ",
    "第十万亿条 ", "第零条 ", "（一）", "（二）不动产抵押\n", "一、管辖\n", "\n", "\r\n", "\u200b", "。", "；", "---\n",
    "2020年13月40日 通过\n", "2021年1月1日 施行\n", "条", "之", "第", " ", "\u3000", "<!-- FORCE BREAK -->\n",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(odd_pieces, st.text(max_size=4)), max_size=40).map("".join), st.text(max_size=20))
def test_parsing_never_raises_on_odd_input(text, source):
    statute = parse_statute(text, source)
    assert isinstance(is_statute(text), bool)
    for article in statute.articles:
        assert article.number >= 0 and article.suffix >= 0
        assert article.label.startswith("第")
        for part in split_long_article(article, 7):
            assert len(part) <= 7
    assert isinstance(statute.preamble, str)


def test_parsing_non_text_does_not_raise():
    assert parse_statute(None, None).articles == []  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- numerals


@pytest.mark.parametrize("number, numeral", [
    (1, "一"), (10, "十"), (11, "十一"), (20, "二十"), (100, "一百"), (101, "一百零一"), (110, "一百一十"),
    (293, "二百九十三"), (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"), (1033, "一千零三十三"),
    (1100, "一千一百"), (1260, "一千二百六十"), (10000, "一万"), (10010, "一万零一十"), (100000, "十万"),
    (0, "零"),
])
def test_chinese_numerals_are_written_as_statutes_write_them(number, numeral):
    assert chinese_numeral(number) == numeral
    assert parse_chinese_numeral(numeral) == number


def test_chinese_numerals_round_trip_from_1_to_3000():
    for n in range(1, 3001):
        assert parse_chinese_numeral(chinese_numeral(n)) == n, n


def test_chinese_numerals_round_trip_for_large_numbers():
    for n in (10_001, 99_999, 100_010, 1_000_000, 12_345_678, 100_000_000, 100_000_010, 1_234_567_890):
        assert parse_chinese_numeral(chinese_numeral(n)) == n, n


@pytest.mark.parametrize("text, number", [
    ("两百", 200), ("兩千", 2000), ("一十", 10), ("二〇二〇", 2020), ("1033", 1033), ("１０３３", 1033),
    (" 二百九十三 ", 293), ("三", 3), ("零", 0),
])
def test_parse_chinese_numeral_accepts_variants(text, number):
    assert parse_chinese_numeral(text) == number


@pytest.mark.parametrize("text", ["", "条", "一千零三十三条", "abc", "1.5", "-3"])
def test_parse_chinese_numeral_rejects_what_is_not_a_numeral(text):
    with pytest.raises(ValueError):
        parse_chinese_numeral(text)


def test_no_chinese_numeral_for_negative_numbers():
    with pytest.raises(ValueError):
        chinese_numeral(-1)

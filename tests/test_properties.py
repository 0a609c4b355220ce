"""Properties that hold for any text, not just the shipped documents (hypothesis generates the inputs)."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clean import clean
from bot.language import detect
from bot.passages import split_passages

# Text shaped like the scrapes: Chinese, pinyin glosses, headings, numbers, contact data, odd punctuation.
pieces = st.sampled_from([
    "消費(fèi)金融", "催收", "。", ",", "\n", "一、概述\n", "1.1 背景\n", "2. 逾期提醒:", "??蛻粼", "QQ:12345678",
    "陳先生:15070879527 3590931873@qq.com", "電話 0371-12345678", "2024年", "(注:以上為示例文章)", " ", "上門",
    "a", "(ABC)", "您好!歡迎訪問逾期頻道!", "責任編輯:某某", "手机无码天天射", "借款人", "。\n",
])
scraped_text = st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=60).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scraped_text)
def test_cleaning_never_fails_and_never_lets_contact_data_through(text):
    doc = clean(text)
    assert not re.search(r"1[3-9]\d{9}", doc.text)
    assert "@qq.com" not in doc.text.lower()
    assert all(count >= 0 for count in doc.removed.values())


@settings(max_examples=300, deadline=None)
@given(scraped_text)
def test_passages_always_point_at_their_text_and_are_never_empty(text):
    doc = clean(text)
    for p in split_passages("doc", doc.title, doc.text, "doc.txt"):
        assert p.text.strip() and doc.text[p.start : p.end] == p.text


@given(st.text(max_size=200))
def test_language_detection_accepts_anything(text):
    assert detect(text) in ("en", "zh-Hans", "zh-Hant")


# Chinese pieces, some of them written Cantonese or Mandarin words that hold Cantonese letters.
chinese_pieces = st.sampled_from(["催收", "关系", "系统", "一点", "旁边", "人工客服", "仲裁", "唔", "佢哋", "咗", "系咪",
                                  "追数", "会", "，", "？", "我", "电话", "话", "a"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(chinese_pieces, st.text(max_size=3)), max_size=20))
def test_the_cantonese_reading_changes_only_text_with_a_marker_and_keeps_mandarin_words(pieces):
    from bot.dialect import default

    dialect = default()
    text = "".join(pieces)
    if not dialect.is_cantonese(text):
        assert dialect.to_standard(text) == text
    # A protected Mandarin word that stands as a word stays. (Run together, 唔系统 is read 不是统: in Cantonese that
    # is 唔係統一 "not uniform", so the longer match on the left is the right reading, not a broken word.)
    words = "，".join(pieces)
    read = dialect.to_standard(words)
    for word in ("关系", "系统", "人工客服", "仲裁"):
        assert read.count(word) >= sum(piece == word for piece in pieces)

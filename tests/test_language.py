"""The question's language decides the lead line, the abstention text and the script of quotes."""
import pytest

from bot.language import detect, in_script, normalize_for_match, to_mainland


@pytest.mark.parametrize(
    "question, language",
    [
        ("Can they visit my home?", "en"),
        ("催收可以威胁我吗", "zh-Hans"),
        ("還不起錢可以分期嗎", "zh-Hant"),
        ("催收人員會怎樣聯繫我", "zh-Hant"),
        ("中银消费金融是什么时候成立的", "zh-Hans"),
        ("Is 上门催收 legal in China?", "en"),
        ("催收打我APP里的联系人电话怎么办", "zh-Hans"),
    ],
)
def test_detects_english_simplified_and_traditional(question, language):
    assert detect(question) == language


def test_quotes_follow_the_script_of_the_question():
    source = "在客戶貸款逾期后,首先通過短信進行友好的提醒,用于還款。"  # scraped: Simplified 后 and 于 mixed in
    assert in_script(source, "zh-Hans") == "在客户贷款逾期后,首先通过短信进行友好的提醒,用于还款。"
    assert in_script(source, "zh-Hant") == "在客戶貸款逾期後,首先通過短信進行友好的提醒,用於還款。"
    assert in_script(source, "en") == source  # English readers see the original, with the lead line in English


def test_match_normalisation_ignores_script_width_and_spaces():
    assert normalize_for_match("上門 催收") == normalize_for_match("上门催收")


def test_a_traditional_question_is_read_in_mainland_words():
    # The statutes say 短信 and 网络; Taiwan says 簡訊 and 網路. Only the question side is read this way.
    assert to_mainland("討債的一直傳簡訊，還把我的照片貼到網路上") == "讨债的一直传短信，还把我的照片贴到网络上"

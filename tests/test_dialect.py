"""Hong Kong users type written Cantonese; the assistant reads it in the documents' Standard-Chinese words."""
import pytest

from bot.dialect import Dialect, default
from bot.language import to_simplified


def standard(question: str) -> str:
    return default().to_standard(to_simplified(question))


@pytest.mark.parametrize("question, reading", [
    ("佢哋話要告我，點算？", "他们话要告我，怎么办？"),
    ("追數公司成日打俾我阿媽，係咪犯法㗎？", "催收公司经常打给我阿妈，是不是犯法？"),
    ("我冇錢還卡數，會唔會坐監？", "我没有钱还信用卡欠款，会不会坐牢？"),
    ("財仔打電話去我屋企搵我老細", "贷款公司打电话去我家找我老板"),
])
def test_written_cantonese_is_read_in_standard_chinese(question, reading):
    assert standard(question) == reading


@pytest.mark.parametrize("question", [
    "我和他的关系一点都不好，他旁边的人会不会来找我",  # 关系, 一点, 旁边: Mandarin words with Cantonese letters in them
    "人工客服说可以申请仲裁吗",
    "催收可以威胁我吗",
    "還不起錢可以分期嗎",
])
def test_mandarin_is_never_rewritten(question):
    assert standard(question) == to_simplified(question)


def test_a_mandarin_word_inside_a_cantonese_question_is_protected():
    # 係 -> 是, but 關係 stays 关系; 人工 (wages) -> 工资, but 人工客服 stays
    assert standard("佢哋同我嘅關係唔好") == "他们同我的关系不好"
    assert standard("佢哋扣咗我人工，我打去人工客服") == "他们扣了我工资，我打去人工客服"


def test_a_table_reads_its_markers_and_deletions(tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text("# comment\n唔\t不\tmarker\n㗎\t-\n", encoding="utf-8")
    dialect = Dialect.load(table)
    assert dialect.to_standard("唔得㗎") == "不得"
    assert dialect.to_standard("得㗎") == "得㗎"  # no marker word: left alone


def test_retrieval_embeds_the_standard_reading_and_keeps_the_question(assistant):
    query = assistant.query("追數佬成日打去我屋企，係咪侵犯私隱？")
    assert query.text == "追數佬成日打去我屋企，係咪侵犯私隱？"  # answers and quotes follow the question as asked
    assert query.language == "zh-Hant"
    assert query.dense_text == query.standard == query.simplified == "催收佬经常打去我家，是不是侵犯隐私？"
    assert "隐私" in query.tokens and "私隐" not in query.tokens
    plain = assistant.query("催收可以打电话到我家吗")
    assert plain.standard == "" and plain.dense_text == plain.text


def test_an_operator_can_read_every_question_as_typed(shipped_settings):
    from bot.core import Assistant

    as_typed = Assistant.load(shipped_settings.model_copy(update={"read_cantonese": False}))
    query = as_typed.query("追數佬成日打去我屋企，係咪侵犯私隱？")
    assert query.standard == "" and query.dense_text == query.text

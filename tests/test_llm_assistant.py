"""The whole assistant with an LLM configured: the real index and chain, a fake OpenAI-compatible server."""
from __future__ import annotations

import pytest

from bot import prompts
from bot.core import Assistant
from bot.types import HistoryTurn
from tests.fake_openai import FakeOpenAI, Reply, closed_port_url, count_requests


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def llm_assistant(shipped_settings, base_url: str, **overrides) -> Assistant:
    settings = shipped_settings.model_copy(
        update={"llm_base_url": base_url, "llm_model": "fake", "llm_connect_timeout_s": 0.5,
                "llm_first_token_timeout_s": 1.0, "llm_total_timeout_s": 5.0, **overrides}
    )
    return Assistant.load(settings)


def test_a_grounded_llm_answer_keeps_its_verified_citations(shipped_settings, server):
    def reply(body):
        prompt = body["messages"][-1]["content"]
        # Answer from whichever numbered passage mentions home visits, citing that number.
        n = next(i for i in range(1, 6) if f"[{i}]" in prompt and "上門催收" in prompt.split(f"[{i}]", 1)[1][:200])
        return Reply(f"对于长期逾期的客户,催收机构可能会采取上门催收的方式[{n}]。")

    server.script = reply
    answer = llm_assistant(shipped_settings, server.base_url, llm_translate_queries=False).ask("催收员可以上门吗")
    assert answer.answerer == "llm" and not answer.abstained and not answer.fallback_reason
    assert answer.answer.startswith("对于长期逾期的客户") and "[1]" in answer.answer
    assert [c.n for c in answer.citations] == [1] and "上門催收" in answer.citations[0].text
    assert answer.answer.endswith(prompts.text("notice", "zh-Hans"))


def test_an_invented_answer_is_not_shown(shipped_settings, server):
    server.script = [Reply("根据规定,催收人员每天最多只能打三次电话[9]。")]
    answer = llm_assistant(shipped_settings, server.base_url, llm_translate_queries=False).ask("催收员可以上门吗")
    assert "三次" not in answer.answer
    assert answer.fallback_reason and answer.answerer == "extractive" and answer.citations


def test_an_endpoint_that_is_down_falls_back_to_the_extractive_answer_without_waiting(shipped_settings):
    # "Without waiting", counted rather than timed (the wall time of ask() is mostly retrieval, which a busy
    # machine slows down): the refused connection itself ends the attempt, so no deadline ran out (that would be
    # reason "timeout"); one request and no retries (max_retries=0; test_llm.py counts retries on a live server);
    # and afterwards the circuit breaker skips the endpoint without a request.
    assistant = llm_assistant(shipped_settings, closed_port_url())
    chat = count_requests(assistant.answerer.endpoint)
    answer = assistant.ask("催收可以威胁我吗")
    assert answer.answerer == "extractive" and answer.fallback_reason == "connection"
    assert answer.answer.startswith(prompts.text("llm_fallback", "zh-Hans")) and answer.citations
    assert chat.requests == 1 and chat.max_retries == 0
    again = assistant.ask("催收可以上门吗")
    assert again.answerer == "extractive" and again.fallback_reason == "connection" and again.citations
    assert chat.requests == 1  # skipped: the endpoint failed moments ago


def test_follow_ups_are_rewritten_by_the_llm_before_retrieval(shipped_settings, server):
    def reply(body):
        system = body["messages"][0]["content"]
        if "standalone" in system.lower() or "独立" in system:
            return Reply("如果我不在家,催收人员会上门催收吗?", chunk_size=100)
        return Reply("CANNOT_ANSWER")

    server.script = reply
    history = [HistoryTurn(role="user", content="催收可以上门吗"), HistoryTurn(role="assistant", content="…")]
    answer = llm_assistant(shipped_settings, server.base_url).ask("那如果我不在家呢", history)
    assert answer.standalone_question == "如果我不在家,催收人员会上门催收吗?"
    assert answer.abstained  # the model said the passages do not answer: the assistant says so

"""LLM answers through any OpenAI-compatible endpoint, with verified citations (optional backend).

    answerer, rewriter = make_llm_components(settings, extractive, similarity)   # when settings.llm_enabled
    for event in answerer.stream(question, language, hits): ...

One job per module:
    endpoint.py   transport: ChatOpenAI streaming in a worker thread, deadlines, circuit breaker, LLMUnavailable
    templates.py  prompts/llm_*.md: loaded and field-checked at start-up, filled in per request, data sanitised
    verify.py     sentences cut from the streamed text, [n] markers, the per-sentence citation verifier
    answerer.py   LLMAnswerer: streams verified sentences; abstains, or falls back to the extractive answerer
    rewriter.py   LLMQueryRewriter: standalone follow-ups and English->Chinese retrieval queries, best effort
"""
from __future__ import annotations

from bot.answerers import Answerer, QueryRewriter
from bot.llm.answerer import LLMAnswerer
from bot.llm.endpoint import Endpoint, LLMUnavailable
from bot.llm.rewriter import LLMQueryRewriter
from bot.llm.templates import SENTINEL, PromptTemplateError
from bot.llm.verify import Similarity, containment, split_sentences
from bot.rewrite import SimpleQueryRewriter
from bot.settings import Settings

__all__ = [
    "SENTINEL",
    "Endpoint",
    "LLMAnswerer",
    "LLMQueryRewriter",
    "LLMUnavailable",
    "PromptTemplateError",
    "Similarity",
    "containment",
    "make_llm_components",
    "split_sentences",
]


def make_llm_components(
    settings: Settings, extractive: Answerer, similarity: Similarity | None = None
) -> tuple[Answerer, QueryRewriter]:
    """The LLM answerer (falling back to `extractive`) and rewriter, sharing one endpoint and its circuit breaker.

    `similarity(sentence, passage_text)` should be cosine(e5.query(sentence), e5.passage(passage_text)), the scale
    SIM_SUPPORT_* were calibrated on; None verifies by lexical overlap only (English answers then fall back).
    Raises PromptTemplateError (a BotError) when a prompts/llm_*.md template is broken, before any request.
    """
    endpoint = Endpoint(settings)
    return (
        LLMAnswerer(settings, extractive, similarity, endpoint=endpoint),
        LLMQueryRewriter(settings, SimpleQueryRewriter(), endpoint=endpoint),
    )

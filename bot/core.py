"""The assistant: one object that the CLI, the web app and the API all use.

    assistant = Assistant.load(settings)        # loads the built index; raises IndexNotReady with advice
    assistant.search("催收可以威胁我吗", k=5)    # -> list[Hit]
    assistant.ask("Can they visit my home?")    # -> Answer
    for event in assistant.stream(question, history):   # -> StreamEvent: text deltas, then one "done"
        ...

Internally a LangChain (LCEL) chain: standalone question -> retrieve -> select evidence -> answer. The
answer step is a backend (extractive by default, LLM when configured) behind bot.answerers.Answerer, so an
LLM answerer replaces the extractive one without touching retrieval.
"""
from __future__ import annotations

import time
from functools import lru_cache
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bot.types import Answer, Hit, HistoryTurn, SearchResult, StreamEvent, final_answer

if TYPE_CHECKING:
    from bot.settings import Settings


class BotError(Exception):
    """An error a user can cause or fix; its message says what to do. Never shown as a traceback."""


class IndexNotReady(BotError):
    """The index is missing, partial, corrupt or built with another embedding model."""


class BadQuestion(BotError):
    """Empty or otherwise unusable question."""


class Assistant:
    def __init__(self, settings: Settings, stored: Any, embeddings: Any) -> None:
        from langchain_core.runnables import RunnableGenerator, RunnableLambda

        from bot.evidence import EvidenceGate
        from bot.extractive import ExtractiveAnswerer
        from bot.retrieve import HybridRetriever
        from bot.rewrite import SimpleQueryRewriter

        self.settings = settings
        self.stored = stored
        self.embeddings = embeddings
        self.retriever = HybridRetriever(stored, embeddings, settings)
        self.extractive = ExtractiveAnswerer(
            self.retriever.query_terms, self.retriever.idf, max_sentences=settings.answer_max_sentences
        )
        self.gate = EvidenceGate(self.retriever, settings)
        self.answerer: Any = self.extractive
        self.rewriter: Any = SimpleQueryRewriter()
        if settings.llm_enabled:
            from bot.llm import make_llm_components

            self.answerer, self.rewriter = make_llm_components(settings, self.extractive, self.similarity)

        self._row_of_text = {p.text: i for i, p in enumerate(stored.passages)}
        self._sentence_vector = lru_cache(maxsize=512)(embeddings.embed_query_array)

        # The pipeline as an LCEL chain; each step reads the state dict and returns it extended by one key.
        # (Plain lambdas in sequence, not RunnablePassthrough.assign: assign runs each step in a thread pool,
        # which cost milliseconds per question and latency spikes under concurrent load.)
        self.retrieval_chain = (
            RunnableLambda(_extend("standalone", self._standalone))
            | RunnableLambda(_extend("hits", self._retrieve))
            | RunnableLambda(_extend("evidence", self._select_evidence))
        )
        self.chain = self.retrieval_chain | RunnableGenerator(self._answer)

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings | None = None) -> Assistant:
        from bot import index as index_store
        from bot import prompts
        from bot.embeddings import expected_model_id, load_embeddings
        from bot.settings import Settings

        settings = settings or Settings()
        prompts.check(settings.prompts_dir)
        stored = index_store.load(settings.index_dir, expected_model_id(settings))
        return cls(settings, stored, load_embeddings(settings))

    # -- public API -----------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None) -> list[Hit]:
        question, _ = self._check(question)
        return self.retriever.search(question, k or self.settings.top_k)

    def search_results(self, question: str, k: int | None = None) -> list[SearchResult]:
        return [SearchResult.from_hit(h) for h in self.search(question, k)]

    def ask(self, question: str, history: Sequence[HistoryTurn] = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: Sequence[HistoryTurn] = ()) -> Iterator[StreamEvent]:
        from bot import prompts
        from bot.language import detect

        started = time.perf_counter()
        question, truncated = self._check(question)
        language = detect(question)
        state = {"question": question, "language": language, "history": list(history), "timings": {}}
        if truncated:
            yield StreamEvent(
                kind="delta", text=prompts.text("truncated", language, limit=self.settings.max_question_chars) + "\n"
            )
        for event in self.chain.stream(state):
            if event.kind == "done" and event.answer is not None:
                answer = event.answer
                answer.timings_ms = {**state["timings"], **answer.timings_ms,
                                     "total": round((time.perf_counter() - started) * 1000, 2)}
                if truncated:
                    answer.answer = prompts.text("truncated", language, limit=self.settings.max_question_chars) \
                        + "\n" + answer.answer
            yield event

    def similarity(self, sentence: str, passage_text: str) -> float:
        """Cosine between a sentence (query side) and a passage (multilingual: an English sentence vs Chinese).

        Used by the LLM answerer to check that a cited passage supports a sentence. Indexed passages reuse
        their stored vectors; sentence vectors are memoised, since one answer checks a sentence repeatedly.
        """
        row = self._row_of_text.get(passage_text)
        if row is not None:
            passage_vector = self.retriever.matrix[row]
        else:
            passage_vector = self.embeddings.embed_passages_array([passage_text])[0]
        return float(self._sentence_vector(sentence) @ passage_vector)

    def health(self) -> dict[str, Any]:
        docs = [d for d in self.stored.manifest.get("documents", {}).values() if not d.get("skipped")]
        return {
            "status": "ok",
            "documents": len(docs),
            "passages": len(self.stored.passages),
            "model": self.stored.model_id,
            "answerer": self.answerer.name,
            "built_at": self.stored.manifest.get("built_at", ""),
        }

    # -- chain steps -----------------------------------------------------------------------------------
    def _check(self, question: Any) -> tuple[str, bool]:
        if not isinstance(question, str) or not question.strip():
            raise BadQuestion("The question is empty: type a question, e.g. “Can a debt collector visit my home?”")
        question = question.strip()
        limit = self.settings.max_question_chars
        return (question[:limit], True) if len(question) > limit else (question, False)

    def _standalone(self, state: dict) -> str:
        t = time.perf_counter()
        standalone = self.rewriter.standalone(state["question"], state["history"]) if state["history"] else state["question"]
        state["timings"]["rewrite"] = round((time.perf_counter() - t) * 1000, 2)
        return standalone

    def _retrieve(self, state: dict) -> list[Hit]:
        t = time.perf_counter()
        extra = self.rewriter.retrieval_queries(state["standalone"], state["language"])
        hits = self.retriever.search(state["standalone"], self.settings.top_k, state["language"], extra)
        state["timings"]["retrieve"] = round((time.perf_counter() - t) * 1000, 2)
        return hits

    def _select_evidence(self, state: dict) -> list[Hit]:
        """The hits the answer may use; empty when the documents do not cover the question (abstain)."""
        return state["hits"] if self.gate.covered(state["standalone"], state["language"], state["hits"]) else []

    def _answer(self, states: Iterator[dict]) -> Iterator[StreamEvent]:
        from bot.extractive import abstention

        state: dict = {}
        for piece in states:  # one piece: the retrieval steps do not stream
            state.update(piece)
        t = time.perf_counter()
        if not state["evidence"]:
            answer = abstention(state["question"], state["language"])
            yield StreamEvent(kind="delta", text=answer.answer)
            events: Iterator[StreamEvent] = iter([StreamEvent(kind="done", answer=answer)])
        else:
            events = self.answerer.stream(state["standalone"], state["language"], state["evidence"])
        for event in events:
            if event.kind == "done" and event.answer is not None:
                event.answer.question = state["question"]
                if state["standalone"] != state["question"]:
                    event.answer.standalone_question = state["standalone"]
                state["timings"]["answer"] = round((time.perf_counter() - t) * 1000, 2)
            yield event


def _extend(key: str, step):
    """A chain step that adds `step(state)` to the state under `key`."""

    def run(state: dict) -> dict:
        return {**state, key: step(state)}

    run.__name__ = key
    return run

"""The assistant: one object that the CLI, the web app and the API all use.

    assistant = Assistant.load(settings)        # loads the built index; raises IndexNotReady with advice
    assistant.search("催收可以威胁我吗", k=5)    # -> list[Hit], through the same retrieval path as ask
    assistant.ask("Can they visit my home?")    # -> Answer
    for event in assistant.stream(question, history):   # -> StreamEvent: text deltas, then one "done"
        ...

Internally a LangChain (LCEL) chain over one typed state (`Turn`): standalone question -> Query -> retrieve ->
select evidence -> answer. The Query (bot.query) is built once; every later step reads it. The answer step is
a backend (extractive by default, LLM when configured) behind bot.answerers.Answerer, so an LLM answerer
replaces the extractive one without touching retrieval.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from langchain_core.runnables import RunnableGenerator, RunnableLambda

from bot import index as index_store
from bot.answerability import answerability_for
from bot.corpus import Corpus
from bot.embeddings import EmbeddingBackend, expected_model_id, load_embeddings
from bot.errors import BadQuestion, BotError, IndexNotReady  # noqa: F401  (re-exported for callers)
from bot.evidence import EvidenceGate
from bot.extractive import ExtractiveAnswerer, abstention
from bot.renderings import Renderings
from bot.language import detect
from bot.memory import QuestionMemory
from bot.prompts import Strings
from bot.query import Query
from bot import rerank
from bot.retrieve import HybridRetriever
from bot.rewrite import SimpleQueryRewriter
from bot.settings import Settings
from bot.types import Answer, Hit, HistoryTurn, SearchResult, StreamEvent, final_answer


@dataclass
class Turn:
    """What the chain carries for one question; each step fills in its own field."""

    question: str  # as asked (trimmed, truncated)
    language: Any
    history: list[HistoryTurn]
    standalone: str = ""  # the question made standalone (follow-ups rewritten)
    query: Query | None = None
    hits: list[Hit] = field(default_factory=list)
    query_vector: Any = None  # the question's embedding, as retrieval computed it (the answerability model reads it)
    evidence: list[Hit] = field(default_factory=list)  # the hits the answer may use; empty: abstain
    timings: dict[str, float] = field(default_factory=dict)


class Assistant:
    def __init__(self, settings: Settings, stored: index_store.StoredIndex, embeddings: EmbeddingBackend) -> None:
        self.settings = settings
        self.stored = stored
        self.embeddings = embeddings
        self.strings = Strings(settings.prompts_dir)
        renderings = Renderings(stored.renderings)
        self.corpus = Corpus(stored.tokens, stored.lexicon, settings.own_words_weight,
                             [renderings.text_of(p.text) for p in stored.passages] if stored.renderings else (),
                             lexical=stored.bm25, read_cantonese=settings.read_cantonese)
        memory = None
        if settings.question_memory and stored.memory:
            chapter_of: dict[tuple, str] = {}
            text_of: dict[tuple, str] = {}
            for p in stored.passages:
                chapter_of[p.memory_key] = p.section
                text_of[p.memory_key] = text_of.get(p.memory_key, "") + p.text  # an article's parts, in order
            memory = QuestionMemory(stored.memory, stored.memory_vectors, chapter_of, settings.memory_proposers,
                                    text_of)
        self.memory = memory
        self.retriever = HybridRetriever(stored, self.corpus, embeddings, settings, memory,
                                         rerank.load() if memory and not settings.fit_reranker else None)
        self.extractive = ExtractiveAnswerer(self.corpus.idf, self.strings, max_sentences=settings.answer_max_sentences,
                                             renderings=renderings)
        self.gate = EvidenceGate(self.corpus, settings, memory,
                                 answerability_for(settings, embeddings, self.retriever.memory))
        self.answerer: Any = self.extractive
        self.rewriter: Any = SimpleQueryRewriter()
        if settings.llm_enabled:
            from bot.llm import make_llm_components

            self.answerer, self.rewriter = make_llm_components(settings, self.extractive, self.similarity)

        self._sentence_vector = lru_cache(maxsize=512)(embeddings.embed_query_array)

        # The pipeline as an LCEL chain of plain steps over one Turn. (Not RunnablePassthrough.assign: assign
        # runs each step in a thread pool, which cost milliseconds per question and latency spikes under load.)
        self.retrieval_chain = (
            RunnableLambda(self._standalone) | RunnableLambda(self._retrieve) | RunnableLambda(self._select_evidence)
        )
        self.chain = self.retrieval_chain | RunnableGenerator(self._answer)

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: Settings | None = None, embeddings: EmbeddingBackend | None = None,
             stored: Callable[[], index_store.StoredIndex] | None = None) -> Assistant:
        """The assistant over the version index/CURRENT names now. `embeddings`: a model already loaded (a
        serving process switching versions reuses its own), else the configured one is loaded. `stored`: gives
        what read_index() read (app.py reads the index in a thread while it imports the web stack)."""
        settings = settings or Settings()
        Strings(settings.prompts_dir).check()
        stored = stored() if stored is not None else cls.read_index(settings, embeddings)
        return cls(settings, stored, embeddings if embeddings is not None else load_embeddings(settings))

    @staticmethod
    def read_index(settings: Settings, embeddings: EmbeddingBackend | None = None) -> index_store.StoredIndex:
        """The files of the version index/CURRENT names, as load() needs them (IndexNotReady if unusable).
        Reads and parses only (the modules it uses are imported with this one): app.py runs it in a thread
        while its own thread imports the web stack."""
        # The tokens only when something needs them beyond BM25 (stored with the version): Milvus syncs them.
        return index_store.load(settings.index_dir,
                                embeddings.model_id if embeddings is not None else expected_model_id(settings),
                                tokens=settings.vector_store != "faiss")

    @property
    def index_version(self) -> str:
        """The version folder this assistant answers from (everything it needs was read into memory at load:
        it keeps answering after ingest deletes the folder)."""
        return self.stored.path.name

    # -- public API -----------------------------------------------------------------------------------
    def query(self, question: str, language=None) -> Query:
        """The typed Query for a standalone question, with any extra retrieval queries (LLM translation)."""
        query = self.corpus.query(question, language)
        extra = self.rewriter.retrieval_queries(question, query.language)
        return query.with_extra_queries(extra) if extra else query

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The passages `ask` would retrieve for `question` (asked on its own), best first."""
        question, _ = self._check(question)
        return self.retriever.retrieve(self.query(question), k or self.settings.top_k)

    def search_results(self, question: str, k: int | None = None) -> list[SearchResult]:
        return [SearchResult.from_hit(h) for h in self.search(question, k)]

    def ask(self, question: str, history: Sequence[HistoryTurn] = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: Sequence[HistoryTurn] = ()) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        question, truncated = self._check(question)
        language = detect(question)
        turn = Turn(question=question, language=language, history=list(history))
        truncated_notice = self.strings.text("truncated", language, limit=self.settings.max_question_chars)
        if truncated:
            yield StreamEvent(kind="delta", text=truncated_notice + "\n")
        for event in self.chain.stream(turn):
            if event.kind == "done" and event.answer is not None:
                answer = event.answer
                answer.timings_ms = {**turn.timings, **answer.timings_ms,
                                     "total": round((time.perf_counter() - started) * 1000, 2)}
                if truncated:
                    answer.answer = truncated_notice + "\n" + answer.answer
            yield event

    def exclude_from_memory(self, questions) -> None:
        """Leave these questions (by text) out of the memory's votes and vocabulary (held-out evaluation)."""
        if self.memory is not None:
            self.memory.exclude(list(questions))

    def similarity(self, sentence: str, passage_text: str) -> float:
        """Cosine between a sentence (query side) and a passage (multilingual: an English sentence vs Chinese).

        Used by the LLM answerer to check that a cited passage supports a sentence. Indexed passages reuse
        their stored vectors; sentence vectors are memoised, since one answer checks a sentence repeatedly.
        """
        passage_vector = self.retriever.passage_vector(passage_text)
        if passage_vector is None:
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
            "index_version": self.index_version,
        }

    # -- chain steps -----------------------------------------------------------------------------------
    def _check(self, question: Any) -> tuple[str, bool]:
        if not isinstance(question, str) or not question.strip():
            raise BadQuestion("The question is empty: type a question, e.g. “Can a debt collector visit my home?”")
        question = question.strip()
        limit = self.settings.max_question_chars
        return (question[:limit], True) if len(question) > limit else (question, False)

    def _standalone(self, turn: Turn) -> Turn:
        t = time.perf_counter()
        turn.standalone = self.rewriter.standalone(turn.question, turn.history) if turn.history else turn.question
        turn.timings["rewrite"] = round((time.perf_counter() - t) * 1000, 2)
        return turn

    def _retrieve(self, turn: Turn) -> Turn:
        t = time.perf_counter()
        turn.query = self.query(turn.standalone, turn.language)
        said = "\n".join(h.content for h in turn.history if h.role == "assistant")
        if said:
            turn.query = replace(turn.query, said=said)
        if turn.standalone != turn.question:  # a follow-up: its own words decide what is new to say
            turn.query = replace(turn.query, focus=self.corpus.terms(turn.question, turn.language))
        turn.hits, turn.query_vector = self.retriever.retrieve_with_vector(turn.query, self.settings.top_k)
        turn.timings["retrieve"] = round((time.perf_counter() - t) * 1000, 2)
        return turn

    def _select_evidence(self, turn: Turn) -> Turn:
        """The hits the answer may use; none when the documents do not cover the question (abstain)."""
        turn.evidence = turn.hits if self.gate.covered(turn.query, turn.hits, turn.query_vector) else []
        return turn

    def _answer(self, turns: Iterator[Turn]) -> Iterator[StreamEvent]:
        turn = None
        for turn in turns:  # one item: the retrieval steps do not stream
            pass
        assert turn is not None and turn.query is not None
        t = time.perf_counter()
        if not turn.evidence:
            answer = abstention(turn.question, turn.language, self.strings)
            yield StreamEvent(kind="delta", text=answer.answer)
            events: Iterator[StreamEvent] = iter([StreamEvent(kind="done", answer=answer)])
        else:
            events = self.answerer.stream(turn.query, turn.evidence)
        for event in events:
            if event.kind == "done" and event.answer is not None:
                event.answer.question = turn.question
                if turn.standalone != turn.question:
                    event.answer.standalone_question = turn.standalone
                turn.timings["answer"] = round((time.perf_counter() - t) * 1000, 2)
            yield event

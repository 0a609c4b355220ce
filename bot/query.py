"""A question as the pipeline sees it: built once from the user's text, then read by every stage.

    query = corpus.query("催收可以上門嗎")      # bot.corpus.Corpus builds it (expansion needs the corpus)
    retriever.retrieve(query, k)  ->  gate.covered(query, hits)  ->  answerer.stream(query, hits)

Everything derived from the text (language, Simplified form, words, expanded BM25 terms, a named article)
is computed here once, so no stage converts scripts or tokenises the question again.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.types import Language


@dataclass(frozen=True)
class Query:
    text: str  # the question as asked (trimmed, truncated to the configured maximum)
    language: Language
    simplified: str  # Simplified script, Taiwan phrases and written Cantonese in mainland words (English unchanged)
    tokens: tuple[str, ...]  # content words of `simplified` (bot.lexical.tokenize), repeats kept
    terms: tuple[str, ...]  # what BM25 looks for: own words + thesaurus words, or the English expansion
    extra_queries: tuple[str, ...] = field(default=())  # e.g. an LLM's Chinese translation of an English question
    article: object | None = None  # an article the question names (bot.citation.ArticleRef), if any
    said: str = ""  # what the assistant already answered in this conversation: a follow-up is not answered again
    focus: tuple[str, ...] = ()  # a follow-up's own BM25 terms ("and at night?" -> 晚上...): quotes must bear on them
    standard: str = ""  # `simplified` when it differs from the question's plain t2s conversion (Taiwan phrases,
    # written Cantonese: bot.language.to_mainland, bot.dialect), "" otherwise

    @property
    def dense_text(self) -> str:
        """What the embedding model reads: the question as asked, or its Standard-Chinese form."""
        return self.standard or self.text

    def with_extra_queries(self, extra: tuple[str, ...] | list[str]) -> Query:
        return replace(self, extra_queries=tuple(extra))

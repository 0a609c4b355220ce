"""What the index knows about its own words: vocabulary, IDF, the English lexicon and the colloquial thesaurus.

The retriever, the evidence gate and the extractive answerer ask the Corpus, through these methods, instead of
reaching into each other's attributes. The Corpus also builds the typed Query (bot.query), because expanding
a question (thesaurus words the corpus uses, English words mapped to corpus words) needs the corpus.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.citation import find_article_ref
from bot.crosslingual import EnglishExpander, content_lemmas
from bot import dialect
from bot.language import detect, to_mainland, to_simplified
from bot.lexical import LexicalIndex, idf_from_counts, idf_table, tokenize_simplified
from bot.query import Query
from bot.thesaurus import Thesaurus
from bot.types import Language


class Corpus:
    def __init__(self, tokens: Sequence[Sequence[str]] | None, lexicon: dict[str, list[str]], own_words_weight: int = 1,
                 english_texts: Sequence[str] = (), lexical: LexicalIndex | None = None,
                 read_cantonese: bool = True) -> None:
        """`lexical`: the BM25 index stored with the index version (StoredIndex.bm25); without it, BM25 is built
        from `tokens` here (seconds on a large corpus). Either way the same vocabulary, IDF and scores."""
        if lexical is not None:
            self._lexical = lexical
            self._idf = idf_from_counts(lexical.document_frequencies(), lexical.size)
        elif tokens is not None:
            self._lexical = LexicalIndex(tokens)
            self._idf = idf_table(tokens)
        else:
            raise ValueError("Corpus needs the passages' tokens or their stored BM25 index")
        self._vocabulary = self._lexical.vocabulary
        self._lexicon = lexicon
        self._expander = EnglishExpander(lexicon)
        self._thesaurus = Thesaurus.load(self._vocabulary)
        self._own_words_weight = own_words_weight
        self._dialect = dialect.default() if read_cantonese else dialect.NONE
        # The passages' stored English renderings ("" where none), for English questions (bot.renderings).
        self._english = LexicalIndex([content_lemmas(t) for t in english_texts]) if any(english_texts) else None

    # -- the question -----------------------------------------------------------------------------------
    def query(self, text: str, language: Language | None = None) -> Query:
        """The typed Query for `text`: language, Simplified text, words and BM25 terms, computed once."""
        language = language or detect(text)
        plain = to_simplified(text)
        simplified = text if language == "en" else self._read(text, language)
        tokens = tokenize_simplified(plain if language == "en" else simplified)
        standard = simplified if language != "en" and simplified != plain else ""
        return Query(text=text, language=language, simplified=simplified, tokens=tuple(tokens),
                     terms=tuple(self._terms(text, language, simplified, tokens)), article=find_article_ref(text),
                     standard=standard)

    def terms(self, text: str, language: Language) -> tuple[str, ...]:
        """Only the BM25 terms of `text` (what `query(text).terms` would be), without the rest of a Query."""
        simplified = text if language == "en" else self._read(text, language)
        tokens = [] if language == "en" else tokenize_simplified(simplified)
        return tuple(self._terms(text, language, simplified, tokens))

    def _read(self, text: str, language: Language) -> str:
        """How a Chinese question is read for retrieval: Simplified script, a Traditional one's Taiwan phrases in
        mainland words, written Cantonese in Standard-Chinese words."""
        return self._dialect.to_standard(to_mainland(text) if language == "zh-Hant" else to_simplified(text))

    def _terms(self, text: str, language: Language, simplified: str, tokens: list[str]) -> list[str]:
        if language == "en":
            return self._expander.expand(text)
        # Thesaurus words join the question's own (which can be weighted up with own_words_weight).
        return tokens * self._own_words_weight + [w for w in self._thesaurus.expand(simplified) if w not in tokens]

    # -- words --------------------------------------------------------------------------------------------
    def knows(self, word: str) -> bool:
        """Whether a passage of the corpus contains `word` (a BM25 token)."""
        return word in self._vocabulary

    def idf(self, word: str, default: float = 1.0) -> float:
        return self._idf.get(word, default)

    def explained_words(self, simplified: str) -> list[str]:
        """The colloquial words of `simplified` that the thesaurus maps to document words."""
        return self._thesaurus.triggers_in(simplified)

    def unmapped_english(self, text: str) -> tuple[list[str], int]:
        """English content words (lemmas) of `text` that the lexicon maps to no corpus word, and how many there are."""
        lemmas = content_lemmas(text, self._lexicon)  # known words guide lemmatising ("handled" -> handle)
        return [w for w in lemmas if not self._lexicon.get(w)], len(lemmas)

    # -- BM25 ---------------------------------------------------------------------------------------------
    def bm25_english(self, text: str) -> np.ndarray | None:
        """BM25 of an English question's content words over the passages' English renderings; None without any."""
        if self._english is None:
            return None
        return self._english.scores(content_lemmas(text))

    def bm25(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for the query words `terms` (zeros when none occurs in the corpus)."""
        return self._lexical.scores(terms)

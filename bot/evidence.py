"""Does the retrieved evidence cover the question? If not, the assistant abstains instead of guessing.

Two signals, both cheap (computed from what retrieval already did):
- dense: cosine similarity between the question and the best passage (multilingual e5);
- lexical: the share of the question's content words (IDF-weighted, Simplified) that the best passages
  contain. A question about something the documents never mention ("利率上限", "同事") leaves its most
  specific words unmatched.
Thresholds are calibrated on the dev set (see README, "Abstention"); they are settings, not constants.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.lexical import idf_table, tokenize
from bot.types import Hit, Language


@dataclass
class Coverage:
    dense: float  # best question-passage cosine among the hits
    lexical: float  # IDF share of question words found in the top passages (0..1); -1 when not measurable
    missing: list[str]  # question words absent from the whole corpus


class EvidenceGate:
    def __init__(self, retriever, settings) -> None:
        self.retriever = retriever
        self.settings = settings
        self.idf = retriever.idf
        self.vocabulary = retriever.lexical.vocabulary

    def coverage(self, question: str, language: Language, hits: Sequence[Hit]) -> Coverage:
        dense = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
        terms = set(self.retriever.query_terms(question, language)) if language != "en" else set()
        if not terms:
            return Coverage(dense, -1.0, [])
        top_words: set[str] = set()
        for hit in hits[:3]:
            top_words |= set(tokenize(hit.passage.section + " " + hit.passage.text))
        unseen = self._unseen_weight()
        total = sum(self.idf.get(t, unseen) for t in terms)
        found = sum(self.idf.get(t, unseen) for t in terms & top_words)
        missing = sorted(t for t in terms if t not in self.vocabulary)
        return Coverage(dense, found / total if total else -1.0, missing)

    def covered(self, question: str, language: Language, hits: Sequence[Hit]) -> bool:
        if not hits:
            return False
        c = self.coverage(question, language, hits)
        s = self.settings
        if c.dense < s.abstain_min_dense:
            return False
        if c.lexical >= 0 and c.lexical < s.abstain_min_lexical and c.dense < s.abstain_confident_dense:
            return False
        return True

    def _unseen_weight(self) -> float:
        # A word the corpus never uses is at least as telling as its rarest word.
        return max(self.idf.values(), default=1.0)

"""Question memory: real legal questions with the articles that answer them, as evidence for ranking.

People ask about the same articles again and again, in words far from the statute's. A new question that is
close (in the embedding space) to remembered questions gets their articles, and the articles' chapters and
laws, as ranking features (bot.rerank): nearest-neighbour votes, learned from data rather than word lists.

    bot/data/legal_questions.jsonl   {"id", "q", "articles": ["中华人民共和国民法典第一千零三十三条", ...]}

Four files ship (QUESTION_FILES), one schema:
    legal_questions.jsonl     STARD's training split (THUIR 2024, MIT licence: bot/data/LICENSE-STARD.txt),
                              restricted to the borrower-rights pack: formal questions in Simplified Chinese.
    borrower_questions.jsonl  borrowers' questions as people type them, in English, Simplified and Traditional
                              Chinese (colloquial, typos, Taiwan/HK wording), written article by article for the
                              pack's borrower-relevant articles ("doc2query" by hand; bot/data/README.md says how,
                              and that no evaluation question was seen while writing them). They carry "lang".
    article_questions.jsonl   doc2query for every article of the pack: plain, back-story, consultation-style and
                              other-party questions in Simplified Chinese, and everyday English and Taiwan/HK
                              Traditional ones, written from each article's text, so
                              an article nobody has asked about yet still has questions near the ones people ask.
    passage_questions.jsonl   the same for the passages of the five articles shipped in docs/ (not statutes):
                              {"q", "passages": [[doc_id, quote]]}; a quote names the passage that holds it, so a
                              question survives a re-splitting of its document. Without them, only statutes had
                              questions, and law outranked the articles' passages on what the articles answer.
At ingest, each article name is resolved to an article of the index
(`resolve`), and each question is embedded once; both are stored with the index (memory.jsonl, memory.npy).
An operator can add their own answered questions to the file.

The shipped questions' vectors for the default model ship too (SHIPPED_VECTORS: float16, one key a line, keyed
like the embedding cache by model id and text), so a first ingest embeds the documents, not thousands of
remembered questions; a question without a shipped vector (an operator's, another model) is embedded at ingest.
`scripts/embed_question_memory.py` refreshes them after the question files change.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.embedding_cache import text_key
from bot.language import normalize_for_match
from bot.lexical import LexicalIndex, tokenize
from bot.statutes import normalize_title, parse_chinese_numeral
from bot.types import Passage

_DATA = Path(__file__).resolve().parent / "data"
QUESTION_FILES = (_DATA / "legal_questions.jsonl", _DATA / "borrower_questions.jsonl",
                  _DATA / "article_questions.jsonl", _DATA / "passage_questions.jsonl")
SHIPPED_VECTORS = (_DATA / "question_vectors.npy", _DATA / "question_vectors.keys")
# The files of questions written for every article (and every passage of the other documents), whoever asks
# about it: they vote apart from the questions people asked (or were written for what borrowers ask), and count
# in no article's popularity (prior).
COVERAGE_SOURCES = frozenset({"article_questions", "passage_questions"})
_SCHEMA = b"source-v2"  # what resolve() stores; in the fingerprint, so a new schema re-resolves the memory
# Remembered questions that vote (5-fold on the fit data, benchmarks/fit_reranker.py, STARD success@5): 6, 10, 14,
# 20, 30 neighbours gave 0.824, 0.843, 0.830, 0.832, 0.835 with the 15,000-question memory; 7, 10, 14, 20 gave
# 0.834, 0.842, 0.833, 0.824 with the 22,000-question one (three languages, the five articles' passages).
NEIGHBOURS = 10
TEMPERATURE = 0.05  # a neighbour's vote: exp((cosine - 1) / TEMPERATURE); 0.95 -> 0.37, 0.90 -> 0.14
_ARTICLE_NAME = re.compile(r"^(?P<law>.+?)第(?P<num>[零〇一二三四五六七八九十百千万两0-9]+)条(?:之(?P<suffix>[一二三四五六七八九十]+))?$")
_PRC = "中华人民共和国"


def load_questions(paths: Sequence[Path] = QUESTION_FILES) -> list[dict]:
    """Every remembered question of the files that exist, in file order (a missing file is no memory); each
    row's "source" is its file's stem unless the row names one."""
    out = []
    for path in paths:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    row.setdefault("source", path.stem)
                    out.append(row)
    return out


def fingerprint(paths: Sequence[Path] = QUESTION_FILES) -> str:
    """sha256 over the memory files' names and bytes: a change re-embeds the questions (not the documents)."""
    digest = hashlib.sha256(_SCHEMA)
    found = False
    for path in paths:
        if path.is_file():
            found = True
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest() if found else ""


def vector_key(model_id: str, question: str) -> str:
    """A remembered question's vector is known by the model that embedded it and the exact text."""
    return text_key(model_id, question)


def shipped_vectors(files: Sequence[Path] = SHIPPED_VECTORS) -> dict[str, np.ndarray]:
    """The shipped questions' vectors by vector_key, which names the model: another model finds none. Empty
    when none ship or the files are damaged: the questions are then embedded at ingest, only time is lost."""
    vectors_file, keys_file = files
    try:
        keys = keys_file.read_text(encoding="ascii").split()
        vectors = np.load(vectors_file, allow_pickle=False)
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if vectors.ndim != 2 or len(vectors) != len(keys):
        return {}
    vectors = vectors.astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # float16 storage: re-normalise
    return dict(zip(keys, vectors))


def write_shipped_vectors(embeddings, questions: Iterable[str], files: Sequence[Path] = SHIPPED_VECTORS,
                          batch: int = 128) -> tuple[int, int]:
    """Store the vectors of `questions` (each text once) as the shipped vectors, embedding with `embeddings` those
    the files do not hold yet; returns (questions stored, of them embedded now). float16 halves the files; the cosines move by about 1e-3."""
    texts = list(dict.fromkeys(questions))
    vectors_file, keys_file = files
    known = shipped_vectors(files)  # a question already shipped keeps its vector: only new ones are embedded
    keys = [vector_key(embeddings.model_id, t) for t in texts]
    missing = [t for t, k in zip(texts, keys) if k not in known]
    for i in range(0, len(missing), batch):
        chunk = missing[i:i + batch]
        known.update(zip((vector_key(embeddings.model_id, t) for t in chunk), embeddings.embed_queries_array(chunk)))
    vectors = (np.vstack([known[k] for k in keys]).astype(np.float16) if keys
               else np.zeros((0, 1), dtype=np.float16))
    np.save(vectors_file, vectors, allow_pickle=False)
    keys_file.write_text("".join(vector_key(embeddings.model_id, t) + "\n" for t in texts), encoding="ascii")
    return len(texts), len(missing)


def resolve(questions: Iterable[dict], passages: Sequence[Passage]) -> list[dict]:
    """Questions whose article names resolve to in-force articles of the index, with [law_key, number, suffix]
    keys instead of names, and whose passage quotes ("passages": [[doc_id, quote], ...]) resolve to the passages
    of that document holding the quote (Passage.memory_key); questions naming nothing in the index are left out."""
    by_article: dict[tuple[str, int, int], str] = {}
    texts_of_doc: dict[str, list[Passage]] = {}
    for p in passages:
        if p.kind == "article" and p.in_force:
            title = normalize_title(p.law)
            for name in {title, title.removeprefix(_PRC)}:
                by_article.setdefault((name, p.article_no, p.article_suffix), p.law_key)
        elif p.kind != "article":
            texts_of_doc.setdefault(p.doc_id, []).append(p)
    normalized: dict[str, str] = {}
    out = []
    for q in questions:
        keys = []
        for doc_id, quote in q.get("passages", []):
            wanted = normalize_for_match(quote)
            for p in texts_of_doc.get(doc_id, []) if wanted else []:
                if p.id not in normalized:
                    normalized[p.id] = normalize_for_match(p.text)
                if wanted in normalized[p.id] and list(p.memory_key) not in keys:
                    keys.append(list(p.memory_key))
        for name in q.get("articles", []):
            m = _ARTICLE_NAME.match(normalize_title(name))
            if not m:
                continue
            try:
                number = parse_chinese_numeral(m["num"])
                suffix = parse_chinese_numeral(m["suffix"]) if m["suffix"] else 0
            except ValueError:
                continue
            law = m["law"]
            law_key = by_article.get((law, number, suffix)) or by_article.get((law.removeprefix(_PRC), number, suffix))
            if law_key and [law_key, number, suffix] not in keys:
                keys.append([law_key, number, suffix])
        if keys:
            out.append({"id": q.get("id", ""), "q": q["q"], "articles": keys, "source": q.get("source", "")})
    return out


@dataclass
class Votes:
    """What the nearest remembered questions say about one query."""

    article: dict[tuple, float]  # article key -> summed neighbour weight
    article_max: dict[tuple, float]  # article key -> best cosine of a neighbour naming it
    law: dict[str, float]  # law_key -> share of the neighbours' weight
    chapter: dict[tuple[str, str], float]  # (law_key, chapter path) -> share of the neighbours' weight
    prior: dict[tuple, int]  # article key -> how many remembered questions name it (coverage questions aside)
    coverage: dict[tuple, float] = field(default_factory=dict)  # article key -> weight of coverage neighbours
    proposed: list[tuple] = field(default_factory=list)  # articles of the nearest `proposers` questions, nearest first
    # article key -> BM25 of the best of the NEIGHBOURS lexically nearest questions naming it, / the best of all
    lexical: dict[tuple, float] = field(default_factory=dict)
    # The articles' profiles (Profiles): article key -> row of the two arrays, which hold for every profiled
    # article the BM25 of its text with its coverage questions (/ the best of all), and the cosine of the mean
    # of its coverage questions' vectors.
    profile_row: dict[tuple, int] = field(default_factory=dict)
    expanded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    centroid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))


@dataclass
class Profiles:
    """Each article as all its coverage questions describe it, whoever asks (doc2query's classic use): its text
    with the questions appended, for BM25, and the mean of the questions' vectors. A neighbour vote hears from
    the ten nearest questions; a profile from every question written for the article, so an article whose
    questions are individually far but together on topic still counts (5-fold on the fit data, borrowers
    success@5 0.858 -> 0.880, README "How it answers")."""

    row_of: dict[tuple, int]
    centroids: np.ndarray  # (articles, dimensions), normalised
    lexical: LexicalIndex

    @classmethod
    def build(cls, questions: dict[tuple, list[int]], vectors: np.ndarray, text_of: dict[tuple, str],
              tokens: list[list[str]]) -> Profiles:
        """`questions`: article key -> rows of its coverage questions (in `vectors` and `tokens`)."""
        keys = list(questions)
        centroids = np.zeros((len(keys), vectors.shape[1]), dtype=np.float32)
        for i, k in enumerate(keys):
            centroids[i] = vectors[questions[k]].mean(axis=0)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        docs = [tokenize(text_of.get(k, "")) + [t for i in questions[k] for t in tokens[i]] for k in keys]
        return cls({k: i for i, k in enumerate(keys)}, centroids.astype(np.float32), LexicalIndex(docs))


class QuestionMemory:
    def __init__(self, entries: list[dict], vectors: np.ndarray | None, chapter_of: dict[tuple, str],
                 proposers: int = NEIGHBOURS, text_of: dict[tuple, str] | None = None) -> None:
        self.entries = entries
        # The articles of the nearest `proposers` questions become candidates; the nearest NEIGHBOURS also vote.
        # Deeper proposals lengthen a deep ranking (article recall@100 on STARD's fit split 0.897 -> 0.929 with
        # 100) and leave its head alone.
        self.proposers = max(proposers, NEIGHBOURS)
        self.vectors = vectors if vectors is not None else np.zeros((0, 1), dtype=np.float32)
        self.keys = [[tuple(k) for k in e["articles"]] for e in entries]
        self.chapter_of = chapter_of  # article key -> chapter path
        self.excluded: set[str] = set()  # questions left out, by text (evaluation on questions the memory holds)
        self.is_coverage = [e.get("source") in COVERAGE_SOURCES for e in entries]
        self.prior: dict[tuple, int] = {}
        for keys, coverage in zip(self.keys, self.is_coverage):
            for k in () if coverage else keys:
                self.prior[k] = self.prior.get(k, 0) + 1
        self._words: set[str] | None = None
        self._rows_of_key: dict[tuple, list[int]] = {}  # article key -> remembered questions naming it
        self._rows_of_text: dict[str, list[int]] = {}  # question text -> its rows (a question never supports itself)
        for i, (entry, keys) in enumerate(zip(entries, self.keys)):
            self._rows_of_text.setdefault(entry["q"], []).append(i)
            for k in keys:
                self._rows_of_key.setdefault(k, []).append(i)
        self._excluded_rows: list[int] = []
        self._lexical: LexicalIndex | None = None  # BM25 over the remembered questions, built at the first vote
        self._tokens: list[list[str]] | None = None  # each remembered question's words, at the first vote
        self.text_of = text_of or {}  # article key -> its text (every part), for the articles' profiles
        self._profiles: Profiles | None = None  # built at the first vote, again after exclude()
        # The last question's cosines to every remembered question: retrieval (votes) and the evidence gate
        # (support) read them for the same question, and each pass costs about 2 ms at the shipped size.
        self._last_cosines: tuple[bytes, np.ndarray] | None = None

    def knows_word(self, word: str) -> bool:
        """Whether people used `word` in a remembered question that the documents answer: an everyday word of
        answerable questions (老婆, 房子, 宠物), not a topic the documents lack."""
        if self._words is None:
            from bot.lexical import tokenize

            self._words = {w for e in self.entries if e["q"] not in self.excluded for w in tokenize(e["q"])}
        return word in self._words

    def __bool__(self) -> bool:
        return bool(self.entries)

    def exclude(self, questions: Iterable[str]) -> None:
        """Leave these questions (their exact text) out of every vote, the prior and the vocabulary (held-out
        evaluation). By text, not id: another file's ids may reuse the memory's."""
        self.excluded = set(questions)
        self._excluded_rows = [i for q in self.excluded for i in self._rows_of_text.get(q, [])]
        self._words = None
        self._profiles = None
        self.prior = {}
        for entry, keys, coverage in zip(self.entries, self.keys, self.is_coverage):
            if entry["q"] not in self.excluded and not coverage:
                for k in keys:
                    self.prior[k] = self.prior.get(k, 0) + 1

    def _skipped_rows(self, query_text: str) -> list[int]:
        """Rows that never speak for a query: the questions left out, and the query's own text."""
        return self._excluded_rows + self._rows_of_text.get(query_text, [])

    def support(self, query_vector: np.ndarray, article_keys: Iterable[tuple], query_text: str = "") -> tuple[float, float]:
        """How close the question is to answered ones: the best cosine of any remembered question, and of one
        naming one of `article_keys` (0 when none). Evidence for the answerability model (bot.answerability)."""
        if not self.entries:
            return 0.0, 0.0
        sims = self._cosines_to_questions(query_vector)
        skip = self._skipped_rows(query_text)
        if skip:
            sims = sims.copy()
            sims[skip] = -1.0
        rows = [i for k in set(article_keys) for i in self._rows_of_key.get(k, [])]
        return max(0.0, float(sims.max())), max(0.0, float(sims[rows].max())) if rows else 0.0

    def votes(self, query_vector: np.ndarray, query_text: str = "", terms: Sequence[str] | None = None,
              read_as: str = "") -> Votes:
        """What the nearest remembered questions say about a query, and how it matches each article's profile;
        `terms` are its BM25 words (Query.terms, English questions' Chinese expansion), its own words if None;
        `read_as` is the question as retrieval reads it (Query.standard: written Cantonese or Taiwan phrases in
        mainland words), which the remembered questions' words are matched against; `query_text` if empty."""
        sims = self._cosines_to_questions(query_vector)
        # Only the nearest rows are read: enough for the proposers after skipping left-out questions and the
        # question itself (a full sort of a 15,000-question memory costs a millisecond per question).
        wanted = self.proposers + len(self._skipped_rows(query_text))
        if wanted < len(sims):
            top = np.argpartition(-sims, wanted - 1)[:wanted]
            order = top[np.argsort(-sims[top], kind="stable")]
        else:
            order = np.argsort(-sims, kind="stable")
        article: dict[tuple, float] = {}
        coverage: dict[tuple, float] = {}
        article_max: dict[tuple, float] = {}
        law: dict[str, float] = {}
        chapter: dict[tuple[str, str], float] = {}
        total, used = 0.0, 0
        prior = self.prior
        proposed: dict[tuple, None] = {}
        for i in order:
            if used >= self.proposers:
                break
            entry = self.entries[i]
            if entry["q"] in self.excluded:
                continue
            if query_text and entry["q"] == query_text:  # the question itself is no evidence for itself
                prior = prior if self.is_coverage[i] else _minus(prior, self.keys[i])
                continue
            used += 1
            proposed.update(dict.fromkeys(self.keys[i]))
            if used > NEIGHBOURS:
                continue
            weight = float(np.exp((sims[i] - 1.0) / TEMPERATURE))
            total += weight
            to = coverage if self.is_coverage[i] else article
            for k in self.keys[i]:
                to[k] = to.get(k, 0.0) + weight
                article_max[k] = max(article_max.get(k, 0.0), float(sims[i]))
            first = self.keys[i][0]  # the question's main article speaks for its law and chapter
            law[first[0]] = law.get(first[0], 0.0) + weight
            ch = (first[0], self.chapter_of.get(first, ""))
            chapter[ch] = chapter.get(ch, 0.0) + weight
        lexical = self._lexical_votes(read_as or query_text, query_text) if query_text else {}
        proposed.update(dict.fromkeys(lexical))
        total = total or 1.0
        profiles = self.profiles()
        words = list(terms) if terms is not None else tokenize(query_text)
        expanded = profiles.lexical.scores(words) if profiles.row_of else np.zeros(0, dtype=np.float32)
        if expanded.size and expanded.max() > 0:
            expanded = expanded / expanded.max()
        return Votes(article, article_max, {k: v / total for k, v in law.items()},
                     {k: v / total for k, v in chapter.items()}, prior, coverage, list(proposed), lexical,
                     profiles.row_of, expanded.astype(np.float32), _cosines(profiles.centroids, query_vector))

    def _cosines_to_questions(self, query_vector: np.ndarray) -> np.ndarray:
        """The cosine of `query_vector` to every remembered question (read-only: shared with the next caller)."""
        key = np.ascontiguousarray(query_vector, dtype=np.float32).tobytes()
        last = self._last_cosines  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == key:
            return last[1]
        sims = _cosines(self.vectors, query_vector)
        sims.flags.writeable = False
        self._last_cosines = (key, sims)
        return sims

    def question_tokens(self) -> list[list[str]]:
        """Each remembered question's words (tokenised once, for the lexical votes and the profiles alike)."""
        if self._tokens is None:
            self._tokens = [tokenize(e["q"]) for e in self.entries]
        return self._tokens

    def profiles(self) -> Profiles:
        """The articles' profiles from the coverage questions not left out (built once, after each exclude())."""
        if self._profiles is None:
            questions: dict[tuple, list[int]] = {}
            for i, (entry, keys) in enumerate(zip(self.entries, self.keys)):
                if self.is_coverage[i] and entry["q"] not in self.excluded:
                    for k in keys:
                        questions.setdefault(k, []).append(i)
            self._profiles = Profiles.build(questions, self.vectors, self.text_of, self.question_tokens())
        return self._profiles

    def _lexical_votes(self, words_of: str, query_text: str) -> dict[tuple, float]:
        """The articles of the NEIGHBOURS questions sharing the most (BM25-weighted) words with the query, each
        with its best question's score relative to the best of all: doc2query's lexical side. A remembered
        question says in everyday words what the statute says in legal ones (催收 打电话 单位 vs 泄露 个人信息)."""
        if self._lexical is None:
            self._lexical = LexicalIndex(self.question_tokens())
        scores = self._lexical.scores(tokenize(words_of))
        skip = self._skipped_rows(query_text)  # the question as asked is what the memory may hold
        if skip:
            scores[skip] = 0.0
        best = float(scores.max()) if len(scores) else 0.0
        if best <= 0:
            return {}
        count = min(NEIGHBOURS, len(scores))
        top = np.argpartition(-scores, count - 1)[:count]
        out: dict[tuple, float] = {}
        for i in top[np.argsort(-scores[top], kind="stable")]:
            if scores[i] <= 0:
                break
            for k in self.keys[i]:
                out[k] = max(out.get(k, 0.0), float(scores[i]) / best)
        return out


def _cosines(vectors: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    """vectors @ query_vector without BLAS: above about a thousand rows OpenBLAS splits a matrix-vector product
    over threads that then spin for milliseconds, and on two cores they starve the embedding model's own threads
    (ask p50 124 ms instead of 29 ms with the 1,640-question memory). einsum's own loop takes 0.1 ms here."""
    return np.einsum("ij,j->i", vectors, query_vector)


def _minus(prior: dict[tuple, int], keys: list[tuple]) -> dict[tuple, int]:
    out = dict(prior)
    for k in keys:
        out[k] = out.get(k, 0) - 1
    return out

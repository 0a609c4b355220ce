"""A learned answerability model: does the collection answer this question, or should the assistant decline?

The evidence gate's rules (bot/evidence.py) see one signal at a time: a word the corpus lacks, an English word
the lexicon cannot map, a quantity no passage states. Each misfires on its own (a typo, a contraction, a
number in the back story), and none sees what kind of question it is. This model weighs them together with
what the question is about: a logistic regression over

    the question's embedding (the same multilingual-e5 vector retrieval uses: where in "question space" it
        lies: a borrower's legal question, a product's phone number, another country's law, the weather);
    dense        best question-passage cosine among the hits;
    mem_top      best cosine of a remembered answered question (bot.memory), any article;
    mem_hit      best cosine of a remembered question naming one of the hits' articles;
    top_score    the ranker's score of the first hit (the learned reranker's logit);
    unknown_zh   topic words of a Chinese question the corpus never uses (the rules' list), counted;
    unknown_en   share of an English question's content words the lexicon cannot map;
    names_en     names and acronyms of an English question the lexicon cannot map, counted;
    quantity     1 when the question asks for a number that none of the first hits states;
    english      1 for an English question;
    lexical      1 when a hit shares a word with the question (BM25 > 0). A colloquial question can share none
                 with the statutes that answer it ("P了我的照片配上老赖" against 侵害名誉权), so this is
                 evidence to weigh, not the hard rule it is without the model.

Weights (bot/data/answerability.json) are fitted by benchmarks/fit_answerability.py on fit data only (STARD's
fit split, benchmarks/fit_questions/), never on the evaluation sets, with the decision threshold set there by
cross-validation. The model describes one collection (the shipped documents, with statutes and a question
memory) and one embedding model: on another index, or another model, the gate keeps its rules.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "data" / "answerability.json"
SCALARS = ("dense", "mem_top", "mem_hit", "top_score", "unknown_zh", "unknown_en", "names_en", "quantity", "english",
           "lexical")


@dataclass(frozen=True)
class Evidence:
    """What the gate knows about one question and its hits, as the model reads it."""

    dense: float
    mem_top: float
    mem_hit: float
    top_score: float
    unknown_zh: int
    unknown_en: float
    names_en: int
    quantity: bool
    english: bool
    lexical: bool

    def scalars(self) -> np.ndarray:
        return np.asarray([float(getattr(self, name)) for name in SCALARS], dtype=np.float32)


@dataclass
class AnswerabilityModel:
    embedding_weights: np.ndarray  # (dimension,)
    scalar_weights: np.ndarray  # (len(SCALARS),)
    bias: float
    threshold: float  # decline when P(answerable) is below this
    model_id: str  # the embedding model the weights belong to
    fitted_on: str = ""

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> AnswerabilityModel | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["scalars"]) != SCALARS:
            raise ValueError(f"{path}: features {data['scalars']} differ from the code's {SCALARS}; refit it")
        return cls(np.asarray(data["embedding_weights"], dtype=np.float32),
                   np.asarray(data["scalar_weights"], dtype=np.float32), float(data["bias"]),
                   float(data["threshold"]), data["model_id"], data.get("fitted_on", ""))

    def usable_with(self, model_id: str, dimension: int) -> bool:
        return model_id == self.model_id and dimension == len(self.embedding_weights)

    def probability(self, query_vector: np.ndarray, evidence: Evidence) -> float:
        """P(the collection answers the question)."""
        z = float(query_vector @ self.embedding_weights + evidence.scalars() @ self.scalar_weights + self.bias)
        return float(1.0 / (1.0 + np.exp(-z)))

    def answers(self, query_vector: np.ndarray, evidence: Evidence) -> bool:
        return self.probability(query_vector, evidence) >= self.threshold


def answerability_for(settings, embeddings, memory) -> AnswerabilityModel | None:
    """The shipped model, where it applies: the setting is on, the index has statutes and a question memory
    in use (`memory`: the retriever's, None otherwise), and the embedding model is the one it was fitted with."""
    if not getattr(settings, "learned_gate", True) or memory is None:
        return None
    model = AnswerabilityModel.load()
    return model if model is not None and model.usable_with(embeddings.model_id, embeddings.dimension) else None


def design_matrix(vectors: np.ndarray, evidence: list[Evidence]) -> np.ndarray:
    """Rows [embedding | scalars], the model's input (fitting)."""
    return np.hstack([vectors, np.vstack([e.scalars() for e in evidence])]).astype(np.float32)

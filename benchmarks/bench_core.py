"""Speed of the retrieval-QA core on this machine: python benchmarks/bench_core.py [--quick] [--index DIR]

Measures, warm unless said otherwise:
  1. `ask` latency p50/p95 on the shipped corpus (the five articles and the law pack; dev and law_dev
     questions, several rounds), beside the time of one query embedding (the bar: ask <= 3x that);
  2. process start to first answer, with a built index (`python -m bot ask ...` as a subprocess);
  3. ingest rate: a full build of the shipped corpus end to end (passages/s) beside the embedding model's own
     rate on the same passages in the same run, and a re-run on the unchanged corpus (as a command);
     --index DIR skips the full build and measures on an index built before;
  4. `ask` latency p50/p95 on a synthetic 20,000-passage corpus: the shipped passages' sentences recombined
     into new passages, with vectors made by mixing real passage vectors (embedding 20,000 passages for real
     would take ~10 minutes on 2 cores and measures nothing the ingest rate does not).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core import Assistant  # noqa: E402
from bot.index import StoredIndex  # noqa: E402
from bot.ingest import ingest  # noqa: E402
from bot.lexical import tokenize  # noqa: E402
from bot.settings import ROOT, Settings  # noqa: E402
from bot.types import Passage  # noqa: E402

QUESTIONS_FILES = [ROOT.parent / "shared" / "eval" / name for name in ("dev_questions.jsonl", "law_dev.jsonl")]
FALLBACK_QUESTIONS = ["催收可以威胁我吗", "還不起錢可以分期嗎", "Can debt collectors visit my home?", "催收人員會怎樣聯繫我"]


def questions() -> list[str]:
    found = [json.loads(line)["q"] for f in QUESTIONS_FILES if f.exists()
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return found or FALLBACK_QUESTIONS


def query_embedding(assistant: Assistant, qs: list[str]) -> float:
    """Median time of one query embedding (the model's share of every ask), ms."""
    samples = []
    for q in qs:
        t = time.perf_counter()
        assistant.embeddings.embed_query_array(q)
        samples.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(samples), 2)


def latency(assistant: Assistant, qs: list[str], rounds: int) -> dict[str, float]:
    for q in qs:  # warm-up
        assistant.ask(q)
    samples = []
    for _ in range(rounds):
        for q in qs:
            t = time.perf_counter()
            assistant.ask(q)
            samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
            "n": len(samples)}


def startup(index_dir: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot", "--index", str(index_dir), "ask", "催收可以上门吗"], cwd=ROOT,
                   check=True, capture_output=True)
    return round(time.perf_counter() - t, 2)


def synthetic(assistant: Assistant, n: int, seed: int = 7) -> Assistant:
    rng = random.Random(seed)
    base = assistant.stored
    matrix = assistant.retriever.matrix
    sentences = [(i, s) for i, p in enumerate(base.passages) for s in p.text.replace("。", "。\n").splitlines() if s]
    passages, tokens, vectors = [], [], np.zeros((n, matrix.shape[1]), dtype=np.float32)
    for j in range(n):
        picks = rng.sample(sentences, 3)
        text = "".join(s for _, s in picks)
        src = base.passages[picks[0][0]]
        passages.append(Passage(id=f"syn:{j}", doc_id=f"syn{j // 50:04d}", title=src.title, section=src.section,
                                text=text, start=0, end=len(text), source="synthetic"))
        tokens.append(tokenize(text))
        v = sum(matrix[i] for i, _ in picks) + np.random.default_rng(j).normal(0, 0.02, matrix.shape[1])
        vectors[j] = v / np.linalg.norm(v)
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(vectors)
    stored = StoredIndex(Path("synthetic"), {**base.manifest, "passages": n}, passages, tokens, flat, base.lexicon)
    return Assistant(assistant.settings, stored, assistant.embeddings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 5,000 synthetic passages")
    parser.add_argument("--passages", type=int, default=20_000)
    parser.add_argument("--index", help="a built index of docs/ to measure on (skips the full build)")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(args.index) if args.index else Path(tmp) / "index")
        if not args.index:
            t = time.perf_counter()
            report = ingest(settings, rebuild=True)
            seconds = time.perf_counter() - t
            end_to_end = report.passages / seconds
            model = report.embedded / report.embed_seconds
            results["ingest_full"] = {"passages": report.passages, "seconds": round(seconds, 1),
                                      "passages_per_s": round(end_to_end, 1),
                                      "embedding_model_passages_per_s": round(model, 1),
                                      "share_of_model_rate": round(end_to_end / model, 3)}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "ingest", "--index", str(settings.index_dir)], cwd=ROOT,
                       check=True, capture_output=True)
        results["ingest_unchanged_command_s"] = round(time.perf_counter() - t, 2)
        results["start_to_first_answer_s"] = startup(settings.index_dir)
        assistant = Assistant.load(settings)
        qs = questions()
        results["ask_shipped"] = latency(assistant, qs, rounds)
        results["ask_shipped"]["query_embedding_p50_ms"] = query_embedding(assistant, qs)
        results["ask_shipped"]["ask_p50_over_embedding"] = round(
            results["ask_shipped"]["p50_ms"] / results["ask_shipped"]["query_embedding_p50_ms"], 2)
        n = 5_000 if args.quick else args.passages
        t = time.perf_counter()
        big = synthetic(assistant, n)
        results["synthetic_build_s"] = round(time.perf_counter() - t, 1)
        results[f"ask_{n}_passages"] = latency(big, qs, max(1, rounds // 2))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""Ingest benchmark for a large corpus (issue 9): passages, time, passages/s against the embedding model's own
rate measured in the same run, peak RSS of the ingest process, index size on disk.

    .venv/bin/python benchmarks/scale_ingest.py --docs ../shared/laws/national --index /tmp/idx_national \
        [--kill-after SECONDS]  > ingest_report.json

The model's own rate is measured before and again after the ingest, on the same sample of the corpus' own
passages embedded in batches exactly as ingest does, in this process; the ratio uses the faster of the two (the
ceiling), and the report also gives the ratio inside the ingest run itself (the seconds its embedding calls took
over its wall time, both under whatever load the machine had). The ingest then runs as a child (`python -m bot ingest`), so its peak RSS is its
own (getrusage of the child). With --kill-after, the child is killed with SIGKILL after that many seconds and
started again: the report then has both runs, and the second shows how much the first had saved.
Resumable: run it again after any interruption and the ingest continues from the embedding cache.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sample_texts(docs: Path, sample: int) -> list[str]:
    """A uniform sample of all the corpus' passages (not the passages of the first few files of a shuffled list,
    as before: a few files hold one kind of text, and text length sets the model's rate)."""
    from bot.ingest import _embedding_text, doc_id_for, passages_of, source_for
    from bot.readers import discover, read_text
    from bot.settings import Settings

    settings = Settings(docs_dir=docs)
    files, _ = discover([docs])
    texts: list[str] = []
    for path in files:
        passages, _, _ = passages_of(doc_id_for(path, docs), read_text(path), source_for(path, docs))
        texts += [_embedding_text(p, settings) for p in passages]
    return random.Random(1).sample(texts, min(sample, len(texts)))


def model_rate(model, texts: list[str], batch: int) -> float:
    model.embed_passages_array(texts[:batch])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.embed_passages_array(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def run_ingest(docs: Path, index: Path, kill_after: float | None, log) -> dict:
    env = {**os.environ, "BOT_DOCS_DIR": str(docs)}
    out_file = tempfile.TemporaryFile()
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "bot", "--index", str(index), "ingest", "--json", "--progress"],
                             cwd=ROOT, env=env, stdout=out_file, stderr=log)
    killed = False
    if kill_after:
        try:
            child.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            killed = True
    _, status, usage = os.wait4(child.pid, 0)
    out_file.seek(0)
    out = out_file.read()
    run = {"seconds": round(time.perf_counter() - started, 1), "killed": killed,
           "exit": os.waitstatus_to_exitcode(status), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    try:
        summary = json.loads(out)
        run["summary"] = {k: summary.get(k) for k in ("passages", "embedded", "seconds", "embed_seconds")}
    except ValueError:
        pass
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--kill-after", type=float)
    parser.add_argument("--log", type=Path, default=Path("/tmp/scale_ingest.log"))
    args = parser.parse_args()
    from bot.embeddings import load_embeddings
    from bot.settings import Settings

    batch = Settings().embed_batch_size
    texts = sample_texts(args.docs, args.sample)
    model = load_embeddings(Settings())
    report: dict = {"docs": str(args.docs), "model_passages_per_s_before": round(model_rate(model, texts, batch), 2)}
    print(f"model alone: {report['model_passages_per_s_before']} passages/s", file=sys.stderr)
    runs = []
    with args.log.open("ab") as log:
        if args.kill_after:
            runs.append(run_ingest(args.docs, args.index, args.kill_after, log))
        runs.append(run_ingest(args.docs, args.index, None, log))
    report["runs"] = runs
    report["model_passages_per_s_after"] = round(model_rate(model, texts, batch), 2)
    report["model_passages_per_s"] = max(report["model_passages_per_s_before"], report["model_passages_per_s_after"])
    summary = runs[-1].get("summary")
    if summary and summary.get("embedded") and summary.get("embed_seconds"):
        report["ingest_embedded"] = summary["embedded"]
        report["ingest_in_model_passages_per_s"] = round(summary["embedded"] / summary["embed_seconds"], 2)
        report["ratio_in_run"] = round(summary["embed_seconds"] / runs[-1]["seconds"], 3)
    version = args.index / (args.index / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    report["passages"] = manifest["passages"]
    report["documents"] = len(manifest["documents"])
    report["index_mb"] = round(sum(f.stat().st_size for f in version.iterdir()) / 2**20, 1)
    last = runs[-1]
    if not args.kill_after:
        report["passages_per_s"] = round(report["passages"] / last["seconds"], 2)
        report["ratio_to_model"] = round(report["passages_per_s"] / report["model_passages_per_s"], 3)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

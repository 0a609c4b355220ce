"""Serving benchmark on a built (large) index (issue 9): cold start to first answer, server RSS, warm ask
p50/p95, /api/ask answers per second at 16 clients.

    .venv/bin/python benchmarks/scale_serve.py --index /tmp/idx_national [--docs ../shared/laws/national] \
        [--questions ../shared/eval/stard_train_pack.jsonl] [--clients 16] [--seconds 30]
    .venv/bin/python benchmarks/scale_serve.py --index /tmp/idx_national_ph --cold-only --runs 3

Starts `python app.py --skip-ingest` on a free loopback port with the index (rate limiting off), and times from
the spawn to the first 200 of POST /api/ask ("cold start to first answer"); reads the server's VmRSS from
/proc after that answer and again after the load run. Warm ask latency is the assistant's own time per answer
(`timings_ms.total` of each /api/ask reply, HTTP excluded), over the first --n questions of the file, asked one at
a time. Then benchmarks/load.py runs --clients concurrent clients against the same server (--url).

--cold-only: only the cold start (spawn to the first 200 of /api/ask), --runs times, each a fresh server; prints
each run and the median. Cold start does not depend on the vector values, so an index of the right passage count
and dimension with placeholder vectors (benchmarks/placeholder_index.py) measures it as well as a real one.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used: what a cold start costs whatever else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("--questions", default=str(ROOT.parent / "shared" / "eval" / "stard_train_pack.jsonl"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--cold-only", action="store_true", help="only time cold start to first answer")
    ap.add_argument("--runs", type=int, default=1, help="with --cold-only: how many fresh servers to time")
    args = ap.parse_args()
    questions = [json.loads(line)["q"] for line in Path(args.questions).read_text(encoding="utf-8").splitlines()
                 if line.strip()][: args.n]
    if args.cold_only:
        times = []
        for _ in range(max(1, args.runs)):
            server, base, log, started = spawn(args)
            try:
                with httpx.Client(base_url=base, timeout=60) as client:
                    times.append(first_answer(server, client, questions[0], log, started))
                    rss, cpu = rss_mb(server.pid), cpu_s(server.pid)
            finally:
                server.terminate()
                server.wait(timeout=30)
            print(json.dumps({"cold_start_to_first_answer_s": times[-1], "server_cpu_s_at_first_answer": cpu,
                              "server_rss_mb_after_start": rss, "load_average_1min": os.getloadavg()[0]}), flush=True)
        print(json.dumps({"index": args.index, "runs": times, "median_s": statistics.median(times)}))
        return 0
    server, base, log, started = spawn(args)
    report: dict = {"index": args.index}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            report["cold_start_to_first_answer_s"] = first_answer(server, client, questions[0], log, started)
            report["server_rss_mb_after_start"] = rss_mb(server.pid)
            health = client.get("/healthz").json()
            report["passages"], report["index_version"] = health.get("passages"), health.get("index_version")
            totals = []
            for q in questions:
                totals.append(client.post("/api/ask", json={"question": q}).json()["timings_ms"]["total"])
            totals.sort()
            report["warm_ask_ms"] = {"n": len(totals), "p50": round(statistics.median(totals), 1),
                                     "p95": round(totals[int(0.95 * (len(totals) - 1))], 1), "max": round(totals[-1], 1)}
        load = subprocess.run([sys.executable, "benchmarks/load.py", "--url", base, "--clients", str(args.clients),
                               "--seconds", str(args.seconds), "--stream-samples", "10", "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 300)
        report["load"] = json.loads(load.stdout.strip().splitlines()[-1]) if load.returncode == 0 else load.stderr[-2000:]
        report["server_rss_mb_after_load"] = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


def spawn(args):
    """`app.py --skip-ingest` on a free loopback port: (process, base URL, log file, perf_counter at the spawn)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BOT_INDEX_DIR": args.index, "BOT_DOCS_DIR": args.docs, "BOT_RATE_LIMIT_PER_MINUTE": "0",
           "GRADIO_ANALYTICS_ENABLED": "False", "BOT_INDEX_POLL_SECONDS": "0"}
    log = open(f"/tmp/scale-serve-{port}.log", "wb")
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "--skip-ingest", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    return server, f"http://127.0.0.1:{port}", log, started


def first_answer(server, client: httpx.Client, question: str, log, started: float) -> float:
    """Seconds from `started` (the spawn) to the first 200 of POST /api/ask."""
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited; see {log.name}")
        try:
            reply = client.post("/api/ask", json={"question": question})
            if reply.status_code == 200:
                return round(time.perf_counter() - started, 2)
        except httpx.TransportError:
            pass
        if time.perf_counter() - started > 300:
            raise SystemExit("no answer within 300 s")
        time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main())

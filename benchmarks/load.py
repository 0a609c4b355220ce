"""Load test of the web server: concurrent clients against POST /api/ask, then first-byte latency of streams.

    python benchmarks/load.py [--clients 16] [--seconds 30] [--workers 1] [--port 0]

Starts `python app.py` as a subprocess on 127.0.0.1 (a free port, the real assistant, rate limiting off for the
run), waits for /healthz, warms up, then runs `--clients` concurrent clients for `--seconds` seconds, each asking
questions in a loop. Reports errors, p50/p95/max latency and answers per second; then, with the server otherwise
idle, the time to the first byte of a streamed answer (POST /api/ask/stream) over `--stream-samples` requests.
Loopback only; every loop is bounded by the deadline or a count.
"""
from __future__ import annotations

import argparse
import asyncio
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
QUESTIONS = [
    "Can debt collectors visit my home?",
    "催收可以威胁我吗",
    "還不起錢可以分期嗎",
    "催收打电话给我家人合法吗",
    "What can I do if collectors call me at night?",
    "逾期了催收说要上门怎么办",
    "催收人員可以騷擾我的同事嗎",
    "Can I ask for an instalment plan?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of process `pid` and its live child processes (uvicorn workers), Linux /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st and int(st[1]) == pid:  # field 4 (ppid) is index 1 after the command name
                pids.append(int(entry.name))
    total = 0
    for p in pids:
        st = _stat(p)
        if st:
            total += int(st[11]) + int(st[12])  # utime, stime
    return total / ticks


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def start_server(port: int, workers: int, skip_ingest: bool = False) -> tuple[subprocess.Popen, Path]:
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bot-load-{port}.log"
    env = {**os.environ, "BOT_RATE_LIMIT_PER_MINUTE": "0", "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if skip_ingest:
        cmd.append("--skip-ingest")
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, log
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start within 300 s")


async def load(base: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            n = i
            while time.perf_counter() < deadline:
                q = QUESTIONS[n % len(QUESTIONS)]
                n += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/api/ask", json={"question": q})
                    ok = r.status_code == 200 and "answer" in r.json()
                    if not ok:
                        errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t_start
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "answers": len(latencies),
        "errors": errors,
        "answers_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 50) * 1000, 1),
        "p95_ms": round(pct(latencies, 95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
    }


def first_byte(base: str, samples: int) -> dict:
    """Time from sending POST /api/ask/stream to the first `event: delta` bytes, and to `event: done`."""
    ttfb, total = [], []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(samples + 3):
            q = QUESTIONS[i % len(QUESTIONS)]
            t0 = time.perf_counter()
            first = None
            with client.stream("POST", "/api/ask/stream", json={"question": q}) as r:
                r.raise_for_status()
                buf = b""
                for chunk in r.iter_raw():
                    if first is None and chunk:
                        first = time.perf_counter() - t0
                    buf += chunk
            done = time.perf_counter() - t0
            assert b"event: done" in buf and buf.startswith(b"event: delta"), buf[:200]
            if i >= 3:  # the first three warm the path
                ttfb.append(first)
                total.append(done)
    return {
        "samples": samples,
        "first_byte_p50_ms": round(pct(ttfb, 50) * 1000, 1),
        "first_byte_p95_ms": round(pct(ttfb, 95) * 1000, 1),
        "first_byte_max_ms": round(max(ttfb) * 1000, 1),
        "complete_p50_ms": round(statistics.median(total) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes for the server")
    ap.add_argument("--stream-samples", type=int, default=30)
    ap.add_argument("--url", help="use an already running server instead of starting one (loopback only)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    proc = None
    if args.url:
        base = args.url.rstrip("/")
        if not base.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            raise SystemExit("--url must be a loopback address")
    else:
        port = free_port()
        proc, _ = start_server(port, args.workers)
        base = f"http://127.0.0.1:{port}"
    try:
        health = httpx.get(base + "/healthz", timeout=5).json()
        with httpx.Client(base_url=base, timeout=30) as c:  # warm-up: every question once
            for q in QUESTIONS:
                c.post("/api/ask", json={"question": q}).raise_for_status()
        result = {"server": base, "health": health, "workers": args.workers, "cpu_count": os.cpu_count(),
                  "loadavg_before": loadavg()}
        server_cpu0 = cpu_seconds(proc.pid) if proc else float("nan")
        client_cpu0 = time.process_time()
        result["load"] = asyncio.run(load(base, args.clients, args.seconds))
        answers = max(1, result["load"]["answers"])
        server_ms = (cpu_seconds(proc.pid) - server_cpu0) * 1000 / answers if proc else float("nan")
        client_ms = (time.process_time() - client_cpu0) * 1000 / answers
        # CPU time actually spent per answer (server process, and this client), to judge figures taken on a busy box.
        result["load"]["server_cpu_ms_per_answer"] = round(server_ms, 1)
        result["load"]["client_cpu_ms_per_answer"] = round(client_ms, 1)
        result["loadavg_after"] = loadavg()
        result["stream"] = first_byte(base, args.stream_samples)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        ld, st = result["load"], result["stream"]
        print(f"server {base} ({args.workers} worker(s), {result['cpu_count']} CPUs), "
              f"answerer {health.get('answerer')}, {health.get('passages')} passages")
        print(f"load: {ld['clients']} clients x {ld['seconds']} s: {ld['answers']} answers, errors {ld['errors'] or 0}, "
              f"{ld['answers_per_s']} answers/s, p50 {ld['p50_ms']} ms, p95 {ld['p95_ms']} ms, max {ld['max_ms']} ms")
        print(f"cpu per answer: server {ld['server_cpu_ms_per_answer']} ms, client {ld['client_cpu_ms_per_answer']} ms; "
              f"load average before/after {result['loadavg_before']}/{result['loadavg_after']} "
              f"(other processes on the machine lower the figures)")
        print(f"stream: first byte p50 {st['first_byte_p50_ms']} ms, p95 {st['first_byte_p95_ms']} ms, "
              f"max {st['first_byte_max_ms']} ms; complete answer p50 {st['complete_p50_ms']} ms "
              f"({st['samples']} sequential samples, warm)")
    ok = not result["load"]["errors"] and result["load"]["answers"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

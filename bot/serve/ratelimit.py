"""Per-client token-bucket rate limiting for the JSON API.

Each client IP gets a bucket holding up to `per_minute` tokens, refilled continuously at per_minute/60 tokens a
second; a request takes one token. An empty bucket means 429 with Retry-After (whole seconds until a token is
back). Buckets idle long enough to be full again are dropped, so memory stays bounded.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last update)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, key: str) -> float:
        """Take a token for `key`. Returns 0.0 when allowed, else the seconds to wait (> 0)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                allowed = True
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                allowed = False
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self.max_clients:
                self._prune(now)
        return 0.0 if allowed else max(wait, 1e-3)

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate if self.rate else 0.0
        stale = [k for k, (_, last) in self._buckets.items() if now - last >= full_after]
        for k in stale:
            del self._buckets[k]
        # Still too many (a flood of distinct addresses): drop the oldest half.
        if len(self._buckets) > self.max_clients:
            for k, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: len(self._buckets) // 2]:
                del self._buckets[k]

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))

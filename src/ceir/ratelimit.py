"""Per-client rate limits (token buckets in this process's memory) and their domain error."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ceir.errors import CeirError


class RateLimited(CeirError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; try again in {retry_after} seconds.")
        self.retry_after = retry_after


class RateLimiter:
    """`per_minute` requests a minute per key, refilled continuously; 0 switches it off.

    Each worker process keeps its own buckets, so with N workers a client gets at most N times the
    limit; that bound is what the deployment guide documents.
    """

    MAX_KEYS = 200_000  # beyond this, idle clients are forgotten so memory stays bounded

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Take one token for `key`; returns 0 when allowed, else seconds until one is free."""
        if self.per_minute <= 0:
            return 0
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.MAX_KEYS:
                    self._forget_idle(now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def wait(self, key: str) -> int:
        """Seconds until `key` could take a token, without taking one; 0 when it could now."""
        if self.per_minute <= 0:
            return 0
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        return 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / rate))

    def _forget_idle(self, now: float) -> None:
        full_after = 60.0  # a bucket untouched for a minute is full again: same as absent
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}

"""Per-client rate limits for public endpoints (token buckets in this process's memory)."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable

from fastapi import Request

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


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The client's IP: the socket peer, or the nearest untrusted hop when behind our proxies."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in_networks(hop, trusted_proxies):
            return hop
    return peer


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def public_rate_limit(request: Request) -> None:
    """FastAPI dependency for public lookups: raises RateLimited past the configured rate."""
    state = request.app.state
    retry_after = state.public_limiter.hit(client_address(request, state.settings.trusted_proxies))
    if retry_after:
        raise RateLimited(retry_after)

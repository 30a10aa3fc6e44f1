"""Rate limits at the edge: who the client is (behind our proxies), limiters per app, guards."""

from __future__ import annotations

import ipaddress
import threading

from fastapi import Request

from ceir.ratelimit import RateLimited, RateLimiter

_limiters_lock = threading.Lock()


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


def app_limiter(request: Request, name: str, per_minute: int) -> RateLimiter:
    """The app's limiter called `name`, made on first use (each app, as in tests, has its own)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, name, None)
    if limiter is None:
        with _limiters_lock:
            limiter = getattr(state, name, None)
            if limiter is None:
                limiter = RateLimiter(per_minute)
                setattr(state, name, limiter)
    return limiter

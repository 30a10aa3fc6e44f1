"""Prometheus metrics of the web application, kept in a registry of the app's own."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ceir.errors import NotFound, Unauthorized


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ceir_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ceir_http_request_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.checks = Counter(
            "ceir_imei_checks",
            "Public IMEI checks by verdict",
            ["verdict"],
            registry=self.registry,
        )
        # `labels` takes a lock and builds its key on every call: the children are kept here.
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """`metric.labels(*labels)`, made once."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


class MetricsMiddleware:
    """Counts and times requests by route template (not raw path, so IMEIs don't explode labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.child(self.metrics.requests, method, route, str(status)).inc()
            self.metrics.child(self.metrics.latency, method, route).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")  # Starlette's router leaves the matched route in the scope
    return str(getattr(route, "path", "unmatched"))


def metrics_token_checker(token: str) -> Callable[[Request], None]:
    """A dependency: /metrics answers 404 with no token configured, and 401 without that token
    (per-route traffic is not for the public)."""

    def check(request: Request) -> None:
        if not token:
            raise NotFound("Metrics are not served here; set CEIR_METRICS_TOKEN to serve them.")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("Give the metrics token as Authorization: Bearer <token>.")

    return check

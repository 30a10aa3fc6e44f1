"""The N5g-eir Equipment Identity Check (3GPP TS 29.511) as a lean ASGI application.

One route does the work and must answer thousands of requests a second on two cores, so this is a
hand-rolled ASGI callable rather than FastAPI: no routing tables, validation models or middleware
stacks per request, and the three possible success bodies are prepared once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine

from ceir.config import Settings, get_settings
from ceir.db import get_engine
from ceir.eir.index import IndexHolder
from ceir.eir.policy import EquipmentStatus
from ceir.eir.service import (
    OTHER_PEI_FORM,
    EirProblem,
    EquipmentUnknown,
    IndexRefresher,
    check_gpsi,
    check_supported_features,
    equipment_status,
    initial_index,
    pei_key,
    supi_is_home,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_ROOT = "/n5g-eir-eic/v1"
EQUIPMENT_STATUS = f"{API_ROOT}/equipment-status"

_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", b"application/problem+json")]
_ANSWERS = {
    status: json.dumps({"status": status.value}, separators=(",", ":")).encode()
    for status in EquipmentStatus
}
_TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Error"}


class EirMetrics:
    """Requests by status code, answers by EquipmentStatus, and latency.

    Under several worker processes, `PROMETHEUS_MULTIPROC_DIR` (set by `ceir eir serve`) makes
    every worker write its counts to shared files and /metrics report the sum of all workers.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ceir_eir_requests",
            "N5g-eir HTTP requests by status code",
            ["code"],
            registry=self.registry,
        )
        self.answers = Counter(
            "ceir_eir_answers", "Equipment statuses answered", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "ceir_eir_request_seconds",
            "Time to answer an N5g-eir HTTP request",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0),
            registry=self.registry,
        )
        # Label children bound once: a lookup by label costs more than the check itself.
        self._by_code: dict[int, Any] = {}
        self._by_status = {s: self.answers.labels(s.value) for s in EquipmentStatus}
        self.also: list[CollectorRegistry] = []  # more to expose (an EIR node's S13 counters)

    def observe(self, code: int, status: EquipmentStatus | None, seconds: float) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self.requests.labels(str(code))
        child.inc()
        if status is not None:
            self._by_status[status].inc()
        self.latency.observe(seconds)

    def exposition(self) -> bytes:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return b"".join(bytes(generate_latest(r)) for r in (self.registry, *self.also))


class Refresher(Protocol):
    """What keeps the index current: the database refresher, or an EIR node's sync."""

    @property
    def last_error(self) -> str | None: ...

    def details(self) -> dict[str, Any]: ...

    def stop(self, timeout: float = ...) -> None: ...


class EirApp:
    """ASGI application: /n5g-eir-eic/v1/equipment-status, /healthz and /metrics.

    Without a `holder`, start-up loads the newest snapshot (or builds the index from the
    database) and starts an IndexRefresher; with one, the caller keeps it current.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        holder: IndexHolder | None = None,
        refresher: Refresher | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.holder = holder or IndexHolder()
        self._owns_index = holder is None
        self.refresher: Refresher | None = refresher
        self.metrics = EirMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                except Exception as exc:
                    log.exception("the real-time index could not be loaded")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def startup(self) -> None:
        if self._owns_index and self.refresher is None:
            assert self.engine is not None, "without a holder the index comes from the database"
            self.holder.swap(initial_index(self.engine, self.settings))
            self.refresher = IndexRefresher(self.holder, self.engine, self.settings).start()

    def shutdown(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None

    async def _http(self, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        path = scope["path"]
        answer: EquipmentStatus | None = None
        if path == EQUIPMENT_STATUS:
            if scope["method"] == "GET":
                code, headers, body, answer = self._equipment_status(scope["query_string"])
            else:
                code, headers, body = _method_not_allowed()
        elif path == "/healthz":
            code, headers, body = 200, _JSON, json.dumps(self.health()).encode()
        elif path == "/metrics":
            code, body = 200, self.metrics.exposition()
            headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        else:
            code, headers, body = _problem(
                404, "RESOURCE_URI_STRUCTURE_NOT_FOUND", f"No resource at {path}."
            )
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(code, answer, time.perf_counter() - started)

    def _equipment_status(
        self, query_string: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, EquipmentStatus | None]:
        query: dict[str, str] = {}
        for name, value in parse_qsl(
            query_string.decode("utf-8", "replace"), keep_blank_values=True
        ):
            query.setdefault(name, value)  # a repeated parameter: the first one counts
        supi = query.get("supi")
        try:
            # Every parameter is checked (400) before a PEI of another form is called unknown.
            key = pei_key(query.get("pei"))
            supi_is_home(supi, self.settings.network.home_mcc)
            check_gpsi(query.get("gpsi"))
            check_supported_features(query.get("supported-features"))
            if key is None:
                raise EquipmentUnknown(OTHER_PEI_FORM)
            status = equipment_status(self.holder, key, supi, self.settings)
            if status is None:
                raise EquipmentUnknown("The PEI is not known to this EIR.")
        except EirProblem as problem:
            return (*_problem(problem.status, problem.cause, problem.detail, problem.param), None)
        return 200, _JSON, _ANSWERS[status], status

    def health(self) -> dict[str, Any]:
        info = self.holder.info()
        error = self.refresher.last_error if self.refresher else None
        details = self.refresher.details() if self.refresher else {}
        return {
            "status": "ok" if error is None else "degraded",
            **info,
            "refresh_error": error,
            **details,
        }


def _problem(
    status: int, cause: str | None, detail: str, param: str | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """TS 29.571 ProblemDetails; a query parameter at fault is named "query <name>" (TS 29.571)."""
    body: dict[str, Any] = {
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if cause:
        body["cause"] = cause
    if param:
        body["invalidParams"] = [{"param": f"query {param}", "reason": detail}]
    return status, _PROBLEM, json.dumps(body).encode()


def _method_not_allowed() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, headers, body = _problem(405, None, "This resource answers GET only.")
    return status, [*headers, (b"allow", b"GET")], body


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    holder: IndexHolder | None = None,
) -> EirApp:
    """The application; uvicorn calls it with no arguments in each worker process."""
    settings = settings or get_settings()
    return EirApp(settings, engine or get_engine(settings.effective_database_url), holder)

"""JSON API of the public IMEI check."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from ceir import identifiers
from ceir.check.answers import render
from ceir.check.memory import MemoryCheck
from ceir.check.schemas import CheckOut
from ceir.check.service import CheckResult, check_imei, invalid
from ceir.partners.models import Sale
from ceir.partners.service import find_sale
from ceir.web.limits import client_address, public_rate_limit
from ceir.web.templating import select_language

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["public check"])
IMEI_MAX_LENGTH = 64


async def limit_checks(request: Request) -> None:
    """The public rate limit, taken on the event loop: it only touches a dict under a lock."""
    # A plain `def` dependency would cost a hop to the thread pool on every request.
    limit = request.app.dependency_overrides.get(public_rate_limit, public_rate_limit)
    limit(request)


def _threads_for_checks(request: Request) -> CapacityLimiter:
    """At most as many checks at once as the pool keeps connections, one limiter per app.

    Past that, a burst would open and close an overflow connection per request (on SQLite each
    new connection also starts with a cold page cache), and throughput fell by half.
    """
    state = request.app.state
    limiter = getattr(state, "check_threads", None)
    if limiter is None:
        size = getattr(state.engine.pool, "size", None)  # a pool without one: anyio's default
        limiter = (
            CapacityLimiter(size())
            if callable(size)
            else to_thread.current_default_thread_limiter()
        )
        state.check_threads = limiter
    return limiter


def sale_of(db: Session | Connection, result: CheckResult, receipt: str | None) -> Sale | None:
    """The seller's record of this IMEI's sale, only for whoever holds its receipt number."""
    if not receipt or not receipt.strip() or result.imei is None:
        return None
    if isinstance(db, Connection):
        with Session(bind=db) as session:
            sale = find_sale(session, result.imei[:14], receipt)
            if sale is not None:
                session.expunge(sale)
            return sale
    return find_sale(db, result.imei[:14], receipt)


def _check(
    engine: Engine, imei: str, receipt: str | None = None, memory: MemoryCheck | None = None
) -> tuple[CheckResult, Sale | None]:
    """The check on `engine` (a read engine: no transaction, no ping), retried once when the
    server had dropped the pooled connection (a restart); by then the pool is renewed."""
    try:
        return _check_once(engine, imei, receipt, memory)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return _check_once(engine, imei, receipt, memory)


def _check_once(
    engine: Engine, imei: str, receipt: str | None, memory: MemoryCheck | None
) -> tuple[CheckResult, Sale | None]:
    # One connection, taken and given back in the same thread: with a session held from a
    # dependency across several thread-pool hops, a burst of requests could take every thread
    # while every pooled connection waited for a thread to be released (a deadlock until the
    # pool timed out). A Connection also skips the ORM, which this read has no use for.
    with engine.connect() as conn:
        result = memory.check(conn, imei) if memory is not None else check_imei(conn, imei)
        return result, sale_of(conn, result, receipt)


@router.get(
    "/imei/{imei:path}",
    response_model=CheckOut,
    dependencies=[Depends(limit_checks)],
    summary="Check one IMEI",
    responses={429: {"description": "Too many checks from this client; see Retry-After"}},
)
async def get_imei(
    request: Request,
    imei: Annotated[
        str, Path(max_length=IMEI_MAX_LENGTH, description="IMEI (14-16 digits) or PEI")
    ],
    receipt: Annotated[
        str | None,
        Query(
            max_length=64,
            description="the receipt number of a sale: its record is shown when it matches",
        ),
    ] = None,
) -> Response:
    """Is this IMEI in the registry of legally imported devices, and what model does its TAC name?

    Answered in the language of `?lang=` (ru, kk, en), the `lang` cookie or Accept-Language.
    With `?receipt=`, the seller's record of the sale (seller, date, receipt) is added when a
    sale of this IMEI was recorded with that receipt number; sales are never listed otherwise.
    """
    engine = request.app.state.read_engine
    memory = request.app.state.check_memory
    if engine.dialect.name == "sqlite":
        # A check is one statement of a few index look-ups in a local file, some tens of
        # microseconds: done here, not in a worker thread, whose round trip alone cost 400 us
        # and halved the requests a process answers. A server database answers over the
        # network and is left to the thread pool.
        result, sale = _check(engine, imei, receipt, memory)
    else:
        result, sale = await to_thread.run_sync(
            _check, engine, imei, receipt, memory, limiter=_threads_for_checks(request)
        )
    return await _answer(request, result, sale)


async def _answer(request: Request, result: CheckResult, sale: Sale | None) -> Response:
    """The answer as JSON, counted; the route ends here."""
    body = await _counted(request, result, select_language(request), sale)
    return Response(body, media_type="application/json")


async def _counted(
    request: Request, result: CheckResult, lang: str, sale: Sale | None = None
) -> bytes:
    """The answer's JSON, with the check counted (metrics and the daily tally)."""
    state = request.app.state
    state.metrics.child(state.metrics.checks, result.verdict.value).inc()
    if state.check_tally.add(result.verdict):
        await to_thread.run_sync(
            state.check_tally.flush, state.engine, limiter=_threads_for_checks(request)
        )
    return render(result, lang, sale)


# --- the same check without FastAPI's routing and dependencies -------------------------------

PREFIX = "/api/v1/imei/"
JSON = b"application/json"


class CheckFastPath:
    """`GET /api/v1/imei/{imei}` answered from memory before FastAPI routes the request.

    Routing past a hundred routes, resolving dependencies and validating parameters cost more
    than the answer itself once it comes from memory. Only the plain form is taken here: the
    same rate limit, the same answer (`_answer`), the same route label for the metrics. Anything
    else (a receipt, an IMEI too long to be one, a client past its limit, an overridden limit in
    tests) goes on to the route, which answers as it always did.
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.route = next(r for r in router.routes if getattr(r, "endpoint", None) is get_imei)
        self._barrier: Barrier | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.owner.state
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
            or state.check_memory is None
            or not 0 < len(scope["path"]) - len(PREFIX) <= IMEI_MAX_LENGTH
            or b"receipt" in scope["query_string"]
            or scope.get("root_path")
            or public_rate_limit in self.owner.dependency_overrides
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        limited = state.public_limiter.hit(client_address(request, state.settings.trusted_proxies))
        if limited:  # the route answers 429 with its problem details (it takes no token either)
            await self.app(scope, receive, send)
            return
        result = await self._check(request, scope["path"][len(PREFIX) :])
        scope["route"] = self.route  # what the metrics label the request by
        body = await _counted(request, result, select_language(request))
        # What Response(body, media_type="application/json") sends, without building one.
        headers = [(b"content-length", b"%d" % len(body)), (b"content-type", JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _check(self, request: Request, query: str) -> CheckResult:
        memory: MemoryCheck = request.app.state.check_memory
        engine: Engine = request.app.state.read_engine
        try:
            imei = identifiers.parse_imei(query)
        except identifiers.IdentifierError as exc:
            return invalid(query, exc)
        if engine.dialect.name == "sqlite":
            memory.fresh()  # microseconds: the file says whether anything was committed
        else:
            if self._barrier is None:
                self._barrier = Barrier(memory.fresh, memory.staleness, memory.clock)
            await self._barrier.wait()
        result = memory.answer(query, imei)
        if result is not None:
            return result
        if engine.dialect.name == "sqlite":  # changed since the index: as the route does
            return _check(engine, query)[0]
        limiter = _threads_for_checks(request)
        return (await to_thread.run_sync(_check, engine, query, limiter=limiter))[0]


class Barrier:
    """Read barriers shared by the requests that wait at the same time (a server database).

    A request waits for a poll that started after it arrived: a change committed before it is
    then seen. Requests that arrive while one poll runs share the next one, so under load one
    round trip serves many requests instead of one each.

    With `staleness` (seconds) above 0, a request does not wait when the last poll started at
    most that long before it: its answer then shows every change committed `staleness` seconds
    before it, and maybe later ones. Past half that age a poll is started for the requests to
    come, which do not wait for it; so under steady load no request waits, and the database
    sees a few polls a second instead of hundreds.
    """

    def __init__(
        self,
        poll: Callable[[], None],
        staleness: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poll = poll
        self._staleness = staleness
        self._clock = clock
        self._as_of: float | None = None  # when the last poll that succeeded started
        self._waiting: list[asyncio.Future[None]] = []
        self._running = False
        self._task: asyncio.Future[None] | None = None  # held: the loop keeps only weak ones

    async def wait(self) -> None:
        if self._staleness > 0 and self._as_of is not None:
            age = self._clock() - self._as_of
            if age <= self._staleness:
                if age > self._staleness / 2 and not self._running:
                    self._start()
                return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if not self._running:
            self._start()
        await waiter

    def _start(self) -> None:
        self._running = True
        self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while True:
                batch, self._waiting = self._waiting, []
                failure: BaseException | None = None
                started = self._clock()
                try:
                    await to_thread.run_sync(self._poll)
                except Exception as exc:  # each waiting request fails with it, as it would alone
                    failure = exc
                    if not batch:
                        log.warning("polling the public check's changes failed: %s", exc)
                else:
                    self._as_of = started
                for waiter in batch:
                    if waiter.done():
                        continue
                    if failure is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(failure)
                if not self._waiting:
                    break
        finally:
            self._running = False

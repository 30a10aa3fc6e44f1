"""JSON API of the public IMEI check."""

from __future__ import annotations

from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ceir.check.presentation import describe, sale_text, signal_text
from ceir.check.schemas import (
    CheckOut,
    DeviceOut,
    InvalidOut,
    ReasonOut,
    RegistrationOut,
    SaleOut,
    SignalOut,
)
from ceir.check.service import CheckResult, check_imei
from ceir.network.reasons import label as reason_label
from ceir.partners.models import Sale
from ceir.partners.service import find_sale
from ceir.web.limits import public_rate_limit
from ceir.web.templating import select_language

router = APIRouter(prefix="/api/v1", tags=["public check"])


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
    engine: Engine, imei: str, receipt: str | None = None
) -> tuple[CheckResult, Sale | None]:
    """The check on `engine` (a read engine: no transaction, no ping), retried once when the
    server had dropped the pooled connection (a restart); by then the pool is renewed."""
    try:
        return _check_once(engine, imei, receipt)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return _check_once(engine, imei, receipt)


def _check_once(engine: Engine, imei: str, receipt: str | None) -> tuple[CheckResult, Sale | None]:
    # One connection, taken and given back in the same thread: with a session held from a
    # dependency across several thread-pool hops, a burst of requests could take every thread
    # while every pooled connection waited for a thread to be released (a deadlock until the
    # pool timed out). A Connection also skips the ORM, which this read has no use for.
    with engine.connect() as conn:
        result = check_imei(conn, imei)
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
    imei: Annotated[str, Path(max_length=64, description="IMEI (14-16 digits) or PEI")],
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
    if engine.dialect.name == "sqlite":
        # A check is one statement of a few index look-ups in a local file, some tens of
        # microseconds: done here, not in a worker thread, whose round trip alone cost 400 us
        # and halved the requests a process answers. A server database answers over the
        # network and is left to the thread pool.
        result, sale = _check(engine, imei, receipt)
    else:
        result, sale = await to_thread.run_sync(
            _check, engine, imei, receipt, limiter=_threads_for_checks(request)
        )
    request.app.state.metrics.checks.labels(result.verdict.value).inc()
    tally = request.app.state.check_tally
    if tally.add(result.verdict):
        await to_thread.run_sync(
            tally.flush, request.app.state.engine, limiter=_threads_for_checks(request)
        )
    lang = select_language(request)
    words = describe(result, lang)
    answer = CheckOut(
        query=result.query,
        imei=result.imei,
        tac=result.tac,
        verdict=result.verdict,
        list_colour=result.list_colour,
        list_name=words["list"],
        block_date=result.block_date,
        title=words["title"],
        advice=words["advice"],
        abroad_advice=words.get("abroad"),
        language=lang,
        invalid=InvalidOut(code=result.invalid_code, reason=words.get("reason", ""))
        if result.invalid_code
        else None,
        registration=RegistrationOut(
            source=result.registration.source, registered_at=result.registration.registered_at
        )
        if result.registration
        else None,
        device=DeviceOut(
            brand=result.device.brand,
            model=result.device.model,
            marketing_name=result.device.marketing_name,
            device_type=result.device.device_type,
        )
        if result.device
        else None,
        signals=[SignalOut(code=s, message=signal_text(s, lang)) for s in result.signals],
        sale=SaleOut(
            seller=sale.owner,
            sold_on=sale.sold_on,
            receipt_number=sale.receipt_number,
            text=sale_text(sale.owner, sale.sold_on, sale.receipt_number, lang),
        )
        if sale
        else None,
        reason=ReasonOut(
            code=result.reason,
            text=reason_label(result.reason, lang),
            first_seen=result.first_seen,
            grace_end=result.block_date,
        )
        if result.reason
        else None,
    )
    # Serialised here, once: returned as a model, FastAPI would validate it again first.
    return Response(answer.model_dump_json(), media_type="application/json")

"""Importers' and shops' API: declarations in; verification fees and monthly statements out."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ceir.apikeys.deps import require_scope
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import SCOPE_REGISTER_DECLARATIONS
from ceir.errors import FileRejected, InvalidInput, PayloadTooLarge
from ceir.partners import fees
from ceir.web.deps import Db
from ceir.web.templating import select_language, templates

router = APIRouter(prefix="/api/v1/partners", tags=["partners: declarations and fees"])
DeclarationsKey = Annotated[ApiKey, Depends(require_scope(SCOPE_REGISTER_DECLARATIONS))]
MAX_DECLARATIONS_BYTES = 64 * 1024 * 1024


@router.post(
    "/declarations",
    summary="Register the devices of a customs declarations file (1 MRP per device)",
    responses={
        402: {"description": "Unpaid fees would go above the partner's limit; nothing loaded"},
        422: {"description": "Bad rows; nothing loaded (the report lists them)"},
    },
)
async def post_declarations(
    request: Request,
    key: DeclarationsKey,
    db: Db,
    accept_good: Annotated[bool, Query(description="load the good rows, report the bad")] = False,
) -> dict[str, Any]:
    """The body is the declarations CSV of docs/formats.md (`text/csv`). Atomic and idempotent:
    rows already registered under the same declaration are skipped and not charged again."""
    body = await request.body()
    if len(body) > MAX_DECLARATIONS_BYTES:
        raise PayloadTooLarge(
            f"a declarations file may have at most {MAX_DECLARATIONS_BYTES} bytes"
        )
    if not body.strip():
        raise InvalidInput("the declarations file is empty")
    settings = request.app.state.settings
    with tempfile.TemporaryDirectory(prefix="ceir-declarations-") as folder:
        path = Path(folder) / "declarations.csv"
        path.write_bytes(body)
        try:
            outcome = fees.register_declarations(
                db, path, partner=key.owner, settings=settings, accept_good=accept_good
            )
        except FileRejected as exc:
            exc.extra = {"report": exc.report.as_dict()}  # type: ignore[attr-defined]
            raise
    entry = outcome.entry
    return {
        "report": outcome.report.as_dict(),
        "fee": None
        if entry is None
        else {
            "month": entry.month,
            "devices": entry.devices,
            "fee_per_device_tenge": entry.fee_per_device,
            "amount_tenge": entry.amount,
        },
        "unpaid_tenge": outcome.unpaid_tenge,
        "unpaid_limit_tenge": outcome.limit_tenge,
    }


@router.get(
    "/statements/{month}.csv",
    summary="The calling partner's statement of fees for a month (YYYY-MM), as CSV",
    response_class=Response,
)
def statement_csv(month: str, key: DeclarationsKey, db: Db) -> Response:
    found = fees.statement(db, key.owner, month)
    return Response(
        fees.statement_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="ceir-fees-{key.owner}-{month}.csv"'
        },
    )


@router.get(
    "/statements/{month}.html",
    summary="The same statement as a printable page",
    response_class=HTMLResponse,
)
def statement_page(request: Request, month: str, key: DeclarationsKey, db: Db) -> Response:
    found = fees.statement(db, key.owner, month)
    return templates.TemplateResponse(
        request,
        "partners_statement.html",
        {"statement": found, "lang": select_language(request)},
    )


@router.get("/fees", summary="The calling partner's ledger: devices and fees per month")
def ledger(request: Request, key: DeclarationsKey, db: Db) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "partner": key.owner,
        "months": fees.ledger_of(db, key.owner),
        "unpaid_tenge": fees.unpaid_of(db, key.owner),
        "unpaid_limit_tenge": fees.limit_of(settings, key.owner),
    }

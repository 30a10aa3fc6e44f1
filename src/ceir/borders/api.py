"""The border service's push API: crossing records in, a load report out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ceir.apikeys.deps import require_scope
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import SCOPE_BORDERS_WRITE
from ceir.borders.service import MAX_RECORDS_PER_PUSH, push_crossings
from ceir.errors import FileRejected
from ceir.importing import ImportReport
from ceir.web.deps import Db

router = APIRouter(prefix="/api/v1/border-crossings", tags=["border service"])


class CrossingIn(BaseModel):
    record_id: str = Field(max_length=64, description="the border service's own id of the record")
    iin: str = Field(max_length=32, description="the person's IIN, 12 digits")
    direction: str = Field(max_length=16, description="exit or entry")
    crossed_at: str = Field(
        max_length=64,
        description="ISO 8601 date and time; without an offset it is Asia/Almaty local time",
        examples=["2026-10-01T08:30:00+05:00"],
    )
    checkpoint: str = Field(max_length=128)
    country: str | None = Field(default=None, max_length=8, description="ISO 3166 alpha-2")


class CrossingsIn(BaseModel):
    records: list[CrossingIn] = Field(max_length=MAX_RECORDS_PER_PUSH)


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key lacks the borders:write scope"},
    422: {"description": "Bad records (each with its position, field and reason); none stored"},
}


@router.post(
    "",
    summary="Push border-crossing records (atomic, idempotent by record_id)",
    status_code=200,
    responses=ERRORS,
)
def push(
    body: CrossingsIn,
    db: Db,
    key: Annotated[ApiKey, Depends(require_scope(SCOPE_BORDERS_WRITE))],
) -> JSONResponse:
    """Store the records; the same record again changes nothing (`rows_skipped`).

    A record id already stored with other data, or any bad record, refuses the whole request
    with a report naming each record by its position (from 1) in `records`.
    """
    records = [r.model_dump() for r in body.records]
    try:
        report = push_crossings(db, records, actor=f"api:{key.owner_kind}:{key.owner}")
    except FileRejected as exc:
        if isinstance(exc.report, ImportReport):
            exc.extra = {"report": exc.report.as_dict()}
        raise
    return JSONResponse(report.as_dict())

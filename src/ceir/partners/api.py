"""The partners' API: bulk checks, jobs for large files, sale records, usage of one's key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ceir.apikeys.deps import require_scope
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import SCOPE_CHECK
from ceir.db import utcnow
from ceir.errors import InvalidInput, NotFound, PayloadTooLarge
from ceir.partners import docs, service
from ceir.partners.models import CheckJob
from ceir.partners.schemas import (
    BulkCheckOut,
    CheckAnswer,
    JobOut,
    SaleIn,
    SaleOut,
    UsageDay,
)
from ceir.web.deps import Db, ReadDb
from ceir.web.problems import problems

router = APIRouter(prefix="/api/v1/partners", tags=["partners"])
CheckKey = Annotated[ApiKey, Depends(require_scope(SCOPE_CHECK))]
MAX_JOB_BYTES = 64 * 1024 * 1024  # a million IMEIs with brand and model fit well within this
MAX_CHECK_BYTES = 8 * 1024 * 1024  # 10,000 items at their longest fields fit within this


@router.post(
    "/checks",
    response_model=BulkCheckOut,
    summary="Check up to 10,000 IMEIs at once",
    openapi_extra=docs.BULK_CHECK_REQUEST,
    responses=problems(401, 403, 413, 415, 422, 429),
)
async def bulk_check(request: Request, key: CheckKey, db: Db, reader: ReadDb) -> BulkCheckOut:
    """JSON `{"items": [{"imei": …, "brand": …, "model": …}]}` (`application/json`) or CSV
    (`text/csv`, or `text/plain`) with a header `imei[,brand,model]` or one IMEI a line. Answers
    keep the order; a bad IMEI is marked `invalid` on its own. A body that is not one of these
    answers 415 or 422 and is not counted against the quota."""
    body = await _body_after_commit(request, db)
    return await run_in_threadpool(
        _bulk_check, db, reader, key, request.headers.get("content-type", ""), body
    )


async def _body_after_commit(request: Request, db: Session) -> bytes:
    """The request's body, read once the key check's transaction (its last use) is committed.

    A client may send its body slowly: an open transaction would hold a pooled connection and,
    on SQLite, the write lock while it uploads.
    """
    await run_in_threadpool(db.commit)
    return await request.body()


def _bulk_check(
    db: Session, reader: Session, key: ApiKey, content_type: str, body: bytes
) -> BulkCheckOut:
    # In a worker thread: a batch's look-ups (and a wait for SQLite's write lock) must not stall
    # the event loop.
    items = service.items_of(content_type, body)
    if len(items) > service.MAX_BATCH:
        raise PayloadTooLarge(f"at most {service.MAX_BATCH} IMEIs in one request; use /jobs")
    service.admit(db, key, len(items), utcnow())
    # The use is counted on the primary and committed before the look-ups, which may run on the
    # replica: a refused batch is not counted, a counted one holds no transaction while it reads.
    db.commit()
    answers = service.check_batch(reader, items)
    return BulkCheckOut(results=[CheckAnswer(**a) for a in answers])


def _job_out(request: Request, job: object) -> JobOut:
    out = JobOut.model_validate(job, from_attributes=True)
    if out.status == "done":
        out.result_url = str(request.url_for("job_result", job_id=out.id))
    return out


@router.post(
    "/jobs",
    response_model=JobOut,
    status_code=202,
    summary="Check a file of up to 1,000,000 IMEIs in the background",
    openapi_extra=docs.JOB_REQUEST,
    responses=problems(401, 403, 413, 415, 422, 429),
)
async def create_job(request: Request, key: CheckKey, db: Db, tasks: BackgroundTasks) -> JobOut:
    """The body is the file (CSV with an `imei` header, or one IMEI a line). Poll the job; when
    it is `done`, download `result_url` (gzip CSV, one row per input line, in order). Another
    media type than `text/csv` (or `text/plain`) answers 415."""
    service.check_job_media(request.headers.get("content-type", ""))
    body = await _body_after_commit(request, db)
    if len(body) > MAX_JOB_BYTES:
        raise PayloadTooLarge(f"a job file may have at most {MAX_JOB_BYTES} bytes")
    if not body.strip():
        raise InvalidInput("the job file is empty")
    settings = request.app.state.settings
    job = await run_in_threadpool(_create_job, db, key, body, settings.data_dir)
    tasks.add_task(service.run_job, request.app.state.engine, job.id, settings.data_dir)
    return _job_out(request, job)


def _create_job(db: Session, key: ApiKey, body: bytes, data_dir: Path) -> CheckJob:
    service.admit(db, key, max(body.count(b"\n"), 1), utcnow())
    job = service.create_job(db, key, body, data_dir)
    db.commit()
    return job


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's status",
    responses=problems(401, 403, 404),
)
def get_job(request: Request, job_id: str, key: CheckKey, db: Db) -> JobOut:
    return _job_out(request, service.get_job(db, key.owner, job_id))


@router.get(
    "/jobs/{job_id}/result",
    name="job_result",
    summary="Download a job's result",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}}, **problems(401, 403, 404)},
)
def job_result(request: Request, job_id: str, key: CheckKey, db: Db) -> Response:
    job = service.get_job(db, key.owner, job_id)
    path = service.job_folder(request.app.state.settings.data_dir) / f"{job.id}.csv.gz"
    if job.status != "done" or not path.exists():
        raise NotFound("the result is not ready")
    return FileResponse(path, media_type="application/gzip", filename=f"ceir-check-{job.id}.csv.gz")


@router.post(
    "/sales",
    response_model=SaleOut,
    status_code=201,
    summary="Record a sale",
    responses=problems(401, 403, 404, 422),
)
def record_sale(sale: SaleIn, key: CheckKey, db: Db) -> SaleOut:
    """The seller records that a checked device was sold; the buyer can later see it on the
    public check by giving the receipt number."""
    row = service.record_sale(db, key, sale.imei, sale.sold_on, sale.receipt_number)
    return SaleOut(id=row.id, imei=row.imei, sold_on=row.sold_on, receipt_number=row.receipt_number)


@router.get(
    "/usage",
    response_model=list[UsageDay],
    summary="Use of the calling key by day",
    responses=problems(401, 403),
)
def usage(key: CheckKey, db: Db) -> list[UsageDay]:
    return [UsageDay(**u) for u in service.usage_of(db, key.key_id)]

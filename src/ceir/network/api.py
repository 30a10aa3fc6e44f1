"""Operators' API: pull the lists of each classification run, push network dumps."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message, Receive

from ceir.apikeys.deps import require_scope
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import OWNER_OPERATOR, SCOPE_DUMPS_WRITE, SCOPE_LISTS_READ
from ceir.config import Settings
from ceir.errors import FileRejected, InvalidInput, NotFound, PayloadTooLarge
from ceir.network import dumps
from ceir.network.exchange import PublishedRun, get_run, inbox_path, list_file_path, list_runs
from ceir.network.schemas import ListFileOut, RunOut, RunsOut
from ceir.network.signing import public_key_pem
from ceir.web.deps import MAX_ROW_ID, Db

router = APIRouter(prefix="/api/v1/operators", tags=["operators"])

# A month of a large operator's traffic, zipped, is well under this; streamed, never in memory.
MAX_DUMP_BYTES = 2 * 1024**3
MULTIPART_OVERHEAD = 1024**2  # boundaries and part headers around the file
CHUNK_BYTES = 1024**2

OperatorCode = Annotated[str, PathParam(max_length=16, description="operator code, e.g. kcell")]
# (one less for a run id: it is looked up as "older than run_id + 1")
RunId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID - 1, description="a run's id")]
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key lacks the scope this needs"},
    404: {"description": "No such operator, run or file for this key"},
    429: {"description": "Too many failed authentications from this address"},
}


def operator_key(scope: str) -> Callable[..., ApiKey]:
    """A live key with `scope` that belongs to the operator in the path; any other answers 404."""
    scoped = require_scope(scope)

    # A default, not Annotated: string annotations cannot name the local `scoped`.
    def dependency(
        request: Request, operator: OperatorCode, key: ApiKey = Depends(scoped)
    ) -> ApiKey:
        settings: Settings = request.app.state.settings
        # 404, not 403: another operator's runs are not even acknowledged to exist.
        if (
            operator not in settings.network.operators
            or key.owner_kind != OWNER_OPERATOR
            or key.owner != operator
        ):
            raise NotFound(f"No operator {operator!r} for this API key.")
        return key

    return dependency


Reader = Annotated[ApiKey, Depends(operator_key(SCOPE_LISTS_READ))]
Pusher = Annotated[ApiKey, Depends(operator_key(SCOPE_DUMPS_WRITE))]


@router.get(
    "/signing-key",
    summary="The public key that signs list manifests (PEM)",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def signing_key(request: Request) -> Response:
    """Ed25519 public key; verify `manifest.json.sig` against `manifest.json` with it."""
    pem = public_key_pem(request.app.state.settings)
    return Response(pem, media_type="application/x-pem-file")


def _run_out(request: Request, operator: str, published: PublishedRun) -> RunOut:
    return RunOut(
        run_id=published.run.id,
        run_date=published.run.run_date,
        finished_at=published.run.finished_at,
        files=[
            ListFileOut(
                name=f.name,
                kind=f.kind,
                variant=f.variant,
                rows=f.rows,
                size=f.size,
                sha256=f.sha256,
                url=str(
                    request.url_for(
                        "download_list_file", operator=operator, run_id=f.run_id, name=f.name
                    )
                ),
            )
            for f in published.files
        ],
    )


@router.get(
    "/{operator}/runs", response_model=RunsOut, summary="Runs with lists", responses=AUTH_ERRORS
)
def runs(
    request: Request,
    operator: OperatorCode,
    key: Reader,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="only runs older than this id")
    ] = None,
) -> RunsOut:
    """The classification runs that made lists for this operator, newest first, with their files."""
    page = list_runs(db, operator, limit=limit, before=before)
    return RunsOut(
        operator=operator,
        runs=[_run_out(request, operator, run) for run in page.runs],
        next_before=page.next_before,
    )


@router.get(
    "/{operator}/runs/latest",
    response_model=RunOut,
    summary="The newest run with lists",
    responses=AUTH_ERRORS,
)
def latest_run(request: Request, operator: OperatorCode, key: Reader, db: Db) -> RunOut:
    return _run_out(request, operator, get_run(db, operator))


@router.get(
    "/{operator}/runs/{run_id}", response_model=RunOut, summary="One run", responses=AUTH_ERRORS
)
def one_run(request: Request, operator: OperatorCode, run_id: RunId, key: Reader, db: Db) -> RunOut:
    return _run_out(request, operator, get_run(db, operator, run_id))


@router.get(
    "/{operator}/runs/{run_id}/files/{name}",
    name="download_list_file",
    summary="Download a list file (Range requests resume)",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/gzip": {}, "application/json": {}}},
        206: {"description": "The part asked for with Range"},
        416: {"description": "The Range lies outside the file"},
        **AUTH_ERRORS,
    },
)
def download_list_file(
    request: Request,
    operator: OperatorCode,
    run_id: RunId,
    name: Annotated[str, PathParam(max_length=128)],
    key: Reader,
    db: Db,
) -> FileResponse:
    """A file of the run, as listed there; `Range: bytes=<from>-` resumes a broken download."""
    row, path = list_file_path(db, request.app.state.settings, operator, run_id, name)
    media_type = (
        "application/gzip"
        if row.name.endswith(".gz")
        else "application/json"
        if row.name.endswith(".json")
        else "application/octet-stream"
    )
    return FileResponse(path, media_type=media_type, filename=row.name)


@router.post(
    "/{operator}/dumps",
    status_code=201,
    summary="Push a network dump",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
    responses={
        200: {"description": "This very file was loaded before; nothing changed"},
        201: {"description": "Loaded; the import report"},
        413: {"description": f"Larger than {MAX_DUMP_BYTES} bytes"},
        422: {"description": "Refused as a whole; the problem's `report` says why"},
        **AUTH_ERRORS,
    },
)
async def push_dump(
    request: Request,
    operator: OperatorCode,
    key: Pusher,
    db: Db,
    filename: Annotated[
        str | None,
        Query(max_length=255, description="the dump's name when the body is the raw file"),
    ] = None,
) -> JSONResponse:
    """Upload a dump `<operator>_<YYYYMMDD>_<YYYYMMDD>.csv|.csv.gz|.zip`, as the raw body (name it
    with `?filename=`) or as a multipart file; it is validated as a whole and staged.
    """
    settings: Settings = request.app.state.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DUMP_BYTES + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"A dump may be at most {MAX_DUMP_BYTES} bytes.")
    # Finish the key's transaction (last_used_at) first: on SQLite an open write would make the
    # import's own transaction, which records a refusal, wait for this one.
    await run_in_threadpool(db.commit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        path = await _receive_multipart(request, settings, operator, filename)
    else:
        if not filename:
            raise InvalidInput("Name the dump with ?filename=<operator>_<YYYYMMDD>_<YYYYMMDD>.zip")
        path = inbox_path(settings, operator, filename)
        await _save(request.stream(), path)
    actor = f"operator:{operator}:{key.key_id}"
    try:
        report = await run_in_threadpool(
            partial(dumps.import_dump, db, path, operator=operator, actor=actor, settings=settings)
        )
    except FileRejected as exc:
        if isinstance(exc.report, dumps.DumpReport):
            exc.extra = {"reasons": exc.report.reasons, "report": exc.report.as_dict()}
        raise
    body = report.as_dict()
    return JSONResponse(body, status_code=200 if body.get("status") == "already_imported" else 201)


def _limited(receive: Receive) -> Receive:
    """`receive` that stops a body growing past the limit while it is still arriving."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_DUMP_BYTES + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"A dump may be at most {MAX_DUMP_BYTES} bytes.")
        return message

    return limited


async def _receive_multipart(
    request: Request, settings: Settings, operator: str, filename: str | None
) -> Path:
    # Starlette spools the part to a temporary file (memory stays small); we copy it to the inbox.
    form = await Request(request.scope, _limited(request.receive)).form(max_files=1, max_fields=5)
    try:
        uploads = [v for v in form.values() if isinstance(v, UploadFile)]
        if len(uploads) != 1:
            raise InvalidInput("Send exactly one file in the multipart body.")
        name = filename or uploads[0].filename
        if not name:
            raise InvalidInput("The uploaded file has no name; add ?filename=.")
        path = inbox_path(settings, operator, name)
        await _save(_chunks(uploads[0]), path)
        return path
    finally:
        await form.close()


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk


async def _save(chunks: AsyncIterator[bytes], path: Path) -> None:
    size = 0
    try:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_DUMP_BYTES:
                    raise PayloadTooLarge(f"A dump may be at most {MAX_DUMP_BYTES} bytes.")
                await out.write(chunk)
        if size == 0:
            raise InvalidInput("The dump is empty.")
    except BaseException:
        # Nothing half-received stays in the inbox.
        await anyio.Path(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            await anyio.Path(path.parent).rmdir()
        raise

"""Operators' EIR nodes pull the real-time index here: signed manifest, snapshot file, journal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from ceir.apikeys.deps import require_scope
from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import OWNER_OPERATOR, SCOPE_EIR_SYNC
from ceir.config import Settings
from ceir.eir import sync
from ceir.eir.index import MAX_GAPS
from ceir.errors import Forbidden, InvalidInput, NotFound
from ceir.web.deps import MAX_ROW_ID, Db

router = APIRouter(prefix="/api/v1/eir", tags=["eir nodes"])

_scoped = require_scope(SCOPE_EIR_SYNC)


def _operator_node(key: ApiKey = Depends(_scoped)) -> ApiKey:
    # A default, not Annotated: string annotations cannot name the module-level dependency.
    if key.owner_kind != OWNER_OPERATOR:
        raise Forbidden("Only an operator's key may pull the real-time index.")
    return key


Node = Annotated[ApiKey, Depends(_operator_node)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(
    "/snapshot",
    summary="The signed manifest of the newest snapshot",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def snapshot_manifest(request: Request, key: Node, db: Db) -> Response:
    """`{name, sha256, size, journal_id, built_at}`; the `Ceir-Signature` header is the base64
    Ed25519 signature of these exact bytes with the list-signing key (`/api/v1/operators/
    signing-key`). Fetch the file from `/api/v1/eir/snapshots/{name}` and compare its SHA-256."""
    settings = _settings(request)
    body = sync.manifest(db, settings).to_bytes()
    return Response(
        body,
        media_type="application/json",
        headers={**sync.signature_header(settings, body), "Cache-Control": "no-store"},
    )


@router.get(
    "/snapshots/{name}",
    summary="A snapshot file (conditional and range requests)",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.apache.arrow.file": {}}},
        206: {"description": "The requested range, to resume a download"},
        304: {"description": "The node already has this file (If-None-Match)"},
        404: {"description": "No such snapshot (a newer one replaced it)"},
    },
)
def snapshot_file(
    request: Request,
    key: Node,
    name: Annotated[str, PathParam(max_length=80)],
) -> Response:
    """The Arrow file; its strong ETag is its SHA-256, so `If-None-Match` answers 304 and
    `Range` (with `If-Range`) resumes an interrupted download."""
    path = sync.snapshot_path(_settings(request), name)
    if path is None:
        raise NotFound(f"No snapshot {name!r}: ask /api/v1/eir/snapshot for the newest.")
    etag = f'"{sync.file_sha256(path)}"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return FileResponse(
        path, media_type="application/vnd.apache.arrow.file", headers={"ETag": etag}
    )


@router.get(
    "/journal",
    summary="Signed page of single changes after a journal id",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def journal_page(
    request: Request,
    key: Node,
    db: Db,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="last journal id applied")] = 0,
    limit: Annotated[int, Query(ge=1, le=sync.JOURNAL_PAGE_MAX)] = sync.JOURNAL_PAGE,
    gaps: Annotated[
        str,
        Query(
            max_length=4096,
            pattern=r"^(\d+-\d+(,\d+-\d+)*)?$",
            description="ids at or below `after` not seen yet, as `first-last` ranges "
            "separated by commas (at most 64): entries committed after a later one",
        ),
    ] = "",
) -> Response:
    """`{after, entries: [[id, imei_key, code], ...], last_id, more}`, oldest first; the
    `Ceir-Signature` header signs the body. Ask again with `after` = the last id while `more`.
    Ids are taken when a change is written, not when it commits, so a smaller id can appear
    after a larger one: ask for the ids you skipped in `gaps` until they come (or for 15 min)."""
    ranges = [
        (int(low), int(high))
        for low, high in (part.split("-") for part in gaps.split(",") if part)
        if int(low) <= int(high) <= MAX_ROW_ID
    ]
    if len(ranges) > MAX_GAPS:
        raise InvalidInput(f"at most {MAX_GAPS} gaps at once")
    body = sync.journal_page(db, after, limit, ranges)
    return Response(
        body,
        media_type="application/json",
        headers={**sync.signature_header(_settings(request), body), "Cache-Control": "no-store"},
    )

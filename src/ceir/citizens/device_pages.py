"""Citizens' "My devices": report a device lost or stolen, cancel the report, hand it over.

Served by the citizens' router (`ceir.citizens.pages` includes this one) with the same session,
CSRF and header rules. Another citizen's device or hand-over answers 404, exactly like one that
does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.citizens import ownership, stolen
from ceir.citizens import pages as base
from ceir.citizens.device_models import ReportKind
from ceir.citizens.models import CitizenSession
from ceir.citizens.service import Applicant
from ceir.db import utcnow
from ceir.web.deps import Db, RowId
from ceir.web.i18n import gettext, select_language
from ceir.web.ratelimit import RateLimited

# Included by the app beside the citizens' router (not inside it: metrics would label its
# routes without the /citizen prefix).
router: APIRouter = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)

CsrfField = base.CsrfField


def _devices_page(
    request: Request,
    db: Session,
    session: CitizenSession,
    status_code: int = 200,
    **context: Any,
) -> Response:
    devices = ownership.devices_of(db, session.iin)
    audit.record(
        db,
        actor=f"citizen:{session.iin}",
        action="citizen.view_devices",
        object_type="citizen",
        object_id=session.iin,
    )
    return base._render(
        request, "citizen/devices.html", session, status_code, devices=devices, **context
    )


def _message(request: Request, catalog: dict[str, str], reason: str, **variables: Any) -> str:
    return gettext(select_language(request), catalog[reason], **variables)


@router.get("/devices", response_class=HTMLResponse)
def my_devices(request: Request, db: Db) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    return _devices_page(request, db, session)


@router.post("/devices/{device_id}/report", response_class=HTMLResponse)
def report_device(
    request: Request,
    db: Db,
    device_id: RowId,
    csrf_token: CsrfField,
    kind: Annotated[Literal["lost", "stolen"], Form()] = "stolen",
    police_reference: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    base._check_csrf(request, csrf_token, session)
    try:
        stolen.report_own_device(
            db,
            session.iin,
            device_id,
            kind=ReportKind(kind),
            police_reference=police_reference,
            now=utcnow(),
        )
    except stolen.ReportRefused as exc:
        error = _message(request, stolen.REFUSALS, exc.reason)
        return _devices_page(
            request, db, session, 422, error=error, error_device=device_id, form_kind=kind
        )
    return base._redirect("/citizen/devices")


@router.post("/devices/{device_id}/report/cancel", response_class=HTMLResponse)
def cancel_report(request: Request, db: Db, device_id: RowId, csrf_token: CsrfField) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    base._check_csrf(request, csrf_token, session)
    try:
        stolen.cancel_own_report(db, session.iin, device_id, now=utcnow())
    except stolen.ReportRefused as exc:
        error = _message(request, stolen.REFUSALS, exc.reason)
        return _devices_page(request, db, session, 422, error=error, error_device=device_id)
    return base._redirect("/citizen/devices")


def _transfer_page(
    request: Request,
    db: Session,
    session: CitizenSession,
    device_id: int,
    status_code: int = 200,
    **context: Any,
) -> Response:
    ownership.owned_device_id(db, session.iin, device_id)
    device = next(d for d in ownership.devices_of(db, session.iin) if d.id == device_id)
    return base._render(
        request,
        "citizen/device_transfer.html",
        session,
        status_code,
        device=device,
        history=ownership.transfers_of(db, device_id),
        **context,
    )


@router.get("/devices/{device_id}/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, db: Db, device_id: RowId) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    return _transfer_page(request, db, session, device_id, buyer_iin="")


@router.post("/devices/{device_id}/transfer", response_class=HTMLResponse)
def start_transfer(
    request: Request,
    db: Db,
    device_id: RowId,
    csrf_token: CsrfField,
    buyer_iin: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    base._check_csrf(request, csrf_token, session)
    try:
        ownership.start_transfer(
            db,
            Applicant(session.iin, session.msisdn),
            device_id,
            buyer_iin,
            language=select_language(request),
            settings=base._settings(request),
            now=utcnow(),
        )
    except ownership.TransferRefused as exc:
        error = _message(request, ownership.REFUSALS, exc.reason)
        return _transfer_page(
            request, db, session, device_id, 422, error=error, buyer_iin=buyer_iin
        )
    except RateLimited as exc:
        error = gettext(
            select_language(request),
            base.MESSAGES["rate_limited"],
            minutes=max(1, -(-exc.retry_after // 60)),
        )
        return _transfer_page(
            request, db, session, device_id, 429, error=error, buyer_iin=buyer_iin
        )
    return base._redirect(f"/citizen/devices/{device_id}/transfer")


@router.post("/transfers/{transfer_id}/confirm", response_class=HTMLResponse)
def confirm_transfer(
    request: Request,
    db: Db,
    transfer_id: RowId,
    csrf_token: CsrfField,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    base._check_csrf(request, csrf_token, session)
    device_id = ownership.owners_transfer(db, session.iin, transfer_id).device_id
    if wait := base._code_limiter(request).hit(base._client(request)):
        error = base._t(request, "rate_limited", minutes=max(1, -(-wait // 60)))
        return _transfer_page(request, db, session, device_id, 429, error=error)
    result = ownership.confirm_transfer(
        db,
        Applicant(session.iin, session.msisdn),
        transfer_id,
        code,
        settings=base._settings(request),
        now=utcnow(),
    )
    if result.transfer is None:  # the spent attempt is committed with the page
        if result.problem == "wrong_code":
            error = base._t(request, "wrong_code", left=result.attempts_left)
        else:
            error = base._t(request, "expired")
        return _transfer_page(request, db, session, device_id, 422, error=error, buyer_iin="")
    return base._redirect("/citizen/devices?handed_over=1")


@router.post("/transfers/{transfer_id}/cancel", response_class=HTMLResponse)
def cancel_transfer(
    request: Request, db: Db, transfer_id: RowId, csrf_token: CsrfField
) -> Response:
    session = base._session(request, db)
    if session is None:
        return base._redirect("/citizen/sign-in")
    base._check_csrf(request, csrf_token, session)
    device_id = ownership.owners_transfer(db, session.iin, transfer_id).device_id
    ownership.cancel_transfer(db, Applicant(session.iin, session.msisdn), transfer_id, utcnow())
    return base._redirect(f"/citizen/devices/{device_id}/transfer")

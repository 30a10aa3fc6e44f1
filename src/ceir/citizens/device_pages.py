"""Citizens' "My devices": report a device lost or stolen, cancel the report, hand it over.

Guarded like every citizen page (`ceir.citizens.deps`): the same session, CSRF and header
rules. Another citizen's device or hand-over answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.citizens import abroad, ownership, stolen
from ceir.citizens.deps import (
    CitizenCsrf,
    CurrentCitizen,
    Db,
    client,
    code_limiter,
    message,
    render,
)
from ceir.citizens.models import CitizenSession
from ceir.citizens.service import Applicant
from ceir.db import utcnow
from ceir.i18n import gettext
from ceir.ratelimit import RateLimited
from ceir.web.deps import RowId
from ceir.web.pages import redirect, settings_of
from ceir.web.templating import select_language

router = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)


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
    # Travellers plan ahead: the personal imports left this year, beside the devices.
    allowance = abroad.allowance(db, session.iin, settings_of(request), utcnow())
    return render(
        request,
        "citizen/devices.html",
        session,
        status_code,
        devices=devices,
        allowance=allowance,
        **context,
    )


def _message(request: Request, catalog: dict[str, str], reason: str, **variables: Any) -> str:
    return gettext(select_language(request), catalog[reason], **variables)


@router.get("/devices", response_class=HTMLResponse)
def my_devices(request: Request, db: Db, session: CurrentCitizen) -> Response:
    return _devices_page(request, db, session)


@router.post("/devices/{device_id}/report", response_class=HTMLResponse, dependencies=[CitizenCsrf])
def report_device(
    request: Request,
    db: Db,
    device_id: RowId,
    session: CurrentCitizen,
    kind: Annotated[str, Form(max_length=16)] = "",
    police_reference: Annotated[str, Form(max_length=128)] = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Two steps: the report as entered is checked and shown back with what it will do; only
    the second post (confirmed) blocks the phone, so one stray tap never cuts off its owner."""
    try:
        report_kind, reference = stolen.check_own_report(kind or None, police_reference)
        ownership.owned_device_id(db, session.iin, device_id)
        if confirmed != "yes":
            confirm = {"device": device_id, "kind": report_kind.value, "reference": reference}
            return _devices_page(request, db, session, confirm=confirm)
        stolen.report_own_device(
            db,
            session.iin,
            device_id,
            kind=report_kind,
            police_reference=reference,
            now=utcnow(),
            msisdn=session.msisdn,
        )
    except stolen.ReportRefused as exc:
        error = _message(request, stolen.REFUSALS, exc.reason)
        return _devices_page(
            request,
            db,
            session,
            422,
            error=error,
            error_device=device_id,
            form_kind=kind,
            form_reference=police_reference,
        )
    return redirect("/citizen/devices")


@router.post(
    "/devices/{device_id}/report/cancel", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def cancel_report(request: Request, db: Db, device_id: RowId, session: CurrentCitizen) -> Response:
    try:
        stolen.cancel_own_report(db, session.iin, device_id, now=utcnow())
    except stolen.ReportRefused as exc:
        error = _message(request, stolen.REFUSALS, exc.reason)
        return _devices_page(request, db, session, 422, error=error, error_device=device_id)
    return redirect("/citizen/devices")


def _transfer_page(
    request: Request,
    db: Session,
    session: CitizenSession,
    device_id: RowId,
    status_code: int = 200,
    **context: Any,
) -> Response:
    ownership.owned_device_id(db, session.iin, device_id)
    device = next(d for d in ownership.devices_of(db, session.iin) if d.id == device_id)
    return render(
        request,
        "citizen/device_transfer.html",
        session,
        status_code,
        device=device,
        history=ownership.transfers_of(db, device_id),
        **context,
    )


@router.get("/devices/{device_id}/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, db: Db, session: CurrentCitizen, device_id: RowId) -> Response:
    return _transfer_page(request, db, session, device_id, buyer_iin="")


@router.post(
    "/devices/{device_id}/transfer", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def start_transfer(
    request: Request,
    db: Db,
    device_id: RowId,
    session: CurrentCitizen,
    buyer_iin: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        ownership.start_transfer(
            db,
            Applicant(session.iin, session.msisdn),
            device_id,
            buyer_iin,
            language=select_language(request),
            settings=settings_of(request),
            now=utcnow(),
        )
    except ownership.TransferRefused as exc:
        error = _message(request, ownership.REFUSALS, exc.reason)
        return _transfer_page(
            request, db, session, device_id, 422, error=error, buyer_iin=buyer_iin
        )
    except RateLimited as exc:
        error = message(request, "rate_limited", minutes=max(1, -(-exc.retry_after // 60)))
        return _transfer_page(
            request, db, session, device_id, 429, error=error, buyer_iin=buyer_iin
        )
    return redirect(f"/citizen/devices/{device_id}/transfer")


@router.post(
    "/transfers/{transfer_id}/confirm", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def confirm_transfer(
    request: Request,
    db: Db,
    transfer_id: RowId,
    session: CurrentCitizen,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    device_id = ownership.owners_transfer(db, session.iin, transfer_id).device_id
    if wait := code_limiter(request).hit(client(request)):
        error = message(request, "rate_limited", minutes=max(1, -(-wait // 60)))
        return _transfer_page(request, db, session, device_id, 429, error=error)
    result = ownership.confirm_transfer(
        db,
        Applicant(session.iin, session.msisdn),
        transfer_id,
        code,
        settings=settings_of(request),
        now=utcnow(),
    )
    if result.transfer is None:  # the spent attempt is committed with the page
        if result.problem == "wrong_code":
            error = message(request, "wrong_code", left=result.attempts_left)
        else:
            error = message(request, "expired")
        return _transfer_page(request, db, session, device_id, 422, error=error, buyer_iin="")
    return redirect("/citizen/devices?handed_over=1")


@router.post(
    "/transfers/{transfer_id}/cancel", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def cancel_transfer(
    request: Request, db: Db, transfer_id: RowId, session: CurrentCitizen
) -> Response:
    device_id = ownership.owners_transfer(db, session.iin, transfer_id).device_id
    ownership.cancel_transfer(db, Applicant(session.iin, session.msisdn), transfer_id, utcnow())
    return redirect(f"/citizen/devices/{device_id}/transfer")

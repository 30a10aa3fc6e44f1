"""The police desk of the back office: lost and stolen reports in force, new ones, confirmations.

Only officers with the role `police` get in (reviewers, supervisors and auditors answer 403):
they add a report for any IMEI with the police report number, confirm the reports citizens
filed, and cancel a report when the phone is found. Every look and every action is audited
(`police.view_reports` here; `stolen.report`, `stolen.confirm`, `stolen.cancel` by the service).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ceir.audit import service as audit
from ceir.citizens import stolen
from ceir.citizens.device_models import ReportKind
from ceir.db import utcnow
from ceir.errors import Forbidden
from ceir.review import pages as base
from ceir.review import service
from ceir.review.models import Role
from ceir.review.service import SignedIn
from ceir.web.deps import Db, RowId
from ceir.web.i18n import gettext, select_language

# No prefix of its own: the back office's router it joins adds /officers.
router: APIRouter = APIRouter(tags=["back office"], route_class=base._OfficerRoute)


def require_police(signed: SignedIn) -> None:
    officer = signed.officer
    if not (officer.active and Role.POLICE in service.roles_of(officer)):
        raise Forbidden(f"Officer {officer.username!r} may not act on stolen reports.")


def _reports_page(
    request: Request,
    db: Db,
    signed: SignedIn,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    reports = stolen.reports_in_force(db)
    audit.record(
        db,
        actor=service.actor_of(signed.officer),
        action="police.view_reports",
        object_type="device_report",
        object_id="in_force",
        details={"shown": len(reports)},
    )
    return base._page(
        request,
        "review/stolen_reports.html",
        signed,
        {
            "section": "stolen",
            "reports": reports,
            "error": error,
            "form": form or {"imei": "", "kind": "stolen", "police_reference": ""},
        },
        status,
    )


@router.get("/stolen", include_in_schema=False)
def reports_page(request: Request, db: Db, signed: base.CurrentOfficer) -> Response:
    require_police(signed)
    return _reports_page(request, db, signed)


@router.post("/stolen", include_in_schema=False)
def add_report(
    request: Request,
    db: Db,
    signed: base.CurrentOfficer,
    imei: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[Literal["lost", "stolen"], Form()] = "stolen",
    police_reference: Annotated[str, Form(max_length=128)] = "",
    csrf_token: base.CsrfField = "",
) -> Response:
    require_police(signed)
    base._check_csrf(signed, csrf_token)
    try:
        stolen.report_by_police(
            db,
            imei,
            kind=ReportKind(kind),
            police_reference=police_reference,
            actor=service.actor_of(signed.officer),
            now=utcnow(),
        )
    except stolen.ReportRefused as exc:
        db.rollback()
        error = gettext(select_language(request), stolen.REFUSALS[exc.reason])
        form = {"imei": imei, "kind": kind, "police_reference": police_reference}
        return _reports_page(request, db, signed, error=error, form=form, status=422)
    return base._redirect("/officers/stolen")


@router.post("/stolen/{report_id}/confirmation", include_in_schema=False)
def confirm_report(
    db: Db, signed: base.CurrentOfficer, report_id: RowId, csrf_token: base.CsrfField = ""
) -> Response:
    require_police(signed)
    base._check_csrf(signed, csrf_token)
    stolen.confirm_report(db, report_id, actor=service.actor_of(signed.officer), now=utcnow())
    return base._redirect("/officers/stolen")


@router.post("/stolen/{report_id}/cancellation", include_in_schema=False)
def cancel_report(
    db: Db, signed: base.CurrentOfficer, report_id: RowId, csrf_token: base.CsrfField = ""
) -> Response:
    require_police(signed)
    base._check_csrf(signed, csrf_token)
    stolen.cancel_by_police(db, report_id, actor=service.actor_of(signed.officer), now=utcnow())
    return base._redirect("/officers/stolen")

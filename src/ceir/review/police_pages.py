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
from ceir.i18n import gettext
from ceir.review import officers
from ceir.review.deps import (
    CurrentOfficer,
    Db,
    OfficerCsrf,
    OfficerRoute,
    PoliceOnly,
    render,
)
from ceir.review.officers import SignedIn
from ceir.web.deps import RowId
from ceir.web.pages import redirect
from ceir.web.templating import select_language

router = APIRouter(prefix="/officers", tags=["back office"], route_class=OfficerRoute)


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
        actor=officers.actor_of(signed.officer),
        action="police.view_reports",
        object_type="device_report",
        object_id="in_force",
        details={"shown": len(reports)},
    )
    return render(
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


@router.get("/stolen", include_in_schema=False, dependencies=[PoliceOnly])
def reports_page(request: Request, db: Db, signed: CurrentOfficer) -> Response:
    return _reports_page(request, db, signed)


@router.post("/stolen", include_in_schema=False, dependencies=[PoliceOnly, OfficerCsrf])
def add_report(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    imei: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[Literal["lost", "stolen"], Form()] = "stolen",
    police_reference: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        stolen.report_by_police(
            db,
            imei,
            kind=ReportKind(kind),
            police_reference=police_reference,
            actor=officers.actor_of(signed.officer),
            now=utcnow(),
        )
    except stolen.ReportRefused as exc:
        db.rollback()
        error = gettext(select_language(request), stolen.REFUSALS[exc.reason])
        form = {"imei": imei, "kind": kind, "police_reference": police_reference}
        return _reports_page(request, db, signed, error=error, form=form, status=422)
    return redirect("/officers/stolen")


@router.post(
    "/stolen/{report_id}/confirmation",
    include_in_schema=False,
    dependencies=[PoliceOnly, OfficerCsrf],
)
def confirm_report(db: Db, signed: CurrentOfficer, report_id: RowId) -> Response:
    stolen.confirm_report(db, report_id, actor=officers.actor_of(signed.officer), now=utcnow())
    return redirect("/officers/stolen")


@router.post(
    "/stolen/{report_id}/cancellation",
    include_in_schema=False,
    dependencies=[PoliceOnly, OfficerCsrf],
)
def cancel_report(db: Db, signed: CurrentOfficer, report_id: RowId) -> Response:
    stolen.cancel_by_police(db, report_id, actor=officers.actor_of(signed.officer), now=utcnow())
    return redirect("/officers/stolen")

"""Back-office pages of disputed identity use: /officers/disputes/<id> and its decision."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ceir.citizens.identity_disputes import DisputeRefused
from ceir.db import utcnow
from ceir.i18n import get_translations
from ceir.review import identity_cases, officers, reasons
from ceir.review.deps import CurrentOfficer, Db, OfficerCsrf, OfficerRoute, render
from ceir.review.officers import Permission
from ceir.web.deps import RowId
from ceir.web.pages import redirect, settings_of
from ceir.web.templating import select_language

router = APIRouter(prefix="/officers", tags=["back office"], route_class=OfficerRoute)


def _page(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    act_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    case = identity_cases.open_dispute(db, act_id, signed.officer, select_language(request))
    return render(
        request,
        "review/dispute.html",
        signed,
        {
            "section": "queue",
            "case": case,
            "act": case.act,
            "can_decide": case.act.status == "disputed"
            and officers.can(signed.officer, Permission.DECIDE),
            "error": error,
        },
        status,
    )


@router.get("/disputes/{act_id}", include_in_schema=False)
def dispute_page(request: Request, db: Db, signed: CurrentOfficer, act_id: RowId) -> Response:
    return _page(request, db, signed, act_id)


@router.post("/disputes/{act_id}/decision", include_in_schema=False, dependencies=[OfficerCsrf])
def decide(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    act_id: RowId,
    outcome: Annotated[Literal["uphold", "reject"], Form()],
    note: Annotated[str, Form(max_length=reasons.NOTE_MAX_LENGTH)] = "",
) -> Response:
    try:
        identity_cases.decide(
            db,
            act_id,
            signed.officer,
            uphold=outcome == "uphold",
            note=note,
            now=utcnow(),
            settings=settings_of(request),
        )
    except DisputeRefused as exc:
        db.rollback()
        _ = get_translations(select_language(request)).gettext
        error = _("The dispute has changed meanwhile; see its current state below.")
        return _page(request, db, signed, act_id, error=error, status=exc.status)
    return redirect("/officers/queue?" + urlencode({"dispute_done": str(act_id)}))

"""Citizens' page *Bought abroad*: declare a purchase before coming home, see and withdraw it.

Guarded like every citizen page (`ceir.citizens.deps`). Another citizen's declaration answers
404, exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.citizens import abroad
from ceir.citizens.deps import CitizenCsrf, CurrentCitizen, Db, message, render
from ceir.citizens.documents import Upload
from ceir.citizens.models import CitizenSession
from ceir.citizens.service import Applicant
from ceir.db import utcnow
from ceir.ratelimit import RateLimited
from ceir.web.pages import redirect, settings_of
from ceir.web.templating import select_language

router = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)
PAGE = "/citizen/abroad"


def _page(
    request: Request,
    db: Session,
    session: CitizenSession,
    status_code: int = 200,
    **context: Any,
) -> Response:
    lang = select_language(request)
    declarations = abroad.declarations_of(db, session.iin)
    audit.record(
        db,
        actor=f"citizen:{session.iin}",
        action="citizen.view_declarations",
        object_type="citizen",
        object_id=session.iin,
    )
    context.setdefault("form", {})
    context.setdefault("errors", {})
    return render(
        request,
        "citizen/abroad.html",
        session,
        status_code,
        declarations=declarations,
        # The personal import each matched declaration became, for a link to its page.
        applications=abroad.applications_of(db, declarations),
        status_text=lambda status: abroad.status_text(status, lang),
        allowance=abroad.allowance(db, session.iin, settings_of(request), utcnow()),
        **context,
    )


@router.get("/abroad", response_class=HTMLResponse)
def declarations_page(request: Request, db: Db, session: CurrentCitizen) -> Response:
    return _page(request, db, session)


@router.post("/abroad", response_class=HTMLResponse, dependencies=[CitizenCsrf])
def declare(
    request: Request,
    db: Db,
    session: CurrentCitizen,
    imei: Annotated[str, Form(max_length=64)] = "",
    shop: Annotated[str, Form(max_length=200)] = "",
    purchased_on: Annotated[str, Form(max_length=16)] = "",
    receipt: Annotated[UploadFile | None, File()] = None,
) -> Response:
    settings = settings_of(request)
    lang = select_language(request)
    form = {"imei": imei, "shop": shop, "purchased_on": purchased_on}
    upload = None
    if receipt is not None and receipt.filename:
        # One byte past the limit is enough to know it is too large; never more in memory.
        limit = settings.citizens.max_document_bytes
        upload = Upload("receipt", receipt.filename, receipt.file.read(limit + 1))
    day = _date(purchased_on)
    now = utcnow()
    problems = abroad.form_problems(imei, shop, day, upload, settings, now)
    if day is None:
        problems.insert(0, abroad.DeclarationRefused("invalid_date", "purchased_on"))
    try:
        if problems or day is None or upload is None:
            raise problems[0]
        abroad.declare(
            db,
            Applicant(session.iin, session.msisdn),
            imei=imei,
            shop=shop,
            purchased_on=day,
            receipt=upload,
            language=lang,
            settings=settings,
            now=now,
        )
    except abroad.DeclarationRefused as exc:
        errors: dict[str, str] = {}
        for problem in problems or [exc]:
            errors.setdefault(problem.field or "form", abroad.refusal_text(problem.reason, lang))
        if upload is not None and "receipt" not in errors:
            # A browser never fills a file field for the person: say so rather than drop it.
            errors["receipt"] = message(request, "attach_again")
        return _page(request, db, session, 422, form=form, errors=errors)
    except RateLimited as exc:
        error = message(request, "rate_limited", minutes=max(1, -(-exc.retry_after // 60)))
        return _page(request, db, session, 429, form=form, errors={"form": error})
    return redirect(PAGE)


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


@router.post(
    "/abroad/{public_id}/withdraw", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def withdraw(request: Request, db: Db, session: CurrentCitizen, public_id: str) -> Response:
    try:
        abroad.withdraw(db, session.iin, public_id[:16], utcnow())
    except abroad.DeclarationRefused as exc:
        error = abroad.refusal_text(exc.reason, select_language(request))
        return _page(request, db, session, 409, errors={"form": error})
    return redirect(PAGE)

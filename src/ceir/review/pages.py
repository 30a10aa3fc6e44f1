"""The back office pages under /officers/: sign-in, queue, case files, decisions, audit."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from ceir.citizens.models import ApplicationKind, ApplicationStatus
from ceir.citizens.service import DecisionRefused
from ceir.db import utcnow
from ceir.errors import CeirError, InvalidInput
from ceir.i18n import get_translations
from ceir.ratelimit import RateLimiter
from ceir.review import audit_log, decisions, findings, identity_cases, officers, queue, reasons
from ceir.review.deps import (
    DISPLAY_TIMEZONE,
    CsrfField,
    CurrentOfficer,
    Db,
    OfficerCsrf,
    OfficerRoute,
    cookie_names,
    home_of,
    render,
    require,
    set_cookie,
)
from ceir.review.officers import Permission, SignedIn
from ceir.web.deps import MAX_ROW_ID
from ceir.web.limits import app_limiter, client_address
from ceir.web.pages import pager, redirect, safe_next, settings_of
from ceir.web.templating import select_language

AREA = "/officers/"
PAGE_SIZE = 50
# Documents shown in the browser; anything else (there should be nothing else) is downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})

DOCUMENT_CSP = (
    "default-src 'none'; img-src 'self'; object-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


router = APIRouter(prefix="/officers", tags=["back office"], route_class=OfficerRoute)


# --- sign-in and sign-out -------------------------------------------------------------------


def _sign_in_limiter(request: Request) -> RateLimiter:
    per_minute = settings_of(request).officers.sign_in_rate_per_minute
    return app_limiter(request, "officer_sign_in_limiter", per_minute)


def _sign_in_form(
    request: Request,
    *,
    next_path: str | None,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    """The form with a fresh token, also set as a cookie: the POST must bring both (login CSRF)."""
    settings = settings_of(request)
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "review/sign_in.html",
        None,
        {
            "form_token": token,
            "next_path": next_path or "",
            "username": username,
            "error": error,
            "retry_after": retry_after,
        },
        status,
    )
    set_cookie(response, settings, cookie_names(settings)[1], token, 3600)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/", include_in_schema=False)
def home(signed: CurrentOfficer) -> Response:
    return redirect(home_of(signed))


@router.get("/sign-in", include_in_schema=False)
def sign_inpage(
    request: Request,
    db: Db,
    next_path: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> Response:
    settings = settings_of(request)
    signed = officers.find_session(db, request.cookies.get(cookie_names(settings)[0]), utcnow())
    if signed is not None:
        return redirect(safe_next(next_path, AREA) or home_of(signed))
    return _sign_in_form(request, next_path=safe_next(next_path, AREA))


@router.post("/sign-in", include_in_schema=False)
def sign_in(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=officers.PASSWORD_MAX_LENGTH)] = "",
    csrf_token: CsrfField = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "",
) -> Response:
    settings = settings_of(request)
    lang = select_language(request)
    _ = get_translations(lang).gettext
    next_target = safe_next(next_path, AREA)
    client = client_address(request, settings.trusted_proxies)
    retry_after = _sign_in_limiter(request).hit(client)
    if retry_after:
        return _sign_in_form(
            request,
            next_path=next_target,
            username=username,
            error=_("Too many sign-in attempts from your address. Wait a minute and try again."),
            status=429,
            retry_after=retry_after,
        )
    form_cookie = request.cookies.get(cookie_names(settings)[1], "")
    if not csrf_token or not hmac.compare_digest(form_cookie.encode(), csrf_token.encode()):
        return _sign_in_form(
            request,
            next_path=next_target,
            username=username,
            error=_("The form has expired. Enter your username and password again."),
            status=403,
        )
    now = utcnow()
    officer = officers.authenticate(db, username, password, now, client, settings)
    if officer is None:
        minutes = settings.officers.lockout_minutes
        attempts = settings.officers.max_failed_logins
        # One answer for every failure, so that it tells nothing about which usernames exist.
        return _sign_in_form(
            request,
            next_path=next_target,
            username=username,
            error=_(
                "Wrong username or password. After %(attempts)s failed attempts the account "
                "is locked for %(minutes)s minutes."
            )
            % {"attempts": attempts, "minutes": minutes},
            status=401,
        )
    token, session = officers.start_session(db, officer, now, settings)
    signed = SignedIn(officer=officer, session=session)
    response = redirect(next_target or home_of(signed))
    session_cookie, form_cookie_name = cookie_names(settings)
    lifetime = int((session.expires_at - now).total_seconds())
    set_cookie(response, settings, session_cookie, token, lifetime)
    response.delete_cookie(
        form_cookie_name,
        path="/",
        secure=settings.officers.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-out", include_in_schema=False, dependencies=[OfficerCsrf])
def sign_out(request: Request, db: Db, signed: CurrentOfficer) -> Response:
    officers.end_session(db, signed, utcnow())
    settings = settings_of(request)
    response = redirect("/officers/sign-in")
    response.delete_cookie(
        cookie_names(settings)[0],
        path="/",
        secure=settings.officers.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


# --- the queue ------------------------------------------------------------------------------

KindFilter = Literal["", "personal_import", "appeal"]
StatusFilter = Literal["", "in_review", "approved", "rejected", "withdrawn", "all"]
AssignedFilter = Literal["", "me", "nobody"]


@router.get("/queue", include_in_schema=False)
def queuepage(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    kind: KindFilter = "",
    status: StatusFilter = "",
    assigned: AssignedFilter = "",
    older_than_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=16)] = None,
    dispute_done: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    require(signed, Permission.REVIEW)
    now = utcnow()
    status_value = status or ApplicationStatus.IN_REVIEW.value
    assigned_to: int | Literal["nobody"] | None = None
    if assigned == "me":
        assigned_to = signed.officer.id
    elif assigned == "nobody":
        assigned_to = queue.UNASSIGNED
    result = queue.queue(
        db,
        signed.officer,
        now=now,
        kind=kind or None,
        status=None if status_value == "all" else status_value,
        assigned_to=assigned_to,
        older_than=dt.timedelta(days=older_than_days) if older_than_days else None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {
        "kind": kind,
        "status": status,
        "assigned": assigned,
        "older_than_days": older_than_days if older_than_days is not None else "",
    }
    return render(
        request,
        "review/queue.html",
        signed,
        {
            "section": "queue",
            "result": result,
            "filters": filters,
            **pager("/officers/queue", filters, page, result.total, PAGE_SIZE),
            "done": done if done and done.isalnum() else None,
            # Disputes of identity use come first: each holds a device (review/identity_cases).
            "disputes": identity_cases.waiting(db, signed.officer),
            "dispute_done": dispute_done,
            "kinds": [k.value for k in ApplicationKind],
            "statuses": [s.value for s in ApplicationStatus],
            "why_waiting": lambda check: findings.why_waiting(check, select_language(request)),
        },
    )


# --- the case file and its actions ----------------------------------------------------------


def _case_page(
    request: Request,
    db: Session,
    signed: SignedIn,
    public_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    case_file = queue.case(db, public_id, signed.officer)
    application = case_file.application
    lang = select_language(request)
    officer = signed.officer
    in_review = application.status == ApplicationStatus.IN_REVIEW
    decided = application.status in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)
    reverse_to: Literal["approve", "reject"] = (
        "approve" if application.status == ApplicationStatus.REJECTED else "reject"
    )
    return render(
        request,
        "review/case.html",
        signed,
        {
            "section": "queue",
            "case": case_file,
            "application": application,
            "waiting_for": (application.decided_at or utcnow()) - application.created_at,
            "findings": findings.describe(
                application.auto_check,
                {
                    "entered_on": application.entered_on,
                    "brand": application.brand,
                    "model": application.model,
                    "msisdn": application.msisdn,
                },
                select_language(request),
            ),
            "conditions": lambda codes: findings.conditions_text(codes, select_language(request)),
            "note_text": lambda note: findings.note_text(note, select_language(request)),
            "pause_text": lambda p: findings.pause_text(p.reason, p.reference, lang),
            "source_text": lambda source: findings.source_text(source, lang),
            "file_type": findings.file_type,
            "can_decide": in_review and officers.can(officer, Permission.DECIDE),
            "can_reassign": in_review and officers.can(officer, Permission.REASSIGN),
            "can_reverse": decided and officers.can(officer, Permission.REVERSE),
            "reverse_to": reverse_to,
            "approve_reasons": reasons.reasons_for("approve"),
            "reject_reasons": reasons.reasons_for("reject"),
            "reverse_reasons": reasons.reasons_for(reverse_to),
            "reviewers": officers.reviewers(db)
            if officers.can(officer, Permission.REASSIGN)
            else [],
            "error": error,
        },
        status,
    )


@router.get("/cases/{public_id}", include_in_schema=False)
def case_page(request: Request, db: Db, signed: CurrentOfficer, public_id: str) -> Response:
    return _case_page(request, db, signed, public_id)


def _case_error(
    request: Request, db: Session, signed: SignedIn, public_id: str, exc: CeirError
) -> Response:
    """A refused form shows the case again with the reason, keeping what was chosen in view."""
    lang = select_language(request)
    _ = get_translations(lang).gettext
    messages = {
        "invalid_input": _(
            "Choose a reason that fits the decision; the reason “other” needs a note."
        ),
        "wrong_state": _("The application has changed meanwhile; see its current state below."),
        "decision_refused": _(
            "The application has changed meanwhile; see its current state below."
        ),
    }
    db.rollback()  # nothing of the refused action stays; the view below is audited afresh
    return _case_page(
        request, db, signed, public_id, error=messages.get(exc.code, exc.detail), status=exc.status
    )


@router.post("/cases/{public_id}/decision", include_in_schema=False, dependencies=[OfficerCsrf])
def decide(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    outcome: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=reasons.NOTE_MAX_LENGTH)] = "",
) -> Response:
    try:
        decisions.decide(
            db,
            public_id,
            signed.officer,
            approve=outcome == "approve",
            reason=reason,
            note=note,
            now=utcnow(),
            settings=settings_of(request),
        )
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return redirect("/officers/queue?" + urlencode({"done": public_id}))


@router.post("/cases/{public_id}/assignment", include_in_schema=False, dependencies=[OfficerCsrf])
def reassign(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    officer: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        decisions.reassign(db, public_id, signed.officer, to_username=officer or None, now=utcnow())
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return redirect(f"/officers/cases/{public_id}")


@router.post("/cases/{public_id}/reversal", include_in_schema=False, dependencies=[OfficerCsrf])
def reverse(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=reasons.NOTE_MAX_LENGTH)] = "",
) -> Response:
    try:
        decisions.reverse(
            db,
            public_id,
            signed.officer,
            reason=reason,
            note=note,
            now=utcnow(),
            settings=settings_of(request),
        )
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return redirect(f"/officers/cases/{public_id}")


@router.get("/documents/{document_id}", include_in_schema=False)
def document(request: Request, db: Db, signed: CurrentOfficer, document_id: str) -> Response:
    row, path = queue.open_document(db, document_id, signed.officer, settings_of(request))
    inline = row.content_type in INLINE_TYPES
    return FileResponse(
        path,
        media_type=row.content_type if inline else "application/octet-stream",
        filename=row.filename,
        content_disposition_type="inline" if inline else "attachment",
        headers={"Content-Security-Policy": DOCUMENT_CSP, "X-Content-Type-Options": "nosniff"},
    )


# --- the audit log --------------------------------------------------------------------------


def _day_start(day: dt.date) -> dt.datetime:
    """Officers give days on the Almaty calendar; the log keeps UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=DISPLAY_TIMEZONE).astimezone(dt.UTC)


@router.get("/audit", include_in_schema=False)
def auditpage(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object_id: Annotated[str, Query(max_length=128)] = "",
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    result = audit_log.search_audit(
        db,
        signed.officer,
        actor=actor or None,
        action=action or None,
        object_id=object_id or None,
        since=_day_start(since) if since else None,
        until=_day_start(until + dt.timedelta(days=1)) if until else None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    filters = {
        "actor": actor,
        "action": action,
        "object_id": object_id,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return render(
        request,
        "review/audit.html",
        signed,
        {
            "section": "audit",
            "result": result,
            "filters": filters,
            **pager("/officers/audit", filters, page, result.total, PAGE_SIZE),
            "details": lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True) if d else "",
        },
    )

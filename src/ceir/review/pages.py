"""The back office pages under /officers/: sign-in, queue, case files, decisions, audit."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from ceir.citizens.models import ApplicationKind, ApplicationStatus
from ceir.citizens.service import DecisionRefused
from ceir.config import Settings
from ceir.db import utcnow
from ceir.errors import CeirError, Forbidden, InvalidInput
from ceir.i18n import LANGUAGES, get_translations, normalise_language
from ceir.ratelimit import RateLimiter
from ceir.review import audit_log, decisions, officers, queue, reasons
from ceir.review.models import Role
from ceir.review.officers import Permission, SignedIn
from ceir.web.deps import get_db
from ceir.web.limits import client_address
from ceir.web.templating import COOKIE_NAME, select_language, templates

DISPLAY_TIMEZONE = ZoneInfo("Asia/Almaty")
PAGE_SIZE = 50
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
# Documents shown in the browser; anything else (there should be nothing else) is downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})

# Personal data: never cached, never framed, no third-party anything, no referrer leaving.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}
DOCUMENT_CSP = (
    "default-src 'none'; img-src 'self'; object-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


class _OfficerRoute(APIRoute):
    """Every answer of the back office carries PAGE_HEADERS (a route may set its own CSP)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return with_headers


router = APIRouter(prefix="/officers", tags=["back office"], route_class=_OfficerRoute)

_limiter_lock = threading.Lock()


# --- sessions, CSRF and permissions ---------------------------------------------------------


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _cookie_names(settings: Settings) -> tuple[str, str]:
    """(session, sign-in form) cookie names; the __Host- prefix makes browsers insist on
    Secure, Path=/ and no Domain, so no sibling host can plant or read them."""
    if settings.officers.secure_cookies:
        return "__Host-ceir_officer", "__Host-ceir_officer_form"
    return "ceir_officer", "ceir_officer_form"


def _set_cookie(
    response: Response, settings: Settings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.officers.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def signed_in(request: Request, db: Annotated[Session, Depends(get_db)]) -> SignedIn:
    """The officer of the request's session; browsers without one go to the sign-in page."""
    settings = _settings(request)
    token = request.cookies.get(_cookie_names(settings)[0])
    signed = officers.find_session(db, token, utcnow())
    if signed is not None:
        return signed
    if _wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = "/officers/sign-in?" + urlencode({"next": target})
        raise HTTPException(303, "Sign in first.", headers={"Location": location})
    raise officers.SignInRequired("Sign in as an officer first.")


CurrentOfficer = Annotated[SignedIn, Depends(signed_in)]
Db = Annotated[Session, Depends(get_db)]
CsrfField = Annotated[str, Form(max_length=128)]


def _check_csrf(signed: SignedIn, presented: str) -> None:
    if not officers.csrf_matches(signed, presented):
        raise Forbidden("The form's security token is missing or wrong; reload the page.")


def _require(signed: SignedIn, permission: Permission) -> None:
    officers.require(signed.officer, permission)


def _home(signed: SignedIn) -> str:
    if officers.can(signed.officer, Permission.REVIEW):
        return "/officers/queue"
    if Role.POLICE in officers.roles_of(signed.officer) and not officers.can(
        signed.officer, Permission.READ_AUDIT
    ):
        return "/officers/stolen"
    return "/officers/audit"


def _safe_next(target: str | None) -> str | None:
    """Only a path of the back office: never another site, never a scheme-relative URL."""
    if target and target.startswith("/officers/") and "//" not in target and "\\" not in target:
        return target
    return None


# --- rendering ------------------------------------------------------------------------------


def local_time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(DISPLAY_TIMEZONE).strftime("%Y-%m-%d %H:%M")


def waiting_text(delta: dt.timedelta, lang: str) -> str:
    """Days and hours, as officers compare them at a glance."""
    _ = get_translations(lang).gettext
    hours = max(0, int(delta.total_seconds() // 3600))
    days, hours = divmod(hours, 24)
    if days:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h") % {"hours": hours}
    return _("less than an hour")


def _language_links(request: Request) -> dict[str, str]:
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    return {
        code: request.url.path + "?" + urlencode({**params, "lang": code}) for code in LANGUAGES
    }


def _page(
    request: Request,
    template: str,
    signed: SignedIn | None,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    lang = select_language(request)
    full: dict[str, Any] = {
        "lang": lang,
        "officer": signed.officer if signed else None,
        "csrf": signed.session.csrf_token if signed else "",
        "perms": {p.value for p in officers.permissions_of(signed.officer)} if signed else set(),
        "language_links": _language_links(request),
        "local_time": local_time,
        "waiting": lambda delta: waiting_text(delta, lang),
        "reason_text": lambda code: reasons.reason_text(code, lang) if code else "—",
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status)
    if normalise_language(request.query_params.get("lang")):
        response.set_cookie(
            COOKIE_NAME,
            lang,
            max_age=LANGUAGE_COOKIE_SECONDS,
            samesite="lax",
            secure=request.url.scheme == "https",
            httponly=True,
        )
    return response


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


# --- sign-in and sign-out -------------------------------------------------------------------


def _sign_in_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "officer_sign_in_limiter", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(state, "officer_sign_in_limiter", None)
            if limiter is None:
                limiter = RateLimiter(_settings(request).officers.sign_in_rate_per_minute)
                state.officer_sign_in_limiter = limiter
    return limiter


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
    settings = _settings(request)
    token = secrets.token_urlsafe(32)
    response = _page(
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
    _set_cookie(response, settings, _cookie_names(settings)[1], token, 3600)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/", include_in_schema=False)
def home(signed: CurrentOfficer) -> Response:
    return _redirect(_home(signed))


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(
    request: Request,
    db: Db,
    next_path: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> Response:
    settings = _settings(request)
    signed = officers.find_session(db, request.cookies.get(_cookie_names(settings)[0]), utcnow())
    if signed is not None:
        return _redirect(_safe_next(next_path) or _home(signed))
    return _sign_in_form(request, next_path=_safe_next(next_path))


@router.post("/sign-in", include_in_schema=False)
def sign_in(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=officers.PASSWORD_MAX_LENGTH)] = "",
    csrf_token: CsrfField = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "",
) -> Response:
    settings = _settings(request)
    lang = select_language(request)
    _ = get_translations(lang).gettext
    next_target = _safe_next(next_path)
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
    form_cookie = request.cookies.get(_cookie_names(settings)[1], "")
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
    response = _redirect(next_target or _home(signed))
    session_cookie, form_cookie_name = _cookie_names(settings)
    lifetime = int((session.expires_at - now).total_seconds())
    _set_cookie(response, settings, session_cookie, token, lifetime)
    response.delete_cookie(
        form_cookie_name,
        path="/",
        secure=settings.officers.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-out", include_in_schema=False)
def sign_out(
    request: Request, db: Db, signed: CurrentOfficer, csrf_token: CsrfField = ""
) -> Response:
    _check_csrf(signed, csrf_token)
    officers.end_session(db, signed, utcnow())
    settings = _settings(request)
    response = _redirect("/officers/sign-in")
    response.delete_cookie(
        _cookie_names(settings)[0],
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
def queue_page(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    kind: KindFilter = "",
    status: StatusFilter = "",
    assigned: AssignedFilter = "",
    older_than_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    _require(signed, Permission.REVIEW)
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
    pages = max(1, -(-result.total // PAGE_SIZE))

    def page_link(number: int) -> str:
        return "/officers/queue?" + urlencode({**filters, "page": number})

    return _page(
        request,
        "review/queue.html",
        signed,
        {
            "section": "queue",
            "result": result,
            "filters": filters,
            "page_number": page,
            "pages": pages,
            "previous_link": page_link(page - 1) if page > 1 else None,
            "next_link": page_link(page + 1) if page < pages else None,
            "done": done if done and done.isalnum() else None,
            "kinds": [k.value for k in ApplicationKind],
            "statuses": [s.value for s in ApplicationStatus],
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
    officer = signed.officer
    in_review = application.status == ApplicationStatus.IN_REVIEW
    decided = application.status in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)
    reverse_to: Literal["approve", "reject"] = (
        "approve" if application.status == ApplicationStatus.REJECTED else "reject"
    )
    return _page(
        request,
        "review/case.html",
        signed,
        {
            "section": "queue",
            "case": case_file,
            "application": application,
            "waiting_for": (application.decided_at or utcnow()) - application.created_at,
            "auto_check": [
                (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                for key, value in (application.auto_check or {}).items()
            ],
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


@router.post("/cases/{public_id}/decision", include_in_schema=False)
def decide(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    outcome: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=reasons.NOTE_MAX_LENGTH)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    _check_csrf(signed, csrf_token)
    try:
        decisions.decide(
            db,
            public_id,
            signed.officer,
            approve=outcome == "approve",
            reason=reason,
            note=note,
            now=utcnow(),
            settings=_settings(request),
        )
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return _redirect("/officers/queue?" + urlencode({"done": public_id}))


@router.post("/cases/{public_id}/assignment", include_in_schema=False)
def reassign(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    officer: Annotated[str, Form(max_length=64)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    _check_csrf(signed, csrf_token)
    try:
        decisions.reassign(db, public_id, signed.officer, to_username=officer or None, now=utcnow())
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return _redirect(f"/officers/cases/{public_id}")


@router.post("/cases/{public_id}/reversal", include_in_schema=False)
def reverse(
    request: Request,
    db: Db,
    signed: CurrentOfficer,
    public_id: str,
    reason: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=reasons.NOTE_MAX_LENGTH)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    _check_csrf(signed, csrf_token)
    try:
        decisions.reverse(
            db,
            public_id,
            signed.officer,
            reason=reason,
            note=note,
            now=utcnow(),
            settings=_settings(request),
        )
    except (InvalidInput, decisions.WrongState, DecisionRefused) as exc:
        return _case_error(request, db, signed, public_id, exc)
    return _redirect(f"/officers/cases/{public_id}")


@router.get("/documents/{document_id}", include_in_schema=False)
def document(request: Request, db: Db, signed: CurrentOfficer, document_id: str) -> Response:
    row, path = queue.open_document(db, document_id, signed.officer, _settings(request))
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
def audit_page(
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
    pages = max(1, -(-result.total // PAGE_SIZE))

    def page_link(number: int) -> str:
        return "/officers/audit?" + urlencode({**filters, "page": number})

    return _page(
        request,
        "review/audit.html",
        signed,
        {
            "section": "audit",
            "result": result,
            "filters": filters,
            "page_number": page,
            "pages": pages,
            "previous_link": page_link(page - 1) if page > 1 else None,
            "next_link": page_link(page + 1) if page < pages else None,
            "details": lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True) if d else "",
        },
    )


# Lost and stolen reports for the police live in their own module, which uses the helpers above;
# imported last so that they exist when it loads.
from ceir.review import police_pages  # noqa: E402

router.include_router(police_pages.router)

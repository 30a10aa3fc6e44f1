"""Citizens' pages: sign-in by SMS code, applications, registering a device, appealing a block.

Every page that shows personal data is audited; every POST carries the CSRF token (the session's,
or before sign-in a random one in a cookie); another person's application answers 404 exactly as
one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.check.presentation import describe as describe_check
from ceir.check.service import check_imei
from ceir.citizens import auth, second_imei
from ceir.citizens import service as citizens
from ceir.citizens.documents import Upload, path_of
from ceir.citizens.models import Application, CitizenSession
from ceir.config import Settings
from ceir.db import utcnow
from ceir.errors import Forbidden, InvalidInput, NotFound
from ceir.web.deps import Db, RowId
from ceir.web.i18n import (
    COOKIE_NAME,
    LANGUAGES,
    gettext,
    normalise_language,
    select_language,
    templates,
)
from ceir.web.ratelimit import RateLimited, RateLimiter, client_address

router = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)

SESSION_COOKIE = "ceir_session"
SIGNIN_COOKIE = "ceir_signin"
CSRF_COOKIE = "ceir_csrf"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
_limiter_lock = threading.Lock()

CsrfField = Annotated[str, Form(max_length=128)]


def N_(message: str) -> str:
    return message


MESSAGES = {
    "bad_identity": N_("Check the IIN (12 digits) and the phone number (+7 7XX XXX XX XX)."),
    "rate_limited": N_("Too many attempts. Try again in %(minutes)s min."),
    "wrong_code": N_("Wrong code. Attempts left: %(left)s."),
    "expired": N_("This code has expired or is used up. Ask for a new one."),
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _settings(request).citizens.secure_cookies


def _code_limiter(request: Request) -> RateLimiter:
    app = request.app
    with _limiter_lock:
        limiter: RateLimiter | None = getattr(app.state, "citizen_code_limiter", None)
        if limiter is None:
            per_minute = _settings(request).citizens.code_checks_per_minute_per_client
            limiter = app.state.citizen_code_limiter = RateLimiter(per_minute)
        return limiter


def _client(request: Request) -> str:
    return client_address(request, _settings(request).trusted_proxies)


def _session(request: Request, db: Session) -> CitizenSession | None:
    return auth.session_of(db, request.cookies.get(SESSION_COOKIE), utcnow())


def _check_csrf(request: Request, given: str, session: CitizenSession | None) -> None:
    expected = session.csrf_token if session else request.cookies.get(CSRF_COOKIE)
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("The form has expired or did not come from this site; reload it.")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _render(
    request: Request,
    template: str,
    session: CitizenSession | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    lang = select_language(request)
    anonymous_csrf = None
    if session is None:
        anonymous_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    context.update(
        lang=lang,
        csrf_token=session.csrf_token if session else anonymous_csrf,
        signed_in=session is not None,
        when=lambda moment: moment.astimezone(citizens.ALMATY).strftime("%d.%m.%Y %H:%M"),
        language_links={code: f"{request.url.path}?lang={code}" for code in LANGUAGES},
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    # Personal pages: never cached, never framed, no address leaked to other sites.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if anonymous_csrf and anonymous_csrf != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            anonymous_csrf,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path="/citizen",
        )
    if normalise_language(request.query_params.get("lang")):
        response.set_cookie(
            COOKIE_NAME,
            lang,
            max_age=LANGUAGE_COOKIE_SECONDS,
            samesite="lax",
            secure=_secure(request),
            httponly=True,
        )
    return response


def _t(request: Request, key: str, **variables: Any) -> str:
    return gettext(select_language(request), MESSAGES[key], **variables)


# --- sign-in --------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, db: Db) -> Response:
    target = "/citizen/applications" if _session(request, db) else "/citizen/sign-in"
    # A link from a public page in Kazakh must land on a Kazakh page.
    lang = normalise_language(request.query_params.get("lang"))
    return _redirect(f"{target}?lang={lang}" if lang else target)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, db: Db) -> Response:
    if _session(request, db):
        return _redirect("/citizen/applications")
    return _render(request, "citizen/sign_in.html", None, iin="", phone="")


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    db: Db,
    csrf_token: CsrfField,
    iin: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    _check_csrf(request, csrf_token, None)
    try:
        code_id = auth.request_code(
            db,
            iin,
            phone,
            client=_client(request),
            language=select_language(request),
            settings=_settings(request),
            now=utcnow(),
        )
    except InvalidInput:
        error = _t(request, "bad_identity")
        return _render(
            request, "citizen/sign_in.html", None, 422, error=error, iin=iin, phone=phone
        )
    except RateLimited as exc:
        error = _t(request, "rate_limited", minutes=max(1, -(-exc.retry_after // 60)))
        return _render(
            request, "citizen/sign_in.html", None, 429, error=error, iin=iin, phone=phone
        )
    response = _redirect("/citizen/code")
    response.set_cookie(
        SIGNIN_COOKIE,
        auth.sign(_settings(request), str(code_id)),
        max_age=_settings(request).citizens.code_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/citizen",
    )
    return response


def _pending_code(request: Request) -> int | None:
    value = auth.unsign(_settings(request), request.cookies.get(SIGNIN_COOKIE))
    return int(value) if value and value.isdigit() else None


@router.get("/code", response_class=HTMLResponse)
def code_page(request: Request) -> Response:
    if _pending_code(request) is None:
        return _redirect("/citizen/sign-in")
    return _render(request, "citizen/code.html", None)


@router.post("/code", response_class=HTMLResponse)
def enter_code(
    request: Request,
    db: Db,
    csrf_token: CsrfField,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    _check_csrf(request, csrf_token, None)
    code_id = _pending_code(request)
    if code_id is None:
        return _redirect("/citizen/sign-in")
    if wait := _code_limiter(request).hit(_client(request)):
        error = _t(request, "rate_limited", minutes=max(1, -(-wait // 60)))
        return _render(request, "citizen/code.html", None, 429, error=error)
    result = auth.verify_code(db, code_id, code, settings=_settings(request), now=utcnow())
    if result.token is None:
        if result.problem == "wrong_code":
            error = _t(request, "wrong_code", left=result.attempts_left)
            return _render(request, "citizen/code.html", None, 422, error=error)
        error = _t(request, "expired")
        return _render(request, "citizen/code.html", None, 422, error=error, ask_again=True)
    response = _redirect("/citizen/applications")
    response.delete_cookie(SIGNIN_COOKIE, path="/citizen")
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=_settings(request).citizens.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/citizen",
    )
    return response


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(request: Request, db: Db, csrf_token: CsrfField) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    _check_csrf(request, csrf_token, session)
    auth.end_session(db, session, utcnow())
    response = _redirect("/citizen/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/citizen")
    return response


# --- applications ---------------------------------------------------------------------------


def _view_audit(db: Session, session: CitizenSession, action: str, object_id: str) -> None:
    audit.record(
        db,
        actor=f"citizen:{session.iin}",
        action=action,
        object_type="application",
        object_id=object_id,
    )


@router.get("/applications", response_class=HTMLResponse)
def my_applications(request: Request, db: Db) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    applications = citizens.applications_of(db, session.iin)
    _view_audit(db, session, "citizen.view_applications", session.iin)
    return _render(
        request,
        "citizen/applications.html",
        session,
        applications=applications,
        second_imeis=second_imei.pending_for(db, session.iin),
    )


@router.post("/second-imeis/{candidate_id}/{action}", response_class=HTMLResponse)
def decide_second_imei(
    request: Request, db: Db, csrf_token: CsrfField, candidate_id: RowId, action: str
) -> Response:
    """One tap: add the second IMEI to the citizen's device ("confirm"), or drop the link."""
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    _check_csrf(request, csrf_token, session)
    if action == "confirm":
        second_imei.confirm(db, session.iin, candidate_id)
    elif action == "dismiss":
        second_imei.dismiss(db, session.iin, candidate_id)
    else:
        raise NotFound("No such action.")
    return _redirect("/citizen/applications")


def _date(value: str, required: bool) -> dt.date | None:
    value = value.strip()
    if not value:
        if required:
            raise citizens.ApplicationRefused("invalid_date", field="entered_on")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise citizens.ApplicationRefused("invalid_date", field="entered_on") from exc


def _refusal(request: Request, exc: citizens.ApplicationRefused) -> str:
    return citizens.reason_text(exc.reason, select_language(request))


@router.get("/applications/new/registration", response_class=HTMLResponse)
def registration_form(request: Request, db: Db) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    return _render(request, "citizen/new_registration.html", session, form={})


@router.post("/applications/new/registration", response_class=HTMLResponse)
def file_registration(
    request: Request,
    db: Db,
    csrf_token: CsrfField,
    imei1: Annotated[str, Form(max_length=64)] = "",
    imei2: Annotated[str, Form(max_length=64)] = "",
    brand: Annotated[str, Form(max_length=200)] = "",
    model: Annotated[str, Form(max_length=300)] = "",
    entered_on: Annotated[str, Form(max_length=16)] = "",
    travel_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    _check_csrf(request, csrf_token, session)
    form = {
        "imei1": imei1,
        "imei2": imei2,
        "brand": brand,
        "model": model,
        "entered_on": entered_on,
        "travel_from": travel_from,
    }
    try:
        application = citizens.file_registration(
            db,
            citizens.Applicant(session.iin, session.msisdn),
            imei1=imei1,
            imei2=imei2 or None,
            brand=brand,
            model=model,
            entered_on=_date(entered_on, True) or dt.date.min,
            travel_from=_date(travel_from, False),
            language=select_language(request),
            settings=_settings(request),
        )
    except citizens.ApplicationRefused as exc:
        return _render(
            request,
            "citizen/new_registration.html",
            session,
            422,
            error=_refusal(request, exc),
            error_field=exc.field,
            form=form,
        )
    return _redirect(f"/citizen/applications/{application.public_id}")


@router.get("/applications/new/appeal", response_class=HTMLResponse)
def appeal_form(request: Request, db: Db) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    return _render(request, "citizen/new_appeal.html", session, form={})


def _read(upload: UploadFile | None, kind: str, limit: int) -> Upload | None:
    if upload is None or not upload.filename:
        return None
    # One byte past the limit is enough to know it is too large; never more in memory.
    return Upload(kind, upload.filename, upload.file.read(limit + 1))


@router.post("/applications/new/appeal", response_class=HTMLResponse)
def file_appeal(
    request: Request,
    db: Db,
    csrf_token: CsrfField,
    imei: Annotated[str, Form(max_length=64)] = "",
    entered_on: Annotated[str, Form(max_length=16)] = "",
    travel_from: Annotated[str, Form(max_length=16)] = "",
    boarding_pass: Annotated[UploadFile | None, File()] = None,
    receipt: Annotated[UploadFile | None, File()] = None,
) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    _check_csrf(request, csrf_token, session)
    settings = _settings(request)
    limit = settings.citizens.max_document_bytes
    form = {"imei": imei, "entered_on": entered_on, "travel_from": travel_from}
    uploads = [
        u
        for u in (_read(boarding_pass, "boarding_pass", limit), _read(receipt, "receipt", limit))
        if u is not None
    ]
    try:
        application = citizens.file_appeal(
            db,
            citizens.Applicant(session.iin, session.msisdn),
            imei=imei,
            entered_on=_date(entered_on, True) or dt.date.min,
            travel_from=_date(travel_from, False),
            uploads=uploads,
            language=select_language(request),
            settings=settings,
        )
    except citizens.ApplicationRefused as exc:
        return _render(
            request,
            "citizen/new_appeal.html",
            session,
            422,
            error=_refusal(request, exc),
            error_field=exc.field,
            form=form,
        )
    return _redirect(f"/citizen/applications/{application.public_id}")


@router.get("/applications/{public_id}", response_class=HTMLResponse)
def application_page(request: Request, db: Db, public_id: str) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    application = citizens.application_of(db, session.iin, public_id)
    _view_audit(db, session, "citizen.view_application", application.public_id)
    lang = select_language(request)
    return _render(
        request,
        "citizen/application.html",
        session,
        application=application,
        history=citizens.history_of(db, application),
        documents=citizens.documents_of(db, application),
        reason=citizens.reason_text(application.decision_reason, lang),
        findings=[
            citizens.reason_text(f, lang) for f in application.auto_check.get("findings", [])
        ],
        describe=lambda note: citizens.reason_text(note, lang),
        device_status=_device_status(db, application, lang),
    )


def _device_status(db: Session, application: Application, lang: str) -> list[dict[str, Any]]:
    """Each IMEI of the application as the public check sees it: list, verdict, what to do."""
    status = []
    for key in (application.imei1, application.imei2):
        if key:
            result = check_imei(db, key)
            status.append({"imei": key, "result": result, "words": describe_check(result, lang)})
    return status


@router.get("/applications/{public_id}/documents/{document_id}")
def document(request: Request, db: Db, public_id: str, document_id: str) -> Response:
    session = _session(request, db)
    if session is None:
        return _redirect("/citizen/sign-in")
    found = citizens.document_of(db, session.iin, public_id, document_id)
    _view_audit(db, session, "citizen.view_document", f"{public_id}/{found.id}")
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
    return FileResponse(
        path_of(_settings(request).documents_dir, found),
        media_type=found.content_type,
        filename=f"{found.kind}.{extension.get(found.content_type, 'bin')}",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )

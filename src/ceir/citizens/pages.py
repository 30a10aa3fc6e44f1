"""Citizens' pages: sign-in by SMS code, applications, registering a device, appealing a block.

Every page that shows personal data is audited; the guard and the CSRF check are declared per
route from `ceir.citizens.deps`; another person's application answers 404 exactly as one that
does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.check.presentation import describe as describe_check
from ceir.check.presentation import reason_words
from ceir.check.service import check_imei
from ceir.citizens import attachments, auth, second_imei
from ceir.citizens import service as citizens
from ceir.citizens.deps import (
    AREA,
    NEXT_COOKIE,
    SESSION_COOKIE,
    SIGN_IN,
    SIGNIN_COOKIE,
    AnonymousCsrf,
    CitizenCsrf,
    CurrentCitizen,
    Db,
    client,
    code_limiter,
    message,
    render,
    secure,
    session_of,
)
from ceir.citizens.documents import DocumentRefused, Upload, path_of
from ceir.citizens.models import Application, CitizenSession
from ceir.db import utcnow
from ceir.errors import InvalidInput, NotFound
from ceir.i18n import normalise_language
from ceir.ratelimit import RateLimited
from ceir.web.deps import RowId
from ceir.web.pages import redirect, safe_next, settings_of
from ceir.web.templating import select_language

router = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)

HOME = "/citizen/applications"
NEXT_SECONDS = 3600  # time to get and enter the code before the return address is forgotten


# --- sign-in --------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, db: Db) -> Response:
    target = HOME if session_of(request, db) else SIGN_IN
    # A link from a public page in Kazakh must land on a Kazakh page.
    lang = normalise_language(request.query_params.get("lang"))
    return redirect(f"{target}?lang={lang}" if lang else target)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request,
    db: Db,
    next_path: Annotated[str | None, Query(alias="next", max_length=512)] = None,
    ended: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    target = safe_next(next_path, AREA)
    if session_of(request, db):
        return redirect(target or HOME)
    notice = message(request, "session_ended") if ended else None
    response = render(request, "citizen/sign_in.html", None, iin="", phone="", error=notice)
    if target:
        response.set_cookie(
            NEXT_COOKIE,
            target,
            max_age=NEXT_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/citizen",
        )
    elif NEXT_COOKIE in request.cookies:
        response.delete_cookie(NEXT_COOKIE, path="/citizen")
    return response


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[AnonymousCsrf])
def sign_in(
    request: Request,
    db: Db,
    iin: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        code_id = auth.request_code(
            db,
            iin,
            phone,
            client=client(request),
            language=select_language(request),
            settings=settings_of(request),
            now=utcnow(),
        )
    except InvalidInput:
        error = message(request, "bad_identity")
        return render(request, "citizen/sign_in.html", None, 422, error=error, iin=iin, phone=phone)
    except RateLimited as exc:
        error = message(request, "rate_limited", minutes=max(1, -(-exc.retry_after // 60)))
        return render(request, "citizen/sign_in.html", None, 429, error=error, iin=iin, phone=phone)
    response = redirect("/citizen/code")
    response.set_cookie(
        SIGNIN_COOKIE,
        auth.sign(settings_of(request), str(code_id)),
        max_age=settings_of(request).citizens.code_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/citizen",
    )
    return response


def _pending_code(request: Request) -> int | None:
    value = auth.unsign(settings_of(request), request.cookies.get(SIGNIN_COOKIE))
    return int(value) if value and value.isdigit() else None


@router.get("/code", response_class=HTMLResponse)
def code_page(request: Request) -> Response:
    if _pending_code(request) is None:
        return redirect(SIGN_IN)
    return render(request, "citizen/code.html", None)


@router.post("/code", response_class=HTMLResponse, dependencies=[AnonymousCsrf])
def enter_code(
    request: Request,
    db: Db,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    code_id = _pending_code(request)
    if code_id is None:
        return redirect(SIGN_IN)
    if wait := code_limiter(request).hit(client(request)):
        error = message(request, "rate_limited", minutes=max(1, -(-wait // 60)))
        return render(request, "citizen/code.html", None, 429, error=error)
    result = auth.verify_code(db, code_id, code, settings=settings_of(request), now=utcnow())
    if result.token is None:
        if result.problem == "wrong_code":
            error = message(request, "wrong_code", left=result.attempts_left)
            return render(request, "citizen/code.html", None, 422, error=error)
        error = message(request, "expired")
        return render(request, "citizen/code.html", None, 422, error=error, ask_again=True)
    response = redirect(safe_next(request.cookies.get(NEXT_COOKIE), AREA) or HOME)
    response.delete_cookie(SIGNIN_COOKIE, path="/citizen")
    if NEXT_COOKIE in request.cookies:
        response.delete_cookie(NEXT_COOKIE, path="/citizen")
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=settings_of(request).citizens.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/citizen",
    )
    return response


@router.post("/sign-out", response_class=HTMLResponse, dependencies=[CitizenCsrf])
def sign_out(request: Request, db: Db, session: CurrentCitizen) -> Response:
    auth.end_session(db, session, utcnow())
    attachments.discard(db, settings_of(request), session.iin)  # nothing of theirs stays behind
    response = redirect(SIGN_IN)
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
def my_applications(request: Request, db: Db, session: CurrentCitizen) -> Response:
    applications = citizens.applications_of(db, session.iin)
    _view_audit(db, session, "citizen.view_applications", session.iin)
    return render(
        request,
        "citizen/applications.html",
        session,
        applications=applications,
        second_imeis=second_imei.pending_for(db, session.iin),
    )


@router.post(
    "/second-imeis/{candidate_id}/{action}",
    response_class=HTMLResponse,
    dependencies=[CitizenCsrf],
)
def decide_second_imei(
    db: Db, session: CurrentCitizen, candidate_id: RowId, action: str
) -> Response:
    """One tap: add the second IMEI to the citizen's device ("confirm"), or drop the link."""
    if action == "confirm":
        second_imei.confirm(db, session.iin, candidate_id, msisdn=session.msisdn)
    elif action == "dismiss":
        second_imei.dismiss(db, session.iin, candidate_id)
    else:
        raise NotFound("No such action.")
    return redirect("/citizen/applications")


def _date(value: str, field: str, problems: list[citizens.ApplicationRefused]) -> dt.date | None:
    """The date entered, or None (a problem noted when it cannot be read or, for the day of
    entry, is missing)."""
    value = value.strip()
    if not value:
        if field == "entered_on":
            problems.append(citizens.ApplicationRefused("invalid_date", field=field))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(citizens.ApplicationRefused("invalid_date", field=field))
        return None


def _errors(request: Request, problems: list[citizens.ApplicationRefused]) -> dict[str, str]:
    """Field -> what is wrong with it, in the page's language (the first problem of each field)."""
    lang = select_language(request)
    errors: dict[str, str] = {}
    for exc in problems:
        errors.setdefault(exc.field or "form", citizens.reason_text(exc.reason, lang))
    return errors


@router.get("/applications/new/registration", response_class=HTMLResponse)
def registration_form(request: Request, session: CurrentCitizen) -> Response:
    return render(request, "citizen/new_registration.html", session, form={})


@router.post(
    "/applications/new/registration", response_class=HTMLResponse, dependencies=[CitizenCsrf]
)
def file_registration(
    request: Request,
    db: Db,
    session: CurrentCitizen,
    imei1: Annotated[str, Form(max_length=64)] = "",
    imei2: Annotated[str, Form(max_length=64)] = "",
    brand: Annotated[str, Form(max_length=200)] = "",
    model: Annotated[str, Form(max_length=300)] = "",
    entered_on: Annotated[str, Form(max_length=16)] = "",
    travel_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    form = {
        "imei1": imei1,
        "imei2": imei2,
        "brand": brand,
        "model": model,
        "entered_on": entered_on,
        "travel_from": travel_from,
    }
    problems: list[citizens.ApplicationRefused] = []
    entered = _date(entered_on, "entered_on", problems)
    left = _date(travel_from, "travel_from", problems)
    imeis = {"imei1": imei1, **({"imei2": imei2} if imei2.strip() else {})}
    problems += citizens.form_problems(
        imeis, entered, left, utcnow(), texts={"brand": brand, "model": model}
    )
    try:
        if problems or entered is None:
            raise problems[0]
        application = citizens.file_registration(
            db,
            citizens.Applicant(session.iin, session.msisdn),
            imei1=imei1,
            imei2=imei2 or None,
            brand=brand,
            model=model,
            entered_on=entered,
            travel_from=left,
            language=select_language(request),
            settings=settings_of(request),
        )
    except citizens.ApplicationRefused as exc:
        return render(
            request,
            "citizen/new_registration.html",
            session,
            422,
            errors=_errors(request, problems or [exc]),
            form=form,
        )
    return redirect(f"/citizen/applications/{application.public_id}")


@router.get("/applications/new/appeal", response_class=HTMLResponse)
def appeal_form(request: Request, db: Db, session: CurrentCitizen) -> Response:
    # Documents kept from an earlier try (a mistake, or a session that ran out) are shown again.
    attached = attachments.kept(db, settings_of(request), session.iin, utcnow())
    return render(request, "citizen/new_appeal.html", session, form={}, attached=attached)


def _read(upload: UploadFile | None, kind: str, limit: int) -> Upload | None:
    if upload is None or not upload.filename:
        return None
    # One byte past the limit is enough to know it is too large; never more in memory.
    return Upload(kind, upload.filename, upload.file.read(limit + 1))


@router.post("/applications/new/appeal", response_class=HTMLResponse, dependencies=[CitizenCsrf])
def file_appeal(
    request: Request,
    db: Db,
    session: CurrentCitizen,
    imei: Annotated[str, Form(max_length=64)] = "",
    entered_on: Annotated[str, Form(max_length=16)] = "",
    travel_from: Annotated[str, Form(max_length=16)] = "",
    boarding_pass: Annotated[UploadFile | None, File()] = None,
    receipt: Annotated[UploadFile | None, File()] = None,
) -> Response:
    settings = settings_of(request)
    limit = settings.citizens.max_document_bytes
    now = utcnow()
    form = {"imei": imei, "entered_on": entered_on, "travel_from": travel_from}
    problems: list[citizens.ApplicationRefused] = []
    # Every acceptable document is kept at once, so that a mistake elsewhere on the form does
    # not cost the person the upload; a refused one is said beside the documents.
    for upload in (_read(boarding_pass, "boarding_pass", limit), _read(receipt, "receipt", limit)):
        if upload is not None:
            try:
                attachments.keep(db, settings, session.iin, upload, now)
            except DocumentRefused as exc:
                problems.append(citizens.ApplicationRefused(exc.reason, field="documents"))
    attached = attachments.kept(db, settings, session.iin, now)
    entered = _date(entered_on, "entered_on", problems)
    left = _date(travel_from, "travel_from", problems)
    problems += citizens.form_problems({"imei": imei}, entered, left, now)
    if not attached and not any(p.field == "documents" for p in problems):
        problems.append(citizens.ApplicationRefused("document_required", field="documents"))
    try:
        if problems or entered is None:
            raise problems[0]
        application = citizens.file_appeal(
            db,
            citizens.Applicant(session.iin, session.msisdn),
            imei=imei,
            entered_on=entered,
            travel_from=left,
            uploads=attachments.read(settings, list(attached.values())),
            language=select_language(request),
            settings=settings,
            now=now,
        )
    except citizens.ApplicationRefused as exc:
        errors = _errors(request, problems or [exc])
        return render(
            request,
            "citizen/new_appeal.html",
            session,
            422,
            errors=errors,
            form=form,
            attached=attached,
        )
    attachments.discard(db, settings, session.iin)
    return redirect(f"/citizen/applications/{application.public_id}")


@router.post(
    "/applications/new/appeal/attachments/remove",
    response_class=HTMLResponse,
    dependencies=[CitizenCsrf],
)
def remove_attachment(
    request: Request,
    db: Db,
    session: CurrentCitizen,
    kind: Annotated[str, Form(max_length=32)] = "",
    imei: Annotated[str, Form(max_length=64)] = "",
    entered_on: Annotated[str, Form(max_length=16)] = "",
    travel_from: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Take back a kept document; the form comes back with what was entered in it."""
    settings = settings_of(request)
    attachments.remove(db, settings, session.iin, kind)
    form = {"imei": imei, "entered_on": entered_on, "travel_from": travel_from}
    return render(
        request,
        "citizen/new_appeal.html",
        session,
        form=form,
        attached=attachments.kept(db, settings, session.iin, utcnow()),
        notice=message(request, "attachment_removed"),
    )


@router.get("/applications/{public_id}", response_class=HTMLResponse)
def application_page(request: Request, db: Db, session: CurrentCitizen, public_id: str) -> Response:
    application = citizens.application_of(db, session.iin, public_id)
    _view_audit(db, session, "citizen.view_application", application.public_id)
    lang = select_language(request)
    return render(
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
            status.append(
                {
                    "imei": key,
                    "result": result,
                    "words": describe_check(result, lang),
                    "why": reason_words(result, lang),
                }
            )
    return status


@router.get("/applications/{public_id}/documents/{document_id}")
def document(
    request: Request, db: Db, session: CurrentCitizen, public_id: str, document_id: str
) -> Response:
    found = citizens.document_of(db, session.iin, public_id, document_id)
    _view_audit(db, session, "citizen.view_document", f"{public_id}/{found.id}")
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
    return FileResponse(
        path_of(settings_of(request).documents_dir, found),
        media_type=found.content_type,
        filename=f"{found.kind}.{extension.get(found.content_type, 'bin')}",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )

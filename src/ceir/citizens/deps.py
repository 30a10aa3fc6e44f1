"""The citizen portal's guard and frame: the signed-in citizen, the CSRF check, the page itself.

Every page of /citizen/ declares what it needs here: `CurrentCitizen` (a visitor without a
session is sent to sign in, and comes back to the page after), `CitizenCsrf` on each form of a
signed-in citizen, `AnonymousCsrf` on the sign-in forms (a random token in a cookie).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ceir.citizens import auth
from ceir.citizens import service as citizens
from ceir.citizens.models import CitizenSession
from ceir.db import utcnow
from ceir.errors import Forbidden
from ceir.i18n import LANGUAGES, gettext
from ceir.ratelimit import RateLimiter
from ceir.web.deps import Db as Db  # re-exported for the pages
from ceir.web.limits import app_limiter, client_address
from ceir.web.pages import safe_next, settings_of, to_sign_in
from ceir.web.templating import remember_language, select_language, templates

AREA = "/citizen/"
SIGN_IN = "/citizen/sign-in"
SESSION_COOKIE = "ceir_session"
SIGNIN_COOKIE = "ceir_signin"
CSRF_COOKIE = "ceir_csrf"
NEXT_COOKIE = "ceir_next"  # the page to return to once the code is entered

CsrfField = Annotated[str, Form(max_length=128)]


def N_(message: str) -> str:
    return message


MESSAGES = {
    "bad_identity": N_("Check the IIN (12 digits) and the phone number (+7 7XX XXX XX XX)."),
    "rate_limited": N_("Too many attempts. Try again in %(minutes)s min."),
    "wrong_code": N_("Wrong code. Attempts left: %(left)s."),
    "expired": N_("This code has expired or is used up. Ask for a new one."),
    "attachment_removed": N_("The document is removed."),
    # The purchase-abroad form keeps no upload across a mistake: the receipt is asked again.
    "attach_again": N_("The files were not kept: attach them again before you send the form."),
    "session_ended": N_(
        "Your session has ended, so what you sent was not saved. Sign in again: you will come "
        "back to the page you were on."
    ),
}


def session_of(request: Request, db: Session) -> CitizenSession | None:
    return auth.session_of(db, request.cookies.get(SESSION_COOKIE), utcnow())


def current_citizen(request: Request, db: Db) -> CitizenSession:
    """The citizen's live session; without one, 303 to the sign-in page (GETs come back after)."""
    session = session_of(request, db)
    if session is None:
        # Forms are shown only to signed-in citizens: one sent without a session outlived it
        # (the cookie lasts as long as the session, so it is usually gone by then).
        if request.method != "GET":
            raise _session_ended(request)
        raise to_sign_in(request, SIGN_IN)
    return session


def _session_ended(request: Request) -> HTTPException:
    """A form sent after the session ran out: say so, and come back to the page it was on."""
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = not referer.netloc or referer.netloc == request.url.netloc
    back = safe_next(referer.path, AREA) if same_site else None
    query = {"ended": "1", **({"next": back} if back else {})}
    return HTTPException(
        303, "Sign in again.", headers={"Location": f"{SIGN_IN}?{urlencode(query)}"}
    )


CurrentCitizen = Annotated[CitizenSession, Depends(current_citizen)]


def _check_csrf(expected: str | None, given: str) -> None:
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("The form has expired or did not come from this site; reload it.")


def citizen_csrf(session: CurrentCitizen, csrf_token: CsrfField) -> None:
    """A signed-in citizen's form must carry their session's token."""
    _check_csrf(session.csrf_token, csrf_token)


def anonymous_csrf(request: Request, csrf_token: CsrfField) -> None:
    """Before sign-in, the form's token must match the random one in the cookie."""
    _check_csrf(request.cookies.get(CSRF_COOKIE), csrf_token)


CitizenCsrf = Depends(citizen_csrf)
AnonymousCsrf = Depends(anonymous_csrf)


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or settings_of(request).citizens.secure_cookies


def client(request: Request) -> str:
    return client_address(request, settings_of(request).trusted_proxies)


def code_limiter(request: Request) -> RateLimiter:
    """Guesses of SMS codes (sign-in and hand-over alike) per client address."""
    per_minute = settings_of(request).citizens.code_checks_per_minute_per_client
    return app_limiter(request, "citizen_code_limiter", per_minute)


def message(request: Request, key: str, **variables: Any) -> str:
    return gettext(select_language(request), MESSAGES[key], **variables)


def render(
    request: Request,
    template: str,
    session: CitizenSession | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    lang = select_language(request)
    form_token = None
    if session is None:
        form_token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    context.update(
        lang=lang,
        csrf_token=session.csrf_token if session else form_token,
        signed_in=session is not None,
        when=lambda moment: moment.astimezone(citizens.ALMATY).strftime("%d.%m.%Y %H:%M"),
        language_links={code: f"{request.url.path}?lang={code}" for code in LANGUAGES},
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    # Personal pages: never cached, never framed, no address leaked to other sites.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if form_token and form_token != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            form_token,
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/citizen",
        )
    remember_language(request, response, lang, secure=secure(request))
    return response

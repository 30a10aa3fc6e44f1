"""The back office's guard and frame: the signed-in officer, the CSRF check, the page itself.

Every page of /officers/ declares what it needs here: `CurrentOfficer` (a browser without a
session is sent to sign in and comes back after; other clients get 401), `OfficerCsrf` on each
form, and is served through `OfficerRoute`, which adds the headers personal data needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from ceir.config import Settings
from ceir.db import utcnow
from ceir.errors import Forbidden
from ceir.i18n import LANGUAGES, get_translations
from ceir.review import findings, officers, reasons
from ceir.review.models import Role
from ceir.review.officers import Permission, SignedIn
from ceir.web.deps import Db as Db  # re-exported for the pages
from ceir.web.pages import settings_of, to_sign_in
from ceir.web.templating import remember_language, select_language, templates

DISPLAY_TIMEZONE = ZoneInfo("Asia/Almaty")
CsrfField = Annotated[str, Form(max_length=128)]

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


class OfficerRoute(APIRoute):
    """Every answer of the back office carries PAGE_HEADERS (a route may set its own CSP)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return with_headers


def cookie_names(settings: Settings) -> tuple[str, str]:
    """(session, sign-in form) cookie names; the __Host- prefix makes browsers insist on
    Secure, Path=/ and no Domain, so no sibling host can plant or read them."""
    if settings.officers.secure_cookies:
        return "__Host-ceir_officer", "__Host-ceir_officer_form"
    return "ceir_officer", "ceir_officer_form"


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
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


def signed_in(request: Request, db: Db) -> SignedIn:
    """The officer of the request's session; browsers without one go to the sign-in page."""
    settings = settings_of(request)
    token = request.cookies.get(cookie_names(settings)[0])
    signed = officers.find_session(db, token, utcnow())
    if signed is not None:
        return signed
    if _wants_page(request):
        raise to_sign_in(request, "/officers/sign-in")
    raise officers.SignInRequired("Sign in as an officer first.")


CurrentOfficer = Annotated[SignedIn, Depends(signed_in)]


def check_csrf(signed: SignedIn, presented: str) -> None:
    if not officers.csrf_matches(signed, presented):
        raise Forbidden("The form's security token is missing or wrong; reload the page.")


def require(signed: SignedIn, permission: Permission) -> None:
    officers.require(signed.officer, permission)


def home_of(signed: SignedIn) -> str:
    if officers.can(signed.officer, Permission.REVIEW):
        return "/officers/queue"
    if Role.POLICE in officers.roles_of(signed.officer) and not officers.can(
        signed.officer, Permission.READ_AUDIT
    ):
        return "/officers/stolen"
    return "/officers/audit"


def officer_csrf(signed: CurrentOfficer, csrf_token: CsrfField = "") -> None:
    """Every form of a signed-in officer carries their session's token."""
    check_csrf(signed, csrf_token)


OfficerCsrf = Depends(officer_csrf)


def require_police(signed: CurrentOfficer) -> None:
    """The police desk: officers with the role `police` only."""
    officer = signed.officer
    if not (officer.active and Role.POLICE in officers.roles_of(officer)):
        raise Forbidden(f"Officer {officer.username!r} may not act on stolen reports.")


PoliceOnly = Depends(require_police)


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


def render(
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
        "actor_text": lambda actor: findings.actor_text(actor, lang),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status)
    remember_language(request, response, lang, secure=request.url.scheme == "https")
    return response

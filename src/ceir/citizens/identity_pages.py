"""The public "this was not me" page a link in an identity-use SMS opens: /citizen/n/<token>.

No sign-in: the link went only to one number of the IIN, and it works once. Both the look and the
dispute are limited per client address; the form carries the anonymous CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ceir.citizens import identity_disputes, identity_use
from ceir.citizens.deps import AnonymousCsrf, Db, client, message, render
from ceir.db import utcnow
from ceir.errors import NotFound
from ceir.i18n import normalise_language
from ceir.web.limits import app_limiter
from ceir.web.pages import redirect, settings_of
from ceir.web.templating import COOKIE_NAME, select_language

router = APIRouter(prefix="/citizen", tags=["citizens"], include_in_schema=False)

Token = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _limited(request: Request) -> Response | None:
    per_minute = settings_of(request).citizens.dispute_pages_per_minute_per_client
    wait = app_limiter(request, "identity_dispute_limiter", per_minute).hit(client(request))
    if not wait:
        return None
    error = message(request, "rate_limited", minutes=max(1, -(-wait // 60)))
    response = render(request, "citizen/not_me.html", None, 429, error=error, gone=True)
    response.headers["Retry-After"] = str(wait)
    return response


def _gone(request: Request) -> Response:
    return render(request, "citizen/not_me.html", None, 404, gone=True)


def _private(response: Response) -> Response:
    # The address holds the token: never sent on to another site, never kept by a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/n/{token}", response_class=HTMLResponse)
def not_me_page(request: Request, db: Db, token: Token) -> Response:
    if (limited := _limited(request)) is not None:
        return _private(limited)
    try:
        link, act = identity_disputes.link_of(db, token, utcnow())
    except NotFound:
        return _private(_gone(request))
    chosen = normalise_language(request.query_params.get("lang")) or normalise_language(
        request.cookies.get(COOKIE_NAME)
    )
    if chosen is None:  # the page speaks the language its SMS was written in
        return _private(redirect(f"/citizen/n/{token}?lang={link.language}"))
    lang = select_language(request)
    return _private(
        render(
            request,
            "citizen/not_me.html",
            None,
            act=act,
            act_text=identity_use.act_text(act, lang),
            device=identity_use.describe_device(act, lang),
            token_path=token,
        )
    )


@router.post("/n/{token}", response_class=HTMLResponse, dependencies=[AnonymousCsrf])
def not_me(request: Request, db: Db, token: Token) -> Response:
    if (limited := _limited(request)) is not None:
        return _private(limited)
    try:
        act = identity_disputes.dispute(
            db, token, client=client(request), now=utcnow(), settings=settings_of(request)
        )
    except NotFound:
        return _private(_gone(request))
    lang = select_language(request)
    return _private(
        render(
            request,
            "citizen/not_me.html",
            None,
            act=act,
            act_text=identity_use.act_text(act, lang),
            device=identity_use.describe_device(act, lang),
            done=True,
        )
    )

"""The page language of a request, the language cookie and the Jinja2 templates that use both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from ceir.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    default_language,
    from_accept_language,
    get_translations,
    normalise_language,
    tidy,
)
from ceir.identifiers import display_imei

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
COOKIE_NAME = "lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def select_language(request: Request) -> str:
    """The page language: ?lang=, then the `lang` cookie, then Accept-Language, then the default."""
    query = request.query_params.get("lang") if request.scope.get("query_string") else None
    return (
        normalise_language(query)
        or normalise_language(request.cookies.get(COOKIE_NAME))
        or from_accept_language(request.headers.get("accept-language", ""))
        or default_language()
    )


def remember_language(request: Request, response: Response, lang: str, *, secure: bool) -> None:
    """A language chosen by ?lang= stays chosen: the answer sets the `lang` cookie for a year."""
    if normalise_language(request.query_params.get("lang")):
        response.set_cookie(
            COOKIE_NAME,
            lang,
            max_age=LANGUAGE_COOKIE_SECONDS,
            samesite="lax",
            secure=secure,
            httponly=True,
        )


# The template's own context carries the language, so one shared Environment serves concurrent
# requests in different languages without thread-locals.
def _context_language(context: jinja2.runtime.Context) -> str:
    return normalise_language(context.get("lang")) or default_language()


@jinja2.pass_context
def _template_gettext(context: jinja2.runtime.Context, message: str) -> str:
    return get_translations(_context_language(context)).gettext(message)


@jinja2.pass_context
def _template_ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return get_translations(_context_language(context)).ngettext(singular, plural, n)


@jinja2.pass_context
def _template_pgettext(context: jinja2.runtime.Context, msgctxt: str, message: str) -> str:
    """A message whose words depend on what it is said of (a citizen's "заявление" is neuter)."""
    return str(get_translations(_context_language(context)).pgettext(msgctxt, message))


def _tidied(function: Any) -> Any:
    """Jinja's newstyle gettext, its result passed through `tidy` once the values are in."""

    @jinja2.pass_context
    def wrapper(context: jinja2.runtime.Context, *args: Any, **variables: Any) -> Any:
        text = function(context, *args, **variables)
        if not variables:
            return text
        # Already escaped Markup; tidy only changes letters of month names and a full stop.
        return markupsafe.Markup(tidy(str(text), _context_language(context)))  # noqa: S704

    return wrapper


def _make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Newstyle gettext escapes the translation's %(var)s values and fails loudly on missing ones.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _template_gettext, _template_ngettext, newstyle=True
    )
    env.globals["gettext"] = _tidied(env.globals["gettext"])
    env.globals["ngettext"] = _tidied(env.globals["ngettext"])
    env.globals["pgettext"] = _template_pgettext
    env.filters["imei"] = display_imei  # registry keys are 14 digits; people read 15
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    return env


templates = Jinja2Templates(env=_make_environment())

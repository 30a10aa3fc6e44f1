"""Languages of the public pages: choosing one per request, catalogs, and the Jinja2 templates."""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.templating import Jinja2Templates

from ceir.config import get_settings

LANGUAGES: tuple[str, ...] = ("ru", "kk", "en")
# Each language named in itself, for the switcher: a reader must recognise their own.
LANGUAGE_NAMES: dict[str, str] = {"ru": "Русский", "kk": "Қазақша", "en": "English"}
# "kz" is the country code, yet people (and some browsers) use it for the Kazakh language.
_ALIASES = {"kz": "kk"}
COOKIE_NAME = "lang"

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
TRANSLATIONS_DIR = WEB_DIR / "translations"

_catalogs: dict[str, Translations] = {}
_catalogs_lock = threading.Lock()


def default_language() -> str:
    configured = normalise_language(get_settings().default_language)
    return configured or LANGUAGES[0]


def normalise_language(value: str | None) -> str | None:
    """Map a language tag ("kk-KZ", "RU", "kz") to one of LANGUAGES, or None."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    primary = _ALIASES.get(primary, primary)
    return primary if primary in LANGUAGES else None


def _from_accept_language(header: str) -> str | None:
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalise_language(tag)
        if language and quality > 0:
            # Position breaks ties so that equal weights keep the browser's order.
            weighted.append((-quality, position, language))
    return min(weighted)[2] if weighted else None


def select_language(request: Request) -> str:
    """The page language: ?lang=, then the `lang` cookie, then Accept-Language, then the default."""
    return (
        normalise_language(request.query_params.get("lang"))
        or normalise_language(request.cookies.get(COOKIE_NAME))
        or _from_accept_language(request.headers.get("accept-language", ""))
        or default_language()
    )


def _load(lang: str) -> Translations:
    path = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    # Compiled in memory so the repository holds only the .po sources and needs no build step.
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain="messages")


def get_translations(lang: str) -> Translations:
    """The catalog of `lang` (the default language's for an unknown one), loaded once."""
    lang = normalise_language(lang) or default_language()
    catalog = _catalogs.get(lang)
    if catalog is None:
        with _catalogs_lock:
            catalog = _catalogs.get(lang)
            if catalog is None:
                catalog = _catalogs[lang] = _load(lang)
    return catalog


def gettext(lang: str, msgid: str, **variables: Any) -> str:
    """Translate for Python code; `%(name)s` placeholders are filled from `variables`.

    pybabel does not extract msgids passed here: mark them with `_()` where they are written.
    """
    text = get_translations(lang).gettext(msgid)
    return text % variables if variables else text


def ngettext(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = get_translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


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
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    return env


templates = Jinja2Templates(env=_make_environment())

"""Languages: the three ceir speaks, their catalogs and gettext for services and templates."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from ceir.config import get_settings

LANGUAGES: tuple[str, ...] = ("ru", "kk", "en")
# Each language named in itself, for the switcher: a reader must recognise their own.
LANGUAGE_NAMES: dict[str, str] = {"ru": "Русский", "kk": "Қазақша", "en": "English"}
# "kz" is the country code, yet people (and some browsers) use it for the Kazakh language.
_ALIASES = {"kz": "kk"}

# The .po sources sit beside the templates that use most of their strings.
TRANSLATIONS_DIR = Path(__file__).parent / "web" / "translations"

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


def from_accept_language(header: str) -> str | None:
    """The most wanted of LANGUAGES in an Accept-Language header, or None."""
    # Browsers send a few distinct headers, parsed once each; a long one is not kept.
    return _accept_language(header) if len(header) <= 256 else _parse_accept_language(header)


@lru_cache(maxsize=1024)
def _accept_language(header: str) -> str | None:
    return _parse_accept_language(header)


def _parse_accept_language(header: str) -> str | None:
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


# Babel spells a Kazakh month in the nominative ("2026 ж. 5 желтоқсан"), and a postposition after
# a date asks for a case ("желтоқсаннан бастап", "желтоқсанға дейін"): each month in each case.
_KK_MONTHS = {
    # nominative: (ablative, dative, locative)
    "қаңтар": ("қаңтардан", "қаңтарға", "қаңтарда"),
    "ақпан": ("ақпаннан", "ақпанға", "ақпанда"),
    "наурыз": ("наурыздан", "наурызға", "наурызда"),
    "сәуір": ("сәуірден", "сәуірге", "сәуірде"),
    "мамыр": ("мамырдан", "мамырға", "мамырда"),
    "маусым": ("маусымнан", "маусымға", "маусымда"),
    "шілде": ("шілдеден", "шілдеге", "шілдеде"),
    "тамыз": ("тамыздан", "тамызға", "тамызда"),
    "қыркүйек": ("қыркүйектен", "қыркүйекке", "қыркүйекте"),
    "қазан": ("қазаннан", "қазанға", "қазанда"),
    "қараша": ("қарашадан", "қарашаға", "қарашада"),
    "желтоқсан": ("желтоқсаннан", "желтоқсанға", "желтоқсанда"),
}
# Which case each word after a date asks for: 0 ablative, 1 dative, 2 locative.
_KK_GOVERNED = {"бастап": 0, "кейін": 0, "бері": 0, "дейін": 1, "бұғатталады": 2, "күні": 2}
_KK_DATE_CASE = re.compile(
    r"(?<!\w)(" + "|".join(_KK_MONTHS) + r")(?=\s+(" + "|".join(_KK_GOVERNED) + r")(?!\w))"
)


def tidy(text: str, lang: str) -> str:
    """Grammar a filled-in translation needs: Kazakh case endings after a date, and no double
    full stop where a Russian date ("2026 г.") ends a sentence."""
    if lang == "kk":
        return _KK_DATE_CASE.sub(lambda m: _KK_MONTHS[m.group(1)][_KK_GOVERNED[m.group(2)]], text)
    if lang == "ru":
        return text.replace("г..", "г.")
    return text


def gettext(lang: str, msgid: str, **variables: Any) -> str:
    """Translate for Python code; `%(name)s` placeholders are filled from `variables`.

    pybabel does not extract msgids passed here: mark them with `_()` where they are written.
    """
    text = get_translations(lang).gettext(msgid)
    return tidy(text % variables, normalise_language(lang) or "") if variables else text


def ngettext(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = get_translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}

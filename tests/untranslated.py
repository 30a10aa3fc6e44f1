"""Finds English left in a rendered Russian or Kazakh page: words a reader of that page sees."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Words that stay in Latin letters in every language: identifiers, standards, brands, our name.
LATIN_WORDS = set(
    [
        "api",
        "ceir",
        "csv",
        "egov",
        "gsma",
        "iin",
        "imei",
        "imeisv",
        "jpeg",
        "json",
        "pdf",
        "png",
        "sim",
        "sms",
        "tac",
        "english",
        "kcell",
        "beeline",
        "tele2",
        "altel",
        "apple",
        "iphone",
        "samsung",
        "galaxy",
        "ultra",
        "pro",
        "xiaomi",
        "redmi",
        "note",
    ]
)
_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
_SKIPPED = {"script", "style", "code"}
_VOID = set(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)
# Whole words only: "TRIP0001" or "S928B" are identifiers, not English.
_WORD = re.compile(r"(?<!\w)[A-Za-z][A-Za-z_']{2,}(?!\w)")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # for each open element: is its text exempt?
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        exempt = (
            (bool(self.stack) and self.stack[-1])
            or tag in _SKIPPED
            or values.get("lang") not in (None, "ru", "kk")
            or "digits" in (values.get("class") or "").split()
            or values.get("translate") == "no"
        )
        if not exempt:
            self.texts.extend(v for k, v in attrs if k in _ATTRIBUTES and v)
        if tag not in _VOID:
            self.stack.append(exempt)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.texts.append(data)


def english_words(html: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Latin-letter words a reader of the page sees, beyond identifiers and brand names."""
    parser = _Visible()
    parser.feed(html)
    known = LATIN_WORDS | {w.lower() for w in allowed}
    found = []
    for text in parser.texts:
        found.extend(w for w in _WORD.findall(text) if w.lower() not in known)
    return sorted(set(found))


def other_language_phrases(html: str, lang: str) -> list[str]:
    """Translations into the other of ru/kk that show in a page rendered in `lang`.

    A template that renders without the page's language falls back to the default one: Russian
    on a Kazakh page is as wrong as English, and no Latin-letter check sees it.
    """
    from ceir.i18n import get_translations

    other = "ru" if lang == "kk" else "kk"
    ours = get_translations(lang)
    theirs = get_translations(other)
    phrases = set()
    for msgid, text in theirs._catalog.items():  # the compiled catalog: msgid -> msgstr
        if not (isinstance(msgid, str) and msgid and isinstance(text, str)):
            continue  # the header, and plural forms keyed by (msgid, n)
        if len(text) >= 8 and ours.gettext(msgid) != text:
            phrases.add(text.split("%(")[0].strip())
    parser = _Visible()
    parser.feed(html)
    visible = " ".join(" ".join(parser.texts).split())
    return sorted(p for p in phrases if len(p) >= 8 and p in visible)

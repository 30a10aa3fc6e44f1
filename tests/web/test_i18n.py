"""Translation catalogs: complete in every language, compiled in memory, chosen per request."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from ceir.i18n import LANGUAGES, TRANSLATIONS_DIR, get_translations, gettext


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_of_the_template_is_translated_and_not_fuzzy(lang: str) -> None:
    template = _read(TRANSLATIONS_DIR / "messages.pot")
    catalog = _read(TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po", lang)
    wanted = {message.id for message in template if message.id}
    assert wanted, "the .pot is empty: run pybabel extract -F babel.cfg"
    untranslated = sorted(str(m) for m in wanted if not catalog.get(m) or not catalog[m].string)
    assert untranslated == []
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    assert [str(e) for e in catalog.check()] == []  # placeholders agree with the msgid


def test_kazakh_is_written_in_kazakh_cyrillic() -> None:
    catalog = _read(TRANSLATIONS_DIR / "kk" / "LC_MESSAGES" / "messages.po", "kk")
    text = "".join(str(m.string) for m in catalog if m.id)
    assert set("әғқңөұүі") <= set(text.lower())


@pytest.mark.parametrize(
    ("lang", "title"),
    [("ru", "Нет в реестре"), ("kk", "Тізілімде жоқ"), ("en", "Not in the registry")],
)
def test_catalogs_compile_in_memory(lang: str, title: str) -> None:
    assert get_translations(lang).gettext("Not in the registry") == title
    assert gettext(lang, "Error %(status)s", status=429).endswith("429")


def test_unknown_language_falls_back_to_the_default() -> None:
    assert get_translations("de").gettext("Invalid IMEI") == "Неверный IMEI"

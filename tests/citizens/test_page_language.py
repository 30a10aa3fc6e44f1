"""A citizen's pages in Russian and Kazakh: no English left, words that agree with each other."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from tests.citizens.conftest import Citizen
from tests.factories import add_application_in_review, make_imei
from tests.untranslated import english_words, other_language_phrases


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_application_pages_have_no_untranslated_words(
    make_citizen: Callable[[int], Citizen], db_session: Session, lang: str
) -> None:
    citizen = make_citizen(4)
    add_application_in_review(
        db_session, public_id="WORDS001", iin=citizen.iin, imei=make_imei("35467819", 4)
    )
    for path in ("/citizen/applications", "/citizen/applications/WORDS001", "/citizen/devices"):
        html = citizen.client.get(f"{path}?lang={lang}").text
        assert english_words(html) == [], path
        assert other_language_phrases(html, lang) == [], path


def test_a_citizens_application_is_approved_in_the_neuter(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    citizen = make_citizen(5)
    add_application_in_review(
        db_session,
        public_id="WORDS002",
        iin=citizen.iin,
        imei=make_imei("35467819", 5),
        status="approved",
    )
    html = citizen.client.get("/citizen/applications/WORDS002?lang=ru").text
    assert "Заявление" in html
    assert "Одобрено" in html and "Одобрена" not in html


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_forms_their_mistakes_and_kept_documents_have_no_untranslated_words(
    make_citizen: Callable[[int], Citizen], lang: str
) -> None:
    from tests.factories import TINY_PDF

    citizen = make_citizen(6)
    registration = f"/citizen/applications/new/registration?lang={lang}"
    appeal = f"/citizen/applications/new/appeal?lang={lang}"
    pages = {
        "registration": citizen.client.get(registration).text,
        "appeal": citizen.client.get(appeal).text,
        "registration, mistakes": citizen.post(
            registration, {"imei1": "123", "brand": "", "entered_on": "2099-01-01"}
        ).text,  # type: ignore[attr-defined]
        "appeal, mistakes and a kept document": citizen.post(
            appeal,
            {"imei": "123", "entered_on": ""},
            files={"boarding_pass": ("boarding.pdf", TINY_PDF, "application/pdf")},
        ).text,  # type: ignore[attr-defined]
        "appeal, document removed": citizen.post(
            f"/citizen/applications/new/appeal/attachments/remove?lang={lang}",
            {"kind": "boarding_pass"},
        ).text,  # type: ignore[attr-defined]
        "devices": citizen.client.get(f"/citizen/devices?lang={lang}").text,
    }
    assert "boarding.pdf" in pages["appeal, mistakes and a kept document"]
    citizen.client.cookies.clear()
    pages["sign-in after the session ended"] = citizen.client.get(
        f"/citizen/sign-in?ended=1&lang={lang}"
    ).text
    for name, html in pages.items():
        assert english_words(html) == [], name
        assert other_language_phrases(html, lang) == [], name

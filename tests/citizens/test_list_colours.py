"""The citizen's application page names the list each IMEI is on, with the date to act by."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from tests.citizens.conftest import Citizen
from tests.factories import add_application_in_review, add_device_state, make_imei

NOTIFIED = make_imei("35467819", 940_001)


def test_application_page_shows_the_list_and_the_block_date_in_three_languages(
    db_session: Session, make_citizen: Callable[[int], Citizen]
) -> None:
    citizen = make_citizen(1)
    add_device_state(db_session, NOTIFIED, "notified")  # block date 19 November 2026
    add_application_in_review(db_session, public_id="LISTCOLOUR01", iin=citizen.iin, imei=NOTIFIED)
    expected = {
        "ru": ("серый список", "2026"),
        "kk": ("сұр тізім", "2026"),
        "en": ("grey list", "November 19, 2026"),
    }
    for lang, (list_name, date) in expected.items():
        page = citizen.get(f"/citizen/applications/LISTCOLOUR01?lang={lang}")
        assert page.status_code == 200  # type: ignore[attr-defined]
        text = page.text  # type: ignore[attr-defined]
        assert list_name in text.lower(), lang
        assert date in text, lang


def test_application_page_names_the_reason_code_and_its_evidence(
    db_session: Session, make_citizen: Callable[[int], Citizen]
) -> None:
    citizen = make_citizen(2)
    blocked = make_imei("35467819", 940_002)
    add_device_state(db_session, blocked, "blocked", reasons="not_registered|duplicate")
    add_application_in_review(db_session, public_id="LISTREASON01", iin=citizen.iin, imei=blocked)
    expected = {
        "ru": ("Причина: не зарегистрировано", "Несоответствие выявлено 20 октября 2026"),
        "kk": ("Себебі: тіркелмеген", "Сәйкессіздік анықталған күн 2026\u202fж. 20 қазан"),
        "en": ("Reason: not registered", "Found not compliant on October 20, 2026"),
    }
    for lang, (reason, first_seen) in expected.items():
        text = citizen.get(f"/citizen/applications/LISTREASON01?lang={lang}").text  # type: ignore[attr-defined]
        assert reason in text and "<code>not_registered</code>" in text, lang
        assert first_seen in text, lang

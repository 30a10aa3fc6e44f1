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

"""Citizens read their IMEIs as `*#06#` shows them: all 15 digits, check digit included."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from tests.citizens.conftest import Citizen
from tests.factories import add_application_in_review, make_imei

IMEI = make_imei("35467819", 515_151)


def test_application_pages_show_the_imei_with_its_check_digit(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    citizen = make_citizen(3)
    add_application_in_review(db_session, public_id="DIGITS16", iin=citizen.iin, imei=IMEI)
    for path in ("/citizen/applications", "/citizen/applications/DIGITS16"):
        text = citizen.client.get(path).text
        assert IMEI in text, path

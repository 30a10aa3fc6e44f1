"""Officers read IMEIs as `*#06#` shows them: all 15 digits, check digit included."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from ceir.citizens import stolen
from ceir.citizens.device_models import ReportKind
from ceir.db import utcnow
from tests.factories import (
    add_application_in_review,
    add_device_state,
    add_officer,
    add_owned_device,
    make_iin,
    make_imei,
)
from tests.review.conftest import Desk, sign_in

IMEI = make_imei("35467819", 424_242)
STOLEN = make_imei("35467819", 424_243)


def test_the_case_file_shows_every_imei_with_its_check_digit(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_device_state(db_session, IMEI, "blocked")
    add_application_in_review(db_session, public_id="DIGITS15", iin=make_iin(serial=9), imei=IMEI)
    text = desk("aliya").get("/officers/cases/DIGITS15").text
    assert IMEI in text
    assert f"{IMEI[:14]}<" not in text and f"{IMEI[:14]}:" not in text


def test_the_police_list_shows_every_imei_with_its_check_digit(
    new_client: Callable[[], object], db_session: Session
) -> None:
    device = add_owned_device(db_session, make_iin(serial=6), [STOLEN])
    stolen.report_own_device(
        db_session,
        make_iin(serial=6),
        device.id,
        kind=ReportKind.STOLEN,
        police_reference="KUI-6",
        now=utcnow(),
    )
    db_session.commit()
    add_officer(db_session, "petrov", ("police",))
    client = new_client()
    sign_in(client, "petrov")  # type: ignore[arg-type]
    text = client.get("/officers/stolen").text  # type: ignore[attr-defined]
    assert STOLEN in text

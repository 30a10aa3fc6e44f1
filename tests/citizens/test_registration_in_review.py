"""A registration waiting for an officer holds the block, as an appeal does: an honest owner who
filed in time is never blocked because the review took longer than the grace period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from ceir.citizens.service import Applicant, decide_application, file_registration
from ceir.config import Settings
from ceir.network import enforcement
from ceir.network.enforcement import DeviceCode
from tests.factories import add_subscriber, add_tac, make_iin, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

DAY1 = dt.date(2026, 10, 1)
PHONE = make_imei("35467819", 810_001)
MSISDN = "77010081001"
ALMATY = dt.timezone(dt.timedelta(hours=5))


def day(n: int) -> dt.date:
    return DAY1 + dt.timedelta(days=n - 1)


def morning(n: int) -> dt.datetime:
    return dt.datetime.combine(day(n), dt.time(10), ALMATY)


def traffic(*extra: tuple[str, str, str]) -> dict[str, list[tuple[str, str, str]]]:
    return {"kcell": [*filler(60), *extra]}


def blocked(settings: Settings, run_id: int) -> set[str]:
    rows = read_list(settings, run_id, "kcell", "block_full.csv.gz")
    return {row["imei"] for row in rows}


def file_without_trip_on_record(db: Session, settings: Settings, tmp_path: Path) -> str:
    """The phone is notified on day 1; on day 25 its owner registers it, with no crossing on
    record (a land border that never sent its records): the case waits for an officer."""
    for imei, _imsi, _msisdn in filler(60):
        register_device(db, [imei])
    add_tac(db, "35467819", "Apple", "A3101", marketing_name="iPhone 17")
    iin = make_iin(serial=8101)
    add_subscriber(db, MSISDN, iin)
    db.commit()
    run_day(db, settings, tmp_path, day(1), traffic((PHONE, "401020000081001", MSISDN)))
    application = file_registration(
        db,
        Applicant(iin=iin, msisdn=MSISDN),
        imei1=PHONE,
        imei2=None,
        brand="Apple",
        model="iPhone 17",
        entered_on=day(1) - dt.timedelta(days=2),
        travel_from=day(1) - dt.timedelta(days=20),
        settings=settings,
        now=morning(25),
    )
    db.commit()
    assert application.status == "in_review"
    return application.public_id


def test_a_registration_in_review_past_the_grace_period_is_not_blocked(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    public_id = file_without_trip_on_record(db_session, settings, tmp_path)

    day31 = run_day(db_session, settings, tmp_path, day(31), traffic())
    assert PHONE[:14] not in blocked(settings, day31.run_id)
    assert enforcement.codes_now(db_session, [PHONE[:14]]) == [
        (PHONE[:14], DeviceCode.UNDER_APPEAL)
    ]

    decide_application(
        db_session,
        public_id,
        approve=False,
        reason="no_proof_of_trip",
        note=None,
        actor="officer",
        now=morning(33),
        settings=settings,
    )
    db_session.commit()
    day33 = run_day(db_session, settings, tmp_path, day(33), traffic())
    assert PHONE[:14] in blocked(settings, day33.run_id)


def test_an_approved_registration_ends_its_hold_and_the_phone_is_allowed(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    public_id = file_without_trip_on_record(db_session, settings, tmp_path)
    decide_application(
        db_session,
        public_id,
        approve=True,
        reason="documents_confirm_trip",
        note=None,
        actor="officer",
        now=morning(26),
        settings=settings,
    )
    db_session.commit()
    assert enforcement.codes_now(db_session, [PHONE[:14]]) == [(PHONE[:14], DeviceCode.ALLOWED)]
    day31 = run_day(db_session, settings, tmp_path, day(31), traffic())
    assert PHONE[:14] not in blocked(settings, day31.run_id)

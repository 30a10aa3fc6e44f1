"""Every case has a deadline in Kazakh working days; the owner sees it; overdue cases rise to
supervisors, and the block pause of an overdue appeal holds."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ceir.citizens import deadlines
from ceir.citizens.models import Application
from ceir.config import CitizenSettings
from ceir.db import utcnow
from ceir.network.models import BlockPause
from ceir.review.queue import queue
from ceir.sms import service as sms
from tests.citizens.conftest import Citizen
from tests.citizens.test_applications import TAC, _appeal, _application, citizen  # noqa: F401
from tests.factories import add_device_state, add_officer, make_imei

RULES = CitizenSettings()


def test_working_days_skip_weekends_and_nauryz_with_its_moved_days_off() -> None:
    # Filed on Friday 20 March 2026; 21-23 March is Nauryz (Saturday to Monday). Saturday's and
    # Sunday's holidays move their days off to the next working days: Tuesday 24, Wednesday 25.
    assert deadlines.add_working_days(dt.date(2026, 3, 20), 1, RULES) == dt.date(2026, 3, 26)
    assert deadlines.decision_deadline(dt.date(2026, 3, 20), RULES) == dt.date(2026, 4, 8)
    assert deadlines.transferred_days_off(2026, RULES) >= {
        dt.date(2026, 3, 24),
        dt.date(2026, 3, 25),
    }


def test_a_holiday_on_a_weekend_makes_the_next_working_day_a_day_off() -> None:
    # Independence Day, Saturday 16 December 2023: Monday 18 was a day off.
    assert not deadlines.is_working_day(dt.date(2023, 12, 18), RULES)
    assert deadlines.add_working_days(dt.date(2023, 12, 15), 1, RULES) == dt.date(2023, 12, 19)
    # Victory Day, Saturday 9 May 2026: Monday 11 May is off.
    assert deadlines.add_working_days(dt.date(2026, 5, 8), 1, RULES) == dt.date(2026, 5, 12)
    # New Year, Saturday 2 January 2027: Monday 4 January is off.
    assert deadlines.add_working_days(dt.date(2026, 12, 31), 1, RULES) == dt.date(2027, 1, 5)


def test_religious_holidays_on_a_weekend_move_no_day_off() -> None:
    # Orthodox Christmas, Sunday 7 January 2024: Monday 8 January was a working day.
    assert deadlines.is_working_day(dt.date(2024, 1, 8), RULES)
    # Kurban ait on a Saturday (a movable holiday) moves nothing either.
    rules = CitizenSettings(holidays_movable=[dt.date(2026, 6, 6)])
    assert deadlines.add_working_days(dt.date(2026, 6, 5), 1, rules) == dt.date(2026, 6, 8)


def test_a_decree_overrides_the_computed_transfer() -> None:
    # The government may keep Monday 11 May 2026 working and give Friday 8 May off instead.
    rules = CitizenSettings(
        working_days_transferred=[dt.date(2026, 5, 11)], days_off_transferred=[dt.date(2026, 5, 8)]
    )
    assert deadlines.add_working_days(dt.date(2026, 5, 7), 1, rules) == dt.date(2026, 5, 11)


def test_movable_holidays_and_the_governments_transfers_are_settings() -> None:
    # Kurban ait 2026 is Wednesday 27 May.
    assert deadlines.add_working_days(dt.date(2026, 5, 25), 3, RULES) == dt.date(2026, 5, 29)
    transferred = CitizenSettings(
        days_off_transferred=[dt.date(2026, 5, 28)],
        working_days_transferred=[dt.date(2026, 5, 30)],
    )
    # Thursday 28 becomes a day off, Saturday 30 a working day.
    assert deadlines.add_working_days(dt.date(2026, 5, 25), 3, transferred) == dt.date(2026, 5, 30)


def test_the_owner_sees_the_deadline_and_an_overdue_appeal_rises_to_supervisors(
    citizen: Citizen,  # noqa: F811
    db_session: Session,
) -> None:
    late, fresh = make_imei(TAC, 31), make_imei(TAC, 32)
    for imei in (late, fresh):
        add_device_state(db_session, imei, "blocked")
    first = _application(db_session, _appeal(citizen, late))
    second = _application(db_session, _appeal(citizen, fresh))
    assert first.deadline is not None and first.deadline > dt.date.today()
    page = citizen.get(f"/citizen/applications/{first.public_id}")
    assert first.deadline.strftime("%d.%m.%Y") in page.text  # type: ignore[attr-defined]

    # The first appeal waited past its deadline (filed long ago, never decided).
    long_ago = utcnow() - dt.timedelta(days=40)
    db_session.execute(
        update(Application)
        .where(Application.id == first.id)
        .values(
            created_at=long_ago + dt.timedelta(days=1),
            deadline=dt.date.today() - dt.timedelta(days=2),
        )
    )
    db_session.execute(
        update(Application).where(Application.id == second.id).values(created_at=long_ago)
    )
    db_session.commit()
    supervisor = add_officer(db_session, "boss", roles=["supervisor"])
    reviewer = add_officer(db_session, "anna", roles=["reviewer"])
    top = queue(db_session, supervisor, now=utcnow()).items
    assert [(i.application.public_id, i.overdue) for i in top][:2] == [
        (first.public_id, True),
        (second.public_id, False),
    ]
    # A reviewer's queue stays oldest first, with the mark.
    mine = queue(db_session, reviewer, now=utcnow()).items
    assert [i.application.public_id for i in mine][:2] == [second.public_id, first.public_id]
    # Nothing closes an overdue appeal or lifts its pause: the device stays held.
    db_session.expire_all()
    pause = db_session.scalars(select(BlockPause).where(BlockPause.imei == late[:14])).one()
    assert pause.ended_at is None
    assert db_session.get(Application, first.id).status == "in_review"  # type: ignore[union-attr]


def test_the_owner_is_texted_the_deadline_of_their_appeal_when_it_is_filed(
    citizen: Citizen,  # noqa: F811
    db_session: Session,
) -> None:
    imei, other = make_imei(TAC, 41), make_imei(TAC, 42)
    for key in (imei, other):
        add_device_state(db_session, key, "blocked")
    appeal = _application(db_session, _appeal(citizen, imei))  # no trip on record: in review
    assert appeal.status == "in_review" and appeal.deadline is not None
    text = _deadline_text(db_session, citizen.msisdn, appeal.public_id)
    assert appeal.deadline.strftime("%d.%m.%Y") in text
    assert "обжалован" in text.lower() or "жалоб" in text.lower()  # Russian, the default

    citizen.get("/citizen/applications?lang=kk")
    kazakh = _application(db_session, _appeal(citizen, other))
    text = _deadline_text(db_session, citizen.msisdn, kazakh.public_id)
    assert kazakh.deadline.strftime("%d.%m.%Y") in text  # type: ignore[union-attr]
    assert "шағым" in text.lower()


def _deadline_text(db: Session, msisdn: str, public_id: str) -> str:
    """The SMS that names the appeal (the identity-use notice of the same filing names none)."""
    texts = [m.text for m in sms.latest(db, limit=5, msisdn=msisdn) if public_id in m.text]
    assert len(texts) == 1, texts
    return texts[0]

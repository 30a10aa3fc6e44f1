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
from tests.citizens.conftest import Citizen
from tests.citizens.test_applications import TAC, _appeal, _application, citizen  # noqa: F401
from tests.factories import add_device_state, add_officer, make_imei

RULES = CitizenSettings()


def test_working_days_skip_weekends_and_nauryz() -> None:
    # Filed on Friday 20 March 2026; 21-23 March is Nauryz (Saturday to Monday).
    assert deadlines.add_working_days(dt.date(2026, 3, 20), 1, RULES) == dt.date(2026, 3, 24)
    assert deadlines.decision_deadline(dt.date(2026, 3, 20), RULES) == dt.date(2026, 4, 6)


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

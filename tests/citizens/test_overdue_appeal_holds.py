"""A device whose owner waits on an appeal is never blocked meanwhile, even when the appeal is
overdue and the classification runs go past the device's block date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.citizens.models import Application
from ceir.config import Settings
from ceir.db import utcnow
from ceir.eir.index import DeviceCode
from ceir.network import enforcement
from ceir.network.models import BlockPause, DeviceState
from ceir.review.queue import queue
from tests.citizens.conftest import Citizen
from tests.factories import TINY_PDF, add_officer, add_tac, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

TODAY = dt.date.today()
TAC = "35467819"
FIRST_SEEN = TODAY - dt.timedelta(days=25)  # notified then; its block date is in five days


def test_an_overdue_appeal_keeps_the_device_unblocked_through_runs_past_its_block_date(
    make_citizen: Callable[[int], Citizen],
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
) -> None:
    add_tac(db_session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
    owner = make_citizen(3)
    traffic = filler(60, start=700)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    phone, neighbour = make_imei(TAC, 31), make_imei(TAC, 32)  # the neighbour does not appeal

    def day(when: dt.date) -> int:
        rows = [
            *traffic,
            (phone, "401020000031001", owner.msisdn),
            (neighbour, "401020000032001", "77010000032"),
        ]
        return run_day(db_session, citizen_settings, tmp_path, when, {"kcell": rows}).run_id

    day(FIRST_SEEN)
    state = db_session.get(DeviceState, phone[:14])
    assert state is not None and state.state == "notified"
    block_date = state.block_date
    assert block_date is not None and block_date > TODAY

    # No trip on record: the appeal waits for an officer, with a deadline in working days.
    filed = owner.post(
        "/citizen/applications/new/appeal",
        {"imei": phone, "entered_on": (TODAY - dt.timedelta(days=26)).isoformat()},
        files={"boarding_pass": ("boarding.pdf", TINY_PDF, "application/pdf")},
    )
    assert filed.status_code == 303  # type: ignore[attr-defined]
    db_session.expire_all()
    appeal = db_session.scalars(select(Application).where(Application.imei1 == phone[:14])).one()
    assert appeal.status == "in_review" and appeal.deadline is not None

    # Runs past the block date and past the appeal's deadline; nobody decides.
    for when in (
        block_date,
        appeal.deadline + dt.timedelta(days=1),
        block_date + dt.timedelta(days=30),
    ):
        run_id = day(when)
        db_session.expire_all()
        blocked = {
            row["imei"] for row in read_list(citizen_settings, run_id, "kcell", "block_full.csv.gz")
        }
        assert phone[:14] not in blocked, when
        assert neighbour[:14] in blocked or when < block_date + dt.timedelta(days=1)
        state = db_session.get(DeviceState, phone[:14])
        assert state is not None and state.state != "blocked", when
        assert enforcement.codes_now(db_session, [phone[:14]]) == [
            (phone[:14], DeviceCode.UNDER_APPEAL)
        ]

    # The appeal is overdue, rises to the supervisors, and its pause still holds.
    supervisor = add_officer(db_session, "chief", roles=["supervisor"])
    items = queue(db_session, supervisor, now=utcnow() + dt.timedelta(days=60)).items
    assert [(i.application.public_id, i.overdue) for i in items][:1] == [(appeal.public_id, True)]
    pause = db_session.scalars(select(BlockPause).where(BlockPause.imei == phone[:14])).one()
    assert pause.ended_at is None

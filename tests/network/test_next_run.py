"""What changed between runs reaches the next run's lists, and a re-run of a day changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ceir.citizens.device_models import ReportKind
from ceir.citizens.stolen import cancel_by_police, report_by_police
from ceir.config import Settings
from ceir.db import utcnow
from ceir.network.classify import classify
from ceir.network.models import BlockPause, DeviceFlag, DeviceState
from ceir.registry.models import DeviceImei, Registration
from tests.factories import make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

DAY1 = dt.date(2026, 11, 1)
PHONE = make_imei("35467819", 800_001)  # seen on day 1 only
CLONED = make_imei("35467819", 800_002)


def traffic(extra: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str, str]]]:
    return {"kcell": [*filler(60), *extra]}


def seed(db: Session, *, register_phone: bool) -> None:
    for imei, _imsi, _msisdn in filler(60):
        register_device(db, [imei])
    register_device(db, [CLONED])
    if register_phone:
        register_device(db, [PHONE])
    db.commit()


def block_list(settings: Settings, run_id: int) -> dict[str, str]:
    return {
        row["imei"]: row["reasons"]
        for row in read_list(settings, run_id, "beeline", "block_full.csv.gz")
    }


def notified(settings: Settings, run_id: int) -> set[str]:
    return {r["imei"] for r in read_list(settings, run_id, "kcell", "notification_full.csv.gz")}


def day(n: int) -> dt.date:
    return DAY1 + dt.timedelta(days=n - 1)


def test_a_phone_seen_days_ago_then_reported_stolen_is_on_the_next_block_lists(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session, register_phone=True)
    run_day(
        db_session, settings, tmp_path, day(1), traffic([(PHONE, "401020000008001", "77010008001")])
    )
    run_day(db_session, settings, tmp_path, day(2), traffic([]))
    report = report_by_police(
        db_session,
        PHONE,
        kind=ReportKind.STOLEN,
        police_reference="KUI-2026-1",
        actor="police",
        now=utcnow(),
    )
    db_session.commit()

    day3 = run_day(db_session, settings, tmp_path, day(3), traffic([]))
    assert block_list(settings, day3.run_id) == {PHONE[:14]: "stolen"}

    cancel_by_police(db_session, report.id, actor="police", now=utcnow())
    db_session.commit()
    day4 = run_day(db_session, settings, tmp_path, day(4), traffic([]))
    assert block_list(settings, day4.run_id) == {}


def test_a_revoked_registration_of_a_phone_seen_days_ago_is_notified_next_run(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session, register_phone=True)
    run_day(
        db_session, settings, tmp_path, day(1), traffic([(PHONE, "401020000008001", "77010008001")])
    )
    run_day(db_session, settings, tmp_path, day(2), traffic([]))
    device = select(DeviceImei.device_id).where(DeviceImei.imei_key == int(PHONE[:14]))
    db_session.execute(
        update(Registration).where(Registration.device_id.in_(device)).values(revoked_at=utcnow())
    )
    db_session.commit()

    day3 = run_day(db_session, settings, tmp_path, day(3), traffic([]))
    assert notified(settings, day3.run_id) == {PHONE[:14]}


def test_a_registration_resolves_and_a_passing_block_date_blocks_a_phone_not_seen_again(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session, register_phone=False)
    other = make_imei("35467819", 800_003)
    run_day(
        db_session,
        settings,
        tmp_path,
        day(1),
        traffic(
            [(PHONE, "401020000008001", "77010008001"), (other, "401020000008003", "77010008003")]
        ),
    )
    register_device(db_session, [other])
    db_session.commit()
    day2 = run_day(db_session, settings, tmp_path, day(2), traffic([]))
    assert notified(settings, day2.run_id) == {PHONE[:14]}

    day31 = run_day(db_session, settings, tmp_path, day(31), traffic([]))
    assert block_list(settings, day31.run_id) == {PHONE[:14]: "not_registered"}


def test_an_appeal_opened_holds_the_block_and_its_decision_releases_it_next_run(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session, register_phone=False)
    run_day(
        db_session, settings, tmp_path, day(1), traffic([(PHONE, "401020000008001", "77010008001")])
    )
    pause = BlockPause(imei=PHONE[:14], reason="appeal", reference="A-1", created_at=utcnow())
    db_session.add(pause)
    db_session.commit()

    day31 = run_day(db_session, settings, tmp_path, day(31), traffic([]))
    assert block_list(settings, day31.run_id) == {}
    assert db_session.get(DeviceState, PHONE[:14]) is not None

    pause.ended_at = utcnow()  # refused: the block goes ahead
    db_session.commit()
    day32 = run_day(db_session, settings, tmp_path, day(32), traffic([]))
    assert block_list(settings, day32.run_id) == {PHONE[:14]: "not_registered"}


def snapshot(db: Session, settings: Settings, run_id: int) -> tuple[object, ...]:
    states = sorted(
        (s.imei, s.state, s.reasons, s.first_noncompliant, s.block_date, s.blocked_on)
        for s in db.scalars(select(DeviceState))
    )
    flags = sorted((f.imei, f.flag, f.since) for f in db.scalars(select(DeviceFlag)))
    files = {
        f"{p.parent.name}/{p.name}": p.read_bytes()
        for p in sorted((settings.lists_dir / str(run_id)).glob("*/*.csv.gz"))
    }
    return states, flags, files


def test_a_rerun_of_the_latest_day_keeps_states_flags_and_list_bytes(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session, register_phone=False)
    clones = [(CLONED, f"401029{n:09d}", f"7702{n:07d}") for n in range(7)]
    run_day(
        db_session, settings, tmp_path, day(1), traffic([(PHONE, "401020000008001", "77010008001")])
    )
    first = run_day(db_session, settings, tmp_path, day(2), traffic(clones))
    before = snapshot(db_session, settings, first.run_id)
    assert before[1] == [(CLONED[:14], "duplicate", day(2))]

    rerun = classify(db_session, run_date=day(2), actor="test", settings=settings)
    again = classify(db_session, run_date=day(2), actor="test", settings=settings)

    assert snapshot(db_session, settings, rerun.run_id) == before
    assert snapshot(db_session, settings, again.run_id) == before

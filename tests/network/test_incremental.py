"""An incremental run (only devices whose inputs changed) ends where a full re-evaluation does.

The same days are played twice against one database, wiped in between: once as ordinary runs,
once with `full=True`. Churn, registrations and revocations, stolen reports and their
cancellation, an appeal opened and decided, a TAC withdrawn, a clone that leaves the clone
window and comes back, a roamer who takes a home SIM, and block dates passing: after every day
the states, the flags and the bytes of every list file must be the same.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session

from ceir import db
from ceir.citizens.device_models import DeviceReport, ReportKind
from ceir.citizens.stolen import cancel_by_police, report_by_police
from ceir.config import Settings
from ceir.db import utcnow
from ceir.eir.index import latest_snapshot, load_snapshot
from ceir.models import Base
from ceir.network.classify import classify
from ceir.network.dumps import import_dump
from ceir.network.models import BlockPause, DeviceFlag, DeviceState
from ceir.network.store import open_store
from ceir.registry.models import DeviceImei, Registration
from ceir.tac.models import TacModel
from tests.factories import add_tac, make_imei, register_device
from tests.network.helpers import Row, filler, write_dump

pytestmark = pytest.mark.slow

DAY1 = dt.date(2026, 11, 1)
TAC, OTHER_TAC = "35467819", "35111111"
NEW_PHONE = make_imei(TAC, 900_001)  # unregistered; registered before day 3
REVOKED = make_imei(TAC, 900_002)  # registered; revoked before day 3 (seen every day)
STOLEN = make_imei(TAC, 900_003)  # registered; reported stolen before day 3, cancelled before 10
APPEALED = make_imei(TAC, 900_004)  # unregistered; appeal opened before 31, refused before 32
CLONE = make_imei(TAC, 900_005)  # registered; many IMSIs on days 2 and 10 only
WITHDRAWN = make_imei(OTHER_TAC, 1)  # registered; its TAC withdrawn before day 9
ROAMER = make_imei(TAC, 900_006)  # unregistered, foreign SIM; a home SIM from day 3
SECOND = make_imei(TAC, 900_007)  # unregistered, the SIM of filler device 0 (a second IMEI)
UNSEEN = make_imei(TAC, 900_008)  # never on a network; registered before day 3, revoked before 10
DAYS = (1, 2, 3, 9, 10, 31, 32)


def day(n: int) -> dt.date:
    return DAY1 + dt.timedelta(days=n - 1)


def traffic(n: int) -> dict[str, list[Row]]:
    kcell: list[Row] = [
        *filler(60),
        (REVOKED, "401020000009002", "77010009002"),
        (STOLEN, "401020000009003", "77010009003"),
        (WITHDRAWN, "401020000009009", "77010009009"),
        (ROAMER, "250019999999996", "79169999996"),
        (SECOND, "401020000000000", "77010000000"),
    ]
    if n == 1:
        kcell += [
            (NEW_PHONE, "401020000009001", "77010009001"),
            (APPEALED, "401020000009004", "77010009004"),
            (CLONE, "401029000000000", "77020000000"),
        ]
    if n in (2, 10):  # a clone: more home SIMs than the rule allows within its window
        kcell += [(CLONE, f"401029{k:09d}", f"7702{k:07d}") for k in range(7)]
    if n >= 2:  # churn: devices never seen before, one more each day
        kcell += [(make_imei(TAC, 910_000 + n), f"4010200001{n:05d}", f"770200{n:05d}")]
    if n >= 3:
        kcell.append((ROAMER, "401020000009006", "77010009006"))
    beeline: list[Row] = [*filler(30, "01", start=100)]
    if n >= 9:  # a known device with a new SIM of another operator
        beeline.append((filler(1)[0][0], "401010000009999", "77050009999"))
    return {"kcell": kcell, "beeline": beeline}


def seed(session: Session) -> None:
    add_tac(session, TAC, "Apple", "iPhone 17")
    add_tac(session, OTHER_TAC, "Nokia", "3310")
    for imei, _imsi, _msisdn in [*filler(60), *filler(30, "01", start=100)]:
        register_device(session, [imei])
    for imei in (REVOKED, STOLEN, CLONE, WITHDRAWN):
        register_device(session, [imei])
    session.commit()


def between(session: Session, n: int) -> None:
    """What happens before the run of day `n` (the same in either play)."""
    now = utcnow()
    if n == 3:
        register_device(session, [NEW_PHONE])
        register_device(session, [UNSEEN])
        device = select(DeviceImei.device_id).where(DeviceImei.imei_key == int(REVOKED[:14]))
        session.execute(
            update(Registration).where(Registration.device_id.in_(device)).values(revoked_at=now)
        )
        report_by_police(
            session, STOLEN, kind=ReportKind.STOLEN, police_reference="K-1", actor="p", now=now
        )
    if n == 9:
        session.execute(delete(TacModel).where(TacModel.tac == OTHER_TAC))
    if n == 10:
        device = select(DeviceImei.device_id).where(DeviceImei.imei_key == int(UNSEEN[:14]))
        session.execute(
            update(Registration).where(Registration.device_id.in_(device)).values(revoked_at=now)
        )
        report = session.scalar(select(DeviceReport.id).where(DeviceReport.cancelled_at.is_(None)))
        assert report is not None
        cancel_by_police(session, report, actor="p", now=now)
    if n == 31:
        session.add(
            BlockPause(imei=APPEALED[:14], reason="appeal", reference="A-1", created_at=now)
        )
    if n == 32:
        session.execute(
            update(BlockPause).where(BlockPause.imei == APPEALED[:14]).values(ended_at=now)
        )
    session.commit()


Outcome = tuple[object, ...]


def play(
    engine: Engine, settings: Settings, folder: Path, *, full: bool
) -> tuple[list[Outcome], list[dict[str, object]]]:
    outcomes, counts = [], []
    with db.session_factory(engine)() as session:
        seed(session)
        for n in DAYS:
            between(session, n)
            for operator, rows in traffic(n).items():
                import_dump(
                    session,
                    write_dump(folder, operator, day(n), rows),
                    operator=operator,
                    actor="test",
                    settings=settings,
                    today=day(n),
                )
                session.commit()
            if n == 9:
                # A store made before it kept the last run's states: they come from the database.
                with open_store(settings) as con:
                    con.execute("DELETE FROM run_states_basis")
            report = classify(session, run_date=day(n), actor="test", settings=settings, full=full)
            outcomes.append(outcome(session, settings, report.run_id))
            counts.append(report.counts)
    return outcomes, counts


def outcome(session: Session, settings: Settings, run_id: int) -> Outcome:
    states = sorted(
        (s.imei, s.state, s.reasons, s.first_noncompliant, s.block_date, s.blocked_on)
        for s in session.scalars(select(DeviceState))
    )
    flags = sorted((f.imei, f.flag, f.since) for f in session.scalars(select(DeviceFlag)))
    files = {
        f"{p.parent.name}/{p.name}": p.read_bytes()
        for p in sorted((settings.lists_dir / str(run_id)).glob("*/*.csv.gz"))
    }
    snapshot = latest_snapshot(settings.eir_dir)
    assert snapshot is not None
    index = load_snapshot(snapshot)
    return states, flags, files, (index.keys.tolist(), index.codes.tolist())


def fresh_database(database_url: str, sqlite_template: Path, folder: Path) -> str:
    """The test's PostgreSQL database emptied, or a new SQLite file (its audit log is
    append-only: its rows cannot be deleted)."""
    if database_url.startswith("sqlite"):
        shutil.copy(sqlite_template, folder / "ceir.db")
        return f"sqlite:///{folder / 'ceir.db'}"
    with db.get_engine(database_url).begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return database_url


def test_incremental_runs_give_the_states_flags_and_list_bytes_of_full_runs(
    database_url: str, sqlite_template: Path, tmp_path: Path
) -> None:
    plays: dict[bool, tuple[list[Outcome], list[dict[str, object]]]] = {}
    for full in (False, True):
        folder = tmp_path / ("full" if full else "incremental")
        folder.mkdir()
        url = fresh_database(database_url, sqlite_template, folder)
        settings = Settings(database_url=url, data_dir=folder / "var")
        plays[full] = play(db.get_engine(url), settings, folder, full=full)
        db.dispose_engines()

    incremental, full_runs = plays[False], plays[True]
    for n, got, expected in zip(DAYS, incremental[0], full_runs[0], strict=True):
        assert got[0] == expected[0], f"states after day {n}"
        assert got[1] == expected[1], f"flags after day {n}"
        assert got[3] == expected[3], f"real-time index after day {n}"
        assert got[2].keys() == expected[2].keys()
        for name, content in expected[2].items():
            assert got[2][name] == content, f"{name} after day {n}"

    # The days covered what they should, and the incremental runs skipped devices seen again.
    evaluation: Callable[[dict[str, object]], object] = lambda c: c["evaluation"]  # noqa: E731
    assert [evaluation(c) for c in incremental[1]] == ["full"] + ["incremental"] * 6
    assert {evaluation(c) for c in full_runs[1]} == {"full"}
    # The states before a run come from the store's copy of the last run's, except on day 9
    # (the copy is gone) and in the full runs (the reference reads the database).
    read_from = [c["previous_states"] for c in incremental[1]]
    assert read_from == ["database", "store", "store", "database", "store", "store", "store"]
    assert {c["previous_states"] for c in full_runs[1]} == {"database"}
    # The real-time index is the last run's patched, except the first; a full run rebuilds it.
    assert [c["index"] for c in incremental[1]] == ["rebuilt"] + ["patched"] * 6
    assert {c["index"] for c in full_runs[1]} == {"rebuilt"}
    indexed = {n: dict(zip(*o[3], strict=True)) for n, o in zip(DAYS, full_runs[0], strict=True)}
    assert int(UNSEEN[:14]) not in indexed[2] and int(UNSEEN[:14]) in indexed[3]
    assert int(UNSEEN[:14]) not in indexed[10]
    evaluated = [
        (n, int(str(inc["devices_evaluated"])), int(str(ref["devices_evaluated"])))
        for n, inc, ref in zip(DAYS, incremental[1], full_runs[1], strict=True)
    ]
    # Day 31 comes three weeks after day 10: every pair seen again re-enters the clone window.
    assert all(inc < ref if n not in (1, 31) else inc == ref for n, inc, ref in evaluated)
    states = {n: {s[0]: s[1:3] for s in o[0]} for n, o in zip(DAYS, full_runs[0], strict=True)}
    flags = {n: {f[0] for f in o[1]} for n, o in zip(DAYS, full_runs[0], strict=True)}
    assert states[3][REVOKED[:14]] == ("notified", "not_registered")
    assert states[3][STOLEN[:14]] == ("blocked", "stolen")
    assert NEW_PHONE[:14] not in states[3] and STOLEN[:14] not in states[10]
    assert states[3][ROAMER[:14]] == ("notified", "not_registered")
    assert states[9][WITHDRAWN[:14]] == ("notified", "unknown_tac")
    assert [CLONE[:14] in flags[n] for n in DAYS] == [False, True, True, False, True, False, False]
    assert states[31][APPEALED[:14]][0] == "notified"
    assert states[32][APPEALED[:14]] == ("blocked", "not_registered")


def test_two_dumps_of_one_operator_for_a_day_merge_into_one_sighting_per_pair(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    seed(db_session)
    rows = filler(60)
    for n, part in enumerate((rows[:40], rows[20:])):  # 20 pairs in both files
        folder = tmp_path / str(n)
        folder.mkdir()
        import_dump(
            db_session,
            write_dump(folder, "kcell", DAY1, part),
            operator="kcell",
            actor="test",
            settings=settings,
            today=DAY1,
        )
        db_session.commit()
    report = classify(db_session, run_date=DAY1, actor="test", settings=settings)
    assert report.counts["sightings_merged"] == 80
    with open_store(settings) as con:
        assert con.execute("SELECT count(*) FROM sightings").fetchall() == [(60,)]

"""The safety brake: a day that would newly notify or block a large share of an operator's devices
is held before anything reaches the lists, until a supervisor confirms it."""

from __future__ import annotations

import datetime as dt
import getpass
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ceir import db
from ceir.audit.models import AuditEvent
from ceir.cli import app
from ceir.config import NetworkSettings, Settings
from ceir.db import utcnow
from ceir.errors import InvalidInput
from ceir.network.classify import RunHeld, classify
from ceir.network.models import ClassificationRun, DeviceState
from ceir.review.officers import create_officer
from tests.factories import make_imei, register_device
from tests.network.helpers import filler, run_day, write_dump

runner = CliRunner()
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
# A damaged day-2 file: 150 devices the registry does not know (of 350 seen on kcell, 43 %).
DAMAGED = [(make_imei("35467820", n), f"40102{n + 500:010d}", f"7705{n:07d}") for n in range(150)]


def _seed(session: Session) -> None:
    for imei, _imsi, _msisdn in filler(200):
        register_device(session, [imei])
    session.commit()


def _lists(settings: Settings, run_id: int) -> dict[str, bytes]:
    folder = settings.lists_dir / str(run_id)
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(folder.glob("*/*.csv.gz"))}


@pytest.fixture
def unbraked(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The same two days on a fresh database with no brake at all."""
    folder = tmp_path_factory.mktemp("unbraked")
    shutil.copy(sqlite_template, folder / "ceir.db")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'ceir.db'}",
        data_dir=folder / "var",
        network=NetworkSettings(brake_max_share=None),
    )
    with db.session_scope(db.get_engine(settings.database_url)) as session:
        _seed(session)
        run_day(session, settings, folder, DAY1, {"kcell": filler(200)})
        report = run_day(session, settings, folder, DAY2, {"kcell": [*filler(200), *DAMAGED]})
    db.dispose_engines()
    return _lists(settings, report.run_id)


def test_a_day_notifying_a_large_share_is_held_until_a_supervisor_confirms_it(
    db_session: Session,
    settings: Settings,
    tmp_path: Path,
    cli_env: None,
    unbraked: dict[str, bytes],
) -> None:
    _seed(db_session)
    now = utcnow()
    create_officer(db_session, "sup", "Supervisor", "a long passphrase!", ["supervisor"], "t", now)
    create_officer(db_session, "rev", "Reviewer", "a long passphrase!", ["reviewer"], "t", now)
    db_session.commit()
    run_day(db_session, settings, tmp_path, DAY1, {"kcell": filler(200)})
    dump = write_dump(tmp_path, "kcell", DAY2, [*filler(200), *DAMAGED])
    imported = runner.invoke(app, ["network", "import", "--operator", "kcell", str(dump)])
    assert imported.exit_code == 0, imported.output

    held = runner.invoke(app, ["network", "classify", "--date", DAY2.isoformat()])
    assert held.exit_code == 3, held.output
    assert "held by the safety brake" in held.output
    assert "kcell: 150 of 350 devices (42.9%)" in held.output
    db_session.expire_all()
    newest = select(ClassificationRun).order_by(ClassificationRun.id.desc())
    run = db_session.scalars(newest).first()
    assert run is not None and run.finished_at is None and run.held_reason
    assert not (settings.lists_dir / str(run.id)).exists()  # nothing reached the lists
    assert db_session.scalar(select(func.count()).select_from(DeviceState)) == 0

    # Nothing else runs meanwhile, and only a supervisor lets it through.
    later = runner.invoke(app, ["network", "classify", "--date", "2026-11-03"])
    assert later.exit_code == 1 and f"--confirm-run {run.id}" in later.output
    by_reviewer = ["network", "classify", "--confirm-run", str(run.id), "--supervisor", "rev"]
    refused = runner.invoke(app, by_reviewer)
    assert refused.exit_code == 1 and "not an active supervisor" in refused.output

    confirm = ["network", "classify", "--confirm-run", str(run.id), "--supervisor", "sup"]
    confirmed = runner.invoke(app, confirm)
    assert confirmed.exit_code == 0, confirmed.output
    assert _lists(settings, run.id) == unbraked
    assert len(unbraked) > 0
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(DeviceState)) == 150
    events = {
        (e.action, e.actor)
        for e in db_session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(run.id)))
        if e.action.startswith("network.classify")
    }
    assert ("network.classify.held", f"cli:{getpass.getuser()}") in events
    assert ("network.classify.confirm", "officer:sup") in events
    assert ("network.classify", "officer:sup") in events
    again = runner.invoke(app, confirm)
    assert again.exit_code == 1  # a confirmed run is no longer held


def test_a_day_under_the_share_runs_without_a_hold(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    _seed(db_session)
    run_day(db_session, settings, tmp_path, DAY1, {"kcell": filler(200)})
    report = run_day(db_session, settings, tmp_path, DAY2, {"kcell": [*filler(200), *DAMAGED[:9]]})
    assert report.counts["newly_notified"] == 9


def test_the_share_is_a_setting(db_session: Session, settings: Settings, tmp_path: Path) -> None:
    _seed(db_session)
    strict = settings.model_copy(
        update={"network": NetworkSettings(brake_max_share=0.01, brake_min_devices=5)}
    )
    run_day(db_session, strict, tmp_path, DAY1, {"kcell": filler(200)})
    with pytest.raises(RunHeld):
        run_day(db_session, strict, tmp_path, DAY2, {"kcell": [*filler(200), *DAMAGED[:9]]})
    lifted = strict.model_copy(update={"network": NetworkSettings(brake_max_share=None)})
    with pytest.raises(InvalidInput, match="held by the safety brake"):
        classify(db_session, run_date=DAY2, actor="t", settings=lifted)  # held runs wait


def test_a_supervisor_dismisses_a_held_run_and_the_day_reruns_with_the_corrected_file(
    db_session: Session, settings: Settings, tmp_path: Path, cli_env: None
) -> None:
    _seed(db_session)
    now = utcnow()
    create_officer(db_session, "sup", "Supervisor", "a long passphrase!", ["supervisor"], "t", now)
    create_officer(db_session, "rev", "Reviewer", "a long passphrase!", ["reviewer"], "t", now)
    db_session.commit()
    beeline = filler(50, operator_mnc="01", start=1000)  # unregistered, but a handful a day
    run_day(db_session, settings, tmp_path, DAY1, {"kcell": filler(200)})
    for operator, rows in (("kcell", [*filler(200), *DAMAGED]), ("beeline", beeline[:3])):
        dump = write_dump(tmp_path, operator, DAY2, rows)
        imported = runner.invoke(app, ["network", "import", "--operator", operator, str(dump)])
        assert imported.exit_code == 0, imported.output
    held = runner.invoke(app, ["network", "classify", "--date", DAY2.isoformat()])
    assert held.exit_code == 3, held.output
    db_session.expire_all()
    run = db_session.scalars(
        select(ClassificationRun).order_by(ClassificationRun.id.desc())
    ).first()
    assert run is not None

    dismiss = ["network", "classify", "--dismiss-run", str(run.id), "--supervisor"]
    no_reason = runner.invoke(app, [*dismiss, "sup"])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    by_reviewer = runner.invoke(app, [*dismiss, "rev", "--reason", "kcell sent a damaged file"])
    assert by_reviewer.exit_code == 1 and "not an active supervisor" in by_reviewer.output
    dismissed = runner.invoke(app, [*dismiss, "sup", "--reason", "kcell sent a damaged file"])
    assert dismissed.exit_code == 0, dismissed.output
    assert "kcell_20261102_20261102.csv.gz" in dismissed.output

    db_session.expire_all()
    assert not (settings.lists_dir / str(run.id)).exists()  # nothing reached the lists
    assert db_session.scalar(select(func.count()).select_from(DeviceState)) == 0
    event = db_session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_id == str(run.id), AuditEvent.action == "network.classify.dismiss"
        )
    ).one()
    assert event.actor == "officer:sup"
    assert event.details["reason"] == "kcell sent a damaged file"
    again = runner.invoke(
        app, ["network", "classify", "--confirm-run", str(run.id), "--supervisor", "sup"]
    )
    assert again.exit_code == 1  # a dismissed run is no longer held

    # The operator sends the corrected file; the day runs again, with beeline's staged dump.
    corrected = write_dump(tmp_path, "kcell", DAY2, filler(200))
    assert (
        runner.invoke(app, ["network", "import", "--operator", "kcell", str(corrected)]).exit_code
        == 0
    )
    rerun = runner.invoke(app, ["network", "classify", "--date", DAY2.isoformat()])
    assert rerun.exit_code == 0, rerun.output
    db_session.expire_all()
    notified = set(db_session.scalars(select(DeviceState.imei)))
    assert notified == {imei[:14] for imei, _imsi, _msisdn in beeline[:3]}


def test_an_operators_devices_are_counted_only_when_the_kept_floor_could_let_the_brake_trip(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    """The store keeps, per operator, a floor under its devices; pairs dropped by retention
    lower it, so a stale floor never hides a damaged day."""
    strict = settings.model_copy(
        update={"network": NetworkSettings(brake_min_devices=5, retention_days=30)}
    )
    crowds = [filler(200, start=1000 * k) for k in range(4)]  # other devices every few days
    for imei, _imsi, _msisdn in (row for crowd in crowds for row in crowd):
        register_device(db_session, [imei])
    db_session.commit()
    run_day(db_session, strict, tmp_path, DAY1, {"kcell": crowds[0]})
    run_day(db_session, strict, tmp_path, DAY2, {"kcell": crowds[1]})
    # 9 of 609 devices: counted (no floor yet), not held; the floor is now 609.
    day3 = run_day(
        db_session, strict, tmp_path, dt.date(2026, 11, 3), {"kcell": [*crowds[2], *DAMAGED[:9]]}
    )
    assert day3.counts["newly_notified"] == 9 and day3.counts["brake_recounted"] == ["kcell"]
    # 9 more of 618: the floor is enough, nothing is counted.
    day4 = run_day(
        db_session, strict, tmp_path, dt.date(2026, 11, 4), {"kcell": [*crowds[2], *DAMAGED[9:18]]}
    )
    assert day4.counts["newly_notified"] == 9 and day4.counts["brake_recounted"] == []
    # A month on, every earlier pair has left the sightings: 20 of 220 devices trips the brake.
    with pytest.raises(RunHeld, match=r"kcell: 20 of 220 devices"):
        run_day(
            db_session,
            strict,
            tmp_path,
            dt.date(2026, 12, 5),
            {"kcell": [*crowds[3], *DAMAGED[130:]]},
        )

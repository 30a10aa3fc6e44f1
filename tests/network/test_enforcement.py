"""Network enforcement over simulated days: notify, block after the grace period, unblock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.config import ConditionRule, Settings
from ceir.db import utcnow
from ceir.errors import FileRejected, InvalidInput
from ceir.network.classify import classify
from ceir.network.dumps import import_dump
from ceir.network.models import (
    BlockPause,
    DeviceState,
    DeviceStateChange,
    OperatorImport,
    StolenDevice,
)
from ceir.network.signing import public_key_pem
from ceir.registry.service import find_registration
from tests.factories import make_imei, register_device
from tests.network.helpers import filler, read_list, run_day, write_dump

DAY1 = dt.date(2026, 11, 1)
UNREGISTERED = make_imei("35467819", 900_001)
SECOND_UNREGISTERED = make_imei("35467819", 900_002)
ROAMER_PHONE = make_imei("35467819", 900_003)
CLONED = make_imei("35467819", 900_004)


@pytest.fixture
def registered(db_session: Session) -> list[tuple[str, str, str]]:
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    register_device(db_session, [CLONED])
    return traffic


def day_rows(traffic: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    clones = [(CLONED, f"401029{n:09d}", f"7702{n:07d}") for n in range(7)]
    return [
        *traffic,
        (UNREGISTERED, "401020000009001", "77010009001"),
        (UNREGISTERED, "250011234567890", "79161234567"),  # its owner's Russian SIM, too
        (SECOND_UNREGISTERED, "401020000009002", "77010009002"),
        (ROAMER_PHONE, "250019999999999", "79169999999"),  # a visitor's phone and SIM
        *clones,
    ]


def states(db: Session) -> dict[str, tuple[str, str]]:
    return {s.imei: (s.state, s.reasons) for s in db.scalars(select(DeviceState))}


def test_unregistered_devices_are_notified_blocked_after_grace_and_unblocked_once_registered(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    day1 = run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})

    assert states(db_session) == {
        UNREGISTERED[:14]: ("notified", "not_registered"),
        SECOND_UNREGISTERED[:14]: ("notified", "not_registered"),
    }
    notifications = read_list(settings, day1.run_id, "kcell", "notification_full.csv.gz")
    assert {(n["imei"], n["imsi"]) for n in notifications} == {
        (UNREGISTERED[:14], "401020000009001"),
        (UNREGISTERED[:14], "250011234567890"),
        (SECOND_UNREGISTERED[:14], "401020000009002"),
    }
    assert notifications[0]["block_date"] == "2026-12-01"
    assert "01.12.2026" in notifications[0]["sms_text"]
    assert read_list(settings, day1.run_id, "beeline", "notification_full.csv.gz") == []
    # The roamer's own phone is left alone; the clone is flagged but, by default, not blocked.
    assert day1.counts["condition_duplicate"] == 1
    assert ROAMER_PHONE[:14] not in states(db_session)

    # Day 15: the second device is registered by its importer, and drops out.
    register_device(db_session, [SECOND_UNREGISTERED])
    day15 = run_day(
        db_session,
        settings,
        tmp_path,
        DAY1 + dt.timedelta(days=14),
        {"kcell": day_rows(registered)},
    )
    delta = read_list(settings, day15.run_id, "kcell", "notification_delta.csv.gz")
    assert {(d["imei"], d["change_type"]) for d in delta} == {
        (SECOND_UNREGISTERED[:14], "resolved")
    }
    assert SECOND_UNREGISTERED[:14] not in states(db_session)

    # Day 31: the grace period is over.
    day31 = run_day(
        db_session,
        settings,
        tmp_path,
        DAY1 + dt.timedelta(days=30),
        {"kcell": day_rows(registered)},
    )
    assert states(db_session)[UNREGISTERED[:14]] == ("blocked", "not_registered")
    for operator in ("kcell", "beeline", "tele2", "altel"):
        blocked = read_list(settings, day31.run_id, operator, "block_delta.csv.gz")
        assert [(b["imei"], b["change_type"]) for b in blocked] == [(UNREGISTERED[:14], "blocked")]
    notified_delta = read_list(settings, day31.run_id, "kcell", "notification_delta.csv.gz")
    assert {d["change_type"] for d in notified_delta} == {"blacklisted"}
    # Its owner's foreign SIM still works in it: blocked for being unregistered, not stolen.
    exceptions = read_list(settings, day31.run_id, "kcell", "exception_full.csv.gz")
    assert exceptions == [
        {
            "imei": UNREGISTERED[:14],
            "imsi": "250011234567890",
            "msisdn": "79161234567",
            "reason": "roaming",
        }
    ]

    # Day 32: registered at last, it leaves the block list in the next delta.
    register_device(db_session, [UNREGISTERED])
    day32 = run_day(
        db_session,
        settings,
        tmp_path,
        DAY1 + dt.timedelta(days=31),
        {"kcell": day_rows(registered)},
    )
    unblocked = read_list(settings, day32.run_id, "kcell", "block_delta.csv.gz")
    assert [(u["imei"], u["change_type"]) for u in unblocked] == [(UNREGISTERED[:14], "unblocked")]
    assert read_list(settings, day32.run_id, "kcell", "block_full.csv.gz") == []
    assert states(db_session) == {}
    transitions = db_session.execute(
        select(DeviceStateChange.imei, DeviceStateChange.old_state, DeviceStateChange.new_state)
        .where(DeviceStateChange.imei == UNREGISTERED[:14])
        .order_by(DeviceStateChange.id)
    ).all()
    assert [(t[1], t[2]) for t in transitions] == [
        (None, "notified"),
        ("notified", "blocked"),
        ("blocked", "allowed"),
    ]


def test_a_stolen_report_blocks_at_once_and_an_open_appeal_holds_a_block(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    stolen_imei = registered[0][0]
    db_session.add(
        StolenDevice(
            imei=stolen_imei[:14], reported_at=utcnow(), source="police", reference="KUI-1"
        )
    )
    db_session.add(
        BlockPause(imei=UNREGISTERED[:14], reason="appeal", reference="A-1", created_at=utcnow())
    )
    db_session.commit()

    run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})
    day31 = run_day(
        db_session,
        settings,
        tmp_path,
        DAY1 + dt.timedelta(days=30),
        {"kcell": day_rows(registered)},
    )

    now = states(db_session)
    assert now[stolen_imei[:14]] == ("blocked", "stolen")
    assert now[UNREGISTERED[:14]] == ("notified", "not_registered")  # held by the appeal
    assert now[SECOND_UNREGISTERED[:14]] == ("blocked", "not_registered")
    blocked = {b["imei"] for b in read_list(settings, day31.run_id, "tele2", "block_full.csv.gz")}
    assert blocked == {stolen_imei[:14], SECOND_UNREGISTERED[:14]}


def test_clones_block_when_the_rule_says_so_and_amnesty_registers_old_devices(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    rules = settings.network.model_copy(
        update={
            "amnesty_cutoff": DAY1 + dt.timedelta(days=1),
            "conditions": {
                **settings.network.conditions,
                "duplicate": ConditionRule(blocking=True, grace_days=0),
            },
        }
    )
    strict = settings.model_copy(update={"network": rules})

    run_day(db_session, strict, tmp_path, DAY1, {"kcell": day_rows(registered)})

    assert states(db_session) == {CLONED[:14]: ("blocked", "duplicate")}
    amnesty = find_registration(db_session, UNREGISTERED[:14])
    assert amnesty is not None and amnesty.source == "amnesty"


def test_bad_dumps_are_refused_with_reasons_and_change_nothing(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    wrong_day = write_dump(tmp_path, "kcell", DAY1, registered)
    renamed = wrong_day.rename(tmp_path / "kcell_20261102_20261102.csv.gz")
    with pytest.raises(FileRejected) as outside:
        import_dump(
            db_session,
            renamed,
            operator="kcell",
            actor="t",
            settings=settings,
            today=DAY1 + dt.timedelta(days=1),
        )
    assert any("date" in r for r in outside.value.report.reasons)  # type: ignore[attr-defined]
    assert outside.value.report.samples[0]["line"] == 2  # type: ignore[attr-defined]

    bad_header = write_dump(tmp_path, "beeline", DAY1, [], header="day,imei,imsi,msisdn")
    with pytest.raises(FileRejected, match="header"):
        import_dump(
            db_session, bad_header, operator="beeline", actor="t", settings=settings, today=DAY1
        )

    junk = [(f"IMEI{n}", "401020000000001", "77010000001") for n in range(10)]
    too_many = write_dump(tmp_path, "altel", DAY1, registered[:20] + junk)
    with pytest.raises(FileRejected, match="invalid_imei"):
        import_dump(
            db_session, too_many, operator="altel", actor="t", settings=settings, today=DAY1
        )

    with pytest.raises(InvalidInput, match="named for kcell"):
        import_dump(
            db_session,
            write_dump(tmp_path, "kcell", DAY1, registered),
            operator="tele2",
            actor="t",
            settings=settings,
            today=DAY1,
        )

    db_session.rollback()
    refused = db_session.scalars(select(OperatorImport.status)).all()
    assert refused == ["refused", "refused", "refused"]
    report = classify(db_session, run_date=DAY1, actor="t", settings=settings)
    assert report.counts["sightings_merged"] == 0


def test_a_dump_imported_twice_is_counted_once_and_a_rerun_gives_the_same_lists(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    dump = write_dump(tmp_path, "kcell", DAY1, day_rows(registered))
    first = import_dump(
        db_session, dump, operator="kcell", actor="t", settings=settings, today=DAY1
    )
    db_session.commit()
    again = import_dump(
        db_session, dump, operator="kcell", actor="t", settings=settings, today=DAY1
    )
    db_session.commit()
    assert (first.status, again.status) == ("loaded", "already_imported")

    run = classify(db_session, run_date=DAY1, actor="t", settings=settings)
    rerun = classify(db_session, run_date=DAY1, actor="t", settings=settings)

    assert run.counts["notified"] == rerun.counts["notified"] == 2
    assert read_list(settings, run.run_id, "kcell", "notification_full.csv.gz") == read_list(
        settings, rerun.run_id, "kcell", "notification_full.csv.gz"
    )
    # The delta too is the day's own (against the day before), not against the first run.
    assert read_list(settings, rerun.run_id, "kcell", "notification_delta.csv.gz") == read_list(
        settings, run.run_id, "kcell", "notification_delta.csv.gz"
    )

    def digests(run_id: int) -> dict[str, str]:
        manifest = json.loads(
            (settings.lists_dir / str(run_id) / "kcell" / "manifest.json").read_text()
        )
        return {f["name"]: f["sha256"] for f in manifest["files"] if f["kind"] != "manifest"}

    assert digests(run.run_id) == digests(rerun.run_id)  # the same lists, to the byte
    with pytest.raises(InvalidInput, match="forward"):
        classify(db_session, run_date=DAY1 - dt.timedelta(days=1), actor="t", settings=settings)


def test_manifests_list_every_file_and_their_signature_verifies(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    import hashlib

    run = run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})
    folder = settings.lists_dir / str(run.run_id) / "kcell"
    manifest_bytes = (folder / "manifest.json").read_bytes()
    public_key = load_pem_public_key(public_key_pem(settings))
    public_key.verify((folder / "manifest.json.sig").read_bytes(), manifest_bytes)  # type: ignore[union-attr]

    manifest = json.loads(manifest_bytes)
    assert {f["name"] for f in manifest["files"]} == {
        f"{kind}_{variant}.csv.gz"
        for kind in ("block", "notification", "exception")
        for variant in ("full", "delta")
    }
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    notifications = next(f for f in manifest["files"] if f["name"] == "notification_full.csv.gz")
    assert notifications["rows"] == 3
    tampered = manifest_bytes.replace(b'"rows": 3', b'"rows": 4')
    with pytest.raises(InvalidSignature):
        public_key.verify((folder / "manifest.json.sig").read_bytes(), tampered)  # type: ignore[union-attr]
    assert db_session.scalar(select(func.count()).select_from(DeviceState)) == 2


def test_each_run_leaves_a_real_time_index_snapshot_of_every_state(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    from ceir.eir.index import DeviceCode, latest_snapshot, load_snapshot
    from ceir.eir.snapshots import build_from_database

    stolen_imei = registered[1][0]
    db_session.add(StolenDevice(imei=stolen_imei[:14], reported_at=utcnow(), source="police"))
    db_session.commit()
    run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})

    snapshot = latest_snapshot(settings.eir_dir)
    assert snapshot is not None
    index = load_snapshot(snapshot)
    assert index.code_of(int(registered[5][0][:14])) is DeviceCode.ALLOWED
    assert index.code_of(int(UNREGISTERED[:14])) is DeviceCode.NOTIFIED
    assert index.code_of(int(stolen_imei[:14])) is DeviceCode.STOLEN
    assert index.code_of(int(ROAMER_PHONE[:14])) is None
    # The same index, built from the relational database alone, agrees key for key.
    rebuilt = build_from_database(db_session)
    assert rebuilt.keys.tolist() == index.keys.tolist()
    assert rebuilt.codes.tolist() == index.codes.tolist()


def test_clones_are_flagged_for_buyers_even_when_not_blocked(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    from ceir.network.models import DeviceFlag

    run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})

    flags = db_session.execute(select(DeviceFlag.imei, DeviceFlag.flag)).all()
    assert [(f[0], f[1]) for f in flags] == [(CLONED[:14], "duplicate")]


def test_a_revoked_registration_reaches_the_next_run(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    from sqlalchemy import update

    from ceir.registry.models import DeviceImei, Registration

    run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})
    revoked_imei = registered[3][0]
    device_id = db_session.scalar(
        select(DeviceImei.device_id).where(DeviceImei.imei_key == int(revoked_imei[:14]))
    )
    db_session.execute(
        update(Registration).where(Registration.device_id == device_id).values(revoked_at=utcnow())
    )
    db_session.commit()

    run_day(
        db_session, settings, tmp_path, DAY1 + dt.timedelta(days=1), {"kcell": day_rows(registered)}
    )

    assert states(db_session)[revoked_imei[:14]] == ("notified", "not_registered")


def test_a_day_with_far_fewer_imeis_than_usual_is_refused_as_truncated(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    def load(path: Path, today: dt.date) -> None:
        import_dump(db_session, path, operator="kcell", actor="t", settings=settings, today=today)
        db_session.commit()

    for offset in range(3):  # three ordinary days of 60 devices
        day = DAY1 + dt.timedelta(days=offset)
        load(write_dump(tmp_path, "kcell", day, registered), day)

    cut_short = DAY1 + dt.timedelta(days=3)
    with pytest.raises(FileRejected) as refused:
        load(write_dump(tmp_path, "kcell", cut_short, registered[:30]), cut_short)
    report = refused.value.report  # type: ignore[attr-defined]
    assert any("only 30 distinct IMEIs on 20261104" in r for r in report.reasons)
    assert report.checks["volume"]["usual"] == 60

    # Two days in one file, the same 60 devices each day: an ordinary volume, not half of one.
    two_days = tmp_path / "kcell_20261104_20261105.csv"
    second_half = tmp_path / "second.csv"
    write_dump(tmp_path, "kcell", cut_short, registered, gz=False).rename(two_days)
    write_dump(tmp_path, "kcell", cut_short + dt.timedelta(days=1), registered, gz=False).rename(
        second_half
    )
    with two_days.open("a", newline="") as handle:
        handle.writelines(second_half.open(newline="").readlines()[1:])
    load(two_days, cut_short + dt.timedelta(days=1))

    # ... while a two-day file whose second day was cut short is refused for that day alone.
    late = cut_short + dt.timedelta(days=2)
    short_end = tmp_path / f"kcell_{late:%Y%m%d}_{late + dt.timedelta(days=1):%Y%m%d}.csv"
    write_dump(tmp_path, "kcell", late, registered, gz=False).rename(short_end)
    with short_end.open("a", newline="") as handle:
        handle.writelines(
            f"{late + dt.timedelta(days=1):%Y%m%d},{imei},{imsi},{msisdn},104|001\r\n"
            for imei, imsi, msisdn in registered[:10]
        )
    with pytest.raises(FileRejected) as truncated:
        load(short_end, late + dt.timedelta(days=1))
    reasons = truncated.value.report.reasons  # type: ignore[attr-defined]
    assert [r for r in reasons if "distinct IMEIs" in r] == [
        f"only 10 distinct IMEIs on {late + dt.timedelta(days=1):%Y%m%d}, below 54 "
        "(90% of the last 30 days' average): is the file truncated?"
    ]


def test_a_dump_that_is_not_csv_is_refused_with_its_reason_not_a_crash(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    # Two exports pasted together: one half with Windows line ends, the other with Unix ones.
    mixed = write_dump(tmp_path, "kcell", DAY1, registered[:30], gz=False)
    with mixed.open("a", newline="") as handle:
        handle.writelines(f"{DAY1:%Y%m%d},{i},{s},{m},104|001\n" for i, s, m in registered[30:])

    with pytest.raises(FileRejected, match="cannot be read as CSV") as refused:
        import_dump(db_session, mixed, operator="kcell", actor="t", settings=settings, today=DAY1)
    reason = refused.value.report.reasons[0]  # type: ignore[attr-defined]
    assert mixed.name in reason and str(tmp_path) not in reason  # names the file, not a path
    db_session.rollback()
    assert db_session.scalars(select(OperatorImport.status)).all() == ["refused"]


def test_a_run_records_the_numbers_a_newly_notified_device_was_seen_with(
    db_session: Session, settings: Settings, tmp_path: Path, registered: list
) -> None:
    from ceir.network.models import DeviceNumber

    run_day(db_session, settings, tmp_path, DAY1, {"kcell": day_rows(registered)})
    pairs = {(n.imei, n.msisdn) for n in db_session.scalars(select(DeviceNumber))}
    assert pairs == {
        (UNREGISTERED[:14], "77010009001"),
        (UNREGISTERED[:14], "79161234567"),
        (SECOND_UNREGISTERED[:14], "77010009002"),
    }
    # Registered and dropped out: its numbers go with its state.
    register_device(db_session, [SECOND_UNREGISTERED])
    run_day(
        db_session, settings, tmp_path, DAY1 + dt.timedelta(days=1), {"kcell": day_rows(registered)}
    )
    db_session.expire_all()
    imeis = {n.imei for n in db_session.scalars(select(DeviceNumber))}
    assert imeis == {UNREGISTERED[:14]}

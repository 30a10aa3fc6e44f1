"""Country defaults: amnesty before 24 March 2025 with the default settings; SMS name the list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.check.service import ListColour, Verdict, check_imei
from ceir.config import Settings
from ceir.network.models import DeviceState
from ceir.registry.models import RegistrationSource
from ceir.registry.service import find_registration
from tests.factories import add_subscriber, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

IN_USE_BEFORE = make_imei("35467819", 910_001)
CAME_LATER = make_imei("35467819", 910_002)


def test_defaults_are_the_rules_in_force_in_kazakhstan() -> None:
    rules = Settings().network
    assert rules.amnesty_cutoff == dt.date(2025, 3, 24)
    assert rules.conditions["not_registered"].grace_days == 30


def test_device_seen_before_the_cutoff_is_white_listed_without_any_registration(
    db_session: Session, tmp_path: Path, database_url: str
) -> None:
    # Only the defaults: no cut-off or grace period given.
    settings = Settings(database_url=database_url, data_dir=tmp_path / "var")
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    before = [*traffic, (IN_USE_BEFORE, "401020000091001", "77020091001")]
    run_day(db_session, settings, tmp_path, dt.date(2025, 3, 20), {"kcell": before})
    after = [*before, (CAME_LATER, "401020000091002", "77020091002")]
    run_day(db_session, settings, tmp_path, dt.date(2025, 4, 1), {"kcell": after})

    registration = find_registration(db_session, IN_USE_BEFORE[:14])
    assert registration is not None and registration.source is RegistrationSource.AMNESTY
    result = check_imei(db_session, IN_USE_BEFORE)
    assert (result.verdict, result.list_colour) == (Verdict.REGISTERED, ListColour.WHITE)
    states = {s.imei: s for s in db_session.scalars(select(DeviceState))}
    assert IN_USE_BEFORE[:14] not in states
    # A phone first seen after the cut-off has the 30 days of grace, on the grey list.
    assert states[CAME_LATER[:14]].state == "notified"
    assert states[CAME_LATER[:14]].block_date == dt.date(2025, 5, 1)
    assert find_registration(db_session, CAME_LATER[:14]) is None


def test_notification_sms_names_the_grey_list_and_the_date_in_each_language(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    phones = {
        "ru": (make_imei("35467819", 920_001), "401020000092001", "77020092001"),
        "kk": (make_imei("35467819", 920_002), "401020000092002", "77020092002"),
        "en": (make_imei("35467819", 920_003), "401020000092003", "77020092003"),
    }
    for n, (language, (_imei, _imsi, msisdn)) in enumerate(phones.items()):
        add_subscriber(db_session, msisdn, f"90010130001{n}", language=language)
    report = run_day(
        db_session,
        settings,
        tmp_path,
        dt.date(2026, 11, 1),
        {"kcell": [*traffic, *phones.values()]},
    )
    texts = {
        row["language"]: row["sms_text"]
        for row in read_list(settings, report.run_id, "kcell", "notification_full.csv.gz")
    }
    assert "в сером списке" in texts["ru"] and "до 01.12.2026" in texts["ru"]
    assert "чёрный список" in texts["ru"]
    assert "сұр тізімде" in texts["kk"] and "01.12.2026 дейін" in texts["kk"]
    assert "on the grey list" in texts["en"] and "before 01.12.2026" in texts["en"]
    for language, text in texts.items():
        assert phones[language][0][:14] in text

"""Owners report their devices lost or stolen, and cancel the report when the phone is found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens import stolen
from ceir.citizens.device_models import DeviceReport, ReportKind
from ceir.config import Settings
from ceir.db import utcnow
from ceir.eir import journal
from ceir.eir.index import DeviceCode, IndexHolder
from ceir.eir.policy import EquipmentStatus, decide
from ceir.eir.snapshots import build_from_database
from ceir.network.models import StolenDevice
from ceir.registry.models import Device
from tests.citizens.conftest import Citizen
from tests.factories import add_device_state, add_owned_device, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day

DAY1 = dt.date(2026, 11, 1)
PHONE = (make_imei("35467819", 700_001), make_imei("35467819", 700_002))


@pytest.fixture
def owner(make_citizen: Callable[[int], Citizen]) -> Citizen:
    return make_citizen(1)


@pytest.fixture
def phone(owner: Citizen, db_session: Session) -> Device:
    return add_owned_device(db_session, owner.iin, PHONE, brand="Samsung", model="Galaxy S26")


def _answer(holder: IndexHolder, db_session: Session, imei: str) -> EquipmentStatus | None:
    """The real-time answer after the refresher has applied the journal."""
    db_session.commit()  # a fresh transaction sees what the web requests committed
    holder.apply(journal.since(db_session, holder.journal_id))
    code = holder.current.code_of(int(imei[:14]))
    return decide(code, home_subscriber=True, unknown=None)


def _block_delta(settings: Settings, run_id: int) -> set[tuple[str, str]]:
    rows = read_list(settings, run_id, "kcell", "block_delta.csv.gz")
    return {(r["imei"], r["change_type"]) for r in rows}


def test_a_stolen_report_blocks_everywhere_at_once_and_cancelling_unblocks(
    owner: Citizen,
    phone: Device,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
) -> None:
    traffic = filler(60)
    for imei, _imsi, _msisdn in traffic:
        register_device(db_session, [imei])
    day = [*traffic, (PHONE[0], "401020000007001", owner.msisdn)]
    run_day(db_session, citizen_settings, tmp_path, DAY1, {"kcell": day})
    holder = IndexHolder(build_from_database(db_session))
    assert _answer(holder, db_session, PHONE[0]) is EquipmentStatus.WHITELISTED

    page = owner.get("/citizen/devices?lang=en")
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert PHONE[0] in page.text and PHONE[1] in page.text  # type: ignore[attr-defined]
    refused = owner.post(f"/citizen/devices/{phone.id}/report", {"kind": "stolen"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "police report" in refused.text  # type: ignore[attr-defined]
    reported = owner.post(
        f"/citizen/devices/{phone.id}/report",
        {"kind": "stolen", "police_reference": "КУИ-2026/1234", "confirmed": "yes"},
    )
    assert reported.status_code == 303, reported.text  # type: ignore[attr-defined]

    # Real time: both IMEIs of the device are refused within a refresh.
    assert _answer(holder, db_session, PHONE[0]) is EquipmentStatus.BLACKLISTED
    assert _answer(holder, db_session, PHONE[1]) is EquipmentStatus.BLACKLISTED
    # The public check says stolen and never whose it is.
    for imei in PHONE:
        body = owner.client.get(f"/api/v1/imei/{imei}?lang=en")
        assert body.json()["verdict"] == "stolen"
        assert owner.iin not in body.text and owner.msisdn not in body.text
    public_page = owner.client.get(f"/?imei={PHONE[0]}&lang=en")
    assert "Reported stolen" in public_page.text and owner.iin not in public_page.text
    # The next lists: blocked on every network.
    day2 = run_day(
        db_session, citizen_settings, tmp_path, DAY1 + dt.timedelta(days=1), {"kcell": day}
    )
    assert (PHONE[0][:14], "blocked") in _block_delta(citizen_settings, day2.run_id)
    tele2 = read_list(citizen_settings, day2.run_id, "tele2", "block_full.csv.gz")
    assert PHONE[0][:14] in {r["imei"] for r in tele2}

    listed = owner.get("/citizen/devices?lang=en")
    assert "Reported stolen" in listed.text and "КУИ-2026/1234" in listed.text  # type: ignore[attr-defined]
    found = owner.post(f"/citizen/devices/{phone.id}/report/cancel", {})
    assert found.status_code == 303, found.text  # type: ignore[attr-defined]

    assert _answer(holder, db_session, PHONE[0]) is EquipmentStatus.WHITELISTED
    assert _answer(holder, db_session, PHONE[1]) is EquipmentStatus.WHITELISTED
    day3 = run_day(
        db_session, citizen_settings, tmp_path, DAY1 + dt.timedelta(days=2), {"kcell": day}
    )
    assert _block_delta(citizen_settings, day3.run_id) == {(PHONE[0][:14], "unblocked")}
    assert owner.client.get(f"/api/v1/imei/{PHONE[0]}").json()["verdict"] == "registered"

    report = db_session.scalars(select(DeviceReport)).one()
    assert (report.kind, report.owner_iin, report.imeis) == (
        "stolen",
        owner.iin,
        [PHONE[0][:14], PHONE[1][:14]],
    )
    assert report.cancelled_at is not None and report.cancelled_by == f"citizen:{owner.iin}"
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.actor == f"citizen:{owner.iin}")
    ).all()
    assert {"stolen.report", "stolen.cancel", "citizen.view_devices"} <= set(actions)


def test_a_lost_phone_needs_no_police_number_and_can_be_reported_again_once_found(
    owner: Citizen, phone: Device, db_session: Session
) -> None:
    for _ in range(2):
        lost = owner.post(
            f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"}
        )
        assert lost.status_code == 303, lost.text  # type: ignore[attr-defined]
        again = owner.post(
            f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"}
        )
        assert again.status_code == 422  # type: ignore[attr-defined]
        owner.post(f"/citizen/devices/{phone.id}/report/cancel", {})
    db_session.expire_all()
    rows = db_session.scalars(select(StolenDevice)).all()
    assert {r.imei for r in rows} == {PHONE[0][:14], PHONE[1][:14]}
    assert all(r.cancelled_at is not None for r in rows)
    assert len(db_session.scalars(select(DeviceReport)).all()) == 2


def test_another_citizen_cannot_see_report_or_cancel_someone_elses_device(
    owner: Citizen, phone: Device, make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    stranger = make_citizen(2)
    assert PHONE[0] not in stranger.get("/citizen/devices").text  # type: ignore[attr-defined]
    for url in (
        f"/citizen/devices/{phone.id}/report",
        f"/citizen/devices/{phone.id}/report/cancel",
        f"/citizen/devices/{phone.id}/transfer",
    ):
        answer = stranger.post(url, {"kind": "lost", "buyer_iin": stranger.iin})
        assert answer.status_code == 404, url  # type: ignore[attr-defined]
    assert stranger.get(f"/citizen/devices/{phone.id}/transfer").status_code == 404  # type: ignore[attr-defined]
    assert stranger.get("/citizen/devices/999999/transfer").status_code == 404  # type: ignore[attr-defined]

    owner.post(f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"})
    cancel = stranger.post(f"/citizen/devices/{phone.id}/report/cancel", {})
    assert cancel.status_code == 404  # type: ignore[attr-defined]
    db_session.expire_all()
    assert db_session.get(StolenDevice, PHONE[0][:14]).cancelled_at is None  # type: ignore[union-attr]


def test_reporting_needs_the_sessions_csrf_token_and_a_session(
    owner: Citizen, phone: Device, db_session: Session
) -> None:
    forged = owner.client.post(
        f"/citizen/devices/{phone.id}/report",
        data={"csrf_token": "forged", "kind": "lost"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    owner.client.cookies.clear()
    signed_out = owner.post(
        f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"}
    )
    assert signed_out.status_code == 303  # type: ignore[attr-defined]
    assert signed_out.headers["location"] == "/citizen/sign-in?ended=1"  # type: ignore[attr-defined]
    assert db_session.scalars(select(DeviceReport)).first() is None


def test_the_owner_cannot_cancel_a_report_the_police_filed(
    owner: Citizen, phone: Device, db_session: Session
) -> None:
    stolen.report_by_police(
        db_session,
        PHONE[1],
        kind=ReportKind.STOLEN,
        police_reference="2026-00042",
        actor="officer:police1",
        now=utcnow(),
    )
    db_session.commit()

    page = owner.get("/citizen/devices?lang=en")
    assert "The police filed this report" in page.text  # type: ignore[attr-defined]
    refused = owner.post(f"/citizen/devices/{phone.id}/report/cancel", {})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    db_session.expire_all()
    assert db_session.get(StolenDevice, PHONE[0][:14]).cancelled_at is None  # type: ignore[union-attr]


def test_cancelling_puts_back_the_answer_the_network_state_gives(db_session: Session) -> None:
    unregistered = make_imei("35467819", 700_100)
    add_device_state(db_session, unregistered, "blocked", reasons="not_registered")
    before = journal.last_id(db_session)  # the state's own entry (tests.factories) is not ours
    report = stolen.report_by_police(
        db_session,
        unregistered,
        kind=ReportKind.STOLEN,
        police_reference="2026-7",
        actor="officer:police1",
        now=utcnow(),
    )
    stolen.cancel_by_police(db_session, report.id, actor="officer:police1", now=utcnow())
    entries = journal.since(db_session, before)
    assert [code for _id, _key, code in entries] == [
        DeviceCode.STOLEN,
        DeviceCode.BLOCKED_UNREGISTERED,
    ]


@pytest.mark.parametrize(
    ("lang", "title"),
    [("ru", "Мои устройства"), ("kk", "Менің құрылғыларым"), ("en", "My devices")],
)
def test_my_devices_speaks_the_citizens_language(
    owner: Citizen, phone: Device, lang: str, title: str
) -> None:
    page = owner.get(f"/citizen/devices?lang={lang}")
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert title in page.text  # type: ignore[attr-defined]


def test_one_post_without_confirmation_blocks_nothing_and_says_what_would_happen(
    owner: Citizen, phone: Device, db_session: Session
) -> None:
    asked = owner.post(f"/citizen/devices/{phone.id}/report?lang=en", {"kind": "lost"})
    assert asked.status_code == 200  # type: ignore[attr-defined]
    assert "will be blocked on every Kazakh network at once" in asked.text  # type: ignore[attr-defined]
    assert 'name="confirmed" value="yes"' in asked.text  # type: ignore[attr-defined]
    no_kind = owner.post(f"/citizen/devices/{phone.id}/report?lang=en", {"confirmed": "yes"})
    assert no_kind.status_code == 422  # type: ignore[attr-defined]
    assert "lost or stolen" in no_kind.text  # type: ignore[attr-defined]
    db_session.expire_all()
    assert db_session.scalars(select(StolenDevice)).all() == []
    page = owner.get("/citizen/devices?lang=en")
    assert "checked" not in page.text  # type: ignore[attr-defined]

"""Travellers plan ahead: the yearly allowance on My devices, and a purchase declared abroad that
is registered on its first sighting after the trip home, never notified."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens.abroad_models import PurchaseDeclaration
from ceir.citizens.models import Application, Document
from ceir.config import Settings
from ceir.network.models import DeviceState
from ceir.registry.service import find_registration
from tests.citizens.conftest import Citizen
from tests.factories import add_tac, add_trip, make_imei, register_device
from tests.network.helpers import filler, read_list, run_day
from tests.untranslated import english_words, other_language_phrases

# The service's day is Almaty's (UTC+5): from 19:00 UTC on, UTC's date is a day behind it.
TODAY = dt.datetime.now(ZoneInfo("Asia/Almaty")).date()
LEFT, BOUGHT, CAME_BACK = (TODAY - dt.timedelta(days=d) for d in (20, 10, 2))
TAC = "35467819"
# A JPEG by its first bytes: the type is found from the content, never from the name.
RECEIPT = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


@pytest.fixture
def citizen(make_citizen: Callable[[int], Citizen], db_session: Session) -> Citizen:
    add_tac(db_session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
    return make_citizen(1)


@pytest.fixture
def traffic(db_session: Session) -> list[tuple[str, str, str]]:
    """Registered phones of other people, so that a dump passes its volume checks."""
    rows = filler(60, start=500)
    for imei, _imsi, _msisdn in rows:
        register_device(db_session, [imei])
    return rows


def _declare(
    citizen: Citizen,
    imei: str,
    *,
    bought: dt.date = BOUGHT,
    receipt: bytes = RECEIPT,
    name: str = "receipt.jpg",
    shop: str = "Apple Store Dubai Mall",
) -> object:
    return citizen.post(
        "/citizen/abroad",
        {"imei": imei, "shop": shop, "purchased_on": bought.isoformat()},
        files={"receipt": (name, receipt, "image/jpeg")},
    )


def _declaration(db: Session, imei: str) -> PurchaseDeclaration:
    db.expire_all()
    return db.scalars(
        select(PurchaseDeclaration).where(PurchaseDeclaration.imei == imei[:14])
    ).one()


def _sighting(
    db: Session,
    settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
    citizen: Citizen,
    imei: str,
    day: dt.date = TODAY,
) -> int:
    rows = [*traffic, (imei, "401020000777001", citizen.msisdn)]
    return run_day(db, settings, tmp_path, day, {"kcell": rows}).run_id


def test_declared_purchase_is_registered_on_its_first_sighting_after_the_trip_and_never_notified(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    imei = make_imei(TAC, 1)
    answer = _declare(citizen, imei)
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    declaration = _declaration(db_session, imei)
    assert declaration.status == "pending" and declaration.receipt_type == "image/jpeg"
    assert (citizen_settings.documents_dir / declaration.receipt_id).read_bytes() == RECEIPT
    page = citizen.get("/citizen/abroad?lang=en").text  # type: ignore[attr-defined]
    assert "Waiting for your trip home" in page and "3 of 3 left" in page

    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    run_id = _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei)

    assert find_registration(db_session, imei[:14]) is not None
    assert db_session.get(DeviceState, imei[:14]) is None  # never notified
    notified = read_list(citizen_settings, run_id, "kcell", "notification_full.csv.gz")
    assert imei[:14] not in {row["imei"] for row in notified}
    declaration = _declaration(db_session, imei)
    assert declaration.status == "registered"
    application = db_session.get(Application, declaration.application_id)
    assert application is not None and application.status == "approved"
    assert application.kind == "personal_import" and application.iin == citizen.iin
    receipt = db_session.get(Document, declaration.receipt_id)
    assert receipt is not None and receipt.application_id == application.id
    # It counts toward the year's quota, and the owner sees both.
    devices = citizen.get("/citizen/devices?lang=en").text  # type: ignore[attr-defined]
    assert "2 of 3 left" in devices and imei in devices
    page = citizen.get("/citizen/abroad").text  # type: ignore[attr-defined]
    assert "Device registered" in page
    assert f'href="/citizen/applications/{application.public_id}"' in page
    # A later day's run leaves it registered and off every list.
    later = _sighting(
        db_session, citizen_settings, tmp_path, traffic, citizen, imei, TODAY + dt.timedelta(days=1)
    )
    notified = read_list(citizen_settings, later, "kcell", "notification_full.csv.gz")
    assert imei[:14] not in {row["imei"] for row in notified}


def test_without_a_crossing_on_record_the_declared_device_takes_the_normal_path(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    imei = make_imei(TAC, 2)
    assert _declare(citizen, imei).status_code == 303  # type: ignore[attr-defined]
    run_id = _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei)
    assert find_registration(db_session, imei[:14]) is None
    state = db_session.get(DeviceState, imei[:14])
    assert state is not None and state.state == "notified"
    notified = read_list(citizen_settings, run_id, "kcell", "notification_full.csv.gz")
    assert imei[:14] in {row["imei"] for row in notified}
    assert _declaration(db_session, imei).status == "pending"


def test_a_trip_that_ended_before_the_purchase_does_not_match(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    imei = make_imei(TAC, 3)
    assert _declare(citizen, imei).status_code == 303  # type: ignore[attr-defined]
    # Home again four days before the stated purchase: it was not bought on that trip.
    add_trip(db_session, citizen.iin, LEFT, BOUGHT - dt.timedelta(days=4))
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei)
    assert find_registration(db_session, imei[:14]) is None
    assert _declaration(db_session, imei).status == "pending"


def test_with_the_quota_used_up_the_matched_purchase_goes_to_an_officer(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    citizen_settings.citizens.personal_imports_per_year = 1
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    first = make_imei(TAC, 4)
    filed = citizen.post(
        "/citizen/applications/new/registration",
        {
            "imei1": first,
            "brand": "Apple",
            "model": "iPhone 17",
            "entered_on": CAME_BACK.isoformat(),
        },
    )
    assert filed.status_code == 303  # type: ignore[attr-defined]
    assert "0 of 1 left" in citizen.get("/citizen/devices?lang=en").text  # type: ignore[attr-defined]

    imei = make_imei(TAC, 5)
    assert _declare(citizen, imei).status_code == 303  # type: ignore[attr-defined]
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei)
    assert find_registration(db_session, imei[:14]) is None
    declaration = _declaration(db_session, imei)
    assert declaration.status == "needs_review"
    application = db_session.get(Application, declaration.application_id)
    assert application is not None and application.status == "in_review"
    assert application.auto_check["findings"] == ["quota_used"]
    assert application.auto_check["declaration"] == declaration.public_id


def test_another_citizen_can_neither_see_nor_withdraw_a_declaration(
    citizen: Citizen,
    make_citizen: Callable[[int], Citizen],
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    imei = make_imei(TAC, 6)
    assert _declare(citizen, imei).status_code == 303  # type: ignore[attr-defined]
    public_id = _declaration(db_session, imei).public_id
    other = make_citizen(2)
    assert public_id not in other.get("/citizen/abroad").text  # type: ignore[attr-defined]
    assert other.post(f"/citizen/abroad/{public_id}/withdraw", {}).status_code == 404  # type: ignore[attr-defined]
    assert other.post("/citizen/abroad/NOSUCHID2345/withdraw", {}).status_code == 404  # type: ignore[attr-defined]
    assert _declaration(db_session, imei).status == "pending"
    # Without the session's CSRF token, not even the owner withdraws it.
    assert citizen.client.post(f"/citizen/abroad/{public_id}/withdraw").status_code in (403, 422)

    assert citizen.post(f"/citizen/abroad/{public_id}/withdraw", {}).status_code == 303  # type: ignore[attr-defined]
    assert _declaration(db_session, imei).status == "withdrawn"
    # A withdrawn declaration registers nothing, even with the trip on record.
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei)
    assert find_registration(db_session, imei[:14]) is None
    actions = set(db_session.scalars(select(AuditEvent.action)))
    assert {"citizens.declare_purchase", "citizens.withdraw_declaration"} <= actions
    assert "citizen.view_declarations" in actions


def test_the_form_refuses_a_wrong_check_digit_and_a_receipt_that_is_no_image(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    imei = make_imei(TAC, 7)
    wrong_digit = imei[:14] + str((int(imei[14]) + 1) % 10)
    answer = _declare(citizen, wrong_digit, receipt=b"MZ\x90\x00 not an image", name="receipt.jpg")
    assert answer.status_code == 422  # type: ignore[attr-defined]
    page = answer.text  # type: ignore[attr-defined]
    assert 'id="imei-error"' in page and 'id="receipt-error"' in page
    assert 'value="Apple Store Dubai Mall"' in page  # what was typed is kept
    citizen_settings.citizens.max_document_bytes = 2048
    too_big = RECEIPT + b"\x00" * 2048
    assert _declare(citizen, imei, receipt=too_big).status_code == 422  # type: ignore[attr-defined]
    future = _declare(citizen, imei, bought=TODAY + dt.timedelta(days=1))
    assert future.status_code == 422  # type: ignore[attr-defined]
    assert db_session.scalars(select(PurchaseDeclaration)).all() == []


def test_declarations_a_day_are_limited_per_person(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    citizen_settings.citizens.declarations_per_day = 2
    for serial in (8, 9):
        assert _declare(citizen, make_imei(TAC, serial)).status_code == 303  # type: ignore[attr-defined]
    assert _declare(citizen, make_imei(TAC, 10)).status_code == 429  # type: ignore[attr-defined]


def test_a_device_used_at_home_before_its_buyer_came_back_is_not_registered(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    imei = make_imei(TAC, 11)
    assert _declare(citizen, imei).status_code == 303  # type: ignore[attr-defined]
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    # Seen on a Kazakh network the day before its buyer's entry: someone else had it here.
    before = CAME_BACK - dt.timedelta(days=1)
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei, before)
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, imei, TODAY)
    assert find_registration(db_session, imei[:14]) is None
    assert _declaration(db_session, imei).status == "pending"
    state = db_session.get(DeviceState, imei[:14])
    assert state is not None and state.state == "notified"


def test_a_declaration_never_matched_expires_after_its_days(
    citizen: Citizen,
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    traffic: list[tuple[str, str, str]],
) -> None:
    citizen_settings.citizens.declaration_valid_days = 30
    imei = make_imei(TAC, 12)
    bought = TODAY - dt.timedelta(days=25)
    assert _declare(citizen, imei, bought=bought).status_code == 303  # type: ignore[attr-defined]
    assert _declaration(db_session, imei).expires_on == bought + dt.timedelta(days=30)
    _sighting(db_session, citizen_settings, tmp_path, traffic, citizen, make_imei(TAC, 13))
    assert _declaration(db_session, imei).status == "pending"
    _sighting(
        db_session,
        citizen_settings,
        tmp_path,
        traffic,
        citizen,
        make_imei(TAC, 13),
        TODAY + dt.timedelta(days=6),
    )
    assert _declaration(db_session, imei).status == "expired"
    # Its buyer comes home later with the phone: the declaration is spent, the normal path holds.
    add_trip(db_session, citizen.iin, bought - dt.timedelta(days=2), TODAY + dt.timedelta(days=6))
    _sighting(
        db_session, citizen_settings, tmp_path, traffic, citizen, imei, TODAY + dt.timedelta(days=7)
    )
    assert find_registration(db_session, imei[:14]) is None
    page = citizen.get("/citizen/abroad?lang=en").text  # type: ignore[attr-defined]
    assert "Expired: no trip home on record in time" in page


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_bought_abroad_and_my_devices_have_no_untranslated_words(
    citizen: Citizen, db_session: Session, lang: str
) -> None:
    statuses = ["pending", "registered", "needs_review", "expired", "withdrawn"]
    for serial, status in enumerate(statuses, start=20):
        imei = make_imei(TAC, serial)
        assert _declare(citizen, imei, shop="Ташкент Сити").status_code == 303  # type: ignore[attr-defined]
        _declaration(db_session, imei).status = status
    db_session.commit()
    for path in ("/citizen/abroad", "/citizen/devices"):
        html = citizen.client.get(f"{path}?lang={lang}").text
        assert english_words(html) == [], path
        assert other_language_phrases(html, lang) == [], path
    bad = citizen.post(
        f"/citizen/abroad?lang={lang}", {"imei": "1", "shop": "", "purchased_on": ""}
    )
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert english_words(bad.text) == []  # type: ignore[attr-defined]

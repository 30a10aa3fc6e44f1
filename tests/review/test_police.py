"""The police desk: reports for any IMEI, confirmation of citizens' reports; nobody else's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens import stolen
from ceir.citizens.device_models import DeviceReport, ReportKind
from ceir.db import utcnow
from ceir.eir import journal
from ceir.eir.index import DeviceCode
from ceir.network.models import StolenDevice
from tests.factories import add_officer, add_owned_device, make_iin, make_imei, register_device
from tests.review.conftest import Desk, form_token, sign_in

UNREGISTERED = make_imei("35467819", 600_001)
DUAL = (make_imei("35467819", 600_010), make_imei("35467819", 600_011))


@pytest.fixture
def citizens_report(db_session: Session) -> DeviceReport:
    device = add_owned_device(db_session, make_iin(serial=5), [make_imei("35467819", 600_020)])
    report = stolen.report_own_device(
        db_session,
        make_iin(serial=5),
        device.id,
        kind=ReportKind.STOLEN,
        police_reference="KUI-5",
        now=utcnow(),
    )
    db_session.commit()
    return report


@pytest.fixture
def police(db_session: Session, new_client: Callable[[], TestClient]) -> Desk:
    """An officer of the police, signed in: they land on their own desk."""
    officer = add_officer(db_session, "petrov", ("police",))
    client = new_client()
    answer = sign_in(client, "petrov")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/officers/stolen"
    return Desk(client, form_token(client, "/officers/stolen"), "petrov", officer.id)


def test_the_police_desk_is_a_back_office_page(police: Desk) -> None:
    page = police.get("/officers/stolen", headers={"accept-language": "ru"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert "Утерянные и украденные устройства" in page.text


def test_police_block_any_imei_with_a_report_number(police: Desk, db_session: Session) -> None:
    register_device(db_session, list(DUAL))

    without = police.post("/officers/stolen", imei=UNREGISTERED, kind="stolen")
    assert without.status_code == 422
    assert police.post("/officers/stolen", imei="123", police_reference="K-1").status_code == 422
    added = police.post(
        "/officers/stolen", imei=UNREGISTERED, kind="stolen", police_reference="K-1"
    )
    assert added.status_code == 303, added.text
    # A registered device is blocked with all its IMEIs, whichever one the police gave.
    dual = police.post("/officers/stolen", imei=DUAL[1], kind="lost", police_reference="K-2")
    assert dual.status_code == 303, dual.text
    twice = police.post("/officers/stolen", imei=DUAL[0], kind="stolen", police_reference="K-3")
    assert twice.status_code == 422

    db_session.expire_all()
    blocked = {r.imei: r for r in db_session.scalars(select(StolenDevice))}
    assert set(blocked) == {UNREGISTERED[:14], DUAL[0][:14], DUAL[1][:14]}
    assert blocked[UNREGISTERED[:14]].source == "police"
    assert blocked[UNREGISTERED[:14]].reference == "K-1"
    codes = {key: code for _id, key, code in journal.since(db_session, 0)}
    assert codes[int(DUAL[0][:14])] is DeviceCode.STOLEN
    assert codes[int(UNREGISTERED[:14])] is DeviceCode.STOLEN
    assert police.client.get(f"/api/v1/imei/{UNREGISTERED}").json()["verdict"] == "stolen"
    audited = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.actor == "officer:petrov")
    ).all()
    assert audited.count("stolen.report") == 2 and "police.view_reports" in audited


def test_police_confirm_a_citizens_report_and_cancel_it_when_found(
    police: Desk, db_session: Session, citizens_report: DeviceReport
) -> None:
    page = police.get("/officers/stolen")
    assert "KUI-5" in page.text

    confirmed = police.post(f"/officers/stolen/{citizens_report.id}/confirmation")
    assert confirmed.status_code == 303
    db_session.expire_all()
    report = db_session.get(DeviceReport, citizens_report.id)
    assert report is not None and report.confirmed_by == "officer:petrov"

    cancelled = police.post(f"/officers/stolen/{citizens_report.id}/cancellation")
    assert cancelled.status_code == 303
    db_session.expire_all()
    assert db_session.get(StolenDevice, report.imei).cancelled_at is not None  # type: ignore[union-attr]
    assert police.post(f"/officers/stolen/{citizens_report.id}/confirmation").status_code == 404
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(citizens_report.id))
    ).all()
    assert {"stolen.report", "stolen.confirm", "stolen.cancel"} <= set(actions)


@pytest.mark.parametrize("roles", [("reviewer",), ("supervisor",), ("auditor",)])
def test_other_officers_may_neither_add_nor_confirm(
    desk: Callable[..., Desk],
    db_session: Session,
    citizens_report: DeviceReport,
    roles: tuple[str, ...],
) -> None:
    officer = desk("ivanov", *roles)
    assert officer.get("/officers/stolen").status_code == 403
    add = officer.post("/officers/stolen", imei=UNREGISTERED, police_reference="K-9")
    assert add.status_code == 403
    confirm = officer.post(f"/officers/stolen/{citizens_report.id}/confirmation")
    assert confirm.status_code == 403
    cancel = officer.post(f"/officers/stolen/{citizens_report.id}/cancellation")
    assert cancel.status_code == 403
    db_session.expire_all()
    assert db_session.get(DeviceReport, citizens_report.id).confirmed_at is None  # type: ignore[union-attr]
    assert db_session.get(StolenDevice, UNREGISTERED[:14]) is None


def test_police_forms_need_the_sessions_token(police: Desk, citizens_report: DeviceReport) -> None:
    forged = police.client.post(
        f"/officers/stolen/{citizens_report.id}/confirmation", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403
    anonymous = TestClient(police.client.app, base_url="https://testserver")
    assert anonymous.post("/officers/stolen", data={"imei": UNREGISTERED}).status_code == 401


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_police_desk_has_no_untranslated_words(
    police: Desk, citizens_report: DeviceReport, lang: str
) -> None:
    from tests.untranslated import english_words, other_language_phrases

    html = police.get(f"/officers/stolen?lang={lang}").text
    assert "KUI-5" in html
    assert english_words(html, {"petrov"}) == []
    assert other_language_phrases(html, lang) == []

"""Personal-import registrations and unblocking appeals, checked against the border records."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens.models import Application, ApplicationEvent, Document, PendingDocument
from ceir.citizens.service import decide_application
from ceir.config import Settings
from ceir.eir.index import DeviceCode
from ceir.eir.journal import since
from ceir.network.models import BlockPause, StolenDevice
from ceir.registry.models import Registration
from ceir.registry.service import find_registration
from ceir.sms.models import SmsMessage
from tests.citizens.conftest import Citizen
from tests.factories import (
    TINY_PDF,
    add_device_number,
    add_device_state,
    add_tac,
    add_trip,
    make_imei,
    register_device,
)

TODAY = dt.date.today()
LEFT, CAME_BACK = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=10)
TAC = "35467819"


def _register(citizen: Citizen, imei: str, entered: dt.date = CAME_BACK, **extra: str) -> object:
    data = {
        "imei1": imei,
        "brand": "Apple",
        "model": "iPhone 17",
        "entered_on": entered.isoformat(),
        **extra,
    }
    return citizen.post("/citizen/applications/new/registration", data)


def _appeal(
    citizen: Citizen,
    imei: str,
    entered: dt.date = CAME_BACK,
    document: bytes = TINY_PDF,
    name: str = "boarding.pdf",
) -> object:
    return citizen.post(
        "/citizen/applications/new/appeal",
        {"imei": imei, "entered_on": entered.isoformat()},
        files={"boarding_pass": (name, document, "application/pdf")},
    )


def _text(html: str) -> str:
    """The page's words without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def _application(db_session: Session, answer: object) -> Application:
    location = answer.headers["location"]  # type: ignore[attr-defined]
    db_session.expire_all()
    return db_session.scalars(
        select(Application).where(Application.public_id == location.rsplit("/", 1)[1])
    ).one()


@pytest.fixture
def citizen(make_citizen: Callable[[int], Citizen], db_session: Session) -> Citizen:
    add_tac(db_session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
    return make_citizen(1)


def test_trip_on_record_registers_the_phone_at_once(citizen: Citizen, db_session: Session) -> None:
    exit_id, entry_id = add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    imei = make_imei(TAC, 1)
    answer = _register(citizen, imei, CAME_BACK + dt.timedelta(days=2))
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    application = _application(db_session, answer)
    assert application.status == "approved" and application.decided_by == "system:auto-check"
    registration = find_registration(db_session, imei[:14])
    assert registration is not None and registration.source == "personal_import"
    row = db_session.scalars(select(Registration)).one()
    assert row.evidence is not None and row.evidence["crossings"] == [exit_id, entry_id]
    assert since(db_session, 0)[-1][1:] == (int(imei[:14]), DeviceCode.ALLOWED)
    page = citizen.get(f"/citizen/applications/{application.public_id}")
    assert "approved" in page.text or "Одобрен" in page.text  # type: ignore[attr-defined]
    sms = db_session.scalars(select(SmsMessage).where(SmsMessage.purpose == "decision")).one()
    assert application.public_id in sms.text


def test_no_trip_on_record_sends_it_to_review(citizen: Citizen, db_session: Session) -> None:
    answer = _register(citizen, make_imei(TAC, 2))
    application = _application(db_session, answer)
    assert application.status == "in_review"
    assert application.auto_check["findings"] == ["no_entry_in_period"]
    assert find_registration(db_session, make_imei(TAC, 2)[:14]) is None


def test_a_model_other_than_the_tac_says_is_sent_to_review(
    citizen: Citizen, db_session: Session
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    answer = _register(citizen, make_imei(TAC, 3), model="Galaxy S24")
    application = _application(db_session, answer)
    assert application.status == "in_review"
    assert application.auto_check["findings"] == ["tac_mismatch"]


def test_a_device_seen_at_home_before_the_entry_is_sent_to_review(
    citizen: Citizen, db_session: Session
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    imei = make_imei(TAC, 4)
    add_device_state(db_session, imei, "notified", first_noncompliant=LEFT - dt.timedelta(days=1))
    application = _application(db_session, _register(citizen, imei))
    assert application.auto_check["findings"] == ["seen_before_entry"]


@pytest.mark.parametrize(
    ("setup", "reason_text"),
    [
        ("registered", "already registered"),
        ("stolen", "stolen"),
        ("invalid", "not a valid IMEI"),
    ],
)
def test_registration_is_refused_for_a_registered_stolen_or_invalid_imei(
    citizen: Citizen, db_session: Session, setup: str, reason_text: str
) -> None:
    imei = make_imei(TAC, 5)
    if setup == "registered":
        register_device(db_session, [imei])
    elif setup == "stolen":
        db_session.add(
            StolenDevice(imei=imei[:14], reported_at=dt.datetime.now(dt.UTC), source="police")
        )
        db_session.commit()
    else:
        imei = imei[:14] + str((int(imei[14]) + 1) % 10)
    citizen.client.cookies.set("lang", "en")
    answer = _register(citizen, imei)
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert reason_text in answer.text  # type: ignore[attr-defined]


def test_the_yearly_quota_is_enforced(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    quota = citizen_settings.citizens.personal_imports_per_year
    answers = [_register(citizen, make_imei(TAC, 10 + i)).status_code for i in range(quota + 1)]  # type: ignore[attr-defined]
    assert answers == [303] * quota + [422]


def test_blocked_owner_with_matching_trip_is_unblocked(
    citizen: Citizen, db_session: Session
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    imei = make_imei(TAC, 20)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    add_device_number(db_session, imei, citizen.msisdn)
    answer = _appeal(citizen, imei)
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    application = _application(db_session, answer)
    assert application.status == "approved"
    registration = find_registration(db_session, imei[:14])
    assert registration is not None and registration.source == "appeal"
    assert db_session.scalars(select(BlockPause)).all() == []
    document = db_session.scalars(select(Document)).one()
    assert document.content_type == "application/pdf" and document.kind == "boarding_pass"


def test_appeal_without_matching_trip_pauses_the_block_until_decided(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    imei = make_imei(TAC, 21)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    application = _application(db_session, _appeal(citizen, imei))
    assert application.status == "in_review"
    pause = db_session.scalars(select(BlockPause)).one()
    assert (pause.reason, pause.reference, pause.ended_at) == (
        "appeal",
        application.public_id,
        None,
    )
    assert since(db_session, 0)[-1][1:] == (int(imei[:14]), DeviceCode.UNDER_APPEAL)
    stored = citizen_settings.documents_dir / db_session.scalars(select(Document)).one().id
    assert stored.read_bytes() == TINY_PDF

    decide_application(
        db_session,
        application.public_id,
        approve=False,
        reason="no_proof_of_trip",
        note=None,
        actor="officer:anna",
    )
    db_session.commit()
    db_session.expire_all()
    assert db_session.scalars(select(BlockPause)).one().ended_at is not None
    assert since(db_session, 0)[-1][1:] == (int(imei[:14]), DeviceCode.BLOCKED_UNREGISTERED)
    sms = db_session.scalars(select(SmsMessage).where(SmsMessage.purpose == "decision")).one()
    assert application.public_id in sms.text
    page = citizen.get(f"/citizen/applications/{application.public_id}")
    assert "status--rejected" in page.text  # type: ignore[attr-defined]


def test_officer_approval_registers_and_a_supervisor_can_reverse_it(
    citizen: Citizen, db_session: Session
) -> None:
    imei = make_imei(TAC, 22)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    application = _application(db_session, _appeal(citizen, imei))
    decide_application(
        db_session,
        application.public_id,
        approve=True,
        reason="documents_confirm_trip",
        note="boarding pass checked",
        actor="officer:anna",
    )
    db_session.commit()
    found = find_registration(db_session, imei[:14])
    assert found is not None and found.source == "appeal"
    assert db_session.scalars(select(BlockPause)).one().ended_at is not None

    decide_application(
        db_session,
        application.id,
        approve=False,
        reason="decision_reversed",
        note=None,
        actor="officer:boss",
    )
    db_session.commit()
    assert find_registration(db_session, imei[:14]) is None
    assert since(db_session, 0)[-1][1:] == (int(imei[:14]), DeviceCode.BLOCKED_UNREGISTERED)

    decide_application(
        db_session,
        application.public_id,
        approve=True,
        reason="documents_confirm_trip",
        note=None,
        actor="officer:boss",
    )
    db_session.commit()
    assert find_registration(db_session, imei[:14]) is not None
    events = db_session.scalars(
        select(ApplicationEvent.status)
        .where(ApplicationEvent.application_id == application.id)
        .order_by(ApplicationEvent.id)
    ).all()
    assert events == ["in_review", "approved", "rejected", "approved"]
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "citizens.decide_application")
    ).all()
    assert len(actions) == 3


def test_an_appeal_for_a_device_that_is_not_blocked_is_refused(
    citizen: Citizen, db_session: Session
) -> None:
    answer = _appeal(citizen, make_imei(TAC, 23))
    assert answer.status_code == 422  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "boarding.pdf"),  # a Windows executable named .pdf
        (b"%PDF-" + b"0" * (10 * 1024 * 1024), "big.pdf"),  # one byte over 10 MB
        (b"<html><script>alert(1)</script>", "receipt.png"),
    ],
)
def test_an_upload_that_is_not_what_it_claims_is_refused(
    citizen: Citizen, db_session: Session, content: bytes, name: str
) -> None:
    imei = make_imei(TAC, 24)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    answer = _appeal(citizen, imei, document=content, name=name)
    assert answer.status_code == 422  # type: ignore[attr-defined]
    db_session.expire_all()
    assert db_session.scalars(select(Application)).all() == []
    assert db_session.scalars(select(Document)).all() == []


def test_every_view_of_an_application_is_audited(citizen: Citizen, db_session: Session) -> None:
    application = _application(db_session, _register(citizen, make_imei(TAC, 30)))
    citizen.get(f"/citizen/applications/{application.public_id}")
    db_session.expire_all()
    viewed = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "citizen.view_application")
    ).one()
    assert (viewed.actor, viewed.object_id) == (f"citizen:{citizen.iin}", application.public_id)


def test_an_appeal_for_a_phone_never_seen_with_the_applicants_number_goes_to_an_officer(
    citizen: Citizen, db_session: Session
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    imei = make_imei(TAC, 40)  # someone else's notified phone, with a trip of one's own
    add_device_state(db_session, imei, "notified", first_noncompliant=CAME_BACK)
    add_device_number(db_session, imei, "77019990000")
    application = _application(db_session, _appeal(citizen, imei))
    assert application.status == "in_review"
    assert "number_not_seen" in application.auto_check["findings"]
    assert find_registration(db_session, imei[:14]) is None


def test_automatic_appeals_count_toward_the_yearly_quota(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    quota = citizen_settings.citizens.personal_imports_per_year
    statuses = []
    for i in range(quota + 1):
        imei = make_imei(TAC, 50 + i)
        add_device_state(db_session, imei, "notified", first_noncompliant=CAME_BACK)
        add_device_number(db_session, imei, citizen.msisdn)
        statuses.append(_application(db_session, _appeal(citizen, imei)).status)
    assert statuses == ["approved"] * quota + ["in_review"]
    # ...and no personal import is left this year.
    assert _register(citizen, make_imei(TAC, 70)).status_code == 422  # type: ignore[attr-defined]


def test_every_mistake_of_the_form_is_told_at_once_beside_its_field(citizen: Citizen) -> None:
    good = make_imei(TAC, 82)
    typo = good[:-1] + str((int(good[-1]) + 1) % 10)  # one mistyped digit
    answer = citizen.post(
        "/citizen/applications/new/registration?lang=en",
        {"imei1": typo, "brand": "", "model": "Redmi Note 14", "entered_on": ""},
    )
    assert answer.status_code == 422  # type: ignore[attr-defined]
    page = answer.text  # type: ignore[attr-defined]
    for field in ("imei1", "brand", "entered_on"):
        assert f'id="{field}-error"' in page, field
        assert f'aria-describedby="{field}-error"' in page or f"{field}-hint {field}-error" in page
    assert 'id="model-error"' not in page
    assert 'value="Redmi Note 14"' in page and f'value="{typo}"' in page


def test_an_appeal_with_a_mistake_keeps_its_documents_until_it_is_filed(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    imei = make_imei(TAC, 80)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    form = "/citizen/applications/new/appeal?lang=en"
    answer = citizen.post(
        form,
        {"imei": imei, "entered_on": ""},
        files={"boarding_pass": ("boarding.pdf", TINY_PDF, "application/pdf")},
    )
    assert answer.status_code == 422  # type: ignore[attr-defined]
    page = answer.text  # type: ignore[attr-defined]
    assert 'id="entered_on-error"' in page
    assert "Attached: boarding.pdf (1 KB)" in _text(page) and 'id="documents-error"' not in page
    # Still there on the form's next showing (another tab, or after signing in again)...
    assert "Attached: boarding.pdf" in _text(citizen.client.get(form).text)
    # ...and filed with the corrected form, which sends no file this time.
    filed = citizen.post(form, {"imei": imei, "entered_on": CAME_BACK.isoformat()})
    application = _application(db_session, filed)
    [document] = db_session.scalars(
        select(Document).where(Document.application_id == application.id)
    ).all()
    assert (document.kind, document.filename, document.size) == (
        "boarding_pass",
        "boarding.pdf",
        len(TINY_PDF),
    )
    assert db_session.scalars(select(PendingDocument)).all() == []
    assert list((citizen_settings.documents_dir / "pending").iterdir()) == []


def test_a_kept_document_is_shown_and_removed_for_its_own_citizen_only(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    add_tac(db_session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
    owner, other = make_citizen(1), make_citizen(2)
    form = "/citizen/applications/new/appeal?lang=en"
    owner.post(
        form,
        {"imei": make_imei(TAC, 83), "entered_on": ""},
        files={"receipt": ("receipt.pdf", TINY_PDF, "application/pdf")},
    )
    assert "receipt.pdf" not in other.client.get(form).text
    other.post(
        "/citizen/applications/new/appeal/attachments/remove", {"kind": "receipt"}
    )  # names only the other's own (none)
    assert "Attached: receipt.pdf" in _text(owner.client.get(form).text)
    removed = owner.post(
        "/citizen/applications/new/appeal/attachments/remove?lang=en",
        {"kind": "receipt", "imei": make_imei(TAC, 83), "entered_on": "2026-11-30"},
    )
    assert removed.status_code == 200  # type: ignore[attr-defined]
    page = removed.text  # type: ignore[attr-defined]
    assert "The document is removed." in page and "receipt.pdf" not in page
    assert f'value="{make_imei(TAC, 83)}"' in page and 'value="2026-11-30"' in page
    db_session.expire_all()
    assert db_session.scalars(select(PendingDocument)).all() == []


def test_a_refused_upload_is_not_kept_and_old_kept_ones_are_forgotten(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    form = "/citizen/applications/new/appeal?lang=en"
    refused = citizen.post(
        form,
        {"imei": make_imei(TAC, 84), "entered_on": ""},
        files={"boarding_pass": ("boarding.pdf", b"MZ\x90\x00" + bytes(100), "application/pdf")},
    )
    assert "Only PDF, JPEG or PNG files are accepted." in refused.text  # type: ignore[attr-defined]
    assert db_session.scalars(select(PendingDocument)).all() == []
    citizen.post(
        form,
        {"imei": make_imei(TAC, 84), "entered_on": ""},
        files={"boarding_pass": ("boarding.pdf", TINY_PDF, "application/pdf")},
    )
    db_session.expire_all()
    [kept] = db_session.scalars(select(PendingDocument)).all()
    hours = citizen_settings.citizens.pending_document_hours
    kept.uploaded_at = kept.uploaded_at - dt.timedelta(hours=hours, minutes=1)
    db_session.commit()
    assert "boarding.pdf" not in citizen.client.get(form).text
    assert list((citizen_settings.documents_dir / "pending").iterdir()) == []


def test_a_kept_document_whose_file_is_gone_is_not_offered(
    citizen: Citizen, db_session: Session, citizen_settings: Settings
) -> None:
    form = "/citizen/applications/new/appeal?lang=en"
    citizen.post(
        form,
        {"imei": make_imei(TAC, 85), "entered_on": ""},
        files={"receipt": ("receipt.pdf", TINY_PDF, "application/pdf")},
    )
    for path in (citizen_settings.documents_dir / "pending").iterdir():
        path.unlink()
    assert "receipt.pdf" not in citizen.client.get(form).text
    db_session.expire_all()
    assert db_session.scalars(select(PendingDocument)).all() == []


def test_a_form_sent_after_the_session_ended_says_so_and_comes_back_to_the_form(
    citizen: Citizen, db_session: Session
) -> None:
    from tests.citizens.conftest import csrf_of, last_code

    form = "/citizen/applications/new/registration"
    citizen.client.cookies.clear()  # the session cookie lasts as long as the session
    answer = citizen.client.post(
        form,
        data={"csrf_token": citizen.csrf, "imei1": make_imei(TAC, 81)},
        headers={"referer": f"http://testserver{form}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/citizen/sign-in?ended=1")
    page = citizen.client.get(location + "&lang=en")
    assert "Your session has ended" in page.text
    citizen.client.post(
        "/citizen/sign-in",
        data={"csrf_token": csrf_of(page.text), "iin": citizen.iin, "phone": citizen.msisdn},
    )
    code_page = citizen.client.get("/citizen/code")
    entered = citizen.client.post(
        "/citizen/code",
        data={"csrf_token": csrf_of(code_page.text), "code": last_code(db_session, citizen.msisdn)},
        follow_redirects=False,
    )
    assert entered.headers["location"] == form  # back to the form


def test_a_redmi_named_as_people_name_it_is_registered_at_once(
    citizen: Citizen, db_session: Session
) -> None:
    add_tac(db_session, "86012345", "Xiaomi", "24115RA8EG", marketing_name="Redmi Note 14 Pro")
    add_trip(db_session, citizen.iin, LEFT, CAME_BACK)
    imei = make_imei("86012345", 1)
    answer = _register(citizen, imei, brand="Redmi", model="Note 14 Pro")
    application = _application(db_session, answer)
    assert application.auto_check["findings"] == []
    assert application.status == "approved"

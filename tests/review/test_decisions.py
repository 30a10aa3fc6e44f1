"""Decisions through the citizens' service; reassignment and reversal by supervisors only."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.check.service import Verdict, check_imei
from ceir.citizens.models import Application
from ceir.sms.models import SmsMessage
from tests.factories import add_application_in_review, make_imei
from tests.review.conftest import Desk


def _application(session: Session, public_id: str) -> Application:
    session.expire_all()
    return session.scalars(select(Application).where(Application.public_id == public_id)).one()


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_approval_registers_the_device_tells_the_citizen_and_leaves_the_queue(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    imei = make_imei("35467819", 501)
    add_application_in_review(db_session, public_id="CASE0001", imei=imei)
    aliya = desk("aliya")

    answer = aliya.post(
        "/officers/cases/CASE0001/decision",
        outcome="approve",
        reason="documents_confirm_trip",
        note="Boarding pass and receipt match.",
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/officers/queue?done=CASE0001"
    application = _application(db_session, "CASE0001")
    assert application.status == "approved"
    assert application.decision_reason == "documents_confirm_trip"
    assert application.decision_note == "Boarding pass and receipt match."
    assert application.decided_by == "officer:aliya"
    assert application.assigned_to == aliya.officer_id
    assert check_imei(db_session, imei).verdict is Verdict.REGISTERED
    assert db_session.scalars(select(SmsMessage.purpose)).all() == ["decision"]
    assert [e.actor for e in _audit(db_session, "citizens.decide_application")] == ["officer:aliya"]
    queue = aliya.get(answer.headers["location"])
    assert 'href="/officers/cases/CASE0001"' not in queue.text
    assert "The decision on application CASE0001 is saved" in queue.text


def test_rejection_keeps_the_device_unregistered(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    imei = make_imei("35467819", 502)
    add_application_in_review(db_session, public_id="CASE0001", imei=imei)

    desk("aliya").post(
        "/officers/cases/CASE0001/decision", outcome="reject", reason="seen_before_entry"
    )

    assert _application(db_session, "CASE0001").status == "rejected"
    assert check_imei(db_session, imei).verdict is not Verdict.REGISTERED


def test_a_reason_must_fit_the_outcome_and_other_needs_a_note(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_application_in_review(db_session, public_id="CASE0001")
    aliya = desk("aliya")

    for data in (
        {"outcome": "approve", "reason": "tac_mismatch"},
        {"outcome": "reject", "reason": "other"},
        {"outcome": "reject", "reason": "made_up"},
        {"outcome": "reject", "reason": ""},
    ):
        answer = aliya.post("/officers/cases/CASE0001/decision", **data)
        assert answer.status_code == 422
        assert "Choose a reason that fits the decision" in answer.text

    application = _application(db_session, "CASE0001")
    assert (application.status, application.assigned_to) == ("in_review", None)
    assert _audit(db_session, "citizens.decide_application") == []


def test_a_decided_application_cannot_be_decided_again(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_application_in_review(db_session, public_id="CASE0001", status="rejected")

    answer = desk("aliya", "supervisor").post(
        "/officers/cases/CASE0001/decision", outcome="approve", reason="documents_confirm_trip"
    )

    assert answer.status_code == 409
    assert _application(db_session, "CASE0001").status == "rejected"


def test_supervisor_reassigns_a_case_and_it_is_audited(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    add_application_in_review(db_session, public_id="CASE0001")
    chief, aliya = desk("chief", "supervisor"), desk("aliya")

    answer = chief.post("/officers/cases/CASE0001/assignment", officer="aliya")

    assert answer.status_code == 303
    assert _application(db_session, "CASE0001").assigned_to == aliya.officer_id
    event = _audit(db_session, "officer.reassign")[0]
    assert (event.actor, event.details) == ("officer:chief", {"from": None, "to": "aliya"})
    assert 'href="/officers/cases/CASE0001"' in aliya.get("/officers/queue?assigned=me").text

    # Not to an auditor, who decides nothing.
    desk("audrey", "auditor")
    refused = chief.post("/officers/cases/CASE0001/assignment", officer="audrey")
    assert refused.status_code == 422
    assert _application(db_session, "CASE0001").assigned_to == aliya.officer_id


def test_supervisor_reverses_an_approval_with_a_note(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    imei = make_imei("35467819", 503)
    add_application_in_review(db_session, public_id="CASE0001", imei=imei)
    desk("aliya").post(
        "/officers/cases/CASE0001/decision", outcome="approve", reason="documents_confirm_trip"
    )
    chief = desk("chief", "supervisor")

    without_note = chief.post("/officers/cases/CASE0001/reversal", reason="tac_mismatch")
    assert without_note.status_code == 422
    assert _application(db_session, "CASE0001").status == "approved"

    answer = chief.post(
        "/officers/cases/CASE0001/reversal", reason="tac_mismatch", note="TAC is a Samsung."
    )

    assert answer.status_code == 303
    application = _application(db_session, "CASE0001")
    assert (application.status, application.decided_by) == ("rejected", "officer:chief")
    assert check_imei(db_session, imei).verdict is not Verdict.REGISTERED
    event = _audit(db_session, "officer.reverse")[0]
    assert event.details is not None
    assert event.details["previous"]["status"] == "approved"
    assert event.details["previous"]["decided_by"] == "officer:aliya"


def test_reviewers_see_no_supervisor_forms(desk: Callable[..., Desk], db_session: Session) -> None:
    add_application_in_review(db_session, public_id="CASE0001")
    add_application_in_review(db_session, public_id="DONE0001", status="approved")
    aliya, chief = desk("aliya"), desk("chief", "supervisor")

    assert "/assignment" not in aliya.get("/officers/cases/CASE0001").text
    assert "/reversal" not in aliya.get("/officers/cases/DONE0001").text
    assert "/assignment" in chief.get("/officers/cases/CASE0001").text
    assert "/reversal" in chief.get("/officers/cases/DONE0001").text

"""Officers' decisions: approve or reject a case in review, reverse a decision, reassign a case."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.service import record
from ceir.citizens.models import Application, ApplicationStatus
from ceir.citizens.service import decide_application
from ceir.config import Settings
from ceir.errors import CeirError, InvalidInput
from ceir.review.models import Officer
from ceir.review.officers import Permission, actor_of, can, require
from ceir.review.queue import open_case, usernames
from ceir.review.reasons import check_reason


class WrongState(CeirError):
    """The application is not in a state that allows this action (decided twice, ...)."""

    code = "wrong_state"
    status = 409
    title = "Conflict"


def _clean_note(note: str | None) -> str | None:
    return (note or "").strip() or None


def decide(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    approve: bool,
    reason: str,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> Application:
    """Approve or reject an application in review, through the citizens' service.

    The citizens' service registers (or unblocks) the device, ends the block pause, writes the
    event the citizen sees, the audit entry and the SMS; a reviewer who decides a case nobody had
    taken becomes its assignee.
    """
    return _settle(
        db,
        application_id,
        officer,
        approve=approve,
        reason=reason,
        note=note,
        now=now,
        settings=settings,
    )


def reverse(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    reason: str,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> Application:
    """A supervisor turns a decision into its opposite; the note must say why."""
    return _settle(
        db,
        application_id,
        officer,
        approve=None,
        reason=reason,
        note=note,
        now=now,
        settings=settings,
    )


def _settle(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    approve: bool | None,
    reason: str,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None,
) -> Application:
    """The one path of a decision; `approve=None` reverses the application's current one."""
    reversing = approve is None
    require(officer, Permission.REVERSE if reversing else Permission.DECIDE)
    application = open_case(db, application_id, officer)
    note = _clean_note(note)
    if approve is None:
        approve = _opposite_of(application, note)
    check_reason("approve" if approve else "reject", reason, note)
    if not reversing:
        _take(application, officer)
    previous = {
        "status": application.status,
        "reason": application.decision_reason,
        "decided_by": application.decided_by,
    }
    decided = decide_application(
        db,
        application.id,
        approve=approve,
        reason=reason,
        note=note,
        actor=actor_of(officer),
        now=now,
        settings=settings,
    )
    if reversing:
        record(
            db,
            actor=actor_of(officer),
            action="officer.reverse",
            object_type="application",
            object_id=application.public_id,
            details={"previous": previous, "status": decided.status, "reason": reason},
        )
    return decided


def _opposite_of(application: Application, note: str | None) -> bool:
    """Whether reversing `application` approves it; only a decided one, and only with a note."""
    if application.status not in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED):
        raise WrongState("Only an approved or rejected application can be reversed.")
    if not note:
        raise InvalidInput("Explain the reversal in the note.")
    return application.status == ApplicationStatus.REJECTED


def _take(application: Application, officer: Officer) -> None:
    """A case is decided once; a reviewer deciding a case nobody had taken becomes its assignee."""
    if application.status != ApplicationStatus.IN_REVIEW:
        raise WrongState("This application is already decided.")
    if application.assigned_to is None:
        application.assigned_to = officer.id


def reassign(
    db: Session,
    application_id: int | str,
    officer: Officer,
    *,
    to_username: str | None,
    now: dt.datetime,
) -> Application:
    """A supervisor gives a case in review to another officer (or back to the common queue)."""
    require(officer, Permission.REASSIGN)
    application = open_case(db, application_id, officer)
    if application.status != ApplicationStatus.IN_REVIEW:
        raise WrongState("Only an application in review can be reassigned.")
    target = None
    if to_username:
        target = db.scalar(select(Officer).where(Officer.username == to_username.strip().lower()))
        if target is None or not can(target, Permission.DECIDE):
            raise InvalidInput(f"{to_username!r} is not an active officer who decides cases.")
    before = usernames(db, {application.assigned_to}) if application.assigned_to else {}
    application.assigned_to = target.id if target else None
    record(
        db,
        actor=actor_of(officer),
        action="officer.reassign",
        object_type="application",
        object_id=application.public_id,
        details={
            "from": next(iter(before.values()), None),
            "to": target.username if target else None,
        },
    )
    return application

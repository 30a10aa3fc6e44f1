"""Auditors (and supervisors) search the audit log; the search itself is recorded."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from tests.review.conftest import Desk

ROW = re.compile(r"<dt>Action</dt><dd[^>]*>([^<]+)</dd>")


def _event(session: Session, at: dt.datetime, actor: str, action: str, object_id: str) -> None:
    session.execute(
        insert(AuditEvent).values(
            at=at, actor=actor, action=action, object_type="application", object_id=object_id
        )
    )
    session.commit()


def test_audit_search_filters_by_actor_action_object_and_day(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    day = dt.datetime(2026, 11, 10, 6, tzinfo=dt.UTC)  # 11:00 in Almaty
    _event(db_session, day, "officer:aliya", "officer.view_case", "CASE0001")
    _event(
        db_session, day + dt.timedelta(hours=1), "officer:bolat", "officer.view_case", "CASE0002"
    )
    _event(db_session, day + dt.timedelta(days=2), "officer:aliya", "officer.reassign", "CASE0001")
    auditor = desk("audrey", "auditor")

    def actions(query: str) -> list[str]:
        page = auditor.get(f"/officers/audit?{query}")
        assert page.status_code == 200
        return [a for a in ROW.findall(page.text) if a != "officer.search_audit"]

    assert actions("actor=officer:aliya") == ["officer.reassign", "officer.view_case"]
    assert actions("object_id=CASE0002") == ["officer.view_case"]
    assert actions("action=officer.reassign") == ["officer.reassign"]
    assert actions("action=officer.&since=2026-11-10&until=2026-11-10") == [
        "officer.view_case",
        "officer.view_case",
    ]
    assert actions("since=2026-11-11&until=2026-11-12") == ["officer.reassign"]
    assert auditor.get("/officers/audit?since=not-a-day").status_code == 422


def test_every_audit_search_is_itself_audited(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    auditor = desk("audrey", "auditor")
    auditor.get("/officers/audit?actor=officer:aliya")
    event = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "officer.search_audit")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert (event.actor, event.details) == ("officer:audrey", {"actor": "officer:aliya"})

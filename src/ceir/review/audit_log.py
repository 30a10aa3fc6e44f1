"""The audit log as officers search it; every search is itself audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.audit.service import record
from ceir.review.models import Officer
from ceir.review.officers import Permission, actor_of, require


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int


def search_audit(
    db: Session,
    officer: Officer,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """Audit events newest first; exact matches, `action` also as a prefix ending in '.'.

    The search itself is audited: who read the trail is part of the trail.
    """
    require(officer, Permission.READ_AUDIT)
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip())
    if action:
        action = action.strip()
        if action.endswith("."):
            query = query.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == action)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id.strip())
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = list(
        db.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
    )
    filters = {
        "actor": actor,
        "action": action,
        "object_id": object_id,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "offset": offset or None,
    }
    record(
        db,
        actor=actor_of(officer),
        action="officer.search_audit",
        object_type="audit",
        object_id="audit_events",
        details={k: v for k, v in filters.items() if v is not None},
    )
    return AuditPage(events=events, total=total)

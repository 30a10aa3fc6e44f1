"""Writing and reading the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.db import utcnow


def record(
    db: Session | Connection,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction, so it exists exactly when the change does."""
    db.execute(
        insert(AuditEvent).values(
            at=utcnow(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
        )
    )

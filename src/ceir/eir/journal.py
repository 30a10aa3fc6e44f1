"""Writing and reading the journal of single changes to devices' real-time answers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from ceir.db import utcnow
from ceir.eir.index import DeviceCode
from ceir.eir.models import EirJournalEntry


def record(db: Session | Connection, changes: Iterable[tuple[str | int, DeviceCode]]) -> None:
    """Note, in the caller's transaction, that these devices (14-digit keys) now answer so."""
    rows = [{"imei_key": int(key), "code": int(code), "at": utcnow()} for key, code in changes]
    if rows:
        db.execute(insert(EirJournalEntry), rows)


def last_id(db: Session | Connection) -> int:
    return int(db.scalar(select(func.coalesce(func.max(EirJournalEntry.id), 0))) or 0)


def since(
    db: Session | Connection, after_id: int, limit: int = 100_000
) -> list[tuple[int, int, DeviceCode]]:
    """(id, key, code) of the entries after `after_id`, oldest first."""
    rows = db.execute(
        select(EirJournalEntry.id, EirJournalEntry.imei_key, EirJournalEntry.code)
        .where(EirJournalEntry.id > after_id)
        .order_by(EirJournalEntry.id)
        .limit(limit)
    )
    return [(int(i), int(k), DeviceCode(c)) for i, k, c in rows]

"""Writing and reading the journal of single changes to devices' real-time answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, insert, or_, select
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
    db: Session | Connection,
    after_id: int,
    limit: int = 100_000,
    gaps: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int, DeviceCode]]:
    """(id, key, code) of the entries after `after_id`, and of those in the `gaps` (inclusive id
    ranges at or below it that a reader has not seen yet), oldest first.

    PostgreSQL hands out ids when a row is inserted, not when its transaction commits: id 7 may
    become visible after id 8. A reader that has seen 8 but not 7 keeps asking for 7 as a gap
    (`ceir.eir.index.IndexHolder.open_gaps`) until it shows up or is given up on.
    """
    wanted = EirJournalEntry.id > after_id
    for low, high in gaps:
        wanted = or_(wanted, EirJournalEntry.id.between(low, high))
    rows = db.execute(
        select(EirJournalEntry.id, EirJournalEntry.imei_key, EirJournalEntry.code)
        .where(wanted)
        .order_by(EirJournalEntry.id)
        .limit(limit)
    )
    return [(int(i), int(k), DeviceCode(c)) for i, k, c in rows]

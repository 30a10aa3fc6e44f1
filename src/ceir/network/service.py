"""Questions about network enforcement: per-operator status, device state, statistics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.config import get_settings
from ceir.network.models import (
    ClassificationRun,
    DeviceState,
    DeviceStateChange,
    ListFile,
    OperatorImport,
)


@dataclass
class OperatorStatus:
    operator: str
    last_import: str | None = None
    last_period: str | None = None
    last_rows: int | None = None
    refused_recently: int = 0
    notified: int = 0
    blocked: int = 0
    unblocked_last_run: int = 0


@dataclass
class NetworkStatus:
    operators: list[OperatorStatus] = field(default_factory=list)
    last_run: tuple[int, dt.date] | None = None


def device_state(db: Session, imei_key: str) -> DeviceState | None:
    """The enforcement state of a device (14-digit key), or None when it is compliant."""
    return db.get(DeviceState, imei_key)


def status(db: Session, now: dt.datetime | None = None) -> NetworkStatus:
    now = now or dt.datetime.now(dt.UTC)
    result = NetworkStatus()
    last_run = db.execute(
        select(ClassificationRun.id, ClassificationRun.run_date)
        .where(ClassificationRun.finished_at.is_not(None))
        .order_by(ClassificationRun.id.desc())
        .limit(1)
    ).first()
    unblocked = 0
    if last_run:
        result.last_run = (last_run[0], last_run[1])
        unblocked = (
            db.scalar(
                select(func.count())
                .select_from(DeviceStateChange)
                .where(
                    DeviceStateChange.run_id == last_run[0],
                    DeviceStateChange.old_state == "blocked",
                    DeviceStateChange.new_state == "allowed",
                )
            )
            or 0
        )
    for operator in get_settings().network.operators:
        # The operator's own lists (its subscribers' devices), not the register-wide states.
        own = _list_rows(db, operator)
        row = OperatorStatus(
            operator,
            notified=own.get("notification", 0),
            blocked=own.get("block", 0),
            unblocked_last_run=unblocked,
        )
        last = db.execute(
            select(OperatorImport)
            .where(OperatorImport.operator == operator, OperatorImport.status == "loaded")
            .order_by(OperatorImport.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last:
            row.last_import = last.imported_at.strftime("%Y-%m-%d %H:%M UTC")
            row.last_period = f"{last.period_start} – {last.period_end}"
            row.last_rows = last.rows_total
        row.refused_recently = (
            db.scalar(
                select(func.count())
                .select_from(OperatorImport)
                .where(
                    OperatorImport.operator == operator,
                    OperatorImport.status == "refused",
                    OperatorImport.imported_at >= now - dt.timedelta(days=30),
                )
            )
            or 0
        )
        result.operators.append(row)
    return result


def _list_rows(db: Session, operator: str) -> dict[str, int]:
    """Rows of each full list in the operator's newest run with lists, by kind."""
    newest = select(func.max(ListFile.run_id)).where(ListFile.operator == operator)
    return {
        kind: rows
        for kind, rows in db.execute(
            select(ListFile.kind, ListFile.rows).where(
                ListFile.operator == operator,
                ListFile.variant == "full",
                ListFile.run_id == newest.scalar_subquery(),
            )
        )
    }


def history(db: Session) -> list[dict[str, object]]:
    """Per run: the date and its counts (notified, blocked, unblocked...), oldest first."""
    rows = db.execute(
        select(ClassificationRun.id, ClassificationRun.run_date, ClassificationRun.counts)
        .where(ClassificationRun.finished_at.is_not(None))
        .order_by(ClassificationRun.id)
    ).all()
    return [{"run_id": r[0], "run_date": r[1].isoformat(), **r[2]} for r in rows]

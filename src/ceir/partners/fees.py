"""Verification fees: importers and shops pay 1 MRP per device they register; a ledger per partner.

Every declarations file a partner loads through the API writes one ledger entry: the month
(Asia/Almaty) it was loaded in, the devices registered, the fee per device (the MRP of that year
times `fees.mrp_per_device`) and the amount. A partner whose unpaid fees would go above its limit
is refused (HTTP 402) until an officer marks months paid (`ceir partners fees mark-paid`).
Citizens' personal imports and appeals never pass here: they are free.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.audit.models import ImportBatch
from ceir.config import Settings
from ceir.db import utcnow
from ceir.errors import CeirError, InvalidInput
from ceir.importing import ImportReport
from ceir.partners.models import FeeEntry
from ceir.registry.models import Declaration, Device, DeviceImei, Registration
from ceir.registry.service import import_declarations

ALMATY = ZoneInfo("Asia/Almaty")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
STATEMENT_COLUMNS = [
    "registered_at",
    "declaration_number",
    "imei1",
    "brand",
    "model",
    "fee_tenge",
]


class UnpaidFees(CeirError):
    code = "unpaid_fees"
    status = 402
    title = "Unpaid verification fees"


@dataclass
class FeeOutcome:
    report: ImportReport
    entry: FeeEntry | None
    unpaid_tenge: int
    limit_tenge: int


@dataclass
class Statement:
    partner: str
    month: str
    lines: list[dict[str, object]] = field(default_factory=list)
    entries: list[FeeEntry] = field(default_factory=list)

    @property
    def devices(self) -> int:
        return sum(e.devices for e in self.entries)

    @property
    def total(self) -> int:
        return sum(e.amount for e in self.entries)

    @property
    def unpaid(self) -> int:
        return sum(e.amount for e in self.entries if e.paid_at is None)


def parse_month(value: str) -> str:
    if not MONTH.match(value):
        raise InvalidInput(f"{value!r} is not a month in the form YYYY-MM")
    return value


def month_of(moment: dt.datetime) -> str:
    return moment.astimezone(ALMATY).strftime("%Y-%m")


def mrp(settings: Settings, year: int) -> int:
    """The MRP (tenge) in force in `year`: that year's, else the latest year before it."""
    known = settings.fees.mrp_by_year
    years = [y for y in known if y <= year] or [min(known)]
    return known[max(years)]


def fee_per_device(settings: Settings, moment: dt.datetime) -> int:
    return mrp(settings, moment.astimezone(ALMATY).year) * settings.fees.mrp_per_device


def limit_of(settings: Settings, partner: str) -> int:
    return settings.fees.unpaid_limits.get(partner, settings.fees.unpaid_limit_tenge)


def unpaid_of(db: Session, partner: str) -> int:
    return int(
        db.scalar(
            select(func.coalesce(func.sum(FeeEntry.amount), 0)).where(
                FeeEntry.partner == partner, FeeEntry.paid_at.is_(None)
            )
        )
        or 0
    )


def _refuse(partner: str, unpaid: int, more: int, limit: int) -> UnpaidFees:
    error = UnpaidFees(
        f"Unpaid verification fees of {partner} are {unpaid:,} tenge; this file would add "
        f"{more:,} tenge, above the limit of {limit:,}. Pay the monthly statements; the file "
        "can then be sent again."
    )
    error.extra = {"unpaid_tenge": unpaid, "amount_tenge": more, "limit_tenge": limit}
    return error


def register_declarations(
    db: Session,
    path: Path,
    *,
    partner: str,
    settings: Settings,
    accept_good: bool = False,
    now: dt.datetime | None = None,
) -> FeeOutcome:
    """Load a partner's declarations file and charge its new devices to the partner's ledger.

    In the caller's transaction: a refusal (bad rows, or fees above the unpaid limit) raises, and
    the caller's rollback leaves nothing registered and nothing charged.
    """
    now = now or utcnow()
    limit = limit_of(settings, partner)
    unpaid = unpaid_of(db, partner)
    if unpaid > limit:
        raise _refuse(partner, unpaid, 0, limit)
    actor = f"partner:{partner}"
    report = import_declarations(db, path, actor=actor, accept_good=accept_good)
    if not report.rows_accepted:
        return FeeOutcome(report, None, unpaid, limit)
    fee = fee_per_device(settings, now)
    amount = fee * report.rows_accepted
    if unpaid + amount > limit:
        raise _refuse(partner, unpaid, amount, limit)
    batch_id = db.scalar(
        select(func.max(ImportBatch.id)).where(
            ImportBatch.kind == "declarations",
            ImportBatch.actor == actor,
            ImportBatch.sha256 == report.sha256,
        )
    )
    entry = FeeEntry(
        partner=partner,
        month=month_of(now),
        batch_id=int(batch_id or 0),
        filename=report.filename[:512],
        devices=report.rows_accepted,
        fee_per_device=fee,
        amount=amount,
        created_at=now,
    )
    db.add(entry)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="fees.charge",
        object_type="fee_ledger",
        object_id=str(entry.id),
        details={"month": entry.month, "devices": entry.devices, "amount": amount},
    )
    return FeeOutcome(report, entry, unpaid + amount, limit)


def mark_paid(
    db: Session, partner: str, month: str, *, actor: str, now: dt.datetime | None = None
) -> int:
    """Mark a partner's month paid; returns the entries marked (0 when nothing was due)."""
    now = now or utcnow()
    entries = db.scalars(
        select(FeeEntry).where(
            FeeEntry.partner == partner,
            FeeEntry.month == parse_month(month),
            FeeEntry.paid_at.is_(None),
        )
    ).all()
    for entry in entries:
        entry.paid_at = now
        entry.paid_by = actor
    if entries:
        audit.record(
            db,
            actor=actor,
            action="fees.mark_paid",
            object_type="partner",
            object_id=partner,
            details={"month": month, "amount": sum(e.amount for e in entries)},
        )
    return len(entries)


def ledger_of(db: Session, partner: str | None = None) -> list[dict[str, object]]:
    """Per partner and month: devices, amount, and what is still unpaid."""
    query = (
        select(
            FeeEntry.partner,
            FeeEntry.month,
            func.sum(FeeEntry.devices),
            func.sum(FeeEntry.amount),
            func.coalesce(
                func.sum(FeeEntry.amount).filter(FeeEntry.paid_at.is_(None)),
                0,
            ),
        )
        .group_by(FeeEntry.partner, FeeEntry.month)
        .order_by(FeeEntry.partner, FeeEntry.month)
    )
    if partner is not None:
        query = query.where(FeeEntry.partner == partner)
    return [
        {"partner": p, "month": m, "devices": int(d), "amount": int(a), "unpaid": int(u)}
        for p, m, d, a, u in db.execute(query)
    ]


def statement(db: Session, partner: str, month: str) -> Statement:
    """Every device a partner registered in a month, with its fee, and the totals."""
    result = Statement(partner, parse_month(month))
    result.entries = list(
        db.scalars(
            select(FeeEntry)
            .where(FeeEntry.partner == partner, FeeEntry.month == month)
            .order_by(FeeEntry.id)
        )
    )
    fee_of = {e.batch_id: e.fee_per_device for e in result.entries}
    if not fee_of:
        return result
    rows = db.execute(
        select(
            Registration.batch_id,
            Registration.registered_at,
            Declaration.number,
            DeviceImei.imei_key,
            Device.brand,
            Device.model,
        )
        .join(Device, Device.id == Registration.device_id)
        .join(DeviceImei, DeviceImei.device_id == Device.id)
        .outerjoin(Declaration, Declaration.id == Registration.declaration_id)
        .where(Registration.batch_id.in_(list(fee_of)), DeviceImei.slot == 1)
        .order_by(Registration.id)
    )
    for batch_id, registered_at, number, key, brand, model in rows:
        result.lines.append(
            {
                "registered_at": registered_at.astimezone(ALMATY).strftime("%Y-%m-%d %H:%M"),
                "declaration_number": number or "",
                "imei1": str(key).zfill(14),
                "brand": brand or "",
                "model": model or "",
                "fee_tenge": fee_of[int(batch_id or 0)],
            }
        )
    return result


def statement_csv(found: Statement) -> str:
    """The statement as CSV: one line per device, then the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for line in found.lines:
        writer.writerow([line[c] for c in STATEMENT_COLUMNS])
    writer.writerow(["total", "", "", "", f"{found.devices} devices", found.total])
    return out.getvalue()

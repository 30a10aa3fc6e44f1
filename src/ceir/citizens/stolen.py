"""Lost and stolen devices: owners' and police reports, police confirmation, cancellation.

A report writes one `stolen_devices` row per IMEI of the device: the next classification run
blocks it on every network (roamers included) and the public check says "reported stolen"; a
journal entry per IMEI makes the real-time answer BLACKLISTED within seconds. Cancelling (the
phone was found) ends those rows and journals each IMEI back to the code its registration and
network state give, so the device leaves the block list in the next delta and is answered as
before at once. `device_reports` keeps who reported, confirmed and cancelled what, and when.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.citizens import identity_use, ownership
from ceir.citizens.device_models import DeviceReport, ReportKind
from ceir.citizens.identity_models import ActKind
from ceir.eir import journal
from ceir.eir.index import DeviceCode
from ceir.errors import CeirError, NotFound
from ceir.network import enforcement
from ceir.network.models import StolenDevice
from ceir.registry.models import DeviceImei


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


REFUSALS: dict[str, str] = {
    "kind_required": N_("Choose whether the device is lost or stolen."),
    "reference_required": N_("Give the number of the police report."),
    "invalid_reference": N_(
        "The police report number may have letters, digits, spaces, dots, dashes and slashes, "
        "at most 64."
    ),
    "already_reported": N_("This device is already reported lost or stolen."),
    "invalid_imei": N_("This is not a valid IMEI."),
    "not_cancellable": N_("The police filed this report; ask them to cancel it."),
}
# Police case numbers look like "КУИ-2026/1234" or "2026 123456": keep them readable, bounded.
REFERENCE_PATTERN = re.compile(r"[0-9A-Za-zА-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі .\-/№#]{1,64}")
SOURCES = {
    ReportKind.LOST: "citizen_lost",
    ReportKind.STOLEN: "citizen_stolen",
}
POLICE_SOURCE = "police"


class ReportRefused(CeirError):
    """A report (or its cancellation) not accepted: `reason` is a key of REFUSALS."""

    code = "report_refused"
    status = 422
    title = "Report refused"

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSALS[reason])
        self.reason = reason
        self.extra = {"reason": reason}


def _reference(kind: ReportKind, text: str | None, *, required: bool) -> str | None:
    value = " ".join((text or "").split())
    if not value:
        if required or kind is ReportKind.STOLEN:
            raise ReportRefused("reference_required")
        return None
    if not REFERENCE_PATTERN.fullmatch(value):
        raise ReportRefused("invalid_reference")
    return value


def check_own_report(
    kind: str | None, police_reference: str | None
) -> tuple[ReportKind, str | None]:
    """An owner's report as entered, checked before they are asked to confirm it."""
    if kind not in (ReportKind.LOST.value, ReportKind.STOLEN.value):
        raise ReportRefused("kind_required")
    report_kind = ReportKind(kind)
    return report_kind, _reference(report_kind, police_reference, required=False)


def _block(db: Session, report: DeviceReport, source: str, actor: str, now: dt.datetime) -> None:
    """Mark every IMEI of the report stolen, refusing when one already is."""
    keys = list(report.imeis)
    query = select(StolenDevice).where(StolenDevice.imei.in_(keys))
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    existing = {row.imei: row for row in db.scalars(query)}
    if any(row.cancelled_at is None for row in existing.values()):
        raise ReportRefused("already_reported")
    db.add(report)
    db.flush()
    reference = report.police_reference or f"report:{report.id}"
    for key in keys:
        row = existing.get(key)
        if row is None:
            db.add(StolenDevice(imei=key, reported_at=now, reference=reference, source=source))
        else:  # reported once before and found: the same row stands again
            row.reported_at, row.reference, row.source = now, reference, source
            row.cancelled_at = None
    journal.record(db, [(key, DeviceCode.STOLEN) for key in keys])
    if report.device_id is not None:
        ownership.cancel_pending_transfers(db, report.device_id, actor, now)
    audit.record(
        db,
        actor=actor,
        action="stolen.report",
        object_type="device_report",
        object_id=str(report.id),
        details={
            "kind": report.kind,
            "imeis": keys,
            "device": report.device_id,
            "police_reference": report.police_reference,
        },
    )
    db.flush()


def report_own_device(
    db: Session,
    iin: str,
    device_id: int,
    *,
    kind: ReportKind,
    police_reference: str | None,
    now: dt.datetime,
    msisdn: str | None = None,
) -> DeviceReport:
    """The owner reports their device lost or stolen (stolen needs the police report number).

    Every number of the owner's IIN is told, with a "not me" link (`identity_use`).
    """
    ownership.owned_device_id(db, iin, device_id)
    reference = _reference(kind, police_reference, required=False)
    keys = ownership.keys_of(db, device_id)
    before = identity_use.device_snapshot(db, keys, device_id)
    actor = f"citizen:{iin}"
    report = DeviceReport(
        kind=kind.value,
        imei=keys[0],
        imeis=keys,
        device_id=device_id,
        police_reference=reference,
        owner_iin=iin,
        reported_by=actor,
        reported_at=now,
    )
    _block(db, report, SOURCES[kind], actor, now)
    identity_use.record_act(
        db,
        ActKind.STOLEN_REPORT,
        iin=iin,
        msisdn=msisdn,
        reference=str(report.id),
        keys=keys,
        device_id=device_id,
        before=before,
        language="ru",
        now=now,
    )
    return report


def report_by_police(
    db: Session,
    imei: str,
    *,
    kind: ReportKind,
    police_reference: str,
    actor: str,
    now: dt.datetime,
) -> DeviceReport:
    """The police report any IMEI; a registered device is blocked with all its IMEIs."""
    try:
        parsed = identifiers.parse_imei(imei)
    except identifiers.IdentifierError as exc:
        raise ReportRefused("invalid_imei") from exc
    if identifiers.is_junk_imei_key(parsed.key):
        raise ReportRefused("invalid_imei")
    reference = _reference(kind, police_reference, required=True)
    device_id = db.scalar(
        select(DeviceImei.device_id).where(DeviceImei.imei_key == int(parsed.key))
    )
    keys = ownership.keys_of(db, device_id) if device_id is not None else [parsed.key]
    report = DeviceReport(
        kind=kind.value,
        imei=parsed.key,
        imeis=keys,
        device_id=device_id,
        police_reference=reference,
        owner_iin=None,
        reported_by=actor,
        reported_at=now,
        confirmed_by=actor,  # the police's own report needs no confirmation
        confirmed_at=now,
    )
    _block(db, report, POLICE_SOURCE, actor, now)
    return report


def _load(db: Session, report_id: int) -> DeviceReport | None:
    query = select(DeviceReport).where(DeviceReport.id == report_id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return db.scalar(query)


def confirm_report(db: Session, report_id: int, *, actor: str, now: dt.datetime) -> DeviceReport:
    """The police confirm a citizen's report (the case exists); it is blocked already."""
    report = _load(db, report_id)
    if report is None or report.cancelled_at is not None:
        raise NotFound("No such report in force.")
    if report.confirmed_at is None:
        report.confirmed_at, report.confirmed_by = now, actor
        audit.record(
            db,
            actor=actor,
            action="stolen.confirm",
            object_type="device_report",
            object_id=str(report.id),
            details={"kind": report.kind, "imeis": list(report.imeis)},
        )
    db.flush()
    return report


def _unblock(db: Session, report: DeviceReport, actor: str, now: dt.datetime) -> None:
    keys = list(report.imeis)
    report.cancelled_at, report.cancelled_by = now, actor
    for row in db.scalars(
        select(StolenDevice).where(StolenDevice.imei.in_(keys), StolenDevice.cancelled_at.is_(None))
    ):
        row.cancelled_at = now
    db.flush()
    journal.record(db, enforcement.codes_now(db, keys))
    audit.record(
        db,
        actor=actor,
        action="stolen.cancel",
        object_type="device_report",
        object_id=str(report.id),
        details={"kind": report.kind, "imeis": keys, "device": report.device_id},
    )
    db.flush()


def cancel_own_report(db: Session, iin: str, device_id: int, *, now: dt.datetime) -> DeviceReport:
    """The owner found the device: their report ends and the device is unblocked."""
    ownership.owned_device_id(db, iin, device_id)
    report = ownership.active_report(db, device_id)
    if report is None:
        raise NotFound("No report in force for this device.")
    if report.owner_iin != iin:
        raise ReportRefused("not_cancellable")
    _unblock(db, report, f"citizen:{iin}", now)
    return report


def cancel_by_police(db: Session, report_id: int, *, actor: str, now: dt.datetime) -> DeviceReport:
    report = _load(db, report_id)
    if report is None or report.cancelled_at is not None:
        raise NotFound("No such report in force.")
    _unblock(db, report, actor, now)
    return report


def reinstate(db: Session, report_id: int, *, actor: str, now: dt.datetime) -> bool:
    """A report cancelled on a dispute of identity use stands again (an officer found it was the
    owner's), unless another report blocks the device meanwhile. Whether it stands again."""
    report = _load(db, report_id)
    if report is None or report.cancelled_at is None:
        return False
    keys = list(report.imeis)
    rows = {
        row.imei: row for row in db.scalars(select(StolenDevice).where(StolenDevice.imei.in_(keys)))
    }
    if any(row.cancelled_at is None for row in rows.values()):
        return False
    report.cancelled_at, report.cancelled_by = None, None
    reference = report.police_reference or f"report:{report.id}"
    source = POLICE_SOURCE if report.owner_iin is None else SOURCES[ReportKind(report.kind)]
    for key in keys:
        row = rows.get(key)
        if row is None:
            db.add(StolenDevice(imei=key, reported_at=now, reference=reference, source=source))
        else:
            row.reported_at, row.reference, row.source = now, reference, source
            row.cancelled_at = None
    journal.record(db, [(key, DeviceCode.STOLEN) for key in keys])
    audit.record(
        db,
        actor=actor,
        action="stolen.reinstate",
        object_type="device_report",
        object_id=str(report.id),
        details={"kind": report.kind, "imeis": keys, "device": report.device_id},
    )
    db.flush()
    return True


def reports_in_force(db: Session, *, limit: int = 200) -> list[DeviceReport]:
    """Reports that block devices now, those still to be confirmed first, then newest first."""
    return list(
        db.scalars(
            select(DeviceReport)
            .where(DeviceReport.cancelled_at.is_(None))
            .order_by(
                DeviceReport.confirmed_at.is_not(None),
                DeviceReport.reported_at.desc(),
                DeviceReport.id.desc(),
            )
            .limit(limit)
        )
    )

"""Second IMEIs found by a classification run: an unregistered IMEI linked to a registered device.

A device has one to four IMEIs (one per SIM slot). When an importer or a citizen registered only
the first, the second shows up on the network as unregistered. The classification run links them
(`link_in_run`) when the same home SIM was seen with both within a few days and the two TACs share
their first six digits (the reporting body and the type allocation of one model family; the two
IMEIs of a dual-SIM phone usually share the whole TAC). The person who can vouch for the device
then confirms the link with one tap (ceir.citizens.second_imei), which adds the IMEI to the device
(`add_to_device`):

- the owner of record, when a citizen's application registered the device (its IIN);
- otherwise the holder of the shared SIM, from the operators' subscriber data.

The link is decided automatically when the evidence is conclusive: the owner of record's own
number (subscriber data) is the SIM seen with both IMEIs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TableClause, column, func, select, table
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.bulk import insert_columns, temp_table
from ceir.citizens.models import Application, ApplicationStatus
from ceir.eir import journal
from ceir.eir.index import DeviceCode
from ceir.errors import CeirError
from ceir.network.models import (
    IDENTITY_HOLD,
    BlockPause,
    LinkStatus,
    SecondImeiCandidate,
    Subscriber,
)
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.registry.service import MAX_IMEIS_PER_DEVICE

AUTO_ACTOR = "system:second-imei"
# IMEI keys are TAC (8 digits) + serial (6): keys // 10**8 are the first six digits of the TAC.
TAC_FAMILY_DIVISOR = 100_000_000


class LinkRefused(CeirError):
    code = "second_imei_refused"
    status = 409
    title = "The second IMEI cannot be added"


@dataclass(frozen=True, slots=True)
class Sighting:
    """One unregistered IMEI seen with the same home SIM as a registered IMEI of its family."""

    imei: int
    registered_imei: int
    imsi: str
    msisdn: str | None
    seen: tuple[dt.date, dt.date]
    registered_seen: tuple[dt.date, dt.date]


def _key(value: int | str) -> str:
    return str(value).zfill(14)


def _values(db: Session, name: str, sql_type: str, values: list[Any]) -> TableClause:
    """`values` as a temporary table (column `v`) to join: tens of thousands of look-ups as one
    query each, not as IN lists of 500 (a round trip each, slow on PostgreSQL)."""
    temp_table(db.connection(), name, {"v": (sql_type, values)})
    return table(name, column("v"))


def _owner_of(db: Session, device_ids: list[int]) -> dict[int, str]:
    """The IIN of the citizen whose approved application registered each device."""
    ids = _values(db, "tmp_second_devices", "BIGINT", device_ids)
    owners: dict[int, str] = {}
    for device_id, iin in db.execute(
        select(Application.device_id, Application.iin)
        .join(ids, ids.c.v == Application.device_id)
        .where(Application.status == ApplicationStatus.APPROVED.value)
        .order_by(Application.decided_at)
    ):
        if device_id is not None:
            owners[int(device_id)] = iin
    return owners


def link_in_run(
    db: Session, sightings: list[Sighting], *, run_id: int, now: dt.datetime
) -> tuple[list[int], dict[str, int]]:
    """Record new links found by a run; confirm the conclusive ones at once.

    Returns the keys that belong to a device now (confirmed by this run or before, still in
    force), so the run can treat them as registered, and counts for the run's report.
    """
    found = 0
    automatic = 0
    if sightings:
        registered = _values(
            db, "tmp_second_keys", "BIGINT", sorted({s.registered_imei for s in sightings})
        )
        device_of = {
            int(k): int(d)
            for k, d in db.execute(
                select(DeviceImei.imei_key, DeviceImei.device_id).join(
                    registered, registered.c.v == DeviceImei.imei_key
                )
            )
        }
        owners = _owner_of(db, sorted(set(device_of.values())))
        numbers = _values(
            db,
            "tmp_second_msisdns",
            "VARCHAR(15)",
            sorted({s.msisdn for s in sightings if s.msisdn}),
        )
        holders: dict[str, str] = {
            msisdn: iin
            for msisdn, iin in db.execute(
                select(Subscriber.msisdn, Subscriber.iin).join(
                    numbers, numbers.c.v == Subscriber.msisdn
                )
            )
        }
        imeis = _values(
            db, "tmp_second_imeis", "VARCHAR(14)", sorted({_key(s.imei) for s in sightings})
        )
        known: set[tuple[str, int]] = {
            (i, int(d))
            for i, d in db.execute(
                select(SecondImeiCandidate.imei, SecondImeiCandidate.device_id).join(
                    imeis, imeis.c.v == SecondImeiCandidate.imei
                )
            )
        }
        conclusive: list[SecondImeiCandidate] = []
        pending: list[dict[str, Any]] = []
        found_now = {"status": LinkStatus.PENDING.value, "found_run": run_id, "found_at": now}
        for s in sightings:
            device_id = device_of.get(s.registered_imei)
            if device_id is None or (_key(s.imei), device_id) in known:
                continue
            known.add((_key(s.imei), device_id))
            owner = owners.get(device_id)
            holder = holders.get(s.msisdn) if s.msisdn else None
            link = {
                "imei": _key(s.imei),
                "registered_imei": _key(s.registered_imei),
                "device_id": device_id,
                "iin": owner or holder,
                "evidence": {
                    "imsi": s.imsi,
                    "msisdn": s.msisdn,
                    "seen": [d.isoformat() for d in s.seen],
                    "registered_seen": [d.isoformat() for d in s.registered_seen],
                    "rule": "same home SIM within the window; TACs share their first 6 digits",
                    "owner_iin": owner,
                    "sim_holder_iin": holder,
                },
            }
            found += 1
            if owner is not None and owner == holder:
                candidate = SecondImeiCandidate(**link, **found_now, conclusive=True)
                db.add(candidate)
                conclusive.append(candidate)
            else:
                pending.append(link)
        if pending:
            # A day of churn finds hundreds of thousands: loaded in bulk, not an object each.
            insert_columns(
                db.connection(),
                SecondImeiCandidate.__tablename__,
                {
                    **{
                        name: [link[name] for link in pending]
                        for name in ("imei", "registered_imei", "device_id", "iin")
                    },
                    "evidence": [
                        json.dumps(link["evidence"], ensure_ascii=False) for link in pending
                    ],
                    **found_now,
                    "conclusive": False,
                },
            )
        db.flush()
        for candidate in conclusive:
            try:
                add_to_device(db, candidate, actor=AUTO_ACTOR, now=now)
                automatic += 1
            except LinkRefused:
                pass  # stays pending: the owner sees why when they look
    # Keys confirmed by this run or earlier, on a device whose registration is still in force:
    # the registry mirror of the run learns only of new registrations, not of added IMEIs.
    linked = sorted(
        {
            int(key)
            for key, imei in db.execute(
                select(DeviceImei.imei_key, SecondImeiCandidate.imei)
                .join(SecondImeiCandidate, SecondImeiCandidate.device_id == DeviceImei.device_id)
                .join(Registration, Registration.device_id == DeviceImei.device_id)
                .where(
                    SecondImeiCandidate.status == LinkStatus.CONFIRMED.value,
                    Registration.revoked_at.is_(None),
                )
            )
            if _key(key) == imei
        }
    )
    return linked, {
        "second_imei_found": found,
        "second_imei_confirmed_automatically": automatic,
        "second_imei_pending": pending_count(db),
    }


def pending_count(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(SecondImeiCandidate)
            .where(SecondImeiCandidate.status == LinkStatus.PENDING.value)
        )
        or 0
    )


def add_to_device(
    db: Session, candidate: SecondImeiCandidate, *, actor: str, now: dt.datetime
) -> None:
    """The IMEI joins the device in its next slot; the real-time check answers white at once."""
    key = int(candidate.imei)
    if db.scalar(select(DeviceImei.device_id).where(DeviceImei.imei_key == key)) is not None:
        raise LinkRefused(f"IMEI {candidate.imei} already belongs to a device")
    held = select(BlockPause.id).where(
        BlockPause.imei.in_([candidate.imei, candidate.registered_imei]),
        BlockPause.reason == IDENTITY_HOLD,
        BlockPause.ended_at.is_(None),
    )
    if db.scalar(held.limit(1)) is not None:
        raise LinkRefused("the device is held while an officer checks a dispute")
    if db.get(Device, candidate.device_id) is None:
        raise LinkRefused("the registered device no longer exists")
    slots = db.scalars(
        select(DeviceImei.slot).where(DeviceImei.device_id == candidate.device_id)
    ).all()
    if len(slots) >= MAX_IMEIS_PER_DEVICE:
        raise LinkRefused(f"a device has at most {MAX_IMEIS_PER_DEVICE} IMEIs")
    db.add(DeviceImei(imei_key=key, device_id=candidate.device_id, slot=max(slots, default=0) + 1))
    candidate.status = LinkStatus.CONFIRMED.value
    candidate.decided_at = now
    candidate.decided_by = actor
    # Other devices this IMEI was linked to are out of the question now.
    for other in db.scalars(
        select(SecondImeiCandidate).where(
            SecondImeiCandidate.imei == candidate.imei,
            SecondImeiCandidate.id != candidate.id,
            SecondImeiCandidate.status == LinkStatus.PENDING.value,
        )
    ):
        other.status = LinkStatus.DISMISSED.value
        other.decided_at = now
        other.decided_by = actor
    db.flush()
    journal.record(db, [(key, DeviceCode.ALLOWED)])
    audit.record(
        db,
        actor=actor,
        action="registry.add_second_imei",
        object_type="device",
        object_id=str(candidate.device_id),
        details={
            "imei": candidate.imei,
            "registered_imei": candidate.registered_imei,
            "conclusive": candidate.conclusive,
            "candidate": candidate.id,
        },
    )

"""Registering legal devices: lookups, and registering devices one by one or in bulk."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.bulk import insert_columns
from ceir.db import utcnow
from ceir.errors import CeirError
from ceir.registry.declarations import ANALYZE_AFTER_ROWS, MAX_IMEIS_PER_DEVICE, import_declarations
from ceir.registry.models import Declaration, Device, DeviceImei, Registration, RegistrationSource


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    device_id: int
    source: RegistrationSource
    registered_at: dt.datetime
    declaration_number: str | None
    brand: str | None
    model: str | None


# Built once: building and hashing this select took ten times longer than running it in SQLite.
_REGISTRATION_IN_FORCE = (
    select(
        Device.id,
        Registration.source,
        Registration.registered_at,
        Declaration.number,
        Device.brand,
        Device.model,
    )
    .join(DeviceImei, DeviceImei.device_id == Device.id)
    .join(Registration, Registration.device_id == Device.id)
    .outerjoin(Declaration, Declaration.id == Registration.declaration_id)
    .where(DeviceImei.imei_key == bindparam("imei_key"), Registration.revoked_at.is_(None))
    .order_by(Registration.registered_at.desc())
    .limit(1)
)


def find_registration(db: Session | Connection, imei_key: str) -> RegistrationInfo | None:
    """The registration in force for the device that owns this 14-digit IMEI key, if any."""
    row = db.execute(_REGISTRATION_IN_FORCE, {"imei_key": int(imei_key)}).first()
    if row is None:
        return None
    return RegistrationInfo(row[0], RegistrationSource(row[1]), row[2], row[3], row[4], row[5])


def register_devices_bulk(
    conn: Connection,
    *,
    keys: np.ndarray,
    present: np.ndarray,
    source: RegistrationSource,
    actor: str,
    now: dt.datetime,
    brands: list[str | None] | None = None,
    models: list[str | None] | None = None,
    declaration_ids: list[int] | None = None,
    batch_id: int | None = None,
    line_nos: list[int] | None = None,
    evidence: list[dict[str, object]] | None = None,
) -> np.ndarray:
    """Create devices (rows of `keys`, IMEI slots where `present`) and register them at once.

    The caller has checked that no key is registered yet. Returns the new device ids.
    """
    count = keys.shape[0]
    if conn.dialect.name == "postgresql":
        # Ids are handed out from max(id); no other writer may do the same meanwhile.
        conn.exec_driver_sql("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
    first_id = (
        conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM devices")).scalar_one() or 0
    ) + 1
    device_ids = np.arange(first_id, first_id + count, dtype=np.int64)
    first_keys = keys[np.arange(count), present.argmax(axis=1)]
    insert_columns(
        conn,
        "devices",
        {
            "id": device_ids,
            "tac": [str(k // 1_000_000).zfill(8) for k in first_keys.tolist()],
            "brand": brands if brands is not None else None,
            "model": models if models is not None else None,
            "created_at": now,
        },
    )
    row_pos, slots = np.nonzero(present)
    imei_keys = keys[row_pos, slots]
    # In key order, the primary key's B-tree grows page by page instead of splitting pages all
    # over the tree (a declaration's IMEIs come in no particular order).
    order = np.argsort(imei_keys, kind="stable")
    insert_columns(
        conn,
        "device_imeis",
        {
            "imei_key": imei_keys[order],
            "device_id": device_ids[row_pos[order]],
            "slot": (slots[order] + 1).astype(np.int16),
        },
    )
    registration: dict[str, object] = {
        "device_id": device_ids,
        "source": source.value,
        "registered_at": now,
        "actor": actor,
        "batch_id": batch_id,
    }
    if declaration_ids is not None:
        registration["declaration_id"] = declaration_ids
    if line_nos is not None:
        registration["line_no"] = line_nos
    if evidence is not None:
        registration["evidence"] = [json.dumps(e) for e in evidence]
    insert_columns(conn, "registrations", registration)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('devices', 'id'), "
            "(SELECT COALESCE(MAX(id), 1) FROM devices))"
        )
        if count >= ANALYZE_AFTER_ROWS:
            # Fresh statistics at once: until autovacuum's, the planner would take a registry of
            # millions for an empty one and scan it where an index look-up is right.
            conn.exec_driver_sql("ANALYZE devices, device_imeis, registrations")
    return device_ids


__all__ = [
    "MAX_IMEIS_PER_DEVICE",
    "AlreadyRegistered",
    "RegistrationInfo",
    "find_registration",
    "import_declarations",
    "register_device",
    "register_devices_bulk",
]


class AlreadyRegistered(CeirError):
    code = "already_registered"
    status = 409
    title = "Already registered"


def register_device(
    db: Session,
    *,
    imei_keys: list[str],
    source: RegistrationSource,
    actor: str,
    evidence: dict[str, object],
    brand: str | None = None,
    model: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Register one device (1-4 IMEI keys) now; its real-time answer turns white at once.

    Refuses, naming the IMEI, when any key is already registered to a device.
    """
    from ceir.eir import journal
    from ceir.eir.index import DeviceCode

    keys = [int(k) for k in imei_keys]
    taken = db.scalars(select(DeviceImei.imei_key).where(DeviceImei.imei_key.in_(keys))).all()
    if taken:
        raise AlreadyRegistered(f"IMEI {str(taken[0]).zfill(14)} is already registered")
    device_ids = register_devices_bulk(
        db.connection(),
        keys=np.array([keys], dtype=np.int64),
        present=np.ones((1, len(keys)), dtype=bool),
        source=source,
        actor=actor,
        now=now or utcnow(),
        brands=[brand],
        models=[model],
        evidence=[evidence],
    )
    journal.record(db, [(key, DeviceCode.ALLOWED) for key in keys])
    audit.record(
        db,
        actor=actor,
        action="registry.register",
        object_type="device",
        object_id=str(int(device_ids[0])),
        details={"source": source.value, "imeis": [str(k).zfill(14) for k in keys]},
    )
    return int(device_ids[0])

"""Tables of network enforcement kept in the relational database (the bulk lives in DuckDB)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime

# Big tables get SQLite's rowid alias as their key.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class DeviceStateName(enum.StrEnum):
    """Where a non-compliant device stands; compliant devices have no state row at all."""

    NOTIFIED = "notified"  # the subscriber was told; blocked on block_date unless resolved
    BLOCKED = "blocked"  # on the block list of every operator


class OperatorImport(Base):
    """One operator dump offered to ceir: loaded, or refused with the reasons."""

    __tablename__ = "operator_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator: Mapped[str] = mapped_column(String(16), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    # loaded | refused | dismissed (set aside with a held run a supervisor refused)
    status: Mapped[str] = mapped_column(String(16))
    rows_total: Mapped[int] = mapped_column(Integer)
    distinct_imeis: Mapped[int] = mapped_column(Integer)
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # run that classified it


class Subscriber(Base):
    """Who holds a number, as the operators report it: the ground of the citizens' sign-in."""

    __tablename__ = "subscribers"

    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), index=True)
    operator: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DeviceState(Base):
    """A non-compliant device: notified with a block date, or blocked."""

    __tablename__ = "device_states"

    # The 14-digit registry key, or the reported value upper-cased when it is not an IMEI.
    imei: Mapped[str] = mapped_column(String(20), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reasons: Mapped[str] = mapped_column(String(128))  # condition codes joined by "|"
    first_noncompliant: Mapped[dt.date] = mapped_column(Date)
    block_date: Mapped[dt.date] = mapped_column(Date)
    blocked_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    updated_run: Mapped[int] = mapped_column(Integer)


class DeviceNumber(Base):
    """A number a non-compliant device was seen with when its state was set: where its notice went.

    An appeal is decided automatically only for a person whose own number is here, so that no
    one can take over another subscriber's notified phone with a trip of their own.
    """

    __tablename__ = "device_numbers"

    imei: Mapped[str] = mapped_column(String(20), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(15), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)


class DeviceStateChange(Base):
    """Every transition a classification run decides: the audit trail of automatic decisions."""

    __tablename__ = "device_state_changes"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    imei: Mapped[str] = mapped_column(String(20), index=True)
    old_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    new_state: Mapped[str] = mapped_column(String(16))  # notified | blocked | allowed
    reasons: Mapped[str] = mapped_column(String(128))
    on_date: Mapped[dt.date] = mapped_column(Date, index=True)  # open data counts by month


class ClassificationRun(Base):
    __tablename__ = "classification_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_date: Mapped[dt.date] = mapped_column(Date, index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A run the safety brake held (never finished, nothing on the lists) says why; a supervisor's
    # confirmation runs the day again under the same id with the brake lifted.
    held_reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Or a supervisor refuses it (a damaged file): it never runs, and the days go on without it.
    dismissed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dismissed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismissed_reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class ListFile(Base):
    """A list file made for one operator by one run (block, notification, exception; full/delta)."""

    __tablename__ = "list_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    operator: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # block | notification | exception | manifest
    variant: Mapped[str] = mapped_column(String(16))  # full | delta | manifest | signature
    rows: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class StolenDevice(Base):
    """A device reported lost or stolen: blocked on every network while the report stands."""

    __tablename__ = "stolen_devices"

    imei: Mapped[str] = mapped_column(String(14), primary_key=True)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(32))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# The reason of a BlockPause that holds a device while an officer checks a dispute of identity
# use: no block, and no automatic act on it (ceir.citizens.identity_disputes).
IDENTITY_HOLD = "identity_dispute"


class BlockPause(Base):
    """An open appeal (or another reason) that holds a device's block until it is decided."""

    __tablename__ = "block_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(14), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeviceFlag(Base):
    """An informative condition a run found (a cloned IMEI), shown to buyers and partners."""

    __tablename__ = "device_flags"

    imei: Mapped[str] = mapped_column(String(20), primary_key=True)
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. duplicate
    since: Mapped[dt.date] = mapped_column(Date)
    run_id: Mapped[int] = mapped_column(Integer)


class LinkStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the owner's tap
    CONFIRMED = "confirmed"  # the IMEI was added to the device
    DISMISSED = "dismissed"  # "not my device", or the IMEI went elsewhere meanwhile


class SecondImeiCandidate(Base):
    """An unregistered IMEI that looks like another IMEI of a registered device."""

    __tablename__ = "second_imei_candidates"
    __table_args__ = (
        Index("ix_second_imei_candidates_imei_device", "imei", "device_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(14), index=True)  # the unregistered registry key
    registered_imei: Mapped[str] = mapped_column(String(14))  # the device's IMEI seen with it
    device_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # Who may confirm: the owner of record, else the holder of the shared SIM (None: nobody yet).
    iin: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    conclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    # The shared SIM, the days each IMEI was seen with it, the owner and the SIM holder found.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    found_run: Mapped[int] = mapped_column(Integer)
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

"""Tables of the registry: devices, their IMEIs, registrations, declarations and import batches."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import text

from ceir.db import Base, UTCDateTime

# SQLite only makes a column the fast rowid alias when it is spelled exactly INTEGER PRIMARY KEY.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class RegistrationSource(enum.StrEnum):
    IMPORTER_DECLARATION = "importer_declaration"
    CUSTOMS = "customs"
    PERSONAL_IMPORT = "personal_import"
    APPEAL = "appeal"
    AMNESTY = "amnesty"


class Declaration(Base):
    """A customs declaration of an importer (BIN) under which devices entered the country."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    declared_on: Mapped[dt.date] = mapped_column(Date)
    importer_bin: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Device(Base):
    """A physical device; it has one to four IMEIs (DeviceImei)."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    tac: Mapped[str] = mapped_column(String(8), index=True)
    brand: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DeviceImei(Base):
    """An IMEI's 14-digit registry key (TAC + serial, an integer) and the device it belongs to."""

    __tablename__ = "device_imeis"

    imei_key: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=False)
    # devices.id, without a foreign key (as registrations.device_id): PostgreSQL checks one row
    # by row, and that was 40 % of a bulk import. Only the registry service writes these rows,
    # always with their device in the same transaction, and devices are never deleted.
    device_id: Mapped[int] = mapped_column(BigInteger, index=True)
    slot: Mapped[int] = mapped_column(SmallInteger)


class Registration(Base):
    """Why a device is legal: the source, who registered it, when, and the evidence."""

    __tablename__ = "registrations"
    __table_args__ = (
        # Covering: a bulk check finds a million keys' registrations in force from the index
        # alone, without a look-up of each (wide) row.
        Index("ix_registrations_device_id", "device_id", "revoked_at", "source", "registered_at"),
        # Revocations are rare; the real-time mirror asks for the recent ones after every run.
        Index(
            "ix_registrations_revoked_at",
            "revoked_at",
            sqlite_where=text("revoked_at IS NOT NULL"),
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    device_id: Mapped[int] = mapped_column(BigInteger)  # devices.id; see DeviceImei.device_id
    source: Mapped[str] = mapped_column(String(32))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    # No foreign keys on the two provenance columns: PostgreSQL checks a foreign key row by row,
    # which doubled the time of a million-device import; the import that writes them also
    # creates the rows they point to, in the same transaction.
    declaration_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    line_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

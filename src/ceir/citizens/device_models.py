"""Tables of citizens' own devices: lost and stolen reports, and hand-overs to a new owner."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class ReportKind(enum.StrEnum):
    LOST = "lost"
    STOLEN = "stolen"  # needs the number of the police report


class DeviceReport(Base):
    """A report that a device is lost or stolen, by its owner or by the police, and its end.

    `stolen_devices` (one row per IMEI, read by classification and the real-time index) says what
    is blocked now; this table keeps who reported what, who confirmed it and when it ended.
    """

    __tablename__ = "device_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    imei: Mapped[str] = mapped_column(String(14), index=True)  # the first key, as reported
    imeis: Mapped[list[str]] = mapped_column(JSON)  # every key the report blocks
    device_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    police_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    owner_iin: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    reported_by: Mapped[str] = mapped_column(String(128))  # citizen:<iin> | officer:<username>
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    confirmed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OwnershipTransfer(Base):
    """A registered owner's hand-over of a device to a buyer, who confirms with an SMS code.

    Confirmed rows are the history of ownership: the newest one names the device's owner.
    """

    __tablename__ = "ownership_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(BigInteger, index=True)
    from_iin: Mapped[str] = mapped_column(String(12), index=True)
    to_iin: Mapped[str] = mapped_column(String(12), index=True)
    initiated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The buyer's code: only its HMAC, like the sign-in codes; the number it went to, if any.
    code_hash: Mapped[str] = mapped_column(String(64))
    code_msisdn: Mapped[str | None] = mapped_column(String(15), nullable=True)
    code_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    code_attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    language: Mapped[str] = mapped_column(String(2))

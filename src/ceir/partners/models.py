"""Tables of the partners' side: bulk check jobs, per-key daily usage, sale records, fees."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class CheckJob(Base):
    """A large bulk check (up to a million IMEIs) run in the background."""

    __tablename__ = "check_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random: not guessable
    owner: Mapped[str] = mapped_column(String(64), index=True)  # the partner (API key owner)
    key_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiKeyUsage(Base):
    """Requests and IMEIs checked per key and day: the daily quota and the usage statistics."""

    __tablename__ = "api_key_usage"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    imeis: Mapped[int] = mapped_column(Integer, default=0)


class Sale(Base):
    """A seller's record that a checked device was sold: proof of origin for the buyer."""

    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imei: Mapped[str] = mapped_column(String(14), index=True)
    owner: Mapped[str] = mapped_column(String(64))  # the seller (API key owner)
    sold_on: Mapped[dt.date] = mapped_column(Date)
    receipt_number: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class FeeEntry(Base):
    """One declarations file of a partner: the devices it registered and the fee they cost."""

    __tablename__ = "fee_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(64), index=True)  # the API key's owner
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, Asia/Almaty
    batch_id: Mapped[int] = mapped_column(Integer, index=True)  # import_batches.id
    filename: Mapped[str] = mapped_column(String(512))
    devices: Mapped[int] = mapped_column(Integer)
    fee_per_device: Mapped[int] = mapped_column(Integer)  # tenge
    amount: Mapped[int] = mapped_column(Integer)  # tenge
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

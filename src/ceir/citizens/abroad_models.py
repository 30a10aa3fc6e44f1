"""The table of purchases citizens declare abroad, before they bring the device home."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class DeclarationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the trip home and the device's first sighting
    REGISTERED = "registered"  # registered automatically on that sighting
    NEEDS_REVIEW = "needs_review"  # matched, but the yearly allowance was used up: an officer's
    EXPIRED = "expired"  # never matched in time
    WITHDRAWN = "withdrawn"  # by the citizen, while pending


class PurchaseDeclaration(Base):
    """A device bought abroad, declared by its buyer with the shop's receipt."""

    __tablename__ = "purchase_declarations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)  # random, as applications'
    iin: Mapped[str] = mapped_column(String(12), index=True)
    msisdn: Mapped[str] = mapped_column(String(15))
    imei: Mapped[str] = mapped_column(String(14), index=True)  # the registry key
    shop: Mapped[str] = mapped_column(String(128))
    purchased_on: Mapped[dt.date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The receipt photo: stored like every document, under its random id (the file name).
    receipt_id: Mapped[str] = mapped_column(String(32))
    receipt_filename: Mapped[str] = mapped_column(String(256))
    receipt_type: Mapped[str] = mapped_column(String(64))
    receipt_size: Mapped[int] = mapped_column(Integer)
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    expires_on: Mapped[dt.date] = mapped_column(Date)  # pending past this day: expired
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The personal import it became (registered automatically, or waiting for an officer).
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

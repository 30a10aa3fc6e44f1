"""The journal of single changes the real-time index applies between snapshots."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class EirJournalEntry(Base):
    """One device whose real-time answer changed outside a classification run."""

    __tablename__ = "eir_journal"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    imei_key: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[int] = mapped_column(SmallInteger)  # ceir.eir.index.DeviceCode
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

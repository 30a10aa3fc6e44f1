"""The border crossings table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class BorderCrossing(Base):
    """One crossing of Kazakhstan's border by a person (identified by IIN)."""

    __tablename__ = "border_crossings"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the border service's id
    iin: Mapped[str] = mapped_column(String(12), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # exit | entry
    crossed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    checkpoint: Mapped[str] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)  # ISO 3166 alpha-2
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

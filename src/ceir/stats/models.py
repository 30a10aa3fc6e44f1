"""The one table statistics keep of their own: public checks counted per day and verdict."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base


class CheckCount(Base):
    """How many public checks (page and API) gave each verdict on a day in Asia/Almaty.

    Deliberately nothing else: no IMEI, no client, no time of day.
    """

    __tablename__ = "check_counts"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

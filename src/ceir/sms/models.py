"""The SMS table: every message ceir sends (the outbox), whatever the gateway."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class SmsMessage(Base):
    """Every SMS ceir sends (the outbox), whatever the gateway."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(15), index=True)
    text: Mapped[str] = mapped_column(String(1024))
    purpose: Mapped[str] = mapped_column(String(32))  # sign_in | decision | ...
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    gateway: Mapped[str] = mapped_column(String(16))  # outbox | smpp
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)

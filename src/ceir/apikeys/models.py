"""The API key table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class ApiKey(Base):
    """A key is `ceir_<key_id>_<secret>`; only the SHA-256 of the secret is kept.

    The secret is 32 random bytes, so a fast hash is enough: there is nothing to guess by brute
    force, unlike a human password.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    owner_kind: Mapped[str] = mapped_column(String(16))  # operator | partner
    owner: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[str] = mapped_column(String(256))  # space-separated
    label: Mapped[str] = mapped_column(String(128))
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

"""Tables of identity use: every act done with an IIN, the "not me" links texted about it."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class ActKind(enum.StrEnum):
    """What an IIN was used for; each is reversible by a dispute."""

    PERSONAL_IMPORT = "personal_import"  # filed a personal-import registration
    APPEAL = "appeal"  # filed an appeal against a block
    TRANSFER = "transfer"  # handed a device over to another IIN
    STOLEN_REPORT = "stolen_report"  # reported an own device lost or stolen
    SECOND_IMEI = "second_imei"  # confirmed a second IMEI of an own device


class ActStatus(enum.StrEnum):
    DONE = "done"  # as done; its links may dispute it
    DISPUTED = "disputed"  # reversed and held, waiting for an officer
    UPHELD = "upheld"  # an officer agreed it was not the IIN's holder: stays reversed
    REJECTED = "rejected"  # an officer found the act genuine: restored


class IdentityAct(Base):
    """One act done with an IIN: what it was, on which device, what stood before, its dispute."""

    __tablename__ = "identity_acts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    iin: Mapped[str] = mapped_column(String(12), index=True)
    msisdn: Mapped[str | None] = mapped_column(String(15), nullable=True)  # signed in with
    # The act's own record: application public id, hand-over id, report id, second-IMEI link id.
    reference: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    imeis: Mapped[list[str]] = mapped_column(JSON)  # 14-digit keys of the device
    device_name: Mapped[str] = mapped_column(String(256))  # as the SMS named it
    before: Mapped[dict[str, Any]] = mapped_column(JSON)  # the device before the act
    done_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    numbers_told: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The dispute: from which number and client, and what it reversed (so a rejection restores).
    disputed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disputed_by: Mapped[str | None] = mapped_column(String(15), nullable=True)
    dispute_client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    undone: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class ActLink(Base):
    """A single-use "this was not me" link texted to one number of the IIN: only its hash."""

    __tablename__ = "identity_act_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    act_id: Mapped[int] = mapped_column(
        ForeignKey("identity_acts.id", ondelete="CASCADE"), index=True
    )
    msisdn: Mapped[str] = mapped_column(String(15))
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

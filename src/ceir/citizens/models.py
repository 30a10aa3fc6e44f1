"""Tables of the citizens' side: sign-in codes and sessions, SMS outbox, applications, documents."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ceir.db import Base, UTCDateTime


class ApplicationKind(enum.StrEnum):
    PERSONAL_IMPORT = "personal_import"  # register a phone brought in personally
    APPEAL = "appeal"  # unblock a notified or blocked phone


class ApplicationStatus(enum.StrEnum):
    IN_REVIEW = "in_review"  # waiting for an officer
    APPROVED = "approved"  # registered (and unblocked)
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class SignInCode(Base):
    """A one-time code sent by SMS; only its hash is kept."""

    __tablename__ = "sign_in_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), index=True)
    msisdn: Mapped[str] = mapped_column(String(15), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    client: Mapped[str] = mapped_column(String(64))  # IP address that asked for it


class CitizenSession(Base):
    """A signed-in citizen; the cookie holds a random token, the table only its hash."""

    __tablename__ = "citizen_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), index=True)
    msisdn: Mapped[str] = mapped_column(String(15))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Application(Base):
    """A citizen's personal-import registration or unblocking appeal, and its outcome."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the citizen sees and types: random, so ids cannot be guessed or counted.
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    iin: Mapped[str] = mapped_column(String(12), index=True)
    msisdn: Mapped[str] = mapped_column(String(15))
    imei1: Mapped[str] = mapped_column(String(14), index=True)  # registry keys
    imei2: Mapped[str | None] = mapped_column(String(14), nullable=True)
    brand: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    travel_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    entered_on: Mapped[dt.date] = mapped_column(Date)  # the day they came back with the device
    language: Mapped[str] = mapped_column(String(2))
    # What the automatic check found: matched crossings, or why it did not match; TAC warnings.
    auto_check: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # template
    decision_note: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    assigned_to: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    device_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    # The day (Asia/Almaty) by which an officer decides it; later, it is overdue.
    deadline: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)


class ApplicationEvent(Base):
    """The history a citizen sees: every change of an application, by whom and why."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class Document(Base):
    """An uploaded document, stored outside the web root under its random id."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex; the file name
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # boarding_pass | receipt | other
    filename: Mapped[str] = mapped_column(String(256))  # as uploaded, shown to officers only
    content_type: Mapped[str] = mapped_column(String(64))  # found from the content
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PendingDocument(Base):
    """A document attached to a form that is not sent yet: kept across a mistake or a sign-in.

    Tied to the citizen (IIN), not to the session, so that signing in again after the session
    ran out still finds it; one per kind of document; gone once the form is sent, the citizen
    removes it or signs out, or it is older than `citizens.pending_document_hours`.
    """

    __tablename__ = "pending_documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex; the file name
    iin: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # boarding_pass | receipt
    filename: Mapped[str] = mapped_column(String(256))
    content_type: Mapped[str] = mapped_column(String(64))  # found from the content
    size: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)

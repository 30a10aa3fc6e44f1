"""Sending an SMS: every message is recorded in `sms_messages`, whatever the gateway."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from ceir.config import Settings, get_settings
from ceir.db import session_factory, utcnow
from ceir.sms.gateway import Gateway, make_gateway
from ceir.sms.models import SmsMessage

log = logging.getLogger(__name__)

MAX_TEXT = 1024
_PENDING = "ceir_sms_pending"

# Tests replace this to deliver in the calling thread instead of a new one.
run_later: Callable[[Callable[[], None]], None] = lambda job: threading.Thread(  # noqa: E731
    target=job, daemon=True, name="sms-delivery"
).start()


def send(
    db: Session,
    msisdn: str,
    text: str,
    *,
    purpose: str,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> SmsMessage:
    """Record a message and send it.

    The outbox "sends" at once, inside the caller's transaction. A network gateway (SMPP) sends
    only after that transaction commits, in a background thread: a rolled-back change never
    texts anyone, and the caller's answer does not wait for, or time, the SMSC.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    gateway = make_gateway(settings.sms)
    message = SmsMessage(
        msisdn=msisdn,
        text=text[:MAX_TEXT],
        purpose=purpose,
        created_at=now,
        gateway=gateway.name,
        sent_at=now if gateway.name == "outbox" else None,
    )
    db.add(message)
    db.flush()
    if gateway.name != "outbox":
        _after_commit(db, message.id, settings)
    return message


def _after_commit(db: Session, message_id: int, settings: Settings) -> None:
    pending: list[int] | None = db.info.get(_PENDING)
    if pending is None:
        pending = db.info[_PENDING] = []
        engine = db.get_bind()

        def committed(session: Session) -> None:
            ids = list(session.info.pop(_PENDING, []))
            event.remove(session, "after_commit", committed)
            event.remove(session, "after_rollback", rolled_back)
            if ids and isinstance(engine, Engine):
                bound = engine

                def job() -> None:
                    deliver(bound, ids, settings)

                run_later(job)

        def rolled_back(session: Session) -> None:
            session.info.pop(_PENDING, None)
            event.remove(session, "after_commit", committed)
            event.remove(session, "after_rollback", rolled_back)

        event.listen(db, "after_commit", committed)
        event.listen(db, "after_rollback", rolled_back)
    pending.append(message_id)


def deliver(
    engine: Engine, ids: list[int], settings: Settings, gateway: Gateway | None = None
) -> int:
    """Hand recorded messages to the gateway; marks each sent or notes its error. Returns sent."""
    gateway = gateway or make_gateway(settings.sms)
    sent = 0
    with session_factory(engine)() as db:
        for message in db.scalars(select(SmsMessage).where(SmsMessage.id.in_(ids))):
            if message.sent_at is not None:
                continue
            try:
                gateway.submit(message.msisdn, message.text)
            except Exception as exc:  # any gateway failure is kept on the message, not raised
                log.warning("SMS %s to the gateway failed: %s", message.id, exc)
                message.error = str(exc)[:256]
            else:
                message.sent_at = utcnow()
                message.error = None
                sent += 1
            db.commit()
    return sent


def unsent(db: Session, limit: int = 1000) -> list[int]:
    """Messages still to send (the SMSC was down): `ceir sms retry` sends them again."""
    return list(
        db.scalars(
            select(SmsMessage.id)
            .where(SmsMessage.sent_at.is_(None))
            .order_by(SmsMessage.id)
            .limit(limit)
        )
    )


def latest(db: Session, *, limit: int = 20, msisdn: str | None = None) -> list[SmsMessage]:
    """The newest messages first, for the developer's outbox and for tests."""
    query = select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)
    if msisdn:
        query = query.where(SmsMessage.msisdn == msisdn)
    return list(db.scalars(query))

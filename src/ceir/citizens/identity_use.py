"""Telling the person whose identity is used: every act done with an IIN is texted to every number
the operators tie to that IIN, with a single-use "this was not me" link.

A stolen or misused identity document usually comes with a SIM registered to it: the acting number
may be the impostor's, so the message goes to *every* number of the IIN in the subscriber data, the
acting one included. Each number gets its own link; the table keeps only the SHA-256 of its 128
random bits, so a leaked table disputes nothing. The device is named as its owner would know it:
the brand and model GSMA gives for its TAC and the last four digits of the IMEI (what `*#06#`
shows), never the whole IMEI, which a forwarded or overlooked SMS would otherwise hand out.

This module only records and tells; undoing an act on a dispute is `identity_disputes`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.citizens.identity_models import ActKind, ActLink, ActStatus, IdentityAct
from ceir.config import Settings, get_settings
from ceir.i18n import gettext, normalise_language
from ceir.network.models import (
    IDENTITY_HOLD,
    BlockPause,
    DeviceState,
    StolenDevice,
    Subscriber,
)
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.sms import service as sms
from ceir.tac.service import lookup as tac_lookup

ALMATY = ZoneInfo("Asia/Almaty")
LINK_PATH = "/citizen/n/"
TOKEN_BYTES = 16  # 128 bits: not to be guessed in the life of a link
HOLD_REASON = IDENTITY_HOLD  # the BlockPause that holds a disputed device


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


ACTS: dict[str, str] = {
    ActKind.PERSONAL_IMPORT: N_("register a phone brought from abroad"),
    ActKind.APPEAL: N_("appeal the block of a phone"),
    ActKind.TRANSFER: N_("hand a phone over to another owner"),
    ActKind.STOLEN_REPORT: N_("report a phone lost or stolen"),
    ActKind.SECOND_IMEI: N_("add a second IMEI to a phone"),
}
SMS_ACT = N_(
    "ceir: your IIN was used to %(act)s: %(device)s, %(when)s. If it was not you: %(link)s"
)
DEVICE_WITH_NAME = N_("%(name)s, IMEI ending %(last4)s")
DEVICE_WITHOUT_NAME = N_("IMEI ending %(last4)s")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def last4(key: str) -> str:
    """The last four digits of the 15-digit IMEI, as the phone itself shows it."""
    return (key + str(identifiers.luhn_check_digit(key)))[-4:] if key.isdigit() else key[-4:]


def device_name(db: Session, keys: list[str], device_id: int | None) -> str:
    """Brand and model as GSMA gives them for the TAC; else as registered; else nothing."""
    found = tac_lookup(db, keys[0][:8]) if keys else None
    if found is not None:
        model = found.marketing_name or found.model
        if model and found.brand and not model.lower().startswith(found.brand.lower()):
            return f"{found.brand} {model}"[:256]
        return (model or found.brand or "")[:256]
    device = db.get(Device, device_id) if device_id is not None else None
    if device is not None:
        return " ".join(p for p in (device.brand, device.model) if p)[:256]
    return ""


def act_text(act: IdentityAct, lang: str) -> str:
    """What the IIN was used to do, in words that follow "used to"."""
    return gettext(lang, ACTS[ActKind(act.kind)])


def describe_device(act: IdentityAct, lang: str) -> str:
    tail = last4(act.imeis[0]) if act.imeis else ""
    if act.device_name:
        return gettext(lang, DEVICE_WITH_NAME, name=act.device_name, last4=tail)
    return gettext(lang, DEVICE_WITHOUT_NAME, last4=tail)


def device_snapshot(db: Session, keys: list[str], device_id: int | None) -> dict[str, Any]:
    """The device as it stands now (taken just before an act): what a dispute puts back."""
    registered = False
    if keys:
        registered = (
            db.scalar(
                select(DeviceImei.device_id)
                .join(Registration, Registration.device_id == DeviceImei.device_id)
                .where(
                    DeviceImei.imei_key.in_([int(k) for k in keys if k.isdigit()]),
                    Registration.revoked_at.is_(None),
                )
                .limit(1)
            )
            is not None
        )
    states = {
        row.imei: row.state
        for row in db.scalars(select(DeviceState).where(DeviceState.imei.in_(keys)))
    }
    stolen = list(
        db.scalars(
            select(StolenDevice.imei).where(
                StolenDevice.imei.in_(keys), StolenDevice.cancelled_at.is_(None)
            )
        )
    )
    paused = list(
        db.scalars(
            select(BlockPause.imei).where(BlockPause.imei.in_(keys), BlockPause.ended_at.is_(None))
        )
    )
    return {
        "device_id": device_id,
        "imeis": list(keys),
        "registered": registered,
        "states": states,
        "stolen": sorted(set(stolen)),
        "paused": sorted(set(paused)),
    }


def numbers_of(db: Session, iin: str) -> list[Subscriber]:
    """Every number the operators tie to the IIN (the same data sign-in trusts)."""
    return list(
        db.scalars(select(Subscriber).where(Subscriber.iin == iin).order_by(Subscriber.msisdn))
    )


def held(db: Session, keys: list[str]) -> bool:
    """Whether a dispute holds any of these IMEIs (no automatic act on them meanwhile)."""
    if not keys:
        return False
    return (
        db.scalar(
            select(BlockPause.id)
            .where(
                BlockPause.imei.in_(keys),
                BlockPause.reason == HOLD_REASON,
                BlockPause.ended_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def record_act(
    db: Session,
    kind: ActKind,
    *,
    iin: str,
    msisdn: str | None,
    reference: str,
    keys: list[str],
    device_id: int | None,
    before: dict[str, Any],
    language: str,
    now: dt.datetime,
    settings: Settings | None = None,
) -> IdentityAct:
    """Record an act done with `iin` and text every number of that IIN about it, with a link."""
    settings = settings or get_settings()
    act = IdentityAct(
        kind=kind.value,
        iin=iin,
        msisdn=msisdn,
        reference=reference[:64],
        device_id=device_id,
        imeis=list(keys),
        device_name=device_name(db, keys, device_id),
        before=before,
        done_at=now,
        numbers_told=0,
        status=ActStatus.DONE.value,
    )
    db.add(act)
    db.flush()
    base = settings.citizens.public_url.rstrip("/")
    expires = now + dt.timedelta(days=settings.citizens.dispute_link_days)
    when = now.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M")
    told = []
    for number in numbers_of(db, iin):
        lang = normalise_language(number.language) or normalise_language(language) or "ru"
        token = secrets.token_urlsafe(TOKEN_BYTES)
        db.add(
            ActLink(
                token_hash=token_hash(token),
                act_id=act.id,
                msisdn=number.msisdn,
                language=lang,
                created_at=now,
                expires_at=expires,
            )
        )
        text = gettext(
            lang,
            SMS_ACT,
            act=act_text(act, lang),
            device=describe_device(act, lang),
            when=when,
            link=f"{base}{LINK_PATH}{token}",
        )
        sms.send(db, number.msisdn, text, purpose="identity_use", settings=settings, now=now)
        told.append(number.msisdn)
    act.numbers_told = len(told)
    audit.record(
        db,
        actor=f"citizen:{iin}",
        action="identity.act",
        object_type="identity_act",
        object_id=str(act.id),
        details={
            "kind": act.kind,
            "reference": act.reference,
            "imeis": list(keys),
            "device": device_id,
            "acting_number": msisdn,
            "numbers_told": told,
        },
    )
    db.flush()
    return act

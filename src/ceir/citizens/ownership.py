"""Whose a registered device is, the devices a citizen owns, and handing one over to a buyer.

A device is a citizen's when it is registered (not revoked) and either the newest confirmed
hand-over names them as the buyer or, with no hand-over, its registration names their IIN: the
citizens' registrations (personal import, appeal) record `evidence.iin`, and the approved
application that made it carries the IIN too. The owner hands a device over by the buyer's IIN;
the buyer gets a code by SMS on a number the operators tie to that IIN and tells it to the owner,
who enters it: only then is the device the buyer's. The code is kept as an HMAC under the same
server secret as the sign-in codes, expires and survives a few wrong entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit import service as audit
from ceir.citizens import identity_use
from ceir.citizens.auth import CODE_DIGITS, server_secret, spend_attempt
from ceir.citizens.device_models import DeviceReport, OwnershipTransfer
from ceir.citizens.identity_models import ActKind
from ceir.citizens.models import Application, ApplicationStatus
from ceir.citizens.service import Applicant
from ceir.config import Settings
from ceir.errors import CeirError, NotFound
from ceir.i18n import gettext
from ceir.network.models import Subscriber
from ceir.ratelimit import RateLimited
from ceir.registry.models import Device, DeviceImei, Registration
from ceir.sms import service as sms


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


REFUSALS: dict[str, str] = {
    "invalid_iin": N_("Check the buyer's IIN: 12 digits."),
    "same_iin": N_("That is your own IIN; give the buyer's."),
    "reported": N_("The device is reported lost or stolen; cancel the report first."),
    "transfer_pending": N_("A hand-over of this device is already waiting for the buyer's code."),
    "held": N_(
        "This device is held while an officer checks a report that an act on it was not its "
        "owner's."
    ),
}
SMS_TRANSFER_CODE = N_(
    "ceir: the owner of the phone with IMEI %(imei)s is handing it over to you. If you are buying "
    "it, tell them the code %(code)s (valid %(minutes)s min). If not, ignore this message."
)
SMS_TRANSFER_DONE_SELLER = N_(
    "ceir: the phone with IMEI %(imei)s is now registered to its new owner, not to you."
)
SMS_TRANSFER_DONE_BUYER = N_("ceir: the phone with IMEI %(imei)s is now registered to you.")


class TransferRefused(CeirError):
    """A hand-over not started: `reason` is a key of REFUSALS."""

    code = "transfer_refused"
    status = 422
    title = "Hand-over refused"

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSALS[reason])
        self.reason = reason
        self.extra = {"reason": reason}


@dataclass(frozen=True, slots=True)
class OwnedDevice:
    """A device as its owner sees it on "My devices"."""

    id: int
    brand: str | None
    model: str | None
    imeis: list[str]  # 15 digits with the check digit, in slot order
    keys: list[str]  # 14-digit registry keys
    report: DeviceReport | None  # the report that blocks it now, if any
    transfer: OwnershipTransfer | None  # a hand-over waiting for the buyer's code, if any


def imei15(key: str) -> str:
    return key + str(identifiers.luhn_check_digit(key))


def keys_of(db: Session, device_id: int) -> list[str]:
    rows = db.scalars(
        select(DeviceImei.imei_key)
        .where(DeviceImei.device_id == device_id)
        .order_by(DeviceImei.slot)
    )
    return [str(key).zfill(14) for key in rows]


def owner_of(db: Session, device_id: int) -> str | None:
    """The IIN of the device's owner, or None: not registered, or not registered to a person."""
    registrations = db.scalars(
        select(Registration)
        .where(Registration.device_id == device_id, Registration.revoked_at.is_(None))
        .order_by(Registration.registered_at.desc(), Registration.id.desc())
    ).all()
    if not registrations:
        return None
    buyer = db.scalar(
        select(OwnershipTransfer.to_iin)
        .where(
            OwnershipTransfer.device_id == device_id,
            OwnershipTransfer.confirmed_at.is_not(None),
            # A hand-over reversed on a dispute of identity use no longer counts.
            OwnershipTransfer.cancelled_at.is_(None),
        )
        .order_by(OwnershipTransfer.confirmed_at.desc(), OwnershipTransfer.id.desc())
        .limit(1)
    )
    if buyer is not None:
        return buyer
    for registration in registrations:
        named = (registration.evidence or {}).get("iin")
        if isinstance(named, str) and named:
            return named
    return db.scalar(
        select(Application.iin)
        .where(
            Application.device_id == device_id,
            Application.status == ApplicationStatus.APPROVED,
        )
        .order_by(Application.decided_at.desc())
        .limit(1)
    )


def owned_device_id(db: Session, iin: str, device_id: int) -> int:
    """The device when it is this citizen's; anyone else's answers exactly like none at all."""
    if owner_of(db, device_id) != iin:
        raise NotFound("No such device.")
    return device_id


def active_report(db: Session, device_id: int) -> DeviceReport | None:
    return db.scalar(
        select(DeviceReport)
        .where(DeviceReport.device_id == device_id, DeviceReport.cancelled_at.is_(None))
        .order_by(DeviceReport.id.desc())
        .limit(1)
    )


def pending_transfer(db: Session, device_id: int) -> OwnershipTransfer | None:
    return db.scalar(
        select(OwnershipTransfer)
        .where(
            OwnershipTransfer.device_id == device_id,
            OwnershipTransfer.confirmed_at.is_(None),
            OwnershipTransfer.cancelled_at.is_(None),
        )
        .order_by(OwnershipTransfer.id.desc())
        .limit(1)
    )


def devices_of(db: Session, iin: str) -> list[OwnedDevice]:
    """The devices registered to this citizen now, newest first.

    Candidates come from the indexed columns that name the IIN (their approved applications,
    hand-overs to them); `owner_of` then keeps those still theirs.
    """
    from_applications = select(Application.device_id).where(
        Application.iin == iin,
        Application.status == ApplicationStatus.APPROVED,
        Application.device_id.is_not(None),
    )
    from_transfers = select(OwnershipTransfer.device_id).where(
        OwnershipTransfer.to_iin == iin,
        OwnershipTransfer.confirmed_at.is_not(None),
        OwnershipTransfer.cancelled_at.is_(None),
    )
    candidates = sorted(
        {int(i) for i in db.scalars(from_applications.union(from_transfers)) if i is not None},
        reverse=True,
    )
    owned = []
    for device_id in candidates:
        if owner_of(db, device_id) != iin:
            continue
        device = db.get(Device, device_id)
        keys = keys_of(db, device_id)
        owned.append(
            OwnedDevice(
                id=device_id,
                brand=device.brand if device else None,
                model=device.model if device else None,
                imeis=[imei15(k) for k in keys],
                keys=keys,
                report=active_report(db, device_id),
                transfer=pending_transfer(db, device_id),
            )
        )
    return owned


# --- hand-over ----------------------------------------------------------------------------------


def _code_hash(secret: bytes, transfer_id: int, to_iin: str, code: str) -> str:
    message = f"transfer:{transfer_id}:{to_iin}:{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _buyer_number(db: Session, iin: str) -> Subscriber | None:
    """The number the operators most recently tied to the buyer's IIN."""
    return db.scalar(
        select(Subscriber)
        .where(Subscriber.iin == iin)
        .order_by(Subscriber.updated_at.desc(), Subscriber.msisdn)
        .limit(1)
    )


def _check_rate(db: Session, column: object, value: str, limit: int, now: dt.datetime) -> None:
    hour_ago = now - dt.timedelta(hours=1)
    count, oldest = db.execute(
        select(func.count(), func.min(OwnershipTransfer.initiated_at)).where(
            column == value,  # type: ignore[arg-type]
            OwnershipTransfer.initiated_at > hour_ago,
        )
    ).one()
    if count >= limit:
        wait = (oldest + dt.timedelta(hours=1) - now).total_seconds() if oldest else 3600
        raise RateLimited(max(1, int(wait) + 1))


def start_transfer(
    db: Session,
    owner: Applicant,
    device_id: int,
    buyer_iin: str,
    *,
    language: str,
    settings: Settings,
    now: dt.datetime,
) -> OwnershipTransfer:
    """Offer the owner's device to a buyer: a code goes by SMS to the buyer's number.

    The answer is the same whether or not the operators know a number of the buyer's (as at
    sign-in): without one, the code made can never be entered. Codes texted to a buyer count
    against the same hourly limits as sign-in codes, per owner and per buyer.
    """
    owned_device_id(db, owner.iin, device_id)
    try:
        to_iin = identifiers.parse_iin(buyer_iin).value
    except identifiers.IdentifierError as exc:
        raise TransferRefused("invalid_iin") from exc
    if to_iin == owner.iin:
        raise TransferRefused("same_iin")
    if active_report(db, device_id) is not None:
        raise TransferRefused("reported")
    if pending_transfer(db, device_id) is not None:
        raise TransferRefused("transfer_pending")
    if identity_use.held(db, keys_of(db, device_id)):
        raise TransferRefused("held")
    c = settings.citizens
    _check_rate(db, OwnershipTransfer.from_iin, owner.iin, c.codes_per_hour_per_iin, now)
    _check_rate(db, OwnershipTransfer.to_iin, to_iin, c.codes_per_hour_per_iin, now)
    buyer = _buyer_number(db, to_iin)
    transfer = OwnershipTransfer(
        device_id=device_id,
        from_iin=owner.iin,
        to_iin=to_iin,
        initiated_at=now,
        code_hash="",
        code_msisdn=buyer.msisdn if buyer else None,
        code_expires_at=now + dt.timedelta(minutes=c.code_minutes),
        code_attempts=0,
        language=(buyer.language if buyer and buyer.language else language)[:2],
    )
    db.add(transfer)
    db.flush()
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    secret = server_secret(settings)
    # Without a number, the hash of a value no six digits can equal.
    transfer.code_hash = _code_hash(
        secret, transfer.id, to_iin, code if buyer else secrets.token_hex(16)
    )
    keys = keys_of(db, device_id)
    if buyer is not None:
        text = gettext(
            transfer.language,
            SMS_TRANSFER_CODE,
            imei=imei15(keys[0]),
            code=code,
            minutes=c.code_minutes,
        )
        sms.send(db, buyer.msisdn, text, purpose="transfer_code", settings=settings, now=now)
    audit.record(
        db,
        actor=f"citizen:{owner.iin}",
        action="citizens.transfer_start",
        object_type="device",
        object_id=str(device_id),
        details={"transfer": transfer.id, "to_iin": to_iin, "imeis": keys, "texted": bool(buyer)},
    )
    db.flush()
    return transfer


@dataclass(frozen=True, slots=True)
class TransferCheck:
    transfer: OwnershipTransfer | None  # confirmed, when the code was right
    problem: str | None  # wrong_code | expired
    attempts_left: int = 0


def owners_transfer(db: Session, iin: str, transfer_id: int) -> OwnershipTransfer:
    """The owner's hand-over still waiting for the code; anyone else's answers 404."""
    query = select(OwnershipTransfer).where(
        OwnershipTransfer.id == transfer_id,
        OwnershipTransfer.from_iin == iin,
        OwnershipTransfer.confirmed_at.is_(None),
        OwnershipTransfer.cancelled_at.is_(None),
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    transfer = db.scalar(query)
    if transfer is None or owner_of(db, transfer.device_id) != iin:
        raise NotFound("No such hand-over.")
    return transfer


def _end_waiting(db: Session, waiting: tuple[ColumnElement[bool], ...], now: dt.datetime) -> None:
    """End the hand-over only while it still waits: a parallel right code may have confirmed it."""
    # The default synchronisation also marks the loaded row, so the page shows it ended.
    db.execute(update(OwnershipTransfer).where(*waiting).values(cancelled_at=now))


def confirm_transfer(
    db: Session,
    owner: Applicant,
    transfer_id: int,
    entered: str,
    *,
    settings: Settings,
    now: dt.datetime,
) -> TransferCheck:
    """The owner enters the code the buyer received; right, the device is the buyer's.

    Every try counts; the result is returned rather than raised so that the caller commits the
    spent attempt.
    """
    transfer = owners_transfer(db, owner.iin, transfer_id)
    c = settings.citizens
    waiting = (
        OwnershipTransfer.id == transfer.id,
        OwnershipTransfer.confirmed_at.is_(None),
        OwnershipTransfer.cancelled_at.is_(None),
    )
    tries = spend_attempt(
        db,
        OwnershipTransfer.code_attempts,
        c.code_attempts,
        *waiting,
        OwnershipTransfer.code_expires_at > now,
    )
    if tries is None:
        _end_waiting(db, waiting, now)  # a dead code ends the hand-over; the owner starts again
        return TransferCheck(None, "expired")
    db.refresh(transfer)
    digits = entered.strip().replace(" ", "")
    given = _code_hash(server_secret(settings), transfer.id, transfer.to_iin, digits)
    if not (len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit()):
        given = ""
    if not hmac.compare_digest(transfer.code_hash, given):
        left = c.code_attempts - tries
        if left <= 0:
            _end_waiting(db, waiting, now)
        return TransferCheck(None, "wrong_code" if left > 0 else "expired", left)
    keys = keys_of(db, transfer.device_id)
    before = identity_use.device_snapshot(db, keys, transfer.device_id)
    before["owner"] = transfer.from_iin
    transfer.confirmed_at = now
    imei = imei15(keys[0])
    audit.record(
        db,
        actor=f"citizen:{owner.iin}",
        action="citizens.transfer_confirm",
        object_type="device",
        object_id=str(transfer.device_id),
        details={
            "transfer": transfer.id,
            "from_iin": transfer.from_iin,
            "to_iin": transfer.to_iin,
            "imeis": keys,
        },
    )
    seller_text = gettext(transfer.language, SMS_TRANSFER_DONE_SELLER, imei=imei)
    sms.send(db, owner.msisdn, seller_text, purpose="transfer", settings=settings, now=now)
    if transfer.code_msisdn:
        buyer_text = gettext(transfer.language, SMS_TRANSFER_DONE_BUYER, imei=imei)
        sms.send(
            db, transfer.code_msisdn, buyer_text, purpose="transfer", settings=settings, now=now
        )
    identity_use.record_act(
        db,
        ActKind.TRANSFER,
        iin=owner.iin,
        msisdn=owner.msisdn,
        reference=str(transfer.id),
        keys=keys,
        device_id=transfer.device_id,
        before=before,
        language=transfer.language,
        now=now,
        settings=settings,
    )
    db.flush()
    return TransferCheck(transfer, None)


def cancel_transfer(db: Session, owner: Applicant, transfer_id: int, now: dt.datetime) -> None:
    transfer = owners_transfer(db, owner.iin, transfer_id)
    transfer.cancelled_at = now
    audit.record(
        db,
        actor=f"citizen:{owner.iin}",
        action="citizens.transfer_cancel",
        object_type="device",
        object_id=str(transfer.device_id),
        details={"transfer": transfer.id, "to_iin": transfer.to_iin},
    )
    db.flush()


def cancel_pending_transfers(db: Session, device_id: int, actor: str, now: dt.datetime) -> None:
    """A device reported lost or stolen is not handed over: its waiting hand-over ends."""
    transfer = pending_transfer(db, device_id)
    if transfer is not None:
        transfer.cancelled_at = now
        audit.record(
            db,
            actor=actor,
            action="citizens.transfer_cancel",
            object_type="device",
            object_id=str(device_id),
            details={"transfer": transfer.id, "to_iin": transfer.to_iin, "why": "reported"},
        )


def transfers_of(db: Session, device_id: int) -> list[OwnershipTransfer]:
    """The device's hand-overs, newest first (the history of its owners)."""
    return list(
        db.scalars(
            select(OwnershipTransfer)
            .where(OwnershipTransfer.device_id == device_id)
            .order_by(OwnershipTransfer.initiated_at.desc(), OwnershipTransfer.id.desc())
        )
    )

"""Officers' cases of disputed identity use: the evidence as sentences, and the decision.

A dispute (`ceir.citizens.identity_disputes`) has already undone the act and holds the device;
the officer upholds it (the act stays undone) or rejects it (the act is restored).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.audit.service import record
from ceir.citizens import identity_disputes, identity_use
from ceir.citizens.identity_models import ActKind, IdentityAct
from ceir.config import Settings
from ceir.errors import NotFound
from ceir.i18n import gettext
from ceir.network.models import Subscriber
from ceir.review.models import Officer
from ceir.review.officers import Permission, actor_of, require

ALMATY = identity_use.ALMATY


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


E_ACT = N_("On %(when)s the IIN %(iin)s was used to %(act)s: %(device)s (record %(reference)s).")
E_ACTING = N_("It was done signed in with the number +%(number)s.")
E_ACTING_UNKNOWN = N_("The number it was done with is not on record.")
E_DISPUTER = N_(
    "On %(when)s the number +%(number)s said it was not them; the operators tie that number to "
    "this IIN (%(operator)s, since %(since)s)."
)
E_DISPUTER_GONE = N_(
    "On %(when)s the number +%(number)s said it was not them; the operators no longer tie that "
    "number to this IIN."
)
E_SAME_NUMBER = N_(
    "It was disputed from the very number it was done with: check whether someone else had that "
    "SIM card."
)
E_OTHER_NUMBER = N_(
    "It was disputed from another number of the same IIN than the one it was done with."
)
E_TOLD = N_("Numbers of this IIN told of the act: %(count)s.")
E_BEFORE_REGISTERED = N_("Before the act the device was registered.")
E_BEFORE_UNREGISTERED = N_("Before the act the device was not registered.")
E_BEFORE_STATE = N_("Before the act the networks had it %(state)s (IMEI %(imei)s).")
E_BEFORE_STOLEN = N_("Before the act the device was already reported lost or stolen.")
E_UNDONE_APPLICATION = N_("The dispute withdrew application %(id)s, which was %(status)s.")
E_UNDONE_TRANSFER = N_(
    "The dispute reversed the hand-over; the device is registered to IIN %(iin)s again."
)
E_UNDONE_STOLEN = N_(
    "The dispute cancelled report no. %(id)s: the phone is no longer blocked as lost or stolen."
)
E_UNDONE_SECOND_IMEI = N_("The dispute took IMEI %(imei)s off the device.")
E_NOTHING_UNDONE = N_("Nothing was left to undo: the act had already ended.")
E_HELD = N_("The device is held: IMEI %(imeis)s is not blocked and takes no act until you decide.")
E_CLIENT = N_("The dispute came from the address %(client)s.")
STATES = {"notified": N_("notified (in its grace period)"), "blocked": N_("blocked")}
STATUSES = {
    "approved": N_("approved"),
    "in_review": N_("under review"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
}


@dataclass(frozen=True, slots=True)
class DisputeCase:
    act: IdentityAct
    act_text: str
    device: str
    evidence: list[str]


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M") if moment else "—"


def _imei(key: str) -> str:
    return key + str(identifiers.luhn_check_digit(key)) if key.isdigit() else key


def evidence(db: Session, act: IdentityAct, lang: str) -> list[str]:
    """What the officer weighs, each fact a sentence in their language."""

    def say(message: str, **values: object) -> str:
        return gettext(lang, message, **values)

    out = [
        say(
            E_ACT,
            when=_when(act.done_at),
            iin=act.iin,
            act=identity_use.act_text(act, lang),
            device=identity_use.describe_device(act, lang),
            reference=act.reference,
        ),
        say(E_ACTING, number=act.msisdn) if act.msisdn else say(E_ACTING_UNKNOWN),
    ]
    if act.disputed_by:
        holder = db.scalar(
            select(Subscriber).where(
                Subscriber.msisdn == act.disputed_by, Subscriber.iin == act.iin
            )
        )
        if holder is not None:
            since = holder.since.strftime("%d.%m.%Y") if holder.since else "—"
            out.append(
                say(
                    E_DISPUTER,
                    when=_when(act.disputed_at),
                    number=act.disputed_by,
                    operator=holder.operator,
                    since=since,
                )
            )
        else:
            out.append(say(E_DISPUTER_GONE, when=_when(act.disputed_at), number=act.disputed_by))
        if act.msisdn:
            out.append(say(E_SAME_NUMBER if act.msisdn == act.disputed_by else E_OTHER_NUMBER))
    out.append(say(E_TOLD, count=act.numbers_told))
    before = act.before or {}
    out.append(say(E_BEFORE_REGISTERED if before.get("registered") else E_BEFORE_UNREGISTERED))
    for key, state in sorted((before.get("states") or {}).items()):
        out.append(say(E_BEFORE_STATE, state=say(STATES.get(state, state)), imei=_imei(key)))
    if before.get("stolen"):
        out.append(say(E_BEFORE_STOLEN))
    out.extend(_undone(act, lang))
    if act.dispute_client:
        out.append(say(E_CLIENT, client=act.dispute_client))
    return out


def _undone(act: IdentityAct, lang: str) -> list[str]:
    undone = act.undone or {}
    kind = ActKind(act.kind)
    if kind in (ActKind.PERSONAL_IMPORT, ActKind.APPEAL):
        status = undone.get("status", "")
        if status == "withdrawn":
            return [gettext(lang, E_NOTHING_UNDONE)]
        return [
            gettext(
                lang,
                E_UNDONE_APPLICATION,
                id=act.reference,
                status=gettext(lang, STATUSES.get(status, status)),
            )
        ]
    if kind is ActKind.TRANSFER:
        if not undone.get("transfers"):
            return [gettext(lang, E_NOTHING_UNDONE)]
        return [gettext(lang, E_UNDONE_TRANSFER, iin=act.iin)]
    if kind is ActKind.STOLEN_REPORT:
        if not undone.get("cancelled"):
            return [gettext(lang, E_NOTHING_UNDONE)]
        return [gettext(lang, E_UNDONE_STOLEN, id=act.reference)]
    if not undone.get("removed"):
        return [gettext(lang, E_NOTHING_UNDONE)]
    return [gettext(lang, E_UNDONE_SECOND_IMEI, imei=_imei(str(undone.get("imei", ""))))]


def waiting(db: Session, officer: Officer) -> list[IdentityAct]:
    """Disputes waiting for an officer, oldest first (shown on top of the queue)."""
    require(officer, Permission.REVIEW)
    return identity_disputes.disputed(db)


def open_dispute(db: Session, act_id: int, officer: Officer, lang: str) -> DisputeCase:
    """The case file of a disputed act; every opening is audited."""
    require(officer, Permission.REVIEW)
    act = db.get(IdentityAct, act_id)
    if act is None or act.disputed_at is None:
        raise NotFound("No such dispute.")
    record(
        db,
        actor=actor_of(officer),
        action="officer.view_dispute",
        object_type="identity_act",
        object_id=str(act.id),
        details={"iin": act.iin},
    )
    return DisputeCase(
        act,
        identity_use.act_text(act, lang),
        identity_use.describe_device(act, lang),
        evidence(db, act, lang),
    )


def decide(
    db: Session,
    act_id: int,
    officer: Officer,
    *,
    uphold: bool,
    note: str | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> IdentityAct:
    """Uphold (the act stays undone) or reject (the act is restored) a dispute."""
    require(officer, Permission.DECIDE)
    return identity_disputes.decide(
        db, act_id, uphold=uphold, note=note, actor=actor_of(officer), now=now, settings=settings
    )

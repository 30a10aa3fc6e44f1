"""Disputes of identity use: "this was not me" undoes an act, holds the device, opens a case.

A dispute comes only through a link texted to a number of the IIN (`identity_use`): the link is
the proof that the person holds that number, and it works once. The whole act is then undone as
far as it still stands (an application withdrawn and its registration revoked or its appeal's
pause ended; a hand-over, and every later one resting on it, reversed; a report cancelled; a
second IMEI taken off the device), and what was undone is kept so that it can be restored.

The device is *held* until an officer decides: a `BlockPause` (reason `identity_dispute`) on each
of its IMEIs. Held, a device is never blocked by a classification run nor answered "blocked" for
being non-compliant (its code is at most "under appeal"; a stolen report that still stands wins);
it takes no new application, hand-over or second IMEI, and no automatic act. The officer's
decision ends the hold: upheld, the act stays undone; rejected, it is restored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.citizens import identity_use, ownership, stolen
from ceir.citizens import service as applications
from ceir.citizens.device_models import DeviceReport, OwnershipTransfer
from ceir.citizens.identity_models import ActKind, ActLink, ActStatus, IdentityAct
from ceir.config import Settings, get_settings
from ceir.eir import journal
from ceir.errors import CeirError, NotFound
from ceir.i18n import gettext
from ceir.network import enforcement
from ceir.network import second_imei as links
from ceir.network.models import BlockPause, LinkStatus, SecondImeiCandidate
from ceir.registry.models import DeviceImei
from ceir.sms import service as sms


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


SMS_DISPUTED = N_(
    "ceir: your report no. %(id)s is received. What was done with your IIN is undone and the "
    "phone is held until an officer decides."
)
SMS_UPHELD = N_("ceir: report no. %(id)s: the officer agreed; what was done stays undone.")
SMS_REJECTED = N_(
    "ceir: report no. %(id)s: the officer found that the act was done by the holder of the IIN; "
    "it is restored."
)


class DisputeRefused(CeirError):
    """A decision on a dispute that is not waiting for one."""

    code = "dispute_refused"
    status = 409
    title = "Dispute already decided"


def _reference(act: IdentityAct) -> str:
    return f"identity:{act.id}"


def link_of(db: Session, token: str, now: dt.datetime) -> tuple[ActLink, IdentityAct]:
    """The live link a token stands for and its act; anything else (unknown, used, expired,
    an act already disputed) answers the same: not found."""
    if not token or len(token) > 64:
        raise NotFound("No such link.")
    link = db.get(ActLink, identity_use.token_hash(token))
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotFound("No such link.")
    act = db.get(IdentityAct, link.act_id)
    if act is None or act.status != ActStatus.DONE:
        raise NotFound("No such link.")
    return link, act


def _spend(db: Session, token: str, now: dt.datetime) -> ActLink:
    """Use the link up in one conditional UPDATE: of two parallel taps, one wins."""
    hashed = identity_use.token_hash(token) if token and len(token) <= 64 else ""
    spent = db.scalar(
        update(ActLink)
        .where(ActLink.token_hash == hashed, ActLink.used_at.is_(None), ActLink.expires_at > now)
        .values(used_at=now)
        .returning(ActLink.act_id)
        .execution_options(synchronize_session=False)
    )
    if spent is None:
        raise NotFound("No such link.")
    # The act moves from done to disputed once, whichever of its links came first.
    claimed = db.scalar(
        update(IdentityAct)
        .where(IdentityAct.id == spent, IdentityAct.status == ActStatus.DONE.value)
        .values(status=ActStatus.DISPUTED.value)
        .returning(IdentityAct.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        raise NotFound("No such link.")
    # Every other link of the act is spent too: the act is disputed once.
    db.execute(
        update(ActLink)
        .where(ActLink.act_id == spent, ActLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return db.get_one(ActLink, hashed, populate_existing=True)


def _device_keys(db: Session, act: IdentityAct) -> list[str]:
    keys = list(act.imeis)
    if act.device_id is not None:
        keys += [k for k in ownership.keys_of(db, act.device_id) if k not in keys]
    return keys


# --- undoing and restoring each kind of act ------------------------------------------------------


def _undo(db: Session, act: IdentityAct, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Undo what the act still does; returns what was undone (what a rejection restores)."""
    kind = ActKind(act.kind)
    if kind in (ActKind.PERSONAL_IMPORT, ActKind.APPEAL):
        status = applications.withdraw_disputed(db, act.reference, actor=actor, now=now)
        return {"application": act.reference, "status": status}
    if kind is ActKind.TRANSFER:
        return {"transfers": _undo_transfer(db, act, actor, now)}
    if kind is ActKind.STOLEN_REPORT:
        report = db.get(DeviceReport, int(act.reference))
        if report is None or report.cancelled_at is not None:
            return {"report": act.reference, "cancelled": False}
        stolen.cancel_by_police(db, report.id, actor=actor, now=now)
        return {"report": act.reference, "cancelled": True}
    return _undo_second_imei(db, act, actor, now)


def _undo_transfer(db: Session, act: IdentityAct, actor: str, now: dt.datetime) -> list[int]:
    """Reverse the hand-over and any later one of the device: they rest on it."""
    first = db.get(OwnershipTransfer, int(act.reference))
    if first is None or first.confirmed_at is None or first.cancelled_at is not None:
        return []
    standing = db.scalars(
        select(OwnershipTransfer).where(
            OwnershipTransfer.device_id == first.device_id,
            OwnershipTransfer.confirmed_at >= first.confirmed_at,
            OwnershipTransfer.cancelled_at.is_(None),
        )
    ).all()
    for transfer in standing:
        transfer.cancelled_at = now
    ids = sorted(t.id for t in standing)
    audit.record(
        db,
        actor=actor,
        action="citizens.transfer_reverse",
        object_type="device",
        object_id=str(first.device_id),
        details={"transfers": ids, "owner_again": first.from_iin},
    )
    return ids


def _undo_second_imei(
    db: Session, act: IdentityAct, actor: str, now: dt.datetime
) -> dict[str, Any]:
    candidate = db.get(SecondImeiCandidate, int(act.reference))
    if candidate is None or candidate.status != LinkStatus.CONFIRMED:
        return {"candidate": act.reference, "removed": False}
    db.execute(
        delete(DeviceImei).where(
            DeviceImei.imei_key == int(candidate.imei),
            DeviceImei.device_id == candidate.device_id,
        )
    )
    candidate.status = LinkStatus.DISMISSED.value
    candidate.decided_at, candidate.decided_by = now, actor
    audit.record(
        db,
        actor=actor,
        action="registry.remove_second_imei",
        object_type="device",
        object_id=str(candidate.device_id),
        details={"imei": candidate.imei, "candidate": candidate.id, "why": "identity_dispute"},
    )
    return {"candidate": act.reference, "removed": True, "imei": candidate.imei}


def _restore(db: Session, act: IdentityAct, actor: str, now: dt.datetime) -> None:
    undone = act.undone or {}
    kind = ActKind(act.kind)
    if kind in (ActKind.PERSONAL_IMPORT, ActKind.APPEAL):
        applications.restore_disputed(db, act.reference, undone["status"], actor=actor, now=now)
    elif kind is ActKind.TRANSFER:
        ids = [int(i) for i in undone.get("transfers", [])]
        if ids:
            db.execute(
                update(OwnershipTransfer)
                .where(OwnershipTransfer.id.in_(ids))
                .values(cancelled_at=None)
                .execution_options(synchronize_session=False)
            )
    elif kind is ActKind.STOLEN_REPORT:
        if undone.get("cancelled"):
            stolen.reinstate(db, int(act.reference), actor=actor, now=now)
    elif undone.get("removed"):
        candidate = db.get_one(SecondImeiCandidate, int(act.reference))
        candidate.status = LinkStatus.PENDING.value
        try:
            links.add_to_device(db, candidate, actor=actor, now=now)
        except links.LinkRefused:
            candidate.status = LinkStatus.DISMISSED.value  # the IMEI went elsewhere meanwhile


def _hold(db: Session, act: IdentityAct, keys: list[str], now: dt.datetime) -> None:
    for key in keys:
        db.add(
            BlockPause(
                imei=key, reason=identity_use.HOLD_REASON, reference=_reference(act), created_at=now
            )
        )


def _release(db: Session, act: IdentityAct, now: dt.datetime) -> None:
    db.execute(
        update(BlockPause)
        .where(BlockPause.reference == _reference(act), BlockPause.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


# --- the dispute and the officer's decision ------------------------------------------------------


def dispute(
    db: Session,
    token: str,
    *,
    client: str,
    now: dt.datetime,
    settings: Settings | None = None,
) -> IdentityAct:
    """The holder of a number of the IIN says the act was not theirs: undo, hold, open a case."""
    settings = settings or get_settings()
    link = _spend(db, token, now)
    act = db.get_one(IdentityAct, link.act_id, populate_existing=True)
    actor = f"dispute:{act.id}"
    keys = _device_keys(db, act)
    act.undone = _undo(db, act, actor, now)
    act.disputed_at, act.disputed_by, act.dispute_client = now, link.msisdn, client[:64]
    keys = list(dict.fromkeys([*keys, *_device_keys(db, act)]))
    db.flush()
    _hold(db, act, keys, now)
    db.flush()
    journal.record(db, enforcement.codes_now(db, keys))
    audit.record(
        db,
        actor=f"number:{link.msisdn}",
        action="identity.dispute",
        object_type="identity_act",
        object_id=str(act.id),
        details={
            "kind": act.kind,
            "reference": act.reference,
            "iin": act.iin,
            "undone": act.undone,
            "held": keys,
            "client": client[:64],
        },
    )
    text = gettext(link.language, SMS_DISPUTED, id=act.id)
    sms.send(db, link.msisdn, text, purpose="identity_dispute", settings=settings, now=now)
    db.flush()
    return act


def disputed(db: Session, *, limit: int = 200) -> list[IdentityAct]:
    """Acts disputed and waiting for an officer, oldest first."""
    return list(
        db.scalars(
            select(IdentityAct)
            .where(IdentityAct.status == ActStatus.DISPUTED.value)
            .order_by(IdentityAct.disputed_at, IdentityAct.id)
            .limit(limit)
        )
    )


def decide(
    db: Session,
    act_id: int,
    *,
    uphold: bool,
    note: str | None,
    actor: str,
    now: dt.datetime,
    settings: Settings | None = None,
) -> IdentityAct:
    """An officer's decision: upheld, the act stays undone; rejected, it is restored. Either way
    the hold ends and the device answers as its facts say."""
    settings = settings or get_settings()
    query = select(IdentityAct).where(IdentityAct.id == act_id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    act = db.scalar(query)
    if act is None:
        raise NotFound("No such dispute.")
    if act.status != ActStatus.DISPUTED:
        raise DisputeRefused(f"Dispute {act.id} is not waiting for a decision.")
    _release(db, act, now)
    db.flush()
    if not uphold:
        _restore(db, act, actor, now)
    act.status = (ActStatus.UPHELD if uphold else ActStatus.REJECTED).value
    act.decided_by, act.decided_at = actor[:128], now
    act.decision_note = (note or "").strip()[:1024] or None
    db.flush()
    keys = _device_keys(db, act)
    journal.record(db, enforcement.codes_now(db, keys))
    audit.record(
        db,
        actor=actor,
        action="identity.dispute_decide",
        object_type="identity_act",
        object_id=str(act.id),
        details={"outcome": act.status, "note": act.decision_note, "imeis": keys},
    )
    if act.disputed_by:
        language = db.scalar(
            select(ActLink.language).where(
                ActLink.act_id == act.id, ActLink.msisdn == act.disputed_by
            )
        )
        text = gettext(language or "ru", SMS_UPHELD if uphold else SMS_REJECTED, id=act.id)
        sms.send(db, act.disputed_by, text, purpose="identity_dispute", settings=settings, now=now)
    db.flush()
    return act

"""Second IMEIs, the owner's side: the links they are asked to confirm, confirm, dismiss.

The run finds the links and adds conclusive ones itself (ceir.network.second_imei).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit import service as audit
from ceir.citizens import identity_use, ownership
from ceir.citizens.identity_models import ActKind
from ceir.db import utcnow
from ceir.errors import NotFound
from ceir.network import second_imei
from ceir.network.models import LinkStatus, SecondImeiCandidate


def pending_for(db: Session, iin: str) -> list[SecondImeiCandidate]:
    """The links this citizen is asked to confirm, oldest first."""
    return list(
        db.scalars(
            select(SecondImeiCandidate)
            .where(
                SecondImeiCandidate.iin == iin,
                SecondImeiCandidate.status == LinkStatus.PENDING.value,
            )
            .order_by(SecondImeiCandidate.found_at, SecondImeiCandidate.id)
        )
    )


def _own_pending(db: Session, iin: str, candidate_id: int) -> SecondImeiCandidate:
    candidate = db.scalar(
        select(SecondImeiCandidate)
        .where(
            SecondImeiCandidate.id == candidate_id,
            SecondImeiCandidate.iin == iin,
            SecondImeiCandidate.status == LinkStatus.PENDING.value,
        )
        .with_for_update()
    )
    if candidate is None:
        # Another person's link answers exactly like one that does not exist.
        raise NotFound("No such second IMEI to confirm.")
    return candidate


def confirm(
    db: Session,
    iin: str,
    candidate_id: int,
    *,
    now: dt.datetime | None = None,
    msisdn: str | None = None,
) -> SecondImeiCandidate:
    """The citizen's one tap: the IMEI is added to their device; every number of the IIN is told."""
    now = now or utcnow()
    candidate = _own_pending(db, iin, candidate_id)
    keys = [candidate.imei, *ownership.keys_of(db, candidate.device_id)]
    before = identity_use.device_snapshot(db, keys, candidate.device_id)
    before["candidate"] = candidate.id
    second_imei.add_to_device(db, candidate, actor=f"citizen:{iin}", now=now)
    identity_use.record_act(
        db,
        ActKind.SECOND_IMEI,
        iin=iin,
        msisdn=msisdn,
        reference=str(candidate.id),
        keys=keys,
        device_id=candidate.device_id,
        before=before,
        language="ru",
        now=now,
    )
    return candidate


def dismiss(
    db: Session, iin: str, candidate_id: int, *, now: dt.datetime | None = None
) -> SecondImeiCandidate:
    """ "Not my device": the link is dropped; the IMEI stays unregistered."""
    candidate = _own_pending(db, iin, candidate_id)
    candidate.status = LinkStatus.DISMISSED.value
    candidate.decided_at = now or utcnow()
    candidate.decided_by = f"citizen:{iin}"
    audit.record(
        db,
        actor=f"citizen:{iin}",
        action="registry.dismiss_second_imei",
        object_type="device",
        object_id=str(candidate.device_id),
        details={"imei": candidate.imei, "candidate": candidate.id},
    )
    return candidate

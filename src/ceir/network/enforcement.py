"""The device's code: what enforcement makes of a device, in Python and in its SQL twin.

One rule, most severe first: stolen > under appeal (paused) > notified > blocked only for being
unregistered > blocked > allowed. A registration or a cancelled report made since the last run
cures the reasons it answers (`not_registered`, `stolen`); the other reasons wait for the next
run. The real-time index, the journal of single changes and the public check all ask this
module; tests/network/test_device_code.py proves `device_code` and `CODE_SQL` agree on every
combination of facts.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.network.models import BlockPause, DeviceState, DeviceStateName, StolenDevice
from ceir.network.rules import Condition
from ceir.registry.models import DeviceImei, Registration


class DeviceCode(enum.IntEnum):
    """What the index knows of a device; the policy turns it into an answer."""

    ALLOWED = 0  # registered or exempt
    NOTIFIED = 1  # grace period running
    UNDER_APPEAL = 2  # an open appeal holds its block
    BLOCKED_UNREGISTERED = 3  # blocked only for not being registered
    BLOCKED = 4  # blocked for another reason (invalid, unknown TAC, clone)
    STOLEN = 5


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the database holds about one device, as stored (no judgement yet)."""

    registered: bool = False  # a registration in force covers the IMEI
    stolen: bool = False  # a report in force
    paused: bool = False  # an open appeal pauses its block
    state: str | None = None  # DeviceStateName of the last run, None for no state row
    reasons: str = ""  # the last run's conditions, joined by "|"

    @property
    def standing(self) -> frozenset[str]:
        """The state's reasons that facts since the last run have not cured."""
        cured = {Condition.STOLEN.value}
        if self.registered:
            cured.add(Condition.NOT_REGISTERED.value)
        return frozenset(r for r in self.reasons.split("|") if r) - cured


def device_code(facts: DeviceFacts) -> DeviceCode:
    """The code of a device. An unregistered device nothing holds against is notified."""
    if facts.stolen:
        return DeviceCode.STOLEN
    standing = facts.standing
    if facts.registered and not standing:
        return DeviceCode.ALLOWED
    if facts.paused:
        return DeviceCode.UNDER_APPEAL
    if facts.state is None or facts.state == DeviceStateName.NOTIFIED or not standing:
        return DeviceCode.NOTIFIED
    if standing == {Condition.NOT_REGISTERED.value}:
        return DeviceCode.BLOCKED_UNREGISTERED
    return DeviceCode.BLOCKED


# The same rule in SQL over the columns (registered, stolen, paused, state, reasons) of
# DeviceFacts, for DuckDB (and portable to SQLite and PostgreSQL). Reasons are matched with
# "|" on both sides so that one condition's name never matches inside another's.
_BAR_REASONS = "('|' || coalesce(reasons, '') || '|')"
_UNREGISTERED = f"({_BAR_REASONS} LIKE '%|{Condition.NOT_REGISTERED.value}|%')"
_OTHER = (
    f"(replace(replace({_BAR_REASONS}, '|{Condition.STOLEN.value}|', '|'), "
    f"'|{Condition.NOT_REGISTERED.value}|', '|') NOT IN ('|', '||'))"
)
_STANDING = f"({_OTHER} OR ({_UNREGISTERED} AND NOT registered))"
CODE_SQL = f"""
    CASE WHEN stolen THEN {DeviceCode.STOLEN.value}
         WHEN registered AND NOT {_STANDING} THEN {DeviceCode.ALLOWED.value}
         WHEN paused THEN {DeviceCode.UNDER_APPEAL.value}
         WHEN state IS NULL OR state = '{DeviceStateName.NOTIFIED.value}' OR NOT {_STANDING}
              THEN {DeviceCode.NOTIFIED.value}
         WHEN NOT {_OTHER} THEN {DeviceCode.BLOCKED_UNREGISTERED.value}
         ELSE {DeviceCode.BLOCKED.value} END
"""


def load_facts(db: Session, keys: Collection[str]) -> dict[str, DeviceFacts]:
    """The facts of these 14-digit IMEI keys, read in four set-based queries."""
    keys = list(dict.fromkeys(keys))  # the caller's order, once each
    if not keys:
        return {}
    stolen = set(
        db.scalars(
            select(StolenDevice.imei).where(
                StolenDevice.imei.in_(keys), StolenDevice.cancelled_at.is_(None)
            )
        )
    )
    paused = set(
        db.scalars(
            select(BlockPause.imei).where(BlockPause.imei.in_(keys), BlockPause.ended_at.is_(None))
        )
    )
    states = {
        imei: (state, reasons)
        for imei, state, reasons in db.execute(
            select(DeviceState.imei, DeviceState.state, DeviceState.reasons).where(
                DeviceState.imei.in_(keys)
            )
        )
    }
    registered = {
        str(k).zfill(14)
        for k in db.scalars(
            select(DeviceImei.imei_key)
            .join(Registration, Registration.device_id == DeviceImei.device_id)
            .where(
                DeviceImei.imei_key.in_([int(k) for k in keys if k.isdigit()]),
                Registration.revoked_at.is_(None),
            )
        )
    }
    return {
        key: DeviceFacts(
            registered=key in registered,
            stolen=key in stolen,
            paused=key in paused,
            state=states[key][0] if key in states else None,
            reasons=states[key][1] if key in states else "",
        )
        for key in keys
    }


def codes_now(db: Session, keys: Collection[str]) -> list[tuple[str, DeviceCode]]:
    """(key, code) of each key as the database says now: what a journal entry records."""
    return [(key, device_code(facts)) for key, facts in load_facts(db, keys).items()]

"""From what the index knows of a device to the answer an operator's core network gets."""

from __future__ import annotations

import enum

from ceir.eir.index import DeviceCode


class EquipmentStatus(enum.StrEnum):
    """3GPP TS 29.511 EquipmentStatus (and, by value order, Diameter Equipment-Status)."""

    WHITELISTED = "WHITELISTED"
    BLACKLISTED = "BLACKLISTED"
    GREYLISTED = "GREYLISTED"


DIAMETER_CODE = {
    EquipmentStatus.WHITELISTED: 0,
    EquipmentStatus.BLACKLISTED: 1,
    EquipmentStatus.GREYLISTED: 2,
}


def decide(
    code: DeviceCode | None, *, home_subscriber: bool, unknown: EquipmentStatus | None
) -> EquipmentStatus | None:
    """The answer for a device; None means unknown equipment (404, or Diameter error 5422).

    - blocked or stolen -> BLACKLISTED, except that a roamer (foreign SUPI/IMSI) is not refused
      for a device that is blocked only for not being registered;
    - notified, or under appeal -> GREYLISTED;
    - registered or exempt -> WHITELISTED;
    - never seen and not registered -> `unknown` (a setting: GREYLISTED, or None for 404).
    """
    if code is None:
        return unknown
    if code is DeviceCode.STOLEN or code is DeviceCode.BLOCKED:
        return EquipmentStatus.BLACKLISTED
    if code is DeviceCode.BLOCKED_UNREGISTERED:
        return EquipmentStatus.BLACKLISTED if home_subscriber else EquipmentStatus.WHITELISTED
    if code in (DeviceCode.NOTIFIED, DeviceCode.UNDER_APPEAL):
        return EquipmentStatus.GREYLISTED
    return EquipmentStatus.WHITELISTED

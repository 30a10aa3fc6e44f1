"""The named conditions of classification; their parameters live in settings.network."""

from __future__ import annotations

import enum


class Condition(enum.StrEnum):
    """Why a device is not compliant, in the order reasons are listed."""

    STOLEN = "stolen"
    INVALID_IMEI = "invalid_imei"
    UNKNOWN_TAC = "unknown_tac"
    NOT_REGISTERED = "not_registered"
    DUPLICATE = "duplicate"


CONDITIONS: tuple[Condition, ...] = tuple(Condition)

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


def home_imsi_sql(column: str, mcc: str) -> str:
    """SQL true when a BIGINT IMSI (14 or 15 digits) has the home MCC: integer ranges, no casts."""
    ranges = [
        (int(mcc) * 10 ** (digits - 3), (int(mcc) + 1) * 10 ** (digits - 3) - 1)
        for digits in (14, 15)
    ]
    return "(" + " OR ".join(f"{column} BETWEEN {low} AND {high}" for low, high in ranges) + ")"

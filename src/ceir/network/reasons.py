"""Why a device is notified or blocked: the stable reason codes, the one list everyone reads.

The codes are the classification's conditions (network/rules.py) and never change meaning: they
are on the operators' lists, in the SMS, in the public check's answer and in the open data.
docs/operators.md#reason-codes documents each one.
"""

from __future__ import annotations

from ceir.i18n import gettext
from ceir.network.rules import Condition

# The codes, most serious first: a device with several reasons is shown with the first.
REASONS: tuple[Condition, ...] = tuple(Condition)


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


# What each code means, short, for pages and the back office (translated by the catalogs).
LABELS: dict[Condition, str] = {
    Condition.STOLEN: N_("reported stolen"),
    Condition.INVALID_IMEI: N_("invalid IMEI"),
    Condition.UNKNOWN_TAC: N_("TAC not allocated"),
    Condition.NOT_REGISTERED: N_("not registered"),
    Condition.DUPLICATE: N_("one IMEI in several phones"),
}

# The same in the fewest letters, for SMS (ru, kk, en): every character costs there.
SMS_WORDS: dict[str, dict[Condition, str]] = {
    "ru": {
        Condition.NOT_REGISTERED: "нет в реестре",
        Condition.INVALID_IMEI: "неверный IMEI",
        Condition.UNKNOWN_TAC: "неизвестная модель",
        Condition.STOLEN: "в розыске",
        Condition.DUPLICATE: "дубликат IMEI",
    },
    "kk": {
        Condition.NOT_REGISTERED: "тізілімде жоқ",
        Condition.INVALID_IMEI: "жарамсыз IMEI",
        Condition.UNKNOWN_TAC: "белгісіз модель",
        Condition.STOLEN: "іздеуде",
        Condition.DUPLICATE: "IMEI көшірмесі",
    },
    "en": {
        Condition.NOT_REGISTERED: "not registered",
        Condition.INVALID_IMEI: "invalid IMEI",
        Condition.UNKNOWN_TAC: "unknown model",
        Condition.STOLEN: "reported stolen",
        Condition.DUPLICATE: "duplicate IMEI",
    },
}


def primary(codes: str | None) -> Condition | None:
    """The reason a device is shown with, of codes joined by "|" (a state's `reasons`)."""
    present = set((codes or "").split("|"))
    return next((reason for reason in REASONS if reason.value in present), None)


def label(reason: Condition | str, lang: str) -> str:
    """The reason in words, in `lang`; an unknown code as itself."""
    try:
        return gettext(lang, LABELS[Condition(reason)])
    except ValueError:
        return str(reason)


def primary_sql(column: str) -> str:
    """SQL (DuckDB) for `primary` of a `reasons` column: the same order, one owner."""
    cases = " ".join(
        f"WHEN list_contains(string_split({column}, '|'), '{r.value}') THEN '{r.value}'"
        for r in REASONS
    )
    return f"CASE {cases} END"

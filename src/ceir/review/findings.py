"""The automatic check and the network's conditions told to an officer as sentences, with evidence.

The stored check (`Application.auto_check`) is JSON for the record; an officer reads what it
found in their language, each finding beside the facts it rests on, times in Almaty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ceir.i18n import gettext
from ceir.network import reasons as block_reasons
from ceir.review import reasons

ALMATY = ZoneInfo("Asia/Almaty")


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


FINDINGS: dict[str, str] = {
    "trip_confirmed": N_("The border records confirm the trip: an exit and a later entry."),
    "no_entry_in_period": N_("No entry into Kazakhstan is on record around the stated day."),
    "no_exit_before_entry": N_("No exit from Kazakhstan is on record before the entry."),
    "seen_before_entry": N_("The device was on a Kazakh network before the applicant's entry."),
    "tac_mismatch": N_("The stated brand or model differs from the GSMA record for the TAC."),
    "unknown_tac": N_("The TAC is not in the GSMA database: possibly a fake or altered IMEI."),
    "number_not_seen": N_("The applicant's own number was never seen with this device."),
    "quota_used": N_("The applicant has used up this year's automatic registrations."),
}
CONDITIONS: dict[str, str] = {code.value: text for code, text in block_reasons.LABELS.items()}

# Why a block is held (network.models.BlockPause.reason), and where a registration came from.
PAUSES: dict[str, str] = {"appeal": N_("because of appeal %(reference)s")}
SOURCES: dict[str, str] = {
    "importer_declaration": N_("importer's declaration"),
    "customs": N_("customs"),
    "personal_import": N_("personal import"),
    "appeal": N_("approved appeal"),
    "amnesty": N_("amnesty"),
}
FILE_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class Finding:
    text: str
    ok: bool
    evidence: list[tuple[str, str]] = field(default_factory=list)


def _moment(value: str | None) -> str:
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone(ALMATY).strftime("%Y-%m-%d %H:%M")  # as the rest of the case file


def _day(value: Any) -> str:
    return str(value) if value else "—"


def describe(check: dict[str, Any] | None, stated: dict[str, Any], lang: str) -> list[Finding]:
    """What the automatic check found, as sentences: confirmed, or each doubt with its facts."""
    if not check:
        return []

    def t(message: str, **variables: Any) -> str:
        return gettext(lang, message, **variables)

    tac = check.get("tac") or {}
    trip = [
        (t("Entry on record"), _moment(check.get("entered_at"))),
        (t("Stated day of entry"), _day(stated.get("entered_on"))),
        (t("Border records"), ", ".join(str(c) for c in check.get("crossings", [])) or "—"),
    ]
    seen = [(t("First seen at home"), _day(check.get("first_seen"))), trip[0]]
    gsma = " ".join(str(tac.get(k) or "") for k in ("brand", "model")).strip()
    if tac.get("marketing_name"):
        gsma += f" ({tac['marketing_name']})"
    model = [
        (t("Stated"), f"{stated.get('brand') or ''} {stated.get('model') or ''}".strip() or "—"),
        (t("GSMA for TAC %(tac)s", tac=tac.get("tac", "")), gsma or "—"),
    ]
    evidence = {
        "no_entry_in_period": trip,
        "no_exit_before_entry": trip,
        "seen_before_entry": seen,
        "tac_mismatch": model,
        "unknown_tac": model,
        "number_not_seen": [(t("Applicant's number"), str(stated.get("msisdn") or "—"))],
    }
    findings = check.get("findings") or []
    if not findings:
        return [Finding(t(FINDINGS["trip_confirmed"]), True, trip + model)]
    return [
        Finding(t(FINDINGS[code]) if code in FINDINGS else code, False, evidence.get(code, []))
        for code in findings
    ]


def why_waiting(check: dict[str, Any] | None, lang: str) -> str:
    """For a queue card: why the automatic check left this case to an officer, in a line."""
    codes = (check or {}).get("findings") or []
    return " ".join(gettext(lang, FINDINGS[c]) for c in codes if c in FINDINGS)


def note_text(note: str | None, lang: str) -> str:
    """A history entry's note: a finding's or a reason's code in words, other notes as written."""
    if not note:
        return ""
    if note in FINDINGS:
        return gettext(lang, FINDINGS[note])
    if note == "submitted":
        return gettext(lang, N_("Submitted; waiting for an officer."))
    return reasons.reason_text(note, lang)


def conditions_text(codes: str | None, lang: str) -> str:
    """`not_registered|duplicate` as words in the officer's language."""
    words = [
        gettext(lang, CONDITIONS[c]) if c in CONDITIONS else c for c in (codes or "").split("|")
    ]
    return ", ".join(w for w in words if w)


def pause_text(reason: str, reference: str | None, lang: str) -> str:
    """Why a block is paused, in words: `appeal` -> "because of appeal K7..."."""
    if reason in PAUSES:
        return gettext(lang, PAUSES[reason], reference=reference or "—")
    return reason


def source_text(source: str, lang: str) -> str:
    """A registration's source in words."""
    return gettext(lang, SOURCES[source]) if source in SOURCES else source


def actor_text(actor: str | None, lang: str) -> str:
    """Who did something: the automatic check, an officer (by user name), a citizen (by IIN)."""
    kind, _, name = (actor or "").partition(":")
    if actor == "system:auto-check":
        return gettext(lang, N_("automatic check"))
    if kind == "officer" and name:
        return name
    if kind == "citizen" and name:
        return gettext(lang, N_("citizen, IIN %(iin)s"), iin=name)
    return actor or ""


def file_type(content_type: str) -> str:
    return FILE_TYPES.get(content_type, content_type)

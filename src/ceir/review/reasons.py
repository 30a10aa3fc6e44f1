"""Reasons officers give for a decision: the templates, their texts for citizens, the checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ceir.errors import InvalidInput


@dataclass(frozen=True)
class ReasonTemplate:
    """A reason an officer picks for a decision; the texts are what the citizen is told."""

    outcome: Literal["approve", "reject", "any"]
    texts: dict[str, str]


# The codes the citizens' side also knows (ceir.citizens.service.REASONS) are used as they are,
# so that the citizen's page and SMS say the same thing in their language.
REASONS: dict[str, ReasonTemplate] = {
    "documents_confirm_trip": ReasonTemplate(
        "approve",
        {
            "ru": "Поездка и ввоз устройства подтверждены документами.",
            "kk": "Сапар мен құрылғыны әкелу құжаттармен расталды.",
            "en": "The trip and the import of the device are confirmed by the documents.",
        },
    ),
    "purchase_abroad_confirmed": ReasonTemplate(
        "approve",
        {
            "ru": "Покупка устройства за рубежом подтверждена чеком.",
            "kk": "Құрылғының шетелде сатып алынғаны чекпен расталды.",
            "en": "The purchase of the device abroad is confirmed by the receipt.",
        },
    ),
    "documents_unreadable": ReasonTemplate(
        "reject",
        {
            "ru": "Приложенные документы невозможно прочитать.",
            "kk": "Тіркелген құжаттарды оқу мүмкін емес.",
            "en": "The attached documents cannot be read.",
        },
    ),
    "no_proof_of_trip": ReasonTemplate(
        "reject",
        {
            "ru": "Нет подтверждения ввоза устройства из-за рубежа.",
            "kk": "Құрылғының шетелден әкелінгені расталмады.",
            "en": "There is no proof that the device was brought from abroad.",
        },
    ),
    "seen_before_entry": ReasonTemplate(
        "reject",
        {
            "ru": "Устройство работало в сети Казахстана до указанной поездки.",
            "kk": "Құрылғы көрсетілген сапарға дейін Қазақстан желісінде жұмыс істеген.",
            "en": "The device was used on a Kazakh network before the stated trip.",
        },
    ),
    "tac_mismatch": ReasonTemplate(
        "reject",
        {
            "ru": "IMEI принадлежит другой модели, чем указанная в заявке.",
            "kk": "IMEI өтінімде көрсетілген модельге емес, басқа модельге тиесілі.",
            "en": "The IMEI belongs to another model than the one in the application.",
        },
    ),
    "other": ReasonTemplate(
        "any",
        {
            "ru": "Другая причина (см. комментарий).",
            "kk": "Басқа себеп (түсініктемені қараңыз).",
            "en": "Another reason (see the note).",
        },
    ),
}
# A free-text reason must say what it is: "other" needs a note.
REASON_NEEDING_NOTE = "other"
NOTE_MAX_LENGTH = 1000


def reason_text(code: str, lang: str) -> str:
    template = REASONS.get(code)
    if template is None:
        return code
    return template.texts.get(lang) or template.texts["ru"]


def reasons_for(outcome: Literal["approve", "reject"]) -> list[str]:
    return [code for code, r in REASONS.items() if r.outcome in (outcome, "any")]


def check_reason(outcome: Literal["approve", "reject"], reason: str, note: str | None) -> None:
    template = REASONS.get(reason)
    if template is None or template.outcome not in (outcome, "any"):
        raise InvalidInput(f"Choose one of the reasons for this outcome: {reasons_for(outcome)}.")
    if reason == REASON_NEEDING_NOTE and not note:
        raise InvalidInput("Explain the reason in the note.")
    if note and len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(f"The note must be at most {NOTE_MAX_LENGTH} characters.")

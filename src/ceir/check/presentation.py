"""A check result in words for people: verdict titles, advice and reasons, in ru, kk or en."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date

from ceir import identifiers
from ceir.check.service import TYPING_CODES, CheckResult, ListColour, Pending, Signal, Verdict
from ceir.i18n import get_translations, normalise_language, tidy
from ceir.network.reasons import label as reason_label
from ceir.network.rules import Condition
from ceir.registry.models import RegistrationSource

# Dates are stored in UTC; people in Kazakhstan read them on the registry's local calendar.
DISPLAY_TIMEZONE = ZoneInfo("Asia/Almaty")


def list_name(colour: ListColour, lang: str) -> str:
    """The list a device is on, in the words people use (white, grey, black list)."""
    _ = get_translations(lang).gettext
    names = {
        ListColour.WHITE: _("white list"),
        ListColour.GREY: _("grey list"),
        ListColour.BLACK: _("black list"),
    }
    return names[colour]


def describe(result: CheckResult, lang: str) -> dict[str, str]:
    """`title`, `advice`, `list` and `tone` (ok, warn, bad, typo) for any verdict, `reason` for
    an invalid IMEI, `abroad` for a device never flagged on a Kazakh network, `next` (citizen,
    appeal) when the person's next step is on the citizens' portal. Plain text."""
    _ = get_translations(lang).gettext
    words = _pending(result, lang) or _describe(result, lang)
    words.setdefault("tone", tone(result))
    colour = result.list_colour
    words["list"] = (
        _("none (this is not a valid IMEI)") if colour is None else list_name(colour, lang)
    )
    abroad = abroad_advice(result, lang)
    if abroad is not None:
        words["abroad"] = abroad
    language = normalise_language(lang) or "ru"
    return {key: tidy(text, language) for key, text in words.items()}


def tone(result: CheckResult) -> str:
    """How alarming the verdict is: a typo asks to retype, a never-allocated TAC is a fake."""
    if result.verdict is Verdict.REGISTERED:
        return "ok"
    if result.verdict is Verdict.INVALID:
        return "typo" if result.invalid_code in TYPING_CODES else "bad"
    if result.verdict is Verdict.NOT_REGISTERED and Signal.UNKNOWN_TAC not in result.signals:
        return "warn"
    return "bad"


def _pending(result: CheckResult, lang: str) -> dict[str, str] | None:
    """What a decision still to come means, in place of "register it" or "appeal"."""
    _ = get_translations(lang).gettext
    if result.pending is Pending.APPEAL:
        return {
            "title": _("Appeal under review"),
            "tone": "warn",
            "next": "citizen",
            "advice": _(
                "Its owner has appealed the block and an officer is reviewing the appeal. Until "
                "the decision the block is paused: the phone works on Kazakh networks. If the "
                "appeal is yours, follow it on the citizens' portal. If you are buying the phone, "
                "wait for the decision: if the appeal is rejected the phone will be blocked."
            ),
        }
    if result.pending is Pending.REGISTRATION:
        if result.block_date is not None:
            blocked = _(
                "If it is not approved by %(date)s, the phone will be blocked on that day."
            ) % {"date": _long_date(result.block_date, lang)}
        else:
            blocked = ""
        return {
            "title": _("Registration under review"),
            "tone": "warn",
            "next": "citizen",
            "advice": " ".join(
                part
                for part in (
                    _(
                        "An application to register this phone as a personal import was filed "
                        "and an officer is reviewing it. If it is yours, follow it on the "
                        "citizens' portal and answer the officer's questions there. If you are "
                        "buying the phone, wait until the check shows it registered."
                    ),
                    blocked,
                )
                if part
            ),
        }
    return None


def abroad_advice(result: CheckResult, lang: str) -> str | None:
    """What a buyer abroad must do after entry, for a device not in the registry and never seen
    (or only roaming) on a Kazakh network; None otherwise."""
    if (
        result.verdict is not Verdict.NOT_REGISTERED
        or result.block_date is not None
        or result.pending is not None
        or Signal.UNKNOWN_TAC in result.signals
    ):
        return None
    from ceir.config import get_settings

    settings = get_settings()
    _ = get_translations(lang).gettext
    return _(
        "This check shows whether the model of this IMEI (its TAC) is genuine and whether the "
        "phone is reported stolen in Kazakhstan. After you bring it in and put in a "
        "Kazakh SIM card, register it as a personal import within %(days)s days, or it will be "
        "blocked; up to %(quota)s phones a year per person. Keep the purchase receipt and your "
        "boarding pass."
    ) % {
        "days": settings.network.conditions["not_registered"].grace_days,
        "quota": settings.citizens.personal_imports_per_year,
    }


def _describe(result: CheckResult, lang: str) -> dict[str, str]:
    _ = get_translations(lang).gettext
    if result.verdict is Verdict.STOLEN:
        return {
            "title": _("Reported stolen"),
            "advice": _(
                "This phone was reported lost or stolen. It is blocked on every Kazakh network. "
                "Do not buy it; if it is offered to you, tell the police."
            ),
        }
    if result.verdict is Verdict.BLOCKED:
        return {
            "title": _("Blocked"),
            "next": "appeal",
            "advice": _(
                "This phone is blocked on Kazakh mobile networks since %(date)s. If it is yours "
                "and you brought it in lawfully, file an appeal with your travel dates and "
                "import documents: once it is approved the phone is unblocked."
            )
            % {"date": _long_date(result.block_date, lang)},
        }
    if result.verdict is Verdict.REGISTERED and result.registration is not None:
        return {
            "title": _("Registered"),
            "advice": _(
                "Registered on %(date)s; source: %(source)s. Compare the brand and model shown "
                "here with the phone in your hand: if they differ, the IMEI belongs to another "
                "device and the phone may be a clone."
            )
            % {
                "date": registered_on(result.registration.registered_at, lang),
                "source": source_text(result.registration.source, lang),
            },
        }
    if result.verdict is Verdict.INVALID:
        if result.invalid_code == "junk":
            advice = _(
                "Counterfeit phones report numbers like this one. Do not buy a phone that shows "
                "it: it will not be registered."
            )
        else:
            advice = _(
                "Check the number: dial *#06# on the phone or look at the label on its box, "
                "and type all 15 digits."
            )
        return {
            "title": _("Invalid IMEI"),
            "advice": advice,
            "reason": invalid_reason(result, lang),
        }
    if Signal.UNKNOWN_TAC in result.signals:
        advice = _(
            "GSMA never allocated the first eight digits of this IMEI (the TAC) to any "
            "phone model: the number was probably made up or rewritten on a counterfeit "
            "phone. Do not buy it: such a phone cannot be registered and is blocked on "
            "Kazakh networks."
        )
        if result.block_date is not None:
            advice += " " + _("This one will be blocked on %(date)s.") % {
                "date": _long_date(result.block_date, lang)
            }
        return {"title": _("Probably a fake IMEI"), "advice": advice}
    if result.block_date is not None:
        return {
            "title": _("Not in the registry"),
            "next": "citizen",
            "advice": _(
                "This IMEI is not in the national registry and the phone will be blocked on "
                "%(date)s unless it is registered. If it is yours, register it before then; if "
                "you are buying it, do not pay before the seller shows the import documents."
            )
            % {"date": _long_date(result.block_date, lang)},
        }
    return {
        "title": _("Not in the registry"),
        "next": "citizen",
        "advice": _(
            "This IMEI is not in the national registry. An unregistered phone is at high risk "
            "of being blocked automatically on Kazakh mobile networks. If you are buying it, "
            "ask the seller to show the import documents (the customs declaration) before you "
            "pay. If it is your phone, register it: a phone you brought from abroad yourself is "
            "registered as a personal import on the citizens' portal."
        ),
    }


def reason_words(result: CheckResult, lang: str) -> dict[str, str] | None:
    """Why a notified, blocked or stolen device is so, for the page: `code`, `text`, and the
    evidence (`first_seen`, `grace_end`) spelled as dates in `lang`; None for any other."""
    if result.reason is None:
        return None
    words = {"code": result.reason.value, "text": reason_label(result.reason, lang)}
    if result.first_seen is not None:
        words["first_seen"] = _long_date(result.first_seen, lang)
    if result.block_date is not None and result.reason is not Condition.STOLEN:
        words["grace_end"] = _long_date(result.block_date, lang)
    return words


def invalid_reason(result: CheckResult, lang: str) -> str:
    """Why the IMEI was refused, from the IdentifierError code (the check digit when wrong)."""
    _ = get_translations(lang).gettext
    code = result.invalid_code
    if code == "empty":
        return _("No IMEI was entered.")
    if code == "not_digits":
        return _("An IMEI consists of digits only (spaces and dashes are allowed).")
    if code == "wrong_length":
        return _(
            "An IMEI has 15 digits (14 without the check digit, 16 when it is an IMEISV); "
            "this one has %(count)s."
        ) % {"count": _digit_count(result.query)}
    if code == "bad_check_digit":
        expected = _expected_check_digit(result.query)
        if expected is not None:
            return _(
                "The last digit (the check digit) does not match the other 14: it should be "
                "%(expected)s. The number was probably mistyped."
            ) % {"expected": expected}
        return _("The last digit (the check digit) does not match the other 14.")
    if code == "junk":
        return _("This is a well-known fake or test IMEI, not a real device.")
    return _("This is not a valid IMEI.")


def signal_text(signal: Signal, lang: str) -> str:
    _ = get_translations(lang).gettext
    if signal is Signal.UNKNOWN_TAC:
        return _("This TAC was never allocated by GSMA: the IMEI is probably fake.")
    return str(signal)


def source_text(source: RegistrationSource, lang: str) -> str:
    """How a device came to be registered, as a noun phrase that reads after "source:"."""
    _ = get_translations(lang).gettext
    words = {
        RegistrationSource.IMPORTER_DECLARATION: _("an importer's customs declaration"),
        RegistrationSource.CUSTOMS: _("customs clearance"),
        RegistrationSource.PERSONAL_IMPORT: _("personal import by the owner"),
        RegistrationSource.APPEAL: _("an approved appeal"),
        RegistrationSource.AMNESTY: _("amnesty for phones in use before the rules took effect"),
    }
    return words.get(source, str(source))


def sale_text(seller: str, sold_on: dt.date, receipt_number: str, lang: str) -> str:
    """The seller's record of a sale, as the buyer holding the receipt reads it."""
    _ = get_translations(lang).gettext
    return _("Sold by %(seller)s on %(date)s, receipt %(receipt)s.") % {
        "seller": seller,
        "date": _long_date(sold_on, lang),
        "receipt": receipt_number,
    }


def registered_on(moment: dt.datetime, lang: str) -> str:
    """The calendar date in Almaty, spelled the way `lang` writes dates."""
    return _long_date(moment.astimezone(DISPLAY_TIMEZONE).date(), lang)


def _long_date(day: dt.date | None, lang: str) -> str:
    return _spelled(day, normalise_language(lang) or "ru") if day else "—"


@lru_cache(maxsize=4096)
def _spelled(day: dt.date, locale: str) -> str:
    # Babel takes tens of microseconds a date; a public check asks for few distinct dates.
    return format_date(day, format="long", locale=locale)


def _digit_count(query: str) -> int:
    return sum(1 for char in query if char.isascii() and char.isdigit())


def _expected_check_digit(query: str) -> str | None:
    # CheckResult keeps only the code; parsing again recovers the digit IdentifierError computed.
    try:
        identifiers.parse_imei(query)
    except identifiers.IdentifierError as exc:
        return exc.expected
    return None

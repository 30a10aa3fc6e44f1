"""A check result in words: titles, advice and reasons are plain text in the asked language."""

from __future__ import annotations

import datetime as dt

import pytest

from ceir.check.presentation import describe, signal_text
from ceir.check.service import CheckResult, Registered, Signal, Verdict
from ceir.registry.models import RegistrationSource


def _invalid(query: str, code: str) -> CheckResult:
    return CheckResult(query, Verdict.INVALID, invalid_code=code, invalid_reason="…")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (RegistrationSource.IMPORTER_DECLARATION, "таможенная декларация импортёра"),
        (RegistrationSource.CUSTOMS, "таможенное оформление"),
        (RegistrationSource.PERSONAL_IMPORT, "личный ввоз владельцем"),
        (RegistrationSource.APPEAL, "одобренная апелляция"),
        (RegistrationSource.AMNESTY, "амнистия"),
    ],
)
def test_registered_advice_says_when_and_how(source: RegistrationSource, words: str) -> None:
    result = CheckResult(
        "356938035643809",
        Verdict.REGISTERED,
        imei="356938035643809",
        registration=Registered(source, dt.datetime(2025, 3, 23, 20, tzinfo=dt.UTC)),
    )
    text = describe(result, "ru")
    assert text["title"] == "Зарегистрирован"
    assert "24 марта 2025" in text["advice"]
    assert words in text["advice"]
    assert "Сравните марку и модель" in text["advice"]
    assert "reason" not in text


def test_unregistered_advice_warns_of_blocking_and_asks_for_documents() -> None:
    text = describe(CheckResult("356938030000013", Verdict.NOT_REGISTERED), "en")
    assert text["title"] == "Not in the registry"
    assert "blocked automatically" in text["advice"]
    assert "import documents" in text["advice"]
    assert "register it" in text["advice"]


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        ("", "empty", "No IMEI was entered."),
        ("35693803564380X", "not_digits", "digits only"),
        ("3569380356", "wrong_length", "this one has 10."),
        ("356938035643800", "bad_check_digit", "it should be 9."),
        ("123456789012345", "junk", "well-known fake"),
    ],
)
def test_invalid_reason_in_words(query: str, code: str, reason: str) -> None:
    text = describe(_invalid(query, code), "en")
    assert text["title"] == "Invalid IMEI"
    assert reason in text["reason"]


def test_texts_hold_no_markup_even_for_hostile_input() -> None:
    for lang in ("ru", "kk", "en"):
        for value in describe(_invalid("<b>1</b>", "not_digits"), lang).values():
            assert "<" not in value
            assert ">" not in value


def test_unknown_tac_signal_in_three_languages() -> None:
    assert signal_text(Signal.UNKNOWN_TAC, "en") == (
        "This TAC was never allocated by GSMA: the IMEI is probably fake."
    )
    assert "GSMA" in signal_text(Signal.UNKNOWN_TAC, "ru")
    assert "жалған" in signal_text(Signal.UNKNOWN_TAC, "kk")

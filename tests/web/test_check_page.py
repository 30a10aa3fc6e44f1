"""The public IMEI check page: verdicts in three languages, language choice, limits, escaping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.web.limits import public_rate_limit
from tests.factories import add_tac, register_device

TAC = "35693803"
REGISTERED = "356938035643809"
UNREGISTERED = "356938030000013"
# Evening of 23 March in UTC is already 24 March in Almaty (UTC+5). Babel writes the year's
# abbreviation after a narrow no-break space (U+202F).
REGISTERED_AT = dt.datetime(2025, 3, 23, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def phone(db_session: Session) -> None:
    add_tac(db_session, TAC, "Samsung", "SM-S928B", marketing_name="Galaxy S24 Ultra")
    register_device(
        db_session,
        [REGISTERED],
        "Samsung",
        "SM-S928B",
        source="importer_declaration",
        registered_at=REGISTERED_AT,
    )


def page(
    client: TestClient, imei: str | None = None, lang: str | None = None, **kwargs: object
) -> str:
    params = {k: v for k, v in {"imei": imei, "lang": lang}.items() if v is not None}
    response = client.get("/", params=params, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.usefixtures("phone")
@pytest.mark.parametrize(
    ("lang", "title", "source", "date"),
    [
        ("ru", "Зарегистрирован", "таможенная декларация импортёра", "24 марта 2025\u202fг."),
        ("kk", "Тіркелген", "импорттаушының кедендік декларациясы", "2025\u202fж. 24 наурыз"),
        ("en", "Registered", "an importer&#39;s customs declaration", "March 24, 2025"),
    ],
)
def test_registered_imei_shows_model_source_and_almaty_date(
    app_client: TestClient, lang: str, title: str, source: str, date: str
) -> None:
    html = page(app_client, REGISTERED, lang)
    assert f'<html lang="{lang}">' in html
    assert "badge--ok" in html
    assert title in html
    assert REGISTERED in html
    for fact in ("Samsung", "Galaxy S24 Ultra", "SM-S928B", source, date):
        assert fact in html


@pytest.mark.usefixtures("phone")
def test_imei_is_shown_normalised_to_15_digits(app_client: TestClient) -> None:
    html = page(app_client, "35-693803-564380", "en")  # 14 digits with dashes, no check digit
    assert REGISTERED in html
    assert "Registered" in html


@pytest.mark.usefixtures("phone")
@pytest.mark.parametrize(
    ("lang", "title", "warning"),
    [
        ("ru", "Нет в реестре", "будет автоматически заблокирован"),
        ("kk", "Тізілімде жоқ", "автоматты түрде бұғатталу қаупі жоғары"),
        ("en", "Not in the registry", "blocked automatically on Kazakh mobile networks"),
    ],
)
def test_unregistered_imei_warns_of_blocking(
    app_client: TestClient, lang: str, title: str, warning: str
) -> None:
    html = page(app_client, UNREGISTERED, lang)
    assert "badge--warn" in html
    assert title in html
    assert warning in html
    assert UNREGISTERED in html
    assert "Galaxy S24 Ultra" in html  # the TAC is known even though this device is not


@pytest.mark.parametrize(
    ("lang", "title", "reason"),
    [
        ("ru", "Неверный IMEI", "она должна быть 9"),
        ("kk", "Жарамсыз IMEI", "ол 9 болуы керек"),
        ("en", "Invalid IMEI", "it should be 9"),
    ],
)
def test_wrong_check_digit_names_the_expected_one(
    app_client: TestClient, lang: str, title: str, reason: str
) -> None:
    html = page(app_client, "356938035643800", lang)
    assert "badge--typo" in html
    assert title in html
    assert reason in html
    assert "356938035643800" in html  # what was typed is shown back, not a normalised IMEI


def test_unknown_tac_is_flagged_as_probably_fake(app_client: TestClient) -> None:
    html = page(app_client, UNREGISTERED, "en")
    assert "Probably a fake IMEI" in html
    assert "GSMA never allocated the first eight digits of this IMEI" in html
    assert "The model of TAC 35693803 is unknown." in html


def test_language_from_query_is_remembered_in_a_cookie(app_client: TestClient) -> None:
    response = app_client.get("/", params={"lang": "kk"})
    assert '<html lang="kk">' in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("lang=kk;")
    assert "samesite=lax" in cookie.lower()
    assert "Max-Age=31536000" in cookie

    app_client.cookies.clear()
    app_client.cookies.set("lang", "kk")
    html = page(app_client)
    assert '<html lang="kk">' in html
    assert "ceir — IMEI тексеру" in html


def test_page_without_lang_query_sets_no_cookie(app_client: TestClient) -> None:
    assert "set-cookie" not in app_client.get("/").headers


def test_query_wins_over_cookie_and_cookie_over_accept_language(app_client: TestClient) -> None:
    app_client.cookies.set("lang", "en")
    headers = {"Accept-Language": "kk-KZ"}
    assert '<html lang="ru">' in page(app_client, lang="ru", headers=headers)
    app_client.cookies.clear()  # drop the "ru" the server just set
    app_client.cookies.set("lang", "en")
    assert '<html lang="en">' in page(app_client, headers=headers)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("kk-KZ,kk;q=0.9,ru;q=0.8", "kk"),
        ("kz", "kk"),
        ("en-US,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5,kk;q=0.7", "kk"),
        ("ru;q=0.1, en;q=0.8", "en"),
        ("kk;q=0, en;q=0.2", "en"),
        ("de, fr", "ru"),
        ("", "ru"),
    ],
)
def test_language_from_accept_language(app_client: TestClient, header: str, lang: str) -> None:
    html = page(app_client, headers={"Accept-Language": header})
    assert f'<html lang="{lang}">' in html


@pytest.mark.usefixtures("phone")
def test_language_links_keep_the_imei(app_client: TestClient) -> None:
    html = page(app_client, REGISTERED, "ru")
    for code in ("ru", "kk", "en"):
        assert f'href="?lang={code}&amp;imei={REGISTERED}"' in html
    assert 'aria-current="true">Русский' in html


@pytest.fixture
def counted_limit(app_client: TestClient) -> Iterator[list[str]]:
    calls: list[str] = []
    app = cast(FastAPI, app_client.app)
    app.dependency_overrides[public_rate_limit] = lambda request: calls.append(str(request.url))
    yield calls
    app.dependency_overrides.pop(public_rate_limit, None)


def test_only_checks_count_against_the_rate_limit(
    app_client: TestClient, counted_limit: list[str]
) -> None:
    for _ in range(3):
        page(app_client)
        page(app_client, lang="kk")
    assert counted_limit == []
    page(app_client, UNREGISTERED)
    page(app_client, "")
    assert len(counted_limit) == 2


def test_user_input_is_escaped(app_client: TestClient) -> None:
    html = page(app_client, "<script>alert(1)</script>", "en")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Invalid IMEI" in html
    assert "An IMEI consists of digits only" in html


def test_form_has_a_labelled_numeric_field(app_client: TestClient) -> None:
    html = page(app_client, lang="en")
    assert '<label for="imei">IMEI (15 digits)</label>' in html
    assert 'id="imei" name="imei" type="text" inputmode="numeric" autocomplete="off"' in html
    assert '<button type="submit">Check</button>' in html
    assert 'href="/docs"' in html
    assert "result" not in html.split("</form>", 1)[1].split("<footer", 1)[0]

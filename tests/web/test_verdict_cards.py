"""Verdict cards tell the truth: severity and list match the outcome, and each leads somewhere."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.citizens.models import Application
from ceir.network.models import BlockPause
from tests.factories import add_device_state, add_tac, make_iin, make_imei

TAC = "35693803"
TYPO = "356938035643800"  # the check digit should be 9
NEVER_ALLOCATED = make_imei("99123456", 7)
NOTIFIED = make_imei(TAC, 11)
BLOCKED_UNDER_APPEAL = make_imei(TAC, 12)
UNDER_REVIEW = make_imei(TAC, 13)
BLOCKED = make_imei(TAC, 14)
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _application(session: Session, imei: str, kind: str) -> Application:
    application = Application(
        public_id=f"T{imei[-6:]}",
        kind=kind,
        status="in_review",
        iin=make_iin(serial=77),
        msisdn="77015550077",
        imei1=imei[:14],
        entered_on=dt.date(2026, 11, 20),
        language="ru",
        auto_check={"confirmed": False, "findings": []},
        created_at=NOW,
    )
    session.add(application)
    session.commit()
    return application


@pytest.fixture
def devices(db_session: Session) -> None:
    add_tac(db_session, TAC, "Samsung", "SM-S928B", marketing_name="Galaxy S24 Ultra")
    add_device_state(db_session, NOTIFIED, "notified", first_noncompliant=dt.date(2026, 11, 15))
    add_device_state(db_session, UNDER_REVIEW, "notified", first_noncompliant=dt.date(2026, 11, 15))
    add_device_state(db_session, BLOCKED, "blocked")
    add_device_state(db_session, BLOCKED_UNDER_APPEAL, "blocked")
    appeal = _application(db_session, BLOCKED_UNDER_APPEAL, "appeal")
    db_session.add(
        BlockPause(
            imei=BLOCKED_UNDER_APPEAL[:14],
            reason="appeal",
            reference=appeal.public_id,
            created_at=NOW,
        )
    )
    _application(db_session, UNDER_REVIEW, "personal_import")
    db_session.commit()


def _card(client: TestClient, imei: str, lang: str = "ru") -> str:
    response = client.get("/", params={"imei": imei, "lang": lang})
    assert response.status_code == 200
    found = re.search(r'<section id="result".*?</section>', response.text, re.S)
    assert found, "no verdict card"
    return found.group(0)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_mistyped_digit_is_no_black_list_alarm(app_client: TestClient) -> None:
    card = _card(app_client, TYPO)
    assert "result--typo" in card
    assert "✕" not in card
    assert "чёрный список" not in card
    assert "Список: нет (это неправильный IMEI)" in _text(card)
    assert "должна быть 9" in card


def test_a_never_allocated_tac_leads_with_the_fake_warning(
    app_client: TestClient, devices: None
) -> None:
    text = _text(_card(app_client, NEVER_ALLOCATED))
    assert "result--bad" in _card(app_client, NEVER_ALLOCATED)
    assert text.index("Вероятно, поддельный IMEI") < text.index("Что делать")
    assert "Не покупайте его" in text
    assert "зарегистрируйте его" not in text
    assert "Купили за границей?" not in text  # no "register it after entry" for a fake


@pytest.mark.usefixtures("devices")
@pytest.mark.parametrize(
    ("imei", "link_text"),
    [
        (NOTIFIED, "Перейти на портал для граждан"),
        (make_imei(TAC, 15), "Перейти на портал для граждан"),
        (BLOCKED, "Обжаловать блокировку на портале для граждан"),
    ],
)
def test_grey_and_black_verdicts_link_to_the_citizens_portal(
    app_client: TestClient, imei: str, link_text: str
) -> None:
    card = _card(app_client, imei)
    link = re.search(r'<a class="button-link" href="([^"]+)">([^<]+)</a>', card)
    assert link is not None
    assert link.groups() == ("/citizen?lang=ru", link_text)


def test_every_public_page_links_to_the_citizens_portal(app_client: TestClient) -> None:
    for path in ("/?lang=kk", "/no-such-page?lang=kk"):
        html = app_client.get(path, headers={"accept": "text/html"}).text
        assert 'href="/citizen?lang=kk"' in html, path


def test_the_citizens_portal_keeps_the_language_of_the_link(app_client: TestClient) -> None:
    response = app_client.get("/citizen?lang=kk", follow_redirects=False)
    assert response.headers["location"] == "/citizen/sign-in?lang=kk"
    page = app_client.get("/citizen?lang=kk")
    assert '<html lang="kk">' in page.text


def test_a_paused_block_says_the_appeal_is_under_review(
    app_client: TestClient, devices: None
) -> None:
    card = _card(app_client, BLOCKED_UNDER_APPEAL)
    text = _text(card)
    assert "Апелляция на рассмотрении" in text
    assert "блокировка приостановлена" in text
    assert "result--warn" in card
    assert "Нет в реестре" not in text
    assert "зарегистрируйте" not in text


@pytest.mark.parametrize(
    ("lang", "title"), [("ru", "Регистрация на рассмотрении"), ("kk", "Тіркеу қаралуда")]
)
def test_a_registration_under_review_is_not_told_to_register(
    app_client: TestClient, devices: None, lang: str, title: str
) -> None:
    text = _text(_card(app_client, UNDER_REVIEW, lang))
    assert title in text
    assert "Нет в реестре" not in text and "Тізілімде жоқ" not in text
    assert "зарегистрируйте" not in text

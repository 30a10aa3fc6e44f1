"""No English (or internal code) is left in a public page rendered in Russian or Kazakh."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_device_state, add_tac, make_imei, register_device
from tests.untranslated import english_words, other_language_phrases

TAC = "35693803"
REGISTERED = make_imei(TAC, 1)
BLOCKED = make_imei(TAC, 2)
NOTIFIED = make_imei(TAC, 3)
HTML = {"accept": "text/html"}


@pytest.fixture
def phones(db_session: Session) -> None:
    add_tac(db_session, TAC, "Samsung", "SM-S928B", marketing_name="Galaxy S24 Ultra")
    register_device(db_session, [REGISTERED], "Samsung", "SM-S928B")
    add_device_state(db_session, BLOCKED, "blocked")
    add_device_state(db_session, NOTIFIED, "notified")


@pytest.mark.usefixtures("phones")
@pytest.mark.parametrize("lang", ["ru", "kk"])
@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/?imei={REGISTERED}",
        f"/?imei={BLOCKED}",
        f"/?imei={NOTIFIED}",
        f"/?imei={make_imei(TAC, 4)}",
        "/?imei=356938035643800",
        "/?imei=991234560000073",
        "/?imei=" + "1" * 15,
        "/statistics",
        "/citizen/sign-in",
        "/officers/sign-in",
        "/no-such-page",
    ],
)
def test_a_public_page_has_no_untranslated_words(
    app_client: TestClient, path: str, lang: str
) -> None:
    separator = "&" if "?" in path else "?"
    response = app_client.get(f"{path}{separator}lang={lang}", headers=HTML)
    # The model's own name; the open data's field named as it is in the files.
    allowed = {"SM", "S928B", "S24", "suppressed", "true"}
    assert english_words(response.text, allowed) == []
    assert other_language_phrases(response.text, lang) == []


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_a_refused_form_answers_in_the_page_language(app_client: TestClient, lang: str) -> None:
    response = app_client.post(
        f"/citizen/sign-in?lang={lang}",
        data={"csrf_token": "forged", "iin": "1", "phone": "1"},
        headers=HTML,
    )
    assert response.status_code == 403
    assert f'<html lang="{lang}">' in response.text
    assert english_words(response.text) == []


def test_a_date_that_ends_a_russian_sentence_has_one_full_stop(
    app_client: TestClient, phones: None
) -> None:
    html = app_client.get(f"/?imei={BLOCKED}&lang=ru").text
    assert "г.." not in html


def test_kazakh_dates_take_the_case_their_postposition_asks_for(
    app_client: TestClient, phones: None
) -> None:
    html = app_client.get(f"/?imei={BLOCKED}&lang=kk").text
    assert "қарашадан бастап" in html  # blocked since 19 November (add_device_state's default)
    assert "қараша бастап" not in html

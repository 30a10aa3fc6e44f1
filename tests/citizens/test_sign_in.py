"""Sign-in by IIN and an SMS code to the number the operators tie to that IIN."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ceir.citizens import auth
from ceir.citizens.models import CitizenSession, SignInCode
from ceir.config import Settings
from ceir.sms.models import SmsMessage
from ceir.web.app import create_app
from tests.browser import serve
from tests.citizens.conftest import Citizen, csrf_of, last_code
from tests.factories import add_subscriber, make_iin

IIN = make_iin(serial=100)
OTHER_IIN = make_iin(serial=200)
MSISDN = "77011234567"


def _ask(client: TestClient, iin: str, phone: str) -> object:
    page = client.get("/citizen/sign-in")
    return client.post(
        "/citizen/sign-in",
        data={"csrf_token": csrf_of(page.text), "iin": iin, "phone": phone},
        follow_redirects=False,
    )


def _sms_count(db_session: Session) -> int:
    db_session.expire_all()
    return int(db_session.scalar(select(func.count()).select_from(SmsMessage)) or 0)


def test_citizen_signs_in_with_the_code_sent_to_their_number(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    citizen = make_citizen(1)
    page = citizen.get("/citizen/applications")
    assert page.status_code == 200  # type: ignore[attr-defined]
    cookie = next(c for c in citizen.client.cookies.jar if c.name == "ceir_session")
    stored = db_session.scalars(select(CitizenSession)).one()
    assert stored.token_hash == auth.token_hash(cookie.value or "")
    assert stored.token_hash != cookie.value  # only the hash is kept
    code_row = db_session.scalars(select(SignInCode)).one()
    assert code_row.used_at is not None and len(code_row.code_hash) == 64


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()
    client.base_url = client.base_url.copy_with(scheme="https")  # type: ignore[assignment]
    _ask(client, IIN, "+7 701 123 45 67")
    code_page = client.get("/citizen/code")
    answer = client.post(
        "/citizen/code",
        data={"csrf_token": csrf_of(code_page.text), "code": last_code(db_session, MSISDN)},
        follow_redirects=False,
    )
    header = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("ceir_session="))
    assert "HttpOnly" in header and "Secure" in header and "SameSite=lax" in header


def test_answer_is_the_same_whether_or_not_the_pair_exists(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    known = _ask(new_client(), IIN, MSISDN)
    unknown_iin = _ask(new_client(), OTHER_IIN, MSISDN)
    unknown_number = _ask(new_client(), IIN, "77019999999")
    for answer in (known, unknown_iin, unknown_number):
        assert answer.status_code == 303  # type: ignore[attr-defined]
        assert answer.headers["location"] == "/citizen/code"  # type: ignore[attr-defined]
    assert _sms_count(db_session) == 1  # only the real holder got a text


def test_a_code_for_a_pair_that_does_not_exist_never_works(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()
    _ask(client, IIN, MSISDN)
    real_code = last_code(db_session, MSISDN)
    stranger = new_client()
    _ask(stranger, OTHER_IIN, MSISDN)  # someone else's IIN with this number
    page = stranger.get("/citizen/code")
    answer = stranger.post(
        "/citizen/code",
        data={"csrf_token": csrf_of(page.text), "code": real_code},
        follow_redirects=False,
    )
    assert answer.status_code == 422


def test_five_wrong_codes_burn_the_code(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()
    _ask(client, IIN, MSISDN)
    code = last_code(db_session, MSISDN)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    token = csrf_of(client.get("/citizen/code").text)
    for _ in range(5):
        answer = client.post("/citizen/code", data={"csrf_token": token, "code": wrong})
        assert answer.status_code == 422
    right = client.post(
        "/citizen/code", data={"csrf_token": token, "code": code}, follow_redirects=False
    )
    assert right.status_code == 422  # too late: the code is spent
    assert db_session.scalar(select(func.count()).select_from(CitizenSession)) == 0


def test_codes_per_iin_are_limited_and_the_limit_does_not_tell_existence(
    new_client: Callable[[], TestClient], db_session: Session, citizen_settings: Settings
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    limit = citizen_settings.citizens.codes_per_hour_per_iin
    # A pair that exists and one that does not: limited alike, answered alike.
    for iin, number in ((IIN, MSISDN), (OTHER_IIN, "77019999999")):
        answers = [_ask(new_client(), iin, number).status_code for _ in range(limit + 1)]  # type: ignore[attr-defined]
        assert answers == [303] * limit + [429]


def test_codes_per_client_are_limited(
    new_client: Callable[[], TestClient], citizen_settings: Settings
) -> None:
    limit = citizen_settings.citizens.codes_per_hour_per_client
    client = new_client()
    answers = [
        _ask(client, make_iin(serial=1000 + i), f"7702{i:07d}").status_code  # type: ignore[attr-defined]
        for i in range(limit + 1)
    ]
    assert answers[-1] == 429 and set(answers[:-1]) == {303}


def test_an_expired_code_does_not_work(db_session: Session, citizen_settings: Settings) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    now = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    code_id = auth.request_code(
        db_session,
        IIN,
        MSISDN,
        client="1.2.3.4",
        language="en",
        settings=citizen_settings,
        now=now,
    )
    code = last_code(db_session, MSISDN)
    later = now + dt.timedelta(minutes=5, seconds=1)
    result = auth.verify_code(db_session, code_id, code, settings=citizen_settings, now=later)
    assert (result.token, result.problem) == (None, "expired")
    result = auth.verify_code(db_session, code_id, code, settings=citizen_settings, now=now)
    assert result.token is not None


def test_the_sms_is_in_the_language_of_the_page(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()
    client.cookies.set("lang", "kk")
    _ask(client, IIN, MSISDN)
    db_session.expire_all()
    text = db_session.scalars(select(SmsMessage)).one().text
    assert "код" in text.lower() and "минут" in text


def test_sign_out_ends_the_session(make_citizen: Callable[[int], Citizen]) -> None:
    citizen = make_citizen(1)
    assert citizen.post("/citizen/sign-out", {}).status_code == 303  # type: ignore[attr-defined]
    answer = citizen.get("/citizen/applications")
    location = answer.headers["location"]  # type: ignore[attr-defined]
    assert location == "/citizen/sign-in?next=%2Fcitizen%2Fapplications"


def _sign_in_from(client: TestClient, db_session: Session, sign_in_url: str) -> object:
    """Sign in starting from `sign_in_url`; returns the answer to the code."""
    page = client.get(sign_in_url)
    client.post(
        "/citizen/sign-in",
        data={"csrf_token": csrf_of(page.text), "iin": IIN, "phone": MSISDN},
        follow_redirects=False,
    )
    code_page = client.get("/citizen/code")
    return client.post(
        "/citizen/code",
        data={"csrf_token": csrf_of(code_page.text), "code": last_code(db_session, MSISDN)},
        follow_redirects=False,
    )


def test_a_signed_out_visitor_returns_to_the_page_they_asked_for(
    new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()

    asked = client.get("/citizen/devices?handed_over=1", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["location"]
    assert location == "/citizen/sign-in?next=%2Fcitizen%2Fdevices%3Fhanded_over%3D1"

    entered = _sign_in_from(client, db_session, location)
    assert entered.headers["location"] == "/citizen/devices?handed_over=1"  # type: ignore[attr-defined]
    # Signed in, the same sign-in link goes straight on.
    again = client.get(location, follow_redirects=False)
    assert again.headers["location"] == "/citizen/devices?handed_over=1"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/citizen/", "/officers/queue", "/citizen/\\evil"],
)
def test_a_return_address_outside_the_portal_is_ignored(
    new_client: Callable[[], TestClient], db_session: Session, target: str
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    client = new_client()

    entered = _sign_in_from(client, db_session, f"/citizen/sign-in?{urlencode({'next': target})}")

    assert entered.headers["location"] == "/citizen/applications"  # type: ignore[attr-defined]


def test_parallel_guesses_of_one_code_are_judged_at_most_five_times(
    citizen_settings: Settings, engine: Engine, db_session: Session
) -> None:
    citizen_settings.citizens.code_checks_per_minute_per_client = 1000  # the code's own limit only
    add_subscriber(db_session, MSISDN, IIN)
    guesses = 40
    with serve(create_app(citizen_settings, engine)) as url:
        with httpx.Client(base_url=url, cookies={"lang": "en"}) as first:
            page = first.get("/citizen/sign-in")
            first.post(
                "/citizen/sign-in",
                data={"csrf_token": csrf_of(page.text), "iin": IIN, "phone": MSISDN},
            )
            token = csrf_of(first.get("/citizen/code").text)
            cookies = dict(first.cookies)
        wrong = f"{(int(last_code(db_session, MSISDN)) + 1) % 1_000_000:06d}"
        start = threading.Barrier(guesses)

        def guess(_: int) -> str:
            with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
                start.wait()
                return client.post("/citizen/code", data={"csrf_token": token, "code": wrong}).text

        with ThreadPoolExecutor(guesses) as pool:
            answers = list(pool.map(guess, range(guesses)))

    # Each judged wrong guess but the last says how many remain; the rest are refused.
    left = sorted(int(n) for a in answers for n in re.findall(r"Attempts left: (\d+)", a))
    assert left == [1, 2, 3, 4]
    db_session.expire_all()
    assert db_session.scalar(select(SignInCode.attempts)) == 5


def test_requests_with_made_up_numbers_cannot_lock_the_owner_out(
    web_app: object, new_client: Callable[[], TestClient], db_session: Session
) -> None:
    add_subscriber(db_session, MSISDN, IIN)
    # The attacker knows the victim's IIN only, and asks from ever new addresses.
    for i in range(12):
        attacker = TestClient(web_app, client=(f"203.0.113.{i + 1}", 40000))  # type: ignore[arg-type]
        with attacker:
            assert _ask(attacker, IIN, f"7705{i:07d}").status_code == 303  # type: ignore[attr-defined]
    owner = _ask(new_client(), IIN, MSISDN)
    assert owner.status_code == 303  # type: ignore[attr-defined]
    assert _sms_count(db_session) == 1  # the owner got their code


def test_made_up_numbers_are_limited_per_number_and_per_client(
    new_client: Callable[[], TestClient], citizen_settings: Settings
) -> None:
    per_number = citizen_settings.citizens.codes_per_hour_per_msisdn
    answers = [
        _ask(new_client(), make_iin(serial=3000 + i), "77059999999").status_code  # type: ignore[attr-defined]
        for i in range(per_number + 1)
    ]
    assert answers == [303] * per_number + [429]

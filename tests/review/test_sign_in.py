"""Officers' sign-in: argon2id passwords, lockout, login CSRF, rate limit, session cookies."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.config import OfficerSettings, Settings
from ceir.errors import InvalidInput
from ceir.review import officers
from ceir.review.models import Officer, OfficerSession
from ceir.web.app import create_app
from tests.factories import OFFICER_PASSWORD, add_officer
from tests.review.conftest import Desk, form_token, sign_in

COOKIE = "__Host-ceir_officer"
REFUSED = "Wrong username or password"


def _actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_passwords_are_kept_as_argon2id_hashes_only(db_session: Session) -> None:
    officer = add_officer(db_session, "aliya", ["reviewer"])
    assert officer.password_hash.startswith("$argon2id$")
    assert OFFICER_PASSWORD not in officer.password_hash


@pytest.mark.parametrize(
    ("username", "password"),
    [("short", "eleven char"), ("dana", "dana-is-my-password"), ("rep", "aaaaaaaaaaaaaaaa")],
)
def test_weak_passwords_are_refused(db_session: Session, username: str, password: str) -> None:
    with pytest.raises(InvalidInput):
        officers.create_officer(db_session, username, "Dana", password, ["reviewer"], "test")


def test_officer_signs_in_with_a_secure_httponly_strict_cookie_holding_a_random_token(
    db_session: Session, new_client: Callable[[], TestClient]
) -> None:
    add_officer(db_session, "aliya", ["reviewer"])
    client = new_client()

    answer = sign_in(client, "aliya")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/officers/queue"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    stored = db_session.scalars(select(OfficerSession.token_hash)).one()
    assert stored == hashlib.sha256(token.encode()).hexdigest() != token
    assert client.get("/officers/queue").status_code == 200
    assert "officer.sign_in" in _actions(db_session)


def test_wrong_password_and_unknown_user_get_the_same_answer(
    db_session: Session, new_client: Callable[[], TestClient]
) -> None:
    add_officer(db_session, "aliya", ["reviewer"])
    client = new_client()

    wrong = sign_in(client, "aliya", "not the password at all")
    unknown = sign_in(client, "nobody-here", "not the password at all")

    assert wrong.status_code == unknown.status_code == 401
    assert REFUSED in wrong.text and REFUSED in unknown.text
    assert not any(h.startswith(f"{COOKIE}=") for h in wrong.headers.get_list("set-cookie"))
    assert client.get("/officers/queue").status_code == 401
    failed = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.sign_in_failed")
    ).all()
    assert [e.details["reason"] for e in failed] == ["wrong_password", "unknown_username"]
    # What was typed as an unknown username (maybe a password) is not written down.
    assert all("nobody-here" not in str(e.object_id) + str(e.details) for e in failed)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(
    db_session: Session, new_client: Callable[[], TestClient]
) -> None:
    add_officer(db_session, "aliya", ["reviewer"])
    client = new_client()
    for _ in range(5):
        assert sign_in(client, "aliya", "guess guess guess").status_code == 401

    # Even the right password is refused now, with the same words as a wrong one.
    locked = sign_in(client, "aliya")
    assert locked.status_code == 401
    assert REFUSED in locked.text
    db_session.expire_all()
    officer = db_session.scalars(select(Officer)).one()
    assert officer.locked_until is not None
    remaining = officer.locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)
    assert "officer.locked" in _actions(db_session)

    # Once the lock has run out, the right password works again.
    db_session.execute(
        update(Officer).values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    db_session.commit()
    assert sign_in(client, "aliya").status_code == 303


def test_sign_in_without_the_form_token_is_refused(
    db_session: Session, new_client: Callable[[], TestClient]
) -> None:
    add_officer(db_session, "aliya", ["reviewer"])
    client = new_client()
    form_token(client, "/officers/sign-in")

    forged = client.post(
        "/officers/sign-in",
        data={"username": "aliya", "password": OFFICER_PASSWORD, "csrf_token": "forged"},
    )

    assert forged.status_code == 403
    assert client.get("/officers/queue").status_code == 401


def test_sign_in_attempts_are_limited_per_client_address(
    database_url: str, tmp_path: Path, engine: Engine, db_session: Session
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "var",
        officers=OfficerSettings(sign_in_rate_per_minute=3),
    )
    add_officer(db_session, "aliya", ["reviewer"])
    with TestClient(create_app(settings, engine), base_url="https://testserver") as client:
        answers = [sign_in(client, "aliya", "guess guess guess") for _ in range(4)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/officers/"),
        ("GET", "/officers/queue"),
        ("GET", "/officers/cases/ABC123"),
        ("GET", "/officers/documents/" + "a" * 32),
        ("GET", "/officers/audit"),
        ("POST", "/officers/cases/ABC123/decision"),
        ("POST", "/officers/cases/ABC123/assignment"),
        ("POST", "/officers/cases/ABC123/reversal"),
        ("POST", "/officers/sign-out"),
    ],
)
def test_nobody_unauthenticated_sees_anything(
    new_client: Callable[[], TestClient], method: str, path: str
) -> None:
    client = new_client()
    answer = client.request(method, path, data={"outcome": "approve"} if method == "POST" else None)
    assert answer.status_code == 401
    assert answer.json()["code"] == "sign_in_required"


def test_a_browser_without_a_session_is_sent_to_the_sign_in_page(
    new_client: Callable[[], TestClient],
) -> None:
    answer = new_client().get("/officers/queue?status=all", headers={"accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/officers/sign-in?next=%2Fofficers%2Fqueue%3Fstatus%3Dall"


@pytest.mark.parametrize(
    ("next_path", "lands_on"),
    [
        ("/officers/audit", "/officers/audit"),
        ("//evil.example/officers/", "/officers/queue"),
        ("https://evil.example/", "/officers/queue"),
        ("/officers/..//evil.example", "/officers/queue"),
    ],
)
def test_after_sign_in_only_pages_of_the_back_office_are_followed(
    db_session: Session, new_client: Callable[[], TestClient], next_path: str, lands_on: str
) -> None:
    add_officer(db_session, "aliya", ["supervisor"])
    client = new_client()
    token = form_token(client, "/officers/sign-in")
    answer = client.post(
        "/officers/sign-in",
        data={
            "username": "aliya",
            "password": OFFICER_PASSWORD,
            "csrf_token": token,
            "next": next_path,
        },
    )
    assert answer.headers["location"] == lands_on


def test_signing_out_ends_the_session_for_good(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    aliya = desk("aliya")
    token = aliya.client.cookies.get(COOKIE)

    assert aliya.post("/officers/sign-out").status_code == 303

    assert aliya.get("/officers/queue").status_code == 401
    aliya.client.cookies.set(COOKIE, token)  # the old cookie, replayed
    assert aliya.get("/officers/queue").status_code == 401
    assert "officer.sign_out" in _actions(db_session)


def test_sign_out_needs_the_form_token(desk: Callable[..., Desk]) -> None:
    aliya = desk("aliya")
    assert aliya.client.post("/officers/sign-out", data={"csrf_token": "x"}).status_code == 403
    assert aliya.get("/officers/queue").status_code == 200


def test_expired_sessions_and_disabled_officers_are_refused(
    desk: Callable[..., Desk], db_session: Session
) -> None:
    aliya, bolat = desk("aliya"), desk("bolat")
    db_session.execute(
        update(OfficerSession)
        .where(OfficerSession.officer_id == aliya.officer_id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    officers.disable_officer(db_session, "bolat", "test", dt.datetime.now(dt.UTC))
    db_session.commit()

    assert aliya.get("/officers/queue").status_code == 401
    assert bolat.get("/officers/queue").status_code == 401
    assert sign_in(bolat.client, "bolat").status_code == 401

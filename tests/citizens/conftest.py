"""Signed-in citizens over HTTP: each with their own client (cookie jar), IIN and number."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.sms import service as sms
from ceir.web.app import create_app
from tests.factories import add_subscriber, make_iin

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def last_code(db_session: Session, msisdn: str) -> str:
    db_session.expire_all()
    messages = sms.latest(db_session, limit=1, msisdn=msisdn)
    assert messages, f"no SMS to {msisdn}"
    found = re.search(r"\b(\d{6})\b", messages[0].text)
    assert found
    return found.group(1)


@dataclass
class Citizen:
    client: TestClient
    iin: str
    msisdn: str
    csrf: str = ""

    def get(self, url: str) -> object:
        return self.client.get(url, follow_redirects=False)

    def post(self, url: str, data: dict[str, str], **kwargs: object) -> object:
        return self.client.post(
            url, data={"csrf_token": self.csrf, **data}, follow_redirects=False, **kwargs
        )


def sign_in(client: TestClient, db_session: Session, iin: str, msisdn: str) -> str:
    """The whole sign-in over HTTP; returns the session's CSRF token."""
    page = client.get("/citizen/sign-in")
    asked = client.post(
        "/citizen/sign-in",
        data={"csrf_token": csrf_of(page.text), "iin": iin, "phone": msisdn},
        follow_redirects=False,
    )
    assert asked.status_code == 303, asked.text
    code_page = client.get("/citizen/code")
    entered = client.post(
        "/citizen/code",
        data={"csrf_token": csrf_of(code_page.text), "code": last_code(db_session, msisdn)},
        follow_redirects=False,
    )
    assert entered.status_code == 303, entered.text
    return csrf_of(client.get("/citizen/applications").text)


@pytest.fixture
def citizen_settings(settings: Settings) -> Settings:
    settings.citizens.secret_key = "test-secret"
    return settings


@pytest.fixture
def web_app(citizen_settings: Settings, engine: Engine) -> FastAPI:
    return create_app(citizen_settings, engine)


@pytest.fixture
def new_client(web_app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(web_app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def make_citizen(
    new_client: Callable[[], TestClient], db_session: Session
) -> Callable[[int], Citizen]:
    def make(serial: int = 1) -> Citizen:
        iin = make_iin(serial=serial * 10)
        msisdn = f"7701{serial:07d}"
        add_subscriber(db_session, msisdn, iin)
        client = new_client()
        citizen = Citizen(client, iin, msisdn)
        citizen.csrf = sign_in(client, db_session, iin, msisdn)
        return citizen

    return make

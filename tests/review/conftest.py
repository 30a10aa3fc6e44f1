"""Fixtures of the back office: officers of each role, each with a signed-in HTTPS client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.config import OfficerSettings, Settings
from ceir.review import officers
from ceir.web.app import create_app
from tests.factories import OFFICER_PASSWORD, add_officer

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, with the smallest cost: the tests check behaviour, not key stretching."""
    monkeypatch.setattr(
        officers, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(officers, "_dummy_hash", [])


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "var",
        public_rate_limit_per_minute=10_000,
        officers=OfficerSettings(sign_in_rate_per_minute=10_000),
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Clients over HTTPS (officers' cookies are Secure), each with its own cookie jar."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(
            app,
            base_url="https://testserver",
            follow_redirects=False,
            headers={"accept-language": "en"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def form_token(client: TestClient, path: str) -> str:
    page = client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    match = TOKEN.search(page.text)
    assert match, f"no form token on {path}"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = OFFICER_PASSWORD) -> httpx.Response:
    token = form_token(client, "/officers/sign-in")
    return client.post(
        "/officers/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
    )


@dataclass
class Desk:
    """A signed-in officer: their HTTP client, the form token of their session, their id."""

    client: TestClient
    csrf: str
    username: str
    officer_id: int

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.client.post(path, data={"csrf_token": self.csrf, **data})

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def desk(db_session: Session, new_client: Callable[[], TestClient]) -> Callable[..., Desk]:
    """An officer with the given roles (reviewer by default), created and signed in."""

    def make(username: str, *roles: str) -> Desk:
        officer = add_officer(db_session, username, roles or ("reviewer",))
        client = new_client()
        answer = sign_in(client, username)
        assert answer.status_code == 303, answer.text
        home = "/officers/audit" if set(roles) == {"auditor"} else "/officers/queue"
        return Desk(client, form_token(client, home), username, officer.id)

    return make

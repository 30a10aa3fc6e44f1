"""No one sees or changes another person's application; forms need their CSRF token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.citizens.models import Application, Document
from tests.citizens.conftest import Citizen
from tests.factories import TINY_PDF, add_device_state, make_imei

CAME_BACK = dt.date.today() - dt.timedelta(days=10)


@pytest.fixture
def owner_and_stranger(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> tuple[Citizen, Citizen, Application, Document]:
    owner, stranger = make_citizen(1), make_citizen(2)
    imei = make_imei("35467819", 40)
    add_device_state(db_session, imei, "blocked", first_noncompliant=CAME_BACK)
    answer = owner.post(
        "/citizen/applications/new/appeal",
        {"imei": imei, "entered_on": CAME_BACK.isoformat()},
        files={"boarding_pass": ("pass.pdf", TINY_PDF, "application/pdf")},
    )
    assert answer.status_code == 303  # type: ignore[attr-defined]
    db_session.expire_all()
    application = db_session.scalars(select(Application)).one()
    document = db_session.scalars(select(Document)).one()
    return owner, stranger, application, document


def test_another_persons_application_and_document_answer_404(
    owner_and_stranger: tuple[Citizen, Citizen, Application, Document],
) -> None:
    owner, stranger, application, document = owner_and_stranger
    page = f"/citizen/applications/{application.public_id}"
    file = f"{page}/documents/{document.id}"
    assert owner.get(page).status_code == 200  # type: ignore[attr-defined]
    assert owner.get(file).status_code == 200  # type: ignore[attr-defined]
    for url in (page, file, f"/citizen/applications/{application.id}"):
        assert stranger.get(url).status_code == 404  # type: ignore[attr-defined]
    listing = stranger.get("/citizen/applications")
    assert application.public_id not in listing.text  # type: ignore[attr-defined]


def test_guessed_ids_answer_404_like_another_persons(
    owner_and_stranger: tuple[Citizen, Citizen, Application, Document],
) -> None:
    owner, _stranger, application, document = owner_and_stranger
    for url in (
        "/citizen/applications/AAAAAAAAAAAA",
        f"/citizen/applications/{application.public_id}/documents/{'0' * 32}",
        f"/citizen/applications/AAAAAAAAAAAA/documents/{document.id}",
        f"/citizen/applications/{application.public_id}/documents/..%2F..%2Fceir.db",
    ):
        assert owner.get(url).status_code == 404, url  # type: ignore[attr-defined]


def test_signed_out_visitors_are_sent_to_sign_in_everywhere(
    owner_and_stranger: tuple[Citizen, Citizen, Application, Document],
    new_client: Callable[[], TestClient],
) -> None:
    _owner, _stranger, application, document = owner_and_stranger
    anonymous = new_client()
    page = f"/citizen/applications/{application.public_id}"
    for url in (
        "/citizen/applications",
        page,
        f"{page}/documents/{document.id}",
        "/citizen/applications/new/registration",
        "/citizen/applications/new/appeal",
    ):
        answer = anonymous.get(url, follow_redirects=False)
        assert answer.status_code == 303, url
        # Back to the page asked for once signed in.
        assert answer.headers["location"] == "/citizen/sign-in?" + urlencode({"next": url}), url


def test_a_stranger_cannot_post_with_their_own_token_into_anothers_session(
    owner_and_stranger: tuple[Citizen, Citizen, Application, Document],
) -> None:
    owner, stranger, _application, _document = owner_and_stranger
    # The stranger's token does not fit the owner's session.
    answer = owner.client.post(
        "/citizen/applications/new/registration",
        data={"csrf_token": stranger.csrf, "imei1": make_imei("35467819", 41)},
        follow_redirects=False,
    )
    assert answer.status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong"])
@pytest.mark.parametrize(
    "url",
    [
        "/citizen/applications/new/registration",
        "/citizen/applications/new/appeal",
        "/citizen/sign-out",
    ],
)
def test_a_post_without_the_right_csrf_token_is_refused(
    make_citizen: Callable[[int], Citizen], db_session: Session, url: str, token: str | None
) -> None:
    citizen = make_citizen(1)
    data = {
        "imei1": make_imei("35467819", 42),
        "brand": "Apple",
        "model": "iPhone 17",
        "entered_on": CAME_BACK.isoformat(),
    }
    if token is not None:
        data["csrf_token"] = token
    answer = citizen.client.post(url, data=data, follow_redirects=False)
    assert answer.status_code in (403, 422)
    db_session.expire_all()
    assert db_session.scalars(select(Application)).all() == []
    assert citizen.get("/citizen/applications").status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["/citizen/sign-in", "/citizen/code"])
def test_sign_in_forms_need_the_csrf_token_too(
    new_client: Callable[[], TestClient], url: str
) -> None:
    client = new_client()
    client.get("/citizen/sign-in")  # has a CSRF cookie, but sends a wrong field
    answer = client.post(url, data={"csrf_token": "forged", "iin": "x", "phone": "y"})
    assert answer.status_code == 403

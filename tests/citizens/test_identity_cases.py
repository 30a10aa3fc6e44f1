"""Officers decide disputes of identity use: upheld, the act stays undone; rejected, restored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.citizens.conftest import Citizen
from tests.citizens.identity_helpers import (
    ACTS,
    dispute,
    do_act,
    facts,
    held,
    household,
    last_act,
    link_in,
    texts_to,
)
from tests.factories import add_officer
from tests.review.conftest import form_token
from tests.review.conftest import sign_in as officer_sign_in
from tests.untranslated import english_words


@pytest.fixture
def reviewer(web_app: FastAPI, db_session: Session) -> TestClient:
    add_officer(db_session, "ivanov", ("reviewer",))
    client = TestClient(web_app, base_url="https://testserver", follow_redirects=False)
    assert officer_sign_in(client, "ivanov").status_code == 303
    return client


@pytest.mark.parametrize("outcome", ["uphold", "reject"])
@pytest.mark.parametrize("kind", ACTS)
def test_the_officer_upholds_or_rejects_a_dispute(
    kind: str,
    outcome: str,
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    reviewer: TestClient,
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    imei, device = do_act(db_session, citizen, kind)
    done = facts(db_session, kind, imei, device)
    path = link_in(texts_to(db_session, home.other_number)[0])
    assert dispute(new_client(), path).status_code == 200
    undone = facts(db_session, kind, imei, device)
    assert undone != done
    act = last_act(db_session)

    # The case is in the reviewer's queue, its evidence in sentences of their language.
    queue = reviewer.get("/officers/queue?lang=ru")
    assert f"/officers/disputes/{act.id}" in queue.text
    case = reviewer.get(f"/officers/disputes/{act.id}?lang=ru")
    assert case.status_code == 200
    assert f"+{home.other_number}" in case.text and "сообщил" in case.text
    assert "с другого номера того же ИИН" in case.text
    token = form_token(reviewer, f"/officers/disputes/{act.id}")
    decided = reviewer.post(
        f"/officers/disputes/{act.id}/decision",
        data={"csrf_token": token, "outcome": outcome, "note": "checked with the operator"},
    )
    assert decided.status_code == 303, decided.text

    after = facts(db_session, kind, imei, device)
    assert after == (undone if outcome == "uphold" else done)
    assert not held(db_session, imei[:14])
    assert last_act(db_session).status == ("upheld" if outcome == "uphold" else "rejected")
    assert (
        texts_to(db_session, home.other_number, "identity_dispute")[-1]
        != texts_to(db_session, home.other_number, "identity_dispute")[0]
    )
    # Decided once: a second decision is refused, nothing changes.
    again = reviewer.post(
        f"/officers/disputes/{act.id}/decision",
        data={"csrf_token": token, "outcome": "reject" if outcome == "uphold" else "uphold"},
    )
    assert again.status_code == 409
    assert facts(db_session, kind, imei, device) == after


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_case_file_speaks_the_officers_language(
    lang: str,
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    reviewer: TestClient,
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    do_act(db_session, citizen, "transfer")
    assert (
        dispute(new_client(), link_in(texts_to(db_session, home.other_number)[0])).status_code
        == 200
    )
    act = last_act(db_session)
    case = reviewer.get(f"/officers/disputes/{act.id}?lang={lang}")
    assert case.status_code == 200
    names = {"ivanov", "testclient"}  # the officer's name; the client address of the dispute
    assert english_words(case.text, names) == []
    assert english_words(reviewer.get(f"/officers/queue?lang={lang}").text, names) == []


def test_officers_who_may_not_review_do_not_see_disputes(
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    web_app: FastAPI,
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    do_act(db_session, citizen, "stolen_report")
    assert (
        dispute(new_client(), link_in(texts_to(db_session, home.other_number)[0])).status_code
        == 200
    )
    act = last_act(db_session)
    add_officer(db_session, "auditor1", ("auditor",))
    auditor = TestClient(web_app, base_url="https://testserver", follow_redirects=False)
    assert officer_sign_in(auditor, "auditor1").status_code == 303
    assert auditor.get(f"/officers/disputes/{act.id}").status_code == 403
    token = form_token(auditor, "/officers/audit")
    refused = auditor.post(
        f"/officers/disputes/{act.id}/decision", data={"csrf_token": token, "outcome": "reject"}
    )
    assert refused.status_code == 403
    assert last_act(db_session).status == "disputed"

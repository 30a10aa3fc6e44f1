""" "This was not me": a link from the SMS undoes the act, holds the device and opens a case that
an officer upholds (the act stays undone) or rejects (the act is restored)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens.identity_models import IdentityAct
from ceir.config import Settings
from ceir.eir.index import DeviceCode
from ceir.network import enforcement
from ceir.registry.service import find_registration
from ceir.web.app import create_app
from tests.citizens.conftest import Citizen
from tests.citizens.identity_helpers import (
    ACTS,
    CAME_BACK,
    UNDONE,
    dispute,
    do_act,
    facts,
    held,
    household,
    last_act,
    link_in,
    texts_to,
)


@pytest.mark.parametrize("kind", ACTS)
def test_a_dispute_undoes_the_act_and_holds_the_device(
    kind: str,
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    imei, device = do_act(db_session, citizen, kind)
    done = facts(db_session, kind, imei, device)
    # The dispute comes from the other number of the IIN, a phone without any session.
    path = link_in(texts_to(db_session, home.other_number)[0])
    answer = dispute(new_client(), path)
    assert answer.status_code == 200, answer.text

    undone = facts(db_session, kind, imei, device)
    expected = {
        name: citizen.iin if value == "citizen" else value for name, value in UNDONE[kind].items()
    }
    assert {name: undone[name] for name in expected} == expected
    assert {name: done[name] for name in expected} != expected  # the act had changed them
    assert held(db_session, imei[:14])
    if kind in ("personal_import", "appeal", "second_imei"):
        # Not registered any more, and held: not blocked, "under appeal" at once.
        assert enforcement.codes_now(db_session, [imei[:14]]) == [
            (imei[:14], DeviceCode.UNDER_APPEAL)
        ]
    act = last_act(db_session)
    assert (act.status, act.disputed_by) == ("disputed", home.other_number)
    assert act.undone
    actions = set(
        db_session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "identity_act", AuditEvent.object_id == str(act.id)
            )
        )
    )
    assert {"identity.act", "identity.dispute"} <= actions
    assert f"{act.id}" in texts_to(db_session, home.other_number, "identity_dispute")[0]


def test_a_held_device_takes_no_new_act(
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    imei, _ = do_act(db_session, citizen, "personal_import")
    assert (
        dispute(new_client(), link_in(texts_to(db_session, home.other_number)[0])).status_code
        == 200
    )
    again = citizen.post(
        "/citizen/applications/new/registration?lang=en",
        {
            "imei1": imei,
            "brand": "Apple",
            "model": "iPhone 17",
            "entered_on": CAME_BACK.isoformat(),
        },
    )
    assert again.status_code == 422  # type: ignore[attr-defined]
    assert "held while an officer checks" in again.text  # type: ignore[attr-defined]
    assert find_registration(db_session, imei[:14]) is None


def test_the_link_works_once_and_every_link_of_the_act_dies_with_it(
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    do_act(db_session, citizen, "personal_import")
    mine = link_in(texts_to(db_session, citizen.msisdn)[0])
    other = link_in(texts_to(db_session, home.other_number)[0])
    phone = new_client()
    assert dispute(phone, other).status_code == 200

    assert phone.get(other).status_code == 404
    again = phone.post(other, data={"csrf_token": phone.cookies.get("ceir_csrf") or ""})
    assert again.status_code == 404
    assert phone.get(mine).status_code == 404  # the act's other link died with it
    disputes = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "identity.dispute")
    ).all()
    assert len(disputes) == 1


def test_looking_and_disputing_are_limited_per_client(
    citizen_settings: Settings,
    engine: Engine,
    make_citizen: Callable[[int], Citizen],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    do_act(db_session, citizen, "personal_import")
    path = link_in(texts_to(db_session, home.other_number)[0])
    citizen_settings.citizens.dispute_pages_per_minute_per_client = 2
    with TestClient(create_app(citizen_settings, engine)) as phone:
        assert phone.get(f"{path}?lang=ru").status_code == 200
        assert phone.get(f"{path}?lang=ru").status_code == 200
        limited = phone.get(f"{path}?lang=ru")
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert last_act(db_session).status == "done"


def test_a_link_of_one_act_disputes_that_act_only(
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    first_imei, _ = do_act(db_session, citizen, "personal_import", serial=1)
    first = last_act(db_session)
    second_imei, _ = do_act(db_session, citizen, "personal_import", serial=2)
    second = last_act(db_session)
    first_link = link_in(texts_to(db_session, home.other_number)[0])

    assert dispute(new_client(), first_link).status_code == 200

    db_session.expire_all()
    assert db_session.get_one(IdentityAct, first.id).status == "disputed"
    assert db_session.get_one(IdentityAct, second.id).status == "done"
    assert find_registration(db_session, first_imei[:14]) is None
    assert find_registration(db_session, second_imei[:14]) is not None
    assert not held(db_session, second_imei[:14])


def test_a_forged_or_unknown_link_changes_nothing(
    make_citizen: Callable[[int], Citizen],
    new_client: Callable[[], TestClient],
    db_session: Session,
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)
    imei, _ = do_act(db_session, citizen, "personal_import")
    path = link_in(texts_to(db_session, home.other_number)[0])
    phone = new_client()
    page = phone.get(path)
    # Without the form's token (a post from another site), nothing happens.
    forged = phone.post(path, data={"csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 403
    guessed = phone.get(path[:-4] + "AAAA")
    assert guessed.status_code == 404
    assert page.status_code == 200
    assert find_registration(db_session, imei[:14]) is not None
    assert last_act(db_session).status == "done"

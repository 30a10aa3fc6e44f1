"""Identity use: every act done with an IIN is texted to every number of that IIN, with a link."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens.identity_models import ActLink
from ceir.citizens.identity_use import token_hash
from tests.citizens.conftest import Citizen
from tests.citizens.identity_helpers import (
    ACTS,
    do_act,
    household,
    last_act,
    link_in,
    texts_to,
)

ACT_WORDS_RU = {
    "personal_import": "зарегистрировать телефон",
    "appeal": "обжаловать блокировку",
    "transfer": "передать телефон",
    "stolen_report": "о потере или краже",
    "second_imei": "второй IMEI",
}
ACT_WORDS_KK = {
    "personal_import": "тіркеу",
    "appeal": "шағым",
    "transfer": "басқа иесіне беру",
    "stolen_report": "ұрланғанын",
    "second_imei": "екінші IMEI",
}


@pytest.mark.parametrize("kind", ACTS)
def test_every_number_of_the_iin_hears_of_the_act_in_its_language(
    kind: str, make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    citizen = make_citizen(1)
    home = household(db_session, citizen)

    imei, _device = do_act(db_session, citizen, kind)

    act = last_act(db_session)
    assert (act.kind, act.iin, act.msisdn, act.numbers_told) == (
        kind,
        citizen.iin,
        citizen.msisdn,
        2,
    )
    [to_actor] = texts_to(db_session, citizen.msisdn)
    [to_other] = texts_to(db_session, home.other_number)
    assert texts_to(db_session, home.stranger_number) == []
    # Each in its number's language, naming the act and the device as its owner knows it.
    assert ACT_WORDS_RU[kind] in to_actor and "Apple iPhone 17" in to_actor
    assert ACT_WORDS_KK[kind] in to_other and "Apple iPhone 17" in to_other
    assert f"{imei[-4:]}" in to_actor and imei not in to_actor and imei[:14] not in to_actor
    # Each number its own link; only the hashes are kept.
    first, second = link_in(to_actor), link_in(to_other)
    assert first != second
    stored = set(db_session.scalars(select(ActLink.token_hash).where(ActLink.act_id == act.id)))
    tokens = {first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]}
    assert stored == {token_hash(t) for t in tokens}
    assert not stored & tokens
    audited = db_session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "identity.act", AuditEvent.object_id == str(act.id)
        )
    ).one()
    assert sorted(audited.details["numbers_told"]) == sorted([citizen.msisdn, home.other_number])


def test_what_stood_before_the_act_is_recorded_with_it(
    make_citizen: Callable[[int], Citizen], db_session: Session
) -> None:
    citizen = make_citizen(1)
    do_act(db_session, citizen, "appeal")
    act = last_act(db_session)
    assert act.before["registered"] is False
    assert list(act.before["states"].values()) == ["blocked"]
    assert act.before["paused"] == []

"""Second IMEIs: linked by the network run, confirmed with one tap or automatically, then white."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.check.service import ListColour, Verdict, check_imei
from ceir.config import Settings
from ceir.network.models import DeviceState, LinkStatus, SecondImeiCandidate
from ceir.registry.models import DeviceImei
from tests.citizens.conftest import Citizen
from tests.factories import (
    add_application_in_review,
    add_subscriber,
    make_iin,
    make_imei,
    register_device,
)
from tests.network.helpers import filler, read_list, run_day

DAY1 = dt.date(2026, 11, 1)
FIRST = make_imei("35467819", 930_000)  # registered
SECOND = make_imei("35467819", 930_001)  # the same phone's other slot, unregistered
OTHER_MODEL = make_imei("86012345", 930_002)  # another TAC family, same SIM: not linked


def traffic(db: Session) -> list[tuple[str, str, str]]:
    rows = filler(60, start=1000)
    for imei, _imsi, _msisdn in rows:
        register_device(db, [imei])
    return rows


def candidates(db: Session) -> list[SecondImeiCandidate]:
    db.expire_all()
    return list(db.scalars(select(SecondImeiCandidate).order_by(SecondImeiCandidate.id)))


def notified(settings: Settings, run_id: int) -> set[str]:
    rows = read_list(settings, run_id, "kcell", "notification_full.csv.gz")
    return {row["imei"] for row in rows}


def test_second_imei_seen_with_the_owners_sim_is_white_after_one_tap(
    db_session: Session,
    citizen_settings: Settings,
    tmp_path: Path,
    make_citizen: Callable[[int], Citizen],
) -> None:
    owner = make_citizen(1)
    stranger = make_citizen(2)
    background = traffic(db_session)
    register_device(db_session, [FIRST])  # by an importer: the buyer is known only by the SIM
    sim = ("401020000093001", owner.msisdn)
    day = [*background, (FIRST, *sim), (SECOND, *sim)]

    day1 = run_day(db_session, citizen_settings, tmp_path, DAY1, {"kcell": day})

    assert SECOND[:14] in notified(citizen_settings, day1.run_id)  # grey until confirmed
    [link] = candidates(db_session)
    assert (link.imei, link.registered_imei) == (SECOND[:14], FIRST[:14])
    assert (link.status, link.iin, link.conclusive) == ("pending", owner.iin, False)
    assert link.evidence["msisdn"] == owner.msisdn
    assert day1.counts["second_imei_pending"] == 1

    page = owner.get("/citizen/applications?lang=en")
    assert "Confirm the second IMEI of your device" in page.text  # type: ignore[attr-defined]
    assert SECOND[:14] in page.text  # type: ignore[attr-defined]
    assert SECOND[:14] not in stranger.get("/citizen/applications").text  # type: ignore[attr-defined]
    # Another person's link answers like one that does not exist.
    refused = stranger.post(f"/citizen/second-imeis/{link.id}/confirm", {})
    assert refused.status_code == 404  # type: ignore[attr-defined]
    # Without the form's token nothing happens.
    forged = owner.client.post(
        f"/citizen/second-imeis/{link.id}/confirm", data={}, follow_redirects=False
    )
    assert forged.status_code in (403, 422)

    tapped = owner.post(f"/citizen/second-imeis/{link.id}/confirm", {})
    assert tapped.status_code == 303  # type: ignore[attr-defined]

    db_session.expire_all()
    result = check_imei(db_session, SECOND)
    assert (result.verdict, result.list_colour) == (Verdict.REGISTERED, ListColour.WHITE)
    slots = db_session.scalars(
        select(DeviceImei.slot).where(DeviceImei.imei_key == int(SECOND[:14]))
    ).all()
    assert slots == [2]
    assert candidates(db_session)[0].status == LinkStatus.CONFIRMED

    day2 = run_day(
        db_session, citizen_settings, tmp_path, DAY1 + dt.timedelta(days=1), {"kcell": day}
    )
    assert SECOND[:14] not in notified(citizen_settings, day2.run_id)
    delta = read_list(citizen_settings, day2.run_id, "kcell", "notification_delta.csv.gz")
    assert {(d["imei"], d["change_type"]) for d in delta} == {(SECOND[:14], "resolved")}
    assert db_session.get(DeviceState, SECOND[:14]) is None
    assert day2.counts["second_imei_pending"] == 0


def test_owner_of_record_with_their_own_sim_is_linked_automatically(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    background = traffic(db_session)
    iin, msisdn = make_iin(serial=300), "77010093002"
    add_subscriber(db_session, msisdn, iin)
    device = register_device(db_session, [FIRST], source="personal_import")
    application = add_application_in_review(
        db_session, public_id="SECONDIMEI01", iin=iin, imei=FIRST, status="approved"
    )
    application.device_id = device.id
    db_session.commit()
    sim = ("401020000093002", msisdn)
    day = [*background, (FIRST, *sim), (SECOND, *sim), (OTHER_MODEL, *sim)]

    day1 = run_day(db_session, settings, tmp_path, DAY1, {"kcell": day})

    [link] = candidates(db_session)  # the other model's IMEI is not taken for a second slot
    assert (link.imei, link.status, link.conclusive) == (SECOND[:14], "confirmed", True)
    assert link.decided_by == "system:second-imei"
    assert day1.counts["second_imei_confirmed_automatically"] == 1
    assert check_imei(db_session, SECOND).list_colour is ListColour.WHITE
    assert SECOND[:14] not in notified(settings, day1.run_id)
    assert OTHER_MODEL[:14] in notified(settings, day1.run_id)
    assert db_session.get(DeviceState, SECOND[:14]) is None

    day2 = run_day(db_session, settings, tmp_path, DAY1 + dt.timedelta(days=1), {"kcell": day})
    assert SECOND[:14] not in notified(settings, day2.run_id)
    assert len(candidates(db_session)) == 1  # found once, not again every run


def test_sims_seen_weeks_apart_are_not_linked(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    background = traffic(db_session)
    register_device(db_session, [FIRST])
    sim = ("401020000093003", "77010093003")
    run_day(db_session, settings, tmp_path, DAY1, {"kcell": [*background, (FIRST, *sim)]})
    later = DAY1 + dt.timedelta(days=settings.network.second_imei_window_days + 3)
    run_day(db_session, settings, tmp_path, later, {"kcell": [*background, (SECOND, *sim)]})
    assert candidates(db_session) == []

"""An owner hands a registered device over to a buyer, who confirms with a code sent by SMS."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ceir.audit.models import AuditEvent
from ceir.citizens.device_models import OwnershipTransfer
from ceir.citizens.ownership import owner_of
from ceir.config import Settings
from ceir.registry.models import Device
from ceir.sms import service as sms
from ceir.sms.models import SmsMessage
from ceir.web.app import create_app
from tests.browser import serve
from tests.citizens.conftest import Citizen
from tests.factories import add_owned_device, add_subscriber, make_iin, make_imei

PHONE = (make_imei("35467819", 800_001),)


@pytest.fixture
def seller(make_citizen: Callable[[int], Citizen]) -> Citizen:
    return make_citizen(1)


@pytest.fixture
def buyer(make_citizen: Callable[[int], Citizen]) -> Citizen:
    return make_citizen(2)


@pytest.fixture
def phone(seller: Citizen, db_session: Session) -> Device:
    return add_owned_device(db_session, seller.iin, PHONE)


def _texts(db_session: Session, msisdn: str) -> list[str]:
    """Texts about hand-overs, newest first (not those telling of every use of the IIN)."""
    db_session.expire_all()
    messages = sms.latest(db_session, limit=20, msisdn=msisdn)
    return [m.text for m in messages if m.purpose != "identity_use"]


def _code(db_session: Session, msisdn: str) -> str:
    found = re.search(r"\b(\d{6})\b", _texts(db_session, msisdn)[0])
    assert found
    return found.group(1)


def _transfer(db_session: Session) -> OwnershipTransfer:
    db_session.expire_all()
    return db_session.scalars(
        select(OwnershipTransfer).order_by(OwnershipTransfer.id.desc())
    ).first()  # type: ignore[return-value]


def test_a_handover_needs_the_buyers_code_and_then_the_device_is_the_buyers(
    seller: Citizen, buyer: Citizen, phone: Device, db_session: Session
) -> None:
    started = seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": buyer.iin})
    assert started.status_code == 303, started.text  # type: ignore[attr-defined]
    code = _code(db_session, buyer.msisdn)
    assert PHONE[0] in _texts(db_session, buyer.msisdn)[0]
    transfer = _transfer(db_session)
    assert (transfer.from_iin, transfer.to_iin, transfer.confirmed_at) == (
        seller.iin,
        buyer.iin,
        None,
    )
    assert code not in transfer.code_hash  # only the HMAC is kept
    assert owner_of(db_session, phone.id) == seller.iin

    wrong = "000000" if code != "000000" else "111111"
    refused = seller.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": wrong})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert owner_of(db_session, phone.id) == seller.iin
    # The buyer cannot confirm it for the seller: the hand-over is the seller's.
    stolen_try = buyer.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": code})
    assert stolen_try.status_code == 404  # type: ignore[attr-defined]

    done = seller.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": code})
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]

    db_session.expire_all()
    assert owner_of(db_session, phone.id) == buyer.iin
    assert PHONE[0] in buyer.get("/citizen/devices").text  # type: ignore[attr-defined]
    assert PHONE[0] not in seller.get("/citizen/devices").text  # type: ignore[attr-defined]
    # Now only the buyer may report it.
    assert (
        seller.post(
            f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"}
        ).status_code
        == 404
    )  # type: ignore[attr-defined]
    assert (
        buyer.post(
            f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"}
        ).status_code
        == 303
    )  # type: ignore[attr-defined]
    # History is kept; both parties are told; both steps are audited.
    row = _transfer(db_session)
    assert row.confirmed_at is not None and row.code_attempts == 2
    assert (
        "now registered to you" in _texts(db_session, buyer.msisdn)[0]
        or "зарегистрирован" in (_texts(db_session, buyer.msisdn)[0])
    )
    assert any(
        m.purpose == "transfer"
        for m in db_session.scalars(select(SmsMessage).where(SmsMessage.msisdn == seller.msisdn))
    )
    actions = set(
        db_session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(phone.id)))
    )
    assert {"citizens.transfer_start", "citizens.transfer_confirm"} <= actions


def test_five_wrong_codes_end_the_handover(
    seller: Citizen, buyer: Citizen, phone: Device, db_session: Session
) -> None:
    seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": buyer.iin})
    code = _code(db_session, buyer.msisdn)
    transfer = _transfer(db_session)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        seller.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": wrong})
    late = seller.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": code})
    assert late.status_code == 404  # type: ignore[attr-defined]
    assert _transfer(db_session).cancelled_at is not None
    assert owner_of(db_session, phone.id) == seller.iin


def test_a_buyer_without_a_number_on_record_gets_no_code_and_none_works(
    seller: Citizen, phone: Device, db_session: Session
) -> None:
    nobody = make_iin(serial=4242)
    started = seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": nobody})
    assert started.status_code == 303  # type: ignore[attr-defined]  # same answer as with a number
    transfer = _transfer(db_session)
    assert transfer.code_msisdn is None
    for guess in ("000000", "123456"):
        seller.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": guess})
    assert owner_of(db_session, phone.id) == seller.iin


def test_a_handover_is_refused_to_oneself_to_a_bad_iin_and_for_a_reported_device(
    seller: Citizen, buyer: Citizen, phone: Device, db_session: Session
) -> None:
    for iin in (seller.iin, "123", "900101300000"):
        answer = seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": iin})
        assert answer.status_code == 422, iin  # type: ignore[attr-defined]
    seller.post(f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"})
    reported = seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": buyer.iin})
    assert reported.status_code == 422  # type: ignore[attr-defined]
    assert _transfer(db_session) is None


def test_reporting_a_device_ends_its_waiting_handover_and_the_owner_may_cancel_one(
    seller: Citizen, buyer: Citizen, phone: Device, db_session: Session
) -> None:
    seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": buyer.iin})
    first = _transfer(db_session)
    cancelled = seller.post(f"/citizen/transfers/{first.id}/cancel", {})
    assert cancelled.status_code == 303  # type: ignore[attr-defined]
    assert _transfer(db_session).cancelled_at is not None

    add_subscriber(db_session, "77019999999", make_iin(serial=77))
    seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": make_iin(serial=77)})
    second = _transfer(db_session)
    assert second.id != first.id and second.cancelled_at is None
    seller.post(f"/citizen/devices/{phone.id}/report", {"kind": "lost", "confirmed": "yes"})
    assert _transfer(db_session).cancelled_at is not None


def test_parallel_guesses_of_a_handover_code_are_judged_at_most_five_times(
    seller: Citizen,
    buyer: Citizen,
    phone: Device,
    citizen_settings: Settings,
    engine: Engine,
    db_session: Session,
) -> None:
    seller.post(f"/citizen/devices/{phone.id}/transfer", {"buyer_iin": buyer.iin})
    code = _code(db_session, buyer.msisdn)
    transfer = _transfer(db_session)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    cookies = {c.name: c.value or "" for c in seller.client.cookies.jar}
    cookies["lang"] = "en"
    citizen_settings.citizens.code_checks_per_minute_per_client = 1000  # the code's own limit only
    guesses = 40
    start = threading.Barrier(guesses)
    with serve(create_app(citizen_settings, engine)) as url:

        def guess(_: int) -> str:
            with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
                start.wait()
                answer = client.post(
                    f"/citizen/transfers/{transfer.id}/confirm",
                    data={"csrf_token": seller.csrf, "code": wrong},
                )
                return answer.text

        with ThreadPoolExecutor(guesses) as pool:
            answers = list(pool.map(guess, range(guesses)))

    # Each judged wrong guess but the last says how many remain; the rest are refused.
    left = sorted(int(n) for a in answers for n in re.findall(r"Attempts left: (\d+)", a))
    assert left == [1, 2, 3, 4]
    row = _transfer(db_session)
    assert row.code_attempts == 5 and row.cancelled_at is not None


def test_ids_past_64_bits_in_citizen_pages_are_refused_not_a_500(seller: Citizen) -> None:
    huge = 2**63
    seller.client.headers["Accept"] = "application/json"
    answers = [
        seller.get(f"/citizen/devices/{huge}/transfer"),
        seller.post(f"/citizen/devices/{huge}/transfer", {"buyer_iin": seller.iin}),
        seller.post(f"/citizen/devices/{huge}/report", {"kind": "lost"}),
        seller.post(f"/citizen/devices/{huge}/report/cancel", {}),
        seller.post(f"/citizen/transfers/{huge}/confirm", {"code": "123456"}),
        seller.post(f"/citizen/transfers/{huge}/cancel", {}),
        seller.post(f"/citizen/second-imeis/{huge}/confirm", {}),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
        assert answer.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]

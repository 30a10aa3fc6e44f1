"""Acts done with an IIN over HTTP, and the "not me" links the SMS carry: shared by the tests."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ceir.citizens.device_models import OwnershipTransfer
from ceir.citizens.identity_models import IdentityAct
from ceir.citizens.models import Application
from ceir.citizens.ownership import owner_of
from ceir.network.models import (
    IDENTITY_HOLD,
    BlockPause,
    LinkStatus,
    SecondImeiCandidate,
    StolenDevice,
)
from ceir.registry.models import Device
from ceir.registry.service import find_registration
from ceir.sms.models import SmsMessage
from tests.citizens.conftest import Citizen, csrf_of
from tests.factories import (
    TINY_PDF,
    add_device_number,
    add_device_state,
    add_owned_device,
    add_subscriber,
    add_tac,
    add_trip,
    make_iin,
    make_imei,
)

TODAY = dt.date.today()
LEFT, CAME_BACK = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=10)
TAC = "35467819"
LINK = re.compile(r"https://ceir\.kz(/citizen/n/[A-Za-z0-9_-]{22})\b")
ACTS = ("personal_import", "appeal", "transfer", "stolen_report", "second_imei")


@dataclass
class Household:
    """A citizen signed in with one number, a second number of the same IIN (Kazakh), and a
    stranger's number that must hear nothing."""

    citizen: Citizen
    other_number: str
    stranger_number: str


def household(db: Session, citizen: Citizen, serial: int = 1) -> Household:
    other, stranger = f"7771{serial:07d}", f"7781{serial:07d}"
    add_subscriber(db, other, citizen.iin, operator="beeline", language="kk")
    add_subscriber(db, stranger, make_iin("880101", serial=500 + serial), operator="tele2")
    return Household(citizen, other, stranger)


def texts_to(db: Session, msisdn: str, purpose: str = "identity_use") -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(SmsMessage.text)
            .where(SmsMessage.msisdn == msisdn, SmsMessage.purpose == purpose)
            .order_by(SmsMessage.id)
        )
    )


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found.group(1)


def last_act(db: Session) -> IdentityAct:
    db.expire_all()
    act = db.scalars(select(IdentityAct).order_by(IdentityAct.id.desc())).first()
    assert act is not None
    return act


def do_act(db: Session, citizen: Citizen, kind: str, serial: int = 1) -> tuple[str, Device | None]:
    """Do one act of `kind` through the citizen's pages; returns the device's first IMEI and the
    registered device, if any."""
    add_tac(db, TAC, "Apple", "A3101", marketing_name="iPhone 17") if not _has_tac(db) else None
    if kind == "personal_import":
        imei = make_imei(TAC, 100 + serial)
        add_trip(db, citizen.iin, LEFT, CAME_BACK, prefix=f"P{serial}")
        answer = citizen.post(
            "/citizen/applications/new/registration",
            {
                "imei1": imei,
                "brand": "Apple",
                "model": "iPhone 17",
                "entered_on": CAME_BACK.isoformat(),
            },
        )
        assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
        return imei, None
    if kind == "appeal":
        imei = make_imei(TAC, 200 + serial)
        add_device_state(db, imei, "blocked")
        add_device_number(db, imei, citizen.msisdn)
        answer = citizen.client.post(
            "/citizen/applications/new/appeal",
            data={"csrf_token": citizen.csrf, "imei": imei, "entered_on": CAME_BACK.isoformat()},
            files={"boarding_pass": ("boarding.pdf", TINY_PDF, "application/pdf")},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return imei, None
    imei = make_imei(TAC, 300 + serial)
    device = add_owned_device(db, citizen.iin, [imei], public_id=f"OWNED{serial:04d}")
    if kind == "stolen_report":
        answer = citizen.post(
            f"/citizen/devices/{device.id}/report", {"kind": "lost", "confirmed": "yes"}
        )
        assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    elif kind == "transfer":
        buyer_iin, buyer_number = make_iin("850505", serial=700 + serial), f"7702{serial:07d}"
        add_subscriber(db, buyer_number, buyer_iin)
        started = citizen.post(f"/citizen/devices/{device.id}/transfer", {"buyer_iin": buyer_iin})
        assert started.status_code == 303, started.text  # type: ignore[attr-defined]
        code = re.search(r"\b(\d{6})\b", texts_to(db, buyer_number, "transfer_code")[-1])
        assert code
        transfer = db.scalars(
            select(OwnershipTransfer).order_by(OwnershipTransfer.id.desc())
        ).first()
        assert transfer is not None
        done = citizen.post(f"/citizen/transfers/{transfer.id}/confirm", {"code": code.group(1)})
        assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    elif kind == "second_imei":
        second = make_imei(TAC, 400 + serial)
        candidate = SecondImeiCandidate(
            imei=second[:14],
            registered_imei=imei[:14],
            device_id=device.id,
            iin=citizen.iin,
            conclusive=False,
            evidence={"msisdn": citizen.msisdn},
            status=LinkStatus.PENDING.value,
            found_run=1,
            found_at=dt.datetime.now(dt.UTC),
        )
        db.add(candidate)
        db.commit()
        answer = citizen.post(f"/citizen/second-imeis/{candidate.id}/confirm", {})
        assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
        imei = second
    return imei, device


def _has_tac(db: Session) -> bool:
    from ceir.tac.models import TacModel

    return db.get(TacModel, TAC) is not None


def facts(db: Session, kind: str, imei: str, device: Device | None) -> dict[str, Any]:
    """What an act changes, as the registry, the reports and the applications say now."""
    db.expire_all()
    key = imei[:14]
    application = db.scalars(
        select(Application).where(Application.imei1 == key).order_by(Application.id.desc())
    ).first()
    return {
        "registered": find_registration(db, key) is not None,
        "stolen": db.scalar(
            select(StolenDevice.imei).where(
                StolenDevice.imei == key, StolenDevice.cancelled_at.is_(None)
            )
        )
        is not None,
        "owner": owner_of(db, device.id) if device else None,
        "application": application.status if application else None,
        "appeal_paused": db.scalar(
            select(BlockPause.id).where(
                BlockPause.imei == key, BlockPause.reason == "appeal", BlockPause.ended_at.is_(None)
            )
        )
        is not None,
    }


def held(db: Session, key: str) -> bool:
    db.expire_all()
    return (
        db.scalar(
            select(BlockPause.id).where(
                BlockPause.imei == key,
                BlockPause.reason == IDENTITY_HOLD,
                BlockPause.ended_at.is_(None),
            )
        )
        is not None
    )


def dispute(client: TestClient, path: str, lang: str = "kk") -> Any:
    """Open the link as a phone does (it follows the redirect to its language), then tap."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert f'lang="{lang}"' in page.text
    return client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)


# What each dispute undoes, compared with the facts the act left.
UNDONE: dict[str, dict[str, Any]] = {
    "personal_import": {"registered": False, "application": "withdrawn"},
    "appeal": {"application": "withdrawn", "appeal_paused": False},
    "transfer": {"owner": "citizen"},
    "stolen_report": {"stolen": False},
    "second_imei": {"registered": False},
}

"""Buying abroad: a device never seen on a Kazakh network gets the advice for after entry."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_device_state, add_tac, make_imei, register_device

NEVER_SEEN = make_imei("35467819", 950_001)
NOTIFIED = make_imei("35467819", 950_002)
REGISTERED = make_imei("35467819", 950_003)


def test_never_seen_device_carries_the_advice_for_buyers_abroad(
    app_client: TestClient, db_session: Session
) -> None:
    add_tac(db_session, "35467819", "Apple", "A3101")  # a genuine model, not a made-up TAC
    add_device_state(db_session, NOTIFIED, "notified")
    register_device(db_session, [REGISTERED])
    answer = app_client.get(f"/api/v1/imei/{NEVER_SEEN}?lang=en").json()
    assert answer["verdict"] == "not_registered"
    assert "personal import within 30 days" in answer["abroad_advice"]
    assert "stolen" in answer["abroad_advice"]
    for imei in (NOTIFIED, REGISTERED):
        assert app_client.get(f"/api/v1/imei/{imei}?lang=en").json()["abroad_advice"] is None

    pages = {
        "ru": "Покупаете за границей?",
        "kk": "Шетелде сатып аласыз ба?",
        "en": "Buying abroad?",
    }
    for lang, heading in pages.items():
        assert heading in app_client.get(f"/?imei={NEVER_SEEN}&lang={lang}").text
        assert heading not in app_client.get(f"/?imei={NOTIFIED}&lang={lang}").text

"""The buyer sees the seller's record of a sale on the public check, given its receipt number."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.partners.models import Sale
from tests.factories import make_imei, register_device

SOLD = make_imei("35467819", 510_001)
OTHER = make_imei("35467819", 510_002)


@pytest.fixture
def sale(db_session: Session) -> Sale:
    register_device(db_session, [SOLD])
    row = Sale(
        imei=SOLD[:14],
        owner="technodom",
        sold_on=dt.date(2026, 11, 20),
        receipt_number="R-000123",
        created_at=dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC),
    )
    db_session.add(row)
    db_session.commit()
    return row


def test_the_right_receipt_shows_seller_date_and_receipt(
    app_client: TestClient, sale: Sale
) -> None:
    body = app_client.get(f"/api/v1/imei/{SOLD}", params={"receipt": " R-000123 ", "lang": "en"})

    assert body.status_code == 200
    record = body.json()["sale"]
    assert record == {
        "seller": "technodom",
        "sold_on": "2026-11-20",
        "receipt_number": "R-000123",
        "text": "Sold by technodom on November 20, 2026, receipt R-000123.",
    }
    assert body.json()["verdict"] == "registered"


@pytest.mark.parametrize("receipt", [None, "", "R-000124", "r-000123", "R-0001"])
def test_no_sale_is_shown_without_the_exact_receipt(
    app_client: TestClient, sale: Sale, receipt: str | None
) -> None:
    params = {"receipt": receipt} if receipt is not None else {}
    assert app_client.get(f"/api/v1/imei/{SOLD}", params=params).json()["sale"] is None


def test_a_receipt_of_another_imei_shows_nothing(app_client: TestClient, sale: Sale) -> None:
    answer = app_client.get(f"/api/v1/imei/{OTHER}", params={"receipt": "R-000123"})
    assert answer.json()["sale"] is None
    invalid = app_client.get("/api/v1/imei/123", params={"receipt": "R-000123"})
    assert invalid.json()["verdict"] == "invalid" and invalid.json()["sale"] is None


def test_a_receipt_number_longer_than_64_characters_is_refused(app_client: TestClient) -> None:
    assert app_client.get(f"/api/v1/imei/{SOLD}", params={"receipt": "R" * 65}).status_code == 422
    assert app_client.get("/", params={"imei": SOLD, "receipt": "R" * 65}).status_code == 422


def test_the_check_page_shows_the_sale_only_with_its_receipt(
    app_client: TestClient, sale: Sale
) -> None:
    with_receipt = app_client.get("/", params={"imei": SOLD, "receipt": "R-000123", "lang": "en"})
    assert "Sold by technodom on November 20, 2026, receipt R-000123." in with_receipt.text
    assert 'name="receipt"' in with_receipt.text

    without = app_client.get("/", params={"imei": SOLD, "lang": "en"})
    assert "technodom" not in without.text
    wrong = app_client.get("/", params={"imei": SOLD, "receipt": "R-9", "lang": "en"})
    assert "technodom" not in wrong.text
    assert "No sale of this IMEI with that receipt number is on record." in wrong.text

    russian = app_client.get("/", params={"imei": SOLD, "receipt": "R-000123", "lang": "ru"})
    assert "technodom" in russian.text and "20 ноября 2026" in russian.text

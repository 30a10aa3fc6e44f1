"""Verification fees: 1 MRP per device a partner registers, monthly statements, the unpaid limit."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.apikeys.service import create_key
from ceir.check.service import Verdict, check_imei
from ceir.config import Settings
from ceir.db import utcnow
from ceir.partners import fees
from ceir.partners.models import FeeEntry
from tests.factories import make_imei

BIN = "960440000220"
HEADER = "declaration_number,declaration_date,importer_bin,brand,model,imei1,imei2\n"


def declarations(number: str, first_serial: int, devices: int) -> str:
    rows = [
        f"{number},2025-01-15,{BIN},Apple,iPhone 17,"
        f"{make_imei('35467819', first_serial + 2 * n)},"
        f"{make_imei('35467819', first_serial + 2 * n + 1)}\n"
        for n in range(devices)
    ]
    return HEADER + "".join(rows)


def partner_key(db: Session, settings: Settings, owner: str = "technodom") -> dict[str, str]:
    _row, plaintext = create_key(
        db,
        owner_kind="partner",
        owner=owner,
        scopes={"register-declarations"},
        label="declarations",
        created_by="test",
        settings=settings,
    )
    db.commit()
    return {"Authorization": f"Bearer {plaintext}", "Content-Type": "text/csv"}


def test_mrp_is_a_setting_by_year() -> None:
    settings = Settings()
    assert fees.mrp(settings, 2025) == 3932
    assert fees.mrp(settings, 2031) == fees.mrp(settings, max(settings.fees.mrp_by_year))


def test_monthly_statement_sums_the_fees_of_the_partners_registrations(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers = partner_key(db_session, settings)
    fee = fees.fee_per_device(settings, utcnow())
    month = fees.month_of(utcnow())

    loaded = app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-1", 0, 3), headers=headers
    )
    assert loaded.status_code == 200, loaded.text
    body = loaded.json()
    assert body["report"]["rows_accepted"] == 3
    assert body["fee"] == {
        "month": month,
        "devices": 3,
        "fee_per_device_tenge": fee,
        "amount_tenge": 3 * fee,
    }
    assert check_imei(db_session, make_imei("35467819", 1)).verdict is Verdict.REGISTERED
    # The same file again registers nothing new and costs nothing.
    again = app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-1", 0, 3), headers=headers
    )
    assert again.json()["fee"] is None and again.json()["report"]["rows_skipped"] == 3
    app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-2", 100, 2), headers=headers
    )

    statement = app_client.get(f"/api/v1/partners/statements/{month}.csv", headers=headers)
    assert statement.status_code == 200
    rows = list(csv.DictReader(io.StringIO(statement.text)))
    lines, total = rows[:-1], rows[-1]
    assert len(lines) == 5
    assert {line["imei1"] for line in lines} >= {make_imei("35467819", 0)[:14]}
    assert sum(int(line["fee_tenge"]) for line in lines) == 5 * fee == int(total["fee_tenge"])
    assert total["registered_at"] == "total"

    page = app_client.get(f"/api/v1/partners/statements/{month}.html?lang=ru", headers=headers)
    assert page.status_code == 200
    assert "Выписка по сборам за верификацию" in page.text and str(5 * fee) in page.text
    # Another partner sees an empty statement of its own, never this one.
    other = partner_key(db_session, settings, owner="sulpak")
    other_rows = list(
        csv.DictReader(
            io.StringIO(
                app_client.get(f"/api/v1/partners/statements/{month}.csv", headers=other).text
            )
        )
    )
    assert other_rows == [
        {
            "registered_at": "total",
            "declaration_number": "",
            "imei1": "",
            "brand": "",
            "model": "0 devices",
            "fee_tenge": "0",
        }
    ]


def test_unpaid_limit_holds_registrations_until_the_month_is_paid(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    fee = fees.fee_per_device(settings, utcnow())
    settings.fees.unpaid_limits = {"technodom": 4 * fee}
    headers = partner_key(db_session, settings)
    first = app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-1", 0, 3), headers=headers
    )
    assert first.status_code == 200, first.text

    held = app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-2", 100, 2), headers=headers
    )
    assert held.status_code == 402
    problem = held.json()
    assert problem["code"] == "unpaid_fees"
    assert (problem["unpaid_tenge"], problem["limit_tenge"]) == (3 * fee, 4 * fee)
    db_session.expire_all()
    assert check_imei(db_session, make_imei("35467819", 100)).verdict is Verdict.NOT_REGISTERED

    assert fees.mark_paid(db_session, "technodom", fees.month_of(utcnow()), actor="test") == 1
    db_session.commit()
    released = app_client.post(
        "/api/v1/partners/declarations", content=declarations("D-2", 100, 2), headers=headers
    )
    assert released.status_code == 200, released.text
    assert released.json()["unpaid_tenge"] == 2 * fee
    assert check_imei(db_session, make_imei("35467819", 100)).verdict is Verdict.REGISTERED


def test_declarations_need_the_scope(
    app_client: TestClient, db_session: Session, settings: Settings
) -> None:
    _row, plaintext = create_key(
        db_session,
        owner_kind="partner",
        owner="kaspi",
        scopes={"check"},
        label="checks only",
        created_by="test",
        settings=settings,
    )
    db_session.commit()
    refused = app_client.post(
        "/api/v1/partners/declarations",
        content=declarations("D-9", 500, 1),
        headers={"Authorization": f"Bearer {plaintext}", "Content-Type": "text/csv"},
    )
    assert refused.status_code == 403


def test_officer_marks_a_month_paid_on_the_command_line(
    db_session: Session, settings: Settings, cli_env: None
) -> None:
    from typer.testing import CliRunner

    from ceir.cli import app

    month = fees.month_of(utcnow())
    db_session.add(
        FeeEntry(
            partner="technodom",
            month=month,
            batch_id=1,
            filename="d.csv",
            devices=2,
            fee_per_device=3932,
            amount=7864,
            created_at=utcnow(),
        )
    )
    db_session.commit()
    runner = CliRunner()
    result = runner.invoke(app, ["partners", "fees", "mark-paid", "--partner", "technodom", month])
    assert result.exit_code == 0, result.output
    assert "1 entries marked paid; unpaid now 0 tenge" in result.output
    db_session.expire_all()
    assert fees.unpaid_of(db_session, "technodom") == 0

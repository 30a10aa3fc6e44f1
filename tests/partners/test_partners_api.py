"""The partners' API: scopes, revocation, limits, bulk order, signals, jobs, sale records."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ceir.apikeys.service import create_key, revoke
from ceir.network.models import DeviceFlag
from tests.factories import add_tac, make_imei, register_device

TAC = "35467819"


def partner_key(db: Session, owner: str = "kaspi", **limits: int | None) -> str:
    _row, plaintext = create_key(
        db,
        owner_kind="partner",
        owner=owner,
        scopes={"check"},
        label=f"{owner} marketplace",
        created_by="test",
        **limits,
    )
    db.commit()
    return plaintext


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_bulk_answers_keep_order_mark_bad_lines_and_name_fake_signs(
    app_client: TestClient, db_session: Session
) -> None:
    add_tac(db_session, TAC, "Apple", "A3523", "iPhone 17 Pro")
    registered, cloned, free = make_imei(TAC, 1), make_imei(TAC, 2), make_imei(TAC, 3)
    register_device(db_session, [registered])
    register_device(db_session, [cloned])
    db_session.add(
        DeviceFlag(imei=cloned[:14], flag="duplicate", since=dt.date(2026, 11, 1), run_id=1)
    )
    db_session.commit()
    key = partner_key(db_session)
    items = [
        {"imei": free, "brand": "Apple", "model": "iPhone 17 Pro"},
        {"imei": "not an imei"},
        {"imei": registered, "brand": "Samsung", "model": "Galaxy S25"},
        {"imei": cloned},
        {"imei": make_imei("99000001", 5)},
    ]

    answer = app_client.post("/api/v1/partners/checks", json={"items": items}, headers=auth(key))

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["verdict"] for r in results] == [
        "not_registered",
        "invalid",
        "registered",
        "registered",
        "not_registered",
    ]
    assert results[0]["signals"] == []
    assert results[1]["reason"]
    assert results[1]["list_colour"] is None  # a typo names no device: it is on no list
    assert [r["list_colour"] for r in results[2:]] == ["white", "white", "grey"]
    assert set(results[2]["signals"]) == {"brand_mismatch", "model_mismatch"}
    assert results[3]["signals"] == ["cloned"]
    assert results[4]["signals"] == ["unknown_tac"]
    assert results[2]["marketing_name"] == "iPhone 17 Pro"


def test_csv_bodies_are_accepted_and_big_requests_go_to_jobs(
    app_client: TestClient, db_session: Session
) -> None:
    key = partner_key(db_session)
    body = "imei,brand\n" + "\n".join(f"{make_imei(TAC, n)},Apple" for n in range(5))
    answer = app_client.post(
        "/api/v1/partners/checks", content=body, headers={**auth(key), "Content-Type": "text/csv"}
    )
    assert [r["query"] for r in answer.json()["results"]] == [make_imei(TAC, n) for n in range(5)]
    too_many = "\n".join(make_imei(TAC, n) for n in range(10_001))
    refused = app_client.post(
        "/api/v1/partners/checks",
        content=too_many,
        headers={**auth(key), "Content-Type": "text/plain"},
    )
    assert refused.status_code == 413


def test_a_key_without_the_check_scope_or_revoked_is_refused_at_once(
    app_client: TestClient, db_session: Session
) -> None:
    _row, operator_key = create_key(
        db_session,
        owner_kind="operator",
        owner="kcell",
        scopes={"lists:read"},
        label="kcell",
        created_by="test",
    )
    db_session.commit()
    payload = {"items": [{"imei": make_imei(TAC, 1)}]}
    assert (
        app_client.post(
            "/api/v1/partners/checks", json=payload, headers=auth(operator_key)
        ).status_code
        == 403
    )
    key = partner_key(db_session)
    assert (
        app_client.post("/api/v1/partners/checks", json=payload, headers=auth(key)).status_code
        == 200
    )
    revoke(db_session, key.split("_")[1], "test", dt.datetime.now(dt.UTC))
    db_session.commit()
    assert (
        app_client.post("/api/v1/partners/checks", json=payload, headers=auth(key)).status_code
        == 401
    )


def test_per_key_rate_limit_and_daily_quota_answer_429(
    app_client: TestClient, db_session: Session
) -> None:
    payload = {"items": [{"imei": make_imei(TAC, n)} for n in range(4)]}
    fast = partner_key(db_session, owner="shop", rate_per_minute=2)
    codes = [
        app_client.post("/api/v1/partners/checks", json=payload, headers=auth(fast)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]

    small = partner_key(db_session, owner="kiosk", daily_quota=10)
    first = app_client.post("/api/v1/partners/checks", json=payload, headers=auth(small))
    second = app_client.post("/api/v1/partners/checks", json=payload, headers=auth(small))
    third = app_client.post("/api/v1/partners/checks", json=payload, headers=auth(small))
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert third.json()["code"] == "quota_exceeded"
    assert int(third.headers["Retry-After"]) > 0
    usage = app_client.get("/api/v1/partners/usage", headers=auth(small)).json()
    assert usage[-1]["imeis"] == 8 and usage[-1]["requests"] == 2


def test_a_job_checks_a_large_file_and_only_its_owner_sees_it(
    app_client: TestClient, db_session: Session
) -> None:
    register_device(db_session, [make_imei(TAC, 7)])
    key, other = partner_key(db_session), partner_key(db_session, owner="other-shop")
    lines = [make_imei(TAC, n) for n in range(3000)] + ["garbage"]

    created = app_client.post(
        "/api/v1/partners/jobs",
        content="\n".join(lines),
        headers={**auth(key), "Content-Type": "text/plain"},
    )
    assert created.status_code == 202, created.text
    job = app_client.get(f"/api/v1/partners/jobs/{created.json()['id']}", headers=auth(key))
    assert job.json()["status"] == "done"
    assert job.json()["rows"] == 3001
    result = app_client.get(job.json()["result_url"], headers=auth(key))
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(result.content).decode())))
    assert [r["query"] for r in rows] == lines
    assert rows[7]["verdict"] == "registered"
    assert rows[-1]["verdict"] == "invalid"

    job_id = created.json()["id"]
    assert app_client.get(f"/api/v1/partners/jobs/{job_id}", headers=auth(other)).status_code == 404
    assert (
        app_client.get(f"/api/v1/partners/jobs/{job_id}/result", headers=auth(other)).status_code
        == 404
    )


def test_a_sale_is_recorded_for_a_valid_imei(app_client: TestClient, db_session: Session) -> None:
    key = partner_key(db_session)
    sale = {"imei": make_imei(TAC, 9), "sold_on": "2026-11-20", "receipt_number": "R-77"}
    recorded = app_client.post("/api/v1/partners/sales", json=sale, headers=auth(key))
    assert recorded.status_code == 201
    assert recorded.json()["imei"] == make_imei(TAC, 9)[:14]
    bad = app_client.post("/api/v1/partners/sales", json={**sale, "imei": "123"}, headers=auth(key))
    assert bad.status_code == 422

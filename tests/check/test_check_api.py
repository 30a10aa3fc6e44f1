"""The public JSON check: verdicts, the model behind the TAC, languages, limits, operations."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.config import Settings
from ceir.web.app import create_app
from tests.factories import add_run, add_tac, make_imei, register_device


def test_registered_imei_shows_source_date_and_model(
    app_client: TestClient, db_session: Session
) -> None:
    add_tac(db_session, "35467819", "Apple", "A3523", "iPhone 17 Pro")
    imei = make_imei("35467819", 42)
    register_device(db_session, [imei, make_imei("35467819", 43)])

    body = app_client.get(f"/api/v1/imei/{imei}?lang=en").json()

    assert body["verdict"] == "registered"
    assert body["imei"] == imei
    assert body["registration"]["source"] == "importer_declaration"
    assert body["device"] == {
        "brand": "Apple",
        "model": "A3523",
        "marketing_name": "iPhone 17 Pro",
        "device_type": "Smartphone",
    }
    assert body["signals"] == []


def test_second_imei_of_a_device_and_typed_forms_find_the_same_registration(
    app_client: TestClient, db_session: Session
) -> None:
    first, second = make_imei("35467819", 1), make_imei("35467819", 2)
    register_device(db_session, [first, second])
    spaced = f"{second[:2]} {second[2:8]}-{second[8:14]}/{second[14]}"

    assert app_client.get(f"/api/v1/imei/{spaced}").json()["verdict"] == "registered"
    assert app_client.get(f"/api/v1/imei/imeisv-{second[:14]}01").json()["verdict"] == (
        "registered"
    )


def test_unregistered_imei_warns_of_blocking_in_the_asked_language(
    app_client: TestClient, db_session: Session
) -> None:
    add_tac(db_session, "86241507", "Xiaomi", "24115RA8EG", "Redmi Note 14 Pro")
    imei = make_imei("86241507", 7)

    english = app_client.get(f"/api/v1/imei/{imei}", headers={"Accept-Language": "en"}).json()
    russian = app_client.get(f"/api/v1/imei/{imei}?lang=ru").json()

    assert english["verdict"] == russian["verdict"] == "not_registered"
    assert english["language"] == "en" and russian["language"] == "ru"
    assert "block" in english["advice"].lower()
    assert english["title"] != russian["title"]
    assert english["device"]["marketing_name"] == "Redmi Note 14 Pro"


def test_invalid_imei_says_why(app_client: TestClient) -> None:
    imei = make_imei("35467819", 5)
    wrong = imei[:-1] + str((int(imei[-1]) + 1) % 10)

    body = app_client.get(f"/api/v1/imei/{wrong}?lang=en").json()

    assert body["verdict"] == "invalid"
    assert body["invalid"]["code"] == "bad_check_digit"
    assert imei[-1] in body["invalid"]["reason"]
    assert app_client.get("/api/v1/imei/000000000000000").json()["invalid"]["code"] == "junk"


def test_unknown_tac_is_flagged_as_a_probable_fake(
    app_client: TestClient, db_session: Session
) -> None:
    add_tac(db_session, "35467819", "Apple", "A3523")
    body = app_client.get(f"/api/v1/imei/{make_imei('99000001', 1)}").json()
    assert body["device"] is None
    assert [s["code"] for s in body["signals"]] == ["unknown_tac"]


def test_public_check_is_rate_limited_per_client(settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    limited = settings.model_copy(update={"public_rate_limit_per_minute": 3})
    with TestClient(create_app(limited, engine)) as client:
        answers = [client.get(f"/api/v1/imei/{make_imei('35467819', i)}") for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["status"] == 429
        assert client.get("/healthz").status_code == 200  # operations are not limited


def test_health_metrics_and_openapi(settings: Settings, engine: Engine) -> None:
    settings.metrics_token = "metrics-token"
    app_client = TestClient(create_app(settings, engine))
    assert app_client.get("/healthz").json()["status"] == "ok"
    app_client.get(f"/api/v1/imei/{make_imei('35467819', 1)}")
    metrics = app_client.get("/metrics", headers={"Authorization": "Bearer metrics-token"}).text
    assert 'ceir_imei_checks_total{verdict="not_registered"} 1.0' in metrics
    assert 'route="/api/v1/imei/{imei:path}"' in metrics
    spec = app_client.get("/openapi.json").json()
    assert "/api/v1/imei/{imei}" in spec["paths"]
    assert app_client.get("/docs").status_code == 200


def test_overlong_input_is_a_problem_not_a_crash(app_client: TestClient) -> None:
    answer = app_client.get("/api/v1/imei/" + "1" * 100)
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_request"


def test_unknown_paths_are_problems_for_apis_and_pages_for_browsers(
    app_client: TestClient,
) -> None:
    api = app_client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")
    page = app_client.get("/nothing-here?lang=en", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text


def test_enforcement_states_show_as_blocked_stolen_and_a_block_date(
    app_client: TestClient, db_session: Session
) -> None:
    import datetime as dt

    from ceir.network.models import DeviceState, StolenDevice

    blocked, notified, stolen = (make_imei("35467819", n) for n in (71, 72, 73))
    register_device(db_session, [stolen])
    for imei, state, day in (
        (blocked, "blocked", dt.date(2026, 1, 2)),
        (notified, "notified", dt.date(2026, 12, 1)),
    ):
        db_session.add(
            DeviceState(
                imei=imei[:14],
                state=state,
                reasons="not_registered",
                first_noncompliant=dt.date(2025, 12, 1),
                block_date=day,
                updated_run=1,
            )
        )
    db_session.add(
        StolenDevice(imei=stolen[:14], reported_at=dt.datetime.now(dt.UTC), source="police")
    )
    db_session.commit()
    add_run(db_session)  # states come from a run: the check's index is then rebuilt

    answers = {
        i: app_client.get(f"/api/v1/imei/{i}?lang=ru").json() for i in (blocked, notified, stolen)
    }

    assert (answers[blocked]["verdict"], answers[blocked]["list_colour"]) == ("blocked", "black")
    assert answers[blocked]["list_name"] == "чёрный список"
    assert answers[notified]["verdict"] == "not_registered"
    assert answers[notified]["block_date"] == "2026-12-01"
    assert answers[notified]["list_name"] == "серый список"
    assert "2026" in answers[notified]["advice"]
    assert answers[stolen]["verdict"] == "stolen"  # a registration does not outweigh a theft
    assert answers[stolen]["list_colour"] == "black"


def test_the_list_colour_is_named_in_three_languages(
    app_client: TestClient, db_session: Session
) -> None:
    imei = make_imei("35467819", 80)
    register_device(db_session, [imei])
    names = {
        lang: app_client.get(f"/api/v1/imei/{imei}?lang={lang}").json()["list_name"]
        for lang in ("ru", "kk", "en")
    }
    assert names == {"ru": "белый список", "kk": "ақ тізім", "en": "white list"}
    page = app_client.get(f"/?imei={imei}&lang=kk").text
    assert "ақ тізім" in page


def test_a_registration_since_the_last_run_outranks_a_block_for_being_unregistered(
    app_client: TestClient, db_session: Session
) -> None:
    import datetime as dt

    from ceir.network.models import DeviceState

    appealed, cloned = make_imei("35467819", 91), make_imei("35467819", 92)
    for imei, reasons in ((appealed, "not_registered"), (cloned, "duplicate")):
        register_device(db_session, [imei], source="appeal")
        db_session.add(
            DeviceState(
                imei=imei[:14],
                state="blocked",
                reasons=reasons,
                first_noncompliant=dt.date(2026, 1, 1),
                block_date=dt.date(2026, 1, 31),
                updated_run=1,
            )
        )
    db_session.commit()

    assert app_client.get(f"/api/v1/imei/{appealed}").json()["verdict"] == "registered"
    assert app_client.get(f"/api/v1/imei/{cloned}").json()["verdict"] == "blocked"


def test_a_cancelled_stolen_report_stops_showing_blocked_before_the_next_run(
    app_client: TestClient, db_session: Session
) -> None:
    import datetime as dt

    from ceir.network.models import DeviceState, StolenDevice

    found_phone = make_imei("35467819", 95)
    register_device(db_session, [found_phone])
    db_session.add(
        DeviceState(
            imei=found_phone[:14],
            state="blocked",
            reasons="stolen",
            first_noncompliant=dt.date(2026, 1, 1),
            block_date=dt.date(2026, 1, 1),
            updated_run=1,
        )
    )
    now = dt.datetime.now(dt.UTC)
    db_session.add(
        StolenDevice(imei=found_phone[:14], reported_at=now, source="owner", cancelled_at=now)
    )
    db_session.commit()

    assert app_client.get(f"/api/v1/imei/{found_phone}").json()["verdict"] == "registered"


def test_checks_go_on_after_the_database_drops_its_connections(
    app_client: TestClient, db_session: Session, engine
) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        pytest.skip("a server restart drops connections; SQLite has none to drop")
    imei = make_imei("35467819", 42)
    register_device(db_session, [imei])
    assert app_client.get(f"/api/v1/imei/{imei}").json()["verdict"] == "registered"

    with engine.connect() as conn:  # what a PostgreSQL restart does to every pooled connection
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    after = app_client.get(f"/api/v1/imei/{imei}")
    assert after.status_code == 200
    assert after.json()["verdict"] == "registered"


def test_api_docs_take_their_assets_from_this_server(app_client: TestClient) -> None:
    html = app_client.get("/docs").text
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        assert app_client.get(asset).status_code == 200, asset


def test_a_typo_is_on_no_list_while_a_junk_imei_is_black(app_client: TestClient) -> None:
    imei = make_imei("35467819", 93)
    mistyped = imei[:14] + str((int(imei[14]) + 1) % 10)

    typo = app_client.get(f"/api/v1/imei/{mistyped}?lang=en").json()
    short = app_client.get("/api/v1/imei/3546781?lang=en").json()
    junk = app_client.get("/api/v1/imei/000000000000000?lang=en").json()

    assert (typo["verdict"], typo["invalid"]["code"]) == ("invalid", "bad_check_digit")
    assert typo["list_colour"] is None
    assert typo["list_name"] == "none (this is not a valid IMEI)"
    assert short["list_colour"] is None
    assert (junk["invalid"]["code"], junk["list_colour"]) == ("junk", "black")

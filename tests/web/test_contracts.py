"""The HTTP contract integrators rely on: malformed requests get a 4xx problem, never a 500."""

from __future__ import annotations

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.apikeys.service import SCOPE_LISTS_READ, create_key
from ceir.config import Settings
from ceir.web.app import create_app
from tests.factories import make_imei
from tests.partners.test_partners_api import auth, partner_key

CHECKS = "/api/v1/partners/checks"
PART_HEAD = (
    b'--x\r\nContent-Disposition: form-data; name="receipt"; filename="r.pdf"\r\n'
    b"Content-Type: application/pdf\r\n\r\n"
)
IMEI = make_imei("35467819", 1)


def assert_problem(answer: object, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = answer.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["detail"]
    return body


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ('{"items": [{"imei": "1', "application/json", 422, "JSON"),
        ('{"imeis": ["' + IMEI + '"]}', "application/json", 422, "items"),
        ('{"items": []}', "application/json", 422, "items"),
        ('{"items": [{"imei": 35}]}', "application/json", 422, "items.0.imei"),
        ("imeis\n" + IMEI + "\n", "text/csv", 422, "imei"),
        ("imei,brand\n", "text/csv", 422, "no IMEI"),
        ("", "text/csv", 422, "no IMEI"),
        (b"imei\n\xff\xfe\n", "text/csv", 422, "UTF-8"),
        ('{"items": [{"imei": "' + IMEI + '"}]}', "", 415, "Content-Type"),
        ('{"items": [{"imei": "' + IMEI + '"}]}', "application/x-www-form-urlencoded", 415, "csv"),
        ("<items/>", "application/xml", 415, "application/json"),
    ],
)
def test_a_malformed_bulk_check_gets_a_problem_that_says_what_is_wrong(
    app_client: TestClient,
    db_session: Session,
    body: str | bytes,
    content_type: str,
    status: int,
    says: str,
) -> None:
    key = partner_key(db_session)
    headers = {**auth(key), "Content-Type": content_type}
    content = body.encode() if isinstance(body, str) else body

    answer = app_client.post(CHECKS, content=content, headers=headers)

    problem = assert_problem(answer, status)
    assert says.lower() in str(problem).lower()


def test_a_csv_with_charset_and_plain_text_are_checked(
    app_client: TestClient, db_session: Session
) -> None:
    key = partner_key(db_session)
    for content_type in (
        "text/csv; charset=utf-8",
        "text/plain",
        "application/json; charset=utf-8",
    ):
        body = f'{{"items": [{{"imei": "{IMEI}"}}]}}' if "json" in content_type else f"imei\n{IMEI}"
        answer = app_client.post(
            CHECKS, content=body, headers={**auth(key), "Content-Type": content_type}
        )
        assert answer.status_code == 200, answer.text
        assert [r["imei"] for r in answer.json()["results"]] == [IMEI]


NUL_URLS = [
    f"/api/v1/check/imei/{IMEI}?receipt=a%00b",
    f"/api/v1/check/imei/{IMEI[:5]}%00{IMEI[5:]}",
    "/?imei=1%00",
    "/api/v1/statistics/checks.json?from=2026-01-01%00",
    "/citizen/applications/A%00B",
    "/back-office/cases/C%00D",
    "/back-office/audit?actor=a%00b",
]


@pytest.mark.parametrize("url", NUL_URLS)
def test_a_nul_byte_in_a_text_parameter_is_refused_not_a_500(
    app_client: TestClient, url: str
) -> None:
    answer = app_client.get(url, headers={"Accept": "application/json"})

    problem = assert_problem(answer, 422)
    assert "NUL" in str(problem["detail"])


def test_a_nul_byte_in_a_form_field_is_refused(app_client: TestClient) -> None:
    answer = app_client.post(
        "/citizen/sign-in",
        data={"csrf_token": "x", "iin": "1\x00", "phone": "7701"},
        headers={"Accept": "application/json"},
    )

    assert_problem(answer, 422)


@pytest.mark.parametrize(
    "content_type", ["", "application/xml", "application/x-www-form-urlencoded"]
)
def test_a_job_file_of_an_unknown_media_type_is_refused_with_415(
    app_client: TestClient, db_session: Session, content_type: str
) -> None:
    key = partner_key(db_session)
    headers = {**auth(key), "Content-Type": content_type}

    answer = app_client.post("/api/v1/partners/jobs", content=IMEI + "\n", headers=headers)

    problem = assert_problem(answer, 415)
    assert "text/csv" in str(problem["detail"])
    usage = app_client.get("/api/v1/partners/usage", headers=auth(key)).json()
    assert sum(day["imeis"] for day in usage) == 0  # not counted against the quota


def test_a_nul_byte_in_a_multipart_text_field_is_refused(app_client: TestClient) -> None:
    answer = app_client.post(
        "/citizen/sign-in",
        data={"csrf_token": "x", "iin": "1\x00", "phone": "7701"},
        files={"note": ("note.bin", b"no NUL here", "application/octet-stream")},
        headers={"Accept": "application/json"},
    )

    problem = assert_problem(answer, 422)
    assert "NUL" in str(problem["detail"])


def test_a_nul_byte_in_a_multipart_file_is_left_to_the_route(app_client: TestClient) -> None:
    answer = app_client.post(
        "/citizen/sign-in",
        data={"csrf_token": "x", "iin": "1", "phone": "7701"},
        files={"note": ("note.bin", b"%PDF\x00\x00\x00", "application/octet-stream")},
        headers={"Accept": "application/json"},
    )

    assert "NUL" not in answer.text


def test_extreme_dates_in_public_statistics_are_refused(app_client: TestClient) -> None:
    for query in (
        "from=0001-01-01&to=0001-01-01",
        "from=9999-12-31&to=9999-12-31",
        "from=0001-01-01&to=9999-12-31",
    ):
        answer = app_client.get(f"/api/v1/statistics/checks.json?{query}")
        assert 400 <= answer.status_code < 500, (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_integers_above_int64_in_operator_runs_are_refused(
    app_client: TestClient, db_session: Session
) -> None:
    _, plaintext = create_key(
        db_session,
        owner_kind="operator",
        owner="kcell",
        scopes={SCOPE_LISTS_READ},
        label="test",
        created_by="test",
    )
    db_session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    huge = str(2**63)
    for url in (
        f"/api/v1/operators/kcell/runs?before={huge}",
        f"/api/v1/operators/kcell/runs/{huge}",
        f"/api/v1/operators/kcell/runs/{huge}/files/block_full.csv.gz",
    ):
        answer = app_client.get(url, headers=headers)
        assert_problem(answer, 422)


def test_an_oversized_upload_is_refused_before_its_body_is_read(
    app_client: TestClient, settings: Settings, engine: Engine
) -> None:
    # Content-Length states 40 MB: refused at once, on a form that takes 10 MB documents.
    answer = app_client.post(
        "/citizen/applications/new/appeal",
        content=b"x" * (40 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=x", "Accept": "application/json"},
    )
    assert_problem(answer, 413)

    # Streamed without a length: refused once the limit is passed, long before 300 MB arrive.
    app = create_app(settings, engine)
    chunk, sent, answers = b"x" * (1024 * 1024), 0, []

    async def receive() -> dict[str, object]:
        nonlocal sent
        sent += 1
        head = b"" if sent > 1 else PART_HEAD  # one file part that never ends
        return {"type": "http.request", "body": head + chunk, "more_body": sent < 300}

    async def send(message: dict[str, object]) -> None:
        answers.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/citizen/applications/new/appeal",
        "raw_path": b"/citizen/applications/new/appeal",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    anyio.run(app, scope, receive, send)

    assert answers[0]["status"] == 413
    assert sent <= 2 * settings.citizens.max_document_bytes // len(chunk) + 1


def test_a_bulk_check_body_beyond_its_documented_limit_is_refused_early(
    app_client: TestClient, db_session: Session
) -> None:
    key = partner_key(db_session)
    answer = app_client.post(
        CHECKS,
        content=b"1" * (20 * 1024 * 1024),
        headers={**auth(key), "Content-Type": "text/csv"},
    )
    assert_problem(answer, 413)


def test_metrics_are_not_served_publicly(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings, engine)) as client:
        assert client.get("/metrics").status_code == 404


def test_metrics_need_the_configured_token_and_label_routes_by_full_path(
    settings: Settings, engine: Engine
) -> None:
    settings.metrics_token = "s3cret-metrics-token"
    with TestClient(create_app(settings, engine)) as client:
        client.get("/citizen/devices")
        assert_problem(client.get("/metrics", headers={"Accept": "application/json"}), 401)
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
        assert answer.status_code == 200
        assert 'route="/citizen/devices"' in answer.text
        assert 'route="/devices"' not in answer.text


def test_a_nul_inside_json_text_is_refused_on_every_database(
    app_client: TestClient, db_session: Session
) -> None:
    key = partner_key(db_session)
    sale = {"imei": IMEI, "sold_on": "2026-11-01", "receipt_number": "R\u0000"}

    answer = app_client.post("/api/v1/partners/sales", json=sale, headers=auth(key))

    assert 400 <= answer.status_code < 500, answer.text


def test_the_openapi_document_describes_bodies_and_every_error_as_a_problem(
    app_client: TestClient,
) -> None:
    document = app_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail", "code"} <= set(schemas["Problem"]["properties"])

    check = document["paths"]["/api/v1/partners/checks"]["post"]
    body = check["requestBody"]["content"]
    assert check["requestBody"]["required"] is True
    assert body["application/json"]["examples"] and body["text/csv"]["examples"]
    for status in ("401", "403", "413", "415", "422", "429"):
        answer = check["responses"][status]
        assert answer["description"]
        assert answer["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status[0] in "45":
                    assert list(answer["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )

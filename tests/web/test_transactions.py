"""A success is committed before it is answered; a client's socket holds no transaction.

These run a real uvicorn server on 127.0.0.1: the test client answers only once the whole
application has finished, so it cannot see what a real client sees between the answer and the
commit.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.orm import Session

from ceir.apikeys.models import ApiKey
from ceir.apikeys.service import SCOPE_CHECK, SCOPE_LISTS_READ, create_key
from ceir.citizens.models import CitizenSession
from ceir.config import Settings
from ceir.partners.models import Sale
from ceir.web.app import create_app
from ceir.web.deps import get_db
from tests.browser import serve
from tests.citizens.conftest import csrf_of, last_code
from tests.factories import add_run, add_subscriber, make_iin, make_imei, publish_list_file

# Larger than every buffer between the server and a client that does not read (kernel buffers
# on both sides, uvicorn's write buffer): the server is still sending when the test goes on.
LARGE_FILE_BYTES = 48 * 1024**2
# An answer that takes longer than this means something waited on the database's busy timeout
# (30 s) or pool timeout (30 s), not on the work itself.
PROMPTLY = 10.0


@pytest.fixture
def live(settings: Settings, engine: Engine) -> Iterator[str]:
    """The application's base URL, served by uvicorn."""
    settings.citizens.secret_key = "test-secret"
    with serve(create_app(settings, engine)) as url:
        yield url


@pytest.fixture
def slow_commits(engine: Engine) -> Iterator[None]:
    """Every commit on the application's engine takes a while, as on a busy database server."""

    slowed = [True]

    def slow(_conn: Any) -> None:
        if slowed:
            time.sleep(0.4)

    event.listen(engine, "commit", slow)
    yield
    slowed.clear()  # not removed: a commit may still be running in the server's thread


def _key(db: Session, owner_kind: str, owner: str, scope: str) -> str:
    _, plaintext = create_key(
        db, owner_kind=owner_kind, owner=owner, scopes={scope}, label="test", created_by="test"
    )
    db.commit()
    return plaintext


def test_a_recorded_sale_is_visible_to_the_very_next_request_elsewhere(
    live: str, db_session: Session, database_url: str, slow_commits: None
) -> None:
    key = _key(db_session, "partner", "kaspi", SCOPE_CHECK)
    sale = {"imei": make_imei(serial=9), "sold_on": "2026-11-20", "receipt_number": "R-77"}

    answer = httpx.post(
        f"{live}/api/v1/partners/sales",
        json=sale,
        headers={"Authorization": f"Bearer {key}"},
        timeout=PROMPTLY,
    )

    assert answer.status_code == 201, answer.text
    other = create_engine(database_url)  # not the application's pool: another process
    try:
        with Session(other) as fresh:
            assert fresh.get(Sale, answer.json()["id"]) is not None
    finally:
        other.dispose()


def test_a_signed_in_citizen_follows_the_redirect_straight_into_their_pages(
    live: str, db_session: Session, slow_commits: None
) -> None:
    iin, msisdn = make_iin(serial=10), "77010000001"
    add_subscriber(db_session, msisdn, iin)
    with httpx.Client(base_url=live, timeout=PROMPTLY) as client:
        page = client.get("/citizen/sign-in")
        asked = client.post(
            "/citizen/sign-in", data={"csrf_token": csrf_of(page.text), "iin": iin, "phone": msisdn}
        )
        assert asked.status_code == 303, asked.text
        code_page = client.get("/citizen/code")
        entered = client.post(
            "/citizen/code",
            data={"csrf_token": csrf_of(code_page.text), "code": last_code(db_session, msisdn)},
        )
        assert entered.status_code == 303, entered.text
        assert entered.headers["location"] == "/citizen/applications"

        landed = client.get("/citizen/applications")

    assert landed.status_code == 200, landed.headers.get("location")
    db_session.expire_all()
    assert db_session.scalar(select(CitizenSession.iin)) == iin


def _published_large_file(db: Session, settings: Settings) -> str:
    run = add_run(db)
    row = publish_list_file(
        db, settings.lists_dir, run, "kcell", "block_full.csv.gz", data=b"\0" * LARGE_FILE_BYTES
    )
    return f"/api/v1/operators/kcell/runs/{run.id}/files/{row.name}"


def _unread_download(url: str, path: str, key: str) -> socket.socket:
    """A client that asks for a large answer, reads its head and then nothing more."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(PROMPTLY)
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def _idle_in_transaction(engine: Engine) -> int:
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        )


def test_a_client_that_does_not_read_its_answer_holds_no_transaction(
    live: str, db_session: Session, settings: Settings, database_url: str
) -> None:
    path = _published_large_file(db_session, settings)
    reader = _key(db_session, "operator", "kcell", SCOPE_LISTS_READ)
    seller = _key(db_session, "partner", "kaspi", SCOPE_CHECK)
    db_session.close()
    other = create_engine(database_url)
    try:
        # The download's request writes the key's last use; the answer is being sent.
        with closing(_unread_download(live, path, reader)):
            assert _idle_in_transaction(other) == 0
            with Session(other) as fresh:
                used = select(ApiKey.last_used_at).where(ApiKey.owner == "kcell")
                assert fresh.scalar(used) is not None

            started = time.monotonic()
            sale = httpx.post(
                f"{live}/api/v1/partners/sales",
                json={"imei": make_imei(serial=3), "sold_on": "2026-11-20", "receipt_number": "1"},
                headers={"Authorization": f"Bearer {seller}"},
                timeout=PROMPTLY,
            )
            assert sale.status_code == 201, sale.text
            assert time.monotonic() - started < PROMPTLY
    finally:
        other.dispose()


def test_unread_answers_cannot_empty_the_connection_pool(
    live: str, db_session: Session, settings: Settings, database_url: str
) -> None:
    path = _published_large_file(db_session, settings)
    reader = _key(db_session, "operator", "kcell", SCOPE_LISTS_READ)
    db_session.close()
    # More than the pool holds (PostgreSQL: 10 + 20 overflow; SQLite: 5 + 10).
    sockets = [_unread_download(live, path, reader) for _ in range(35)]
    try:
        health = httpx.get(f"{live}/healthz", timeout=PROMPTLY)
        assert health.status_code == 200, health.text
    finally:
        for sock in sockets:
            sock.close()


def test_every_route_commits_its_session_before_answering(
    settings: Settings, engine: Engine
) -> None:
    def sessions_of(dependant: Any) -> Iterator[Any]:
        for sub in dependant.dependencies:
            if sub.call is get_db:
                yield sub
            yield from sessions_of(sub)

    def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            # An included router keeps its own routes (FastAPI >= 0.160 wraps them).
            yield from api_routes(getattr(getattr(route, "original_router", None), "routes", []))

    app = create_app(settings, engine)
    scopes = {
        (route.path, sub.scope)
        for route in api_routes(app.routes)
        for sub in sessions_of(route.dependant)
    }

    assert len(scopes) > 40  # every route with a session is seen
    assert [path for path, scope in scopes if scope != "function"] == []


def _committed(engine: Engine, query: Any) -> Any:
    with Session(engine) as fresh:
        return fresh.scalar(query)


def _slow_upload(url: str, path: str, key: str) -> socket.socket:
    """A client that sends its headers and the first bytes of a body it promised, then waits."""
    body = b"imei\n" + make_imei(serial=1).encode() + b"\n"
    sock = socket.socket()
    sock.settimeout(PROMPTLY)
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode()
        + body
    )
    return sock


@pytest.mark.parametrize("path", ["/api/v1/partners/checks", "/api/v1/partners/jobs"])
def test_a_client_that_sends_its_body_slowly_holds_no_transaction(
    live: str, db_session: Session, database_url: str, path: str
) -> None:
    uploader = _key(db_session, "partner", "kaspi", SCOPE_CHECK)
    seller = _key(db_session, "partner", "technodom", SCOPE_CHECK)
    db_session.close()
    # More slow uploads than the pool holds (PostgreSQL: 10 + 20 overflow; SQLite: 5 + 10).
    sockets = [_slow_upload(live, path, uploader) for _ in range(35)]
    other = create_engine(database_url)
    try:
        # The key check's write (its last use) is committed before the body is waited for.
        used = select(ApiKey.last_used_at).where(ApiKey.owner == "kaspi")
        deadline = time.monotonic() + PROMPTLY
        while _committed(other, used) is None:
            assert time.monotonic() < deadline, "the key's last use was never committed"
            time.sleep(0.05)
        started = time.monotonic()
        sale = httpx.post(
            f"{live}/api/v1/partners/sales",
            json={"imei": make_imei(serial=3), "sold_on": "2026-11-20", "receipt_number": "1"},
            headers={"Authorization": f"Bearer {seller}"},
            timeout=PROMPTLY * 4,
        )
        assert sale.status_code == 201, sale.text
        assert time.monotonic() - started < PROMPTLY
        assert httpx.get(f"{live}/healthz", timeout=PROMPTLY).status_code == 200
    finally:
        other.dispose()
        for sock in sockets:
            sock.close()

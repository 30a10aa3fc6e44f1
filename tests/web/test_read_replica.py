"""Reads from a streaming replica: the public and bulk checks follow it, citizens read their writes.

A real second PostgreSQL cluster (scripts/pg_replica.sh: 127.0.0.1:5433 streaming from :5432).
Pausing the replica's WAL replay makes its lag as long as a test needs, so "read from the
replica" and "read from the primary" give different answers that can be told apart.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ceir.apikeys.service import SCOPE_CHECK, create_key
from ceir.citizens.models import Application
from ceir.config import Settings
from ceir.models import Base
from ceir.web.app import create_app
from tests.citizens.conftest import sign_in
from tests.factories import add_subscriber, add_tac, add_trip, make_iin, make_imei, register_device

TAC = "35467819"
# A change reaches the replica's readers well within a second here, but this machine is shared
# and loaded (load average 20 on 2 cores seen): a generous bound, still far below "never".
CATCH_UP_SECONDS = 30.0
_LOCK = Path("/tmp/ceir-test-replica-replay.lock")  # shared by xdist workers


@pytest.fixture
def database_url(postgres_database: str | None) -> str:
    """PostgreSQL only: a replica is a PostgreSQL matter."""
    if postgres_database is None:
        pytest.skip("PostgreSQL not reachable")
    engine = create_engine(postgres_database)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_database


@pytest.fixture
def replica(replica_url: str | None) -> Iterator[Engine]:
    if replica_url is None:
        pytest.skip("no streaming replica on 127.0.0.1:5433 (scripts/pg_replica.sh)")
    engine = create_engine(replica_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def replica_settings(settings: Settings, replica: Engine) -> Settings:
    settings.database_read_url = replica.url.render_as_string(hide_password=False)
    settings.citizens.secret_key = "test-secret"
    return settings


@pytest.fixture
def client(replica_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(replica_settings, engine)) as client:
        yield client


@contextmanager
def replay_paused(replica: Engine) -> Iterator[None]:
    """The replica applies nothing from the primary until the block ends (one test at a time)."""
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with replica.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
            try:
                # Wait until it has really paused, not only been asked to.
                while conn.scalar(text("SELECT pg_get_wal_replay_pause_state()")) != "paused":
                    time.sleep(0.05)
                yield
            finally:
                conn.execute(text("SELECT pg_wal_replay_resume()"))


def _verdict(client: TestClient, imei: str) -> str:
    answer = client.get(f"/api/v1/imei/{imei}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["verdict"])


def _bulk_verdict(client: TestClient, key: str, imei: str) -> str:
    answer = client.post(
        "/api/v1/partners/checks",
        json={"items": [{"imei": imei}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["results"][0]["verdict"])


def _page_tone(client: TestClient, imei: str) -> str:
    """The check page's verdict as its colour: "ok" for a registered phone."""
    page = client.get("/", params={"imei": imei})
    found = re.search(r'class="result result--(\w+)"', page.text)
    assert found, page.text
    return found.group(1)


def _eventually(read: Callable[[], str], expected: str) -> None:
    """Wait until `read()` gives `expected`, failing past CATCH_UP_SECONDS."""
    start = time.monotonic()
    while (seen := read()) != expected:
        elapsed = time.monotonic() - start
        assert elapsed < CATCH_UP_SECONDS, f"still {seen!r} after {elapsed:.1f} s"
        time.sleep(0.05)


def test_the_read_engine_is_the_replica_and_refuses_writes(client: TestClient) -> None:
    reader = client.app.state.read_engine  # type: ignore[attr-defined]
    assert reader.url.port == 5433
    with reader.connect() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
        with pytest.raises(DBAPIError, match="read-only"):
            conn.execute(text("CREATE TEMPORARY TABLE t (x int)"))
    writer = client.app.state.engine  # type: ignore[attr-defined]
    with writer.connect() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_public_and_bulk_checks_read_the_replica_and_see_a_registration_once_replayed(
    client: TestClient, db_session: Session, replica: Engine
) -> None:
    add_tac(db_session, TAC, "Apple", "A3101")
    _row, key = create_key(
        db_session,
        owner_kind="partner",
        owner="kaspi",
        scopes={SCOPE_CHECK},
        label="test",
        created_by="test",
    )
    db_session.commit()
    imei = make_imei(TAC, 7)
    _eventually(lambda: _verdict(client, imei), "not_registered")  # the key reached it too
    _eventually(lambda: _bulk_verdict(client, key, imei), "not_registered")

    with replay_paused(replica):
        register_device(db_session, [imei])  # committed on the primary
        # The replica has not applied it: both checks still read the old registry, which they
        # could only do from the replica. The bulk check's count went to the primary.
        assert _verdict(client, imei) == "not_registered"
        assert _bulk_verdict(client, key, imei) == "not_registered"
        assert _page_tone(client, imei) != "ok"
    _eventually(lambda: _verdict(client, imei), "registered")
    assert _bulk_verdict(client, key, imei) == "registered"
    assert _page_tone(client, imei) == "ok"


def test_a_citizen_sees_their_own_registration_at_once_while_the_replica_lags(
    client: TestClient, db_session: Session, replica: Engine
) -> None:
    add_tac(db_session, TAC, "Apple", "A3101", marketing_name="iPhone 17")
    iin, msisdn = make_iin(serial=10), "77010000001"
    add_subscriber(db_session, msisdn, iin)
    today = dt.date.today()
    add_trip(db_session, iin, today - dt.timedelta(days=30), today - dt.timedelta(days=10))
    csrf = sign_in(client, db_session, iin, msisdn)
    imei = make_imei(TAC, 8)

    with replay_paused(replica):
        answer = client.post(
            "/citizen/applications/new/registration",
            data={
                "csrf_token": csrf,
                "imei1": imei,
                "brand": "Apple",
                "model": "iPhone 17",
                "entered_on": (today - dt.timedelta(days=8)).isoformat(),
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        # The citizen's own pages read the primary: the registration is there at once ...
        application = client.get(answer.headers["location"])
        db_session.expire_all()
        row = db_session.scalars(select(Application)).one()
        assert row.status == "approved"
        assert imei[:14] in application.text or row.public_id in application.text
        devices = client.get("/citizen/devices")
        assert devices.status_code == 200
        assert imei[:14] in devices.text
        # ... while the public check, on the paused replica, does not know it yet.
        assert _verdict(client, imei) == "not_registered"
    _eventually(lambda: _verdict(client, imei), "registered")

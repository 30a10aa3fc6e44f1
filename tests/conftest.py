"""Fixtures: database tests run on SQLite and on PostgreSQL (skipped loudly if unreachable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ceir import config, db, migrate
from ceir.config import Settings
from ceir.models import Base
from ceir.web.app import create_app

POSTGRES_URL = os.environ.get(
    "CEIR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_postgres_problem: list[str] = []
# The streaming replica scripts/pg_replica.sh makes of the local cluster (scripts/test runs it).
REPLICA_PORT = int(os.environ.get("CEIR_TEST_REPLICA_PORT", "5433"))
REPLICA_SCRIPT = Path(__file__).parent.parent / "scripts" / "pg_replica.sh"
_replica_problem: list[str] = []

# Timing is not what property tests check: a busy 2-core CI machine must not fail them.
hypothesis_settings.register_profile(
    "ceir", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile("ceir")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    db.dispose_engines()
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str | None]:
    """A database of this test worker's own on the local PostgreSQL, migrated once."""
    admin_url = make_url(POSTGRES_URL)
    # The process id keeps test sessions that run at the same time out of each other's way.
    name = f"ceir_test_{worker_id}_{os.getpid()}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the PostgreSQL half is skipped, and says so
        _postgres_problem.append(f"{admin_url.render_as_string()}: {exc}")
        yield None
        return
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    db.dispose_engines()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_problem:
        terminalreporter.write_sep(
            "!", "PostgreSQL NOT REACHABLE: database tests ran on SQLite only", red=True, bold=True
        )
        terminalreporter.write_line(_postgres_problem[0])
    if _replica_problem:
        terminalreporter.write_sep(
            "!", "NO POSTGRESQL REPLICA: the read-replica tests were skipped", red=True, bold=True
        )
        terminalreporter.write_line(_replica_problem[0])


def _replica_of(url: str) -> str | None:
    """The same database on the local streaming replica, once it has replayed its creation."""
    replica = make_url(url).set(port=REPLICA_PORT).render_as_string(hide_password=False)
    engine = create_engine(replica, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with engine.connect() as conn:
                    if conn.scalar(text("SELECT pg_is_in_recovery()")):
                        return replica
                    _replica_problem.append(f"port {REPLICA_PORT} is not a replica")
                    return None
            except OperationalError as exc:
                # The database may not be replayed yet (it was created a moment ago).
                if time.monotonic() > deadline or "does not exist" not in str(exc):
                    _replica_problem.append(f"{make_url(replica).render_as_string()}: {exc}")
                    return None
                time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def replica_url(postgres_database: str | None) -> str | None:
    """This worker's test database on the streaming replica of the local PostgreSQL (port 5433).

    scripts/test makes the replica (scripts/pg_replica.sh); run alone, the tests make it if they
    may (as root), else they are skipped, loudly.
    """
    if postgres_database is None:
        _replica_problem.append("no PostgreSQL primary")
        return None
    found = _replica_of(postgres_database)
    if found is None and os.geteuid() == 0 and REPLICA_SCRIPT.exists():
        made = subprocess.run(
            [str(REPLICA_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
        )
        if made.returncode == 0:
            _replica_problem.clear()
            found = _replica_of(postgres_database)
        else:
            _replica_problem.append(f"scripts/pg_replica.sh: {made.stderr.strip()[-500:]}")
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "ceir.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    if url is None:
        warnings.warn("PostgreSQL not reachable; skipping the PostgreSQL run", stacklevel=1)
        pytest.skip(f"PostgreSQL not reachable ({_postgres_problem[0]})")
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.get_engine(database_url)
    yield engine
    db.dispose_engines()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    with db.session_factory(engine)() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path / "var", public_rate_limit_per_minute=10_000
    )


@pytest.fixture
def app_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as client:
        yield client


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the CLI (which reads CEIR_* variables) at the test database."""
    monkeypatch.setenv("CEIR_DATABASE_URL", database_url)
    monkeypatch.setenv("CEIR_DATA_DIR", str(tmp_path / "var"))
    config.get_settings.cache_clear()
    yield
    config.get_settings.cache_clear()
    db.dispose_engines()

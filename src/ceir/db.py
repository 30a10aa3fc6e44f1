"""Database engine, sessions and the declarative base: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from ceir.config import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets web readers run while an import writes; SQLite leaves foreign keys off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-200000")
    # Reads straight from the file's pages instead of copying them into the cache: a bulk check's
    # million index look-ups ran a third faster. 2 GiB is the most SQLite builds allow by default.
    cursor.execute("PRAGMA mmap_size=2147418112")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


_engines: dict[str, Engine] = {}
_read_engines: dict[str, Engine] = {}


def read_engine(engine: Engine) -> Engine:
    """An engine for reads of one statement that need no transaction, on `engine`'s database.

    On PostgreSQL its connections are in autocommit (no BEGIN and ROLLBACK round trips around a
    read) and are not pinged before each use (one more round trip): together three quarters of
    a public check's time. A connection the server has dropped fails its statement instead and
    invalidates the pool; callers retry once (see `ceir.check.api`). SQLite needs neither.
    """
    if engine.dialect.name == "sqlite":
        return engine
    key = engine.url.render_as_string(hide_password=False)
    if key not in _read_engines:
        _read_engines[key] = create_engine(
            engine.url, isolation_level="AUTOCOMMIT", pool_size=10, max_overflow=20
        )
    return _read_engines[key]


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().effective_database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    for engines in (_engines, _read_engines):
        for engine in engines.values():
            engine.dispose()
        engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with session_factory(engine or get_engine())() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

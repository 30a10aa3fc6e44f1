"""The Alembic migrations: they build exactly the models' schema, both ways, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, text, update
from sqlalchemy.exc import DatabaseError

from ceir import migrate
from ceir.audit.models import AuditEvent
from ceir.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_and_upgrade_again(database_url: str, engine: Engine) -> None:
    migrate.downgrade(database_url, "base")
    assert "devices" not in inspect(engine).get_table_names()
    migrate.upgrade(database_url)
    assert {"devices", "device_imeis", "registrations", "tac_models", "audit_events"} <= set(
        inspect(engine).get_table_names()
    )


def test_audit_log_refuses_updates_and_deletes(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(AuditEvent).values(
                at=dt.datetime.now(dt.UTC), actor="t", action="x", object_type="y", object_id="1"
            )
        )
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(update(AuditEvent).values(actor="someone else"))
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))

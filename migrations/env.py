"""Alembic environment: runs migrations on ceir's engine (SQLite or PostgreSQL)."""

from alembic import context

from ceir.db import UTCDateTime, get_engine
from ceir.models import Base

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url")
    with get_engine(url).connect() as connection:
        _run(connection)
        connection.commit()


def _render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Write ceir's UTCDateTime as the plain column type it stores, so migrations stand alone."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

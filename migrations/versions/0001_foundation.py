"""Foundation: registry of devices, TAC models, import batches, append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BigKey, primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    for column in ("at", "actor", "action", "object_id"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])

    op.create_table(
        "tac_models",
        sa.Column("tac", sa.String(8), primary_key=True),
        sa.Column("marketing_name", sa.String(256), nullable=True),
        sa.Column("brand", sa.String(128), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("device_type", sa.String(64), nullable=True),
        sa.Column("operating_system", sa.String(128), nullable=True),
        sa.Column("allocation_date", sa.Date(), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
    )

    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_skipped", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
    )
    op.create_index("ix_import_batches_sha256", "import_batches", ["sha256"])

    op.create_table(
        "declarations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("declared_on", sa.Date(), nullable=False),
        sa.Column("importer_bin", sa.String(12), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_declarations_importer_bin", "declarations", ["importer_bin"])

    op.create_table(
        "devices",
        sa.Column("id", BigKey, primary_key=True),
        sa.Column("tac", sa.String(8), nullable=False),
        sa.Column("brand", sa.String(128), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_devices_tac", "devices", ["tac"])

    op.create_table(
        "device_imeis",
        sa.Column("imei_key", BigKey, primary_key=True, autoincrement=False),
        sa.Column(
            "device_id",
            sa.BigInteger(),
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
    )
    op.create_index("ix_device_imeis_device_id", "device_imeis", ["device_id"])

    op.create_table(
        "registrations",
        sa.Column("id", BigKey, primary_key=True),
        sa.Column(
            "device_id",
            sa.BigInteger(),
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("registered_at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        # Provenance columns without foreign keys: see ceir.registry.models.Registration.
        sa.Column("declaration_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
    )
    op.create_index("ix_registrations_device_id", "registrations", ["device_id"])
    op.create_index("ix_registrations_declaration_id", "registrations", ["declaration_id"])

    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """The audit trail must survive a careless or malicious UPDATE/DELETE, so the database refuses them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "registrations",
        "device_imeis",
        "devices",
        "declarations",
        "import_batches",
        "tac_models",
        "audit_events",
    ):
        op.drop_table(table)

"""Network enforcement (imports, subscribers, device states, runs, lists, stolen, pauses) and API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:27:04.579679
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("daily_quota", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index("ix_api_keys_owner", "api_keys", ["owner"])

    op.create_table(
        "block_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_pauses")),
    )
    op.create_index("ix_block_pauses_imei", "block_pauses", ["imei"])

    op.create_table(
        "classification_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classification_runs")),
    )
    op.create_index("ix_classification_runs_run_date", "classification_runs", ["run_date"])

    op.create_table(
        "device_state_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=20), nullable=False),
        sa.Column("old_state", sa.String(length=16), nullable=True),
        sa.Column("new_state", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=128), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_state_changes")),
    )
    op.create_index("ix_device_state_changes_imei", "device_state_changes", ["imei"])
    op.create_index("ix_device_state_changes_run_id", "device_state_changes", ["run_id"])

    op.create_table(
        "device_states",
        sa.Column("imei", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=128), nullable=False),
        sa.Column("first_noncompliant", sa.Date(), nullable=False),
        sa.Column("block_date", sa.Date(), nullable=False),
        sa.Column("blocked_on", sa.Date(), nullable=True),
        sa.Column("updated_run", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("imei", name=op.f("pk_device_states")),
    )
    op.create_index("ix_device_states_state", "device_states", ["state"])

    op.create_table(
        "list_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_files")),
    )
    op.create_index("ix_list_files_operator", "list_files", ["operator"])
    op.create_index("ix_list_files_run_id", "list_files", ["run_id"])

    op.create_table(
        "operator_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("distinct_imeis", sa.Integer(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_imports")),
    )
    op.create_index("ix_operator_imports_operator", "operator_imports", ["operator"])
    op.create_index("ix_operator_imports_sha256", "operator_imports", ["sha256"])

    op.create_table(
        "stolen_devices",
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("imei", name=op.f("pk_stolen_devices")),
    )
    op.create_table(
        "subscribers",
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_subscribers")),
    )
    op.create_index("ix_subscribers_iin", "subscribers", ["iin"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_iin", table_name="subscribers")

    op.drop_table("subscribers")
    op.drop_table("stolen_devices")
    op.drop_index("ix_operator_imports_sha256", table_name="operator_imports")
    op.drop_index("ix_operator_imports_operator", table_name="operator_imports")

    op.drop_table("operator_imports")
    op.drop_index("ix_list_files_run_id", table_name="list_files")
    op.drop_index("ix_list_files_operator", table_name="list_files")

    op.drop_table("list_files")
    op.drop_index("ix_device_states_state", table_name="device_states")

    op.drop_table("device_states")
    op.drop_index("ix_device_state_changes_run_id", table_name="device_state_changes")
    op.drop_index("ix_device_state_changes_imei", table_name="device_state_changes")

    op.drop_table("device_state_changes")
    op.drop_index("ix_classification_runs_run_date", table_name="classification_runs")

    op.drop_table("classification_runs")
    op.drop_index("ix_block_pauses_imei", table_name="block_pauses")

    op.drop_table("block_pauses")
    op.drop_index("ix_api_keys_owner", table_name="api_keys")

    op.drop_table("api_keys")

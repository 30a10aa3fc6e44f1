"""partners and device flags

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 08:49:27.049124
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_registrations_revoked_at",
        "registrations",
        ["revoked_at"],
        sqlite_where=sa.text("revoked_at IS NOT NULL"),
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    op.create_table(
        "api_key_usage",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("imeis", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "day", name=op.f("pk_api_key_usage")),
    )
    op.create_table(
        "check_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_jobs")),
    )
    op.create_index("ix_check_jobs_owner", "check_jobs", ["owner"])

    op.create_table(
        "device_flags",
        sa.Column("imei", sa.String(length=20), nullable=False),
        sa.Column("flag", sa.String(length=32), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("imei", "flag", name=op.f("pk_device_flags")),
    )
    op.create_table(
        "sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("receipt_number", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
    )
    op.create_index("ix_sales_imei", "sales", ["imei"])


def downgrade() -> None:
    op.drop_index("ix_registrations_revoked_at", table_name="registrations")
    op.drop_index("ix_sales_imei", table_name="sales")

    op.drop_table("sales")
    op.drop_table("device_flags")
    op.drop_index("ix_check_jobs_owner", table_name="check_jobs")

    op.drop_table("check_jobs")
    op.drop_table("api_key_usage")

"""device reports and ownership transfers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("imeis", sa.JSON(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("police_reference", sa.String(length=64), nullable=True),
        sa.Column("owner_iin", sa.String(length=12), nullable=True),
        sa.Column("reported_by", sa.String(length=128), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=128), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_reports")),
    )
    op.create_index("ix_device_reports_imei", "device_reports", ["imei"])
    op.create_index("ix_device_reports_device_id", "device_reports", ["device_id"])
    op.create_index("ix_device_reports_owner_iin", "device_reports", ["owner_iin"])
    op.create_table(
        "ownership_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("from_iin", sa.String(length=12), nullable=False),
        sa.Column("to_iin", sa.String(length=12), nullable=False),
        sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_msisdn", sa.String(length=15), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_transfers")),
    )
    op.create_index("ix_ownership_transfers_device_id", "ownership_transfers", ["device_id"])
    op.create_index("ix_ownership_transfers_from_iin", "ownership_transfers", ["from_iin"])
    op.create_index("ix_ownership_transfers_to_iin", "ownership_transfers", ["to_iin"])


def downgrade() -> None:
    op.drop_table("ownership_transfers")
    op.drop_table("device_reports")

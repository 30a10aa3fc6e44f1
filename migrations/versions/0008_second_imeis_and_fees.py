"""second IMEI links and the partners' fee ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "second_imei_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("registered_imei", sa.String(length=14), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=True),
        sa.Column("conclusive", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("found_run", sa.Integer(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_imei_candidates")),
    )
    op.create_index("ix_second_imei_candidates_imei", "second_imei_candidates", ["imei"])
    op.create_index("ix_second_imei_candidates_device_id", "second_imei_candidates", ["device_id"])
    op.create_index("ix_second_imei_candidates_iin", "second_imei_candidates", ["iin"])
    op.create_index("ix_second_imei_candidates_status", "second_imei_candidates", ["status"])
    op.create_index(
        "ix_second_imei_candidates_imei_device",
        "second_imei_candidates",
        ["imei", "device_id"],
        unique=True,
    )
    op.create_table(
        "fee_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("fee_per_device", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_ledger")),
    )
    op.create_index("ix_fee_ledger_partner", "fee_ledger", ["partner"])
    op.create_index("ix_fee_ledger_month", "fee_ledger", ["month"])
    op.create_index("ix_fee_ledger_batch_id", "fee_ledger", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_fee_ledger_batch_id", table_name="fee_ledger")
    op.drop_index("ix_fee_ledger_month", table_name="fee_ledger")
    op.drop_index("ix_fee_ledger_partner", table_name="fee_ledger")
    op.drop_table("fee_ledger")
    op.drop_index("ix_second_imei_candidates_imei_device", table_name="second_imei_candidates")
    op.drop_index("ix_second_imei_candidates_status", table_name="second_imei_candidates")
    op.drop_index("ix_second_imei_candidates_iin", table_name="second_imei_candidates")
    op.drop_index("ix_second_imei_candidates_device_id", table_name="second_imei_candidates")
    op.drop_index("ix_second_imei_candidates_imei", table_name="second_imei_candidates")
    op.drop_table("second_imei_candidates")

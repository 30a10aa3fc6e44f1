"""purchase_declarations: devices bought abroad, declared before their buyer comes home

Revision ID: 0012_i18travel
Revises: 0010_device_numbers
Create Date: 2026-12-02 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_i18travel"
down_revision: str | None = "0010_device_numbers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purchase_declarations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("imei", sa.String(length=14), nullable=False),
        sa.Column("shop", sa.String(length=128), nullable=False),
        sa.Column("purchased_on", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("receipt_id", sa.String(length=32), nullable=False),
        sa.Column("receipt_filename", sa.String(length=256), nullable=False),
        sa.Column("receipt_type", sa.String(length=64), nullable=False),
        sa.Column("receipt_size", sa.Integer(), nullable=False),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_declarations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_purchase_declarations_public_id")),
    )
    for column in ("iin", "imei", "status", "created_at"):
        op.create_index(f"ix_purchase_declarations_{column}", "purchase_declarations", [column])


def downgrade() -> None:
    op.drop_table("purchase_declarations")

"""device_numbers: the numbers a non-compliant device was seen with, for deciding appeals

Revision ID: 0010_device_numbers (file 0011: applied after 0010_fair)
Revises: 0010_fair
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_device_numbers"
down_revision: str | None = "0010_fair"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_numbers",
        sa.Column("imei", sa.String(length=20), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("imei", "msisdn", name=op.f("pk_device_numbers")),
    )


def downgrade() -> None:
    op.drop_table("device_numbers")

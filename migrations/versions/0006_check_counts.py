"""check counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "verdict", name=op.f("pk_check_counts")),
    )


def downgrade() -> None:
    op.drop_table("check_counts")

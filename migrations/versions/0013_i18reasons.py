"""Held runs a supervisor dismisses (#18 item 5); state changes by day, for open data by reason

Revision ID: 0012_i18reasons
Revises: 0012_i18travel
Create Date: 2026-12-02 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_i18reasons"
down_revision: str | None = "0012_i18travel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("classification_runs") as batch:
        batch.add_column(sa.Column("dismissed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dismissed_reason", sa.String(length=1024), nullable=True))
    op.create_index(
        op.f("ix_device_state_changes_on_date"), "device_state_changes", ["on_date"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_state_changes_on_date"), table_name="device_state_changes")
    with op.batch_alter_table("classification_runs") as batch:
        batch.drop_column("dismissed_reason")
        batch.drop_column("dismissed_at")
        batch.drop_column("dismissed_by")

"""fair to honest owners: held classification runs (safety brake) and appeal deadlines

Revision ID: 0010_fair
Revises: 0009
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_fair"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("classification_runs") as batch:
        batch.add_column(sa.Column("held_reason", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("deadline", sa.Date(), nullable=True))
        batch.create_index("ix_applications_deadline", ["deadline"])


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_index("ix_applications_deadline")
        batch.drop_column("deadline")
    with op.batch_alter_table("classification_runs") as batch:
        batch.drop_column("confirmed_at")
        batch.drop_column("confirmed_by")
        batch.drop_column("held_reason")

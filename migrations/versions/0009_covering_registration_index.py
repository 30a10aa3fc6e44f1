"""registrations: the device index covers what a check reads

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_registrations_device_id", table_name="registrations")
    op.create_index(
        "ix_registrations_device_id",
        "registrations",
        ["device_id", "revoked_at", "source", "registered_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_registrations_device_id", table_name="registrations")
    op.create_index("ix_registrations_device_id", "registrations", ["device_id"])

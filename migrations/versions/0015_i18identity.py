"""identity use: acts done with an IIN, and the "this was not me" links texted about them

Revision ID: 0012_i18identity
Revises: 0012_i15screens
Create Date: 2026-12-02 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_i18identity"
down_revision: str | None = "0012_i15screens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_acts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("imeis", sa.JSON(), nullable=False),
        sa.Column("device_name", sa.String(length=256), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("numbers_told", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disputed_by", sa.String(length=15), nullable=True),
        sa.Column("dispute_client", sa.String(length=64), nullable=True),
        sa.Column("undone", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_acts")),
    )
    op.create_index("ix_identity_acts_iin", "identity_acts", ["iin"])
    op.create_index("ix_identity_acts_reference", "identity_acts", ["reference"])
    op.create_index("ix_identity_acts_done_at", "identity_acts", ["done_at"])
    op.create_index("ix_identity_acts_status", "identity_acts", ["status"])
    op.create_table(
        "identity_act_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("act_id", sa.Integer(), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["act_id"],
            ["identity_acts.id"],
            name=op.f("fk_identity_act_links_act_id_identity_acts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_identity_act_links")),
    )
    op.create_index("ix_identity_act_links_act_id", "identity_act_links", ["act_id"])


def downgrade() -> None:
    op.drop_table("identity_act_links")
    op.drop_table("identity_acts")

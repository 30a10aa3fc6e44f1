"""pending_documents: documents attached to a citizen's form that is not sent yet

Revision ID: 0012_i15screens
Revises: 0012_i18reasons
Create Date: 2026-12-02 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_i15screens"
down_revision: str | None = "0012_i18reasons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_documents")),
    )
    op.create_index(op.f("ix_pending_documents_iin"), "pending_documents", ["iin"])
    op.create_index(op.f("ix_pending_documents_uploaded_at"), "pending_documents", ["uploaded_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_documents_uploaded_at"), table_name="pending_documents")
    op.drop_index(op.f("ix_pending_documents_iin"), table_name="pending_documents")
    op.drop_table("pending_documents")

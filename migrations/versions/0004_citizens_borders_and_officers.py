"""citizens, borders and officers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:42:43.720540
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("imei1", sa.String(length=14), nullable=False),
        sa.Column("imei2", sa.String(length=14), nullable=True),
        sa.Column("brand", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("travel_from", sa.Date(), nullable=True),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("auto_check", sa.JSON(), nullable=False),
        sa.Column("decision_reason", sa.String(length=64), nullable=True),
        sa.Column("decision_note", sa.String(length=1024), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_to", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("public_id", name=op.f("uq_applications_public_id")),
    )
    op.create_index("ix_applications_assigned_to", "applications", ["assigned_to"])
    op.create_index("ix_applications_created_at", "applications", ["created_at"])
    op.create_index("ix_applications_iin", "applications", ["iin"])
    op.create_index("ix_applications_imei1", "applications", ["imei1"])
    op.create_index("ix_applications_kind", "applications", ["kind"])
    op.create_index("ix_applications_status", "applications", ["status"])

    op.create_table(
        "border_crossings",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkpoint", sa.String(length=128), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_border_crossings")),
    )
    op.create_index("ix_border_crossings_iin", "border_crossings", ["iin"])

    op.create_table(
        "citizen_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_citizen_sessions")),
    )
    op.create_index("ix_citizen_sessions_iin", "citizen_sessions", ["iin"])

    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("roles", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.SmallInteger(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officers")),
        sa.UniqueConstraint("username", name=op.f("uq_officers_username")),
    )
    op.create_table(
        "sign_in_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_codes")),
    )
    op.create_index("ix_sign_in_codes_created_at", "sign_in_codes", ["created_at"])
    op.create_index("ix_sign_in_codes_iin", "sign_in_codes", ["iin"])
    op.create_index("ix_sign_in_codes_msisdn", "sign_in_codes", ["msisdn"])

    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("msisdn", sa.String(length=15), nullable=False),
        sa.Column("text", sa.String(length=1024), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
    )
    op.create_index("ix_sms_messages_msisdn", "sms_messages", ["msisdn"])

    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_events_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    op.create_index(
        "ix_application_events_application_id", "application_events", ["application_id"]
    )

    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_documents_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index("ix_documents_application_id", "documents", ["application_id"])

    op.create_table(
        "officer_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_officer_sessions_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_officer_sessions")),
    )
    op.create_index("ix_officer_sessions_officer_id", "officer_sessions", ["officer_id"])


def downgrade() -> None:
    op.drop_index("ix_officer_sessions_officer_id", table_name="officer_sessions")

    op.drop_table("officer_sessions")
    op.drop_index("ix_documents_application_id", table_name="documents")

    op.drop_table("documents")
    op.drop_index("ix_application_events_application_id", table_name="application_events")

    op.drop_table("application_events")
    op.drop_index("ix_sms_messages_msisdn", table_name="sms_messages")

    op.drop_table("sms_messages")
    op.drop_index("ix_sign_in_codes_msisdn", table_name="sign_in_codes")
    op.drop_index("ix_sign_in_codes_iin", table_name="sign_in_codes")
    op.drop_index("ix_sign_in_codes_created_at", table_name="sign_in_codes")

    op.drop_table("sign_in_codes")
    op.drop_table("officers")
    op.drop_index("ix_citizen_sessions_iin", table_name="citizen_sessions")

    op.drop_table("citizen_sessions")
    op.drop_index("ix_border_crossings_iin", table_name="border_crossings")

    op.drop_table("border_crossings")
    op.drop_index("ix_applications_status", table_name="applications")
    op.drop_index("ix_applications_kind", table_name="applications")
    op.drop_index("ix_applications_imei1", table_name="applications")
    op.drop_index("ix_applications_iin", table_name="applications")
    op.drop_index("ix_applications_created_at", table_name="applications")
    op.drop_index("ix_applications_assigned_to", table_name="applications")

    op.drop_table("applications")

"""appeals: registered requests with their topics' routes, deadlines, history, notes, files,
alerts, SLA pauses, customer notices, status-query misses and offers to operators; versions
of the topics document

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appeal_lookups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asker", sa.String(length=340), nullable=False),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_lookups")),
    )
    with op.batch_alter_table("appeal_lookups", schema=None) as batch_op:
        batch_op.create_index("ix_appeal_lookups_asker", ["asker", "created_at"], unique=False)

    op.create_table(
        "topic_configs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_topic_configs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_configs")),
    )
    op.create_table(
        "appeals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage_since", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "stage_warn_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("stage_due_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "stage_warned_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "stage_breached_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("returned_reason", sa.String(length=1000), nullable=True),
        sa.Column(
            "first_response_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "first_response_warn_at",
            gateway.storage.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "first_response_due_at",
            gateway.storage.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "first_response_warned_at",
            gateway.storage.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "first_response_breached_at",
            gateway.storage.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "resolution_warn_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_due_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_warned_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_breached_at",
            gateway.storage.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("paused_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("first_response_left", sa.Float(), nullable=True),
        sa.Column("resolution_left", sa.Float(), nullable=True),
        sa.Column("resolved_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "offered_to", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "offer_expires_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("offer_passed", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_appeals_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_appeals_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_appeals_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_appeals_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["offered_to"], ["users.id"], name=op.f("fk_appeals_offered_to_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_appeals_conversation_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_appeals_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_appeals_reference")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeals_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_appeals_stage_due", ["stage_due_at"], unique=False)
        batch_op.create_index("ix_appeals_status_queue", ["status", "queue"], unique=False)

    op.create_table(
        "appeal_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("due_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=True),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("notify_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_alerts_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_alerts")),
        sa.UniqueConstraint(
            "appeal_id",
            "kind",
            "stage",
            "due_at",
            name=op.f("uq_appeal_alerts_appeal_id_kind_stage_due_at"),
        ),
    )
    with op.batch_alter_table("appeal_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_alerts_appeal_id"), ["appeal_id"], unique=False)

    op.create_table(
        "appeal_attachments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("added_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_appeal_attachments_added_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_attachments_appeal_id_appeals")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["attachment_files.id"],
            name=op.f("fk_appeal_attachments_file_id_attachment_files"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_appeal_attachments_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_attachments")),
    )
    with op.batch_alter_table("appeal_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appeal_attachments_appeal_id"), ["appeal_id"], unique=False
        )

    op.create_table(
        "appeal_conversations",
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("linked_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("linked_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_conversations_appeal_id_appeals")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_appeal_conversations_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["linked_by"], ["users.id"], name=op.f("fk_appeal_conversations_linked_by_users")
        ),
        sa.PrimaryKeyConstraint(
            "appeal_id", "conversation_id", name=op.f("pk_appeal_conversations")
        ),
    )
    with op.batch_alter_table("appeal_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appeal_conversations_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "appeal_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_appeal_history_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_history_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_history")),
    )
    with op.batch_alter_table("appeal_history", schema=None) as batch_op:
        batch_op.create_index("ix_appeal_history_appeal", ["appeal_id", "id"], unique=False)

    op.create_table(
        "appeal_notes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_notes_appeal_id_appeals")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_appeal_notes_author_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_notes")),
    )
    with op.batch_alter_table("appeal_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_notes_appeal_id"), ["appeal_id"], unique=False)

    op.create_table(
        "appeal_notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_notices_appeal_id_appeals")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_appeal_notices_identity_id_identities"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_appeal_notices_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_notices")),
        sa.UniqueConstraint("appeal_id", "key", name=op.f("uq_appeal_notices_appeal_id_key")),
    )
    with op.batch_alter_table("appeal_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appeal_notices_appeal_id"), ["appeal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_appeal_notices_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "appeal_pauses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("started_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_pauses_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_pauses")),
    )
    with op.batch_alter_table("appeal_pauses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_pauses_appeal_id"), ["appeal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appeal_pauses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_pauses_appeal_id"))

    op.drop_table("appeal_pauses")
    with op.batch_alter_table("appeal_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_notices_message_id"))
        batch_op.drop_index(batch_op.f("ix_appeal_notices_appeal_id"))

    op.drop_table("appeal_notices")
    with op.batch_alter_table("appeal_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_notes_appeal_id"))

    op.drop_table("appeal_notes")
    with op.batch_alter_table("appeal_history", schema=None) as batch_op:
        batch_op.drop_index("ix_appeal_history_appeal")

    op.drop_table("appeal_history")
    with op.batch_alter_table("appeal_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_conversations_conversation_id"))

    op.drop_table("appeal_conversations")
    with op.batch_alter_table("appeal_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_attachments_appeal_id"))

    op.drop_table("appeal_attachments")
    with op.batch_alter_table("appeal_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_alerts_appeal_id"))

    op.drop_table("appeal_alerts")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index("ix_appeals_status_queue")
        batch_op.drop_index("ix_appeals_stage_due")
        batch_op.drop_index(batch_op.f("ix_appeals_owner_id"))
        batch_op.drop_index(batch_op.f("ix_appeals_customer_id"))

    op.drop_table("appeals")
    op.drop_table("topic_configs")
    with op.batch_alter_table("appeal_lookups", schema=None) as batch_op:
        batch_op.drop_index("ix_appeal_lookups_asker")

    op.drop_table("appeal_lookups")

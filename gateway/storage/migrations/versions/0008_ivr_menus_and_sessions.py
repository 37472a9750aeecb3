"""ivr_menus: every published version of every IVR menu; ivr_sessions: where each caller or
texting customer is in a menu

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ivr_menus",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("menu_id", sa.String(length=64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ivr_menus_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_menus")),
    )
    with op.batch_alter_table("ivr_menus", schema=None) as batch_op:
        batch_op.create_index("ix_ivr_menus_menu", ["menu_id", "id"], unique=False)

    op.create_table(
        "ivr_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=250), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_ivr_sessions_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_sessions")),
        sa.UniqueConstraint("key", name=op.f("uq_ivr_sessions_key")),
    )
    with op.batch_alter_table("ivr_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_sessions_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ivr_sessions_conversation_id"), ["conversation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ivr_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ivr_sessions_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_ivr_sessions_call_sid"))

    op.drop_table("ivr_sessions")
    with op.batch_alter_table("ivr_menus", schema=None) as batch_op:
        batch_op.drop_index("ix_ivr_menus_menu")

    op.drop_table("ivr_menus")

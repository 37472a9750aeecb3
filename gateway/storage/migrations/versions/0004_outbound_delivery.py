"""outbound delivery: provider ids, attempts and errors on messages; opt-outs on identities

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error", sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_external_id"), ["external_id"], unique=False)
    with op.batch_alter_table("identities") as batch_op:
        batch_op.add_column(
            sa.Column("opted_out_at", gateway.storage.schema.UtcDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("unreachable_at", gateway.storage.schema.UtcDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("identities") as batch_op:
        batch_op.drop_column("unreachable_at")
        batch_op.drop_column("opted_out_at")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_external_id"))
        batch_op.drop_column("error")
        batch_op.drop_column("attempts")
        batch_op.drop_column("external_id")

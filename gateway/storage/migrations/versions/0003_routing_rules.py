"""routing rules in force: each conversation's rule, step and attributes; config versions; audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("rule", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("step_since", gateway.storage.schema.UtcDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
    op.create_table(
        "routing_configs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_routing_configs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_configs")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("actor_id", Id, nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_created_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("routing_configs")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("attributes")
        batch_op.drop_column("step_since")
        batch_op.drop_column("step")
        batch_op.drop_column("rule")

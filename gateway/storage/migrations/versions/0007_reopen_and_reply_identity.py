"""conversations.reopened_at: a closed conversation the customer writes into again is reopened;
messages.identity_id: the identity a reply goes to when the operator chose another of the
customer's channels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(
            sa.Column("reopened_at", gateway.storage.schema.UtcDateTime(), nullable=True)
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("identity_id", gateway.storage.schema.Id, nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_messages_identity_id_identities"), "identities", ["identity_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint(op.f("fk_messages_identity_id_identities"), type_="foreignkey")
        batch_op.drop_column("identity_id")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("reopened_at")

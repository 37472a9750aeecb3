"""offers.pushed_at: offers whose push was never sent are pushed by the next router

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch_op:
        batch_op.add_column(
            sa.Column("pushed_at", gateway.storage.schema.UtcDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("offers") as batch_op:
        batch_op.drop_column("pushed_at")

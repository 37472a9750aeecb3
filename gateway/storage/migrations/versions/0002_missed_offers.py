"""operator_presence.missed_in_row: offers that timed out in a row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator_presence") as batch_op:
        batch_op.add_column(
            sa.Column("missed_in_row", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("operator_presence") as batch_op:
        batch_op.drop_column("missed_in_row")

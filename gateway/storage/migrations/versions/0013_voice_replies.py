"""voice_replies: the TwiML each step of a call's menu was answered with, replayed when Twilio
posts the same callback again

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.storage.schema

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_replies",
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("step", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("twiml", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.storage.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["ivr_sessions.id"],
            name=op.f("fk_voice_replies_session_id_ivr_sessions"),
        ),
        sa.PrimaryKeyConstraint("call_sid", "session_id", "step", name=op.f("pk_voice_replies")),
    )


def downgrade() -> None:
    op.drop_table("voice_replies")

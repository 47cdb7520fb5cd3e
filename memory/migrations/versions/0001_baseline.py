"""Baseline: the schema of the first release (which created it with create_all).

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid alias


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", _BIGINT_PK, primary_key=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_message_id", sa.String(255), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("author_id", sa.String(255), nullable=False),
        sa.Column("author_name", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("total_tokens", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("platform", "platform_message_id", name="uq_messages_platform_msg"),
    )
    op.create_index("ix_messages_channel_id", "messages", ["channel", "id"])
    op.create_table(
        "channels",
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("response_id", sa.String(255), nullable=True),
        sa.Column("response_message_id", sa.BigInteger(), nullable=True),
        sa.Column("reset_after_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("channels")
    op.drop_index("ix_messages_channel_id", table_name="messages")
    op.drop_table("messages")

"""The tools a model called while writing an answer.

Revision ID: 0006_tool_calls
Revises: 0005_attachments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tool_calls"
down_revision = "0005_attachments"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("id", _BIGINT_PK, primary_key=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("asker_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("result_chars", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tool_calls_channel_id", "tool_calls", ["channel", "id"])


def downgrade() -> None:
    op.drop_index("ix_tool_calls_channel_id", table_name="tool_calls")
    op.drop_table("tool_calls")

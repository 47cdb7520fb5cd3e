"""Spending limits and the console: each answer's cost (and cached input tokens), spending
counters, run-time channel settings, failed turns.

Revision ID: 0007_usage_limits
Revises: 0006_tool_calls

Answers stored before this revision have no cost (NULL) and are not in the counters: limits
count from the upgrade on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_usage_limits"
down_revision = "0006_tool_calls"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("cached_input_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "usage_counts",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("tag", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
    )
    op.create_table(
        "channel_settings",
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("persona", sa.String(64), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("limits", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "turn_failures",
        sa.Column("id", _BIGINT_PK, primary_key=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_turn_failures_created_at", "turn_failures", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_turn_failures_created_at", table_name="turn_failures")
    op.drop_table("turn_failures")
    op.drop_table("channel_settings")
    op.drop_table("usage_counts")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("cost_usd")
        batch.drop_column("cached_input_tokens")

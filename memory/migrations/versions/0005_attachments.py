"""Attachments: files on messages, in their own table (the bytes of big ones on disk).

Revision ID: 0005_attachments
Revises: 0004_slack_installations

Each row is one file on one message (`message_id`), or a web upload not yet sent (NULL). Small
files keep their bytes in `data`; bigger ones are in the files folder under their id
(`on_disk`). See memory/files.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_attachments"
down_revision = "0004_slack_installations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(255), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("on_disk", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_attachments_message_id", "attachments", ["message_id"])
    op.create_index("ix_attachments_channel_message", "attachments", ["channel", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_attachments_channel_message", table_name="attachments")
    op.drop_index("ix_attachments_message_id", table_name="attachments")
    op.drop_table("attachments")

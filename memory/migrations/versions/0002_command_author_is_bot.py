"""Messages remember whether they were a command and whether a bot wrote them.

Revision ID: 0002_command_author_is_bot
Revises: 0001_baseline

`command` lets a turn leave `@chatbot help` and friends out of the model's context without
parsing every row again; `author_is_bot` lets the core's bot-loop guard count answers to bots
from the stored messages. Existing exact commands of the default tag are marked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_command_author_is_bot"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_COMMANDS = ("help", "reset", "usage")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("command", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("author_is_bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    messages = sa.table(
        "messages",
        sa.column("role", sa.String),
        sa.column("text", sa.Text),
        sa.column("command", sa.String),
    )
    for command in _COMMANDS:
        spelled = [f"@chatbot {command}{end}" for end in ("", "!", ".", "?")]
        op.execute(
            messages.update()
            .where(
                messages.c.role == "user", sa.func.lower(sa.func.trim(messages.c.text)).in_(spelled)
            )
            .values(command=command)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author_is_bot")
        batch.drop_column("command")

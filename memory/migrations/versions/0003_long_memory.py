"""Long memory: summaries, the full-text index, embeddings; who asked, what the model was given.

Revision ID: 0003_long_memory
Revises: 0002_command_author_is_bot

All of it is derived from the messages and can be rebuilt from them. The full-text index is the
one part each engine keeps its own way (memory/search_index.py). SQLite's FTS5 table is made
and filled here, so recall reaches what was said before the upgrade. PostgreSQL's index is made
by 0009_postgres_terms: this revision once made a tsvector table with a GIN index, which 0009
replaces (a database made then still has it until 0009 runs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memory.search_index import build_index

revision = "0003_long_memory"
down_revision = "0002_command_author_is_bot"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("asker_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))
    op.create_table(
        "summaries",
        sa.Column("id", _BIGINT_PK, primary_key=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("covers_up_to_id", sa.BigInteger(), nullable=False),
        sa.Column("covers_messages", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_summaries_channel_scope_id", "summaries", ["channel", "scope", "id"])
    op.create_table(
        "embeddings",
        sa.Column("message_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_embeddings_channel_message", "embeddings", ["channel", "message_id"])
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        build_index(connection)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS message_search")
    op.drop_index("ix_embeddings_channel_message", table_name="embeddings")
    op.drop_table("embeddings")
    op.drop_index("ix_summaries_channel_scope_id", table_name="summaries")
    op.drop_table("summaries")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("context")
        batch.drop_column("asker_id")

"""PostgreSQL's full-text index becomes a table of (term, message id) pairs with a B-tree
(memory/search_index.py), filled from the messages; the tsvector table with its GIN index goes.
A search then reads a bounded part of the index whatever the size of the channel, where a GIN
search read every message holding its words. Nothing changes on SQLite.

Revision ID: 0009_postgres_terms
Revises: 0008_search_merge
"""

from __future__ import annotations

from alembic import op

from memory.search_index import build_index, drop_index

revision = "0009_postgres_terms"
down_revision = "0008_search_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        return
    conn.exec_driver_sql("DROP TABLE IF EXISTS message_search")  # 0003's tsvector, if made then
    build_index(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        return
    # Back to 0003's tsvector table, rebuilt from the pairs (the same terms, sorted).
    conn.exec_driver_sql(
        "CREATE TABLE message_search (message_id BIGINT PRIMARY KEY REFERENCES messages (id)"
        " ON DELETE CASCADE, terms TSVECTOR NOT NULL)"
    )
    conn.exec_driver_sql(
        "INSERT INTO message_search (message_id, terms) SELECT message_id,"
        " array_to_tsvector(array_agg(term)) FROM message_terms GROUP BY message_id"
    )
    conn.exec_driver_sql("CREATE INDEX ix_message_search_terms ON message_search USING GIN (terms)")
    drop_index(conn)

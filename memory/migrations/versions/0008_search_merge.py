"""SQLite's full-text index merges its segments less often (memory/search_index.py AUTOMERGE):
a question's insert no longer waits now and then for a merge. Nothing changes on PostgreSQL.

Revision ID: 0008_search_merge
Revises: 0007_usage_limits
"""

from __future__ import annotations

from alembic import op

from memory.search_index import tune_index

revision = "0008_search_merge"
down_revision = "0007_usage_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tune_index(op.get_bind())


def downgrade() -> None:
    pass  # the setting only changes when merges happen; the index is the same

"""The full-text index of the messages, each engine its own way, with the same terms.

- SQLite: an FTS5 table (`message_search`, rowid = message id) of the terms of
  memory/search_terms.py, tokenised verbatim (`ascii`: non-ASCII characters are kept as they
  are, `_` joins the channel prefix to the word). How common a term is, is probed: its first
  COMMON_DOCS + 1 matches are counted, never more (fts5vocab counts every match: 20 ms for a
  word in most of a million messages; the probe, under 1 ms).
- PostgreSQL: a table of (message id, tsvector of the same terms, cast verbatim: no language
  rules) with a GIN index; the planner's own statistics (`pg_stats.most_common_elems`, kept by
  ANALYZE) say which terms are common.

Both are maintained in the same transaction as the messages they index (memory/store.py) and
rebuilt from them by `fill_index`. A search returns candidate message ids; memory/store.py
ranks them. Common terms are left out of a search (when rarer ones are there): a word that is
in half the channel says nothing about which message is meant, and would make the search read
half the channel.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from memory.search_terms import index_terms

TABLE = "message_search"
# Tables the index adds that are not in the SQLModel metadata (the migration test skips them).
INDEX_TABLES = frozenset(
    {
        TABLE,
        f"{TABLE}_data",
        f"{TABLE}_idx",
        f"{TABLE}_content",
        f"{TABLE}_docsize",
        f"{TABLE}_config",
    }
)
COMMON_DOCS = 2_000  # a term in more messages than this says nothing about which one is meant
MAX_SEARCH_TERMS = 4  # the rarest this many terms of a question are searched for
FILL_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Candidates:
    ids: list[int]
    docs: dict[str, int]  # messages holding each searched term, where the engine knows


def _sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


# FTS5 merges its segments as messages are inserted, once AUTOMERGE of one size exist: at the
# default 4 a question's insert now and then waited 10-40 ms for a merge (at 1,000,000 messages);
# at 16 (the most FTS5 allows) merges are rarer, and a search reads a few more small segments.
# bench/recall.py at 1,000,000 on SQLite: a turn's p99 35.8 -> 24.8 ms (47.9 -> 21.4 ms side by side
# on one copy of the database).
AUTOMERGE = 16


def create_index(conn: Connection) -> None:
    if _sqlite(conn):
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {TABLE} USING fts5(terms, tokenize = \"ascii tokenchars '_'\")"
        )
        tune_index(conn)
    else:
        conn.exec_driver_sql(
            f"CREATE TABLE {TABLE} (message_id BIGINT PRIMARY KEY REFERENCES messages (id)"
            " ON DELETE CASCADE, terms TSVECTOR NOT NULL)"
        )
        conn.exec_driver_sql(f"CREATE INDEX ix_{TABLE}_terms ON {TABLE} USING GIN (terms)")


def tune_index(conn: Connection) -> None:
    """FTS5 keeps this setting in the index itself (its `_config` table)."""
    if _sqlite(conn):
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE}({TABLE}, rank) VALUES ('automerge', {AUTOMERGE})"
        )


def drop_index(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def fill_index(conn: Connection) -> int:
    """Index every searchable message not yet in the index; returns how many were added."""
    added, after = 0, 0
    while True:
        rows = conn.execute(
            text(
                "SELECT id, channel, text FROM messages WHERE id > :after AND NOT flagged"
                " AND command IS NULL ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": FILL_BATCH},
        ).all()
        if not rows:
            return added
        remove(conn, [r[0] for r in rows])  # rebuilding: no message twice
        add(conn, [(r[0], r[1], r[2]) for r in rows])
        added += len(rows)
        after = rows[-1][0]


def add(conn: Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """Index (id, channel, text) rows."""
    params = [{"id": i, "terms": index_terms(channel, said)} for i, channel, said in rows]
    params = [p for p in params if p["terms"]]
    if not params:
        return
    if _sqlite(conn):
        conn.execute(text(f"INSERT INTO {TABLE} (rowid, terms) VALUES (:id, :terms)"), params)
    else:
        conn.execute(
            text(
                f"INSERT INTO {TABLE} (message_id, terms) VALUES (:id, CAST(:terms AS tsvector))"
                " ON CONFLICT (message_id) DO UPDATE SET terms = EXCLUDED.terms"
            ),
            params,
        )


def remove(conn: Connection, ids: Sequence[int]) -> None:
    if not ids:
        return
    column = "rowid" if _sqlite(conn) else "message_id"
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join(str(int(i)) for i in chunk)
        conn.exec_driver_sql(f"DELETE FROM {TABLE} WHERE {column} IN ({marks})")


def search(
    conn: Connection, terms: Sequence[str], *, after_id: int, before_id: int, limit: int
) -> Candidates:
    """Messages with after_id < id < before_id holding any of the rarer `terms`."""
    if not terms:
        return Candidates([], {})
    if _sqlite(conn):
        return _search_sqlite(conn, terms, after_id, before_id, limit)
    return _search_postgres(conn, terms, after_id, before_id, limit)


def _rarest(terms: Sequence[str], docs: dict[str, int]) -> list[str]:
    """The question's rarest terms, common ones left out: a search for a word that is in
    thousands of messages would read them all and find nothing in particular."""
    by_rarity = sorted(terms, key=lambda t: docs.get(t, 0))
    return [t for t in by_rarity if docs.get(t, 0) <= COMMON_DOCS][:MAX_SEARCH_TERMS]


# Counted in the searched range only: the question itself, and the recent window, hold words
# (a Korean ending glued to a noun: "장소가", "였어") found nowhere older; counted over the
# whole channel they would look rarest and crowd out the words that find the message.
_PROBE = text(
    f"SELECT count(*) FROM (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :t"
    " AND rowid > :after AND rowid < :before LIMIT :n)"
)


def _search_sqlite(
    conn: Connection, terms: Sequence[str], after_id: int, before_id: int, limit: int
) -> Candidates:
    docs = {
        t: int(
            conn.execute(
                _PROBE,
                {"t": f'"{t}"', "after": after_id, "before": before_id, "n": COMMON_DOCS + 1},
            ).scalar()
            or 0
        )
        for t in terms
    }
    rare = _rarest([t for t in terms if docs[t]], docs)
    if not rare:
        return Candidates([], docs)
    query = " OR ".join(f'"{t}"' for t in rare)
    rows = conn.execute(
        text(
            f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :q AND rowid > :after"
            f" AND rowid < :before ORDER BY bm25({TABLE}) LIMIT :n"
        ),
        {"q": query, "after": after_id, "before": before_id, "n": limit},
    ).all()
    return Candidates([int(r[0]) for r in rows], docs)


# PostgreSQL's statistics of the index's terms (kept by ANALYZE, which autovacuum runs as the
# table grows), read at most every STATS_TTL seconds per database. A term not among the most
# common elements is rarer than the least common of them (about 0.06% of rows at the default
# statistics target): rare enough to search for.
STATS_TTL = 300.0
_pg_stats: dict[str, tuple[float, dict[str, int]]] = {}


def _postgres_docs(conn: Connection) -> dict[str, int]:
    database = str(conn.engine.url)
    at, docs = _pg_stats.get(database, (float("-inf"), {}))
    if time.monotonic() - at < STATS_TTL:
        return docs
    row = conn.execute(
        text(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples"
            " FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename"
            " WHERE s.tablename = :t AND s.attname = 'terms'"
        ),
        {"t": TABLE},
    ).first()
    docs = {}
    if row is not None and row[0] is not None:
        total = max(0.0, float(row[2] or 0))
        docs = {str(t): int(f * total) for t, f in zip(row[0], row[1], strict=False)}
    _pg_stats[database] = (time.monotonic(), docs)
    return docs


def _search_postgres(
    conn: Connection, terms: Sequence[str], after_id: int, before_id: int, limit: int
) -> Candidates:
    docs = _postgres_docs(conn)
    rare = _rarest(terms, docs)
    if not rare:
        return Candidates([], docs)
    query = " | ".join(f"'{t}'" for t in rare)
    # MATERIALIZED: the GIN index finds the (few) messages with these rare terms first; left
    # to itself the planner may walk the primary key backwards instead, reading far.
    rows = conn.execute(
        text(
            f"WITH found AS MATERIALIZED (SELECT message_id FROM {TABLE}"
            " WHERE terms @@ CAST(:q AS tsquery))"
            " SELECT message_id FROM found WHERE message_id > :after AND message_id < :before"
            " ORDER BY message_id DESC LIMIT :n"
        ),
        {"q": query, "after": after_id, "before": before_id, "n": limit},
    ).all()
    return Candidates([int(r[0]) for r in rows], docs)

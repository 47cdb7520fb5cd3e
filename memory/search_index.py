"""The full-text index of the messages, each engine its own way, with the same terms.

- SQLite: an FTS5 table (`message_search`, rowid = message id) of the terms of
  memory/search_terms.py, tokenised verbatim (`ascii`: non-ASCII characters are kept as they
  are, `_` joins the channel prefix to the word).
- PostgreSQL: a table of (term, message id) pairs (`message_terms`) whose primary key is a
  B-tree on (term, message id): a term's messages in an id range, newest first, are one index
  range read, and the index alone answers it.

Both are maintained in the same transaction as the messages they index (memory/store.py) and
rebuilt from them by `fill_index`. A search runs in two steps on both engines, each bounded
whatever the size of the channel:

1. How common each term of the question is in the searched id range, probed: its first
   COMMON_DOCS + 1 matches there are counted, never more. A term in more messages than that
   says nothing about which one is meant; the rarest MAX_SEARCH_TERMS of the rest are searched.
2. For each of those, its newest `limit` messages in the range. A message found by several
   rare terms comes first (memory/long_memory.py then ranks the candidates by all the terms).

Before 0009_postgres_terms, PostgreSQL kept a tsvector with a GIN index and asked the
planner's statistics how common a term was; the statistics (a sample) missed terms in a few
thousand messages, and a GIN search for one read every message holding it from the table:
40-70 ms, at 1,000,000 messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from memory.search_terms import index_terms

TABLE = "message_search"  # SQLite's FTS5 table
TERMS = "message_terms"  # PostgreSQL's (term, message id) pairs
# Tables the index adds that are not in the SQLModel metadata (the migration test skips them).
INDEX_TABLES = frozenset(
    {
        TABLE,
        f"{TABLE}_data",
        f"{TABLE}_idx",
        f"{TABLE}_content",
        f"{TABLE}_docsize",
        f"{TABLE}_config",
        TERMS,
    }
)
COMMON_DOCS = 2_000  # a term in more messages than this says nothing about which one is meant
MAX_SEARCH_TERMS = 4  # the rarest this many terms of a question are searched for
FILL_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Candidates:
    ids: list[int]
    docs: dict[str, int]  # messages holding each term in the searched range (up to COMMON_DOCS+1)


def _sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


# FTS5 merges its segments as messages are inserted, once AUTOMERGE of one size exist: at the
# default 4 a question's insert now and then waited 10-40 ms for a merge (at 1,000,000 messages);
# at 16 (the most FTS5 allows) merges are rarer, and a search reads a few more small segments.
# bench/recall.py at 1,000,000 on SQLite: a turn's p99 35.8 -> 24.8 ms (47.9 -> 21.4 ms side by side
# on one copy of the database).
AUTOMERGE = 16


def build_index(conn: Connection) -> int:
    """Create the index and fill it from the stored messages (the migrations); how many.

    On PostgreSQL the table's keys are made after it is filled: 1,000,000 messages (7.1
    million pairs) took 36 s here, where filling the keyed table pair by pair took minutes."""
    if _sqlite(conn):
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {TABLE} USING fts5(terms, tokenize = \"ascii tokenchars '_'\")"
        )
        tune_index(conn)
        return fill_index(conn)
    # COLLATE "C": terms are compared byte by byte (they are only ever looked up, never sorted
    # for people), which is faster than a language's collation and the same on every server.
    conn.exec_driver_sql(
        f'CREATE TABLE {TERMS} (term TEXT COLLATE "C" NOT NULL, message_id BIGINT NOT NULL)'
    )
    added = fill_index(conn, fresh=True)
    conn.exec_driver_sql(f"ALTER TABLE {TERMS} ADD PRIMARY KEY (term, message_id)")
    conn.exec_driver_sql(
        f"ALTER TABLE {TERMS} ADD FOREIGN KEY (message_id) REFERENCES messages (id)"
        " ON DELETE CASCADE"
    )
    conn.exec_driver_sql(f"CREATE INDEX ix_{TERMS}_message ON {TERMS} (message_id)")
    return added


def tune_index(conn: Connection) -> None:
    """FTS5 keeps this setting in the index itself (its `_config` table)."""
    if _sqlite(conn):
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE}({TABLE}, rank) VALUES ('automerge', {AUTOMERGE})"
        )


def drop_index(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE if _sqlite(conn) else TERMS}")


def fill_index(conn: Connection, *, fresh: bool = False) -> int:
    """Index every searchable message, replacing what the index holds of it; returns how
    many. `fresh`: the index is new and empty (nothing to replace)."""
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
        if not fresh:
            remove(conn, [r[0] for r in rows])  # rebuilding: no message twice
        add(conn, [(r[0], r[1], r[2]) for r in rows])
        added += len(rows)
        after = rows[-1][0]


def add(conn: Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """Index (id, channel, text) rows."""
    indexed = [(i, index_terms(channel, said)) for i, channel, said in rows]
    indexed = [(i, terms) for i, terms in indexed if terms]
    if not indexed:
        return
    if _sqlite(conn):
        conn.execute(
            text(f"INSERT INTO {TABLE} (rowid, terms) VALUES (:id, :terms)"),
            [{"id": i, "terms": terms} for i, terms in indexed],
        )
        return
    pairs = [(term, i) for i, terms in indexed for term in terms.split()]
    conn.execute(
        text(
            f"INSERT INTO {TERMS} (term, message_id) SELECT * FROM"
            " unnest(CAST(:terms AS text[]), CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING"
        ),
        {"terms": [t for t, _ in pairs], "ids": [i for _, i in pairs]},
    )


def remove(conn: Connection, ids: Sequence[int]) -> None:
    if not ids:
        return
    table, column = (TABLE, "rowid") if _sqlite(conn) else (TERMS, "message_id")
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join(str(int(i)) for i in chunk)
        conn.exec_driver_sql(f"DELETE FROM {table} WHERE {column} IN ({marks})")


# The two steps' statements: `:after` < id < `:before`, at most `:n` rows per term. SQLite
# runs one per term (in-process, a statement costs microseconds); PostgreSQL one for all the
# terms (a statement is a round trip), each term looked up beside the others (LATERAL).
_FTS_RANGE = f"FROM {TABLE} WHERE {TABLE} MATCH :t AND rowid > :after AND rowid < :before"
_FTS_COUNT = text(f"SELECT count(*) FROM (SELECT rowid {_FTS_RANGE} LIMIT :n)")
_FTS_NEWEST = text(f"SELECT rowid {_FTS_RANGE} ORDER BY rowid DESC LIMIT :n")
_EACH_TERM = "FROM unnest(CAST(:terms AS text[])) AS q(term)"
_TERMS_RANGE = (
    f"FROM {TERMS} AS m WHERE m.term = q.term AND m.message_id > :after AND m.message_id < :before"
)
_PG_COUNT = text(
    f"SELECT q.term, (SELECT count(*) FROM (SELECT 1 {_TERMS_RANGE} LIMIT :n) AS f) {_EACH_TERM}"
)
_PG_NEWEST = text(
    f"SELECT q.term, f.message_id {_EACH_TERM} CROSS JOIN LATERAL"
    f" (SELECT m.message_id {_TERMS_RANGE} ORDER BY m.message_id DESC LIMIT :n) AS f"
)


def _counts(conn: Connection, terms: Sequence[str], window: dict[str, int]) -> dict[str, int]:
    n = COMMON_DOCS + 1
    if _sqlite(conn):  # FTS5's query syntax: a term is a quoted phrase
        return {
            t: int(conn.execute(_FTS_COUNT, {"t": f'"{t}"', **window, "n": n}).scalar() or 0)
            for t in terms
        }
    found = conn.execute(_PG_COUNT, {"terms": list(terms), **window, "n": n})
    return {str(t): int(c) for t, c in found}


def _newest(
    conn: Connection, terms: Sequence[str], window: dict[str, int], n: int
) -> list[tuple[str, int]]:
    """(term, message id): each term's newest `n` messages in the window."""
    if _sqlite(conn):
        return [
            (t, int(i))
            for t in terms
            for (i,) in conn.execute(_FTS_NEWEST, {"t": f'"{t}"', **window, "n": n})
        ]
    found = conn.execute(_PG_NEWEST, {"terms": list(terms), **window, "n": n})
    return [(str(t), int(i)) for t, i in found]


def search(
    conn: Connection, terms: Sequence[str], *, after_id: int, before_id: int, limit: int
) -> Candidates:
    """Up to `limit` messages with after_id < id < before_id holding the rarer `terms`: those
    holding the most (and the rarest) first, then the newest."""
    if not terms:
        return Candidates([], {})
    window = {"after": after_id, "before": before_id}
    # Counted in the searched range only: the question itself, and the recent window, hold
    # words (a Korean ending glued to a noun: "장소가", "였어") found nowhere older; counted over
    # the whole channel they would look rarest and crowd out the words that find the message.
    docs = _counts(conn, terms, window)
    rare = _rarest([t for t in terms if docs.get(t)], docs)
    if not rare:
        return Candidates([], docs)
    score: dict[int, float] = {}
    for t, found in _newest(conn, rare, window, limit):
        score[found] = score.get(found, 0.0) + term_weight(docs[t])
    best = sorted(score, key=lambda i: (-score[i], -i))[:limit]
    return Candidates(best, docs)


def term_weight(docs: int) -> float:
    """A term in few messages says more about which one is meant than a term in many."""
    return 1.0 / math.log(2 + docs)


def _rarest(terms: Sequence[str], docs: dict[str, int]) -> list[str]:
    """The question's rarest terms, common ones left out: a search for a word that is in
    thousands of messages would read them all and find nothing in particular."""
    by_rarity = sorted(terms, key=lambda t: docs.get(t, 0))
    return [t for t in by_rarity if docs.get(t, 0) <= COMMON_DOCS][:MAX_SEARCH_TERMS]

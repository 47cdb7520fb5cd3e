"""Long memory's reads and writes, each a plain function of a connection (run by memory/store.py).

Everything here is derived from the messages and can be rebuilt from them: summaries (one row per
version), the full-text index (memory/search_index.py) and embeddings. Every query names one
channel; nothing here reads another channel's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, or_, select

from bot.types import ChannelKey, MemoryStats, StoredMessage, Summary
from memory import search_index
from memory.rows import EMBEDDINGS, MESSAGES, SUMMARIES, to_stored, utc
from memory.search_terms import index_terms, query_terms

_m = MESSAGES.c
_s = SUMMARIES.c
_e = EMBEDDINGS.c
CANDIDATES = 50  # messages the index proposes; ranked here, the best `limit` kept
MAX_VECTORS = 20_000  # semantic recall compares with at most this many of a channel's newest
# Below this cosine similarity a message is not "near" at all, however few others there are.
MIN_SIMILARITY = 0.3


def _recallable(channel: ChannelKey, author_id: str | None) -> list[ColumnElement[bool]]:
    """Recall and summaries see a channel's own, unflagged, non-command messages only; in
    per-member memory, one person's questions and the answers to them."""
    where: list[ColumnElement[bool]] = [
        _m.channel == channel,
        _m.flagged.is_(False),
        _m.command.is_(None),
    ]
    if author_id is not None:
        where.append(or_(_m.author_id == author_id, _m.asker_id == author_id))
    return where


def recall(
    conn: Connection,
    channel: ChannelKey,
    question: str,
    after_id: int,
    before_id: int,
    limit: int,
    author_id: str | None,
) -> list[StoredMessage]:
    """The stored messages that share the most (and the rarest) terms with `question`."""
    terms = query_terms(channel, question)
    found = search_index.search(
        conn, terms, after_id=after_id, before_id=before_id, limit=max(CANDIDATES, 5 * limit)
    )
    if not found.ids:
        return []
    rows = conn.execute(
        select(MESSAGES).where(_m.id.in_(found.ids), *_recallable(channel, author_id))
    ).all()
    weight = {t: search_index.term_weight(found.docs.get(t, 1)) for t in terms}
    scored = []
    for row in rows:
        message = to_stored(row)
        shared = set(index_terms(channel, message.text).split()) & weight.keys()
        if shared:
            scored.append((sum(weight[t] for t in shared), message.id, message))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    return [m for _, _, m in scored[:limit]]


def nearest(
    conn: Connection,
    channel: ChannelKey,
    model: str,
    vector: Sequence[float],
    after_id: int,
    before_id: int,
    limit: int,
    author_id: str | None,
) -> list[StoredMessage]:
    """The messages whose embeddings are closest (cosine) to `vector`, among the channel's
    newest MAX_VECTORS embedded ones."""
    import numpy as np

    rows = conn.execute(
        select(_e.message_id, _e.vector)
        .where(
            _e.channel == channel,
            _e.model == model,
            _e.message_id > after_id,
            _e.message_id < before_id,
        )
        .order_by(_e.message_id.desc())
        .limit(MAX_VECTORS)
    ).all()
    if not rows:
        return []
    query = np.asarray(vector, dtype=np.float32)
    matrix = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    scores = (matrix @ query) / np.where(norms == 0, 1.0, norms)
    order = np.argsort(-scores)[: max(CANDIDATES, 5 * limit)]
    best = [int(rows[i][0]) for i in order if scores[i] >= MIN_SIMILARITY]
    found = {
        m.id: m
        for m in map(
            to_stored,
            conn.execute(
                select(MESSAGES).where(_m.id.in_(best), *_recallable(channel, author_id))
            ).all(),
        )
    }
    return [found[i] for i in best if i in found][:limit]


def following(
    conn: Connection,
    channel: ChannelKey,
    after_id: int,
    before_id: int,
    limit: int,
    author_id: str | None,
) -> list[StoredMessage]:
    """The oldest `limit` recallable messages with after_id < id < before_id, oldest first."""
    rows = conn.execute(
        select(MESSAGES)
        .where(_m.id > after_id, _m.id < before_id, *_recallable(channel, author_id))
        .order_by(_m.id)
        .limit(limit)
    ).all()
    return [to_stored(r) for r in rows]


def latest_summary(conn: Connection, channel: ChannelKey, scope: str) -> Summary | None:
    row = conn.execute(
        select(SUMMARIES)
        .where(_s.channel == channel, _s.scope == scope)
        .order_by(_s.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return Summary(
        channel=m["channel"],
        scope=m["scope"],
        covers_up_to_id=m["covers_up_to_id"],
        covers_messages=m["covers_messages"],
        text=m["text"],
        model=m["model"],
        input_tokens=m["input_tokens"],
        output_tokens=m["output_tokens"],
        created_at=utc(m["created_at"]),
        id=m["id"],
    )


def save_summary(conn: Connection, summary: Summary) -> None:
    conn.execute(
        insert(SUMMARIES).values(
            channel=summary.channel,
            scope=summary.scope,
            covers_up_to_id=summary.covers_up_to_id,
            covers_messages=summary.covers_messages,
            text=summary.text,
            model=summary.model,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
            created_at=summary.created_at.astimezone(UTC),
        )
    )


def delete_summaries(conn: Connection, channel: ChannelKey) -> None:
    conn.execute(delete(SUMMARIES).where(_s.channel == channel))


def delete_embeddings(conn: Connection, message_ids: Sequence[int]) -> None:
    for start in range(0, len(message_ids), 500):
        chunk = list(message_ids[start : start + 500])
        conn.execute(delete(EMBEDDINGS).where(_e.message_id.in_(chunk)))


def unembedded(conn: Connection, model: str, limit: int) -> list[StoredMessage]:
    """The newest recallable messages without an embedding from `model`, newest first."""
    embedded = and_(_e.message_id == _m.id, _e.model == model)
    rows = conn.execute(
        select(MESSAGES)
        .outerjoin(EMBEDDINGS, embedded)
        .where(_e.message_id.is_(None), _m.flagged.is_(False), _m.command.is_(None))
        .order_by(_m.id.desc())
        .limit(limit)
    ).all()
    return [to_stored(r) for r in rows]


def save_embeddings(
    conn: Connection, model: str, vectors: Sequence[tuple[StoredMessage, bytes]]
) -> None:
    if not vectors:
        return
    delete_embeddings(conn, [m.id for m, _ in vectors])
    conn.execute(
        insert(EMBEDDINGS),
        [
            {"message_id": m.id, "channel": m.channel, "model": model, "vector": vector}
            for m, vector in vectors
        ],
    )


def stats(conn: Connection, channel: ChannelKey) -> MemoryStats:
    count = conn.execute(select(func.count()).where(_m.channel == channel)).scalar() or 0
    last = conn.execute(
        select(_m.context)
        .where(_m.channel == channel, _m.role == "assistant", _m.context.is_not(None))
        .order_by(_m.id.desc())
        .limit(1)
    ).scalar()
    return MemoryStats(messages=int(count), last_context=last)

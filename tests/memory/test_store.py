"""SQLStore on SQLite and on a real PostgreSQL server: the same behaviour from both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.types import NewAttachment, NewMessage, Summary, Usage
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database

KST = timezone(timedelta(hours=9))


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    async with fresh_database(request.param, tmp_path) as url:
        s = SQLStore.from_url(url)
        await s.create_schema()
        yield s
        await s.close()


def msg(channel: str, text_: str, **kw: object) -> NewMessage:
    base: dict[str, object] = {
        "channel": channel,
        "platform": "web",
        "role": "user",
        "author_id": "web:a",
        "author_name": "a",
        "text": text_,
        "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    }
    base.update(kw)
    return NewMessage(**base)  # type: ignore[arg-type]


async def test_add_returns_ids_in_order_and_keeps_every_field(store: SQLStore) -> None:
    usage = Usage(input_tokens=11, output_tokens=7, total_tokens=18, model="m", provider="p")
    a = await store.add(msg("web:r", "첫 메시지"))
    b = await store.add(
        msg("web:r", "answer", role="assistant", tag="chatbot", usage=usage, flagged=True)
    )
    assert a is not None and b is not None and b.id > a.id
    assert a.text == "첫 메시지" and a.usage is None and not a.flagged
    assert b.usage == usage and b.tag == "chatbot" and b.flagged and b.role == "assistant"


async def test_recent_is_per_channel_newest_n_oldest_first(store: SQLStore) -> None:
    ids = []
    for i in range(10):
        m = await store.add(msg("web:a", f"a{i}"))
        await store.add(msg("web:b", f"b{i}"))
        assert m is not None
        ids.append(m.id)
    got = await store.recent("web:a", 3)
    assert [m.text for m in got] == ["a7", "a8", "a9"]
    between = await store.recent("web:a", 100, after_id=ids[2], up_to_id=ids[5])
    assert [m.text for m in between] == ["a3", "a4", "a5"]
    assert await store.recent("web:none", 5) == []


async def test_duplicate_platform_message_is_refused(store: SQLStore) -> None:
    first = await store.add(msg("slack:T:C", "hi", platform="slack", platform_message_id="1.23"))
    again = await store.add(msg("slack:T:C", "hi", platform="slack", platform_message_id="1.23"))
    other_platform = await store.add(
        msg("discord:1:2", "hi", platform="discord", platform_message_id="1.23")
    )
    no_id_1 = await store.add(msg("web:r", "x"))
    no_id_2 = await store.add(msg("web:r", "x"))
    assert first is not None and again is None and other_platform is not None
    assert no_id_1 is not None and no_id_2 is not None  # NULL ids never collide
    assert len(await store.recent("slack:T:C", 10)) == 1


async def test_a_burst_of_concurrent_adds_with_a_duplicate(store: SQLStore) -> None:
    """Many writers at once (SQLite groups them into one commit): each gets its own row, and
    the one duplicate delivery in the burst is refused without failing the others."""
    burst = [
        msg("slack:T:C", f"m{i}", platform="slack", platform_message_id=f"{i}.0") for i in range(20)
    ]
    burst.insert(10, msg("slack:T:C", "again", platform="slack", platform_message_id="3.0"))
    results = await asyncio.gather(*(store.add(m) for m in burst))
    # whichever of the two deliveries of "3.0" came first is kept; the other is refused
    assert [results[3] is None, results[10] is None].count(True) == 1
    stored = [r for r in results if r is not None]
    assert len(stored) == 20 and len({r.id for r in stored}) == 20
    rows = await store.recent("slack:T:C", 100)
    assert sorted(str(r.platform_message_id) for r in rows) == sorted(f"{i}.0" for i in range(20))


async def test_state_chain_and_reset(store: SQLStore) -> None:
    fresh = await store.state("web:r")
    assert (fresh.response_id, fresh.response_message_id, fresh.reset_after_id) == (None, None, 0)
    await store.save_chain("web:r", "resp_1", 41)
    await store.save_chain("web:r", "resp_2", 42)
    s = await store.state("web:r")
    assert (s.response_id, s.response_message_id) == ("resp_2", 42)
    await store.reset("web:r", 42)
    s = await store.state("web:r")
    assert (s.response_id, s.response_message_id, s.reset_after_id) == (None, None, 42)
    assert (await store.state("web:other")).reset_after_id == 0  # nothing crosses keys


async def test_times_come_back_as_the_same_instant_in_utc(store: SQLStore) -> None:
    said = datetime(2026, 3, 1, 21, 30, 15, 123456, tzinfo=KST)
    stored = await store.add(msg("web:tz", "시간", created_at=said))
    assert stored is not None
    (back,) = await store.recent("web:tz", 1)
    for value in (stored.created_at, back.created_at):
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert value == said
        assert value.hour == 12  # 21:30 KST is 12:30 UTC


async def test_context_is_state_recent_summary_and_files_read_together(store: SQLStore) -> None:
    """context() reads in one trip what state() + recent() + summary() + files_of() give."""
    usage = Usage(input_tokens=3, output_tokens=4, total_tokens=7, model="m", provider="p")
    said = datetime(2026, 3, 1, 21, 30, 15, 123456, tzinfo=KST)
    first = await store.add(msg("web:ctx", "처음", created_at=said))
    await store.add(msg("web:other", "다른 방"))
    for i in range(6):
        await store.add(msg("web:ctx", f"m{i}", created_at=said.replace(microsecond=0)))
    await store.add(msg("web:ctx", "answer", role="assistant", usage=usage, flagged=True))
    last = await store.add(msg("web:ctx", "마지막", tag="chatbot", platform_message_id="p1"))
    assert first is not None and last is not None

    async def both(limit: int, up_to: int) -> None:
        read = await store.context("web:ctx", limit, up_to_id=up_to)
        state, history = read.state, read.history
        assert state == await store.state("web:ctx")
        assert read.summary is None  # not asked for
        expected = await store.recent(
            "web:ctx", limit, after_id=state.reset_after_id, up_to_id=up_to
        )
        assert history == expected

    await both(40, last.id)  # a channel never reset, with no state row
    await both(3, last.id)
    await both(40, last.id - 2)
    history = (await store.context("web:ctx", 40, up_to_id=last.id)).history
    assert history[0].created_at == said and history[0].created_at.tzinfo is not None
    assert history[-2].usage == usage and history[-2].flagged
    await store.reset("web:ctx", first.id + 2)
    await store.save_chain("web:ctx", "resp_9", last.id)
    await both(40, last.id)
    read = await store.context("web:ctx", 40, up_to_id=last.id)
    state, history = read.state, read.history
    assert state.reset_after_id == first.id + 2 and state.response_id == "resp_9"
    assert history and all(m.id > first.id + 2 for m in history)
    assert history[-1] == last and "처음" not in [m.text for m in history]
    # The summary of the scope asked for, and the files of the messages read, come with it.
    for scope, said_text in (("", "the room"), ("web:ana", "ana's own")):
        await store.save_summary(
            Summary("web:ctx", scope, first.id, 1, said_text, "m", 1, 1, datetime.now(UTC))
        )

    def note(name: str) -> NewAttachment:
        return NewAttachment("web:ctx", name, "text", "text/plain", b"hi", "minho", said)

    (kept,) = await store.add_files(last.id, [note("notes.txt")])
    await store.add_files(first.id, [note("old.txt")])
    read = await store.context("web:ctx", 40, up_to_id=last.id, summary_scope="web:ana")
    assert read.summary is not None and read.summary.text == "ana's own"
    assert read.summary == await store.summary("web:ctx", "web:ana")
    assert read.files == {last.id: [kept]}  # the first message was not read: nor its file
    assert read.files == await store.files_of([m.id for m in read.history])


async def test_recent_reads_the_channel_index(store: SQLStore) -> None:
    for i in range(50):
        await store.add(msg(f"web:{i % 5}", f"m{i}"))
    async with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE channel = 'web:1' "
                    "AND id > 0 ORDER BY id DESC LIMIT 40"
                )
            )
            plan = " ".join(str(r[-1]) for r in rows)
        else:
            # A 50-row table is cheaper to scan; forbid that to see whether the index serves.
            await conn.execute(text("SET enable_seqscan = off"))
            await conn.execute(text("ANALYZE messages"))
            rows = await conn.execute(
                text(
                    "EXPLAIN SELECT * FROM messages WHERE channel = 'web:1' "
                    "AND id > 0 ORDER BY id DESC LIMIT 40"
                )
            )
            plan = " ".join(str(r[0]) for r in rows)
    assert "ix_messages_channel_id" in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan  # the index gives the order


async def test_edits_and_deletions_follow_the_platform(store: SQLStore) -> None:
    await store.add(msg("slack:T:C", "first", platform="slack", platform_message_id="C:1"))
    await store.add(msg("slack:T:C", "second", platform="slack", platform_message_id="C:2"))
    await store.add(msg("web:r", "same id, other platform", platform_message_id="C:1"))
    assert await store.edit("slack", "C:1", "first, edited")
    assert not await store.edit("slack", "C:404", "nothing there")
    assert [m.text for m in await store.recent("slack:T:C", 10)] == ["first, edited", "second"]
    assert await store.delete("slack", ["C:2", "C:404"]) == 1
    assert await store.delete("slack", []) == 0
    assert [m.text for m in await store.recent("slack:T:C", 10)] == ["first, edited"]
    assert [m.text for m in await store.recent("web:r", 10)] == ["same id, other platform"]


async def test_postgres_connections_cut_under_the_store_are_replaced(tmp_path: Path) -> None:
    """A server restart or a proxy that drops idle connections leaves the pool's connections
    dead: the next operation fails on one, and its retry runs on a new connection."""
    import asyncpg

    from tests.databases import _dsn

    async with fresh_database("postgresql", tmp_path) as url:
        store = SQLStore.from_url(url, backoff=0.01)
        await store.create_schema()
        assert await store.add(msg("web:cut", "before")) is not None
        await asyncio.gather(*(store.recent("web:cut", 5) for _ in range(4)))  # a few in the pool
        admin = await asyncpg.connect(_dsn(url))
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert cut >= 1
        assert await store.add(msg("web:cut", "after")) is not None
        assert [m.text for m in await store.recent("web:cut", 5)] == ["before", "after"]
        await store.close()

"""Spending counters, run-time channel settings and failed turns on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.types import (
    ChannelSettings,
    Charge,
    CounterKey,
    FailedTurn,
    Limit,
    NewMessage,
    Usage,
)
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database

DAY = date(2026, 3, 10)
ALICE = CounterKey("user", "web:alice")
ROOM = CounterKey("channel", "web:room")
DRAGON = CounterKey("user", "web:alice", "dragon")


@pytest.fixture(params=ENGINES)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as found:
        setup = SQLStore.from_url(found)
        await setup.create_schema()
        await setup.close()
        yield found


def answer(tokens: int, cost: float | None, day: date = DAY, *keys: CounterKey) -> NewMessage:
    return NewMessage(
        channel="web:room",
        platform="web",
        role="assistant",
        author_id="bot:chatbot",
        author_name="chatbot",
        text="ok",
        created_at=datetime(2026, 3, 10, 12, tzinfo=UTC),
        usage=Usage(
            tokens - 1, 1, tokens, "gpt-4.1", "openai", cached_input_tokens=3, cost_usd=cost
        ),
        charge=Charge(day, keys or (ALICE, ROOM, DRAGON)),
    )


async def test_an_answer_counts_in_its_counters_with_its_cost(url: str) -> None:
    store = SQLStore.from_url(url)
    try:
        stored = await store.add(answer(100, 0.25))
        await store.add(answer(50, None))  # no price: tokens count, cost does not
        await store.add(answer(7, 0.5, date(2026, 3, 9)))  # the day before
        await store.add(answer(9, 0.5, date(2026, 2, 28)))  # last month
        assert stored is not None and stored.usage is not None
        assert (stored.usage.cost_usd, stored.usage.cached_input_tokens) == (0.25, 3)
        rows = await store.spent([ALICE, DRAGON], date(2026, 3, 1))
        found = {(r.key, r.day): (r.tokens, r.cost_usd, r.answers) for r in rows}
        assert found == {
            (ALICE, DAY): (150, 0.25, 2),
            (DRAGON, DAY): (150, 0.25, 2),
            (ALICE, date(2026, 3, 9)): (7, 0.5, 1),
            (DRAGON, date(2026, 3, 9)): (7, 0.5, 1),
        }
        assert [r.tokens for r in await store.spent([ROOM], DAY)] == [150]
        assert await store.spent([CounterKey("user", "web:nobody")], DAY) == []
        assert await store.spent([], DAY) == []
        totals = await store.usage("web:room")
        assert [(t.total_tokens, t.cost_usd) for t in totals] == [(166, 1.25)]
    finally:
        await store.close()


async def test_two_stores_on_one_database_add_to_one_count(url: str) -> None:
    """Two processes' stores, answers at the same moment: none lost (UPDATE ... + n)."""
    first, second = SQLStore.from_url(url), SQLStore.from_url(url)
    try:
        await asyncio.gather(*(s.add(answer(10, 0.01)) for _ in range(20) for s in (first, second)))
        [row] = await first.spent([ALICE], DAY)
        assert (row.tokens, row.answers) == (400, 40)
        assert row.cost_usd == pytest.approx(0.4)
    finally:
        await first.close()
        await second.close()


async def test_channel_settings_round_trip_and_clear(url: str) -> None:
    store = SQLStore.from_url(url)
    try:
        limits = (Limit("user", "day", tokens=500), Limit("channel", "month", cost_usd=2.5))
        await store.save_channel_settings(
            ChannelSettings("web:class", persona="dragon", limits=limits)
        )
        await store.save_channel_settings(ChannelSettings("web:other", system_prompt="Be brief."))
        await store.save_channel_settings(
            ChannelSettings("web:class", persona="dragon", limits=limits[:1])
        )
        found = {s.channel: s for s in await store.channel_settings()}
        assert found["web:class"].limits == limits[:1] and found["web:class"].persona == "dragon"
        assert found["web:other"].system_prompt == "Be brief."
        assert found["web:other"].limits is None
        assert found["web:class"].updated_at is not None
        await store.save_channel_settings(ChannelSettings("web:class"))  # all None: removed
        assert [s.channel for s in await store.channel_settings()] == ["web:other"]
        # A row someone broke by hand is read without its limits, not as a failure.
        await store.engine.dispose()
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE channel_settings SET limits = 'not json'"))
        [broken] = await store.channel_settings()
        assert broken.limits is None and broken.system_prompt == "Be brief."
    finally:
        await store.close()


async def test_failed_turns_are_stored(url: str) -> None:
    store = SQLStore.from_url(url)
    try:
        at = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
        await store.record_failure(FailedTurn("web:room", "web", "rate_limited", at, "chatbot"))
        rows = await store.read(
            lambda conn: conn.execute(text("SELECT channel, kind, tag FROM turn_failures")).all()
        )
        assert [tuple(r) for r in rows] == [("web:room", "rate_limited", "chatbot")]
    finally:
        await store.close()

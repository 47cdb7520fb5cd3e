"""The built-in tools against a real SQLStore (SQLite, and PostgreSQL when one is running):
they only ever see the channel the question came from."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.tools.base import ToolContext
from bot.tools.builtin import (
    BUILTIN_NAMES,
    ChannelSummary,
    CurrentTime,
    SearchMemory,
    builtin_tools,
)
from bot.types import NewMessage, StoredMessage, Summary
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database

A = "discord:100:1"
B = "discord:100:2"


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    async with fresh_database(request.param, tmp_path) as url:
        s = SQLStore.from_url(url)
        await s.create_schema()
        yield s
        await s.close()


async def say(store: SQLStore, channel: str, text: str, author: str = "minho") -> StoredMessage:
    stored = await store.add(
        NewMessage(
            channel=channel,
            platform="discord",
            role="user",
            author_id=author,
            author_name=author,
            text=text,
            created_at=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
        )
    )
    assert stored is not None
    return stored


def in_channel(channel: str, author: str = "minho", scope: str = "shared") -> ToolContext:
    return ToolContext(channel=channel, author_id=author, scope=scope)


async def test_the_built_ins_are_the_three_named() -> None:
    assert BUILTIN_NAMES == ("search_memory", "current_time", "channel_summary")


async def test_search_memory_finds_the_channels_words_with_who_and_when(store: SQLStore) -> None:
    await say(store, A, "the exam is moved to Thursday", author="minho")
    await say(store, A, "lunch at noon?", author="jisu")
    await say(store, B, "the exam in our class is on Monday", author="ana")
    found = await SearchMemory(store).run({"query": "exam"}, in_channel(A))
    assert found == "[2026-03-01 12:30] minho: the exam is moved to Thursday"
    other = await SearchMemory(store).run({"query": "exam"}, in_channel(B))
    assert other == "[2026-03-01 12:30] ana: the exam in our class is on Monday"


async def test_search_memory_never_returns_another_channels_words(store: SQLStore) -> None:
    await say(store, B, "the password for the lab is swordfish")
    await say(store, A, "the lab opens at nine")
    found = await SearchMemory(store).run({"query": "password lab swordfish"}, in_channel(A))
    assert found == "[2026-03-01 12:30] minho: the lab opens at nine"  # A's only, not B's
    nothing = await SearchMemory(store).run({"query": "swordfish"}, in_channel(A))
    assert nothing == "No messages in this channel match 'swordfish'."


async def test_search_memory_never_crosses_channels_under_concurrency(store: SQLStore) -> None:
    """Many searches at once from A and B, each channel with its own words: none crosses."""
    for i in range(6):
        await say(store, A, f"apricot note {i} from the first room")
        await say(store, B, f"blueberry note {i} from the second room")
    tool = SearchMemory(store)

    async def search(channel: str, query: str) -> tuple[str, str]:
        return channel, await tool.run({"query": query}, in_channel(channel))

    # Each side also asks for the other's words: found nowhere but where they were said.
    asks = [(A, "apricot note"), (B, "blueberry note"), (A, "blueberry"), (B, "apricot")] * 10
    results = await asyncio.gather(*(search(c, q) for c, q in asks))
    for (channel, query), (_, found) in zip(asks, results, strict=True):
        mine, theirs = ("first", "second") if channel == A else ("second", "first")
        assert f"from the {theirs} room" not in found, (channel, query, found)
        if query.endswith("note"):
            assert found.count(f"from the {mine} room") == 6, (channel, query, found)
        else:
            assert found == f"No messages in this channel match {query!r}.", (channel, found)


async def test_search_memory_sees_nothing_from_before_a_reset(store: SQLStore) -> None:
    await say(store, A, "the trip goes to Gyeongju")
    last = await say(store, A, "anything else?")
    await store.reset(A, last.id)
    await say(store, A, "new plan: the trip goes to Jeonju")
    found = await SearchMemory(store).run({"query": "trip"}, in_channel(A))
    assert found == "[2026-03-01 12:30] minho: new plan: the trip goes to Jeonju"
    assert "Gyeongju" not in found


async def test_search_memory_in_member_scope_sees_only_the_askers_own_words(
    store: SQLStore,
) -> None:
    await say(store, A, "my locker code is 1234", author="minho")
    await say(store, A, "my locker code is 9876", author="jisu")
    tool = SearchMemory(store)
    mine = await tool.run({"query": "locker code"}, in_channel(A, "minho", "member"))
    assert mine == "[2026-03-01 12:30] minho: my locker code is 1234"
    shared = await tool.run({"query": "locker code"}, in_channel(A, "minho", "shared"))
    assert "1234" in shared and "9876" in shared


async def test_search_memory_without_a_query_asks_for_one(store: SQLStore) -> None:
    assert await SearchMemory(store).run({}, in_channel(A)) == (
        "error: give words to look for in `query`"
    )
    assert (await SearchMemory(store).run({"query": "   "}, in_channel(A))).startswith("error:")


def summary(channel: str, up_to: int, text: str, scope: str = "") -> Summary:
    return Summary(
        channel=channel,
        scope=scope,
        covers_up_to_id=up_to,
        covers_messages=40,
        text=text,
        model="m",
        input_tokens=10,
        output_tokens=5,
        created_at=datetime(2026, 3, 2, 9, 15, tzinfo=UTC),
    )


async def test_channel_summary_with_and_without_a_summary(store: SQLStore) -> None:
    tool = ChannelSummary(store)
    first = await say(store, A, "one")
    none_yet = await tool.run({}, in_channel(A))
    assert none_yet == "There is no summary of this channel yet (there is not enough older chat)."
    await store.save_summary(summary(A, first.id, "Minho moved the exam to Thursday."))
    await store.save_summary(summary(B, first.id, "B's own summary"))
    assert await tool.run({}, in_channel(A)) == (
        "Summary of 40 older messages, written 2026-03-02 09:15 UTC:\n"
        "Minho moved the exam to Thursday."
    )
    assert "B's own" not in await tool.run({}, in_channel(A))
    assert "B's own summary" in await tool.run({}, in_channel(B))


async def test_channel_summary_of_before_a_reset_is_not_shown(store: SQLStore) -> None:
    first = await say(store, A, "one")
    await store.save_summary(summary(A, first.id, "what was said before the reset"))
    await store.reset(A, first.id)
    assert (await ChannelSummary(store).run({}, in_channel(A))).startswith("There is no summary")


async def test_channel_summary_in_member_scope_is_the_askers_own(store: SQLStore) -> None:
    first = await say(store, A, "one")
    await store.save_summary(summary(A, first.id, "the room's summary"))
    await store.save_summary(summary(A, first.id, "minho's own summary", scope="minho"))
    assert (await ChannelSummary(store).run({}, in_channel(A, "minho", "member"))).endswith(
        "minho's own summary"
    )
    assert (await ChannelSummary(store).run({}, in_channel(A, "jisu", "member"))).startswith(
        "There is no summary"
    )


LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((?P<zone>[^,]+), UTC(?P<offset>[+-]\d{4}), \w+day\)$"
)


async def test_current_time_in_seoul_utc_and_an_unknown_zone() -> None:
    tool = CurrentTime()
    seoul = LINE.match(await tool.run({"time_zone": "Asia/Seoul"}, in_channel(A)))
    assert seoul is not None
    assert seoul["zone"] == "Asia/Seoul" and seoul["offset"] == "+0900"  # no summer time there
    for arguments in ({}, {"time_zone": ""}, {"time_zone": None}):
        utc = LINE.match(await tool.run(arguments, in_channel(A)))
        assert utc is not None and utc["zone"] == "UTC" and utc["offset"] == "+0000"
    unknown = await tool.run({"time_zone": "Mars/Olympus_Mons"}, in_channel(A))
    assert unknown == (
        "error: 'Mars/Olympus_Mons' is not a time zone I know (use an IANA name like Asia/Seoul)"
    )
    traversal = await tool.run({"time_zone": "../../etc/passwd"}, in_channel(A))
    assert traversal.startswith("error: ")


async def test_current_time_is_now() -> None:
    line = await CurrentTime().run({"time_zone": "UTC"}, in_channel(A))
    shown = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - shown).total_seconds()) < 60


async def test_builtin_tools_are_all_safe_for_web_and_named_by_their_spec(store: SQLStore) -> None:
    tools = builtin_tools(store)
    assert tuple(tools) == BUILTIN_NAMES
    assert all(name == tool.spec.name and tool.safe_for_web for name, tool in tools.items())

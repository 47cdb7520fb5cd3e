"""Long memory in the store, on SQLite and PostgreSQL: recall, summaries, forgetting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.types import NewMessage, StoredMessage, Summary
from memory.store import SQLStore
from tests.databases import ENGINES, fresh_database

TOP = 2**62


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    async with fresh_database(request.param, tmp_path) as url:
        s = SQLStore.from_url(url)
        await s.create_schema()
        yield s
        await s.close()


async def say(
    store: SQLStore,
    channel: str,
    text: str,
    author: str = "minho",
    platform: str = "web",
    **kw: object,
) -> StoredMessage:
    stored = await store.add(
        NewMessage(
            channel=channel,
            platform=platform,
            role="user",
            author_id=f"web:{author}",
            author_name=author,
            text=text,
            created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            **kw,  # type: ignore[arg-type]
        )
    )
    assert stored is not None
    return stored


async def recall(store: SQLStore, channel: str, question: str, **kw: object) -> list[str]:
    found = await store.recall(channel, question, after_id=0, before_id=TOP, limit=5, **kw)  # type: ignore[arg-type]
    return [m.text for m in found]


async def test_korean_names_are_found_by_two_letters(store: SQLStore) -> None:
    await say(store, "web:a", "내 이름은 소연이야")
    await say(store, "web:a", "오늘 날씨가 좋네")
    await say(store, "web:a", "점심 뭐 먹을래?")
    assert await recall(store, "web:a", "소연") == ["내 이름은 소연이야"]
    assert await recall(store, "web:a", "소연이 누구야?") == ["내 이름은 소연이야"]
    assert (await recall(store, "web:a", "내 이름이 뭐였지?"))[0:1] == ["내 이름은 소연이야"]


async def test_words_only_the_question_holds_do_not_crowd_out_the_ones_that_find_it(
    store: SQLStore,
) -> None:
    fact = await say(store, "web:a", "회식 장소는 강남역 고깃집이야")
    for i in range(30):  # the rest of the week
        await say(store, "web:a", f"프로젝트 저장소 링크 {i}" if i % 15 else "회식 장소 누가 알아?")
    # Stored before it is answered, as every question is: its endings ("소가", "디였", "였어")
    # are in no older message, the rarest of its terms counted over the whole channel.
    asked = await say(store, "web:a", "회식 장소가 어디였어?")
    found = await store.recall(
        "web:a", "회식 장소가 어디였어?", after_id=0, before_id=asked.id, limit=3
    )
    assert fact.id in [m.id for m in found]


async def test_the_rarest_words_decide_and_the_best_match_comes_first(store: SQLStore) -> None:
    for i in range(30):
        await say(store, "web:a", f"the meeting is on day {i}")
    await say(store, "web:a", "the deadline moved to Friday the 13th", author="jisu")
    await say(store, "web:a", "deadline? what deadline")
    found = await recall(store, "web:a", "what did we decide about the deadline and the meeting?")
    assert found[:2] == [
        "deadline? what deadline",
        "the deadline moved to Friday the 13th",
    ] or found[:2] == ["the deadline moved to Friday the 13th", "deadline? what deadline"]
    assert await recall(store, "web:a", "friday 13th") == ["the deadline moved to Friday the 13th"]


async def test_recall_never_crosses_channels(store: SQLStore) -> None:
    await say(store, "web:a", "the secret word is pineapple")
    await say(store, "web:b", "the secret word is mango")
    assert await recall(store, "web:a", "secret word") == ["the secret word is pineapple"]
    assert await recall(store, "web:b", "secret word") == ["the secret word is mango"]
    assert await recall(store, "web:c", "secret word") == []


async def test_flagged_and_command_messages_are_never_recalled(store: SQLStore) -> None:
    await say(store, "web:a", "a hateful remark about bananas", flagged=True)
    await say(store, "web:a", "@chatbot help bananas", command="help")
    await say(store, "web:a", "bananas are yellow")
    assert await recall(store, "web:a", "bananas") == ["bananas are yellow"]


async def test_recall_stays_in_its_window_and_its_member(store: SQLStore) -> None:
    old = await say(store, "web:a", "my favourite colour is teal", author="ana")
    reset = await say(store, "web:a", "a line")
    await say(store, "web:a", "teal again, said later", author="ben")
    found = await store.recall("web:a", "teal colour", after_id=reset.id, before_id=TOP, limit=5)
    assert [m.text for m in found] == ["teal again, said later"]  # after the reset point only
    found = await store.recall("web:a", "teal", after_id=0, before_id=old.id + 1, limit=5)
    assert [m.text for m in found] == ["my favourite colour is teal"]  # before the window only
    mine = await recall(store, "web:a", "teal", author_id="web:ana")
    assert mine == ["my favourite colour is teal"]  # per-member memory: ana's own only


async def test_edits_and_deletions_follow_into_the_index(store: SQLStore) -> None:
    await say(store, "slack:T:C", "the room is 301", platform="slack", platform_message_id="C:1")
    assert await store.edit("slack", "C:1", "the room is 404")
    assert await recall(store, "slack:T:C", "301") == []
    assert await recall(store, "slack:T:C", "404") == ["the room is 404"]
    assert await store.delete("slack", ["C:1"]) == 1
    assert await recall(store, "slack:T:C", "404") == []


async def test_forget_author_removes_exactly_that_persons_messages_and_summaries(
    store: SQLStore,
) -> None:
    await say(store, "web:a", "minho's plan: the cabin in June", author="minho")
    await say(store, "web:a", "jisu likes the cabin too", author="jisu")
    await say(store, "web:b", "minho's other room: the cabin", author="minho")
    await store.save_summary(summary("web:a", 2))
    assert await store.forget_author("web:a", "web:minho") == 1
    assert await recall(store, "web:a", "cabin") == ["jisu likes the cabin too"]
    assert await recall(store, "web:b", "cabin") == ["minho's other room: the cabin"]
    assert await store.summary("web:a") is None  # rebuilt from what is left


def summary(channel: str, up_to: int, text: str = "a summary", scope: str = "") -> Summary:
    return Summary(
        channel=channel,
        scope=scope,
        covers_up_to_id=up_to,
        covers_messages=up_to,
        text=text,
        model="m",
        input_tokens=10,
        output_tokens=5,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


async def test_summaries_are_versions_and_never_touch_the_transcript(store: SQLStore) -> None:
    first = await say(store, "web:a", "one")
    second = await say(store, "web:a", "two")
    await store.save_summary(summary("web:a", first.id, "v1"))
    await store.save_summary(summary("web:a", second.id, "v2"))
    await store.save_summary(summary("web:a", second.id, "ana's own", scope="web:ana"))
    latest = await store.summary("web:a")
    assert latest is not None and latest.text == "v2" and latest.covers_up_to_id == second.id
    member = await store.summary("web:a", "web:ana")
    assert member is not None and member.text == "ana's own"
    assert [m.text for m in await store.recent("web:a", 10)] == ["one", "two"]
    following = await store.following("web:a", after_id=first.id, before_id=TOP, limit=10)
    assert [m.text for m in following] == ["two"]
    assert await store.forget("web:a", second.id) == 2
    assert await store.summary("web:a") is None  # reset_deletes: summaries go too


async def test_the_index_is_rebuilt_for_messages_stored_before_it(tmp_path: Path) -> None:
    """The migration indexes what the first releases stored (recall reaches it)."""
    from sqlalchemy import text

    from memory.search_index import fill_index

    async with fresh_database("sqlite", tmp_path) as url:
        s = SQLStore.from_url(url)
        await s.create_schema()
        await say(s, "web:a", "an old message about penguins")
        async with s.engine.begin() as conn:
            await conn.execute(text("DELETE FROM message_search"))
        assert await recall(s, "web:a", "penguins") == []
        async with s.engine.begin() as conn:
            assert await conn.run_sync(fill_index) == 1
        assert await recall(s, "web:a", "penguins") == ["an old message about penguins"]
        await s.close()


async def test_stats_count_messages_and_keep_the_last_context(store: SQLStore) -> None:
    await say(store, "web:a", "hello")
    await store.add(
        NewMessage(
            channel="web:a",
            platform="web",
            role="assistant",
            author_id="bot:chatbot",
            author_name="chatbot",
            text="hi",
            created_at=datetime(2026, 3, 1, tzinfo=UTC),
            context='{"budget": 100}',
        )
    )
    stats = await store.stats("web:a")
    assert stats.messages == 2 and stats.last_context == '{"budget": 100}'

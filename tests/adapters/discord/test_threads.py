"""Auto-threads: `[channels."discord:<guild>:<channel>"] threads = true` in the TOML; a mention
there opens a thread named after the question (POST /channels/{c}/messages/{m}/threads) and the
conversation continues in it without further mentions."""

from __future__ import annotations

from pathlib import Path

from adapters.discord.threads import thread_name
from testing.stubs.model_server import ModelServer
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    THREAD_ID,
    key,
    message_payload,
)


def threads_config(tmp_path: Path) -> str:
    config = tmp_path / "chatbot.toml"
    config.write_text(f'[channels."discord:{GUILD_ID}:{CHANNEL_ID}"]\nthreads = true\n')
    return str(config)


async def test_a_mention_opens_a_thread_and_the_conversation_continues_there(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    world = await make_world(
        CHATBOT_CONFIG=threads_config(tmp_path), CHATBOT_DISCORD_MESSAGE_CONTENT="1"
    )
    asked = await world.post(
        message_payload(f"<@{BOT_ID}> how do closures work in Python?", mentions=[BOT_USER])
    )
    [thread] = world.server.threads_started
    assert thread["name"] == "how do closures work in Python?"
    assert thread["parent_id"] == CHANNEL_ID and thread["owner_id"] == BOT_ID
    assert world.server.visible(thread["id"]) == ["answer 1"]
    assert world.server.visible(CHANNEL_ID) == []  # nothing in the channel itself
    sent = world.server.sent()[0]
    assert "message_reference" not in sent.body  # a plain post in the thread, not a reply
    conversation = key(CHANNEL_ID, thread["id"])
    assert [m.text for m in await world.memory(conversation)] == [
        "@chatbot how do closures work in Python?",
        "answer 1",
    ]
    assert [m.platform_message_id for m in await world.memory(conversation)][0] == asked["id"]

    # In the thread, no mention is needed any more.
    await world.post(message_payload("and with nonlocal?", channel_id=thread["id"]))
    assert world.server.visible(thread["id"]) == ["answer 1", "answer 2"]
    heard = [m["content"] for m in model.chat_requests()[1]["messages"][1:]]
    assert heard == [
        "Minseo: how do closures work in Python?",
        "answer 1",
        "Minseo: and with nonlocal?",
    ]
    assert await world.memory(key()) == []  # the channel's own conversation is untouched


async def test_plain_chat_in_the_channel_and_in_peoples_threads_opens_nothing(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    world = await make_world(
        CHATBOT_CONFIG=threads_config(tmp_path), CHATBOT_DISCORD_MESSAGE_CONTENT="1"
    )
    await world.post(message_payload("just chatting"))
    # A thread a person opened: a mention is answered there, no thread inside a thread ...
    await world.post(
        message_payload(f"<@{BOT_ID}> in a thread", channel_id=THREAD_ID, mentions=[BOT_USER])
    )
    # ... and without a mention it stays the people's thread.
    await world.post(message_payload("among ourselves", channel_id=THREAD_ID))
    assert world.server.threads_started == []
    assert world.server.visible(THREAD_ID) == ["answer 1"]
    assert len(model.chat_requests()) == 1


async def test_a_thread_that_cannot_be_opened_is_answered_in_the_channel(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    world = await make_world(CHATBOT_CONFIG=threads_config(tmp_path))
    world.server.fail("POST", "/threads", 403, 50013, "Missing Permissions")
    await world.post(message_payload(f"<@{BOT_ID}> hello", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    assert [m.text for m in await world.memory(key())] == ["@chatbot hello", "answer 1"]


def test_thread_names_are_the_question_in_discords_limit() -> None:
    assert thread_name("@chatbot   what is\na closure?", "chatbot") == "what is a closure?"
    assert thread_name("@chatbot", "chatbot") == "chatbot"
    long = thread_name("@chatbot " + "word " * 40, "chatbot")
    assert len(long) <= 100 and long.endswith("…") and "wor…" not in long

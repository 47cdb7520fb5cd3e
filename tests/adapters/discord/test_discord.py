"""The Discord adapter end to end: discord.py's own HTTP and gateway code against a loopback
Discord, the real app and ChatService, SQLite memory, and the stub model over the openai SDK."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from adapters.discord.target import decorate
from bot.delivery import ReplyMeta
from bot.errors import ErrorKind
from bot.types import CounterKey
from chatbot.config import AppSettings, ConfigError
from testing.stubs.discord_server import DiscordServer
from testing.stubs.model_server import ModelServer, Reply, Status
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    BOT_ID,
    BOT_ROLE_ID,
    BOT_USER,
    CHANNEL_ID,
    DM_ID,
    HUMAN,
    MOD_ROLE_ID,
    OTHER_BOT,
    THREAD_ID,
    World,
    guild_payload,
    key,
    message_payload,
    wait_until,
)
from tests.helpers import Client, settings_for, start_app

MESSAGE_CONTENT_BIT = 1 << 15


def assert_no_pings(world: World) -> None:
    calls = world.server.sent() + world.server.edits()
    assert calls
    for call in calls:
        assert call.body is not None, call
        allowed = call.body["allowed_mentions"]
        assert allowed["parse"] == [] and not allowed.get("replied_user"), call.body
        assert not allowed.get("users") and not allowed.get("roles"), call.body


async def test_mention_is_answered_as_a_reply(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    assert world.server.identify is not None
    asked = await world.post(message_payload(f"<@{BOT_ID}> 안녕?", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    first = world.server.sent()[0].body
    assert first is not None and str(first["message_reference"]["message_id"]) == asked["id"]
    assert world.server.typing(), "the typing indicator was not shown"
    assert_no_pings(world)
    turns = model.chat_requests()[0]["messages"]
    assert turns[-1]["content"].endswith("안녕?") and "<@" not in turns[-1]["content"]
    stored = await world.memory(key())
    assert [m.text for m in stored] == ["@chatbot 안녕?", "answer 1"]
    assert stored[0].author_name == "Minseo"


async def test_reply_to_the_bot_continues_without_a_mention(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    await world.post(message_payload(f"<@{BOT_ID}> my name is Minseo", mentions=[BOT_USER]))
    answer = world.bot_message()
    await world.post(message_payload("what is my name?", reply_to=answer))
    assert len(model.chat_requests()) == 2
    turns = model.chat_requests()[1]["messages"]
    assert [t["role"] for t in turns[1:]] == ["user", "assistant", "user"]
    assert turns[-1]["content"].endswith("what is my name?")
    # A reply to a human (no mention) is not for the bot.
    human_post = message_payload("hello all")
    await world.post(message_payload("hi!", reply_to=human_post))
    assert len(model.chat_requests()) == 2


async def test_dm_is_answered_without_a_mention(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    await world.post(message_payload("hello there", dm=True))
    assert world.server.visible(DM_ID) == ["answer 1"]
    stored = await world.memory(f"discord:dm:{DM_ID}")
    assert [m.text for m in stored] == ["hello there", "answer 1"]
    assert await world.memory(key()) == []


async def test_thread_has_its_own_memory(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    mention = f"<@{BOT_ID}>"
    await world.post(message_payload(f"{mention} in the channel", mentions=[BOT_USER]))
    await world.post(
        message_payload(f"{mention} in the thread", channel_id=THREAD_ID, mentions=[BOT_USER])
    )
    assert world.server.visible(THREAD_ID) == ["answer 2"]
    thread = await world.memory(key(CHANNEL_ID, THREAD_ID))
    assert [m.text for m in thread] == ["@chatbot in the thread", "answer 2"]
    parent = await world.memory(key())
    assert [m.text for m in parent] == ["@chatbot in the channel", "answer 1"]
    # The thread's context never saw the parent channel.
    thread_turns = model.chat_requests()[1]["messages"]
    assert not any("in the channel" in str(t["content"]) for t in thread_turns)
    # Spending counts the thread's answer with its channel (channel limits cover threads).
    today = datetime.now(UTC).date()
    [counted] = await world.store.spent([CounterKey("channel", key())], today)
    assert counted.answers == 2
    assert await world.store.spent([CounterKey("channel", key(CHANNEL_ID, THREAD_ID))], today) == []


async def test_without_message_content_plain_chat_is_not_stored(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    assert world.server.identify is not None
    assert not world.server.identify["intents"] & MESSAGE_CONTENT_BIT
    # Without the intent Discord blanks content of posts that do not concern the bot.
    await world.post(message_payload(""))
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    assert [m.text for m in await world.memory(key())] == ["@chatbot hi", "answer 1"]


async def test_with_message_content_plain_chat_is_stored(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world(CHATBOT_DISCORD_MESSAGE_CONTENT="1")
    assert world.server.identify is not None
    assert world.server.identify["intents"] & MESSAGE_CONTENT_BIT
    await world.post(message_payload("actually my name is Minseo"))
    assert model.chat_requests() == [] and world.server.sent() == []
    await world.post(message_payload("@chatbot what is my name?"))  # the text tag works too
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    turns = model.chat_requests()[0]["messages"]
    assert "actually my name is Minseo" in turns[1]["content"]


async def test_streamed_edits_are_paced_and_only_on_change(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    world.bot.service.edit_interval = 0.25
    pieces = [f"word{i} " for i in range(24)]
    text = "".join(pieces)
    model.then(Reply(text, chunks=pieces, chunk_delay=0.05))  # about 1.2 s of streaming
    started = time.monotonic()
    await world.post(message_payload(f"<@{BOT_ID}> talk", mentions=[BOT_USER]))
    elapsed = time.monotonic() - started
    assert world.server.visible(CHANNEL_ID) == [text]  # the final text is always sent
    assert len(world.server.sent()) == 1  # one placeholder, then edits
    edits = world.server.edits()
    assert 1 <= len(edits) <= elapsed / 0.25 + 2
    shown = [world.server.sent()[0].body["content"]] + [e.body["content"] for e in edits]
    assert all(a != b for a, b in zip(shown, shown[1:], strict=False))  # only on change
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    # Paced (chunks come every 0.05 s); the last edit is the final text, which is not throttled.
    assert all(gap >= 0.12 for gap in gaps[:-1])
    assert_no_pings(world)


async def test_long_answer_with_code_is_split_into_valid_parts(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    code = "\n".join(f"    total += compute({i})  # step {i}" for i in range(90))
    text = "Here is the code:\n\n```python\ndef run():\n" + code + "\n```\n\n" + "Done. " * 400
    assert len(text) > 5000
    model.then(Reply(text))
    await world.post(message_payload(f"<@{BOT_ID}> write code", mentions=[BOT_USER]))
    parts = world.server.visible(CHANNEL_ID)
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= 2000
        assert part.count("```") % 2 == 0, part
    assert parts[1].startswith("```python\n")  # the block reopened with its language
    assert "step 89" in "".join(parts) and parts[-1].rstrip().endswith("Done.")
    assert_no_pings(world)


async def test_answers_never_ping(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    model.then(Reply(f"@everyone @here <@{HUMAN['id']}> <@&{BOT_ROLE_ID}> hello"))
    await world.post(message_payload(f"<@{BOT_ID}> ping everyone", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID)[0].startswith("@everyone")
    assert_no_pings(world)


async def test_bot_loop_guard(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    mention = f"<@{BOT_ID}>"
    for i in range(5):
        await world.post(
            message_payload(f"{mention} round {i}", author=OTHER_BOT, mentions=[BOT_USER])
        )
    assert len(model.chat_requests()) == 3  # CHATBOT_DISCORD_MAX_BOT_TURNS defaults to 3
    stored = [m.text for m in await world.memory(key()) if m.role == "user"]
    assert stored == [f"@chatbot round {i}" for i in range(5)]  # all kept in memory
    # A human speaking (even with content blanked, intent off) ends the run.
    await world.post(message_payload(""))
    await world.post(message_payload(f"{mention} round 5", author=OTHER_BOT, mentions=[BOT_USER]))
    assert len(model.chat_requests()) == 4
    # Another bot without a mention is never answered.
    await world.post(message_payload("@chatbot? no, a plain post", author=OTHER_BOT))
    assert len(model.chat_requests()) == 4


async def test_empty_mention_gets_a_hint(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    await world.post(message_payload(f"<@{BOT_ID}>", mentions=[BOT_USER]))
    assert model.chat_requests() == []
    assert "@chatbot" in world.server.visible(CHANNEL_ID)[0]


async def test_attachment_and_embed_only_messages(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world(CHATBOT_DISCORD_MESSAGE_CONTENT="1")
    attachment = {
        "id": "1",
        "filename": "cat.png",
        "size": 10,
        "url": "https://cdn.example/cat.png",
        "proxy_url": "https://cdn.example/cat.png",
    }
    await world.post(message_payload(f"<@{BOT_ID}>", mentions=[BOT_USER], attachments=[attachment]))
    # A host that is not Discord's (here: not the stub's) is never fetched; the sender is told.
    asked = model.chat_requests()[0]["messages"][-1]["content"]
    assert asked.startswith("Minseo: @chatbot\n[attachment: cat.png (not read: ")
    assert world.server.visible(CHANNEL_ID)[0] == (
        "⚠️ cat.png is not on a file host I may download from."
    )
    await world.post(message_payload("", author=OTHER_BOT, embeds=[{"title": "Build passed"}]))
    texts = [m.text for m in await world.memory(key())]
    assert texts[-1] == "[embed: Build passed]"


async def test_forbidden_send_is_logged_and_the_answer_stored(
    make_world: MakeWorld, model: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_world()
    model.then(Reply("stored anyway", chunks=["stored anyway"]))
    world.server.fail("POST", f"/channels/{CHANNEL_ID}/messages", 403, 50013, "Missing Permissions")
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == []
    assert [m.text for m in await world.memory(key())] == ["@chatbot hi", "stored anyway"]
    assert "no permission to post" in caplog.text
    # The service keeps going: the next message is answered.
    await world.post(message_payload(f"<@{BOT_ID}> again", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["answer 2"]


async def test_deleted_reply_is_posted_anew(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    world.bot.service.edit_interval = 0.0
    model.then(
        Reply("one two three four", chunks=["one ", "two ", "three ", "four"], chunk_delay=0.1)
    )

    async def delete_placeholder() -> None:
        await wait_until(lambda: bool(world.server.messages))
        world.server.deleted.update(world.server.messages)

    deleter = asyncio.create_task(delete_placeholder())
    await world.post(message_payload(f"<@{BOT_ID}> count", mentions=[BOT_USER]))
    await deleter
    assert world.server.visible(CHANNEL_ID)[-1] == "one two three four"
    assert any(e.status == 404 for e in world.server.edits())  # an edit hit the deleted message
    assert len(world.server.sent()) == 2  # so the text was posted anew


async def test_too_long_for_discord_is_split_again(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    model.then(Reply("short answer " * 10, chunks=["short answer " * 10]))
    world.server.fail("POST", f"/channels/{CHANNEL_ID}/messages", 400, 50035, "Invalid Form Body")
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["short answer " * 10]
    assert len(world.server.sent()) == 2  # refused once (50035), then sent in parts


async def test_sharded_client_connects(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world(CHATBOT_DISCORD_SHARDED="1")
    assert isinstance(world.bot.client, discord.AutoShardedClient)
    assert world.server.identify is not None and world.server.identify["shard"] == [0, 1]
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]


async def test_rejected_token_leaves_the_service_running(
    db_url: str,
    model: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = DiscordServer(bot_user=BOT_USER, application_id=BOT_ID)
    await server.start()
    server.fail("GET", "/users/@me", 401, 0, "401: Unauthorized")
    monkeypatch.setattr(discord.http.Route, "BASE", server.url + "/api/v10")
    running = await start_app(settings_for(db_url, model.url, DISCORD_TOKEN="bad-token"))
    try:
        await wait_until(lambda: "DISCORD_TOKEN was rejected" in caplog.text)
        assert "bad-token" not in caplog.text  # never log the secret
        client = await Client.connect(running.ws_url("minseo"))
        await client.say("@chatbot still there?")
        assert (await client.answer())["message"] == "answer 1"
        await client.close()
    finally:
        await running.stop()
        await server.stop()


def test_discord_settings_from_env() -> None:
    settings = AppSettings.from_env(
        {
            "DISCORD_TOKEN": "tok-123",
            "CHATBOT_DISCORD_MESSAGE_CONTENT": "1",
            "CHATBOT_DISCORD_SHARDED": "true",
            "CHATBOT_DISCORD_MAX_BOT_TURNS": "5",  # the older name of CHATBOT_MAX_BOT_TURNS
        }
    )
    assert settings.discord.token == "tok-123" and "tok-123" not in repr(settings.discord)
    assert settings.discord.message_content and settings.discord.sharded
    assert settings.bot.max_bot_turns == 5
    assert AppSettings.from_env({"CHATBOT_MAX_BOT_TURNS": "2"}).bot.max_bot_turns == 2
    assert not AppSettings.from_env({}).discord.message_content
    with pytest.raises(ConfigError):
        AppSettings.from_env({"CHATBOT_DISCORD_MESSAGE_CONTENT": "maybe"})


async def test_mentioning_the_bots_role_addresses_it(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    data = message_payload(f"hey <@&{BOT_ROLE_ID}> what is up?")
    data["mention_roles"] = [BOT_ROLE_ID]
    await world.post(data)
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    assert [m.text for m in await world.memory(key())][0] == "hey @chatbot what is up?"
    # what the model hears: the words as written, the mention where it was (issue 12)
    assert model.chat_requests()[0]["messages"][-1]["content"] == "Minseo: hey @chatbot what is up?"


async def test_error_lines_are_marked(make_world: MakeWorld, model: ModelServer) -> None:
    world = await make_world()
    model.then(Status(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    [line] = world.server.visible(CHANNEL_ID)
    assert line.startswith("⚠️ ") and "credentials" in line


def test_persona_label_and_warning() -> None:
    plain = ReplyMeta(persona="chatbot")
    assert decorate("hi", plain, first=True, default_persona="chatbot") == "hi"
    other = ReplyMeta(persona="translator")
    assert decorate("hi", other, first=True, default_persona="chatbot") == "-# translator\nhi"
    assert decorate("hi", other, first=False, default_persona="chatbot") == "hi"
    failed = ReplyMeta(persona="chatbot", error=ErrorKind.TIMEOUT)
    assert decorate("late", failed, first=True, default_persona="chatbot") == "⚠️ late"
    hint = ReplyMeta(persona="chatbot", error=ErrorKind.USAGE)
    assert decorate("say more", hint, first=True, default_persona="chatbot") == "say more"


async def test_rate_limited_send_is_retried_by_discord_py(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    model.then(Reply("after the wait", chunks=["after the wait"]))
    world.server.fail("POST", f"/channels/{CHANNEL_ID}/messages", 429, 20028, "rate limited")
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    assert [c.status for c in world.server.sent()] == [429, 200]
    assert world.server.visible(CHANNEL_ID) == ["after the wait"]


async def test_refused_message_content_intent_is_logged(
    db_url: str,
    model: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = DiscordServer(bot_user=BOT_USER, application_id=BOT_ID, privileged_allowed=False)
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.url + "/api/v10")
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.url + "/gateway"))
    settings = settings_for(
        db_url, model.url, DISCORD_TOKEN="stub-token", CHATBOT_DISCORD_MESSAGE_CONTENT="1"
    )
    running = await start_app(settings)
    try:
        await wait_until(lambda: "enable it for the bot in the Developer Portal" in caplog.text)
        client = await Client.connect(running.ws_url("minseo"))
        await client.say("@chatbot still there?")
        assert (await client.answer())["message"] == "answer 1"
        await client.close()
    finally:
        await running.stop()
        await server.stop()


async def test_unpinged_reply_without_message_content_gets_a_hint(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    await world.post(message_payload(f"<@{BOT_ID}> hi", mentions=[BOT_USER]))
    answer = world.bot_message()
    # The reply's ping switched off: without the intent Discord sends it with blank content.
    await world.post(message_payload("", reply_to=answer, ping=False))
    assert len(model.chat_requests()) == 1
    assert "mention me" in world.server.visible(CHANNEL_ID)[-1]
    assert len(await world.memory(key())) == 2  # nothing empty was stored


async def test_uncached_thread_is_fetched_for_its_parent(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    thread = {**guild_payload()["threads"][0], "id": "820000000000000077", "name": "new"}
    world.server.hidden_threads.append(thread)
    await world.post(
        message_payload(f"<@{BOT_ID}> hi", channel_id=thread["id"], mentions=[BOT_USER])
    )
    assert any(
        c.method == "GET" and c.path == f"/channels/{thread['id']}" for c in world.server.calls
    )
    assert [m.text for m in await world.memory(key(CHANNEL_ID, thread["id"]))] == [
        "@chatbot hi",
        "answer 1",
    ]


async def test_reset_is_for_members_with_an_allowed_role(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text('[commands]\nreset_roles = ["moderator"]\n')
    world = await make_world(CHATBOT_CONFIG=str(config))
    await world.post(message_payload(f"<@{BOT_ID}> remember: teal", mentions=[BOT_USER]))
    refused = message_payload(f"<@{BOT_ID}> reset", mentions=[BOT_USER])
    await world.post(refused)
    assert "Only members with an allowed role" in world.server.visible(CHANNEL_ID)[-1]
    assert (await world.running.app.state.store.state(key())).reset_after_id == 0

    allowed = message_payload(f"<@{BOT_ID}> reset", mentions=[BOT_USER])
    allowed["member"]["roles"] = [MOD_ROLE_ID]
    await world.post(allowed)
    assert "forgot this channel" in world.server.visible(CHANNEL_ID)[-1]
    assert (await world.running.app.state.store.state(key())).reset_after_id > 0
    await world.post(message_payload(f"<@{BOT_ID}> what do you remember?", mentions=[BOT_USER]))
    last = model.chat_requests()[-1]["messages"]
    assert not any("teal" in m["content"] for m in last)

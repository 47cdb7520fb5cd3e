"""The gateway past one connection: a RESUME that replays events, and shards split across two
app instances (two "processes" sharing one database and one Discord)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.discord.settings import DiscordSettings
from chatbot.config import AppSettings, ConfigError
from testing.stubs.discord_server import DiscordServer, shard_of
from testing.stubs.model_server import ModelServer
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    World,
    guild_payload,
    interaction_payload,
    key,
    message_payload,
    start_world,
    stop_world,
    wait_until,
)

# A second server whose id puts it on the other shard of two.
OTHER_GUILD = str(int(GUILD_ID) + (1 << 22))
OTHER_CHANNEL = "810000000000000002"
OTHER_THREAD = "820000000000000002"


async def test_a_resume_that_replays_a_message_never_answers_it_twice(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    await world.post(message_payload(f"<@{BOT_ID}> one", mentions=[BOT_USER]))
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    [session] = world.server.sessions()
    seen = session.seq
    world.server.replay_on_resume = 1  # the RESUME also replays "one", already answered
    before = world.handled
    await world.server.drop()
    # Said while the bot was disconnected: Discord keeps it for the RESUME.
    await world.server.dispatch(
        "MESSAGE_CREATE", message_payload(f"<@{BOT_ID}> two", mentions=[BOT_USER])
    )
    await wait_until(lambda: world.handled >= before + 2)  # the replay and the missed one
    await world.settle()
    [resume] = world.server.resumes
    assert resume["session_id"] == session.id and resume["seq"] == seen
    assert len(world.server.identifies) == 1  # resumed, not identified anew
    assert world.server.visible(CHANNEL_ID) == ["answer 1", "answer 2"]
    assert len(model.chat_requests()) == 2
    assert [m.text for m in await world.memory(key())] == [
        "@chatbot one",
        "answer 1",
        "@chatbot two",
        "answer 2",
    ]
    # An interaction replayed by a resume is refused by Discord's own acknowledgement.
    asked = await world.interact(
        interaction_payload("ask", [{"name": "question", "type": 3, "value": "three"}])
    )
    world.server.replay_on_resume = 1
    await world.server.drop()
    await wait_until(lambda: len(world.server.resumes) == 2)
    path = f"/interactions/{asked['id']}/{asked['token']}/callback"
    await wait_until(lambda: sum(1 for c in world.server.calls if c.path == path) == 2)
    await world.settle()
    assert len(model.chat_requests()) == 3


@pytest.fixture
async def two_processes(
    db_url: str, model: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[World, World]]:
    """Shard 0 and shard 1 of 2 in two app instances, one database, one Discord."""
    assert shard_of(OTHER_GUILD, 2) == 0 and shard_of(GUILD_ID, 2) == 1
    server = DiscordServer(
        bot_user=BOT_USER,
        application_id=BOT_ID,
        guilds=[guild_payload(), guild_payload(OTHER_GUILD, OTHER_CHANNEL, OTHER_THREAD)],
    )
    await server.start()
    common = {"CHATBOT_DISCORD_SHARD_COUNT": "2"}
    zero = await start_world(
        db_url,
        model.url,
        monkeypatch,
        server=server,
        guild_id=OTHER_GUILD,
        CHATBOT_DISCORD_SHARDS="0",
        **common,
    )
    one = await start_world(
        db_url,
        model.url,
        monkeypatch,
        server=server,
        guild_id=GUILD_ID,
        CHATBOT_DISCORD_SHARDS="1",
        **common,
    )
    yield zero, one
    await stop_world(zero, server=False)
    await stop_world(one, server=False)
    await server.stop()


async def test_two_processes_with_different_shards_each_answer_only_their_guilds(
    two_processes: tuple[World, World], model: ModelServer
) -> None:
    zero, one = two_processes
    server = zero.server
    assert sorted(i["shard"] for i in server.identifies) == [[0, 2], [1, 2]]
    assert zero.bot.client.get_guild(int(GUILD_ID)) is None
    assert one.bot.client.get_guild(int(OTHER_GUILD)) is None
    await one.post(message_payload(f"<@{BOT_ID}> from shard one", mentions=[BOT_USER]))
    await zero.post(
        message_payload(
            f"<@{BOT_ID}> from shard zero",
            mentions=[BOT_USER],
            channel_id=OTHER_CHANNEL,
            guild_id=OTHER_GUILD,
        )
    )
    assert (zero.handled, one.handled) == (1, 1)
    assert server.visible(CHANNEL_ID) == ["answer 1"]
    assert server.visible(OTHER_CHANNEL) == ["answer 2"]
    # Commands are registered once, by the process that runs shard 0.
    assert [c.method for c in server.calls if c.path.endswith("/commands")] == ["PUT"]
    # Memory is the database's: either process reads both conversations.
    other = f"discord:{OTHER_GUILD}:{OTHER_CHANNEL}"
    assert [m.text for m in await one.memory(other)] == ["@chatbot from shard zero", "answer 2"]
    # One post delivered to both (a shard moving between processes): answered once.
    both = message_payload(f"<@{BOT_ID}> to everyone", mentions=[BOT_USER])
    await server.dispatch("MESSAGE_CREATE", both, everywhere=True)
    await wait_until(lambda: (zero.handled, one.handled) == (2, 2))
    await zero.settle()
    await one.settle()
    assert len(model.chat_requests()) == 3
    assert server.visible(CHANNEL_ID) == ["answer 1", "answer 3"]


def test_shard_settings_from_env() -> None:
    split = AppSettings.from_env(
        {"CHATBOT_DISCORD_SHARDS": "0-3", "CHATBOT_DISCORD_SHARD_COUNT": "8"}
    ).discord
    assert split == DiscordSettings(sharded=True, shard_ids=(0, 1, 2, 3), shard_count=8)
    assert split.syncs_commands
    later = AppSettings.from_env(
        {"CHATBOT_DISCORD_SHARDS": "4-5,7", "CHATBOT_DISCORD_SHARD_COUNT": "8"}
    ).discord
    assert later.shard_ids == (4, 5, 7) and not later.syncs_commands
    auto = AppSettings.from_env({"CHATBOT_DISCORD_SHARD_COUNT": "auto"}).discord
    assert auto.sharded and auto.shard_count is None and auto.shard_ids is None
    assert not AppSettings.from_env({}).discord.sharded
    guilds = AppSettings.from_env({"CHATBOT_DISCORD_GUILDS": "123, 456,123"}).discord.guilds
    assert guilds == (123, 456)
    for env, problem in [
        ({"CHATBOT_DISCORD_SHARDS": "0-3"}, "needs CHATBOT_DISCORD_SHARD_COUNT"),
        ({"CHATBOT_DISCORD_SHARDS": "0-3", "CHATBOT_DISCORD_SHARD_COUNT": "auto"}, "needs"),
        ({"CHATBOT_DISCORD_SHARDS": "6-9", "CHATBOT_DISCORD_SHARD_COUNT": "8"}, "shard 9"),
        ({"CHATBOT_DISCORD_SHARDS": "3-1", "CHATBOT_DISCORD_SHARD_COUNT": "8"}, "counts down"),
        ({"CHATBOT_DISCORD_SHARDS": "a", "CHATBOT_DISCORD_SHARD_COUNT": "8"}, "not a shard"),
        ({"CHATBOT_DISCORD_SHARD_COUNT": "0"}, "at least 1"),
        ({"CHATBOT_DISCORD_SHARD_COUNT": "many"}, "CHATBOT_DISCORD_SHARD_COUNT"),
        ({"CHATBOT_DISCORD_GUILDS": "123,abc"}, "not a server id"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            AppSettings.from_env(env)

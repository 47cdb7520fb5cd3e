"""Application commands end to end: discord.py's own app_commands tree and interaction code
against the loopback Discord's INTERACTION_CREATE payloads, callbacks and webhook edits, with
the real app, SQLite memory and the stub model. The Message Content intent is off throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord

from bot.types import Author, IncomingMessage
from testing.fakes import RecordingTarget
from testing.stubs.discord_server import EPHEMERAL
from testing.stubs.model_server import ModelServer, Reply
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    CHANNEL_ID,
    DM_ID,
    GUILD_ID,
    HUMAN,
    MOD_ROLE_ID,
    OTHER_BOT,
    World,
    ask_payload,
    interaction_payload,
    key,
    message_payload,
    option,
    user,
    wait_until,
)

MESSAGE_CONTENT_BIT = 1 << 15
DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: "chatbot is thinking…"
MESSAGE = 4  # CHANNEL_MESSAGE_WITH_SOURCE
AUTOCOMPLETE_RESULT = 8


def callback(world: World, data: dict[str, Any]) -> dict[str, Any]:
    [body] = world.server.callbacks[data["id"]]
    return body


def dispatched_at(world: World, data: dict[str, Any]) -> float:
    return next(at for _, d, at in world.server.dispatched if d is data)


def callback_at(world: World, data: dict[str, Any]) -> float:
    path = f"/interactions/{data['id']}/{data['token']}/callback"
    return next(c.at for c in world.server.calls if c.path == path)


def assert_no_pings(bodies: list[dict[str, Any]]) -> None:
    assert bodies
    for body in bodies:
        allowed = body["allowed_mentions"]
        assert allowed["parse"] == [] and not allowed.get("replied_user"), body


async def test_commands_are_registered_globally_on_start(make_world: MakeWorld) -> None:
    world = await make_world()
    registered = {c["name"]: c for c in world.server.commands[None]}
    assert set(registered) == {"ask", "reset", "usage", "memory", "help", "Ask chatbot about this"}
    ask = registered["ask"]
    question, persona = ask["options"]
    assert (question["name"], question["required"], question["max_length"]) == (
        "question",
        True,
        4000,
    )
    assert persona["name"] == "persona" and persona["autocomplete"] and not persona["required"]
    # Discord's default member permissions: moderators (Manage Messages) see /reset; admins can
    # change it in the server's settings. Everything else is for everyone.
    reset = registered["reset"]["default_member_permissions"]
    assert int(reset) == discord.Permissions(manage_messages=True).value
    assert ask["default_member_permissions"] is None
    menu = registered["Ask chatbot about this"]
    assert menu["type"] == 3  # a message context menu
    for command in registered.values():
        assert command["contexts"] == [0, 1] and command["integration_types"] == [0]
    assert list(world.server.commands) == [None]  # nothing per server


async def test_commands_go_to_the_listed_servers_for_instant_updates(
    make_world: MakeWorld,
) -> None:
    world = await make_world(CHATBOT_DISCORD_GUILDS=f"{GUILD_ID}, 800000000000000777")
    assert None not in world.server.commands
    names = {c["name"] for c in world.server.commands[GUILD_ID]}
    assert "ask" in names and "reset" in names
    assert {c["guild_id"] for c in world.server.commands["800000000000000777"]} == {
        "800000000000000777"
    }
    # A guild command's interaction names its guild; the tree finds it there.
    asked = ask_payload("hi there", guild_id=GUILD_ID)
    asked["data"]["guild_id"] = GUILD_ID
    await world.interact(asked)
    assert world.original(asked)["content"] == "answer 1"


async def test_ask_is_deferred_at_once_and_the_answer_streams_into_the_response(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    assert world.server.identify is not None
    assert not world.server.identify["intents"] & MESSAGE_CONTENT_BIT  # no privileged intent
    world.service.edit_interval = 0.1
    pieces = [f"word{i} " for i in range(12)]
    model.then(Reply("".join(pieces), chunks=pieces, chunk_delay=0.08, delay=1.0))
    asked = await world.interact(ask_payload("what is a closure?"))
    # Acknowledged at once, before the core even called the model (which then waits 1 s).
    assert callback_at(world, asked) - dispatched_at(world, asked) < 0.5
    assert callback_at(world, asked) < model.requests[0].at
    assert callback(world, asked) == {"type": DEFERRED}  # public: the channel sees the answer
    edits = [
        c for c in world.server.response_calls(asked["token"]) if c.path.endswith("/@original")
    ]
    assert len(edits) >= 3, "the answer streamed by editing the original response"
    assert all(c.method == "PATCH" for c in edits)
    shown = [c.body["content"] for c in edits]
    assert shown[-1] == "".join(pieces) and shown[0].endswith(" …")
    assert all(a != b for a, b in zip(shown, shown[1:], strict=False))  # only on change
    assert_no_pings([c.body for c in edits])
    assert world.original(asked)["content"] == "".join(pieces)
    # Memory holds the question as typed, by its asker, and the answer.
    stored = await world.memory(key())
    assert [(m.author_name, m.text, m.tag) for m in stored] == [
        ("Minseo", "what is a closure?", "chatbot"),
        ("chatbot", "".join(pieces), "chatbot"),
    ]
    assert stored[0].platform_message_id == asked["id"]
    assert model.chat_requests()[0]["messages"][-1]["content"] == "Minseo: what is a closure?"


async def test_ask_with_a_persona_and_its_autocomplete(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text(f'[channels."discord:{GUILD_ID}:{CHANNEL_ID}"]\npersona = "dragon"\n')
    world = await make_world(CHATBOT_CONFIG=str(config))
    typed = interaction_payload(
        "ask",
        [option("question", ""), option("persona", "dr", focused=True)],
        kind=4,
    )
    await world.interact(typed)
    body = callback(world, typed)
    assert body["type"] == AUTOCOMPLETE_RESULT
    assert [c["value"] for c in body["data"]["choices"]] == ["dragon"]
    assert body["data"]["choices"][0]["name"].startswith("dragon: ")
    nothing_yet = interaction_payload(
        "ask", [option("question", ""), option("persona", "", focused=True)], kind=4
    )
    await world.interact(nothing_yet)
    values = [c["value"] for c in callback(world, nothing_yet)["data"]["choices"]]
    assert values[0] == "dragon"  # this channel's default persona first
    assert set(values) == {"chatbot", "counsel", "dragon", "summary", "translate"}

    asked = await world.interact(ask_payload("in one line: what are you?", persona="summary"))
    assert world.original(asked)["content"].startswith("-# summary\n")
    stored = await world.memory(key())
    assert stored[0].tag == "summary" and stored[0].text == "in one line: what are you?"
    # Without a persona the channel's default answers, as plain @chatbot does here.
    plain = await world.interact(ask_payload("a tale, please"))
    assert world.original(plain)["content"].startswith("-# dragon\n")


async def test_an_unknown_persona_is_refused_privately_without_a_model_call(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    asked = await world.interact(ask_payload("hello", persona="ghost"))
    body = callback(world, asked)
    assert body["type"] == MESSAGE and body["data"]["flags"] == EPHEMERAL
    assert "no persona `ghost`" in body["data"]["content"] and "dragon" in body["data"]["content"]
    assert model.chat_requests() == [] and await world.memory(key()) == []


async def test_reset_is_refused_without_an_allowed_role(
    make_world: MakeWorld, model: ModelServer, tmp_path: Path
) -> None:
    config = tmp_path / "chatbot.toml"
    config.write_text('[commands]\nreset_roles = ["moderator"]\n')
    world = await make_world(CHATBOT_CONFIG=str(config))
    await world.interact(ask_payload("remember: my colour is teal"))
    refused = await world.interact(interaction_payload("reset"))
    assert callback(world, refused) == {"type": DEFERRED, "data": {"flags": EPHEMERAL}}
    assert world.original(refused)["content"].startswith("Only members with an allowed role")
    assert world.original(refused)["flags"] & EPHEMERAL  # only the asker sees it
    assert (await world.store.state(key())).reset_after_id == 0

    allowed = await world.interact(interaction_payload("reset", roles=[MOD_ROLE_ID]))
    assert "forgot this channel" in world.original(allowed)["content"]
    stored = await world.memory(key())
    assert (await world.store.state(key())).reset_after_id == stored[-1].id
    await world.interact(ask_payload("what is my colour?"))
    last = model.chat_requests()[-1]["messages"]
    assert not any("teal" in m["content"] for m in last)
    assert len(await world.memory(key())) == 4  # commands are not stored


async def test_help_and_usage_are_the_cores_answers_privately(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    await world.interact(ask_payload("hi"))
    shown = await world.interact(interaction_payload("help"))
    assert world.original(shown)["content"].startswith("Tags here")
    assert world.original(shown)["flags"] & EPHEMERAL
    usage = await world.interact(interaction_payload("usage"))
    assert world.original(usage)["content"].startswith("Tokens in this channel today (UTC): ")
    assert "1 answers" in world.original(usage)["content"]


async def test_memory_reaches_the_cores_memory_command(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    await world.interact(ask_payload("hi"))
    shown = await world.interact(interaction_payload("memory"))
    # Whatever the core's `memory` command answers (it is being built in the core), /memory
    # shows exactly that, privately: the adapter adds nothing of its own.
    expected = RecordingTarget()
    asker = Author(id=f"discord:{HUMAN['id']}", name="Minseo")
    await world.service.command(
        "memory", IncomingMessage("discord", key(), None, asker, "/memory"), expected
    )
    assert world.original(shown)["content"] == expected.texts()[0]
    assert world.original(shown)["flags"] & EPHEMERAL
    assert len(model.chat_requests()) == 1  # only for the question: none for /memory


async def test_ask_chatbot_about_this_answers_about_the_chosen_message(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    chosen = message_payload("is a closure just a function?", author=OTHER_BOT)
    chosen["author"] = user({**OTHER_BOT, "bot": False, "global_name": "Jun"})
    menu = interaction_payload(
        "Ask chatbot about this",
        command_type=3,
        target_id=chosen["id"],
        resolved={"messages": {chosen["id"]: chosen}},
    )
    await world.interact(menu)
    assert callback(world, menu) == {"type": DEFERRED}
    assert world.original(menu)["content"] == "answer 1"
    [question, answer] = await world.memory(key())
    assert question.text == "> Jun: is a closure just a function?"
    assert question.author_name == "Minseo" and answer.text == "answer 1"
    heard = model.chat_requests()[0]["messages"][-1]["content"]
    assert heard == "Minseo: > Jun: is a closure just a function?"


async def test_ask_in_a_dm_uses_the_dms_conversation(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    asked = await world.interact(ask_payload("hello in private", dm=True))
    assert world.original(asked)["content"] == "answer 1"
    stored = await world.memory(f"discord:dm:{DM_ID}")
    assert [m.text for m in stored] == ["hello in private", "answer 1"]
    # A person may reset their own DM with the bot.
    reset = await world.interact(interaction_payload("reset", dm=True))
    assert "forgot this channel" in world.original(reset)["content"]


async def test_a_replayed_interaction_is_answered_once(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    asked = await world.interact(ask_payload("only once, please"))
    await world.server.dispatch("INTERACTION_CREATE", asked)  # the gateway sends it again
    path = f"/interactions/{asked['id']}/{asked['token']}/callback"

    def tried_twice() -> bool:
        return sum(1 for c in world.server.calls if c.path == path) == 2

    await wait_until(tried_twice)
    await world.settle()
    statuses = [c.status for c in world.server.calls if c.path == path]
    assert statuses == [200, 400]  # Discord refused the second acknowledgement (40060)
    assert len(model.chat_requests()) == 1
    assert [m.text for m in await world.memory(key())] == ["only once, please", "answer 1"]


async def test_a_long_answer_continues_in_follow_ups(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    text = "\n\n".join(f"Paragraph {i}: " + "words " * 60 for i in range(12))
    assert len(text) > 4000
    model.then(Reply(text))
    asked = await world.interact(ask_payload("write a lot"))
    messages = world.server.response(asked["token"])
    assert len(messages) >= 3
    assert all(len(m["content"]) <= 2000 for m in messages)
    assert " ".join(m["content"] for m in messages).split() == text.split()
    follow_ups = [c for c in world.server.response_calls(asked["token"]) if c.method == "POST"]
    assert len(follow_ups) == len(messages) - 1
    assert all(not (c.body.get("flags", 0) & EPHEMERAL) for c in follow_ups)

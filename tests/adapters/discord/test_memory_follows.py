"""Memory follows the conversation: MESSAGE_UPDATE, MESSAGE_DELETE and MESSAGE_DELETE_BULK from
the loopback gateway, through discord.py's raw events, into the stored messages."""

from __future__ import annotations

import asyncio

from testing.stubs.model_server import ModelServer, Reply
from tests.adapters.discord.conftest import MakeWorld
from tests.discord_world import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    edited,
    key,
    message_payload,
    wait_until,
)


async def test_an_edit_updates_the_stored_text_and_is_not_answered(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    asked = await world.post(message_payload(f"<@{BOT_ID}> my name is Minso", mentions=[BOT_USER]))
    await world.update(edited(asked, f"<@{BOT_ID}> my name is Minseo"))
    stored = await world.memory(key())
    assert [m.text for m in stored] == ["@chatbot my name is Minseo", "answer 1"]
    assert len(model.chat_requests()) == 1 and len(world.server.sent()) == 1  # not answered again
    # The next question's context has the edited text.
    await world.post(message_payload(f"<@{BOT_ID}> what is my name?", mentions=[BOT_USER]))
    heard = [m["content"] for m in model.chat_requests()[1]["messages"]]
    assert "Minseo: my name is Minseo" in heard  # the tag is left out for the model


async def test_edits_that_say_nothing_new_leave_memory_alone(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    asked = await world.post(message_payload(f"<@{BOT_ID}> keep me", mentions=[BOT_USER]))
    # Without the Message Content intent an edit that drops the mention arrives blanked.
    await world.update(edited(asked, ""))
    # An embed unfolding is an update without an edit.
    await world.update({**asked, "content": "unfurled", "edited_timestamp": None})
    # The bot's own streaming edits are not people's edits.
    answer = world.bot_message()
    await world.update(edited(answer, "something else"))
    assert [m.text for m in await world.memory(key())] == ["@chatbot keep me", "answer 1"]


async def test_deleted_and_bulk_deleted_messages_leave_memory(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world(CHATBOT_DISCORD_MESSAGE_CONTENT="1")
    posts = [message_payload(f"line {i}") for i in range(4)]
    for post in posts:
        await world.post(post)
    await world.delete(posts[0]["id"])
    assert [m.text for m in await world.memory(key())] == ["line 1", "line 2", "line 3"]
    await world.delete(posts[1]["id"], posts[3]["id"], "999")  # bulk; one was never stored
    assert [m.text for m in await world.memory(key())] == ["line 2"]
    await world.post(message_payload("@chatbot what was said?"))
    heard = [m["content"] for m in model.chat_requests()[0]["messages"][1:]]
    assert heard == ["Minseo: line 2", "Minseo: what was said?"]


async def test_deleting_a_question_stops_its_answer(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    world.service.edit_interval = 0.05
    pieces = [f"w{i} " for i in range(40)]
    model.then(Reply("".join(pieces), chunks=pieces, chunk_delay=0.05))  # two seconds
    asked = message_payload(f"<@{BOT_ID}> a long one", mentions=[BOT_USER])
    before = world.handled
    await world.server.dispatch("MESSAGE_CREATE", asked)
    await wait_until(lambda: world.handled > before and bool(world.server.edits()))
    await world.delete(asked["id"])
    await asyncio.wait_for(world.settle(), 1.0)  # the answer stopped, not two seconds later
    edits = len(world.server.edits())
    await asyncio.sleep(0.3)
    assert len(world.server.edits()) == edits  # nothing more was written
    assert await world.memory(key()) == []  # neither the question nor an answer
    shown = world.server.visible(CHANNEL_ID)
    assert shown and "".join(pieces) not in shown  # it never finished

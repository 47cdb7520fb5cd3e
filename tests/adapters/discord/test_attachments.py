"""Discord attachments end to end: discord.py, the loopback Discord and its CDN serving the bytes,
the real app and SQLite, and the model stub receiving the image part over the openai SDK."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from testing.images import animated_gif, color_of, jpeg, png, size_of
from testing.stubs.model_server import ModelServer
from tests.discord_world import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    World,
    key,
    message_payload,
    start_world,
    stop_world,
)

MakeWorld = Callable[..., Awaitable[World]]
FRIEND = {"id": "700000000000000002", "username": "jisu", "global_name": "Jisu"}


@pytest.fixture
async def make_world(
    db_url: str, model: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeWorld]:
    worlds: list[World] = []

    async def make(**env: str) -> World:
        world = await start_world(db_url, model.url, monkeypatch, server=None, **env)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        await stop_world(world)


def images_in(message: dict[str, Any]) -> list[bytes]:
    """The image_url parts of one Chat Completions message, decoded from their data URLs."""
    content = message["content"]
    if isinstance(content, str):
        return []
    found = []
    for part in content:
        if part["type"] == "image_url":
            url = part["image_url"]["url"]
            head, _, data = url.partition(",")
            assert head in ("data:image/png;base64", "data:image/jpeg;base64"), head
            found.append(base64.b64decode(data))
    return found


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


async def test_an_image_on_a_mention_reaches_the_model(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    shot = world.server.serve("error.png", png(60, 40, (10, 200, 10)))
    await world.post(
        message_payload(f"<@{BOT_ID}> what does this say?", mentions=[BOT_USER], attachments=[shot])
    )
    assert world.server.file_requests == [shot["url"].removeprefix(world.server.url)]
    (request,) = model.chat_requests()
    last = request["messages"][-1]
    assert text_of(last) == "Minseo: what does this say?\n[image: error.png]"
    (image,) = images_in(last)
    assert size_of(image) == (60, 40) and color_of(image) == (10, 200, 10)
    assert world.server.visible(CHANNEL_ID) == ["answer 1"]
    stored = await world.memory(key())
    assert stored[0].text == "@chatbot what does this say?"  # no bytes, no marker in the text
    files = await world.store.files_of([stored[0].id])
    assert [(f.name, f.kind) for f in files[stored[0].id]] == [("error.png", "image")]


async def test_a_reply_to_someones_picture_with_a_mention_sends_that_picture(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world(CHATBOT_DISCORD_MESSAGE_CONTENT="1")
    board = world.server.serve("board.jpg", jpeg(80, 60), "image/jpeg")
    posted = await world.post(message_payload("today's whiteboard", attachments=[board]))
    assert world.server.file_requests == []  # plain chat: named, never downloaded
    assert model.chat_requests() == []
    await world.post(
        message_payload(
            f"<@{BOT_ID}> can you read this?",
            author=FRIEND,
            mentions=[BOT_USER],
            reply_to=posted,
        )
    )
    assert len(world.server.file_requests) == 1
    (request,) = model.chat_requests()
    messages = request["messages"]
    assert text_of(messages[-2]) == "Minseo: today's whiteboard\n[attachment: board.jpg]"
    assert text_of(messages[-1]) == "Jisu: can you read this?\n[image: board.jpg]"
    (image,) = images_in(messages[-1])
    assert size_of(image) == (80, 60)


async def test_a_gif_is_its_first_frame_and_a_text_file_is_text(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world()
    gif = world.server.serve("dance.gif", animated_gif(), "image/gif")
    code = world.server.serve("main.py", b"print('hi')\n", "text/x-python")
    await world.post(
        message_payload(f"<@{BOT_ID}> look", mentions=[BOT_USER], attachments=[gif, code])
    )
    last = model.chat_requests()[0]["messages"][-1]
    (image,) = images_in(last)
    assert color_of(image) == (0, 255, 0)
    assert text_of(last) == (
        "Minseo: look\n[image: dance.gif]\n[file: main.py]\n```\nprint('hi')\n\n```"
    )


async def test_oversize_and_redirects_elsewhere_are_refused_with_one_line(
    make_world: MakeWorld, model: ModelServer
) -> None:
    world = await make_world(CHATBOT_FILE_MAX_BYTES="2000")
    claimed = world.server.serve("claimed.png", png(), claimed=10_000_000)
    lying = world.server.serve("lying.jpg", jpeg(300, 300, 100), "image/jpeg", claimed=100)
    moved = world.server.serve("moved.png", png())
    path = moved["url"].removeprefix(world.server.url)
    world.server.redirects[path] = "http://127.0.0.2:9/steal.png"
    await world.post(
        message_payload(
            f"<@{BOT_ID}> three files", mentions=[BOT_USER], attachments=[claimed, lying, moved]
        )
    )
    # The claimed size alone refuses the first: never fetched. The others are fetched once each.
    assert sorted(world.server.file_requests) == sorted(
        u["url"].removeprefix(world.server.url) for u in (lying, moved)
    )
    line, answer = world.server.visible(CHANNEL_ID)
    assert line == (
        "⚠️ claimed.png is over the 1.95 KB limit.\n"
        "lying.jpg is over the 1.95 KB limit.\n"
        "moved.png is not on a file host I may download from."
    )
    assert answer == "answer 1"
    last = model.chat_requests()[0]["messages"][-1]
    assert images_in(last) == []
    assert text_of(last).startswith("Minseo: three files\n[attachment: claimed.png (not read: ")

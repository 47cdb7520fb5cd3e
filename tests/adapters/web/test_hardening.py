"""The web chat refuses what would break it or mislead people: ids past 64 bits, names."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets

from tests.helpers import Client, RunningApp


async def test_messages_after_beyond_64_bits_is_a_client_error(app: RunningApp) -> None:
    c = await Client.connect(app.ws_url("minseo"))
    await c.say("hello")
    await c.recv()
    async with httpx.AsyncClient(base_url=app.http, timeout=10) as http:
        for after in (2**63, 2**64, 10**30):
            response = await http.get("/messages", params={"after": after})
            assert response.status_code == 422, (after, response.text)
        largest = await http.get("/messages", params={"after": 2**63 - 1})
        assert largest.status_code == 200 and largest.json() == []
        everything = await http.get("/messages", params={"after": 0})
        assert [m["message"] for m in everything.json()] == ["hello"]
    await c.close()


async def refused(app: RunningApp, nickname: str, room: str = "lobby") -> dict[str, Any]:
    """The error frame for this join, after which the server closes with 1008."""
    url = f"ws://127.0.0.1:{app.port}/ws/{quote(nickname)}?room={quote(room)}"
    async with websockets.connect(url) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    return frame


@pytest.mark.parametrize(
    "nickname",
    [
        "ｃｈａｔｂｏｔ",  # fullwidth
        "\u0441hatbot",  # Cyrillic с
        "сhаtbоt",  # Cyrillic с, а, о
        "СНАТВОТ",  # Cyrillic capitals
        "chatb\u03bft",  # Greek ο
        "chatbot\u0301",  # a combining mark
        "chatb0t",
        "ѕуѕtеm",  # Cyrillic ѕ у е
        "transIate",  # a tag's name, capital I for l
        "ｄｒａｇｏｎ",
    ],
)
async def test_nicknames_that_only_look_reserved_are_refused(
    app: RunningApp, nickname: str
) -> None:
    frame = await refused(app, nickname)
    assert frame["type"] == "error" and frame["error"] == "rejected"
    assert "reserved for the bot" in frame["message"]


@pytest.mark.parametrize("nickname", ["민서", "chatbotfan", "Minseo"])
async def test_ordinary_nicknames_still_join(app: RunningApp, nickname: str) -> None:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws/{quote(nickname)}")
    await c.say("안녕")
    frame = await c.recv()
    assert (frame["type"], frame["nickname"], frame["message"]) == ("text", nickname, "안녕")
    await c.close()


@pytest.mark.parametrize("room", ["lob\u200bby", "\u202elobby", "lobby\u2060", "lobby\n"])
async def test_rooms_with_control_or_format_characters_are_refused(
    app: RunningApp, room: str
) -> None:
    frame = await refused(app, "minseo", room)
    assert frame["error"] == "rejected" and "Room names" in frame["message"]
    async with httpx.AsyncClient(base_url=app.http, timeout=10) as http:
        assert (await http.get("/messages", params={"room": room})).status_code == 400

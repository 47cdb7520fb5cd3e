"""The course WebSocket protocol over real sockets: echo, authorship, history, bad frames."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
import websockets

from tests.helpers import Client


async def test_echo_to_everyone_with_server_timestamp_and_path_nickname(app):
    a = await Client.connect(app.ws_url("minseo"))
    b = await Client.connect(app.ws_url("jihun"))
    await a.send({"type": "text", "nickname": "mallory", "message": "hello", "timestamp": "1999"})
    for client in (a, b):
        frame = await client.recv()
        assert frame["type"] == "text"
        assert frame["nickname"] == "minseo"  # the path, not the claim
        assert frame["message"] == "hello"
        stamped = datetime.fromisoformat(frame["timestamp"])
        assert stamped.tzinfo is not None
        assert abs((datetime.now(UTC) - stamped).total_seconds()) < 60
        assert isinstance(frame["id"], int)
    await a.close()
    await b.close()


async def test_text_key_and_plain_text_frames_are_accepted(app):
    c = await Client.connect(app.ws_url("soyeon"))
    await c.send({"type": "text", "text": "via text key"})
    assert (await c.recv())["message"] == "via text key"
    await c.send("just typed words")
    assert (await c.recv())["message"] == "just typed words"
    await c.send("42")  # valid JSON, but a scalar: what the person typed
    assert (await c.recv())["message"] == "42"
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{app.http}/messages")).json()
    assert [m["message"] for m in stored] == ["via text key", "just typed words", "42"]
    await c.close()


async def test_json_without_text_gets_an_error_only_on_that_connection(app):
    a = await Client.connect(app.ws_url("a"))
    b = await Client.connect(app.ws_url("b"))
    await a.send({"type": "text", "nickname": "a"})
    err = await a.recv()
    assert err["type"] == "error" and err["nickname"] == "system" and "text" in err["message"]
    await a.say("after the error")
    assert (await a.recv())["message"] == "after the error"
    # b saw only the real message, never the error
    assert (await b.recv())["message"] == "after the error"
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"message": "x" * 4001}, "too long"),
        ({"message": "y" * 3000, "pad": "z" * 20_000}, "too large"),
        ({"message": 12}, "string"),
        ({"message": "   "}, "Empty"),
    ],
)
async def test_bad_frames_are_refused_with_a_reason_and_nothing_is_stored(app, payload, words):
    c = await Client.connect(app.ws_url("tester"))
    await c.send(payload)
    err = await c.recv()
    assert err["type"] == "error" and words in err["message"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{app.http}/messages")).json() == []
    await c.say("still here")
    assert (await c.recv())["message"] == "still here"
    await c.close()


async def test_binary_frames_get_an_error(app):
    c = await Client.connect(app.ws_url("tester"))
    await c.ws.send(b"\x00\x01")
    err = await c.recv()
    assert err["type"] == "error" and "Binary" in err["message"]
    await c.close()


@pytest.mark.parametrize("nickname", ["chatbot", "ChatBot", "system", "%20"])
async def test_reserved_or_empty_nicknames_are_rejected(app, nickname):
    async with websockets.connect(app.ws_url(nickname)) as ws:
        frame = json.loads(await ws.recv())
        assert frame["type"] == "error" and frame["nickname"] == "system"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_two_tabs_may_share_a_nickname(app):
    tab1 = await Client.connect(app.ws_url("minseo"))
    tab2 = await Client.connect(app.ws_url("minseo"))
    await tab1.say("from tab 1")
    assert (await tab2.recv())["message"] == "from tab 1"
    await tab2.say("from tab 2")
    assert (await tab1.until(lambda f: f["message"] == "from tab 2"))["nickname"] == "minseo"
    await tab1.close()
    await tab2.close()


async def test_rooms_are_separate_and_history_is_oldest_first(app):
    lobby = await Client.connect(app.ws_url("a"))
    other = await Client.connect(app.ws_url("b", room="study"))
    for i in range(5):
        await lobby.say(f"lobby {i}")
        await lobby.recv()
    await other.say("study 0")
    await other.recv()
    async with httpx.AsyncClient() as http:
        lobby_history = (await http.get(f"{app.http}/messages")).json()
        last_two = (await http.get(f"{app.http}/messages", params={"limit": 2})).json()
        study = (await http.get(f"{app.http}/messages", params={"room": "study"})).json()
        after = (
            await http.get(f"{app.http}/messages", params={"after": lobby_history[2]["id"]})
        ).json()
        bad = await http.get(f"{app.http}/messages", params={"room": "a b"})
    assert [m["message"] for m in lobby_history] == [f"lobby {i}" for i in range(5)]
    assert [m["message"] for m in last_two] == ["lobby 3", "lobby 4"]
    assert [m["message"] for m in study] == ["study 0"]
    assert [m["message"] for m in after] == ["lobby 3", "lobby 4"]
    assert bad.status_code == 400
    # nothing of the other room reached either socket
    with pytest.raises(asyncio.TimeoutError):
        await lobby.recv(timeout=0.3)
    await lobby.close()
    await other.close()


async def test_health_and_page(app):
    async with httpx.AsyncClient() as http:
        health = (await http.get(f"{app.http}/healthz")).json()
        page = await http.get(f"{app.http}/")
    assert health["ok"] is True
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<form" in page.text and 'src="/static/app.js"' in page.text
    async with httpx.AsyncClient() as http:
        script = await http.get(f"{app.http}/static/app.js")
    assert script.status_code == 200 and "WebSocket" in script.text


async def test_a_flooding_connection_is_slowed_and_then_closed_while_others_chat(app):
    flooder = await Client.connect(app.ws_url("flooder"))
    calm = await Client.connect(app.ws_url("calm"))
    for i in range(60):
        try:
            await flooder.say(f"spam {i}")
        except websockets.ConnectionClosed:
            break
    frames: list[dict] = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            frames.append(await flooder.recv())
    refusals = [f for f in frames if f["type"] == "error" and f.get("error") == "flood"]
    assert refusals, "the flooder was never told to slow down"
    assert flooder.ws.close_code == 1008
    # the calm client still chats normally and never saw an error
    await calm.say("anyone?")
    got = await calm.until(lambda f: f["message"] == "anyone?")
    assert got["nickname"] == "calm"
    assert not [f for f in calm.frames if f["type"] == "error"]
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{app.http}/messages", params={"limit": 1000})).json()
    spam = [m for m in stored if m["nickname"] == "flooder"]
    assert 5 <= len(spam) < 60  # some accepted (and stored), the excess refused
    await calm.close()

"""A deployment that listens publicly: only what is switched on, a join code, limits per address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import websockets

from testing.servers import ServerProcess
from testing.stubs.model_server import ModelServer, Reply
from tests.helpers import Client, RunningApp, settings_for, start_app

MakeApp = Callable[..., Awaitable[RunningApp]]


@pytest.fixture
async def make_app(db_url: str, model: ModelServer) -> AsyncIterator[MakeApp]:
    started: list[RunningApp] = []

    async def make(**env: str) -> RunningApp:
        running = await start_app(settings_for(db_url, model.url, **env))
        started.append(running)
        return running

    yield make
    for running in started:
        await running.stop()


async def get(app: RunningApp | ServerProcess, path: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"{app.http}{path}", **kw)  # type: ignore[arg-type]


async def refused(url: str, **kw: object) -> tuple[dict[str, object], int | None]:
    """Connects, expects one error frame and a close; returns both."""
    async with websockets.connect(url, **kw) as ws:  # type: ignore[arg-type]
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return frame, ws.close_code


async def test_web_off_serves_no_page_no_socket_no_history(make_app: MakeApp) -> None:
    app = await make_app(CHATBOT_WEB="off")
    for path in ("/", "/messages", "/static/app.js"):
        assert (await get(app, path)).status_code == 404, path
    with pytest.raises(websockets.InvalidStatus) as refusal:
        await websockets.connect(app.ws_url("alice"))
    assert refusal.value.response.status_code == 403
    assert (await get(app, "/healthz")).json()["ok"] is True  # the operator's probe stays


async def test_the_join_code_guards_the_socket_and_the_history(make_app: MakeApp) -> None:
    app = await make_app(CHATBOT_WEB_TOKEN="class-42")
    for url in (app.ws_url("alice"), app.ws_url("alice", token="wrong")):
        frame, code = await refused(url)
        assert frame["type"] == "error" and frame["error"] == "join_code"
        assert "join code" in str(frame["message"])
        assert code == 1008
    c = await Client.connect(app.ws_url("alice", token="class-42"))
    await c.say("we are in")
    assert (await c.recv())["message"] == "we are in"
    assert (await get(app, "/messages")).status_code == 401
    assert (await get(app, "/messages", params={"token": "nope"})).status_code == 401
    ok = await get(app, "/messages", params={"token": "class-42"})
    assert [m["message"] for m in ok.json()] == ["we are in"]
    bearer = await get(app, "/messages", headers={"Authorization": "Bearer class-42"})
    assert bearer.status_code == 200
    await c.close()


async def test_addressed_turns_are_limited_per_address_and_nothing_is_lost(
    make_app: MakeApp, model: ModelServer
) -> None:
    app = await make_app(CHATBOT_WEB_TURN_BURST="3", CHATBOT_WEB_TURNS_PER_MINUTE="1")
    model.default = lambda body: Reply("ok", delay=0.05)
    clients = [await Client.connect(app.ws_url(f"anon{i}")) for i in range(5)]
    await asyncio.gather(
        *(c.say(f"@chatbot question {i}.{n}") for i, c in enumerate(clients) for n in range(2))
    )
    watcher = clients[0]
    answers = [await watcher.answer(timeout=10) for _ in range(10)]
    assert sum(1 for a in answers if "error" not in a) == 3
    throttled = [a for a in answers if a.get("error") == "too_many_turns"]
    assert len(throttled) == 7 and "Too many questions" in throttled[0]["message"]
    assert len(model.chat_requests()) == 3  # the key is spent three times, not ten
    stored = [m["message"] for m in (await get(app, "/messages")).json()]
    assert sum(1 for m in stored if m.startswith("@chatbot question")) == 10
    for c in clients:
        await c.close()


async def test_connections_are_limited_per_address(make_app: MakeApp) -> None:
    app = await make_app(CHATBOT_WS_MAX_PER_ADDRESS="3")
    first = [await Client.connect(app.ws_url(f"tab{i}")) for i in range(3)]
    frame, code = await refused(app.ws_url("tab3"))
    assert frame["error"] == "full" and code == 1013
    # Another machine (here: another loopback address) still gets in.
    other = await Client.connect_from(app.ws_url("neighbour"), "127.0.0.2")
    await other.say("hi from next door")
    assert (await other.recv())["message"] == "hi from next door"
    await first[0].close()
    await asyncio.sleep(0.1)
    again = await Client.connect(app.ws_url("tab3"))  # a slot came free
    for c in (*first[1:], other, again):
        await c.close()


async def test_the_flood_guard_can_be_tuned_for_a_class_demo(make_app: MakeApp) -> None:
    demo = await make_app(CHATBOT_WS_RATE="0")
    script = await Client.connect(demo.ws_url("script"))
    await asyncio.gather(*(script.say(f"line {i}") for i in range(50)))
    lines = [(await script.recv())["message"] for _ in range(50)]
    assert sorted(lines) == sorted(f"line {i}" for i in range(50))
    await script.close()


async def test_api_docs_are_off_unless_asked_and_metrics_can_be_off_or_guarded(
    make_app: MakeApp,
) -> None:
    default = await make_app()
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await get(default, path)).status_code == 404, path
    assert (await get(default, "/metrics")).status_code == 200
    docs = await make_app(CHATBOT_API_DOCS="on")
    assert (await get(docs, "/openapi.json")).status_code == 200
    off = await make_app(CHATBOT_METRICS="off")
    assert (await get(off, "/metrics")).status_code == 404
    guarded = await make_app(CHATBOT_METRICS_TOKEN="scrape-me")
    assert (await get(guarded, "/metrics")).status_code == 401
    wrong = await get(guarded, "/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await get(guarded, "/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert right.status_code == 200 and "chatbot_messages_received" in right.text


async def test_a_connection_flood_under_a_low_ulimit_leaves_room_for_everyone_else(
    tmp_path: Path, model: ModelServer
) -> None:
    env = {
        "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "OPENAI_API_KEY": "sk-test-not-a-secret",
        "OPENAI_BASE_URL": model.url,
        "CHATBOT_WS_MAX_PER_ADDRESS": "0",  # one flooder from many addresses, in effect
    }
    server = await ServerProcess(env, tmp_path / "server.log", fd_limit=256).ready()
    idle: list[websockets.ClientConnection] = []
    try:
        alice = await Client.connect(server.ws_url("alice"))
        refusals = 0
        for i in range(300):  # more sockets than the process has descriptors
            ws = await websockets.connect(server.ws_url(f"idle{i}"))
            idle.append(ws)
            if await _was_refused(ws):
                refusals += 1
        assert refusals > 0
        accepted = len(idle) - refusals
        assert 16 <= accepted < 256  # capped below the descriptor limit
        health = await get(server, "/healthz")
        assert health.status_code == 200 and health.json()["connections"] == accepted + 1
        await alice.say("can anyone hear me?")  # the database still has its descriptors
        heard = await alice.until(lambda f: f.get("message") == "can anyone hear me?")
        assert heard["type"] == "text" and isinstance(heard["id"], int)
        assert server.proc.poll() is None
    finally:
        for ws in idle:
            await ws.close()
        await server.stop()


async def _was_refused(ws: websockets.ClientConnection) -> bool:
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
    except TimeoutError:
        return False  # accepted, idle
    except websockets.ConnectionClosed:
        return True
    return frame.get("error") == "full"

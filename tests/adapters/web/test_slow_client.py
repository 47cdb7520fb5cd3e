"""One client that never reads is disconnected when its send queue is full; the room keeps going."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
import uvicorn

from adapters.web.hub import Hub
from chatbot.app import create_app
from testing.stubs.model_server import ModelServer
from tests.helpers import Client, RunningApp, settings_for

FAST_CLIENTS = 6
PER_CLIENT = 25
PAYLOAD = "x" * 3900  # big frames fill the stalled socket's kernel buffers quickly


async def stalled_client(port: int) -> socket.socket:
    """Completes the WebSocket handshake, then never reads another byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(
        sock,
        b"GET /ws/sloth HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    )
    return sock


async def start_with_small_send_buffers(app: RunningApp) -> RunningApp:
    """Serve on a listening socket whose accepted sockets inherit a fixed 8 KiB send buffer.

    Linux otherwise grows a socket's send buffer to megabytes, and filling that at the flood
    guard's 5 messages a second would take minutes; the queue logic under test is the same.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    config = uvicorn.Config(app.app, log_level="warning", ws_max_size=64 * 1024)
    app.server = uvicorn.Server(config)
    app.task = asyncio.create_task(app.server.serve(sockets=[listener]))
    while not app.server.started:
        if app.task.done():
            app.task.result()
        await asyncio.sleep(0.01)
    app.port = listener.getsockname()[1]
    return app


async def connections(app: RunningApp) -> int:
    async with httpx.AsyncClient() as http:
        return int((await http.get(f"{app.http}/healthz")).json()["connections"])


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
    db_url: str, model: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.web.hub")
    app = await start_with_small_send_buffers(
        RunningApp(create_app(settings_for(db_url, model.url), hub=Hub(8)))
    )
    try:
        slow = await stalled_client(app.port)
        fast = [await Client.connect(app.ws_url(f"user{i}")) for i in range(FAST_CLIENTS)]
        assert await connections(app) == FAST_CLIENTS + 1

        async def chat(i: int, c: Client) -> None:
            for n in range(PER_CLIENT):
                await c.say(f"{i}:{n}:{PAYLOAD}")
                await asyncio.sleep(0.2)  # the flood guard's pace: 5 a second

        async def read_all(c: Client) -> list[str]:
            want = FAST_CLIENTS * PER_CLIENT
            got: list[str] = []
            while len(got) < want:
                frame = await c.recv(timeout=15)
                assert frame["type"] == "text", frame  # no error frames, nothing refused
                sender, n, _ = frame["message"].split(":", 2)
                got.append(f"{sender}:{n}")
            return got

        readers = [asyncio.create_task(read_all(c)) for c in fast]
        await asyncio.gather(*(chat(i, c) for i, c in enumerate(fast)))
        received = await asyncio.gather(*readers)

        expected = {f"{i}:{n}" for i in range(FAST_CLIENTS) for n in range(PER_CLIENT)}
        for got in received:
            assert len(got) == len(expected) and set(got) == expected  # each once, none missing
            for i in range(FAST_CLIENTS):  # and each sender's messages in the order sent
                mine = [int(g.split(":")[1]) for g in got if g.startswith(f"{i}:")]
                assert mine == sorted(mine)
        assert await connections(app) == FAST_CLIENTS
        assert any(
            "stopped reading" in r.getMessage() and "sloth" in r.getMessage()
            for r in caplog.records
        )
        for c in fast:
            await c.close()
        slow.close()
    finally:
        await app.stop()

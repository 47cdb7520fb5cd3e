"""Two real `chatbot serve` processes sharing rooms over a real redis-server."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memory.store import SQLStore
from testing.servers import ServerProcess, free_port
from testing.stubs.model_server import ModelServer
from tests.databases import fresh_database
from tests.helpers import Client


class RedisServer:
    def __init__(self) -> None:
        binary = os.environ.get("CHATBOT_TEST_REDIS_SERVER") or shutil.which("redis-server")
        if not binary:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail("CI is set but there is no redis-server: run ./scripts/test")
            pytest.skip("no redis-server: ./scripts/test installs it")
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self.proc = self._spawn()
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise AssertionError("redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 10)


@pytest.fixture
async def redis() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    await server.start()
    yield server
    await server.stop()


async def texts(c: Client, n: int) -> list[dict[str, Any]]:
    frames = [await c.until(lambda f: f["type"] == "text", timeout=10) for _ in range(n)]
    return frames


async def quiet(c: Client) -> None:
    """Nothing more arrives: no frame was delivered twice."""
    with pytest.raises(TimeoutError):
        await c.recv(timeout=0.7)


async def reconnected(sender: Client, receiver: Client, tag: str) -> None:
    """Resend a probe until it crosses: both processes are subscribed again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    k = 0
    while loop.time() < deadline:
        await sender.say(f"{tag} {k}")
        k += 1
        try:
            await receiver.until(lambda f: f.get("message", "").startswith(tag), timeout=0.5)
            break
        except TimeoutError:
            continue
    else:
        raise AssertionError("the processes did not reconnect to Redis")
    # Let stragglers of the probe land, then forget them.
    await asyncio.sleep(0.7)
    for c in (sender, receiver):
        while True:
            try:
                await c.recv(timeout=0.2)
            except TimeoutError:
                break


async def test_rooms_span_processes_exactly_once_and_survive_a_redis_restart(
    tmp_path: Path, model: ModelServer, redis: RedisServer
) -> None:
    async with fresh_database("postgresql", tmp_path) as db:
        env = {
            "CHATBOT_DATABASE_URL": db,
            "CHATBOT_REDIS_URL": redis.url,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": model.url,
        }
        # One after the other: the first creates the schema (the second would wait on the lock).
        a = await ServerProcess(env, tmp_path / "a.log").ready()
        b = await ServerProcess(env, tmp_path / "b.log").ready()
        try:
            ana = await Client.connect(a.ws_url("ana", "r"))
            ben = await Client.connect(b.ws_url("ben", "r"))
            other_room = await Client.connect(b.ws_url("olga", "elsewhere"))

            for i in range(8):
                await ana.say(f"from a {i}")
                await ben.say(f"from b {i}")
                await asyncio.sleep(0.25)  # the flood guard allows 5 a second
            await ben.say("@chatbot hello from b")
            for c in (ana, ben):
                got = await texts(c, 18)
                ids = [f["id"] for f in got]
                assert len(set(ids)) == 18
                said = [f["message"] for f in got if f["nickname"] != "chatbot"]
                assert sorted(said) == sorted(
                    [f"from a {i}" for i in range(8)]
                    + [f"from b {i}" for i in range(8)]
                    + ["@chatbot hello from b"]
                )
                assert [f["message"] for f in got if f["nickname"] == "chatbot"] == ["answer 1"]
                await quiet(c)
            assert len(model.requests) == 1  # answered once, by the process that received it
            await quiet(other_room)  # rooms stay apart

            await redis.stop()
            await ana.say("said while redis is down")
            echo = await ana.until(lambda f: f["type"] == "text")
            assert echo["message"] == "said while redis is down"  # local delivery goes on
            await redis.start()
            await reconnected(ana, ben, "probe a")
            await reconnected(ben, ana, "probe b")

            for i in range(4):
                await ana.say(f"after a {i}")
                await ben.say(f"after b {i}")
                await asyncio.sleep(0.25)
            for c in (ana, ben):
                said = [str(f["message"]) for f in await texts(c, 8)]
                assert sorted(said) == sorted(
                    [f"after a {i}" for i in range(4)] + [f"after b {i}" for i in range(4)]
                )
                await quiet(c)
            for c in (ana, ben, other_room):
                await c.close()
        finally:
            await a.stop()
            await b.stop()
        assert "Traceback" not in a.log() + b.log(), a.log() + b.log()

        store = SQLStore.from_url(db)
        stored = [m.text for m in await store.recent("web:r", 1000)]
        await store.close()
        assert "said while redis is down" in stored
        assert stored.count("@chatbot hello from b") == 1 and stored.count("answer 1") == 1
        assert all(stored.count(f"from a {i}") == 1 for i in range(8))

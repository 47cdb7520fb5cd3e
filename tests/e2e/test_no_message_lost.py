"""No message is lost to someone else's bad input, a bursting model, a bug, or a bad database file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from bot.context import ModelRequest
from bot.providers.base import DeltaSink, ModelReply
from chatbot.app import create_app
from testing.servers import ServerProcess
from testing.stubs.model_server import ModelServer, Reply
from tests.helpers import Client, RunningApp, settings_for


async def stored(app: RunningApp | ServerProcess, room: str = "lobby") -> list[str]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{app.http}/messages", params={"room": room})
    return [m["message"] for m in answer.json()]


async def test_a_lone_surrogate_amid_six_senders_loses_nobody(app: RunningApp) -> None:
    clients = [await Client.connect(app.ws_url(f"user{i}")) for i in range(6)]
    bad = '{"type": "text", "message": "boom \\ud800"}'  # legal JSON, not storable as UTF-8
    # All at once: on SQLite these land in one group write.
    await asyncio.gather(
        *(
            c.send(bad if i == 0 else {"type": "text", "message": f"hello from {i}"})
            for i, c in enumerate(clients)
        )
    )
    expected = {"boom \ufffd", *(f"hello from {i}" for i in range(1, 6))}
    for c in clients:  # every connection is open and hears all six, the repaired one included
        got = {(await c.recv())["message"] for _ in range(6)}
        assert got == expected
    assert set(await stored(app)) == expected
    await clients[0].say("still here")
    assert (await clients[0].recv())["message"] == "still here"
    for c in clients:
        await c.close()


async def test_a_name_or_text_with_surrogate_pairs_is_joined_not_mangled(app: RunningApp) -> None:
    c = await Client.connect(app.ws_url("emoji"))
    await c.send('{"type": "text", "message": "smile \\ud83d\\ude00"}')  # a pair, escaped
    assert (await c.recv())["message"] == "smile \U0001f600"
    await c.close()


@pytest.mark.parametrize(
    "chunks, final",
    [
        (["Hi ", "\ud83d", "\ude00", " there"], "Hi \U0001f600 there"),  # an emoji split in two
        (["broken ", "\udc00", " half"], "broken \ufffd half"),  # a lone half: U+FFFD
    ],
)
async def test_an_answer_with_surrogate_halves_reaches_every_client(
    app: RunningApp, model: ModelServer, chunks: list[str], final: str
) -> None:
    streaming = await Client.connect(app.ws_url("s", stream="1"))
    plain = await Client.connect(app.ws_url("p"))
    model.then(Reply("".join(chunks), chunks=chunks))
    await plain.say("@chatbot say it")
    for c in (streaming, plain):
        assert (await c.answer())["message"] == final
    deltas = [f["message"] for f in streaming.frames if f["type"] == "delta"]
    assert "".join(deltas) == final
    assert (await stored(app))[-1] == final
    await streaming.close()
    await plain.close()


async def test_a_burst_of_1024_chunks_reaches_a_streaming_client_whole(
    app: RunningApp, model: ModelServer
) -> None:
    pieces = [f"w{i} " for i in range(1024)]
    model.then(Reply("".join(pieces), chunks=pieces, burst=True))  # all in one write
    reader = await Client.connect(app.ws_url("reader", stream="1"))
    await reader.say("@chatbot a long one please")
    final = await reader.answer(timeout=20)
    assert final["message"] == "".join(pieces)
    deltas = [f for f in reader.frames if f["type"] == "delta"]
    assert "".join(f["message"] for f in deltas) == final["message"]
    assert {f["stream"] for f in deltas} == {final["stream"]}
    await reader.say("and the connection is still open")
    frame = await reader.until(lambda f: f["nickname"] == "reader" and "still" in f["message"])
    assert frame["type"] == "text"
    await reader.close()


class Crashing:
    """A provider with a bug of our own: not a ProviderError, just an exception."""

    name = "openai"

    async def complete(self, request: ModelRequest, on_delta: DeltaSink) -> ModelReply:
        raise KeyError("a bug")


async def test_an_unexpected_failure_in_a_turn_ends_in_the_server_error_line(
    db_url: str, model: ModelServer
) -> None:
    app = create_app(settings_for(db_url, model.url), providers={"openai": Crashing()})
    running = await RunningApp(app).start()
    try:
        c = await Client.connect(running.ws_url("u"))
        await c.say("@chatbot hello?")
        answer = await c.answer()
        assert answer["error"] == "server_error"
        assert "went wrong" in answer["message"]
        await c.say("plain chat still works")
        assert (await c.until(lambda f: f["nickname"] == "u"))["message"] == (
            "plain chat still works"
        )
        assert await stored(running) == ["@chatbot hello?", "plain chat still works"]
    finally:
        await running.stop()


# -- a database file that goes bad under the running service -------------------------------------


async def serve_sqlite(tmp_path: Path, model: ModelServer) -> tuple[ServerProcess, Path]:
    db = tmp_path / "chat.db"
    env = {
        "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "OPENAI_API_KEY": "sk-test-not-a-secret",
        "OPENAI_BASE_URL": model.url,
    }
    return await ServerProcess(env, tmp_path / "server.log").ready(), db


async def say_and_hear(c: Client, text: str) -> dict[str, object]:
    await c.say(text)
    return await c.until(lambda f: f["type"] == "error" or f.get("message") == text)


async def test_a_deleted_database_file_refuses_messages_loudly_and_stays_up(
    tmp_path: Path, model: ModelServer
) -> None:
    server, db = await serve_sqlite(tmp_path, model)
    try:
        c = await Client.connect(server.ws_url("minho"))
        assert (await say_and_hear(c, "before"))["type"] == "text"
        delete_database(db)
        frame = await say_and_hear(c, "into the void")
        assert frame["type"] == "error" and frame["error"] == "storage_unavailable"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.http}/healthz")).json()["ok"] is True
        assert server.proc.poll() is None
        assert "was deleted: messages are NOT being stored" in server.log()
    finally:
        await server.stop()


def delete_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def make_unwritable(path: Path) -> None:
    """Immutable for root (chattr +i: what made SQLite die of SIGBUS); 0444 for anyone else."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)


def make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o644)


async def test_a_read_only_database_file_refuses_messages_and_recovers(
    tmp_path: Path, model: ModelServer
) -> None:
    server, db = await serve_sqlite(tmp_path, model)
    files = [Path(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")]
    try:
        c = await Client.connect(server.ws_url("minho"))
        assert (await say_and_hear(c, "before"))["type"] == "text"
        assert all(f.exists() for f in files)
        for f in files:
            make_unwritable(f)
        try:
            frame = await say_and_hear(c, "while read-only")
            assert frame["type"] == "error" and frame["error"] == "storage_unavailable"
            await asyncio.sleep(0.2)
            assert server.proc.poll() is None, server.log()  # no SIGBUS
            assert "is not writable" in server.log()
        finally:
            for f in files:
                make_writable(f)
        assert (await say_and_hear(c, "after"))["type"] == "text"
        assert await stored(server) == ["before", "after"]
    finally:
        await server.stop()


def test_json_bytes_escapes_only_what_utf8_cannot_carry() -> None:
    from testing.stubs.model_server import json_bytes

    assert json_bytes({"t": "안녕"}) == json.dumps({"t": "안녕"}, ensure_ascii=False).encode()
    assert json_bytes({"t": "\ud83d"}) == b'{"t": "\\ud83d"}'

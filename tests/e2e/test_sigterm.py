"""SIGTERM to `chatbot serve`: stop accepting, finish the answer in flight, close with 1001."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import websockets

from memory.store import SQLStore
from testing.servers import ServerProcess
from testing.stubs.model_server import ModelServer, Reply
from tests.helpers import Client


async def test_sigterm_finishes_the_answer_then_closes_with_1001(
    tmp_path: Path, model: ModelServer
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}"
    server = ServerProcess(
        {
            "CHATBOT_DATABASE_URL": db,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": model.url,
        },
        tmp_path / "server.log",
    )
    try:
        await server.ready()
        model.then(Reply("a slow but complete answer", delay=2.0))
        asker = await Client.connect(server.ws_url("asker"))
        watcher = await Client.connect(server.ws_url("watcher"))
        await asker.say("@chatbot take your time")
        await asker.recv()
        await model.wait_for_requests(1)

        server.terminate()  # while the model is still thinking
        answer = await asker.answer(timeout=15)
        assert answer["message"] == "a slow but complete answer"
        assert (await watcher.answer(timeout=15))["message"] == answer["message"]
        for c in (asker, watcher):
            with pytest.raises(websockets.ConnectionClosed):
                await c.recv(timeout=15)
            assert c.ws.close_code == 1001

        # uvicorn re-raises the signal after a clean shutdown, so supervisors see the cause.
        assert await server.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.log()
        with pytest.raises(OSError):
            await websockets.connect(server.ws_url("late"), open_timeout=2)
    finally:
        await server.stop()

    store = SQLStore.from_url(db)
    stored = await store.recent("web:lobby", 10)
    await store.close()
    assert [(m.role, m.text) for m in stored] == [
        ("user", "@chatbot take your time"),
        ("assistant", "a slow but complete answer"),
    ]
    assert "stopping: finishing answers in flight" in server.log()

"""A client that knows only the course's day-2 protocol works unchanged.

It sends {"type","nickname","message","timestamp"}, parses every frame it gets as JSON and
prints it as `nickname [timestamp] : message`, and loads history with GET /messages.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import httpx
import websockets

from testing.stubs.model_server import Reply, Status


def render(frame: dict) -> str:
    # exactly what the course client does with every frame
    return f"{frame['nickname']} [{frame['timestamp']}] : {frame['message']}"


async def test_day_two_client_unchanged(app, model):
    model.then(Reply("안녕하세요, 소연님!"), Status(500, {"error": {"message": "x"}}))
    model.then(*[Status(500, {"error": {"message": "x"}})] * 2)
    lines: list[str] = []
    async with websockets.connect(app.ws_url("소연")) as ws:

        async def send(message: str) -> None:
            await ws.send(
                json.dumps(
                    {
                        "type": "text",
                        "nickname": "소연",
                        "message": message,
                        "timestamp": datetime.now().isoformat(),
                    }
                )
            )

        async def read(n: int) -> None:
            for _ in range(n):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert isinstance(frame, dict)
                assert all(isinstance(frame[k], str) for k in ("nickname", "timestamp", "message"))
                lines.append(render(frame))

        await send("@chatbot 안녕??")
        await read(2)  # the echo, then the answer
        await send("@chatbot 다시")
        await read(2)  # the echo, then the failure line (500 three times)
        await ws.send(json.dumps({"type": "text", "nickname": "소연"}))  # no text
        await read(1)

    assert lines[0].startswith("소연 [") and lines[0].endswith("] : @chatbot 안녕??")
    # The model hears the question without its tag, as the course's `text[len("@chatbot"):]`.
    assert model.chat_requests()[0]["messages"][-1] == {"role": "user", "content": "소연: 안녕??"}
    assert lines[1].startswith("chatbot [") and lines[1].endswith("] : 안녕하세요, 소연님!")
    assert lines[3].startswith("chatbot [") and "provider had an error" in lines[3]
    assert lines[4].startswith("system [")

    async with httpx.AsyncClient() as http:
        history = (await http.get(f"{app.http}/messages")).json()
    assert [render(m).split(" [")[0] + " : " + m["message"] for m in history] == [
        "소연 : @chatbot 안녕??",
        "chatbot : 안녕하세요, 소연님!",
        "소연 : @chatbot 다시",
    ]
    for m in history:
        assert m["type"] == "text"
        datetime.fromisoformat(m["timestamp"])

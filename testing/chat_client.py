"""A WebSocket chat client that keeps every frame it received (tests and bench/)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import websockets


class Client:
    """A WebSocket chat client that keeps every frame it received."""

    def __init__(self, ws: websockets.ClientConnection):
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str) -> Client:
        return cls(await websockets.connect(url, max_size=2**22, max_queue=None))

    @classmethod
    async def connect_from(cls, url: str, address: str) -> Client:
        """From another loopback address (127.0.0.2 ...): another machine, to the server."""
        return cls(
            await websockets.connect(url, max_size=2**22, max_queue=None, local_addr=(address, 0))
        )

    async def send(self, data: Mapping[str, Any] | str) -> None:
        await self.ws.send(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))

    async def say(self, message: str) -> None:
        await self.send(
            {
                "type": "text",
                "nickname": "ignored",
                "message": message,
                "timestamp": "2020-01-01T00:00:00",
            }
        )

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if pred(frame):
                return frame

    async def answer(self, timeout: float = 8.0, nickname: str = "chatbot") -> dict[str, Any]:
        return await self.until(
            lambda f: f["type"] == "text" and f["nickname"] == nickname, timeout
        )

    async def close(self) -> None:
        await self.ws.close()


def has_message(text: str) -> Callable[[dict[str, Any]], bool]:
    """For `Client.until`: the frame whose message is `text`."""
    return lambda frame: frame.get("message") == text

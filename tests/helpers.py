"""Shared test plumbing: run the real app on a loopback port, talk to it over real WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI

from chatbot.app import create_app
from chatbot.config import AppSettings


class RunningApp:
    """The app under uvicorn in this event loop, on a free 127.0.0.1 port."""

    def __init__(self, app: FastAPI, port: int = 0):
        self.app = app
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.port = port  # 0: any free port; a fixed one lets a test restart "the same" server

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, nickname: str, **query: str) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}/ws/{nickname}" + (f"?{qs}" if qs else "")

    async def start(self) -> RunningApp:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_max_size=64 * 1024,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 20)


def settings_for(db_url: str, model_url: str | None, **env: str) -> AppSettings:
    base: dict[str, str] = {"CHATBOT_DATABASE_URL": db_url, "CHATBOT_TIMEOUT": "3"}
    if model_url is not None:
        base.update(OPENAI_API_KEY="sk-test-not-a-secret", OPENAI_BASE_URL=model_url)
    base.update(env)
    return AppSettings.from_env(base)


async def start_app(settings: AppSettings, port: int = 0) -> RunningApp:
    return await RunningApp(create_app(settings), port).start()


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

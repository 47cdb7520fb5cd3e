"""Shared test plumbing: run the real app on a loopback port, talk to it over real WebSockets."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from chatbot.app import create_app
from chatbot.config import AppSettings
from testing.chat_client import Client  # noqa: F401  (tests import it from here)


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

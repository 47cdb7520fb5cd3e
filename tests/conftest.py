from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testing.stubs.model_server import ModelServer
from testing.stubs.provider_server import ProviderServer
from tests.helpers import RunningApp, settings_for, start_app
from tests.slack_support import events, slack, slack_app  # noqa: F401  (Slack fixtures)

# Tests never use a developer's real credentials or tiktoken downloads.
for _name in list(os.environ):
    if _name.startswith("CHATBOT_TEST_"):
        continue  # test infrastructure (scripts/ci/*), not settings
    if _name.startswith(("OPENAI_", "GEMINI_", "GOOGLE_", "SLACK_", "DISCORD_", "CHATBOT_")):
        del os.environ[_name]
os.environ["TIKTOKEN_CACHE_DIR"] = ""  # would mean "download every time": our code must not try


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'chatbot.db'}"


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    server = await ModelServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def app(db_url: str, model: ModelServer) -> AsyncIterator[RunningApp]:
    running = await start_app(settings_for(db_url, model.url))
    yield running
    await running.stop()


@pytest.fixture
async def pserver() -> AsyncIterator[ProviderServer]:
    """The model stub that also speaks the Responses API and Gemini (issue 3)."""
    server = await ProviderServer().start()
    yield server
    await server.stop()

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from testing.stubs.model_server import ModelServer
from tests.discord_world import World, start_world, stop_world

MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(
    db_url: str, model: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeWorld]:
    """The real app against a loopback Discord; keyword arguments are environment variables."""
    worlds: list[World] = []

    async def make(**env: str) -> World:
        world = await start_world(db_url, model.url, monkeypatch, server=None, **env)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        await stop_world(world)

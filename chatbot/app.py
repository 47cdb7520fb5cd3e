"""One FastAPI app: the web chat routes (and, as they land, the Slack endpoint and Discord task)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.discord_bot import DiscordBot
from adapters.web_chat import build_web_router
from adapters.web_hub import Hub
from bot.personas import default_persona
from bot.providers.base import Provider
from bot.service import ChatService
from chatbot.config import AppSettings
from chatbot.providers import ProviderSet, check_provider_name
from memory.store import SQLStore

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


def create_app(settings: AppSettings, *, providers: dict[str, Provider] | None = None) -> FastAPI:
    """`providers` replaces named providers (tests, embedding); the rest come from settings."""
    check_provider_name(settings.bot.model.provider)
    store = SQLStore.from_url(settings.database_url)
    persona = default_persona(settings.bot)
    service = ChatService(
        store, ProviderSet(settings, providers), settings.bot, {persona.name: persona}
    )
    hub = Hub()
    # Discord: the gateway client runs as a background task of this app when a token is set.
    discord_bot = DiscordBot(service, settings.discord) if settings.discord.token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_schema()
        log.info("memory ready at %s", store.engine.url.render_as_string(hide_password=True))
        if discord_bot is not None:
            discord_bot.start()
        yield
        await service.drain(DRAIN_SECONDS)  # answers in flight still reach Discord
        if discord_bot is not None:
            await discord_bot.close()
        hub.close_all()
        await store.close()

    app = FastAPI(title="chatbot", lifespan=lifespan)
    app.state.service = service
    app.state.hub = hub
    app.state.store = store
    app.state.discord = discord_bot
    app.include_router(build_web_router(service, hub))
    return app
